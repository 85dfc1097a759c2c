/* header.h: the C core of CPython 3.11 cgi.parse_header(line) (with _parseparam), giving
 * spans instead of building a dict.  Pure C, libc only; never allocates.
 *
 * Input: the UTF-8 encoding of the Python str passed to parse_header (encode lone
 * surrogates with 'surrogatepass' so that the bytes stay UTF-8 shaped).
 *
 * What cgi.py does, and what this gives:
 *   parts = _parseparam(';' + line): split at each ';' that is not inside quotes, where
 *     "inside" means an odd count of '"' before it in the piece, not counting a '"'
 *     preceded by a backslash (count('"') - count('\\"'), so a '"' after "\\\\" is not
 *     counted either: that quirk is kept); each piece is str.strip()ped.
 *   key = first piece                               -> cgih_header_begin's key span
 *   for each later piece p with an '=' (first one at i); pieces without '=' are skipped:
 *     name  = p[:i].strip().lower()                 -> name span, NOT lowercased: the
 *                                                      caller applies str.lower()
 *     value = p[i+1:].strip()                       -> value span
 *     if len(value) >= 2 and value[0] == value[-1] == '"':
 *         value = value[1:-1] (-> quoted = 1, span without the quotes), then
 *         value.replace('\\\\', '\\').replace('\\"', '"')  -> cgih_header_unescape()
 *     pdict[name] = value: later duplicates win; the caller builds the dict.
 * str.strip() is Unicode: U+0009-000D, U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000 are stripped (cgih_header_strip).
 *
 * Usage:
 *     cgih_header_iter it;  cgih_header_param prm;  const char *key;  size_t klen;
 *     cgih_header_begin(&it, s, n, &key, &klen);
 *     while (cgih_header_next(&it, &prm)) {
 *         value = prm.value, vlen = prm.value_len;
 *         if (prm.quoted) vlen = cgih_header_unescape(prm.value, vlen, scratch);
 *     }
 * All spans point into s.
 */
#ifndef CGIH_HEADER_H
#define CGIH_HEADER_H

#include <stddef.h>

typedef struct {
    const char *s;
    size_t n;
    size_t pos; /* start of the next piece, or n + 1 when there is none */
} cgih_header_iter;

typedef struct {
    const char *name; /* p[:i].strip() (lowercase it yourself) */
    size_t name_len;
    const char *value; /* p[i+1:].strip(), surrounding quotes removed if quoted */
    size_t value_len;
    int quoted; /* 1: the value was "..."; unescape it with cgih_header_unescape */
} cgih_header_param;

/* Starts on s[0..n) and returns the key (the first piece, stripped). */
void cgih_header_begin(cgih_header_iter *it, const char *s, size_t n, const char **key,
                       size_t *key_len);

/* Next piece containing '=': fills *out and returns 1; returns 0 when done. */
int cgih_header_next(cgih_header_iter *it, cgih_header_param *out);

/* value.replace('\\\\', '\\').replace('\\"', '"') of in[0..n) into out (room for n bytes;
 * out == in is allowed).  Returns the new length. */
size_t cgih_header_unescape(const char *in, size_t n, char *out);

/* str.strip() on UTF-8: returns the stripped length and sets *start to its offset. */
size_t cgih_header_strip(const char *s, size_t n, size_t *start);

#endif
