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
 *   - elsewhere outside string literals and comments, each becomes two spaces;
 *   - inside string and bytes literals and comments nothing changes.
 * Only UTF-8 source is handled (the default source encoding).
 */
#ifndef CGIH_NBSP_H
#define CGIH_NBSP_H

#include <stddef.h>

/* Returns the number of no-break spaces replaced; src is rewritten in place. */
size_t cgih_nbsp_fix(char *src, size_t len);

#endif
