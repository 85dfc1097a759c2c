/* multipart.h: a streaming multipart/form-data parser that reproduces what CPython 3.11's
 * cgi.py (FieldStorage.read_multi and friends) reads, byte for byte, quirks included.
 * Pure C: libc headers only, so it is unit-tested and fuzzed without Python.
 *
 * Usage (push API):
 *
 *     cgih_mp_parser *p = malloc(sizeof *p);        // ~66 KiB: do not put it on a small stack
 *     if (cgih_mp_init(p, &settings, boundary, blen) != 0) ...   // invalid boundary
 *     cgih_mp_set_cgi_limits(p, limit, length);    // optional, cgi.py's limit/length
 *     p->data = ctx;
 *     while ((n = read(fd, buf, sizeof buf)) > 0) {
 *         st = cgih_mp_execute(p, buf, n);
 *         if (st == CGIH_MP_DONE || st == CGIH_MP_ERROR) break;   // see PAUSED below
 *     }
 *     if (n == 0) st = cgih_mp_finish(p);            // end of input
 *
 * WHAT IS EMULATED.  The top-level FieldStorage T with content type multipart/...:
 *   read_multi: preamble lines (readline(), unbounded) until line.strip() == b"--"+B;
 *   then repeatedly: a header block (lines up to one whose .strip() is empty, or EOF; an
 *   empty block at EOF ends the loop), then the part's body, chosen by the caller in
 *   on_headers_complete:
 *     - default: read_lines_to_outerboundary (lines of readline(1<<16); a line is a
 *       boundary only after a line ending in LF, when line.rstrip() is --B or --B--; each
 *       line's trailing \r\n, \n or \r is withheld and emitted before the next line, so the
 *       line end before the boundary is not data; a lone \r at a 64 KiB cut rejoins a
 *       following \n);
 *     - cgih_mp_push_boundary(): the part is multipart/...: a nested read_multi with the
 *       part's boundary, followed by the part's skip_lines() to the enclosing boundary
 *       (which only stops at a line that ends in "--" WITHOUT a newline, i.e. at a 64 KiB
 *       cut or at EOF: in practice it swallows the rest of the body, as cgi.py does);
 *     - cgih_mp_read_to_eof(): application/x-www-form-urlencoded parts, which cgi.py reads
 *       with fp.read(-1): every remaining byte is part data, then done = -1.
 *   After each part: the enclosing loop stops if part.done != 0, or (top level only)
 *   bytes_read >= length > 0.  The top level then ends (CGIH_MP_DONE); nested levels run
 *   skip_lines() and end their own part.
 *   Limits: cgih_mp_set_cgi_limits() gives T.limit and T.length; every part read by
 *   read_lines_to_outerboundary then stops before a line when 0 <= limit - S <= bytes read
 *   by the part (S = offset of the part's first body byte), exactly as cgi.py, whatever the
 *   nesting (the limit passed down works out to the same absolute offset).
 *   Stopping at CONTENT_LENGTH: pass it as both limit and length and feed what stdin gives
 *   until DONE or EOF; cgi.py's readline() also reads past CONTENT_LENGTH to the end of the
 *   line (or 64 KiB) it is in, and so does this parser.  Feeding exactly CONTENT_LENGTH
 *   bytes and then finish() gives the same result whenever stdin holds no more than that.
 *   The top-level FieldStorage's own done stays 0 (read_multi never sets it).
 *
 * HEADERS.  For each header block the parser delivers:
 *   on_header_raw: the exact bytes of cgi.py's hdr_text (including the blank line), in
 *     pieces.  A binding that needs exact email.feedparser fidelity for an encoding that is
 *     not ASCII-compatible can decode these and run FeedParser itself.
 *   on_header_field / on_header_value / on_header_end: the (name, value) pairs that
 *     email.feedparser.FeedParser with policy compat32 stores for this hdr_text, for any
 *     ASCII-compatible encoding (UTF-8, Latin-1, ...): the text is cut into lines at \r\n,
 *     \r or \n; collection stops at the first line that does not match
 *     ^(From |[\x21-\x39\x3b-\x7e]*:|[\t ]) or is empty; "From " lines, lines starting with
 *     ':' and continuation lines with no header before them are ignored.  The name is the
 *     bytes before the first ':' (not lowercased, not stripped).  The value is the rest of
 *     the first line with leading spaces/tabs removed, followed by each continuation line
 *     verbatim (the line end of the previous line included), with the final line end
 *     removed: exactly value.lstrip(' \t') + ''.join(lines[1:]) then .rstrip('\r\n').
 *     Duplicates are all delivered, in order (Message keeps them all; headers[...] is the
 *     first).  Bytes after feedparser stopped are only in on_header_raw.
 *   The binding removes Content-Length itself (cgi.py deletes it from part headers).
 *
 * EVENTS, in order, for one part at nesting depth d (cgih_mp_depth() == d):
 *   on_part_begin, then header events, on_headers_complete, then either on_part_data*
 *   (default or read_to_eof), or the events of the nested parts at depth d+1 (after
 *   cgih_mp_push_boundary), then on_part_end (cgih_mp_done() gives part.done).
 *   on_body_end fires once when the top level ends.  Example, outer boundary A with part
 *   "f" and then a multipart/mixed part "m" holding x and y:
 *     begin(0) hdr.. complete(0) data* end(0, done 0)
 *     begin(0) hdr.. complete(0) [push B] begin(1) .. end(1, done 0) begin(1) .. end(1,
 *     done 1) end(0, done -1 or 1) body_end
 *   Any parts after "m" are swallowed by skip_lines, as in cgi.py.
 *
 * OFFSETS AND bytes_read.  cgih_mp_offset() is the number of input bytes consumed since
 * init.  In on_headers_complete it is the offset S just past the header block; in
 * on_part_end it is just past everything the part read (its closing boundary line, or
 * EOF).  So part.bytes_read = offset(on_part_end) - offset(on_headers_complete), and the
 * top level's bytes_read = offset at on_body_end.  (cgi.py quirk the binding must apply:
 * a read_to_eof part has bytes_read 0, and the bytes it read are missing from every
 * enclosing bytes_read as well.)
 *
 * CALLBACKS receive spans (p, at, len).  `at` points into the caller's buffer or into the
 * parser (lookbehind, static strings) and is valid only during the call.  Data callbacks
 * may fire several times for one field and never with len 0, except on_header_field,
 * which fires exactly once per header with the complete name.  Any callback may be NULL.
 * A callback returning nonzero stops the parser with the sticky error "callback failed"
 * (CGIH_MP_ERROR); a binding uses that for a pending Python exception.  To pause instead,
 * call cgih_mp_pause(p) inside a callback and return 0: execute/finish returns
 * CGIH_MP_PAUSED right after on_part_begin, on_header_end, on_headers_complete,
 * on_part_data or on_part_end (a request made in on_header_field/_value/_raw takes effect
 * at the next of these).  Resume by calling cgih_mp_execute() with the input starting at
 * stream offset cgih_mp_offset(p) (that is buf + (cgih_mp_offset(p) - offset_of_buf)),
 * or cgih_mp_finish() again if it was finish that paused.  No callback may call
 * cgih_mp_execute/finish on the same parser.
 *
 * ERRORS (limits, callback failure, misuse) are sticky.  cgih_mp_errpos() is a stream
 * offset: for a limit, that of the byte that broke it (the same however the input was
 * cut); for a failing callback, cgih_mp_offset() at the time of the call.
 *
 * RETURN CODES of execute/finish: CGIH_MP_OK: all input consumed, more wanted.
 * CGIH_MP_PAUSED: see above.  CGIH_MP_DONE: the top level has ended (cgi.py stops reading
 * here); cgih_mp_offset() tells how much of the input was used, the rest is ignored, and
 * later calls return DONE again.  CGIH_MP_ERROR: sticky; cgih_mp_errmsg()/errpos().
 * finish() returns DONE (or PAUSED/ERROR): at EOF every open level ends as cgi.py does.
 */
#ifndef CGIH_MULTIPART_H
#define CGIH_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define CGIH_MP_LINE_CAP 65536   /* cgi.py readline(1 << 16) */
#define CGIH_MP_BOUNDARY_MAX 202 /* valid_boundary: 201 chars, plus a '\n' its $ allows */
#define CGIH_MP_DEPTH_MAX 32     /* capacity of the frame stack (max_depth is capped) */
#define CGIH_MP_LOOKBEHIND (CGIH_MP_LINE_CAP + 2) /* "\r\n" + one whole capped boundary line */

typedef enum {
    CGIH_MP_OK = 0, /* chunk consumed, need more input (or finish) */
    CGIH_MP_PAUSED, /* a callback called cgih_mp_pause() */
    CGIH_MP_DONE,   /* the multipart body has ended; further input is ignored */
    CGIH_MP_ERROR   /* sticky: cgih_mp_errmsg() / cgih_mp_errpos() */
} cgih_mp_status;

typedef struct cgih_mp_parser cgih_mp_parser;
typedef int (*cgih_mp_data_cb)(cgih_mp_parser *p, const char *at, size_t len);
typedef int (*cgih_mp_cb)(cgih_mp_parser *p);

/* Callbacks and limits.  A limit left 0 takes its default; use SIZE_MAX / UINT64_MAX for
 * "unlimited" where that is allowed.  Must outlive the parser (it is not copied). */
typedef struct {
    cgih_mp_cb on_part_begin;        /* first byte of a non-empty header block */
    cgih_mp_data_cb on_header_raw;   /* hdr_text bytes */
    cgih_mp_data_cb on_header_field; /* complete name, once per header */
    cgih_mp_data_cb on_header_value; /* 0 or more pieces */
    cgih_mp_cb on_header_end;        /* the current header's value is complete */
    cgih_mp_cb on_headers_complete;  /* choose the body: push_boundary / read_to_eof / nothing */
    cgih_mp_data_cb on_part_data;
    cgih_mp_cb on_part_end; /* cgih_mp_done() is part.done */
    cgih_mp_cb on_body_end; /* the top level ended; DONE follows */

    size_t max_header_line;  /* bytes of one header line incl. '\n'; default 16384 */
    size_t max_header_block; /* bytes of one header block; default 65536 */
    size_t max_headers;      /* headers delivered per part; default 64 */
    size_t max_parts;        /* parts at all depths; default 10000 */
    size_t max_depth;        /* nesting: top level parts are depth 0; default 16, at most
                                CGIH_MP_DEPTH_MAX - 1 */
    size_t max_boundary;     /* boundary length; default and maximum CGIH_MP_BOUNDARY_MAX */
    uint64_t max_part_data;  /* on_part_data bytes per part; default UINT64_MAX */
    uint64_t max_body;       /* total input bytes; default UINT64_MAX */
} cgih_mp_settings;

/* One read_multi level: its boundary as "--" B "--". */
typedef struct {
    size_t nlen; /* strlen("--" B) */
    unsigned char sep[CGIH_MP_BOUNDARY_MAX + 4];
} cgih_mp_frame;

/* The parser.  All fields except `data` are private; zero-filled by cgih_mp_init. */
struct cgih_mp_parser {
    void *data; /* for the caller */

    const cgih_mp_settings *settings;
    size_t max_header_line, max_header_block, max_headers, max_parts, max_depth, max_boundary;
    uint64_t max_part_data, max_body;
    int64_t limit, length; /* cgi.py T.limit (<0: None) and T.length (<0: none) */

    int state, next_mode, done, in_cb, pause_req, finished;
    const char *errmsg;
    size_t errlimit;
    uint64_t errpos;

    /* current chunk */
    const char *buf;
    size_t len, pos;
    uint64_t base; /* stream offset of buf[0] */
    int eof;

    size_t depth, nparts;
    cgih_mp_frame frames[CGIH_MP_DEPTH_MAX];

    /* line reader state shared by the line-oriented states */
    uint64_t line_base; /* stream offset where the current readline() line began */
    uint64_t lim_stop;  /* data stops at the first line start >= this (limit), or never */
    uint64_t part_bytes;
    size_t k;      /* boundary bytes matched on the current line */
    int m, lfend;  /* matcher phase; previous line ended with '\n' */
    size_t ds, ts; /* in-chunk starts: pending data, tentative bytes */

    /* header block state */
    size_t h_blen, h_llen, h_nhdr, h_nlen, h_rs, h_vs;
    int h_begun, h_allws, h_fp, h_open, h_term, h_crval, h_fromk;

    /* lookbehind: withheld line end + candidate boundary line, or a header name */
    size_t tlen;
    unsigned char lb[CGIH_MP_LOOKBEHIND];
};

/* 1 if b[0..n) matches cgi.valid_boundary's ^[ -~]{0,200}[!-~]$ (re's $ also matches
 * before one final '\n', so "abc\n" is valid, as in cgi.py; it then never matches). */
int cgih_valid_boundary(const char *b, size_t n);

/* Zero-fills *p and starts at the preamble of boundary b (without the leading "--").
 * Returns 0, or -1 (parser in error state) if the boundary is invalid or too long. */
int cgih_mp_init(cgih_mp_parser *p, const cgih_mp_settings *s, const char *b, size_t n);

/* cgi.py's T.limit and T.length, before the first execute.  limit < 0 means None;
 * length < 0 means no Content-Length.  For a plain CGI request both are CONTENT_LENGTH
 * (or -1).  Without this call both are -1: parts stop only at boundaries or EOF. */
void cgih_mp_set_cgi_limits(cgih_mp_parser *p, int64_t limit, int64_t length);

cgih_mp_status cgih_mp_execute(cgih_mp_parser *p, const char *buf, size_t len);
cgih_mp_status cgih_mp_finish(cgih_mp_parser *p);

/* Only inside on_headers_complete, or while paused right after it.  push_boundary: the
 * part is multipart with boundary b; returns 0, -1 if b is not valid (nothing changes: do
 * what cgi.py does, raise ValueError), -2 if max_depth is exceeded (sticky error).
 * read_to_eof: the part is application/x-www-form-urlencoded.  Both return -3 when
 * called at any other time. */
int cgih_mp_push_boundary(cgih_mp_parser *p, const char *b, size_t n);
int cgih_mp_read_to_eof(cgih_mp_parser *p);

void cgih_mp_pause(cgih_mp_parser *p);
uint64_t cgih_mp_offset(const cgih_mp_parser *p);
size_t cgih_mp_depth(const cgih_mp_parser *p);       /* depth of the current part */
int cgih_mp_done(const cgih_mp_parser *p);           /* in on_part_end: 1, 0 or -1 */
const char *cgih_mp_errmsg(const cgih_mp_parser *p); /* NULL unless in error */
/* The value of the limit an error names ("(max_parts)"); 0 for other errors. */
size_t cgih_mp_errlimit(const cgih_mp_parser *p);
uint64_t cgih_mp_errpos(const cgih_mp_parser *p);    /* stream offset of the error */

#endif
