/* header.c: cgi.parse_header / _parseparam on UTF-8 spans.  See header.h.
 *
 * No state machine worth the name: a piece is found by one left-to-right scan that keeps
 * the parity of the counted quotes (_parseparam), then stripped from both ends.
 */
#include "header.h"

#include <string.h>

/* Length of the str.isspace() character starting at s[0..n), or 0. */
static size_t space_fwd(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n >= 3) {
        if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) /* U+1680 */
            return 3;
        if (s[0] == 0xe2 && s[1] == 0x80 && /* U+2000-200A, 2028, 2029, 202F */
            ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
            return 3;
        if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) /* U+205F */
            return 3;
        if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) /* U+3000 */
            return 3;
    }
    return 0;
}

/* Length of the str.isspace() character ending at s[n], or 0. */
static size_t space_back(const unsigned char *s, size_t n)
{
    if (n >= 1 && space_fwd(s + n - 1, 1) == 1)
        return 1;
    if (n >= 2 && space_fwd(s + n - 2, 2) == 2)
        return 2;
    if (n >= 3 && space_fwd(s + n - 3, 3) == 3)
        return 3;
    return 0;
}

size_t cgih_header_strip(const char *s, size_t n, size_t *start)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, k;
    while ((k = space_fwd(u + a, n - a)) != 0)
        a += k;
    while (n > a && (k = space_back(u + a, n - a)) != 0)
        n -= k;
    *start = a;
    return n - a;
}

/* The next _parseparam piece from it->pos: sets [*from, *to) (unstripped). */
static int next_piece(cgih_header_iter *it, size_t *from, size_t *to)
{
    const char *s = it->s;
    size_t i = it->pos, n = it->n;
    int odd = 0;

    if (i > n)
        return 0;
    *from = i;
    for (; i < n; i++) {
        if (s[i] == ';' && !odd)
            break;
        if (s[i] == '"' && !(i > *from && s[i - 1] == '\\'))
            odd = !odd;
    }
    *to = i;
    it->pos = i + 1; /* past the ';', or n + 1 at the end */
    return 1;
}

void cgih_header_begin(cgih_header_iter *it, const char *s, size_t n, const char **key,
                       size_t *key_len)
{
    size_t from, to, st;
    it->s = s;
    it->n = n;
    it->pos = 0;
    next_piece(it, &from, &to); /* always yields: ';' + line has one piece at least */
    *key_len = cgih_header_strip(s + from, to - from, &st);
    *key = s + from + st;
}

int cgih_header_next(cgih_header_iter *it, cgih_header_param *out)
{
    size_t from, to;
    while (next_piece(it, &from, &to)) {
        const char *p, *eq, *v;
        size_t plen, st, vlen;
        plen = cgih_header_strip(it->s + from, to - from, &st);
        p = it->s + from + st;
        eq = plen ? memchr(p, '=', plen) : NULL;
        if (eq == NULL)
            continue;
        out->name_len = cgih_header_strip(p, (size_t)(eq - p), &st);
        out->name = p + st;
        vlen = cgih_header_strip(eq + 1, plen - (size_t)(eq - p) - 1, &st);
        v = eq + 1 + st;
        out->quoted = vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"';
        if (out->quoted) {
            v++;
            vlen -= 2;
        }
        out->value = v;
        out->value_len = vlen;
        return 1;
    }
    return 0;
}

size_t cgih_header_unescape(const char *in, size_t n, char *out)
{
    size_t i, j;
    /* .replace('\\\\', '\\'): left to right, non-overlapping */
    for (i = j = 0; i < n; j++) {
        if (in[i] == '\\' && i + 1 < n && in[i + 1] == '\\') {
            out[j] = '\\';
            i += 2;
        } else {
            out[j] = in[i++];
        }
    }
    n = j;
    /* then .replace('\\"', '"') on the result */
    for (i = j = 0; i < n; j++) {
        if (out[i] == '\\' && i + 1 < n && out[i + 1] == '"') {
            out[j] = '"';
            i += 2;
        } else {
            out[j] = out[i++];
        }
    }
    return j;
}
