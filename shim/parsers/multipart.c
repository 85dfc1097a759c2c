/* multipart.c: streaming multipart parser with CPython 3.11 cgi.py semantics.
 * See multipart.h for the contract.  libc only.
 *
 * STATE MACHINE (p->state; one case per state in run()):
 *
 *   state          cgi.py code it replays       leaves on
 *   ST_PREAMBLE    read_multi's first_line loop  '\n' ending a line whose strip() == --B
 *                                                -> ST_HDR; EOF -> ST_HDR
 *   ST_HDR         the hdr_text readline loop   '\n' ending a whitespace-only line, or EOF
 *                  + email.feedparser headers    -> ST_SELECT (on_headers_complete);
 *                                                EOF before any byte -> ST_FRAME_END
 *   ST_SELECT      FieldStorage.__init__ picks   next_mode: lines -> ST_CAND (or
 *                  read_multi/urlencoded/single  ST_AFTER_PART at once if the limit is 0);
 *                                                push -> ST_PREAMBLE one level deeper;
 *                                                raw -> ST_RAW
 *   ST_CAND        read_lines_to_outerboundary,  at a line start after LF: the line so far
 *                  a line that may be a          matches --B[--] then blanks.  '\n', 64 KiB
 *                  boundary                      or EOF while matched -> ST_AFTER_PART;
 *                                                anything else -> ST_DATA (tentative bytes
 *                                                become data)
 *   ST_DATA        ..., inside ordinary lines    memchr for '\n'; a '\n' followed by what
 *                                                may be --B (all the chunk shows of it), or
 *                                                at the chunk end -> ST_CAND; '\r' last before a
 *                                                chunk end or 64 KiB cut -> ST_DATA_CR;
 *                                                limit reached at a line start or EOF ->
 *                                                ST_AFTER_PART
 *   ST_DATA_CR     ..., a '\r' whose role        '\n' -> ST_CAND (CRLF line end); else the
 *                  depends on the next byte      '\r' is data -> ST_DATA; EOF -> AFTER_PART
 *   ST_RAW         read_urlencoded fp.read(-1)   EOF -> ST_AFTER_PART (done -1)
 *   ST_AFTER_PART  read_multi's loop test        part.done or bytes_read >= length > 0
 *                                                -> ST_FRAME_END; else -> ST_HDR
 *   ST_FRAME_END   end of read_multi             depth 0 -> ST_DONE (on_body_end);
 *                                                else -> ST_SKIP
 *   ST_SKIP        skip_lines() of the nested    a 64 KiB-cut or EOF-ended line that is
 *                  FieldStorage                  blanks + --O or --O-- (O = enclosing
 *                                                boundary) or EOF -> ST_AFTER_PART one
 *                                                level up
 *   ST_DONE, ST_ERROR: terminal.
 *
 * Every state handler returns R_NEXT (state changed, run again), R_MORE (chunk used up)
 * or R_STOP (paused, error, done).  Callbacks are made only with the parser in a state
 * that describes exactly the input before p->pos, so pausing after any pause point and
 * resuming at offset base + pos is always consistent.
 *
 * LOOKBEHIND.  In ST_CAND and ST_DATA_CR the bytes since the last data emitted (the
 * withheld line end plus the candidate boundary line) are "tentative": lb[0..tlen) from
 * earlier chunks followed by buf[ts..pos) of this chunk.  They are copied to lb only when
 * a chunk ends (or the parser pauses) in the middle of them; a candidate line is at most
 * one 64 KiB readline() line, so lb never overflows.  In ST_HDR, lb holds the header name
 * being read until its ':' shows that the line is a header.
 */
#include "multipart.h"

#include <string.h>

enum {
    ST_PREAMBLE,
    ST_HDR,
    ST_SELECT,
    ST_CAND,
    ST_DATA,
    ST_DATA_CR,
    ST_RAW,
    ST_AFTER_PART,
    ST_FRAME_END,
    ST_SKIP,
    ST_DONE,
    ST_ERROR
};

enum { R_NEXT, R_MORE, R_STOP };

enum { MODE_LINES, MODE_PUSH, MODE_RAW };

/* email.feedparser's view of the header block, h_fp */
enum {
    FP_LSTART, /* at the start of a feedparser line */
    FP_NAME,   /* reading [\x21-\x39\x3b-\x7e]* into lb, waiting for ':' */
    FP_LWS,    /* after ':', skipping the value's leading ' ' and '\t' */
    FP_VAL,    /* value bytes of the current line */
    FP_SKIP,   /* a line feedparser ignores */
    FP_CR,     /* after '\r': a following '\n' belongs to the same line end */
    FP_STOP,   /* feedparser stopped collecting headers */
    FP_END     /* block over; header_end / headers_complete still to deliver */
};

/* withheld line end of the current header value, h_term */
enum { T_NONE, T_CR, T_LF, T_CRLF };
static const char *const term_str[] = {"", "\r", "\n", "\r\n"};
static const size_t term_len[] = {0, 1, 1, 2};

#define CAP ((uint64_t)CGIH_MP_LINE_CAP)
#define ABS(p) ((p)->base + (p)->pos)

static const cgih_mp_settings no_settings;

/* bytes.strip() whitespace, minus '\n', which every caller handles first */
static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* feedparser's headerRE name class [\041-\071\073-\176] */
static int is_name(unsigned char c)
{
    return (c >= 0x21 && c <= 0x39) || (c >= 0x3b && c <= 0x7e);
}

static int fail(cgih_mp_parser *p, const char *msg, uint64_t at)
{
    if (p->state != ST_ERROR) {
        p->state = ST_ERROR;
        p->errmsg = msg;
        p->errpos = at;
    }
    return R_STOP;
}

/* A limit's error: cgih_mp_errlimit() gives the limit's value. */
static int fail_limit(cgih_mp_parser *p, const char *msg, uint64_t at, size_t limit)
{
    if (p->state != ST_ERROR)
        p->errlimit = limit;
    return fail(p, msg, at);
}

/* Callback wrappers: return nonzero when the parser must stop (error recorded). */
static int call(cgih_mp_parser *p, cgih_mp_cb cb)
{
    int rc;
    if (cb == NULL)
        return 0;
    p->in_cb = 1;
    rc = cb(p);
    p->in_cb = 0;
    if (p->state == ST_ERROR)
        return 1;
    if (rc != 0) {
        fail(p, "callback failed", ABS(p));
        return 1;
    }
    return 0;
}

static int call_data(cgih_mp_parser *p, cgih_mp_data_cb cb, const char *at, size_t n)
{
    int rc;
    if (cb == NULL || n == 0)
        return 0;
    p->in_cb = 1;
    rc = cb(p, at, n);
    p->in_cb = 0;
    if (p->state == ST_ERROR)
        return 1;
    if (rc != 0) {
        fail(p, "callback failed", ABS(p));
        return 1;
    }
    return 0;
}

/* At a pause point: 1 if a callback asked to pause. */
static int pause_now(cgih_mp_parser *p)
{
    if (!p->pause_req)
        return 0;
    p->pause_req = 0;
    return 1;
}

static int emit_data(cgih_mp_parser *p, const char *at, size_t n)
{
    if (n == 0)
        return 0;
    if (n > p->max_part_data - p->part_bytes) {
        /* every span ends at the current offset and is contiguous input: report the
         * offset of the first byte over the limit, whatever the chunking */
        fail(p, "part data too long (max_part_data)",
             ABS(p) - n + (p->max_part_data - p->part_bytes));
        return 1;
    }
    p->part_bytes += n;
    return call_data(p, p->settings->on_part_data, at, n) || pause_now(p);
}

static int lb_append(cgih_mp_parser *p, const char *at, size_t n)
{
    if (n > sizeof p->lb - p->tlen) {
        fail(p, "internal error: lookbehind overflow", ABS(p));
        return 1;
    }
    if (n)
        memcpy(p->lb + p->tlen, at, n);
    p->tlen += n;
    return 0;
}

static int set_frame(cgih_mp_parser *p, size_t d, const char *b, size_t n)
{
    cgih_mp_frame *f = &p->frames[d];
    if (!cgih_valid_boundary(b, n) || n > p->max_boundary)
        return -1;
    f->sep[0] = f->sep[1] = '-';
    memcpy(f->sep + 2, b, n);
    f->sep[n + 2] = f->sep[n + 3] = '-';
    f->nlen = n + 2;
    return 0;
}

/* ---- part boundaries in the event stream ---- */

static int part_end(cgih_mp_parser *p, int done)
{
    p->done = done;
    p->tlen = 0;
    p->state = ST_AFTER_PART;
    if (call(p, p->settings->on_part_end) || pause_now(p))
        return R_STOP;
    return R_NEXT;
}

static void hdr_start(cgih_mp_parser *p)
{
    p->state = ST_HDR;
    p->h_begun = 0;
    p->h_blen = p->h_llen = p->h_nhdr = p->h_nlen = 0;
    p->h_allws = 1;
    p->h_fp = FP_LSTART;
    p->h_open = 0;
    p->h_term = T_NONE;
    p->h_rs = p->pos;
}

/* ---- ST_PREAMBLE: lines (unbounded) until line.strip() == b"--" + B ---- */

static int st_preamble(cgih_mp_parser *p)
{
    const cgih_mp_frame *f = &p->frames[p->depth];
    const unsigned char *buf = (const unsigned char *)p->buf;
    size_t pos = p->pos, end = p->len;

    while (pos < end) {
        unsigned char c;
        if (p->m == 3) { /* this line cannot match: skip it */
            const unsigned char *nl = memchr(buf + pos, '\n', end - pos);
            if (nl == NULL) {
                pos = end;
                break;
            }
            pos = (size_t)(nl - buf) + 1;
            p->m = 0;
            p->k = 0;
            continue;
        }
        c = buf[pos++];
        if (c == '\n') {
            if ((p->m == 1 && p->k == f->nlen) || p->m == 2) {
                p->pos = pos;
                hdr_start(p);
                return R_NEXT;
            }
            p->m = 0;
            p->k = 0;
            continue;
        }
        switch (p->m) {
        case 0: /* leading blanks */
            if (is_blank(c))
                break;
            if (c == f->sep[0]) {
                p->m = 1;
                p->k = 1;
            } else {
                p->m = 3;
            }
            break;
        case 1: /* --B */
            if (p->k < f->nlen && c == f->sep[p->k])
                p->k++;
            else if (p->k == f->nlen && is_blank(c))
                p->m = 2;
            else
                p->m = 3;
            break;
        default: /* 2: trailing blanks */
            if (!is_blank(c))
                p->m = 3;
            break;
        }
    }
    p->pos = pos;
    if (p->eof) { /* a last line matching or not, the header read then sees EOF */
        hdr_start(p);
        return R_NEXT;
    }
    return R_MORE;
}

/* ---- ST_HDR ---- */

static int flush_raw(cgih_mp_parser *p)
{
    size_t rs = p->h_rs;
    p->h_rs = p->pos;
    return call_data(p, p->settings->on_header_raw, p->buf + rs, p->pos - rs);
}

/* The block is over: close the last header, then on_headers_complete. */
static int hdr_end(cgih_mp_parser *p)
{
    p->h_fp = FP_END;
    if (flush_raw(p))
        return R_STOP;
    if (p->h_open) {
        p->h_open = 0;
        if (call(p, p->settings->on_header_end) || pause_now(p))
            return R_STOP;
    }
    p->state = ST_SELECT;
    p->next_mode = MODE_LINES;
    if (call(p, p->settings->on_headers_complete) || pause_now(p))
        return R_STOP;
    return R_NEXT;
}

static int st_hdr(cgih_mp_parser *p)
{
    const cgih_mp_settings *s = p->settings;
    const unsigned char *buf = (const unsigned char *)p->buf;
    size_t end = p->len;

    if (p->h_fp == FP_END)
        return hdr_end(p);
    while (p->pos < end) {
        unsigned char c = buf[p->pos];
        if (!p->h_begun) {
            if (p->nparts >= p->max_parts)
                return fail_limit(p, "too many parts (max_parts)", ABS(p), p->max_parts);
            p->nparts++;
            p->h_begun = 1;
            if (call(p, s->on_part_begin) || pause_now(p))
                return R_STOP;
        }
        if (p->h_blen >= p->max_header_block)
            return fail_limit(p, "header block too long (max_header_block)", ABS(p),
                              p->max_header_block);
        if (p->h_llen >= p->max_header_line)
            return fail_limit(p, "header line too long (max_header_line)", ABS(p),
                              p->max_header_line);

        switch (p->h_fp) {
        case FP_CR:
            if (c == '\n') {
                p->h_term = T_CRLF;
                p->h_fp = FP_LSTART;
                break;
            }
            p->h_term = T_CR; /* and c starts the next feedparser line */
            p->h_fp = FP_LSTART;
            /* fall through */
        case FP_LSTART:
            if (c == ' ' || c == '\t') { /* continuation line */
                if (!p->h_open) {
                    p->h_fp = FP_SKIP; /* FirstHeaderLineIsContinuationDefect */
                    break;
                }
                if (call_data(p, s->on_header_value, term_str[p->h_term], term_len[p->h_term]))
                    return R_STOP;
                p->h_term = T_NONE;
                p->h_vs = p->pos;
                p->h_fp = FP_VAL;
                break;
            }
            if (p->h_open) {
                p->h_open = 0;
                if (flush_raw(p) || call(p, s->on_header_end) || pause_now(p))
                    return R_STOP;
            }
            if (is_name(c)) {
                p->h_nlen = 0;
                p->lb[p->h_nlen++] = c;
                p->h_fromk = c == 'F' ? 1 : -1;
                p->h_fp = FP_NAME;
            } else if (c == ':') {
                p->h_fp = FP_SKIP; /* "Missing header name." */
            } else {
                p->h_fp = FP_STOP; /* empty line or not a header */
            }
            break;
        case FP_NAME:
            if (c == ':') {
                if (p->h_nhdr >= p->max_headers)
                    return fail_limit(p, "too many headers (max_headers)", ABS(p), p->max_headers);
                p->h_nhdr++;
                p->h_open = 1;
                p->h_term = T_NONE;
                p->h_fp = FP_LWS;
                if (call_data(p, s->on_header_field, (const char *)p->lb, p->h_nlen))
                    return R_STOP;
            } else if (p->h_fromk == 4 && c == ' ') {
                p->h_fp = FP_SKIP; /* "From " envelope line */
            } else if (is_name(c)) {
                if (p->h_nlen == sizeof p->lb)
                    return fail(p,
                                "header name too long (over 65538 bytes, whatever max_header_line)",
                                ABS(p));
                p->lb[p->h_nlen++] = c;
                p->h_fromk = (p->h_fromk >= 1 && p->h_fromk < 4 && c == "From"[p->h_fromk])
                                 ? p->h_fromk + 1
                                 : -1;
            } else {
                p->h_fp = FP_STOP;
            }
            break;
        case FP_LWS:
            if (c == ' ' || c == '\t')
                break;
            p->h_vs = p->pos;
            p->h_fp = FP_VAL;
            /* fall through */
        case FP_VAL:
            if (c == '\r' || c == '\n') {
                if (call_data(p, s->on_header_value, p->buf + p->h_vs, p->pos - p->h_vs))
                    return R_STOP;
                if (c == '\r') {
                    p->h_fp = FP_CR;
                } else {
                    p->h_term = T_LF;
                    p->h_fp = FP_LSTART;
                }
            }
            break;
        case FP_SKIP:
            if (c == '\r')
                p->h_fp = FP_CR;
            else if (c == '\n')
                p->h_fp = FP_LSTART;
            break;
        default: /* FP_STOP */
            break;
        }

        /* cgi.py's view: readline() lines; a line that strips to b"" ends the block */
        p->pos++;
        p->h_blen++;
        p->h_llen++;
        if (c == '\n') {
            if (p->h_allws)
                return hdr_end(p);
            p->h_llen = 0;
            p->h_allws = 1;
        } else if (!is_blank(c)) {
            p->h_allws = 0;
        }
    }

    if (p->eof) {
        if (!p->h_begun) { /* hdr_text == b"": read_multi's loop ends */
            p->state = ST_FRAME_END;
            return R_NEXT;
        }
        return hdr_end(p);
    }
    /* chunk used up: hand over what is pending */
    if (p->h_fp == FP_VAL) {
        size_t vs = p->h_vs;
        p->h_vs = p->pos;
        if (call_data(p, s->on_header_value, p->buf + vs, p->pos - vs))
            return R_STOP;
    }
    if (flush_raw(p))
        return R_STOP;
    return R_MORE;
}

/* ---- body selection ---- */

static int st_select(cgih_mp_parser *p)
{
    int mode = p->next_mode;
    uint64_t a = ABS(p);

    p->next_mode = MODE_LINES;
    p->part_bytes = 0;
    p->tlen = 0;
    if (mode == MODE_PUSH) {
        p->depth++;
        p->state = ST_PREAMBLE;
        p->m = 0;
        p->k = 0;
        return R_NEXT;
    }
    if (mode == MODE_RAW) {
        p->state = ST_RAW;
        return R_NEXT;
    }
    /* read_lines_to_outerboundary: the part's limit is T.limit - S; it applies only if
     * it is >= 0, and then stops the part before the first line starting at >= limit. */
    p->line_base = a;
    p->lim_stop = (p->limit >= 0 && (uint64_t)p->limit >= a) ? (uint64_t)p->limit : UINT64_MAX;
    p->ts = p->pos;
    p->k = 0;
    p->m = 1;
    p->state = ST_CAND;
    if (a >= p->lim_stop)
        return part_end(p, 0);
    return R_NEXT;
}

/* ---- read_lines_to_outerboundary ---- */

/* The tentative bytes turned out to be data: continue in ST_DATA at p->pos. */
static int cand_mismatch(cgih_mp_parser *p)
{
    size_t n;
    p->state = ST_DATA;
    if (p->tlen == 0) {
        p->ds = p->ts; /* all in this chunk: it joins the pending data span */
        return R_NEXT;
    }
    if (lb_append(p, p->buf + p->ts, p->pos - p->ts))
        return R_STOP;
    n = p->tlen;
    p->tlen = 0;
    p->ds = p->pos;
    if (emit_data(p, (const char *)p->lb, n))
        return R_STOP;
    return R_NEXT;
}

static int st_cand(cgih_mp_parser *p)
{
    const cgih_mp_frame *f = &p->frames[p->depth];
    const unsigned char *buf = (const unsigned char *)p->buf;
    size_t nl = f->nlen, nt = nl + 2, end = p->len;

    while (p->pos < end) {
        unsigned char c = buf[p->pos];
        int matched = p->k == nl || p->k == nt;
        if (c == '\n') {
            if (!matched)
                return cand_mismatch(p);
            p->pos++;
            return part_end(p, p->k == nt);
        }
        if (p->m == 2) { /* blanks after --B or --B-- */
            if (!is_blank(c))
                return cand_mismatch(p);
        } else if (p->k < nt && c == f->sep[p->k]) {
            p->k++;
        } else if (matched && is_blank(c)) {
            p->m = 2;
        } else {
            return cand_mismatch(p);
        }
        p->pos++;
        if (ABS(p) - p->line_base == CAP) { /* readline(1<<16) ends the line here */
            if (p->k == nl || p->k == nt)
                return part_end(p, p->k == nt);
            return cand_mismatch(p); /* unreachable: k <= nt < CAP */
        }
    }
    if (!p->eof)
        return R_MORE;
    if (p->k == nl || p->k == nt) /* "--B" as the last line, without '\n' */
        return part_end(p, p->k == nt);
    if (ABS(p) > p->line_base) { /* a partial last line: data, with its line end */
        size_t n = p->tlen;
        p->tlen = 0;
        if (emit_data(p, (const char *)p->lb, n))
            return R_STOP;
    }
    return part_end(p, ABS(p) >= p->lim_stop ? 0 : -1);
}

static int st_data(cgih_mp_parser *p)
{
    const char *buf = p->buf;
    size_t end = p->len;

    for (;;) {
        size_t pos = p->pos, lim, n, d0;
        uint64_t capa = p->line_base + CAP;
        const char *nl;

        if (p->base + pos == capa) {
            /* A 64 KiB cut: a new line that does not follow LF, so it cannot be a
             * boundary; only the limit is checked.  Nothing is pending here (ds == pos):
             * the scan below always emits up to a cut. */
            p->line_base = capa;
            capa += CAP;
            if (p->line_base >= p->lim_stop)
                return part_end(p, 0);
        }
        if (pos == end) {
            if (p->eof) /* the next readline() returns b"", unless the limit came first */
                return part_end(p, p->base + pos >= p->lim_stop ? 0 : -1);
            return R_MORE;
        }
        lim = capa - p->base < end ? (size_t)(capa - p->base) : end;
        nl = memchr(buf + pos, '\n', lim - pos);
        if (nl == NULL) {
            size_t x = buf[lim - 1] == '\r' ? lim - 1 : lim;
            p->pos = x;
            if (emit_data(p, buf + p->ds, x - p->ds))
                return R_STOP;
            p->pos = lim;
            p->ds = lim;
            if (x < lim) { /* '\r' last: line end or data, the next byte decides */
                p->ts = x;
                p->tlen = 0;
                p->state = ST_DATA_CR;
                return R_NEXT;
            }
            continue;
        }
        n = (size_t)(nl - buf);
        d0 = (n > p->ds && buf[n - 1] == '\r') ? n - 1 : n; /* the withheld line end */
        if (p->base + n + 1 >= p->lim_stop) {
            p->pos = d0;
            if (emit_data(p, buf + p->ds, d0 - p->ds))
                return R_STOP;
            p->pos = n + 1;
            p->line_base = p->base + n + 1;
            return part_end(p, 0);
        }
        if (n + 1 < end) { /* fast path: the bytes at hand already rule out --B */
            const cgih_mp_frame *f = &p->frames[p->depth];
            size_t k = end - (n + 1) < f->nlen ? end - (n + 1) : f->nlen;
            if (buf[n + 1] != '-' || memcmp(buf + n + 1, f->sep, k) != 0) {
                p->line_base = p->base + n + 1;
                p->pos = n + 1;
                continue;
            }
        }
        p->pos = d0;
        if (emit_data(p, buf + p->ds, d0 - p->ds))
            return R_STOP;
        p->ts = d0;
        p->tlen = 0;
        p->pos = n + 1;
        p->line_base = p->base + n + 1;
        p->k = 0;
        p->m = 1;
        p->state = ST_CAND;
        return R_NEXT;
    }
}

static int st_data_cr(cgih_mp_parser *p)
{
    uint64_t a = ABS(p);
    if (a == p->line_base + CAP) { /* the '\r' ended a 64 KiB line: delim = b"\r" */
        p->line_base = a;
        if (a >= p->lim_stop)
            return part_end(p, 0);
    }
    if (p->pos == p->len) {
        if (p->eof) /* the withheld '\r' is dropped */
            return part_end(p, a >= p->lim_stop ? 0 : -1);
        return R_MORE;
    }
    if (p->buf[p->pos] == '\n') { /* CRLF, possibly rejoined across a cut */
        p->pos++;
        p->line_base = ABS(p);
        p->k = 0;
        p->m = 1;
        p->state = ST_CAND;
        if (p->line_base >= p->lim_stop)
            return part_end(p, 0);
        return R_NEXT;
    }
    return cand_mismatch(p);
}

static int st_raw(cgih_mp_parser *p)
{
    if (p->pos < p->len) {
        size_t from = p->pos;
        p->pos = p->len;
        if (emit_data(p, p->buf + from, p->len - from))
            return R_STOP;
    }
    if (p->eof)
        return part_end(p, -1);
    return R_MORE;
}

/* ---- read_multi's loop test and the end of a level ---- */

static int st_after_part(cgih_mp_parser *p)
{
    if (p->done != 0 || (p->depth == 0 && p->length > 0 && ABS(p) >= (uint64_t)p->length)) {
        p->state = ST_FRAME_END;
    } else {
        hdr_start(p);
    }
    return R_NEXT;
}

static int st_frame_end(cgih_mp_parser *p)
{
    if (p->depth == 0) {
        p->state = ST_DONE;
        call(p, p->settings->on_body_end);
        return R_STOP;
    }
    p->line_base = ABS(p);
    p->lfend = 1;
    p->m = 0;
    p->k = 0;
    p->state = ST_SKIP;
    return R_NEXT;
}

/* ---- ST_SKIP: skip_lines() ---- */

/* A line ended by a cut or EOF: line.endswith(b"--") and last_line_lfend and
 * line.strip() in (--O, --O--).  Returns done (0 or 1), or 2 for no match. */
static int skip_match(const cgih_mp_parser *p, const cgih_mp_frame *f)
{
    if (!p->lfend || p->m != 1)
        return 2;
    if (p->k == f->nlen + 2)
        return 1;
    if (p->k == f->nlen && f->sep[f->nlen - 2] == '-' && f->sep[f->nlen - 1] == '-')
        return 0;
    return 2;
}

static int skip_done(cgih_mp_parser *p, int done)
{
    p->depth--;
    return part_end(p, done);
}

static void skip_newline(cgih_mp_parser *p, int lfend)
{
    p->lfend = lfend;
    p->line_base = ABS(p);
    p->m = 0;
    p->k = 0;
}

static int st_skip(cgih_mp_parser *p)
{
    const cgih_mp_frame *f = &p->frames[p->depth - 1];
    const unsigned char *buf = (const unsigned char *)p->buf;
    size_t nt = f->nlen + 2, end = p->len;

    while (p->pos < end) {
        uint64_t capa = p->line_base + CAP;
        unsigned char c;
        if (p->m == 3) { /* no match possible on this line */
            size_t lim = capa - p->base < end ? (size_t)(capa - p->base) : end;
            const unsigned char *nl = memchr(buf + p->pos, '\n', lim - p->pos);
            if (nl != NULL) {
                p->pos = (size_t)(nl - buf) + 1;
                skip_newline(p, 1);
            } else {
                p->pos = lim;
                if (ABS(p) == capa)
                    skip_newline(p, 0);
            }
            continue;
        }
        c = buf[p->pos++];
        if (c == '\n') { /* ends with '\n', so not with "--" */
            skip_newline(p, 1);
            continue;
        }
        if (p->m == 0) {
            if (!is_blank(c)) {
                if (c == f->sep[0]) {
                    p->m = 1;
                    p->k = 1;
                } else {
                    p->m = 3;
                }
            }
        } else if (p->k < nt && c == f->sep[p->k]) {
            p->k++;
        } else {
            p->m = 3;
        }
        if (ABS(p) == capa) {
            int d = skip_match(p, f);
            if (d != 2)
                return skip_done(p, d);
            skip_newline(p, 0);
        }
    }
    if (!p->eof)
        return R_MORE;
    if (ABS(p) > p->line_base) {
        int d = skip_match(p, f);
        if (d != 2)
            return skip_done(p, d);
    }
    return skip_done(p, -1);
}

/* ---- driver ---- */

static cgih_mp_status run(cgih_mp_parser *p)
{
    for (;;) {
        int r;
        switch (p->state) {
        case ST_PREAMBLE:
            r = st_preamble(p);
            break;
        case ST_HDR:
            r = st_hdr(p);
            break;
        case ST_SELECT:
            r = st_select(p);
            break;
        case ST_CAND:
            r = st_cand(p);
            break;
        case ST_DATA:
            r = st_data(p);
            break;
        case ST_DATA_CR:
            r = st_data_cr(p);
            break;
        case ST_RAW:
            r = st_raw(p);
            break;
        case ST_AFTER_PART:
            r = st_after_part(p);
            break;
        case ST_FRAME_END:
            r = st_frame_end(p);
            break;
        case ST_SKIP:
            r = st_skip(p);
            break;
        case ST_DONE:
            return CGIH_MP_DONE;
        default: /* ST_ERROR */
            return CGIH_MP_ERROR;
        }
        if (r == R_MORE)
            return CGIH_MP_OK;
        if (r == R_STOP) {
            if (p->state == ST_ERROR)
                return CGIH_MP_ERROR;
            if (p->state == ST_DONE)
                return CGIH_MP_DONE;
            return CGIH_MP_PAUSED;
        }
    }
}

static void begin_chunk(cgih_mp_parser *p, const char *buf, size_t len)
{
    p->buf = buf;
    p->len = len;
    p->pos = p->ds = p->ts = p->h_rs = p->h_vs = 0;
}

/* Keeps tentative bytes of this chunk and moves the stream offset past what was used. */
static void end_chunk(cgih_mp_parser *p)
{
    if ((p->state == ST_CAND || p->state == ST_DATA_CR) && p->pos > p->ts)
        lb_append(p, p->buf + p->ts, p->pos - p->ts);
    p->base += p->pos;
    p->buf = NULL;
    p->len = p->pos = 0;
}

int cgih_valid_boundary(const char *b, size_t n)
{
    size_t i;
    if (n > 0 && b[n - 1] == '\n') /* re: $ also matches before a final newline */
        n--;
    if (n == 0 || n > 201)
        return 0;
    for (i = 0; i + 1 < n; i++)
        if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] > 0x7e)
            return 0;
    return (unsigned char)b[n - 1] >= 0x21 && (unsigned char)b[n - 1] <= 0x7e;
}

int cgih_mp_init(cgih_mp_parser *p, const cgih_mp_settings *s, const char *b, size_t n)
{
    memset(p, 0, sizeof *p);
    if (s == NULL)
        s = &no_settings;
    p->settings = s;
    p->max_header_line = s->max_header_line ? s->max_header_line : 16384;
    p->max_header_block = s->max_header_block ? s->max_header_block : 65536;
    p->max_headers = s->max_headers ? s->max_headers : 64;
    p->max_parts = s->max_parts ? s->max_parts : 10000;
    p->max_depth = s->max_depth ? s->max_depth : 16;
    if (p->max_depth > CGIH_MP_DEPTH_MAX - 1)
        p->max_depth = CGIH_MP_DEPTH_MAX - 1;
    p->max_boundary = s->max_boundary ? s->max_boundary : CGIH_MP_BOUNDARY_MAX;
    if (p->max_boundary > CGIH_MP_BOUNDARY_MAX)
        p->max_boundary = CGIH_MP_BOUNDARY_MAX;
    p->max_part_data = s->max_part_data ? s->max_part_data : UINT64_MAX;
    p->max_body = s->max_body ? s->max_body : UINT64_MAX;
    p->limit = -1;
    p->length = -1;
    p->lim_stop = UINT64_MAX;
    p->state = ST_PREAMBLE;
    if (b == NULL || set_frame(p, 0, b, n) != 0) {
        fail(p, "invalid boundary", 0);
        return -1;
    }
    return 0;
}

void cgih_mp_set_cgi_limits(cgih_mp_parser *p, int64_t limit, int64_t length)
{
    p->limit = limit;
    p->length = length;
}

cgih_mp_status cgih_mp_execute(cgih_mp_parser *p, const char *buf, size_t len)
{
    cgih_mp_status st;
    int over = 0;

    if (p->in_cb) {
        fail(p, "cgih_mp_execute called from a callback", ABS(p));
        return CGIH_MP_ERROR;
    }
    if (p->state == ST_ERROR)
        return CGIH_MP_ERROR;
    if (p->state == ST_DONE)
        return CGIH_MP_DONE;
    if (p->finished) {
        fail(p, "cgih_mp_execute after cgih_mp_finish", p->base);
        return CGIH_MP_ERROR;
    }
    if (len == 0)
        return CGIH_MP_OK;
    if (len > p->max_body - p->base) {
        len = (size_t)(p->max_body - p->base);
        over = 1;
    }
    begin_chunk(p, buf, len);
    st = run(p);
    end_chunk(p);
    if (st == CGIH_MP_OK && over) {
        fail(p, "body too long (max_body)", p->base);
        st = CGIH_MP_ERROR;
    }
    return st;
}

cgih_mp_status cgih_mp_finish(cgih_mp_parser *p)
{
    static const char empty[1] = "";
    cgih_mp_status st;

    if (p->in_cb) {
        fail(p, "cgih_mp_finish called from a callback", ABS(p));
        return CGIH_MP_ERROR;
    }
    if (p->state == ST_ERROR)
        return CGIH_MP_ERROR;
    if (p->state == ST_DONE)
        return CGIH_MP_DONE;
    p->finished = 1;
    p->eof = 1;
    begin_chunk(p, empty, 0);
    st = run(p);
    end_chunk(p);
    if (st == CGIH_MP_OK) { /* every state ends at EOF; this would be a bug */
        fail(p, "internal error: input wanted after EOF", p->base);
        st = CGIH_MP_ERROR;
    }
    return st;
}

int cgih_mp_push_boundary(cgih_mp_parser *p, const char *b, size_t n)
{
    if (p->state != ST_SELECT)
        return -3;
    if (b == NULL || !cgih_valid_boundary(b, n) || n > p->max_boundary)
        return -1;
    if (p->depth + 1 > p->max_depth) {
        fail_limit(p, "multipart nesting too deep (max_depth)", ABS(p), p->max_depth);
        return -2;
    }
    set_frame(p, p->depth + 1, b, n);
    p->next_mode = MODE_PUSH;
    return 0;
}

int cgih_mp_read_to_eof(cgih_mp_parser *p)
{
    if (p->state != ST_SELECT)
        return -3;
    p->next_mode = MODE_RAW;
    return 0;
}

void cgih_mp_pause(cgih_mp_parser *p)
{
    p->pause_req = 1;
}

uint64_t cgih_mp_offset(const cgih_mp_parser *p)
{
    return p->base + p->pos;
}

size_t cgih_mp_depth(const cgih_mp_parser *p)
{
    return p->depth;
}

int cgih_mp_done(const cgih_mp_parser *p)
{
    return p->done;
}

const char *cgih_mp_errmsg(const cgih_mp_parser *p)
{
    return p->state == ST_ERROR ? p->errmsg : NULL;
}

size_t cgih_mp_errlimit(const cgih_mp_parser *p)
{
    return p->state == ST_ERROR ? p->errlimit : 0;
}

uint64_t cgih_mp_errpos(const cgih_mp_parser *p)
{
    return p->errpos;
}
