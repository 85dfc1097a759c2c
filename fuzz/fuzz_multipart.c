/* fuzz_multipart.c: libFuzzer target for shim/parsers/multipart.c.
 *
 * Input: one flags byte, the boundary up to the first '\n', then the body.
 *   flags & 3:  0 no CONTENT_LENGTH, 1 CONTENT_LENGTH = body length, 2 = half of it,
 *               3 = 0
 *   flags & 4:  small limits (to reach the limit errors)
 *   flags & 8:  pause at every pause point in the chunked run
 *   flags >> 4: seed for the chunk sizes
 * The body is parsed twice, whole and in chunks, with a toy binding (content type ->
 * push_boundary / read_to_eof, as FieldStorage does); the event digests, statuses and
 * error offsets must agree, every span must be non-empty, and offsets must not go back.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Ishim/parsers fuzz/fuzz_multipart.c
 *        shim/parsers/[all .c files]
 */
#include "header.h"
#include "multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t h, last_off;
    char val[512], ctype[512]; /* current header value, first Content-Type value */
    size_t vlen, clen, nlen;
    char name[16];
    int have_ctype, pause;
} digest;

static void mix(digest *d, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i;
    for (i = 0; i < n; i++) {
        d->h ^= s[i];
        d->h *= 0x100000001b3u;
    }
}

static void ev(cgih_mp_parser *p, int code)
{
    digest *d = p->data;
    uint64_t off = cgih_mp_offset(p);
    unsigned char c = (unsigned char)code;
    if (off < d->last_off)
        abort();
    d->last_off = off;
    mix(d, &c, 1);
}

static int tick(cgih_mp_parser *p)
{
    digest *d = p->data;
    if (d->pause)
        cgih_mp_pause(p);
    return 0;
}

static void span_ok(const char *at, size_t n)
{
    if (at == NULL || n == 0)
        abort();
}

static int on_part_begin(cgih_mp_parser *p)
{
    digest *d = p->data;
    size_t depth = cgih_mp_depth(p);
    ev(p, 'B');
    mix(d, &depth, sizeof depth);
    d->have_ctype = 0;
    return tick(p);
}

static int on_header_raw(cgih_mp_parser *p, const char *at, size_t n)
{
    span_ok(at, n);
    (void)p;
    return 0;
}

static int on_header_field(cgih_mp_parser *p, const char *at, size_t n)
{
    digest *d = p->data;
    span_ok(at, n);
    ev(p, 'F');
    mix(d, at, n);
    d->nlen = n < sizeof d->name ? n : 0;
    memcpy(d->name, at, d->nlen);
    d->vlen = 0;
    return 0;
}

static int on_header_value(cgih_mp_parser *p, const char *at, size_t n)
{
    digest *d = p->data;
    span_ok(at, n);
    mix(d, at, n); /* no event code: span boundaries must not matter */
    if (n > sizeof d->val - d->vlen)
        n = sizeof d->val - d->vlen;
    memcpy(d->val + d->vlen, at, n);
    d->vlen += n;
    return 0;
}

static int ieq(const char *a, size_t n, const char *lit)
{
    size_t i;
    if (n != strlen(lit))
        return 0;
    for (i = 0; i < n; i++)
        if ((a[i] | 0x20) != lit[i])
            return 0;
    return 1;
}

static int on_header_end(cgih_mp_parser *p)
{
    digest *d = p->data;
    ev(p, 'E');
    if (!d->have_ctype && ieq(d->name, d->nlen, "content-type")) {
        d->have_ctype = 1; /* Message.get: the first one */
        memcpy(d->ctype, d->val, d->vlen);
        d->clen = d->vlen;
    }
    return tick(p);
}

static int on_headers_complete(cgih_mp_parser *p)
{
    digest *d = p->data;
    ev(p, 'C');
    if (d->have_ctype) {
        cgih_header_iter it;
        cgih_header_param prm;
        const char *key;
        size_t klen, blen = 0;
        char b[512];
        cgih_header_begin(&it, d->ctype, d->clen, &key, &klen);
        while (cgih_header_next(&it, &prm)) {
            if (ieq(prm.name, prm.name_len, "boundary")) {
                blen = prm.value_len;
                memcpy(b, prm.value, blen);
                if (prm.quoted)
                    blen = cgih_header_unescape(b, blen, b);
            }
        }
        if (klen == 33 && memcmp(key, "application/x-www-form-urlencoded", 33) == 0)
            cgih_mp_read_to_eof(p);
        else if (klen >= 10 && memcmp(key, "multipart/", 10) == 0 &&
                 cgih_mp_push_boundary(p, b, blen) == -1)
            return 1; /* ValueError in cgi.py */
    }
    return tick(p);
}

static int on_part_data(cgih_mp_parser *p, const char *at, size_t n)
{
    span_ok(at, n);
    mix(p->data, at, n);
    return tick(p);
}

static int on_part_end(cgih_mp_parser *p)
{
    digest *d = p->data;
    int done = cgih_mp_done(p);
    uint64_t off = cgih_mp_offset(p);
    ev(p, 'P');
    mix(d, &done, sizeof done);
    mix(d, &off, sizeof off);
    return tick(p);
}

static int on_body_end(cgih_mp_parser *p)
{
    uint64_t off = cgih_mp_offset(p);
    ev(p, 'Z');
    mix(p->data, &off, sizeof off);
    return 0;
}

#define CALLBACKS                                                                                  \
    .on_part_begin = on_part_begin, .on_header_raw = on_header_raw,                                \
    .on_header_field = on_header_field, .on_header_value = on_header_value,                        \
    .on_header_end = on_header_end, .on_headers_complete = on_headers_complete,                    \
    .on_part_data = on_part_data, .on_part_end = on_part_end, .on_body_end = on_body_end

static const cgih_mp_settings plain = {CALLBACKS};

static const cgih_mp_settings small = {
    CALLBACKS,          .max_header_line = 256, .max_header_block = 600,
    .max_headers = 4,   .max_parts = 8,         .max_depth = 3,
    .max_boundary = 40, .max_part_data = 5000,  .max_body = 100000};

typedef struct {
    cgih_mp_status st;
    uint64_t h, errpos, off;
    const char *err;
} result;

static cgih_mp_parser parser;

static result run(const cgih_mp_settings *s, const char *b, size_t blen, const char *body, size_t n,
                  int64_t cl, unsigned seed, int pause)
{
    digest d;
    result r;
    size_t off = 0;
    memset(&d, 0, sizeof d);
    d.h = 0xcbf29ce484222325u;
    d.pause = pause;
    r.st = CGIH_MP_ERROR;
    r.err = NULL;
    r.errpos = 0;
    if (cgih_mp_init(&parser, s, b, blen) != 0) {
        r.h = 0;
        r.off = 0;
        return r;
    }
    parser.data = &d;
    cgih_mp_set_cgi_limits(&parser, cl, cl);
    r.st = CGIH_MP_OK;
    while (off < n && (r.st == CGIH_MP_OK || r.st == CGIH_MP_PAUSED)) {
        size_t k = n - off;
        uint64_t o0 = cgih_mp_offset(&parser);
        if (seed) {
            static const size_t span[4] = {3, 200, 5000, 70000};
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % span[(seed >> 8) & 3];
            if (k > n - off)
                k = n - off;
        }
        r.st = cgih_mp_execute(&parser, body + off, k);
        if (r.st == CGIH_MP_PAUSED)
            off += (size_t)(cgih_mp_offset(&parser) - o0);
        else
            off += k;
    }
    while (r.st == CGIH_MP_OK || r.st == CGIH_MP_PAUSED)
        r.st = cgih_mp_finish(&parser);
    r.h = d.h;
    r.off = cgih_mp_offset(&parser);
    if (r.st == CGIH_MP_ERROR) {
        r.err = cgih_mp_errmsg(&parser);
        r.errpos = cgih_mp_errpos(&parser);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *nl, *body;
    unsigned flags;
    size_t blen, n;
    int64_t cl;
    const cgih_mp_settings *s;
    result a, c;

    if (size < 2)
        return 0;
    flags = data[0];
    nl = memchr(in + 1, '\n', size - 1);
    if (nl == NULL)
        return 0;
    blen = (size_t)(nl - (in + 1));
    body = nl + 1;
    n = size - (size_t)(body - in);
    cl = (flags & 3) == 0   ? -1
         : (flags & 3) == 1 ? (int64_t)n
         : (flags & 3) == 2 ? (int64_t)n / 2
                            : 0;
    s = (flags & 4) ? &small : &plain;

    a = run(s, in + 1, blen, body, n, cl, 0, 0);
    c = run(s, in + 1, blen, body, n, cl, (flags >> 4) + 1, (flags & 8) != 0);
    if (a.st != c.st)
        abort();
    if (a.st == CGIH_MP_ERROR) {
        if (a.errpos != c.errpos || (a.err == NULL) != (c.err == NULL) ||
            (a.err != NULL && strcmp(a.err, c.err) != 0))
            abort();
    } else if (a.h != c.h || a.off != c.off) {
        abort();
    }
    return 0;
}
