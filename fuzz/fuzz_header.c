/* fuzz_header.c: libFuzzer target for shim/parsers/header.c (cgi.parse_header).
 *
 * The input is the header string.  Every span must lie inside the input; the pieces must
 * be exactly those of a literal transcription of cgi._parseparam (quote counts recomputed
 * from the piece start for each ';', as Python does); unescaping never grows a value.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Ishim/parsers fuzz/fuzz_header.c
 *        shim/parsers/[all .c files]
 */
#include "header.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* s.count(sub, 0, end) for a one or two byte sub, non-overlapping */
static size_t count(const char *s, size_t end, const char *sub, size_t k)
{
    size_t i = 0, c = 0;
    while (i + k <= end) {
        if (memcmp(s + i, sub, k) == 0) {
            c++;
            i += k;
        } else {
            i++;
        }
    }
    return c;
}

/* s.find(';', from) within s[0..n) */
static long find_semi(const char *s, size_t n, size_t from)
{
    const char *q = from < n ? memchr(s + from, ';', n - from) : NULL;
    return q ? (long)(q - s) : -1;
}

static int in_input(const char *p, size_t n, const char *in, size_t len)
{
    return p >= in && p + n <= in + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *key, *s;
    size_t klen, n, st, len;
    cgih_header_iter it;
    cgih_header_param prm;
    char *buf;

    if (size > 4096) /* the reference below is quadratic */
        return 0;
    cgih_header_begin(&it, in, size, &key, &klen);
    if (!in_input(key, klen, in, size))
        abort();

    /* reference: _parseparam(';' + line); here s is line and each round starts after ';' */
    s = in;
    n = size;
    {
        int first = 1;
        for (;;) {
            long end = find_semi(s, n, 0);
            size_t e, pst, plen;
            while (end > 0 &&
                   (count(s, (size_t)end, "\"", 1) - count(s, (size_t)end, "\\\"", 2)) % 2)
                end = find_semi(s, n, (size_t)end + 1);
            e = end < 0 ? n : (size_t)end;
            plen = cgih_header_strip(s, e, &pst);
            if (first) {
                if (key != s + pst || klen != plen)
                    abort();
                first = 0;
            } else if (plen && memchr(s + pst, '=', plen) != NULL) {
                /* name = p[:i].strip(), value = p[i+1:].strip(), quotes removed */
                const char *p = s + pst, *eq = memchr(p, '=', plen), *v;
                size_t nst, nlen, vst, vlen;
                int quoted;
                nlen = cgih_header_strip(p, (size_t)(eq - p), &nst);
                vlen = cgih_header_strip(eq + 1, plen - (size_t)(eq - p) - 1, &vst);
                v = eq + 1 + vst;
                quoted = vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"';
                if (quoted) {
                    v++;
                    vlen -= 2;
                }
                if (!cgih_header_next(&it, &prm) || !in_input(prm.name, prm.name_len, in, size) ||
                    !in_input(prm.value, prm.value_len, in, size) || prm.name != p + nst ||
                    prm.name_len != nlen || prm.value != v || prm.value_len != vlen ||
                    prm.quoted != quoted)
                    abort();
                buf = malloc(prm.value_len + 1);
                len = cgih_header_unescape(prm.value, prm.value_len, buf);
                if (len > prm.value_len)
                    abort();
                free(buf);
            }
            if (e == n)
                break;
            s += e + 1;
            n -= e + 1;
        }
    }
    if (cgih_header_next(&it, &prm))
        abort(); /* the iterator found a piece the reference did not */

    len = cgih_header_strip(in, size, &st);
    if (st + len > size)
        abort();
    return 0;
}
