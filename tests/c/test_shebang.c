/* test_shebang.c: the "#!" line's argument for a python, read as the kernel
 * reads it (fs/binfmt_script.c). */
#include <string.h>

#include "shebang.h"
#include "tap.h"

static const struct {
    const char *in;
    const char *want; /* NULL: none */
} cases[] = {
    {"#!/usr/bin/python3 -u\nprint()\n", "-u"},
    {"#!/usr/bin/python3\nprint()\n", NULL},
    {"#!/usr/bin/python3   \n", NULL},
    {"#! /usr/bin/python3 -uO\n", "-uO"},
    {"#!\t/usr/bin/python3\t-W ignore::DeprecationWarning \t\n", "-W ignore::DeprecationWarning"},
    {"#!/usr/bin/python3 -u -O\n", "-u -O"},            /* one argument */
    {"#!/usr/bin/python3 -u\r\nx\r\n", "-u"},           /* CRLF */
    {"#!/usr/bin/python -u\n", "-u"},
    {"#!/usr/bin/python3.11 -E\n", "-E"},
    {"#!python3 -s\n", "-s"},
    {"#!/usr/bin/env python3\n", NULL},                 /* env's argument, not python's */
    {"#!/usr/bin/env python3 -u\n", NULL},
    {"#!/usr/local/bin/cgihost -u\n", NULL},
    {"#!/opt/pythonic/bin/perl -w\n", NULL},            /* the file name, not the path */
    {"#!/usr/bin/pyth -u\n", NULL},
    {"# !/usr/bin/python3 -u\n", NULL},
    {"print('#!/usr/bin/python3 -u')\n", NULL},
    {"#!\n", NULL},
    {"#!", NULL},
    {"", NULL},
    {"#!/usr/bin/python3 -u", "-u"},                    /* no newline at all */
    {"#!/usr/bin/python3 -u\0x\n", "-u"},
    {"#!/usr/bin/python3 -\0u\n", "-"},
};

int main(void)
{
    char opt[CGIH_SHEBANG_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *in = cases[i].in;
        size_t n = strlen(in);
        if (i >= sizeof cases / sizeof cases[0] - 2)
            n += 3; /* past the NUL */
        int got = cgih_shebang_python_arg(in, n, opt);
        tap_ok(cases[i].want ? got == 1 && strcmp(opt, cases[i].want) == 0 : got == 0 && !opt[0],
               "case %zu: %s", i, got ? opt : "(none)");
    }
    /* Only the first 255 bytes count: an argument reaching past them is cut
     * there, and a line without its interpreter's end is none. */
    char big[600];
    memset(big, 'x', sizeof big);
    memcpy(big, "#!/usr/bin/python3 -W", 21);
    big[sizeof big - 1] = '\n';
    tap_ok(cgih_shebang_python_arg(big, sizeof big, opt) == 1 && strlen(opt) == 255 - 19,
           "a long argument is cut at byte 255 (%zu bytes)", strlen(opt));
    memset(big, 'x', sizeof big);
    memcpy(big, "#!/usr/bin/python3", 18);
    tap_ok(cgih_shebang_python_arg(big, sizeof big, opt) == 0, "a long name is none");
    tap_ok(cgih_shebang_python_arg_of("/nonexistent/x.py", opt) == 0 && !opt[0], "no file, none");
    tap_ok(cgih_shebang_python_arg_of("/", opt) == 0 && !opt[0], "a directory, none");
    return tap_done();
}
