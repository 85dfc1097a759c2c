/* nbsp.c: see nbsp.h.
 *
 * The scan keeps a stack of what is open, innermost last:
 *   LITERAL  a string or bytes literal opened by quote q (triple or not),
 *            an f-string or not, raw or not;
 *   FIELD    an f-string's replacement field {...}: its expression and
 *            conversion (!r), which are code, then (past a ':' outside
 *            brackets) its format spec, literal text that may open fields.
 * With nothing open the scan is at the top level: at the start of a line,
 * whose leading whitespace is rewritten as a whole, or between tokens.
 * Comments run to the end of the line, at the top level and in a field's
 * expression (from 3.12 a comment may stand there).
 *
 * f-strings are read as CPython 3.12 tokenizes them (PEP 701): a field's
 * expression may hold strings in any quotes, the f-string's own included,
 * and span lines; a newline in the format spec of an f-string in single
 * quotes goes back to the expression, as in 3.12.1 and 3.13.0 (later
 * releases refuse it). For source that is valid 3.11, where the f-string
 * ends at the first quote like its own, this finds the same ends. (3.13.0
 * reads a {{ after a nested field in a format spec as a brace, which this
 * does not follow.)
 */
#include "nbsp.h"

#include <string.h>

/* Deeper nesting than CPython takes: 3.12 refuses more than 150 nested
 * f-strings, each a literal and a field here. Past it the rewrite stops, and
 * the compiler says what it finds. */
#define MAX_OPEN 512

enum kind { LITERAL, FIELD };

struct scope {
    unsigned char kind;
    char quote;            /* LITERAL: ' or " */
    unsigned char triple;  /* LITERAL: ''' or """ */
    unsigned char fstring; /* LITERAL: an f-string, whose {...} are fields */
    unsigned char raw;     /* LITERAL: with an r in its prefix */
    unsigned char spec;    /* FIELD: past the expression, in the format spec */
    unsigned depth;        /* FIELD: brackets open in the expression */
};

static int is_nbsp(const char *s, size_t i, size_t len)
{
    return i + 1 < len && (unsigned char)s[i] == 0xC2 && (unsigned char)s[i + 1] == 0xA0;
}

static int is_newline(char c)
{
    return c == '\n' || c == '\r'; /* LF, CR LF, or a lone CR (old Mac files) */
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

static int is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}

/* The literal that the quote at s[q] opens: its prefix is the name right
 * before the quote when that whole name is a string prefix (r, u, b, f and
 * the pairs of r with b or f, any case), as the tokenizer reads it: "if'x'"
 * is the name if and a plain string. */
static struct scope literal_at(const char *s, size_t q, size_t len)
{
    struct scope o = {.kind = LITERAL, .quote = s[q]};
    o.triple = q + 2 < len && s[q + 1] == s[q] && s[q + 2] == s[q];
    size_t k = q;
    while (k > 0 && q - k < 3 && is_ident(s[k - 1]))
        k--;
    int f = 0, r = 0, other = 0;
    for (size_t i = k; i < q; i++) {
        char c = (char)(s[i] | 0x20);
        f += c == 'f';
        r += c == 'r';
        other += c != 'f' && c != 'r' && c != 'b' && c != 'u';
    }
    size_t n = q - k;
    int prefix = n <= 2 && !other && (n < 2 || (r == 1 && (char)(s[k] | 0x20) != 'u' &&
                                                 (char)(s[k + 1] | 0x20) != 'u'));
    o.fstring = prefix && f == 1;
    o.raw = prefix && r == 1;
    return o;
}

/* How far a backslash at s[i] in a literal reaches: the byte after it (a
 * CR LF as one), as the tokenizer skips it looking for the end; in an
 * f-string, not a brace (it still opens or closes a field) and, but in a raw
 * one, all of a \N{...} escape. */
static size_t past_backslash(const char *s, size_t i, size_t len, const struct scope *lit)
{
    if (i + 1 >= len)
        return len;
    char c = s[i + 1];
    if (lit->fstring && (c == '{' || c == '}'))
        return i + 1;
    if (lit->fstring && !lit->raw && c == 'N' && i + 2 < len && s[i + 2] == '{') {
        size_t j = i + 3;
        while (j < len && s[j] != '}' && s[j] != lit->quote && !is_newline(s[j]))
            j++;
        return j < len && s[j] == '}' ? j + 1 : j;
    }
    return i + (c == '\r' && i + 2 < len && s[i + 2] == '\n' ? 3 : 2);
}

/* Whether the literal lit ends at s[i]: its quote, three of them if triple. */
static int closes(const char *s, size_t i, size_t len, const struct scope *lit)
{
    return s[i] == lit->quote && (!lit->triple || (i + 2 < len && s[i + 1] == lit->quote && s[i + 2] == lit->quote));
}

size_t cgih_nbsp_fix(char *s, size_t len)
{
    struct scope stack[MAX_OPEN];
    size_t n = 0, i = 0, count = 0;
    int line_start = 1;

    while (i < len) {
        char c = s[i];
        struct scope *top = n ? &stack[n - 1] : NULL;
        if (!top && line_start) {
            i = fix_indent(s, i, len, &count);
            line_start = 0;
        } else if (top && (top->kind == LITERAL || top->spec)) {
            /* literal text: a string's, or a field's format spec (whose
             * string is the literal below it) */
            size_t l = n - 1;
            while (stack[l].kind != LITERAL)
                l--;
            struct scope *lit = &stack[l];
            if (c == '\\') {
                i = past_backslash(s, i, len, lit);
            } else if (closes(s, i, len, lit)) {
                i += lit->triple ? 3 : 1;
                n = l; /* and any field left open in it */
            } else if (is_newline(c) && !lit->triple && top->kind == FIELD) {
                i++; /* in a spec: back to the field's expression */
                top->spec = 0;
            } else if (is_newline(c) && !lit->triple) {
                i++; /* unterminated: the compiler reports it */
                n = 0;
                line_start = 1;
            } else if (c == '{' && lit->fstring && top->kind == LITERAL && i + 1 < len && s[i + 1] == '{') {
                i += 2; /* a brace, but in a spec (3.12 reads a field there) */
            } else if (c == '{' && lit->fstring) {
                if (n == MAX_OPEN)
                    return count;
                stack[n++] = (struct scope){.kind = FIELD};
                i++;
            } else if (c == '}' && top->kind == FIELD) {
                n--;
                i++;
            } else if (c == '}' && lit->fstring && i + 1 < len && s[i + 1] == '}') {
                i += 2;
            } else {
                i++;
            }
        } else if (is_newline(c)) {
            i++;
            line_start = !top; /* in a field's expression, code goes on */
        } else if (c == '#') {
            while (i < len && !is_newline(s[i]))
                i++;
        } else if (c == '\'' || c == '"') {
            if (n == MAX_OPEN)
                return count;
            stack[n] = literal_at(s, i, len);
            i += stack[n].triple ? 3 : 1;
            n++;
        } else if (is_nbsp(s, i, len)) {
            s[i] = s[i + 1] = ' ';
            i += 2;
            count++;
        } else if (top) { /* a field's expression */
            if (c == '(' || c == '[' || c == '{') {
                top->depth++;
            } else if ((c == ')' || c == ']' || c == '}') && top->depth) {
                top->depth--;
            } else if (c == '}') {
                n--;
            } else if (c == ':' && top->depth == 0) {
                top->spec = 1;
            }
            i++;
        } else {
            i++;
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
