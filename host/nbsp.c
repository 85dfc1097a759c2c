/* nbsp.c: see nbsp.h.
 *
 * States of the scan:
 *   LINE_START  at the start of a physical line, outside any literal: the
 *               leading whitespace run is rewritten as a whole
 *   CODE        between tokens
 *   COMMENT     from '#' to the end of the line
 *   STRING      inside a literal opened by quote q (triple or not); a backslash
 *               skips the next byte in every kind of literal, as the tokenizer
 *               does when it looks for the end
 */
#include "nbsp.h"

#include <string.h>

enum state { LINE_START, CODE, COMMENT, STRING };

static int is_nbsp(const char *s, size_t i, size_t len)
{
    return i + 1 < len && (unsigned char)s[i] == 0xC2 && (unsigned char)s[i + 1] == 0xA0;
}

/* Rewrites the leading whitespace of the line at s[i..]; returns its end. */
static size_t fix_indent(char *s, size_t i, size_t len, size_t *count)
{
    size_t end = i, k = 0;
    while (end < len) {
        if (s[end] == ' ' || s[end] == '\t' || s[end] == '\f') {
            end++;
        } else if (is_nbsp(s, end, len)) {
            end += 2;
            k++;
        } else {
            break;
        }
    }
    if (k == 0)
        return end;
    /* Compact in place from the right so the k form feeds fit in front. */
    size_t w = end;
    for (size_t r = end; r > i;) {
        if (r - i >= 2 && (unsigned char)s[r - 2] == 0xC2 && (unsigned char)s[r - 1] == 0xA0) {
            s[--w] = ' ';
            r -= 2;
        } else {
            s[--w] = s[--r];
        }
    }
    memset(s + i, '\f', k);
    *count += k;
    return end;
}

size_t cgih_nbsp_fix(char *s, size_t len)
{
    enum state st = LINE_START;
    size_t i = 0, count = 0;
    char quote = 0;
    int triple = 0;

    while (i < len) {
        char c = s[i];
        switch (st) {
        case LINE_START:
            i = fix_indent(s, i, len, &count);
            st = CODE;
            break;
        case CODE:
            if (c == '\n') {
                i++;
                st = LINE_START;
            } else if (c == '#') {
                st = COMMENT;
                i++;
            } else if (c == '\'' || c == '"') {
                quote = c;
                triple = (i + 2 < len && s[i + 1] == c && s[i + 2] == c);
                i += triple ? 3 : 1;
                st = STRING;
            } else if (is_nbsp(s, i, len)) {
                s[i] = s[i + 1] = ' ';
                i += 2;
                count++;
            } else {
                i++;
            }
            break;
        case COMMENT:
            if (c == '\n')
                st = LINE_START;
            i++;
            break;
        case STRING:
            if (c == '\\') {
                i += 2;
            } else if (c == quote && (!triple || (i + 2 < len && s[i + 1] == c && s[i + 2] == c))) {
                i += triple ? 3 : 1;
                st = CODE;
            } else if (c == '\n' && !triple) {
                i++; /* unterminated: the compiler reports it */
                st = LINE_START;
            } else {
                i++;
            }
            break;
        }
    }
    return count;
}
