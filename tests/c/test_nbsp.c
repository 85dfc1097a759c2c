/* test_nbsp.c: the no-break-space rewrite keeps every byte offset, fixes
 * indentation and gaps between tokens, and leaves literals and comments alone.
 *
 * test_nbsp --filter rewrites sources from stdin to stdout, each ended by a
 * NUL, for tests/test_nbsp_tokenize.py, which checks it against CPython's
 * tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbsp.h"
#include "tap.h"

#define NB "\xc2\xa0"

static const struct {
    const char *in, *want;
    size_t count;
} cases[] = {
    {"x = 1\n", "x = 1\n", 0},
    {"if x:\n" NB NB "y()\n", "if x:\n\f\f  y()\n", 2},
    {"if x:\n" NB " " NB " y()\n", "if x:\n\f\f    y()\n", 2},
    {"if x:\n\t" NB "y()\n", "if x:\n\f\t y()\n", 1},
    {"x =" NB "1\n", "x =  1\n", 1},
    {"s = '" NB "'\n", "s = '" NB "'\n", 0},
    {"s = \"a" NB "\" +" NB "b\n", "s = \"a" NB "\" +  b\n", 1},
    {"b = b'" NB "'\n", "b = b'" NB "'\n", 0},
    {"# " NB "comment\n" NB "x\n", "# " NB "comment\n\f x\n", 1},
    {"s = '''\n" NB "x\n'''\n" NB "y\n", "s = '''\n" NB "x\n'''\n\f y\n", 1},
    {"s = 'it\\'s" NB "'\n", "s = 'it\\'s" NB "'\n", 0},
    {"s = \"\"\"a\"b" NB "\"\"\"" NB "\n", "s = \"\"\"a\"b" NB "\"\"\"  \n", 1},
    {"f(a," NB "\n" NB NB "b)\n", "f(a,  \n\f\f  b)\n", 3},
    {"x = 1 # " NB "\n", "x = 1 # " NB "\n", 0},
    {"\xc2", "\xc2", 0},
    {"'unterminated" NB "\n" NB "x\n", "'unterminated" NB "\n\f x\n", 1},
    /* CR LF and a lone CR end lines as LF does (the tokenizer reads them so) */
    {"if 1:\r\n" NB NB "x = 1\r\n", "if 1:\r\n\f\f  x = 1\r\n", 2},
    {"if 1:\r" NB NB "x = 1\r  y = 2\r", "if 1:\r\f\f  x = 1\r  y = 2\r", 2},
    {"# c\r" NB "x\r", "# c\r\f x\r", 1},
    {"s = 'a\\\r\n" NB "b'\r\n", "s = 'a\\\r\n" NB "b'\r\n", 0}, /* a continued literal */
    {"s = 'a\r" NB "x\r", "s = 'a\r\f x\r", 1},                    /* unterminated at a CR */
    /* f-strings: the expressions in {...} are code, the rest literal */
    {"f'{" NB "x" NB "}'\n", "f'{  x  }'\n", 2},
    {"f'" NB "{x}" NB "'\n", "f'" NB "{x}" NB "'\n", 0},
    {"F\"{a" NB "*" NB "b:" NB ">9}\"\n", "F\"{a  *  b:" NB ">9}\"\n", 2},  /* the spec is literal */
    {"f'{x!r:" NB "}{" NB "y}'\n", "f'{x!r:" NB "}{  y}'\n", 1},
    {"f'{x:{" NB "w}.{p" NB "}}" NB "'\n", "f'{x:{  w}.{p  }}" NB "'\n", 2},  /* fields in the spec */
    {"f'{{" NB "}}{" NB "x}'\n", "f'{{" NB "}}{  x}'\n", 1},         /* {{ and }} are braces */
    {"f'{x:{{" NB "1}}}'\n", "f'{x:{{  1}}}'\n", 1},                  /* but in a spec, a field */
    {"f'{d[\"a" NB "\"]" NB "}'\n", "f'{d[\"a" NB "\"]  }'\n", 1}, /* a string inside */
    {"f\"{d[\"a" NB "\"]" NB "}\"\n", "f\"{d[\"a" NB "\"]  }\"\n", 1}, /* same quotes (3.12) */
    {"f'{ {1:2}[1]" NB "}'\n", "f'{ {1:2}[1]  }'\n", 1},             /* a ':' in brackets */
    {"f'{a!=" NB "b}'\n", "f'{a!=  b}'\n", 1},                        /* != is no conversion */
    {"f'{f\"{" NB "x}" NB "\"}'\n", "f'{f\"{  x}" NB "\"}'\n", 1}, /* nested f-strings */
    {"rf'\\{" NB "x}'\n", "rf'\\{  x}'\n", 1},                      /* a backslash keeps no brace */
    {"f'\\{" NB "x}'\n", "f'\\{  x}'\n", 1},
    {"f'\\N{NO-BREAK" NB "SPACE}'\n", "f'\\N{NO-BREAK" NB "SPACE}'\n", 0}, /* a \N{...} escape */
    {"rf'\\N{" NB "x}'\n", "rf'\\N{  x}'\n", 1},                    /* raw: a field */
    {"f'''{x +\n" NB "y}''' +" NB "1\n", "f'''{x +\n  y}''' +  1\n", 2}, /* across lines */
    {"f'{x # " NB "}\n" NB "}'\n", "f'{x # " NB "}\n  }'\n", 1},      /* a comment in a field */
    {"b'{" NB "x}' + u'{" NB "}'\n", "b'{" NB "x}' + u'{" NB "}'\n", 0}, /* no f */
    {"if'{" NB "}'\n", "if'{" NB "}'\n", 0},                           /* the name if, a string */
    {"fb'{" NB "}' bf'{" NB "}'\n", "fb'{" NB "}' bf'{" NB "}'\n", 0},  /* no such prefix */
    {"f'{x" NB "\n" NB "y\n", "f'{x  \n  y\n", 2},                     /* unterminated in a field */
    {"f'{x:" NB "\n" NB "y\n", "f'{x:" NB "\n  y\n", 1}, /* a newline in a spec: code again (3.12.1) */
    {"f'{x:>5\n}', 'a" NB "b'\n", "f'{x:>5\n}', 'a" NB "b'\n", 0},
    {"x = 'a\n" NB "y\n", "x = 'a\n\f y\n", 1},                     /* unterminated */
};

/* Source declaring no encoding: where python3's tokenizer finds a byte that
 * is not UTF-8 (offset and line), or -1. */
static const struct {
    const char *in;
    size_t len, at, line;
} utf8_cases[] = {
    {"x = 1\n# caf\xe9\n", 0, 11, 2},
    {"x = 1\nprint('caf\xc3\xa9')\n", 0, (size_t)-1, 0},
    {"# -*- coding: latin-1 -*-\n# caf\xe9\n", 0, (size_t)-1, 0},
    {"#!/usr/bin/python3\n# vim: set fileencoding=latin-1 :\n\xe9\n", 0, (size_t)-1, 0},
    {"#!/usr/bin/python3 \xe9\n# coding: latin-1\n", 0, 19, 1},  /* line 1 is read first */
    {"x = 1\n# coding: latin-1\n\xe9\n", 0, 24, 3},            /* line 2 only after a comment */
    {"\xef\xbb\xbfx = '\xe9'\n", 0, (size_t)-1, 0},             /* a BOM declares UTF-8 */
    {"x = 1 \xc3\x28\n", 0, 6, 1},                               /* a bad continuation byte */
    {"x = '\xe2\x82'\n", 0, 5, 1},                               /* cut short */
    {"x = '\xf8\x88\x80\x80\x80'\n", 0, 5, 1},                   /* no 5-byte sequences */
    {"s = 'a\0\xe9'\n", 10, (size_t)-1, 0},                       /* nothing after a NUL */
    {"# caf\xc3", 0, 5, 1},                                       /* at the very end */
    {"# \xed\xa0\x80\n", 0, 2, 1},                                 /* a surrogate */
    {"# \xc0\xaf\n", 0, 2, 1},                                     /* overlong */
    {"# \xe0\x80\xaf\n", 0, 2, 1},                                 /* overlong */
    {"# \xf0\x8f\xbf\xbf\n", 0, 2, 1},                             /* overlong */
    {"# \xf4\x90\x80\x80\n", 0, 2, 1},                             /* past U+10FFFF */
    {"# \xf5\x80\x80\x80\n", 0, 2, 1},                             /* no such lead byte */
    {"# \xf4\x8f\xbf\xbf \xed\x9f\xbf \xef\xbf\xbf\n", 0, (size_t)-1, 0}, /* the highest of each */
};

/* The declared encoding, as the tokenizer names it, or NULL. */
static const struct {
    const char *in, *name;
} coding_cases[] = {
    {"# -*- coding: latin-1 -*-\n", "iso-8859-1"},
    {"# coding=ISO_8859_1\n", "iso-8859-1"},
    {"# coding: Latin-1-Unix\n", "iso-8859-1"},
    {"# coding: iso-latin-1\n", "iso-8859-1"},
    {"# coding: utf_8\n", "utf-8"},
    {"# coding: UTF-8-sig\n", "utf-8"},
    {"# coding: utf8\n", "utf8"},                                  /* not normalized */
    {"# coding: ASCII\n", "ASCII"},                                /* as written */
    {"#!/usr/bin/python3\n# vim: set fileencoding=cp1252 :\n", "cp1252"},
    {"\n# coding: euc_jp\n", "euc_jp"},                            /* line 2 after a blank */
    {"\xef\xbb\xbf# coding: nosuch\n", "nosuch"},                  /* after a BOM */
    {"x = 1\n# coding: latin-1\n", NULL},                           /* line 2 after code */
    {"#\n#\n# coding: latin-1\n", NULL},                             /* line 3 */
    {"x = 1  # coding: latin-1\n", NULL},                           /* not only a comment */
    {"# coding: \n", NULL},                                          /* no name */
    {"# coding latin-1\n", NULL},
    {"# codinG: latin-1\n", NULL},
    {"# coding: very-long-name-here.x", "very-long-name-here.x"},  /* no newline */
};

/* Each NUL-ended source on stdin, rewritten, to stdout. */
static int filter(void)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (int c; buf && (c = getchar()) != EOF;) {
        if (c != 0) {
            char *more = n == cap ? realloc(buf, cap *= 2) : buf;
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            buf[n++] = (char)c;
            continue;
        }
        cgih_nbsp_fix(buf, n);
        if (fwrite(buf, 1, n, stdout) != n || putchar(0) == EOF)
            return 1;
        n = 0;
    }
    if (!buf || ferror(stdin) || n != 0) {
        fputs("test_nbsp --filter: out of memory, a read error, or a source not ended by a NUL\n", stderr);
        return 1;
    }
    free(buf);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--filter") == 0)
        return filter();
    for (size_t i = 0; i < sizeof coding_cases / sizeof coding_cases[0]; i++) {
        const char *name = NULL, *want = coding_cases[i].name;
        size_t n = cgih_source_coding(coding_cases[i].in, strlen(coding_cases[i].in), &name);
        tap_ok(want ? n == strlen(want) && memcmp(name, want, n) == 0 : n == 0,
               "coding case %zu: %.*s", i, (int)n, n ? name : "");
    }
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        size_t n = utf8_cases[i].len ? utf8_cases[i].len : strlen(utf8_cases[i].in), line = 0;
        size_t at = cgih_source_bad_utf8(utf8_cases[i].in, n, &line);
        tap_ok(at == utf8_cases[i].at && (at == (size_t)-1 || line == utf8_cases[i].line),
               "utf-8 case %zu: at %zu line %zu", i, at, line);
    }
    /* f-strings nested as deep as CPython 3.12 takes them (149) */
    static char deep[149 * 5 + 8];
    size_t d = 0;
    for (int k = 0; k < 149; k++)
        d += (size_t)sprintf(deep + d, "f'{");
    d += (size_t)sprintf(deep + d, NB "x");
    for (int k = 0; k < 149; k++)
        d += (size_t)sprintf(deep + d, "}'");
    tap_ok(cgih_nbsp_fix(deep, d) == 1 && memcmp(deep + 149 * 3, "  x}'", 5) == 0, "149 nested f-strings");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        size_t n = strlen(cases[i].in);
        memcpy(buf, cases[i].in, n + 1);
        size_t count = cgih_nbsp_fix(buf, n);
        tap_ok(count == cases[i].count && memcmp(buf, cases[i].want, n + 1) == 0 &&
                   strlen(cases[i].want) == n,
               "case %zu: %zu replaced, same length", i, count);
    }
    return tap_done();
}
