/* qs.h: a streaming parser for query strings and application/x-www-form-urlencoded
 * bodies, with the splitting rules of CPython's urllib.parse.parse_qsl().
 *
 * Pure C (libc only). The parser splits its input into fields at a separator of
 * one or more bytes (leftmost, non-overlapping, like str.split), and each field
 * into a name and a value at its first '='. It hands the caller spans of the raw,
 * still-escaped bytes; decoding ('+' and %XX) is a separate step,
 * cgih_qs_unquote(), because the binding decides what counts as a run to decode.
 *
 * Usage:
 *     cgih_qs_parser p;
 *     cgih_qs_init(&p, &settings, "&", 1);
 *     p.data = my_context;
 *     while (more input) if (cgih_qs_execute(&p, buf, n) != CGIH_QS_OK) break;
 *     cgih_qs_finish(&p);
 *
 * Events, in order, for each field (including empty ones between two separators,
 * and the last field when the input was not empty):
 *     on_name(p, at, len)    0..n times: bytes before the first '=' (or all)
 *     on_value(p, at, len)   0..n times: bytes after the first '='
 *     on_field_end(p)        once; p->field_has_eq and p->field_len describe it
 * Spans point into the caller's buffer, or into the parser's own copy of the
 * separator when a partial separator match turned out to be data. An empty
 * input produces no field at all, as parse_qsl('') gives [].
 *
 * Errors are sticky: after CGIH_QS_ERROR every call returns CGIH_QS_ERROR, and
 * cgih_qs_errmsg()/cgih_qs_errpos() give a reason and the byte offset.
 * A callback that returns nonzero stops the parser with CGIH_QS_ERROR and the
 * reason "callback failed" (the binding then reports its own exception).
 */
#ifndef CGIH_QS_H
#define CGIH_QS_H

#include <stddef.h>
#include <stdint.h>

#define CGIH_QS_SEP_MAX 64 /* longest separator accepted by cgih_qs_init */

typedef enum {
    CGIH_QS_OK = 0, /* all input consumed; feed more or finish */
    CGIH_QS_ERROR   /* sticky: see cgih_qs_errmsg() / cgih_qs_errpos() */
} cgih_qs_status;

typedef struct cgih_qs_parser cgih_qs_parser;
typedef int (*cgih_qs_data_cb)(cgih_qs_parser *p, const char *at, size_t len);
typedef int (*cgih_qs_cb)(cgih_qs_parser *p);

typedef struct {
    cgih_qs_data_cb on_name;
    cgih_qs_data_cb on_value;
    cgih_qs_cb on_field_end;
    /* Limits; 0 means unlimited. Exceeding one is an error. */
    uint64_t max_fields;      /* fields, counting empty ones */
    uint64_t max_field_bytes; /* bytes of one field, name and value together */
} cgih_qs_settings;

struct cgih_qs_parser {
    void *data; /* for the caller */
    /* Read-only for the caller, valid inside on_field_end: */
    int field_has_eq;    /* the field had an '=' */
    uint64_t field_len;  /* bytes in the field, '=' included */
    uint64_t nfields;    /* fields completed so far */
    /* Private: */
    const cgih_qs_settings *settings;
    char sep[CGIH_QS_SEP_MAX];
    size_t sep_len;
    size_t matched; /* bytes of sep matched at the end of the last chunk */
    uint64_t offset; /* input bytes consumed */
    int in_value;
    int error;
    const char *errmsg;
    uint64_t errpos;
};

/* Returns 0, or -1 when the separator is empty or longer than CGIH_QS_SEP_MAX. */
int cgih_qs_init(cgih_qs_parser *p, const cgih_qs_settings *s, const char *sep, size_t sep_len);
cgih_qs_status cgih_qs_execute(cgih_qs_parser *p, const char *buf, size_t len);
/* End of input: flushes a pending partial separator and ends the last field. */
cgih_qs_status cgih_qs_finish(cgih_qs_parser *p);
const char *cgih_qs_errmsg(const cgih_qs_parser *p);
uint64_t cgih_qs_errpos(const cgih_qs_parser *p);

/* Decodes in place: '+' becomes ' ', and '%' followed by two hex digits (either
 * case) becomes that byte; any other '%' stays as it is, as in
 * urllib.parse.unquote_to_bytes(). Returns the new length (<= len). */
size_t cgih_qs_unquote(char *buf, size_t len);

/* Length of the run at the start of s[0..len) whose bytes are all ASCII
 * (*ascii = 1) or all non-ASCII (*ascii = 0). urllib.parse.unquote() decodes
 * each ASCII run on its own and passes other text through. */
size_t cgih_qs_run(const char *s, size_t len, int *ascii);

#endif
