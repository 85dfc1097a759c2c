/* test_qs.c: the query-string splitter, fed whole, one byte at a time, split at
 * every point, and ending against a guard page; plus cgih_qs_unquote(). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qs.h"
#include "tap.h"

/* Events are written as "[name]" or "[name=value]" per field. */
typedef struct {
    char out[4096];
    size_t len;
} sink_t;

static void put(sink_t *s, const char *at, size_t n)
{
    if (s->len + n < sizeof s->out) {
        memcpy(s->out + s->len, at, n);
        s->len += n;
        s->out[s->len] = '\0';
    }
}

static int name_open; /* a field's '[' has been written */

static void open_field(sink_t *s)
{
    if (!name_open) {
        put(s, "[", 1);
        name_open = 1;
    }
}

static int on_name(cgih_qs_parser *p, const char *at, size_t n)
{
    open_field(p->data);
    put(p->data, at, n);
    return 0;
}

static int value_started;

static int on_value(cgih_qs_parser *p, const char *at, size_t n)
{
    open_field(p->data);
    if (!value_started) {
        put(p->data, "=", 1);
        value_started = 1;
    }
    put(p->data, at, n);
    return 0;
}

static int on_field_end(cgih_qs_parser *p)
{
    open_field(p->data);
    if (p->field_has_eq && !value_started)
        put(p->data, "=", 1);
    put(p->data, "]", 1);
    name_open = value_started = 0;
    return 0;
}

static cgih_qs_settings settings = {on_name, on_value, on_field_end, 0, 0};

/* Parses input in chunks of the given sizes (0 = the rest). Returns status. */
static cgih_qs_status run(const char *sep, const char *in, size_t len, const size_t *chunks,
                          sink_t *s)
{
    cgih_qs_parser p;
    memset(s, 0, sizeof *s);
    name_open = value_started = 0;
    if (cgih_qs_init(&p, &settings, sep, strlen(sep)) != 0)
        return CGIH_QS_ERROR;
    p.data = s;
    size_t off = 0;
    for (size_t i = 0; off < len; i++) {
        size_t n = chunks && chunks[i] ? chunks[i] : len - off;
        if (n > len - off)
            n = len - off;
        if (cgih_qs_execute(&p, in + off, n) != CGIH_QS_OK)
            return CGIH_QS_ERROR;
        off += n;
    }
    return cgih_qs_finish(&p);
}

static const struct {
    const char *sep, *in, *want;
} cases[] = {
    {"&", "", ""},
    {"&", "a=1", "[a=1]"},
    {"&", "a=1&b=2", "[a=1][b=2]"},
    {"&", "a=1&&b=2", "[a=1][][b=2]"},
    {"&", "&", "[][]"},
    {"&", "a", "[a]"},
    {"&", "a=", "[a=]"},
    {"&", "=", "[=]"},
    {"&", "a==b", "[a==b]"},
    {"&", "a=1=2&c", "[a=1=2][c]"},
    {"&", "name=Ada+L&happy=on", "[name=Ada+L][happy=on]"},
    {"&", "x=%41%zz%4", "[x=%41%zz%4]"},
    {"&", "a=1;b=2", "[a=1;b=2]"},
    {";", "a=1;b=2&c=3", "[a=1][b=2&c=3]"},
    {"&&", "a=1&&b=2", "[a=1][b=2]"},
    {"&&", "a=1&b=2", "[a=1&b=2]"},
    {"&&", "a=1&&&b=2", "[a=1][&b=2]"},
    {"&&", "&&&", "[][&]"},
    {"aab", "xaaab", "[xa][]"},
    {"aab", "aaaab", "[aa][]"},
    {"aab", "aa", "[aa]"},
    {"aab", "aaa", "[aaa]"},
    {"ab", "a=1abab=2a", "[a=1][][=2a]"},
    {"=", "a=b", "[a][b]"},
    {"&", "\xc3\xa9=\xe2\x82\xac", "[\xc3\xa9=\xe2\x82\xac]"},
};

/* Input placed so its last byte is just before an inaccessible page. */
static char *guarded(const char *in, size_t len, void **map, size_t *maplen)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t need = (len / (size_t)pg + 2) * (size_t)pg;
    char *m = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (mprotect(m + need - (size_t)pg, (size_t)pg, PROT_NONE) != 0) {
        munmap(m, need);
        return NULL;
    }
    char *at = m + need - (size_t)pg - len;
    memcpy(at, in, len);
    *map = m;
    *maplen = need;
    return at;
}

int main(void)
{
    sink_t s;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *in = cases[c].in, *want = cases[c].want, *sep = cases[c].sep;
        size_t len = strlen(in);
        int ok = run(sep, in, len, NULL, &s) == CGIH_QS_OK && strcmp(s.out, want) == 0;
        tap_ok(ok, "whole: sep '%s' input '%s' -> %s", sep, in, s.out);

        size_t ones[256];
        for (size_t i = 0; i < 256; i++)
            ones[i] = 1;
        ok = run(sep, in, len, ones, &s) == CGIH_QS_OK && strcmp(s.out, want) == 0;
        tap_ok(ok, "byte by byte: '%s' -> %s", in, s.out);

        int all = 1;
        for (size_t k = 1; k < len; k++) {
            size_t split[3] = {k, 0, 0};
            if (run(sep, in, len, split, &s) != CGIH_QS_OK || strcmp(s.out, want) != 0) {
                tap_diag("split at %zu gave %s", k, s.out);
                all = 0;
            }
        }
        tap_ok(all, "split at every point: '%s'", in);

        void *map;
        size_t maplen;
        char *g = guarded(in, len, &map, &maplen);
        ok = g && run(sep, g, len, NULL, &s) == CGIH_QS_OK && strcmp(s.out, want) == 0;
        tap_ok(ok, "against a guard page: '%s'", in);
        if (g)
            munmap(map, maplen);
    }

    /* Limits are errors with a reason and an offset. */
    cgih_qs_settings lim = settings;
    cgih_qs_parser p;
    lim.max_fields = 2;
    cgih_qs_init(&p, &lim, "&", 1);
    p.data = &s;
    cgih_qs_status st = cgih_qs_execute(&p, "a&b&c", 5);
    tap_ok(st == CGIH_QS_ERROR && strcmp(cgih_qs_errmsg(&p), "too many fields") == 0 &&
               cgih_qs_errpos(&p) == 4 && cgih_qs_execute(&p, "", 0) == CGIH_QS_ERROR,
           "max_fields: %s at %llu", cgih_qs_errmsg(&p), (unsigned long long)cgih_qs_errpos(&p));
    tap_ok(cgih_qs_execute(&p, "x", 1) == CGIH_QS_ERROR && cgih_qs_finish(&p) == CGIH_QS_ERROR,
           "errors are sticky");
    cgih_qs_init(&p, &lim, "&", 1);
    p.data = &s;
    tap_ok(cgih_qs_execute(&p, "a&b", 3) == CGIH_QS_OK && cgih_qs_finish(&p) == CGIH_QS_OK,
           "max_fields: exactly the limit passes");
    lim.max_fields = 0;
    lim.max_field_bytes = 3;
    cgih_qs_init(&p, &lim, "&", 1);
    p.data = &s;
    st = cgih_qs_execute(&p, "ab&abcd", 7);
    tap_ok(st == CGIH_QS_ERROR && strcmp(cgih_qs_errmsg(&p), "field too long") == 0,
           "max_field_bytes");
    tap_ok(cgih_qs_init(&p, &settings, "", 0) == -1, "empty separator refused");

    /* unquote */
    static const struct {
        const char *in, *want;
    } uq[] = {
        {"a+b", "a b"},       {"%41%42", "AB"},   {"%4a%4A", "JJ"},   {"%zz", "%zz"},
        {"%4", "%4"},         {"%", "%"},         {"%%41", "%A"},     {"%+1", "% 1"},
        {"100%", "100%"},     {"%e2%82%ac", "\xe2\x82\xac"},          {"%2B+", "+ "},
    };
    for (size_t i = 0; i < sizeof uq / sizeof uq[0]; i++) {
        char buf[64];
        size_t n = strlen(uq[i].in);
        memcpy(buf, uq[i].in, n);
        n = cgih_qs_unquote(buf, n);
        buf[n] = '\0';
        tap_ok(strcmp(buf, uq[i].want) == 0, "unquote '%s' -> '%s'", uq[i].in, buf);
    }
    int ascii;
    tap_ok(cgih_qs_run("ab\xc3\xa9", 4, &ascii) == 2 && ascii == 1, "ascii run");
    tap_ok(cgih_qs_run("\xc3\xa9z", 3, &ascii) == 2 && ascii == 0, "non-ascii run");
    return tap_done();
}
