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
            if (c == '\n' || c == '\r') { /* CR LF, LF, or a lone CR (old Mac files) */
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
            if (c == '\n' || c == '\r')
                st = LINE_START;
            i++;
            break;
        case STRING:
            if (c == '\\') {
                i += i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n' ? 3 : 2;
            } else if (c == quote && (!triple || (i + 2 < len && s[i + 1] == c && s[i + 2] == c))) {
                i += triple ? 3 : 1;
                st = CODE;
            } else if ((c == '\n' || c == '\r') && !triple) {
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

/* ---- source that is not UTF-8 ---------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (Unicode's table 3-7,
 * as the tokenizer checks it: no overlong forms, no surrogates, nothing
 * past U+10FFFF), or 0. end bounds the look-ahead. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (*s < 0x80)
        return 1;
    if (*s < 0xc2)
        return 0; /* a continuation byte, or C0/C1 (overlong) */
    if (*s < 0xe0) {
        n = 2;
    } else if (*s < 0xf0) {
        n = 3;
        if (*s == 0xe0)
            lo = 0xa0; /* overlong */
        else if (*s == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (*s < 0xf5) {
        n = 4;
        if (*s == 0xf0)
            lo = 0x90; /* overlong */
        else if (*s == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* get_coding_spec(): a comment line naming an encoding. Returns the name's
 * length and sets *name, or returns 0. */
static size_t coding_spec(const char *s, size_t n, const char **name)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f'))
        i++;
    if (i >= n || s[i] != '#')
        return 0;
    for (; i + 6 < n; i++) {
        if (memcmp(s + i, "coding", 6) != 0 || (s[i + 6] != ':' && s[i + 6] != '='))
            continue;
        size_t t = i + 7;
        while (t < n && (s[t] == ' ' || s[t] == '\t'))
            t++;
        size_t b = t;
        while (t < n && ((s[t] >= '0' && s[t] <= '9') || (s[t] >= 'A' && s[t] <= 'Z') ||
                         (s[t] >= 'a' && s[t] <= 'z') || s[t] == '-' || s[t] == '_' || s[t] == '.'))
            t++;
        if (t > b) {
            *name = s + b;
            return t - b;
        }
    }
    return 0;
}

/* check_coding_spec()'s test for going on to line 2: blanks and a comment. */
static int comment_or_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '#' || s[i] == '\n' || s[i] == '\r')
            return 1;
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\f')
            return 0;
    }
    return 1;
}

size_t cgih_source_bad_utf8(const char *src, size_t len, size_t *line)
{
    if (len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0)
        return (size_t)-1;
    int looking = 1; /* for a coding spec */
    size_t lineno = 0;
    const char *spec;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(src + i, '\n', len - i);
        size_t next = nl ? (size_t)(nl - src) + 1 : len;
        lineno++;
        if (looking) {
            if (lineno > 2)
                looking = 0;
            else if (coding_spec(src + i, next - i, &spec))
                return (size_t)-1;
            else if (!comment_or_blank(src + i, next - i))
                looking = 0;
        }
        const unsigned char *p = (const unsigned char *)src + i, *end = (const unsigned char *)src + next;
        while (p < end && *p) {
            size_t k = utf8_len(p, end);
            if (k == 0) {
                *line = lineno;
                return (size_t)(p - (const unsigned char *)src);
            }
            p += k;
        }
        i = next;
    }
    return (size_t)-1;
}

/* get_normal_name(): its first 12 bytes lowercased, '_' read as '-'. */
static const char *normal_name(const char *s, size_t n, size_t *len)
{
    char buf[13];
    size_t i;
    for (i = 0; i < 12 && i < n; i++)
        buf[i] = s[i] == '_' ? '-' : (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    buf[i] = '\0';
    const char *r = NULL;
    if (strcmp(buf, "utf-8") == 0 || strncmp(buf, "utf-8-", 6) == 0)
        r = "utf-8";
    else if (strcmp(buf, "latin-1") == 0 || strcmp(buf, "iso-8859-1") == 0 ||
             strcmp(buf, "iso-latin-1") == 0 || strncmp(buf, "latin-1-", 8) == 0 ||
             strncmp(buf, "iso-8859-1-", 11) == 0 || strncmp(buf, "iso-latin-1-", 12) == 0)
        r = "iso-8859-1";
    if (!r) {
        *len = n;
        return s;
    }
    *len = strlen(r);
    return r;
}

size_t cgih_source_coding(const char *src, size_t len, const char **name)
{
    size_t i = len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    for (int lineno = 1; lineno <= 2 && i < len; lineno++) {
        const char *nl = memchr(src + i, '\n', len - i);
        size_t next = nl ? (size_t)(nl - src) + 1 : len, n;
        const char *spec;
        if ((n = coding_spec(src + i, next - i, &spec)) != 0) {
            *name = normal_name(spec, n, &n);
            return n;
        }
        if (!comment_or_blank(src + i, next - i))
            break;
        i = next;
    }
    return 0;
}

int cgih_source_has_fstring(const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '"' && src[i] != '\'')
            continue;
        /* up to two prefix letters before it, f or r, one of them an f */
        for (size_t k = i; k > 0 && k + 2 > i && ((src[k - 1] | 0x20) == 'f' || (src[k - 1] | 0x20) == 'r'); k--)
            if ((src[k - 1] | 0x20) == 'f')
                return 1;
    }
    return 0;
}
