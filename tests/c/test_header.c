/* test_header.c: unit tests for shim/parsers/header.c (TAP, run by prove).
 *
 * The table gives inputs (the UTF-8 of the str passed to cgi.parse_header) and what
 * CPython 3.11's cgi.parse_header returns for them, as key|name=value|... in dict order
 * ('\', '|' and '=' escaped with '\', other bytes outside ASCII printable as \xHH).  The
 * test builds the same from the iterator the way the binding will: lowercase the name,
 * unescape quoted values, later duplicates replace earlier values in place. */
#include "header.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *in;
    const char *expect;
} hcase;

static const hcase hcases[] = {
    {"form-data; name=\"field1\"; filename=\"a.txt\"", "form-data|name=field1|filename=a.txt"},
    {"text/plain", "text/plain"},
    {"", ""},
    {";", ""},
    {";;", ""},
    {" ; a=b", "|a=b"},
    {"multipart/mixed; boundary=BbC04y", "multipart/mixed|boundary=BbC04y"},
    {"multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\"",
     "multipart/form-data|boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"},
    {"form-data; name=\"a;b\"; x=1", "form-data|name=a;b|x=1"},
    {"form-data; name=\"a\\\";b\"; x=1", "form-data|name=a\";b|x=1"},
    {"form-data; name=\"a\\\\\"; x=1", "form-data|name=\"a\\\\\\\\\"; x\\=1"},
    {"form-data; name=\"a\\\\\"; x=\"1;2\"", "form-data|name=\"a\\\\\\\\\"; x\\=\"1"},
    {"a; name = \" spaced \" ; B=2; b=3", "a|name= spaced |b=3"},
    {"a; noequals; c=; =d; e=\"", "a|c=|=d|e=\""},
    {"a; f=\"\"", "a|f="},
    {"a; g=\"\\\\\\\"\"", "a|g=\\\\\""},
    {"a; g=\"\\\\\\\\\"", "a|g=\\\\\\\\"},
    {"a; h=\"\\\"\\\\\"", "a|h=\"\\\\"},
    {"\302\240form-data\343\200\200; name=\342\200\203\"x\"\342\200\251", "form-data|name=x"},
    {"\034form-data\037; name=\302\205v\013", "form-data|name=v"},
    {"  key  ; a=\"b;c\"d\"; e=f", "key|a=\"b;c\"d\"; e\\=f"},
    {"a; b=\"unterminated; c=d", "a|b=\"unterminated; c\\=d"},
    {"a; \303\251=\303\274; name=\"\346\227\245\346\234\254\350\252\236\"; \303\211=x",
     "a|\\xc3\\xa9=x|name=\\xe6\\x97\\xa5\\xe6\\x9c\\xac\\xe8\\xaa\\x9e"},
    {"a; x=\"y\"z\"", "a|x=y\"z"},
    {"form-data; name=\"file\"; filename=\"C:\\path\\file.txt\"",
     "form-data|name=file|filename=C:\\\\path\\\\file.txt"},
    {"a;b=1;c=2", "a|b=1|c=2"},
    {"a; b=\342\200\250x\342\200\250", "a|b=x"},
    {"a; \342\200\213name=1", "a|\\xe2\\x80\\x8bname=1"},
    {"a; \341\232\200n=\342\201\2371\342\200\257; m=\341\240\2162\357\273\277",
     "a|n=1|m=\\xe1\\xa0\\x8e2\\xef\\xbb\\xbf"},
    {"\"quoted key\"; a=1", "\"quoted key\"|a=1"},
    {"a; =; ==; a==b", "a|=\\=|a=\\=b"},
    {"a; b=\"x\"; b=\"y\"; c=1; b=z", "a|b=z|c=1"},
    {"a; \"b\"=1; c=\"d=e\"", "a|\"b\"=1|c=d\\=e"},
    {"a; b=\\\"; c=d\"; e=f", "a|b=\\\\\"|c=d\"; e\\=f"},
    {"a\011;\011b\011=\011\"\011c\011\"\011", "a|b=\\x09c\\x09"},
    {"a; b=\"\\\\\\\\\\\"\"", "a|b=\\\\\\\\\""},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxx; "
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnn="
     "\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"",
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxx|"
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnn="
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"},
};
static const unsigned int spaces[] = {
    0x9,    0xa,    0xb,    0xc,    0xd,    0x1c,   0x1d,   0x1e,   0x1f,   0x20,
    0x85,   0xa0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
    0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000};

#define MAXP 32

typedef struct {
    char name[1024], value[1024];
    size_t nlen, vlen;
} kv;

static void esc(char *out, size_t *o, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '|' || c == '=') {
            out[(*o)++] = '\\';
            out[(*o)++] = (char)c;
        } else if (c >= 32 && c < 127) {
            out[(*o)++] = (char)c;
        } else {
            *o += (size_t)sprintf(out + *o, "\\x%02x", c);
        }
    }
}

/* str.lower() for what the table uses: ASCII and U+00C0-U+00DE (not U+00D7) */
static void lower(char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            s[i] = (char)(c + 32);
        else if (c == 0xc3 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9e && (unsigned char)s[i + 1] != 0x97) {
            i++;
            s[i] = (char)((unsigned char)s[i] + 0x20);
        }
    }
}

static void render(const char *in, char *out)
{
    static kv d[MAXP];
    cgih_header_iter it;
    cgih_header_param prm;
    const char *key;
    size_t klen, nd = 0, i, o = 0;

    cgih_header_begin(&it, in, strlen(in), &key, &klen);
    esc(out, &o, key, klen);
    while (cgih_header_next(&it, &prm)) {
        kv e;
        memcpy(e.name, prm.name, prm.name_len);
        e.nlen = prm.name_len;
        lower(e.name, e.nlen);
        memcpy(e.value, prm.value, prm.value_len);
        e.vlen = prm.quoted ? cgih_header_unescape(e.value, prm.value_len, e.value) : prm.value_len;
        for (i = 0; i < nd; i++)
            if (d[i].nlen == e.nlen && memcmp(d[i].name, e.name, e.nlen) == 0)
                break;
        if (i == nd && nd < MAXP)
            nd++;
        d[i] = e;
    }
    for (i = 0; i < nd; i++) {
        out[o++] = '|';
        esc(out, &o, d[i].name, d[i].nlen);
        out[o++] = '=';
        esc(out, &o, d[i].value, d[i].vlen);
    }
    out[o] = '\0';
}

static size_t utf8(unsigned int c, char *b)
{
    if (c < 0x80) {
        b[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (char)(0xc0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    b[0] = (char)(0xe0 | (c >> 12));
    b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
    b[2] = (char)(0x80 | (c & 0x3f));
    return 3;
}

static void test_table(void)
{
    static char got[8192];
    size_t i;
    for (i = 0; i < sizeof hcases / sizeof hcases[0]; i++) {
        render(hcases[i].in, got);
        tap_ok(strcmp(got, hcases[i].expect) == 0, "parse_header case %zu: %.60s", i, got);
        if (strcmp(got, hcases[i].expect) != 0)
            tap_diag("expected %s", hcases[i].expect);
    }
}

/* every str.isspace() character is stripped at both ends, never inside */
static void test_strip(void)
{
    static const unsigned int not_space[] = {0x200b, 0x180e, 0xfeff, 0x84,   0xa1, 0x2027,
                                             0x2030, 0x1681, 0x3001, 0x205e, 0x1b, 0x21};
    char b[32], w[4];
    size_t i, n, k, st, len;
    int bad = 0;

    for (i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
        k = utf8(spaces[i], w);
        n = 0;
        memcpy(b + n, w, k), n += k;
        memcpy(b + n, w, k), n += k;
        b[n++] = 'x';
        memcpy(b + n, w, k), n += k;
        b[n++] = 'y';
        memcpy(b + n, w, k), n += k;
        len = cgih_header_strip(b, n, &st);
        if (st != 2 * k || len != 2 + k) {
            bad++;
            tap_diag("U+%04X not stripped right", spaces[i]);
        }
    }
    tap_ok(bad == 0 && sizeof spaces / sizeof spaces[0] == 29,
           "strip removes all 29 str.isspace() characters at both ends only");
    bad = 0;
    for (i = 0; i < sizeof not_space / sizeof not_space[0]; i++) {
        k = utf8(not_space[i], w);
        memcpy(b, w, k);
        memcpy(b + k, w, k);
        len = cgih_header_strip(b, 2 * k, &st);
        if (st != 0 || len != 2 * k) {
            bad++;
            tap_diag("U+%04X stripped", not_space[i]);
        }
    }
    tap_ok(bad == 0, "strip keeps non-space characters (U+200B, U+180E, U+FEFF, ...)");
    tap_ok(cgih_header_strip("", 0, &st) == 0 && st == 0, "strip of empty");
    tap_ok(cgih_header_strip(" \t\r\n", 4, &st) == 0, "strip of only spaces");
    /* a truncated sequence at the end is not a space and is not read past */
    tap_ok(cgih_header_strip("x\xe2\x80", 3, &st) == 3 && st == 0, "strip: truncated UTF-8 kept");
}

static void test_unescape(void)
{
    static const struct {
        const char *in, *out;
    } u[] = {{"", ""},
             {"abc", "abc"},
             {"a\\\\b", "a\\b"},
             {"a\\\"b", "a\"b"},
             {"\\\\\"", "\""}, /* first pass makes \" which the second pass turns into " */
             {"\\\\\\\"", "\\\""},
             {"\\", "\\"},
             {"\\\\\\", "\\\\"},
             {"\"\\", "\"\\"}};
    char b[64];
    size_t i, n;
    for (i = 0; i < sizeof u / sizeof u[0]; i++) {
        n = strlen(u[i].in);
        memcpy(b, u[i].in, n);
        n = cgih_header_unescape(b, n, b); /* in place */
        tap_ok(n == strlen(u[i].out) && memcmp(b, u[i].out, n) == 0, "unescape case %zu", i);
    }
    {
        char out[8];
        n = cgih_header_unescape("x\\\\y", 4, out);
        tap_ok(n == 3 && memcmp(out, "x\\y", 3) == 0, "unescape into another buffer");
    }
}

static void test_spans(void)
{
    static const char s[] = "form-data; name=\"f\"; filename=\"a b.txt\"";
    cgih_header_iter it;
    cgih_header_param prm;
    const char *key;
    size_t klen;
    cgih_header_begin(&it, s, sizeof s - 1, &key, &klen);
    tap_ok(key == s && klen == 9, "key span points into the input");
    tap_ok(cgih_header_next(&it, &prm) && prm.name == s + 11 && prm.name_len == 4 &&
               prm.value == s + 17 && prm.value_len == 1 && prm.quoted,
           "param spans point into the input, quotes excluded");
    tap_ok(cgih_header_next(&it, &prm) && prm.value_len == 7 && !cgih_header_next(&it, &prm) &&
               !cgih_header_next(&it, &prm),
           "iteration ends and stays ended");
    /* no NUL terminator needed: a buffer that ends exactly at its length */
    {
        char *h = malloc(6);
        memcpy(h, "a;b=c\"", 6);
        cgih_header_begin(&it, h, 5, &key, &klen);
        tap_ok(cgih_header_next(&it, &prm) && prm.value_len == 1 && !prm.quoted,
               "input without a terminator (ASan checks the bounds)");
        free(h);
    }
}

int main(void)
{
    test_table();
    test_strip();
    test_unescape();
    test_spans();
    return tap_done();
}
