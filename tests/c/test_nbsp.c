/* test_nbsp.c: the no-break-space rewrite keeps every byte offset, fixes
 * indentation and gaps between tokens, and leaves literals and comments alone. */
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
};

int main(void)
{
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
