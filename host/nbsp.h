/* nbsp.h: turn U+00A0 no-break spaces that stand where Python expects
 * whitespace into whitespace, keeping every byte offset.
 *
 * Pure C. Scripts pasted from web pages carry U+00A0 (UTF-8 C2 A0) in their
 * indentation and between tokens, which CPython refuses. The rewrite keeps the
 * source the same length, so line numbers and the byte columns that tracebacks
 * convert against the original file stay right:
 *   - in a line's leading whitespace, k no-break spaces become k form feeds at
 *     the start of the line (the tokenizer resets the column at a form feed)
 *     plus one space each in place, so the indentation is one column per
 *     no-break space, as it looks;
 *   - elsewhere outside string literals and comments, each becomes two spaces,
 *     the expressions in an f-string's {...} included (code, not literal);
 *   - inside string and bytes literals and comments nothing changes, nor in
 *     an f-string's literal text or format spec.
 * Only UTF-8 source is handled (the default source encoding); cgihost
 * decodes a source in another encoding to UTF-8 first (pyrun.c).
 */
#ifndef CGIH_NBSP_H
#define CGIH_NBSP_H

#include <stddef.h>

/* Returns the number of no-break spaces replaced; src is rewritten in place. */
size_t cgih_nbsp_fix(char *src, size_t len);

/* What python3's tokenizer refuses in a source file that declares no
 * encoding (no UTF-8 BOM, no PEP 263 coding spec in a comment on line 1, or
 * on line 2 after a line of only a comment or blanks): a byte that does not
 * start a UTF-8 sequence the tokenizer accepts, in a line read before any
 * coding spec, up to the line's first NUL. Returns its offset and sets *line
 * (1-based), or returns (size_t)-1. */
size_t cgih_source_bad_utf8(const char *src, size_t len, size_t *line);

/* The encoding the source declares, as python3's tokenizer names it: a PEP
 * 263 coding spec on line 1 (after a UTF-8 BOM), or on line 2 after a line
 * of only a comment or blanks, with utf-8 and latin-1 and their aliases
 * normalized as get_normal_name() does ("utf-8", "iso-8859-1"), any other
 * name as written. Returns the name's length and sets *name (into src, or
 * a static string), or returns 0 when there is none. */
size_t cgih_source_coding(const char *src, size_t len, const char **name);

#endif
