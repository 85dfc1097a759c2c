/* test_multipart.c: unit tests for shim/parsers/multipart.c (TAP, run by prove).
 *
 * Each case is parsed by a small emulation of the binding (content type -> push a
 * boundary / read to EOF, as FieldStorage.__init__ does) into a one-line-per-part dump:
 *     <depth h'Name'='value'... d'data' >done,bytes_read       (or " sub\n" ... or raw'..')
 *     top=bytes_read
 * Data longer than 256 bytes is shown as #length:fnv1a64.  The expected dumps are what
 * CPython 3.11's cgi.FieldStorage gives for the same body (checked against
 * /usr/lib/python3.11/cgi.py while writing them; headers decoded as latin-1).
 *
 * Every case is fed whole, one byte at a time, split at every point (sampled for big
 * bodies), in pseudo-random chunks, and with a pause after every pause point; every
 * chunk is placed so that it ends right before a PROT_NONE guard page. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c11 */
#include "header.h"
#include "multipart.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- growable string ---- */

typedef struct {
    char *d;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->d = realloc(b->d, b->cap);
        if (b->d == NULL)
            abort();
    }
    if (n)
        memcpy(b->d + b->n, s, n);
    b->n += n;
    b->d[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_esc1(sbuf *b, unsigned char c)
{
    char t[8];
    if (c == '\r')
        sb_str(b, "\\r");
    else if (c == '\n')
        sb_str(b, "\\n");
    else if (c == '\t')
        sb_str(b, "\\t");
    else if (c == '\'' || c == '\\' || c == '[') {
        t[0] = '\\';
        t[1] = (char)c;
        sb_put(b, t, 2);
    } else if (c >= 32 && c < 127) {
        t[0] = (char)c;
        sb_put(b, t, 1);
    } else {
        snprintf(t, sizeof t, "\\x%02x", c);
        sb_str(b, t);
    }
}

/* 'escaped', with runs of 16 or more equal bytes as [N*c] */
static void sb_esc(sbuf *b, const char *s, size_t n)
{
    size_t i = 0, j;
    char t[32];
    sb_str(b, "'");
    while (i < n) {
        for (j = i; j < n && s[j] == s[i]; j++)
            ;
        if (j - i >= 16) {
            snprintf(t, sizeof t, "[%zu*", j - i);
            sb_str(b, t);
            sb_esc1(b, (unsigned char)s[i]);
            sb_str(b, "]");
            i = j;
        } else {
            sb_esc1(b, (unsigned char)s[i++]);
        }
    }
    sb_str(b, "'");
}

static void sb_data(sbuf *b, const char *s, size_t n)
{
    if (n > 256) {
        uint64_t h = 0xcbf29ce484222325u;
        char t[64];
        size_t i;
        for (i = 0; i < n; i++) {
            h ^= (unsigned char)s[i];
            h *= 0x100000001b3u;
        }
        snprintf(t, sizeof t, "#%zu:%016llx", n, (unsigned long long)h);
        sb_str(b, t);
    } else {
        sb_esc(b, s, n);
    }
}

static int ieq(const char *a, size_t n, const char *lit)
{
    size_t i;
    if (n != strlen(lit))
        return 0;
    for (i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return 0;
    }
    return 1;
}

/* ---- recorder: a toy binding ---- */

#define MAXD 40

static struct {
    sbuf out, name, value, data, ctype;
    int have_ctype, mode[MAXD]; /* 0 lines, 1 sub, 2 raw */
    uint64_t start[MAXD], raw_inside[MAXD], raw_total, body_end;
    int pause_every, npause, fail_in; /* fail_in: make the n-th callback return 1 */
    int ncalls, value_error, reenter;
    cgih_mp_parser *self;
} R;

static void rec_free(void)
{
    free(R.out.d);
    free(R.name.d);
    free(R.value.d);
    free(R.data.d);
    free(R.ctype.d);
    memset(&R, 0, sizeof R);
}

static int tick(cgih_mp_parser *p)
{
    R.ncalls++;
    if (R.pause_every && R.ncalls % R.pause_every == 0)
        cgih_mp_pause(p);
    if (R.reenter && R.ncalls == R.reenter)
        return cgih_mp_execute(p, "x", 1) == CGIH_MP_ERROR ? 0 : 1;
    return R.fail_in && R.ncalls == R.fail_in;
}

static int on_part_begin(cgih_mp_parser *p)
{
    char t[32];
    snprintf(t, sizeof t, "<%zu", cgih_mp_depth(p));
    sb_str(&R.out, t);
    R.have_ctype = 0;
    return tick(p);
}

static int on_header_field(cgih_mp_parser *p, const char *at, size_t n)
{
    R.name.n = R.value.n = 0;
    sb_put(&R.name, at, n);
    sb_put(&R.value, "", 0);
    return tick(p);
}

static int on_header_value(cgih_mp_parser *p, const char *at, size_t n)
{
    sb_put(&R.value, at, n);
    return tick(p);
}

static int on_header_end(cgih_mp_parser *p)
{
    if (ieq(R.name.d, R.name.n, "content-length")) /* cgi.py deletes it */
        return tick(p);
    if (!R.have_ctype && ieq(R.name.d, R.name.n, "content-type")) {
        R.have_ctype = 1;
        R.ctype.n = 0;
        sb_put(&R.ctype, R.value.d, R.value.n);
    }
    sb_str(&R.out, " h");
    sb_esc(&R.out, R.name.d, R.name.n);
    sb_str(&R.out, "=");
    sb_esc(&R.out, R.value.d, R.value.n);
    return tick(p);
}

/* FieldStorage.__init__'s choice, headers decoded as latin-1 (bytes as they are) */
static int on_headers_complete(cgih_mp_parser *p)
{
    size_t d = cgih_mp_depth(p);
    R.mode[d] = 0;
    R.data.n = 0;
    R.start[d] = cgih_mp_offset(p);
    R.raw_inside[d] = 0;
    if (R.have_ctype) {
        cgih_header_iter it;
        cgih_header_param prm;
        const char *key;
        size_t klen, blen = 0;
        char bnd[512];
        cgih_header_begin(&it, R.ctype.d, R.ctype.n, &key, &klen);
        while (cgih_header_next(&it, &prm)) {
            if (ieq(prm.name, prm.name_len, "boundary")) {
                blen = prm.value_len < sizeof bnd ? prm.value_len : sizeof bnd;
                memcpy(bnd, prm.value, blen);
                if (prm.quoted)
                    blen = cgih_header_unescape(bnd, blen, bnd);
            }
        }
        if (klen == 33 && memcmp(key, "application/x-www-form-urlencoded", 33) == 0) {
            R.mode[d] = 2;
            cgih_mp_read_to_eof(p);
        } else if (klen >= 10 && memcmp(key, "multipart/", 10) == 0) {
            int rc = cgih_mp_push_boundary(p, bnd, blen);
            if (rc == -1) {
                R.value_error = 1; /* cgi.py: ValueError('Invalid boundary ...') */
                return 1;
            }
            if (rc != 0)
                return 1;
            R.mode[d] = 1;
            sb_str(&R.out, " sub\n");
        }
    }
    return tick(p);
}

static int on_part_data(cgih_mp_parser *p, const char *at, size_t n)
{
    if (n == 0)
        sb_str(&R.out, "<EMPTY SPAN>");
    sb_put(&R.data, at, n);
    return tick(p);
}

static int on_part_end(cgih_mp_parser *p)
{
    size_t d = cgih_mp_depth(p), i;
    uint64_t br = cgih_mp_offset(p) - R.start[d] - R.raw_inside[d];
    char t[64];
    if (R.mode[d] == 2) { /* read_urlencoded does not count what it reads */
        sb_str(&R.out, " raw");
        sb_data(&R.out, R.data.d ? R.data.d : "", R.data.n);
        for (i = 0; i < d; i++)
            R.raw_inside[i] += R.data.n;
        R.raw_total += R.data.n;
        br = 0;
    } else if (R.mode[d] == 0) {
        sb_str(&R.out, " d");
        sb_data(&R.out, R.data.d ? R.data.d : "", R.data.n);
    }
    R.data.n = 0;
    snprintf(t, sizeof t, " >%d,%llu\n", cgih_mp_done(p), (unsigned long long)br);
    sb_str(&R.out, t);
    return tick(p);
}

static int on_body_end(cgih_mp_parser *p)
{
    R.body_end = cgih_mp_offset(p);
    return tick(p);
}

static cgih_mp_settings S = {.on_part_begin = on_part_begin,
                             .on_header_field = on_header_field,
                             .on_header_value = on_header_value,
                             .on_header_end = on_header_end,
                             .on_headers_complete = on_headers_complete,
                             .on_part_data = on_part_data,
                             .on_part_end = on_part_end,
                             .on_body_end = on_body_end};

/* ---- guard pages: every chunk ends right before a PROT_NONE page ---- */

static char *guard_base;
static size_t guard_size;

static void guard_init(size_t max)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    guard_size = (max + pg - 1) / pg * pg;
    guard_base =
        mmap(NULL, guard_size + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_base == MAP_FAILED || mprotect(guard_base + guard_size, pg, PROT_NONE) != 0) {
        perror("mmap");
        exit(2);
    }
}

static const char *at_guard(const char *s, size_t n)
{
    char *d = guard_base + guard_size - n;
    memmove(d, s, n);
    return d;
}

/* ---- feeding ---- */

typedef struct {
    const cgih_mp_settings *settings;
    const char *boundary;
    size_t blen;
    long long cl;
} setup;

/* Feeds body in the chunks given by cuts (sorted offsets, ending with len) and returns the
 * dump (caller frees).  Honors PAUSED by resuming at cgih_mp_offset(). */
static char *parse(const setup *su, const char *body, size_t len, const size_t *cuts, size_t ncuts,
                   int pause_every)
{
    cgih_mp_parser *p = malloc(sizeof *p);
    cgih_mp_status st = CGIH_MP_OK;
    size_t i, from = 0;
    char t[128], *got;

    rec_free();
    R.pause_every = pause_every;
    R.self = p;
    if (cgih_mp_init(p, su->settings, su->boundary, su->blen) != 0) {
        snprintf(t, sizeof t, "init error %s", cgih_mp_errmsg(p));
        sb_str(&R.out, t);
        free(p);
        got = R.out.d;
        R.out.d = NULL;
        return got;
    }
    if (su->cl >= 0)
        cgih_mp_set_cgi_limits(p, su->cl, su->cl);
    for (i = 0; i < ncuts && st != CGIH_MP_DONE && st != CGIH_MP_ERROR; i++) {
        size_t to = cuts[i] < len ? cuts[i] : len, done = 0;
        const char *chunk;
        if (to <= from)
            continue;
        chunk = at_guard(body + from, to - from);
        for (;;) {
            uint64_t o0 = cgih_mp_offset(p);
            st = cgih_mp_execute(p, chunk + done, to - from - done);
            if (st != CGIH_MP_PAUSED)
                break;
            done += (size_t)(cgih_mp_offset(p) - o0);
            R.npause++;
        }
        from = to;
    }
    while (st == CGIH_MP_OK || st == CGIH_MP_PAUSED)
        st = cgih_mp_finish(p);
    if (st == CGIH_MP_ERROR) {
        if (R.value_error) {
            R.out.n = 0;
            sb_str(&R.out, "ValueError");
        } else {
            snprintf(t, sizeof t, "!error %s @%llu", cgih_mp_errmsg(p),
                     (unsigned long long)cgih_mp_errpos(p));
            sb_str(&R.out, t);
            if (cgih_mp_errlimit(p)) { /* the value of the limit named */
                snprintf(t, sizeof t, " =%zu", cgih_mp_errlimit(p));
                sb_str(&R.out, t);
            }
        }
    } else {
        snprintf(t, sizeof t, "top=%llu", (unsigned long long)(R.body_end - R.raw_total));
        sb_str(&R.out, t);
        /* after DONE: more input and finish keep saying DONE */
        if (cgih_mp_execute(p, "--", 2) != CGIH_MP_DONE || cgih_mp_finish(p) != CGIH_MP_DONE)
            sb_str(&R.out, " NOT-STICKY-DONE");
    }
    free(p);
    sb_put(&R.out, "", 0);
    got = R.out.d; /* the caller owns it now */
    R.out.d = NULL;
    R.out.n = R.out.cap = 0;
    return got;
}

static size_t cuts_buf[1 << 21];

static int check(const char *what, const char *name, const char *got, const char *expect)
{
    int ok = strcmp(got, expect) == 0;
    tap_ok(ok, "%s: %s", name, what);
    if (!ok) {
        tap_diag("expected: %.600s", expect);
        tap_diag("got:      %.600s", got);
    }
    return ok;
}

/* All feeding modes for one body. */
static void run_all(const char *name, const setup *su, const char *body, size_t len,
                    const char *expect)
{
    char *got;
    size_t i, n, step;
    int ok;
    unsigned rnd = 12345;

    cuts_buf[0] = len;
    got = parse(su, body, len, cuts_buf, 1, 0);
    check("whole", name, got, expect);
    free(got);

    for (i = 0; i < len; i++)
        cuts_buf[i] = i + 1;
    got = parse(su, body, len, cuts_buf, len, 0);
    check("byte by byte", name, got, expect);
    free(got);

    /* split at every point (every point near the ends and a sample in between for big
     * bodies); stop at the first failure to keep the output short */
    step = len > 4096 ? 509 : 1;
    ok = 1;
    for (i = 0; i <= len && ok; i = (i < 80 || i + 80 > len) ? i + 1 : i + step) {
        cuts_buf[0] = i;
        cuts_buf[1] = len;
        got = parse(su, body, len, cuts_buf, 2, 0);
        if (strcmp(got, expect) != 0) {
            tap_diag("split at %zu differs", i);
            ok = check("split at every point", name, got, expect);
        }
        free(got);
    }
    if (ok)
        tap_ok(1, "%s: split at every point", name);

    for (n = 0, i = 0; i < len; n++) {
        rnd = rnd * 1103515245u + 12345u;
        i += 1 + (rnd >> 8) % ((rnd & 1) ? 7 : 70000);
        cuts_buf[n] = i < len ? i : len;
    }
    got = parse(su, body, len, cuts_buf, n, 0);
    check("random chunks", name, got, expect);
    free(got);

    cuts_buf[0] = len;
    got = parse(su, body, len, cuts_buf, 1, 1);
    ok = strcmp(got, expect) == 0;
    check("pause at every event", name, got, expect);
    free(got);

    if (len < 2000) {
        for (i = 0; i < len; i++)
            cuts_buf[i] = i + 1;
        got = parse(su, body, len, cuts_buf, len, 3);
        check("byte by byte, pause at every third event", name, got, expect);
        free(got);
    }
}

typedef struct {
    const char *name;
    const char *body;
    size_t len;
    const char *boundary;
    size_t blen;
    long long cl; /* CONTENT_LENGTH, -1 for none */
    const char *expect;
} mp_case;

typedef struct {
    const char *s;
    size_t n, rep;
} seg;

typedef struct {
    const char *name;
    const seg *segs; /* body: each s repeated rep times */
    const char *boundary;
    size_t blen;
    long long cl;
    const char *expect;
} big_case;

#define B(s) s, sizeof s - 1

static const mp_case cases[] = {
    {"chromium text+file",
     B("------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
       "Content-Disposition: form-data; name=\"title\"\r\n"
       "\r\n"
       "hello world\r\n"
       "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
       "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
       "Content-Type: text/plain\r\n"
       "\r\n"
       "line1\n"
       "line2\r\n"
       "\r\n"
       "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n"),
     B("----WebKitFormBoundary7MA4YWxkTrZu0gW"), 292,
     "<0 h'Content-Disposition'='form-data; name=\"title\"' d'hello world' >0,54\n"
     "<0 h'Content-Disposition'='form-data; name=\"file\"; filename=\"a.txt\"' "
     "h'Content-Type'='text/plain' d'line1\\nline2\\r\\n' >1,58\n"
     "top=292"},
    {"firefox empty file",
     B("-----------------------------9051914041544843365972754266\r\n"
       "Content-Disposition: form-data; name=\"text\"\r\n"
       "\r\n"
       "text default\r\n"
       "-----------------------------9051914041544843365972754266\r\n"
       "Content-Disposition: form-data; name=\"file1\"; filename=\"\"\r\n"
       "Content-Type: application/octet-stream\r\n"
       "\r\n"
       "\r\n"
       "-----------------------------9051914041544843365972754266--\r\n"),
     B("---------------------------9051914041544843365972754266"), 343,
     "<0 h'Content-Disposition'='form-data; name=\"text\"' d'text default' >0,73\n"
     "<0 h'Content-Disposition'='form-data; name=\"file1\"; filename=\"\"' "
     "h'Content-Type'='application/octet-stream' d'' >1,63\n"
     "top=343"},
    {"curl binary",
     B("--------------------------d74496d66958873e\r\n"
       "Content-Disposition: form-data; name=\"bin\"; filename=\"x.bin\"\r\n"
       "Content-Type: application/octet-stream\r\n"
       "\r\n"
       "\000\001\r\002\n"
       "\003\r\n"
       "\r\n"
       "--------------------------d74496d66958873e--\r\n"),
     B("------------------------d74496d66958873e"), 204,
     "<0 h'Content-Disposition'='form-data; name=\"bin\"; filename=\"x.bin\"' "
     "h'Content-Type'='application/octet-stream' d'\\x00\\x01\\r\\x02\\n\\x03\\r\\n' >1,56\n"
     "top=204"},
    {"bare LF",
     B("--b\n"
       "Content-Disposition: form-data; name=\"a\"\n"
       "\n"
       "x\n"
       "y\n"
       "\n"
       "--b\n"
       "Content-Disposition: form-data; name=\"c\"\n"
       "\n"
       "z\n"
       "--b--\n"),
     B("b"), -1,
     "<0 h'Content-Disposition'='form-data; name=\"a\"' d'x\\ny\\n' >0,9\n"
     "<0 h'Content-Disposition'='form-data; name=\"c\"' d'z' >1,8\n"
     "top=105"},
    {"preamble and leading whitespace",
     B("ignored\r\n"
       "--b--\r\n"
       " \t--b \r\n"
       "Content-Disposition: form-data; name=\"a\"\r\n"
       "\r\n"
       "A\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'Content-Disposition'='form-data; name=\"a\"' d'A' >1,10\n"
     "top=78"},
    {"boundary without line end before it",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "abc--b\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "v\r\n"
       "--b--"),
     B("b"), -1,
     "<0 h'X'='1' d'abc--b' >0,13\n"
     "<0 h'X'='2' d'v' >1,8\n"
     "top=42"},
    {"boundary mid-line and with junk",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "a --b\r\n"
       "--bc\r\n"
       "--b x\r\n"
       "--b-\r\n"
       "-- b\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'X'='1' d'a --b\\r\\n--bc\\r\\n--b x\\r\\n--b-\\r\\n-- b' >1,39\n"
     "top=52"},
    {"trailing whitespace after boundary",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "v1\r\n"
       "--b \t\013\014\r\r\n"
       "X: 2\r\n"
       "\r\n"
       "v2\r\n"
       "--b-- \t\r\n"),
     B("b"), -1,
     "<0 h'X'='1' d'v1' >0,14\n"
     "<0 h'X'='2' d'v2' >1,13\n"
     "top=48"},
    {"CR-only line ends",
     B("--b\rX: 1\r\r--b\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "a\rb\r\r--b\r\n"
       "--b--\r"),
     B("b"), -1,
     "<0 h'X'='2' d'a\\rb\\r\\r--b' >1,16\n"
     "top=44"},
    {"CR before boundary and lone CR",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "a\r\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "b\n"
       "\r\n"
       "--b\r\n"
       "X: 3\r\n"
       "\r\n"
       "\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'X'='1' d'a\\r' >0,9\n"
     "<0 h'X'='2' d'b\\n' >0,9\n"
     "<0 h'X'='3' d'' >1,9\n"
     "top=56"},
    {"empty parts",
     B("--b\r\n"
       "\r\n"
       "--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "--b\r\n"
       "\r\n"
       "\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 d'' >0,5\n"
     "<0 h'X'='1' d'' >0,5\n"
     "<0 d'' >1,9\n"
     "top=36"},
    {"missing final boundary",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "last line\r\n"),
     B("b"), -1,
     "<0 h'X'='1' d'last line' >-1,11\n"
     "top=24"},
    {"missing final boundary, no newline",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "last\r\n"
       "line"),
     B("b"), -1,
     "<0 h'X'='1' d'last\\r\\nline' >-1,10\n"
     "top=23"},
    {"truncated in headers",
     B("--b\r\n"
       "X: 1\r\n"
       "Content-Disposition: form-da"),
     B("b"), -1,
     "<0 h'X'='1' h'Content-Disposition'='form-da' d'' >-1,0\n"
     "top=39"},
    {"truncated after boundary",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--b\r\n"),
     B("b"), -1,
     "<0 h'X'='1' d'v' >0,8\n"
     "top=21"},
    {"truncated in boundary",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--"),
     B("b"), -1,
     "<0 h'X'='1' d'v\\r\\n--' >-1,5\n"
     "top=18"},
    {"final boundary at EOF without newline",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--b--"),
     B("b"), -1,
     "<0 h'X'='1' d'v' >1,8\n"
     "top=21"},
    {"empty body", B(""), B("b"), -1, "top=0"},
    {"no boundary at all",
     B("just some text\r\n"
       "and more\r\n"),
     B("b"), -1, "top=26"},
    {"epilogue ignored",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--b--\r\n"
       "epilogue\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "w\r\n"),
     B("b"), 49,
     "<0 h'X'='1' d'v' >1,10\n"
     "top=23"},
    {"nested multipart/mixed (RFC 2388), later parts swallowed",
     B("--AaB03x\r\n"
       "Content-Disposition: form-data; name=\"field1\"\r\n"
       "\r\n"
       "Joe Blow\r\n"
       "--AaB03x\r\n"
       "Content-Disposition: form-data; name=\"pics\"\r\n"
       "Content-Type: multipart/mixed; boundary=BbC04y\r\n"
       "\r\n"
       "--BbC04y\r\n"
       "Content-Disposition: file; filename=\"file1.txt\"\r\n"
       "Content-Type: text/plain\r\n"
       "\r\n"
       "... contents of file1.txt ...\r\n"
       "--BbC04y\r\n"
       "Content-Disposition: file; filename=\"file2.gif\"\r\n"
       "Content-Type: image/gif\r\n"
       "Content-Transfer-Encoding: binary\r\n"
       "\r\n"
       "...contents of file2.gif...\r\n"
       "--BbC04y--\r\n"
       "--AaB03x\r\n"
       "Content-Disposition: form-data; name=\"after\"\r\n"
       "\r\n"
       "lost\r\n"
       "--AaB03x--\r\n"),
     B("AaB03x"), 530,
     "<0 h'Content-Disposition'='form-data; name=\"field1\"' d'Joe Blow' >0,20\n"
     "<0 h'Content-Disposition'='form-data; name=\"pics\"' h'Content-Type'='multipart/mixed; "
     "boundary=BbC04y' sub\n"
     "<1 h'Content-Disposition'='file; filename=\"file1.txt\"' h'Content-Type'='text/plain' d'... "
     "contents of file1.txt ...' >0,41\n"
     "<1 h'Content-Disposition'='file; filename=\"file2.gif\"' h'Content-Type'='image/gif' "
     "h'Content-Transfer-Encoding'='binary' d'...contents of file2.gif...' >1,41\n"
     " >-1,356\n"
     "top=530"},
    {"nested, outer close at EOF without newline",
     B("--AaB03x\r\n"
       "Content-Disposition: form-data; name=\"field1\"\r\n"
       "\r\n"
       "Joe Blow\r\n"
       "--AaB03x\r\n"
       "Content-Disposition: form-data; name=\"pics\"\r\n"
       "Content-Type: multipart/mixed; boundary=BbC04y\r\n"
       "\r\n"
       "--BbC04y\r\n"
       "Content-Disposition: file; filename=\"file1.txt\"\r\n"
       "Content-Type: text/plain\r\n"
       "\r\n"
       "... contents of file1.txt ...\r\n"
       "--BbC04y\r\n"
       "Content-Disposition: file; filename=\"file2.gif\"\r\n"
       "Content-Type: image/gif\r\n"
       "Content-Transfer-Encoding: binary\r\n"
       "\r\n"
       "...contents of file2.gif...\r\n"
       "--BbC04y--\r\n"
       "--AaB03x\r\n"
       "Content-Disposition: form-data; name=\"after\"\r\n"
       "\r\n"
       "lost\r\n"
       "--AaB03x--"),
     B("AaB03x"), -1,
     "<0 h'Content-Disposition'='form-data; name=\"field1\"' d'Joe Blow' >0,20\n"
     "<0 h'Content-Disposition'='form-data; name=\"pics\"' h'Content-Type'='multipart/mixed; "
     "boundary=BbC04y' sub\n"
     "<1 h'Content-Disposition'='file; filename=\"file1.txt\"' h'Content-Type'='text/plain' d'... "
     "contents of file1.txt ...' >0,41\n"
     "<1 h'Content-Disposition'='file; filename=\"file2.gif\"' h'Content-Type'='image/gif' "
     "h'Content-Transfer-Encoding'='binary' d'...contents of file2.gif...' >1,41\n"
     " >1,354\n"
     "top=528"},
    {"nested, inner boundary never found",
     B("--a\r\n"
       "Content-Type: multipart/mixed; boundary=c\r\n"
       "\r\n"
       "no inner\r\n"
       "--a\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--a--\r\n"),
     B("a"), -1,
     "<0 h'Content-Type'='multipart/mixed; boundary=c' sub\n"
     " >-1,33\n"
     "top=83"},
    {"nested, invalid inner boundary",
     B("--a\r\n"
       "Content-Type: multipart/mixed\r\n"
       "\r\n"
       "--a--\r\n"),
     B("a"), -1, "ValueError"},
    {"nested, skip_lines next boundary x-- at EOF",
     B("--x--\r\n"
       "Content-Type: multipart/mixed; boundary=in\r\n"
       "\r\n"
       "--in\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--in--\r\n"
       "--x--"),
     B("x--"), -1,
     "<0 h'Content-Type'='multipart/mixed; boundary=in' sub\n"
     "<1 h'X'='1' d'v' >1,11\n"
     " >0,30\n"
     "top=83"},
    {"nested twice",
     B("--a\r\n"
       "Content-Type: multipart/mixed; boundary=b\r\n"
       "\r\n"
       "--b\r\n"
       "Content-Type: multipart/mixed; boundary=c\r\n"
       "\r\n"
       "--c\r\n"
       "X: 1\r\n"
       "\r\n"
       "deep\r\n"
       "--c--\r\n"
       "--b--\r\n"
       "--a--"),
     B("a"), -1,
     "<0 h'Content-Type'='multipart/mixed; boundary=b' sub\n"
     "<1 h'Content-Type'='multipart/mixed; boundary=c' sub\n"
     "<2 h'X'='1' d'deep' >1,13\n"
     " >-1,38\n"
     " >-1,88\n"
     "top=138"},
    {"urlencoded part reads to EOF",
     B("--a\r\n"
       "X: 0\r\n"
       "\r\n"
       "v\r\n"
       "--a\r\n"
       "Content-Type: application/x-www-form-urlencoded\r\n"
       "\r\n"
       "k=v&x=y\r\n"
       "--a\r\n"
       "X: 1\r\n"
       "\r\n"
       "w\r\n"
       "--a--\r\n"),
     B("a"), -1,
     "<0 h'X'='0' d'v' >0,8\n"
     "<0 h'Content-Type'='application/x-www-form-urlencoded' raw'k=v&x=y\\r\\n--a\\r\\nX: "
     "1\\r\\n\\r\\nw\\r\\n--a--\\r\\n' >-1,0\n"
     "top=72"},
    {"content-length cuts a line (limit)",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "line one\r\n"
       "line two\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "v\r\n"
       "--b--\r\n"),
     B("b"), 30,
     "<0 h'X'='1' d'line one\\r\\nline two' >0,20\n"
     "top=33"},
    {"content-length at a line start (limit)",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "line one\r\n"
       "line two\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "v\r\n"
       "--b--\r\n"),
     B("b"), 24,
     "<0 h'X'='1' d'line one\\r\\nline two' >0,20\n"
     "top=33"},
    {"content-length before part start",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "line one\r\n"
       "--b--\r\n"),
     B("b"), 5,
     "<0 h'X'='1' d'line one' >1,17\n"
     "top=30"},
    {"content-length 0",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "line one\r\n"
       "--b--\r\n"),
     B("b"), 0,
     "<0 h'X'='1' d'line one' >1,17\n"
     "top=30"},
    {"content-length ends at boundary",
     B("--b\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--b\r\n"
       "X: 2\r\n"
       "\r\n"
       "w\r\n"
       "--b--\r\n"),
     B("b"), 19,
     "<0 h'X'='1' d'v' >0,8\n"
     "top=21"},
    {"headers: folding and feedparser quirks",
     B("--b\r\n"
       "From someone\r\n"
       "X-A:  v1\r\n"
       " \tcont\r\n"
       "\tc2\r\n"
       ":empty name\r\n"
       "  orphan? no, continuation of nothing\r\n"
       "From: real\r\n"
       "X-B:\r\n"
       " X-C: 3\r\n"
       "Bad Header: stops here\r\n"
       "X-D: ignored\r\n"
       "\r\n"
       "d\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'X-A'='v1\\r\\n \\tcont\\r\\n\\tc2' h'From'='real' h'X-B'='\\r\\n X-C: 3' d'd' >1,10\n"
     "top=171"},
    {"headers: first line continuation, CR splits, blank-looking line",
     B("--b\r\n"
       " cont first\r\n"
       "X-A: a\rX-B: b\r\n"
       "X-C: c\r\r\n"
       "X-D: d\r\n"
       " \r\n"
       "v\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'X-A'='a' h'X-B'='b' h'X-C'='c' d'v' >1,10\n"
     "top=63"},
    {"headers: whitespace-only end line variants",
     B("--b\r\n"
       "X-A: a\r\n"
       "\013\r\n"
       "v\r\n"
       "--b\r\n"
       "X-B: b\r\n"
       "\t\n"
       "w\r\n"
       "--b\r\n"
       "X-C: c\n"
       "\r\r\n"
       "u\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'X-A'='a' d'v' >0,8\n"
     "<0 h'X-B'='b\\r\\n\\t' d'w' >0,8\n"
     "<0 h'X-C'='c' d'u' >1,10\n"
     "top=62"},
    {"headers: content-length deleted, duplicates kept",
     B("--b\r\n"
       "Content-Length: 3\r\n"
       "X: 1\r\n"
       "X: 2\r\n"
       "content-length: 4\r\n"
       "\r\n"
       "abcdef\r\n"
       "--b--\r\n"),
     B("b"), -1,
     "<0 h'X'='1' h'X'='2' d'abcdef' >1,15\n"
     "top=72"},
    {"boundary with regex $ newline never matches",
     B("--abc\r\n"
       "X: 1\r\n"
       "\r\n"
       "v\r\n"
       "--abc--\r\n"),
     B("abc\n"), -1, "top=27"},
    {"boundary with inner space",
     B("--a b\r\n"
       "X: 1\r\n"
       "\r\n"
       "--a bc\r\n"
       "--a b --\r\n"
       "--a b--\r\n"),
     B("a b"), -1,
     "<0 h'X'='1' d'--a bc\\r\\n--a b --' >1,27\n"
     "top=42"},
    {"boundary dash",
     B("---\r\n"
       "X: 1\r\n"
       "\r\n"
       "----\r\n"
       "---- \r\n"
       "-----\r\n"),
     B("-"), -1,
     "<0 h'X'='1' d'----\\r\\n---- ' >1,20\n"
     "top=33"},
};
static const seg big0[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"a", 1, 65536}, {"--b\r\n--b--\r\n", 12, 1}, {NULL, 0, 0}};
static const seg big1[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"a", 1, 65535}, {"\r\n--b--\r\n", 9, 1}, {NULL, 0, 0}};
static const seg big2[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"a", 1, 65535}, {"\rx\r\n--b--\r\n", 11, 1}, {NULL, 0, 0}};
static const seg big3[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"a", 1, 65534}, {"\r\r\n--b--\r\n", 10, 1}, {NULL, 0, 0}};
static const seg big4[] = {{"--b\r\nX: 1\r\n\r\n", 13, 1},
                           {"v\r\n--b", 6, 1},
                           {" ", 1, 65534},
                           {"\r\nw\r\n--b--\r\n", 12, 1},
                           {NULL, 0, 0}};
static const seg big5[] = {{"--b\r\nX: 1\r\n\r\n", 13, 1},
                           {"v\r\n--b", 6, 1},
                           {" ", 1, 70000},
                           {"\r\nw\r\n--b--\r\n", 12, 1},
                           {NULL, 0, 0}};
static const seg big6[] = {{"--b\r\nX: 1\r\n\r\n", 13, 1},
                           {"v\r\n--b--", 8, 1},
                           {" \t", 2, 3000},
                           {"x\r\n--b--\r\n", 10, 1},
                           {NULL, 0, 0}};
static const seg big7[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"a", 1, 200000}, {"\r\n--b--\r\n", 9, 1}, {NULL, 0, 0}};
static const seg big8[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"a", 1, 1000}, {"\r\n", 2, 1}, {"c", 1, 70000},
    {"\r\n--b--\r\n", 9, 1},        {NULL, 0, 0}};
static const seg big9[] = {{"p", 1, 100000},
                           {"\r\n--b\r\nX-Long: ", 15, 1},
                           {"h", 1, 10000},
                           {"\r\n\r\nv\r\n--b--\r\n", 14, 1},
                           {NULL, 0, 0}};
static const seg big10[] = {
    {"--a\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nX: 1\r\n\r\nv\r\n--in--\r\n",
     76, 1},
    {" ", 1, 65531},
    {"--a--", 5, 1},
    {"\r\n--a\r\nX: 2\r\n\r\nlater\r\n--a--\r\n", 29, 1},
    {NULL, 0, 0}};
static const seg big11[] = {
    {"--b\r\nX: 1\r\n\r\n", 13, 1}, {"ab\r", 3, 30000}, {"--b--\r\n", 7, 1}, {NULL, 0, 0}};
static const seg big12[] = {{"--b\r\nX: 1\r\n\r\n", 13, 1},
                            {"0123456789abcdef\n", 17, 20000},
                            {"\r\n--b--\r\n", 9, 1},
                            {NULL, 0, 0}};
static const big_case big_cases[] = {
    {"cap: line right after a 64 KiB cut is no boundary", big0, B("b"), -1,
     "<0 h'X'='1' d#65539:e1c5393caa02b1b7 >1,65548\n"
     "top=65561"},
    {"cap: \\r at the cut rejoins the \\n", big1, B("b"), -1,
     "<0 h'X'='1' d#65535:05bc1a0688606ba6 >1,65544\n"
     "top=65557"},
    {"cap: \\r at the cut then data", big2, B("b"), -1,
     "<0 h'X'='1' d#65537:982880ba2e4074eb >1,65546\n"
     "top=65559"},
    {"cap: \\r\\r at the cut", big3, B("b"), -1,
     "<0 h'X'='1' d#65535:05bc0606886049aa >1,65544\n"
     "top=65557"},
    {"cap: boundary line padded to the cut", big4, B("b"), -1,
     "<0 h'X'='1' d'v' >0,65539\n"
     "<0 d'w' >1,10\n"
     "top=65565"},
    {"cap: boundary line padded past the cut", big5, B("b"), -1,
     "<0 h'X'='1' d'v' >0,65539\n"
     "<0 d'w' >1,10\n"
     "top=70031"},
    {"cap: long blanks then junk: not a boundary", big6, B("b"), -1,
     "<0 h'X'='1' d#6009:83022ff944e28944 >1,6018\n"
     "top=6031"},
    {"cap: limit inside a long line stops at the next cut", big7, B("b"), 70013,
     "<0 h'X'='1' d#131072:65836722f38c2325 >0,131072\n"
     "top=131085"},
    {"cap: limit inside a long line stops at its newline", big8, B("b"), 500,
     "<0 h'X'='1' d#1000:3c835852fbac676d >0,1002\n"
     "top=1015"},
    {"cap: 64 KiB preamble and header lines are not cut", big9, B("b"), -1,
     "<0 h'X-Long'='[10000*h]' d'v' >1,10\n"
     "top=110029"},
    {"cap: skip_lines matches a cut line ending in --", big10, B("a"), -1,
     "<0 h'Content-Type'='multipart/mixed; boundary=in' sub\n"
     "<1 h'X'='1' d'v' >1,11\n"
     " >1,65561\n"
     "top=65612"},
    {"cap: CR-only body longer than a line", big11, B("b"), -1,
     "<0 h'X'='1' d#90005:2e80845600c21a99 >-1,90007\n"
     "top=90020"},
    {"large file part", big12, B("b"), -1,
     "<0 h'X'='1' d#340000:9a3ddd721c615325 >1,340009\n"
     "top=340022"},
};

static void test_cases(void)
{
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mp_case *c = &cases[i];
        setup su = {&S, c->boundary, c->blen, c->cl};
        run_all(c->name, &su, c->body, c->len, c->expect);
    }
}

static char *build(const seg *sg, size_t *len)
{
    size_t n = 0, k;
    const seg *g;
    char *b, *w;
    for (g = sg; g->s != NULL; g++)
        n += g->n * g->rep;
    b = w = malloc(n + 1);
    for (g = sg; g->s != NULL; g++)
        for (k = 0; k < g->rep; k++, w += g->n)
            memcpy(w, g->s, g->n);
    *len = n;
    return b;
}

static void test_big(void)
{
    size_t i, len;
    for (i = 0; i < sizeof big_cases / sizeof big_cases[0]; i++) {
        const big_case *c = &big_cases[i];
        setup su = {&S, c->boundary, c->blen, c->cl};
        char *body = build(c->segs, &len);
        run_all(c->name, &su, body, len, c->expect);
        free(body);
    }
}

/* Limits: the error and its offset do not depend on how the input is cut. */
static void test_limits(void)
{
    static const seg longline[] = {
        {"--b\r\nX: ", 8, 1}, {"a", 1, 20000}, {"\r\n\r\nv\r\n--b--\r\n", 14, 1}, {NULL, 0, 0}};
    static const seg longname[] = {
        {"--b\r\n", 5, 1}, {"N", 1, 70000}, {": v\r\n\r\nv\r\n--b--\r\n", 17, 1}, {NULL, 0, 0}};
    static const char parts5[] =
        "--b\r\nA: 1\r\n\r\n1\r\n--b\r\nA: 2\r\n\r\n2\r\n--b\r\nA: 3\r\n\r\n3\r\n"
        "--b\r\nA: 4\r\n\r\n4\r\n--b\r\nA: 5\r\n\r\n5\r\n--b--\r\n";
    static const char hdrs3[] = "--b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\nv\r\n--b--\r\n";
    static const char nest2[] =
        "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: "
        "multipart/mixed; boundary=c\r\n\r\n--c\r\nX: 1\r\n\r\ndeep\r\n--c--\r\n--b--\r\n--a--";
    static const char six[] = "--b\r\nA: 1\r\n\r\nabcdef\r\n--b--\r\n";
    cgih_mp_settings s;
    setup su = {&s, "b", 1, -1};
    size_t len;
    char *body;

    s = S;
    body = build(longline, &len);
    run_all("default max_header_line 16384", &su, body, len,
            "<0!error header line too long (max_header_line) @16389 =16384");
    free(body);

    s = S;
    s.max_header_line = SIZE_MAX;
    s.max_header_block = SIZE_MAX;
    body = build(longname, &len);
    run_all("header name longer than the lookbehind", &su, body, len,
            "<0!error header name too long (over 65538 bytes, whatever max_header_line) @65543");
    free(body);

    s = S;
    s.max_parts = 3;
    run_all("max_parts 3", &su, B(parts5),
            "<0 h'A'='1' d'1' >0,8\n<0 h'A'='2' d'2' >0,8\n<0 h'A'='3' d'3' >0,8\n"
            "!error too many parts (max_parts) @53 =3");
    s = S;
    s.max_headers = 2;
    run_all("max_headers 2", &su, B(hdrs3),
            "<0 h'A'='1' h'B'='2'!error too many headers (max_headers) @18 =2");
    s = S;
    s.max_header_block = 12;
    run_all("max_header_block 12", &su, B(hdrs3),
            "<0 h'A'='1'!error header block too long (max_header_block) @17 =12");
    s = S;
    s.max_part_data = 4;
    run_all("max_part_data 4", &su, B(six),
            "<0 h'A'='1'!error part data too long (max_part_data) @17");
    s = S;
    s.max_body = 20;
    run_all("max_body 20", &su, B(six), "<0 h'A'='1'!error body too long (max_body) @20");
    s = S;
    s.max_depth = 1;
    su.boundary = "a";
    run_all("max_depth 1", &su, B(nest2),
            "<0 h'Content-Type'='multipart/mixed; boundary=b' sub\n"
            "<1 h'Content-Type'='multipart/mixed; boundary=c'!error multipart nesting too deep "
            "(max_depth) @100 =1");
    s = S;
    s.max_depth = 2;
    run_all("max_depth 2", &su, B(nest2),
            "<0 h'Content-Type'='multipart/mixed; boundary=b' sub\n"
            "<1 h'Content-Type'='multipart/mixed; boundary=c' sub\n"
            "<2 h'X'='1' d'deep' >1,13\n >-1,38\n >-1,88\ntop=138");
}

/* Callback failures, misuse, DONE and offsets. */
static void test_api(void)
{
    static const char body[] = "--b\r\nA: 1\r\n\r\nabc\r\n--b--\r\nEPILOGUE";
    cgih_mp_parser *p = malloc(sizeof *p);
    setup su = {&S, "b", 1, -1};
    size_t cut = sizeof body - 1;
    char *got;
    int i, n;

    /* a callback returning nonzero stops with a sticky error at the current offset */
    for (n = 1; n <= 6; n++) {
        static const char *const want[] = {"",
                                           "<0!error callback failed @5",
                                           "<0!error callback failed @6",
                                           "<0!error callback failed @9",
                                           "<0 h'A'='1'!error callback failed @11",
                                           "<0 h'A'='1'!error callback failed @13",
                                           "<0 h'A'='1'!error callback failed @16"};
        char name[64];
        snprintf(name, sizeof name, "callback %d fails", n);
        rec_free();
        R.fail_in = n;
        cgih_mp_init(p, &S, "b", 1);
        {
            cgih_mp_status st = cgih_mp_execute(p, at_guard(body, cut), cut);
            char t[96];
            snprintf(t, sizeof t, "%s!error %s @%llu", R.out.d ? R.out.d : "", cgih_mp_errmsg(p),
                     (unsigned long long)cgih_mp_errpos(p));
            tap_ok(st == CGIH_MP_ERROR && strcmp(t, want[n]) == 0, "%s: %s", name, t);
            tap_ok(cgih_mp_execute(p, "x", 1) == CGIH_MP_ERROR &&
                       cgih_mp_finish(p) == CGIH_MP_ERROR,
                   "%s: the error is sticky", name);
        }
        rec_free();
    }

    /* DONE: the epilogue is not consumed; the offset says where cgi.py stopped reading */
    cgih_mp_init(p, NULL, "b", 1);
    tap_ok(cgih_mp_execute(p, body, 0) == CGIH_MP_OK, "execute with len 0 is a no-op");
    tap_ok(cgih_mp_execute(p, at_guard(body, cut), cut) == CGIH_MP_DONE, "DONE at --b--");
    tap_ok(cgih_mp_offset(p) == 25, "offset after DONE is the end of --b--\\r\\n (%llu)",
           (unsigned long long)cgih_mp_offset(p));
    tap_ok(cgih_mp_execute(p, "more", 4) == CGIH_MP_DONE && cgih_mp_offset(p) == 25,
           "input after DONE is ignored");
    tap_ok(cgih_mp_errmsg(p) == NULL, "no error message without an error");

    /* misuse */
    cgih_mp_init(p, NULL, "b", 1);
    tap_ok(cgih_mp_push_boundary(p, "c", 1) == -3 && cgih_mp_read_to_eof(p) == -3,
           "push_boundary/read_to_eof outside on_headers_complete return -3");
    tap_ok(cgih_mp_finish(p) == CGIH_MP_DONE, "finish on an empty body: DONE");
    cgih_mp_init(p, NULL, "b", 1);
    cgih_mp_execute(p, "--b\r\n", 5);
    cgih_mp_finish(p);
    tap_ok(cgih_mp_execute(p, "x", 1) == CGIH_MP_DONE, "execute after finish: DONE stays");
    tap_ok(cgih_mp_init(p, NULL, "b ", 2) == -1 && cgih_mp_execute(p, "x", 1) == CGIH_MP_ERROR &&
               strcmp(cgih_mp_errmsg(p), "invalid boundary") == 0,
           "init with an invalid boundary fails");
    tap_ok(cgih_mp_init(p, NULL, NULL, 0) == -1, "init with no boundary fails");

    /* re-entering execute from a callback is refused */
    rec_free();
    cgih_mp_init(p, &S, "b", 1);
    R.reenter = 2;
    tap_ok(cgih_mp_execute(p, body, cut) == CGIH_MP_ERROR &&
               strstr(cgih_mp_errmsg(p), "from a callback") != NULL,
           "execute from a callback is an error");
    rec_free();

    /* push_boundary: an invalid boundary changes nothing (the binding raises ValueError) */
    got = NULL;
    {
        static const char nb[] =
            "--a\r\nContent-Type: multipart/mixed; boundary=\"x \"\r\n\r\n--a--";
        setup s2 = {&S, "a", 1, -1};
        cuts_buf[0] = sizeof nb - 1;
        got = parse(&s2, nb, sizeof nb - 1, cuts_buf, 1, 0);
        tap_ok(strcmp(got, "ValueError") == 0, "push_boundary rejects \"x \" like valid_boundary");
        free(got);
    }
    (void)su;

    /* an explicit guard-page input: the body's last byte is the page's last byte */
    {
        static const char gb[] = "--b\r\nA: 1\r\n\r\nlast byte before the guard\r\n--b";
        setup s3 = {&S, "b", 1, -1};
        cuts_buf[0] = sizeof gb - 1;
        got = parse(&s3, gb, sizeof gb - 1, cuts_buf, 1, 0);
        tap_ok(strcmp(got, "<0 h'A'='1' d'last byte before the guard' >0,31\ntop=44") == 0,
               "input ending right before a PROT_NONE page");
        free(got);
    }

    /* cgih_valid_boundary is cgi.valid_boundary */
    {
        static const struct {
            const char *b;
            size_t n;
            int ok;
        } vb[] = {{"", 0, 0},      {"a", 1, 1},    {"a ", 2, 0},    {" a", 2, 1},
                  {"a\n", 2, 1},   {"\n", 1, 0},   {"a\n\n", 3, 0}, {"a\tb", 3, 0},
                  {"a\x7f", 2, 0}, {"a\n ", 3, 0}, {"~!", 2, 1},    {"a\r", 2, 0}};
        char big[203];
        for (i = 0; i < (int)(sizeof vb / sizeof vb[0]); i++)
            tap_ok(cgih_valid_boundary(vb[i].b, vb[i].n) == vb[i].ok, "valid_boundary case %d", i);
        memset(big, 'x', sizeof big);
        tap_ok(cgih_valid_boundary(big, 201) && !cgih_valid_boundary(big, 202),
               "valid_boundary: 201 chars yes, 202 no");
        big[201] = '\n';
        tap_ok(cgih_valid_boundary(big, 202), "valid_boundary: 201 chars + newline yes");
    }
    free(p);
}

int main(void)
{
    guard_init(1 << 20);
    test_cases();
    test_big();
    test_limits();
    test_api();
    rec_free();
    return tap_done();
}
