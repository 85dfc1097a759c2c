/* multipartbind.c: FieldStorage.read_multi on the streaming parser of
 * parsers/multipart.c.
 *
 * cgi.py reads a multipart body with readline() and builds each part by calling
 * FieldStorageClass(fp, headers, ...) on the same fp, so the part reads its own
 * body. Here the top level reads the body in bounded chunks and feeds the
 * parser; each part is still built by calling the class (so subclasses,
 * FieldStorageClass and make_file() overrides work), but is handed a
 * _PartStream as its fp. The part's reading methods (read_lines_to_outerboundary,
 * read_urlencoded's fp.read(), read_multi, skip_lines) recognise it and take
 * their bytes from the parser. File parts stream to make_file() as they
 * arrive: no part is ever held in memory whole.
 *
 * Data reaches a part the way cgi.py's __write() sees it: in "units" (a line's
 * content, preceded by the line end held back from the line before), which
 * decide when an in-memory field moves to a temporary file (past 1000) and how
 * text fields are decoded. Once a file part is on disk, spans go straight to
 * the file. (Lines longer than 64 KiB are cut by cgi.py's readline(1 << 16);
 * here a line is written in pieces once it passes UNIT_MAX, so that memory
 * stays bounded, and a text field's pieces go through an incremental
 * decoder: no multi-byte character is cut, where cgi.py cuts one straddling
 * such a cut.)
 */
#include "cgi_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parsers/multipart.h"

#define READ_CHUNK (512 * 1024) /* bytes asked of fp at a time: into a page-aligned buffer, 512 KiB beat 128 and 256 KiB */
#define SPILL_AT 1000           /* cgi.py's __write() threshold */
#define UNIT_MAX (1 << 16) /* longer lines are written in pieces (cgi.py's readline(1 << 16)) */

enum { EV_NONE, EV_PART_BEGIN, EV_HEADERS, EV_PART_END, EV_BODY_END };

/* Where a part's data goes while it is being read. */
typedef struct {
    PyObject *self; /* the part (borrowed) */
    int binary;
    PyObject *mem;  /* in-memory StringIO/BytesIO until the spill, else NULL */
    long long mem_pos;
    cgih_buf unit;      /* the unit being assembled */
    PyObject *dec;      /* a text unit written in pieces: its incremental decoder, else NULL */
    cgih_buf *collect;  /* read_to_eof: all bytes go here instead */
    PyObject *enc, *err;
} sink_t;

typedef struct {
    PyObject_HEAD
    cgih_mp_parser *p;
    PyObject *fp;     /* the request body */
    PyObject *chunk;  /* bytes being fed, when fp.read() or read1() gives them */
    char *cbuf;       /* else the buffer fp.readinto() or readinto1() fills, reused */
    const char *cdata;
    size_t clen;
    int how;          /* enum read_how: the method fill() calls */
    int drained;      /* RD_READINTO1: read1() has taken what the reader held */
    uint64_t chunk_base;
    int64_t remaining; /* bytes fp may still give (Content-Length), < 0: to EOF */
    int eof, status;
    int ev, ev_depth;
    int cur_depth;     /* depth of the part whose class is being called */
    int after_headers; /* the current part's headers just ended */
    PyObject *headers; /* list of (name, value) of the current header block */
    PyObject *msg;     /* or the email.message.Message that email's FeedParser made of it */
    PyObject *htext;   /* hdr_text decoded, as cgi.py feeds it: _Headers makes that Message of it on demand */
    cgih_buf hname, hvalue;
    cgih_buf hraw;   /* cgi.py's hdr_text of the current part */
    int hdr_bad; /* a header's name or value did not decode */
    PyObject *encoding, *errors;
    sink_t *sink;
    /* the end of the part at each depth, once seen */
    int end_seen[CGIH_MP_DEPTH_MAX], end_done[CGIH_MP_DEPTH_MAX];
    uint64_t end_off[CGIH_MP_DEPTH_MAX];
    uint64_t hc_off[CGIH_MP_DEPTH_MAX];
    int eof_part[CGIH_MP_DEPTH_MAX];
    /* bytes that read-to-EOF parts (read_urlencoded's fp.read(-1)) took, at
     * any depth: cgi.py counts them in no bytes_read, of any enclosing part */
    uint64_t eof_taken;
} stream_obj;

/* ---- parser callbacks ----------------------------------------------------- */

static int on_part_begin(cgih_mp_parser *p)
{
    stream_obj *r = p->data;
    size_t d = cgih_mp_depth(p);
    r->ev = EV_PART_BEGIN;
    r->ev_depth = (int)d;
    r->end_seen[d] = 0;
    r->eof_part[d] = 0;
    r->hraw.len = 0;
    r->hdr_bad = 0;
    Py_CLEAR(r->msg);
    Py_CLEAR(r->htext);
    Py_XSETREF(r->headers, PyList_New(0));
    if (!r->headers)
        return -1;
    cgih_mp_pause(p);
    return 0;
}

static int on_header_field(cgih_mp_parser *p, const char *at, size_t n)
{
    stream_obj *r = p->data;
    r->hname.len = r->hvalue.len = 0;
    return cgih_buf_add(&r->hname, at, n);
}

static int on_header_value(cgih_mp_parser *p, const char *at, size_t n)
{
    stream_obj *r = p->data;
    return cgih_buf_add(&r->hvalue, at, n);
}

static PyObject *decode(const char *s, size_t n, PyObject *enc, PyObject *err)
{
    PyObject *b = PyBytes_FromStringAndSize(s, (Py_ssize_t)n);
    if (!b)
        return NULL;
    PyObject *u = PyObject_CallMethod(b, "decode", "OO", enc, err);
    Py_DECREF(b);
    return u;
}

static int on_header_raw(cgih_mp_parser *p, const char *at, size_t n)
{
    stream_obj *r = p->data;
    return cgih_buf_add(&r->hraw, at, n);
}

static int on_header_end(cgih_mp_parser *p)
{
    stream_obj *r = p->data;
    PyObject *name = decode(r->hname.p ? r->hname.p : "", r->hname.len, r->encoding, r->errors);
    PyObject *value =
        name ? decode(r->hvalue.p ? r->hvalue.p : "", r->hvalue.len, r->encoding, r->errors)
             : NULL;
    if (!value && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        /* cgi.py decodes the whole hdr_text first: its error is raised at
         * on_headers_complete, with hdr_text's offsets. */
        PyErr_Clear();
        Py_XDECREF(name);
        r->hdr_bad = 1;
        return 0;
    }
    PyObject *pair = value ? PyTuple_Pack(2, name, value) : NULL;
    Py_XDECREF(name);
    Py_XDECREF(value);
    int rc = pair && r->headers ? PyList_Append(r->headers, pair) : -1;
    Py_XDECREF(pair);
    return rc;
}

/* email.parser.FeedParser().feed(text); .close(): the headers as cgi.py has
 * them, for a block whose bytes the errors handler had to fix. */
static PyObject *feed_parse(PyObject *text)
{
    PyObject *mod = PyImport_ImportModule("email.parser"), *fp = NULL, *msg = NULL;
    PyObject *parser = mod ? PyObject_CallMethod(mod, "FeedParser", NULL) : NULL;
    if (parser && (fp = PyObject_CallMethod(parser, "feed", "O", text)))
        msg = PyObject_CallMethod(parser, "close", NULL);
    Py_XDECREF(fp);
    Py_XDECREF(parser);
    Py_XDECREF(mod);
    return msg;
}

static int on_headers_complete(cgih_mp_parser *p)
{
    stream_obj *r = p->data;
    /* parser.feed(hdr_text.decode(self.encoding, self.errors))
     * The header lines were parsed from the bytes, which is what email's
     * parser makes of the text unless the errors handler changed bytes (a
     * byte dropped or escaped in a name, a surrogate that makes a value an
     * email.header.Header): then, rarely, email itself parses the text. So a
     * str errors other than 'strict' is tried as 'strict' first: the same
     * text when no byte needs it. */
    const char *raw = r->hraw.p ? r->hraw.p : "";
    size_t n = r->hraw.len;
    r->hraw.len = 0;
    int fixed = r->hdr_bad;
    PyObject *text = NULL;
    if (PyUnicode_Check(r->errors) && PyUnicode_CompareWithASCIIString(r->errors, "strict") != 0) {
        PyObject *strict = PyUnicode_FromString("strict");
        text = strict ? decode(raw, n, r->encoding, strict) : NULL;
        Py_XDECREF(strict);
        if (!text && !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return -1;
        if (!text) {
            PyErr_Clear();
            fixed = 1;
        }
    }
    if (!text && !(text = decode(raw, n, r->encoding, r->errors)))
        return -1;
    if (fixed)
        Py_XSETREF(r->msg, feed_parse(text));
    Py_XSETREF(r->htext, text);
    if (fixed && !r->msg)
        return -1;
    r->ev = EV_HEADERS;
    r->ev_depth = (int)cgih_mp_depth(p);
    r->hc_off[r->ev_depth] = cgih_mp_offset(p);
    cgih_mp_pause(p);
    return 0;
}

static int sink_write(sink_t *s, const char *at, size_t n);

static int on_part_data(cgih_mp_parser *p, const char *at, size_t n)
{
    stream_obj *r = p->data;
    return r->sink ? sink_write(r->sink, at, n) : 0;
}

static int on_part_end(cgih_mp_parser *p)
{
    stream_obj *r = p->data;
    size_t d = cgih_mp_depth(p);
    r->ev = EV_PART_END;
    r->ev_depth = (int)d;
    r->end_seen[d] = 1;
    r->end_done[d] = cgih_mp_done(p);
    r->end_off[d] = cgih_mp_offset(p);
    cgih_mp_pause(p);
    return 0;
}

static int on_body_end(cgih_mp_parser *p)
{
    stream_obj *r = p->data;
    r->ev = EV_BODY_END;
    return 0;
}

static const cgih_mp_settings mp_settings = {
    .on_part_begin = on_part_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_raw = on_header_raw,
    .on_header_end = on_header_end,
    .on_headers_complete = on_headers_complete,
    .on_part_data = on_part_data,
    .on_part_end = on_part_end,
    .on_body_end = on_body_end,
};

/* The parser's limits, each settable from the environment (README, man page):
 *   CGIHOST_MAX_HEADER_LINE   bytes of one part header line   (default 16384)
 *   CGIHOST_MAX_HEADER_BLOCK  bytes of one part's headers     (default 65536)
 *   CGIHOST_MAX_HEADERS       headers per part                (default 64)
 *   CGIHOST_MAX_PARTS         parts in a body, at all depths  (default 10000)
 *   CGIHOST_MAX_DEPTH         nesting of multipart parts      (default 16, at most 31:
 *                             the parser's frame stack, CGIH_MP_DEPTH_MAX - 1)
 * Read once per process, which is once per request. */
static const struct {
    const char *env, *setting; /* the variable, and the parser's name in its errors */
    size_t offset;             /* in cgih_mp_settings */
    size_t max;
} limits[] = {
    {"CGIHOST_MAX_HEADER_LINE", "max_header_line", offsetof(cgih_mp_settings, max_header_line),
     SIZE_MAX},
    {"CGIHOST_MAX_HEADER_BLOCK", "max_header_block", offsetof(cgih_mp_settings, max_header_block),
     SIZE_MAX},
    {"CGIHOST_MAX_HEADERS", "max_headers", offsetof(cgih_mp_settings, max_headers), SIZE_MAX},
    {"CGIHOST_MAX_PARTS", "max_parts", offsetof(cgih_mp_settings, max_parts), SIZE_MAX},
    {"CGIHOST_MAX_DEPTH", "max_depth", offsetof(cgih_mp_settings, max_depth),
     CGIH_MP_DEPTH_MAX - 1}};

static size_t *limit_in(cgih_mp_settings *s, size_t i)
{
    return (size_t *)(void *)((char *)s + limits[i].offset);
}

static const cgih_mp_settings *configured_settings(void)
{
    static cgih_mp_settings s;
    static int ready;
    if (ready)
        return &s;
    s = mp_settings;
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        const char *v = getenv(limits[i].env);
        char *end;
        if (!v || !*v)
            continue;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (v[0] >= '0' && v[0] <= '9' && errno == 0 && *end == '\0' && n > 0 && n <= limits[i].max)
            *limit_in(&s, i) = (size_t)n;
        else /* said where the web server logs a script's errors */
            PySys_FormatStderr("cgihost: %s=%.100s ignored: not a whole number from 1 to %zu; "
                               "the default applies\n",
                               limits[i].env, v, limits[i].max);
    }
    ready = 1;
    return &s;
}

/* ---- the sink: cgi.py's __write() ---------------------------------------- */

static int call_write(PyObject *file, PyObject *data)
{
    PyObject *r = PyObject_CallMethod(file, "write", "O", data);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* A text unit's bytes decoded: whole, or through an incremental decoder
 * while a line longer than UNIT_MAX is written in pieces (final: its last),
 * so that a character is never cut. */
static PyObject *decode_unit(sink_t *s, const char *u, size_t n, int final)
{
    if (final && !s->dec)
        return decode(u, n, s->enc, s->err);
    if (!s->dec) {
        PyObject *codecs = PyImport_ImportModule("codecs");
        PyObject *make =
            codecs ? PyObject_CallMethod(codecs, "getincrementaldecoder", "O", s->enc) : NULL;
        Py_XDECREF(codecs);
        s->dec = make ? PyObject_CallFunctionObjArgs(make, s->err, NULL) : NULL;
        Py_XDECREF(make);
        if (!s->dec)
            return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(u, (Py_ssize_t)n);
    PyObject *text =
        b ? PyObject_CallMethod(s->dec, "decode", "OO", b, final ? Py_True : Py_False) : NULL;
    Py_XDECREF(b);
    if (text && !PyUnicode_Check(text)) { /* as bytes.decode() refuses a codec's non-str */
        PyErr_Format(PyExc_TypeError, "decoder returned '%.400s' instead of 'str'",
                     Py_TYPE(text)->tp_name);
        Py_CLEAR(text);
    }
    if (final || !text)
        Py_CLEAR(s->dec);
    return text;
}

/* Writes one unit (or a piece of one, final 0): moves to make_file() first
 * when the in-memory field would pass 1000, then writes the bytes (files)
 * or their decoding (other fields). */
static int emit_unit(sink_t *s, const char *u, size_t n, int final)
{
    if (s->mem && s->mem_pos + (long long)n > SPILL_AT) {
        PyObject *file = PyObject_CallMethod(s->self, "make_file", NULL);
        if (!file)
            return -1;
        int rc = cgih_setattr(s->self, "file", file);
        PyObject *data = rc < 0 ? NULL : PyObject_CallMethod(s->mem, "getvalue", NULL);
        rc = (!data || call_write(file, data) < 0 ||
              cgih_setattr(s->self, "_FieldStorage__file", Py_None) < 0)
                 ? -1
                 : 0;
        Py_XDECREF(data);
        Py_DECREF(file);
        if (rc < 0)
            return -1;
        Py_CLEAR(s->mem);
    }
    PyObject *target = s->mem ? Py_NewRef(s->mem) : cgih_getattr(s->self, "file");
    if (!target)
        return -1;
    PyObject *data =
        s->binary ? PyBytes_FromStringAndSize(u, (Py_ssize_t)n) : decode_unit(s, u, n, final);
    int rc = data ? call_write(target, data) : -1;
    if (rc == 0 && s->mem)
        s->mem_pos += s->binary ? (long long)n : (long long)PyUnicode_GET_LENGTH(data);
    Py_XDECREF(data);
    Py_DECREF(target);
    return rc;
}

/* Bytes straight to the part's file (a file part that is on disk). */
static int write_direct(sink_t *s, const char *at, size_t n)
{
    PyObject *file = cgih_getattr(s->self, "file");
    if (!file)
        return -1;
    PyObject *mv = PyMemoryView_FromMemory((char *)at, (Py_ssize_t)n, PyBUF_READ);
    int rc = mv ? call_write(file, mv) : -1;
    Py_XDECREF(mv);
    Py_DECREF(file);
    return rc;
}

static int sink_write(sink_t *s, const char *at, size_t n)
{
    if (s->collect)
        return cgih_buf_add(s->collect, at, n);
    if (s->binary && !s->mem) {
        if (s->unit.len) {
            if (write_direct(s, s->unit.p, s->unit.len) < 0)
                return -1;
            s->unit.len = 0;
        }
        return write_direct(s, at, n);
    }
    while (n) {
        const char *nl = memchr(at, '\n', n);
        if (!nl) {
            if (cgih_buf_add(&s->unit, at, n) < 0)
                return -1;
            if (s->unit.len < UNIT_MAX)
                return 0;
            /* A long line is not held whole: its bytes so far are written,
             * but a '\r' that may start its "\r\n". (A unit this long
             * moves an in-memory field to make_file() anyway.) */
            size_t cut = s->unit.len - (s->unit.p[s->unit.len - 1] == '\r');
            if (emit_unit(s, s->unit.p, cut, 0) < 0)
                return -1;
            memmove(s->unit.p, s->unit.p + cut, s->unit.len - cut);
            s->unit.len -= cut;
            return 0;
        }
        size_t k = (size_t)(nl - at);
        if (cgih_buf_add(&s->unit, at, k) < 0)
            return -1;
        /* The line end ("\n" or "\r\n") is held back and starts the next unit. */
        int cr = s->unit.len && s->unit.p[s->unit.len - 1] == '\r';
        size_t cut = s->unit.len - (cr ? 1 : 0);
        if (emit_unit(s, s->unit.p, cut, 1) < 0)
            return -1;
        s->unit.len = 0;
        if (cgih_buf_add(&s->unit, cr ? "\r\n" : "\n", cr ? 2 : 1) < 0)
            return -1;
        at = nl + 1;
        n -= k + 1;
        if (s->binary && !s->mem)
            return sink_write(s, at, n);
    }
    return 0;
}

static int sink_flush(sink_t *s)
{
    if (s->collect || (!s->unit.len && !s->dec)) /* (a decoder may hold a character's start) */
        return 0;
    int rc = (s->binary && !s->mem) ? write_direct(s, s->unit.p, s->unit.len)
                                    : emit_unit(s, s->unit.p, s->unit.len, 1);
    s->unit.len = 0;
    return rc;
}

/* ---- driving the parser --------------------------------------------------- */

static void not_bytes(PyObject *fp, PyObject *x)
{
    PyObject *t = cgih_getattr((PyObject *)Py_TYPE(x), "__name__");
    if (t) {
        PyErr_Format(PyExc_ValueError, "%S should return bytes, got %S", fp, t);
        Py_DECREF(t);
    }
}

/* The parser's error as a ValueError; a limit it names by its setting is
 * named by the variable that sets it ("max_header_line" becomes
 * "CGIHOST_MAX_HEADER_LINE"): what an admin changes; the limit the error is
 * about, named alone in parentheses, with the value in force
 * ("(CGIHOST_MAX_PARTS=10000)"). */
static size_t setting_at(const char *m)
{
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        size_t n = strlen(limits[i].setting);
        if (strncmp(m, limits[i].setting, n) == 0 && m[n] != '_' && !isalnum((unsigned char)m[n]))
            return i;
    }
    return (size_t)-1;
}

static void mp_error(const cgih_mp_parser *p)
{
    const char *msg = cgih_mp_errmsg(p);
    char text[512];
    size_t len = 0;
    for (const char *m = msg; *m && len < sizeof text - 1;) {
        size_t i = setting_at(m);
        if (i == (size_t)-1) {
            text[len++] = *m++;
            continue;
        }
        size_t n = strlen(limits[i].setting);
        int k = m > msg && m[-1] == '(' && m[n] == ')'
                    ? snprintf(text + len, sizeof text - len, "%s=%zu", limits[i].env,
                               cgih_mp_errlimit(p))
                    : snprintf(text + len, sizeof text - len, "%s", limits[i].env);
        if (k < 0 || (size_t)k >= sizeof text - len)
            break;
        len += (size_t)k;
        m += n;
    }
    text[len] = '\0';
    PyErr_Format(PyExc_ValueError, "multipart body: %s at byte %llu", text,
                 (unsigned long long)cgih_mp_errpos(p));
}

static int parse_failed(stream_obj *r)
{
    if (!PyErr_Occurred())
        mp_error(r->p);
    return -1;
}

static int is_io_type(PyObject *io, PyObject *obj, const char *name)
{
    PyObject *t = PyObject_GetAttrString(io, name);
    int yes = t == (PyObject *)Py_TYPE(obj);
    Py_XDECREF(t);
    return yes;
}

/* How fill() reads the body. cgi.py reads lines, which return once the
 * closing boundary's line has come: the reads that stand for them must not
 * wait for more either (a body followed by nothing yet, on a pipe or a
 * socket without a Content-Length, or with one the client does not keep).
 * io's own readers, on no Python code, are read without a copy, or with
 * read1(), a single read of the raw file (of what it holds, if anything);
 * any other fp with its own read(), which a subclass may have overridden. */
enum read_how {
    RD_READ,      /* fp.read(n): any other fp */
    RD_READ1,     /* fp.read1(n): io's buffered reader over a raw file of Python code, or
                     a subclass of it that overrides neither read() nor read1() */
    RD_READINTO,  /* fp.readinto(): a BytesIO, a FileIO (one read(2)) */
    RD_READINTO1, /* fp.readinto1(): io's buffered reader over a FileIO (sys.stdin.buffer, an
                     open() file) */
};

/* Whether fp's type, a subclass of io's type `name`, has that type's own
 * read() and read1(). */
static int io_reads_of(PyObject *io, PyObject *fp, const char *name)
{
    PyObject *base = PyObject_GetAttrString(io, name);
    int sub = base && PyType_Check(base) ? PyObject_IsInstance(fp, base) : 0, same = sub > 0;
    for (int i = 0; same && i < 2; i++) {
        const char *m = i ? "read1" : "read";
        PyObject *a = PyObject_GetAttrString((PyObject *)Py_TYPE(fp), m);
        PyObject *b = a ? PyObject_GetAttrString(base, m) : NULL;
        same = a && a == b;
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    Py_XDECREF(base);
    return same;
}

/* Not readinto() where a buffered reader would hand the caller's buffer to
 * a raw file's readinto() written in Python, which could keep a view of it
 * past its free. */
static int read_how(PyObject *fp)
{
    PyObject *io = PyImport_ImportModule("_io"); /* built in, loaded at start-up */
    int how = RD_READ;
    if (io && (is_io_type(io, fp, "BytesIO") || is_io_type(io, fp, "FileIO"))) {
        how = RD_READINTO;
    } else if (io &&
               (is_io_type(io, fp, "BufferedReader") || is_io_type(io, fp, "BufferedRandom"))) {
        PyObject *raw = PyObject_GetAttrString(fp, "raw");
        how = raw && is_io_type(io, raw, "FileIO") ? RD_READINTO1 : RD_READ1;
        Py_XDECREF(raw);
    } else if (io &&
               (io_reads_of(io, fp, "BufferedReader") || io_reads_of(io, fp, "BufferedRandom"))) {
        how = RD_READ1;
    }
    Py_XDECREF(io);
    PyErr_Clear(); /* none found, or no raw: read() it is */
    return how;
}

/* Reads up to want bytes of the body into r->cdata/r->clen, as r->how says:
 * into one reused buffer where fp is io's own (no allocation per chunk),
 * else as bytes. Returns the count, or -1. */
static Py_ssize_t fill(stream_obj *r, Py_ssize_t want)
{
    if (want <= 0)
        return 0;
    /* readinto1() of more than the reader's buffer, with bytes in it, gives
     * them and reads the raw file too, waiting: read1() first, which gives
     * what the reader holds, if anything (a script may have peeked). */
    int first = r->how == RD_READINTO1 && !r->drained;
    r->drained = 1;
    if (r->how == RD_READINTO || (r->how == RD_READINTO1 && !first)) {
        /* Page-aligned: the kernel's copy from a pipe into a buffer 16
         * bytes off alignment (malloc's header on an mmap()ed chunk) ran at
         * a third of the speed on this AMD machine (rep movsb). */
        if (!r->cbuf && !(r->cbuf = aligned_alloc(4096, READ_CHUNK))) {
            PyErr_NoMemory();
            return -1;
        }
        char *buf = r->cbuf;
        PyObject *mv = PyMemoryView_FromMemory(buf, want, PyBUF_WRITE);
        const char *meth = r->how == RD_READINTO ? "readinto" : "readinto1";
        PyObject *n = mv ? PyObject_CallMethod(r->fp, meth, "O", mv) : NULL;
        if (mv && (Py_REFCNT(mv) > 1 || Py_REFCNT(((PyMemoryViewObject *)mv)->mbuf) > 1))
            r->cbuf = NULL; /* readinto() kept a view of it: the buffer is that view's now (never
                               freed, no use after free); the next read takes a new one */
        Py_XDECREF(mv);
        if (n && PyLong_Check(n)) {
            Py_ssize_t got = PyLong_AsSsize_t(n);
            Py_DECREF(n);
            if (got < 0 || got > want) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "readinto() returned a bad count");
                return -1;
            }
            r->cdata = buf;
            r->clen = (size_t)got;
            return got;
        }
        if (!n)
            return -1;
        /* one that gives None (a non-blocking raw file): read() from now on */
        Py_DECREF(n);
        r->how = r->how == RD_READINTO ? RD_READ : RD_READ1;
    }
    PyObject *data =
        PyObject_CallMethod(r->fp, r->how == RD_READ1 || first ? "read1" : "read", "n", want);
    if (!data)
        return -1;
    if (!PyBytes_Check(data)) {
        not_bytes(r->fp, data);
        Py_DECREF(data);
        return -1;
    }
    Py_XSETREF(r->chunk, data);
    r->cdata = PyBytes_AS_STRING(data);
    r->clen = (size_t)PyBytes_GET_SIZE(data);
    return (Py_ssize_t)r->clen;
}

/* Runs the parser to its next pause. Returns the event, or -1 with an
 * exception set. */
static int next_event(stream_obj *r)
{
    r->ev = EV_NONE;
    for (;;) {
        if (r->status == CGIH_MP_DONE)
            return EV_BODY_END;
        if (r->status == CGIH_MP_ERROR)
            return parse_failed(r);
        uint64_t off = cgih_mp_offset(r->p);
        if (off - r->chunk_base < r->clen) {
            size_t at = (size_t)(off - r->chunk_base);
            r->status = cgih_mp_execute(r->p, r->cdata + at, r->clen - at);
        } else if (r->eof) {
            r->status = cgih_mp_finish(r->p);
        } else {
            Py_ssize_t want = READ_CHUNK, got;
            if (r->remaining >= 0 && r->remaining < want)
                want = (Py_ssize_t)r->remaining;
            r->chunk_base += r->clen;
            r->clen = 0;
            if ((got = fill(r, want)) < 0)
                return -1;
            if (got == 0)
                r->eof = 1;
            else if (r->remaining >= 0)
                r->remaining -= got;
            continue;
        }
        if (r->status == CGIH_MP_ERROR)
            return parse_failed(r);
        if (r->status == CGIH_MP_PAUSED || r->status == CGIH_MP_DONE)
            return r->status == CGIH_MP_DONE ? EV_BODY_END : r->ev;
    }
}

/* Consumes events until the part at depth d has ended. */
static int drain_part(stream_obj *r, int d)
{
    while (!r->end_seen[d]) {
        int ev = next_event(r);
        if (ev < 0)
            return -1;
        if (ev == EV_BODY_END) {
            PyErr_SetString(PyExc_RuntimeError, "multipart body ended inside a part");
            return -1;
        }
    }
    return 0;
}

/* ---- _PartStream ----------------------------------------------------------- */

static int stream_traverse(stream_obj *r, visitproc visit, void *arg)
{
    Py_VISIT(r->fp);
    Py_VISIT(r->chunk);
    Py_VISIT(r->headers);
    Py_VISIT(r->msg);
    Py_VISIT(r->htext);
    Py_VISIT(r->encoding);
    Py_VISIT(r->errors);
    Py_VISIT(Py_TYPE(r));
    return 0;
}

static int stream_clear(stream_obj *r)
{
    Py_CLEAR(r->fp);
    Py_CLEAR(r->chunk);
    Py_CLEAR(r->headers);
    Py_CLEAR(r->msg);
    Py_CLEAR(r->htext);
    Py_CLEAR(r->encoding);
    Py_CLEAR(r->errors);
    return 0;
}

static void stream_dealloc(stream_obj *r)
{
    PyTypeObject *tp = Py_TYPE(r);
    PyObject_GC_UnTrack(r);
    stream_clear(r);
    PyMem_Free(r->p);
    free(r->cbuf);
    PyMem_Free(r->hname.p);
    PyMem_Free(r->hvalue.p);
    PyMem_Free(r->hraw.p);
    tp->tp_free(r);
    Py_DECREF(tp);
}

static PyObject *stream_read(stream_obj *r, PyObject *args)
{
    Py_ssize_t size = -1;
    if (!PyArg_ParseTuple(args, "|n:read", &size))
        return NULL;
    /* cgi.py reads an application/x-www-form-urlencoded part with
     * fp.read(-1): everything up to the end of the body. */
    if (size >= 0 || !r->after_headers) {
        PyErr_SetString(PyExc_ValueError,
                        "cgihost: a multipart part's stream serves only the part's own reads");
        return NULL;
    }
    int d = r->cur_depth;
    if (cgih_mp_read_to_eof(r->p) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "multipart: read_to_eof refused");
        return NULL;
    }
    r->after_headers = 0;
    r->eof_part[d] = 1;
    cgih_buf all = {0};
    sink_t s = {.collect = &all};
    r->sink = &s;
    int rc = drain_part(r, d);
    r->sink = NULL;
    PyObject *res = rc < 0 ? NULL : PyBytes_FromStringAndSize(all.p ? all.p : "", (Py_ssize_t)all.len);
    PyMem_Free(all.p);
    return res;
}

static PyObject *stream_readline(stream_obj *r, PyObject *args)
{
    (void)r;
    (void)args;
    PyErr_SetString(PyExc_ValueError,
                    "cgihost: a multipart part's stream serves only the part's own reads");
    return NULL;
}

static PyMethodDef stream_methods[] = {
    {"read", (PyCFunction)stream_read, METH_VARARGS, NULL},
    {"readline", (PyCFunction)stream_readline, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot stream_slots[] = {
    {Py_tp_doc, "The body of one multipart part, served from cgihost's streaming parser."},
    {Py_tp_methods, stream_methods},
    {Py_tp_traverse, stream_traverse},
    {Py_tp_clear, stream_clear},
    {Py_tp_dealloc, stream_dealloc},
    {0, NULL},
};

static PyType_Spec stream_spec = {
    .name = "cgi._PartStream",
    .basicsize = sizeof(stream_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = stream_slots,
};

/* ---- _Headers: the part headers, as an email.message.Message reads them ---- *
 *
 * cgi.py hands each part the email.message.Message that email's FeedParser
 * makes of the part's header text. Importing email costs milliseconds, and
 * what cgi.py and most scripts do with it is look names up: _Headers
 * answers those from the (name, value) pairs the parser found. Anything
 * else (get_filename(), get_content_charset(), get_param(), as_string(),
 * str(), copy.copy(), pickle...) makes the Message as cgi.py made it, from
 * the same text, with the changes made here since replayed (cgi.py's own
 * `del headers['content-length']` first), and from then on every operation,
 * lookups too, is the Message's. */

typedef struct {
    PyObject_HEAD
    PyObject *items; /* list of (name, value) */
    PyObject *text;  /* the header text cgi.py feeds email's parser (on_headers_complete() set it
                        before EV_HEADERS made us), until msg is made */
    PyObject *ops;   /* changes made before msg: list of (name,) deleted or (name, value) set */
    PyObject *msg;   /* the Message, once made */
} headers_obj;

/* The Message (borrowed), made on first call. Python code runs while it is
 * made (email's import and parser): another thread may make it meanwhile,
 * so what it is made of is held here, and the first one made is kept. */
static PyObject *hdr_message(headers_obj *h)
{
    if (h->msg)
        return h->msg;
    PyObject *text = Py_NewRef(h->text), *ops = h->ops ? PyList_GetSlice(h->ops, 0, PY_SSIZE_T_MAX) : NULL;
    PyObject *msg = h->ops && !ops ? NULL : feed_parse(text);
    for (Py_ssize_t i = 0; msg && ops && i < PyList_GET_SIZE(ops); i++) {
        PyObject *op = PyList_GET_ITEM(ops, i);
        PyObject *name = PyTuple_GET_ITEM(op, 0);
        if ((PyTuple_GET_SIZE(op) == 2 ? PyObject_SetItem(msg, name, PyTuple_GET_ITEM(op, 1))
                                       : PyObject_DelItem(msg, name)) < 0)
            Py_CLEAR(msg);
    }
    Py_DECREF(text);
    Py_XDECREF(ops);
    if (!msg)
        return NULL;
    if (h->msg) { /* another thread's came first */
        Py_DECREF(msg);
        return h->msg;
    }
    h->msg = msg;
    Py_CLEAR(h->text);
    Py_CLEAR(h->ops);
    return msg;
}

/* name.lower() == key.lower() */
static int same_name(PyObject *a, PyObject *b)
{
    PyObject *la = PyObject_CallMethod(a, "lower", NULL);
    PyObject *lb = la ? PyObject_CallMethod(b, "lower", NULL) : NULL;
    int r = lb ? PyObject_RichCompareBool(la, lb, Py_EQ) : -1;
    Py_XDECREF(la);
    Py_XDECREF(lb);
    return r;
}

/* Message lowers the name before it looks at any header: a name without
 * lower() fails even when there are none. */
static int name_lowers(PyObject *name)
{
    if (PyUnicode_CheckExact(name))
        return 0;
    PyObject *l = PyObject_CallMethod(name, "lower", NULL);
    Py_XDECREF(l);
    return l ? 0 : -1;
}

/* The pair at i of items, held: a name's lower() runs code that may set
 * or delete headers meanwhile, and a delete replaces h->items (the list
 * iterated is held by the caller, as Message's for loop holds its
 * _headers). */
static PyObject *hdr_pair(PyObject *items, Py_ssize_t i)
{
    return Py_NewRef(PyList_GET_ITEM(items, i));
}

/* The first value for name, or NULL with no error when there is none. */
static PyObject *hdr_first(headers_obj *h, PyObject *name)
{
    if (name_lowers(name) < 0)
        return NULL;
    PyObject *items = Py_NewRef(h->items), *v = NULL;
    for (Py_ssize_t i = 0; !v && i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = hdr_pair(items, i);
        int m = same_name(PyTuple_GET_ITEM(pair, 0), name);
        if (m > 0)
            v = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
        Py_DECREF(pair);
        if (m < 0)
            break;
    }
    Py_DECREF(items);
    return v;
}

static PyObject *hdr_getitem(headers_obj *h, PyObject *name)
{
    if (h->msg)
        return PyObject_GetItem(h->msg, name);
    PyObject *v = hdr_first(h, name);
    if (v || PyErr_Occurred())
        return v;
    Py_RETURN_NONE; /* Message returns None for a missing header */
}

static int hdr_contains(headers_obj *h, PyObject *name)
{
    if (h->msg)
        return PySequence_Contains(h->msg, name);
    PyObject *v = hdr_first(h, name);
    if (v) {
        Py_DECREF(v);
        return 1;
    }
    return PyErr_Occurred() ? -1 : 0;
}

static Py_ssize_t hdr_len(headers_obj *h)
{
    return h->msg ? PyObject_Size(h->msg) : PyList_GET_SIZE(h->items);
}

/* Noted for the Message, should one be made. */
static int hdr_note(headers_obj *h, PyObject *name, PyObject *value)
{
    if (!h->ops && !(h->ops = PyList_New(0)))
        return -1;
    PyObject *op = value ? PyTuple_Pack(2, name, value) : PyTuple_Pack(1, name);
    int rc = op ? PyList_Append(h->ops, op) : -1;
    Py_XDECREF(op);
    return rc;
}

static int hdr_ass(headers_obj *h, PyObject *name, PyObject *value)
{
    if (h->msg)
        return value ? PyObject_SetItem(h->msg, name, value) : PyObject_DelItem(h->msg, name);
    if (!value && name_lowers(name) < 0) /* before it is noted, to be replayed */
        return -1;
    if (hdr_note(h, name, value) < 0)
        return -1;
    if (value) { /* Message.__setitem__ appends */
        PyObject *pair = PyTuple_Pack(2, name, value);
        int rc = pair ? PyList_Append(h->items, pair) : -1;
        Py_XDECREF(pair);
        return rc;
    }
    PyObject *kept = PyList_New(0), *items = Py_NewRef(h->items);
    for (Py_ssize_t i = 0; kept && i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = hdr_pair(items, i);
        int m = same_name(PyTuple_GET_ITEM(pair, 0), name);
        if (m < 0 || (!m && PyList_Append(kept, pair) < 0))
            Py_CLEAR(kept);
        Py_DECREF(pair);
    }
    Py_DECREF(items);
    if (!kept)
        return -1;
    Py_SETREF(h->items, kept);
    return 0;
}

static PyObject *hdr_column(headers_obj *h, int col)
{
    if (h->msg)
        return PyObject_CallMethod(h->msg, col == 0 ? "keys" : col == 1 ? "values" : "items", NULL);
    Py_ssize_t n = PyList_GET_SIZE(h->items);
    PyObject *res = PyList_New(n);
    for (Py_ssize_t i = 0; res && i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(h->items, i);
        PyObject *v = col < 0 ? pair : PyTuple_GET_ITEM(pair, col);
        Py_INCREF(v);
        PyList_SET_ITEM(res, i, v);
    }
    return res;
}

static PyObject *hdr_keys(headers_obj *h, PyObject *Py_UNUSED(x))
{
    return hdr_column(h, 0);
}

static PyObject *hdr_values(headers_obj *h, PyObject *Py_UNUSED(x))
{
    return hdr_column(h, 1);
}

static PyObject *hdr_items(headers_obj *h, PyObject *Py_UNUSED(x))
{
    return hdr_column(h, -1);
}

static PyObject *hdr_iter(headers_obj *h)
{
    if (h->msg)
        return PyObject_GetIter(h->msg);
    PyObject *keys = hdr_column(h, 0);
    PyObject *it = keys ? PyObject_GetIter(keys) : NULL;
    Py_XDECREF(keys);
    return it;
}

/* get(name, failobj=None) and get_all(name, failobj=None), as Message's:
 * 1 when the Message answered (*res), 0 when _Headers answers, -1 error. */
static int hdr_get_args(headers_obj *h, PyObject *args, PyObject *kw, const char *method,
                        const char *fmt, PyObject **name, PyObject **failobj, PyObject **res)
{
    static char *kwlist[] = {"name", "failobj", NULL};
    *failobj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, name, failobj))
        return -1;
    if (!h->msg)
        return 0;
    *res = PyObject_CallMethod(h->msg, method, "OO", *name, *failobj);
    return *res ? 1 : -1;
}

static PyObject *hdr_get(headers_obj *h, PyObject *args, PyObject *kw)
{
    PyObject *name, *failobj, *res = NULL;
    int rc = hdr_get_args(h, args, kw, "get", "O|O:get", &name, &failobj, &res);
    if (rc != 0)
        return res;
    PyObject *v = hdr_first(h, name);
    if (v || PyErr_Occurred())
        return v;
    return Py_NewRef(failobj);
}

static PyObject *hdr_get_all(headers_obj *h, PyObject *args, PyObject *kw)
{
    PyObject *name, *failobj, *res = NULL;
    int rc = hdr_get_args(h, args, kw, "get_all", "O|O:get_all", &name, &failobj, &res);
    if (rc != 0)
        return res;
    if (name_lowers(name) < 0)
        return NULL;
    res = PyList_New(0);
    PyObject *items = Py_NewRef(h->items);
    for (Py_ssize_t i = 0; res && i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = hdr_pair(items, i);
        int m = same_name(PyTuple_GET_ITEM(pair, 0), name);
        if (m < 0 || (m && PyList_Append(res, PyTuple_GET_ITEM(pair, 1)) < 0))
            Py_CLEAR(res);
        Py_DECREF(pair);
    }
    Py_DECREF(items);
    if (res && PyList_GET_SIZE(res) == 0) {
        Py_DECREF(res);
        return Py_NewRef(failobj);
    }
    return res;
}

/* What _Headers does not answer itself, the Message does. */
static PyObject *hdr_getattro(headers_obj *h, PyObject *name)
{
    PyObject *r = PyObject_GenericGetAttr((PyObject *)h, name);
    if (r || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return r;
    PyErr_Clear();
    PyObject *msg = hdr_message(h);
    /* its error when it has no such attribute either, as cgi.py's gives */
    return msg ? PyObject_GetAttr(msg, name) : NULL;
}

/* Setting or deleting an attribute (preamble, policy, ...) is the Message's. */
static int hdr_setattro(headers_obj *h, PyObject *name, PyObject *value)
{
    PyObject *msg = hdr_message(h);
    if (!msg)
        return -1;
    return value ? PyObject_SetAttr(msg, name, value) : PyObject_DelAttr(msg, name);
}

static PyObject *hdr_str(headers_obj *h)
{
    PyObject *msg = hdr_message(h);
    return msg ? PyObject_Str(msg) : NULL;
}

/* object.__repr__() of the Message it stands for. */
static PyObject *hdr_repr(headers_obj *h)
{
    return PyUnicode_FromFormat("<email.message.Message object at %p>", (void *)h);
}

static PyObject *hdr_call_msg(headers_obj *h, const char *method)
{
    PyObject *msg = hdr_message(h);
    return msg ? PyObject_CallMethod(msg, method, NULL) : NULL;
}

static PyObject *hdr_bytes(headers_obj *h, PyObject *Py_UNUSED(x))
{
    return hdr_call_msg(h, "__bytes__");
}

static PyObject *hdr_dir(headers_obj *h, PyObject *Py_UNUSED(x))
{
    return hdr_call_msg(h, "__dir__");
}

/* copy.copy(), copy.deepcopy() and pickle make a Message: copy.copy(msg)
 * (pickle wants an object made by __newobj__ to be of the class named). */
static PyObject *hdr_reduce_ex(headers_obj *h, PyObject *Py_UNUSED(proto))
{
    PyObject *msg = hdr_message(h);
    PyObject *copy = msg ? PyImport_ImportModule("copy") : NULL;
    PyObject *fn = copy ? PyObject_GetAttrString(copy, "copy") : NULL;
    PyObject *r = fn ? Py_BuildValue("(O(O))", fn, msg) : NULL;
    Py_XDECREF(fn);
    Py_XDECREF(copy);
    return r;
}

static int hdr_traverse(headers_obj *h, visitproc visit, void *arg)
{
    Py_VISIT(h->items);
    Py_VISIT(h->text);
    Py_VISIT(h->ops);
    Py_VISIT(h->msg);
    Py_VISIT(Py_TYPE(h));
    return 0;
}

static int hdr_clear(headers_obj *h)
{
    Py_CLEAR(h->items);
    Py_CLEAR(h->text);
    Py_CLEAR(h->ops);
    Py_CLEAR(h->msg);
    return 0;
}

static void hdr_dealloc(headers_obj *h)
{
    PyTypeObject *tp = Py_TYPE(h);
    PyObject_GC_UnTrack(h);
    hdr_clear(h);
    tp->tp_free(h);
    Py_DECREF(tp);
}

static PyMethodDef hdr_methods[] = {
    {"keys", (PyCFunction)hdr_keys, METH_NOARGS, NULL},
    {"values", (PyCFunction)hdr_values, METH_NOARGS, NULL},
    {"items", (PyCFunction)hdr_items, METH_NOARGS, NULL},
    {"get", (PyCFunction)(void (*)(void))hdr_get, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get_all", (PyCFunction)(void (*)(void))hdr_get_all, METH_VARARGS | METH_KEYWORDS, NULL},
    {"__bytes__", (PyCFunction)hdr_bytes, METH_NOARGS, NULL},
    {"__dir__", (PyCFunction)hdr_dir, METH_NOARGS, NULL},
    {"__reduce_ex__", (PyCFunction)hdr_reduce_ex, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot hdr_slots[] = {
    {Py_tp_doc, "A multipart part's headers, read as email.message.Message reads them: "
                "names are case-insensitive, all values are kept in order, and a missing "
                "name gives None. Beyond lookups, the email.message.Message that cgi.py "
                "makes of the part's header text answers."},
    {Py_tp_methods, hdr_methods},
    {Py_tp_iter, hdr_iter},
    {Py_tp_getattro, hdr_getattro},
    {Py_tp_setattro, hdr_setattro},
    {Py_tp_str, hdr_str},
    {Py_tp_repr, hdr_repr},
    {Py_mp_subscript, hdr_getitem},
    {Py_mp_ass_subscript, hdr_ass},
    {Py_mp_length, hdr_len},
    {Py_sq_contains, hdr_contains},
    {Py_tp_traverse, hdr_traverse},
    {Py_tp_clear, hdr_clear},
    {Py_tp_dealloc, hdr_dealloc},
    {0, NULL},
};

static PyType_Spec hdr_spec = {
    .name = "cgi._Headers",
    .basicsize = sizeof(headers_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = hdr_slots,
};

/* Made on the first multipart body, so that `import cgi` stays cheap. */
int cgih_multipart_add_types(PyObject *module, cgi_state *st)
{
    if (st->PartStream && st->Headers)
        return 0;
    Py_CLEAR(st->PartStream);
    Py_CLEAR(st->Headers);
    st->PartStream = (PyTypeObject *)PyType_FromModuleAndSpec(module, &stream_spec, NULL);
    if (!st->PartStream)
        return -1;
    cgih_no_instances(st->PartStream);
    st->Headers = (PyTypeObject *)PyType_FromModuleAndSpec(module, &hdr_spec, NULL);
    if (!st->Headers)
        return -1;
    cgih_no_instances(st->Headers);
    return 0;
}

int cgih_is_headers(PyObject *o)
{
    PyObject *m = cgih_cgi_module_of(Py_TYPE(o));
    if (!m) {
        PyErr_Clear();
        return 0;
    }
    PyTypeObject *h = cgih_cgi_state(m)->Headers;
    return h && Py_TYPE(o) == h;
}

/* A large body arriving through a pipe (as a web server delivers it) is read
 * in far fewer system calls when the pipe holds more than its default 64 KiB:
 * ask for 1 MiB (within /proc/sys/fs/pipe-max-size for unprivileged users).
 * Only for the real stdin-like fp and bodies of 1 MiB or more (or of unknown
 * length); failures change nothing. */
#define PIPE_WANT (1 << 20)

static void grow_pipe(PyObject *fp, long long length)
{
    if (length >= 0 && length < PIPE_WANT)
        return;
    PyObject *n = PyObject_CallMethod(fp, "fileno", NULL);
    int fd = n && PyLong_Check(n) ? (int)PyLong_AsLong(n) : -1;
    Py_XDECREF(n);
    PyErr_Clear();
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
        fcntl(fd, F_GETPIPE_SZ) < PIPE_WANT) {
        if (fcntl(fd, F_SETPIPE_SZ, PIPE_WANT) < 0) {
            /* over the limit or not ours to change: the default size works */
        }
    }
}

/* The part stream behind fp, or NULL (no error) when fp is another object. */
static stream_obj *as_stream(PyObject *fp)
{
    PyObject *m = cgih_cgi_module_of(Py_TYPE(fp));
    if (!m) {
        PyErr_Clear();
        return NULL;
    }
    PyTypeObject *ps = cgih_cgi_state(m)->PartStream;
    return ps && Py_TYPE(fp) == ps ? (stream_obj *)fp : NULL;
}

/* ---- reading parts ----------------------------------------------------------- */

static int get_int(PyObject *o, const char *name, long long *out)
{
    PyObject *v = cgih_getattr(o, name);
    if (!v)
        return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        *out = -1;
        return 1;
    }
    int rc = cgih_count(v, out);
    Py_DECREF(v);
    return rc;
}

/* *mnf -= k, as cgi.py's max_num_fields -= k (an int subclass's __isub__
 * included); k < 0 is PyObject_Size()'s error. 0, or -1 with *mnf NULL. */
static int sub_count(PyObject **mnf, Py_ssize_t k)
{
    PyObject *n = k >= 0 ? PyLong_FromSsize_t(k) : NULL;
    Py_SETREF(*mnf, n ? PyNumber_InPlaceSubtract(*mnf, n) : NULL);
    Py_XDECREF(n);
    return *mnf ? 0 : -1;
}

static int set_ll(PyObject *o, const char *name, long long v)
{
    PyObject *x = PyLong_FromLongLong(v);
    int rc = x ? cgih_setattr(o, name, x) : -1;
    Py_XDECREF(x);
    return rc;
}

/* The parts of one multipart level (depth d): cgi.py's read_multi loop. The
 * level ends at the end of the body (d == 0) or of its enclosing part. */
static int read_parts(PyObject *self, stream_obj *r, int d, PyObject *env, PyObject *kbv,
                      PyObject *strict, uint64_t level_start)
{
    PyObject *list = NULL, *klass = NULL, *mnf = NULL, *ib = NULL, *limit = NULL;
    PyObject *enc = NULL, *err = NULL, *sep = NULL;
    uint64_t missing = 0; /* bytes of read_to_eof parts, absent from bytes_read */
    int rc = -1;

    if (!(list = cgih_getattr(self, "list")) ||
        !(ib = cgih_getattr(self, "innerboundary")) ||
        !(limit = cgih_getattr(self, "limit")) ||
        !(enc = cgih_getattr(self, "encoding")) ||
        !(err = cgih_getattr(self, "errors")) ||
        !(sep = cgih_getattr(self, "separator")) ||
        !(mnf = cgih_getattr(self, "max_num_fields")))
        goto done;
    if (!(klass = cgih_getattr(self, "FieldStorageClass")))
        goto done;
    int t = PyObject_IsTrue(klass);
    if (t < 0)
        goto done;
    if (!t)
        Py_SETREF(klass, (PyObject *)Py_NewRef(Py_TYPE(self)));
    if (mnf != Py_None && sub_count(&mnf, PyObject_Size(list)) < 0)
        goto done;
    Py_XSETREF(r->encoding, Py_NewRef(enc));
    Py_XSETREF(r->errors, Py_NewRef(err));

    for (;;) {
        int ev = next_event(r);
        if (ev < 0)
            goto done;
        if (ev == EV_BODY_END) {
            /* the top level counts all it consumed, but read_to_eof bytes */
            if (set_ll(self, "bytes_read", (long long)(cgih_mp_offset(r->p) - missing)) < 0)
                goto done;
            break;
        }
        if (ev == EV_PART_END && r->ev_depth < d)
            break; /* the enclosing part ended: this level is over */
        if (ev != EV_PART_BEGIN || r->ev_depth != d) {
            PyErr_SetString(PyExc_RuntimeError, "multipart: unexpected parser event");
            goto done;
        }
        if ((ev = next_event(r)) < 0)
            goto done;
        if (ev != EV_HEADERS) {
            PyErr_SetString(PyExc_RuntimeError, "multipart: headers expected");
            goto done;
        }
        uint64_t s_off = r->hc_off[d];
        long long bytes_read = (long long)(s_off - level_start - missing);
        if (set_ll(self, "bytes_read", bytes_read) < 0)
            goto done;

        /* headers = parser.close(); del headers['content-length'] */
        PyObject *h = r->msg;
        r->msg = NULL;
        if (!h) {
            cgi_state *st = cgih_cgi_state(cgih_cgi_module_of(Py_TYPE((PyObject *)r)));
            headers_obj *hh = PyObject_GC_New(headers_obj, st->Headers);
            if (!hh)
                goto done;
            hh->items = r->headers;
            r->headers = NULL;
            hh->text = r->htext;
            r->htext = NULL;
            hh->ops = hh->msg = NULL;
            if (!hh->items && !(hh->items = PyList_New(0))) {
                Py_DECREF(hh);
                goto done;
            }
            PyObject_GC_Track(hh);
            h = (PyObject *)hh;
        }
        PyObject *cl = PyUnicode_FromString("content-length");
        int has = cl ? PySequence_Contains(h, cl) : -1;
        if (has > 0)
            has = PyObject_DelItem(h, cl);
        Py_XDECREF(cl);
        if (has < 0) {
            Py_DECREF(h);
            goto done;
        }

        PyObject *plimit;
        if (limit == Py_None) {
            plimit = Py_NewRef(Py_None);
        } else {
            PyObject *br = PyLong_FromLongLong(bytes_read);
            plimit = br ? PyNumber_Subtract(limit, br) : NULL;
            Py_XDECREF(br);
        }
        if (!plimit) {
            Py_DECREF(h);
            goto done;
        }
        r->after_headers = 1;
        r->cur_depth = d;
        uint64_t taken0 = r->eof_taken;
        PyObject *part = PyObject_CallFunctionObjArgs(klass, (PyObject *)r, h, ib,
                                                      env, kbv, strict, plimit, enc, err, mnf,
                                                      sep, NULL);
        r->after_headers = 0;
        r->cur_depth = d;
        Py_DECREF(h);
        Py_DECREF(plimit);
        if (!part || drain_part(r, d) < 0) {
            Py_XDECREF(part);
            goto done;
        }
        /* what the part's own parts read to EOF is in neither its
         * bytes_read nor ours; a part read to EOF counts nothing */
        uint64_t inner = r->eof_taken - taken0;
        long long part_read = (long long)(r->end_off[d] - s_off - inner);
        missing += inner;
        if (r->eof_part[d]) {
            missing += (uint64_t)part_read;
            r->eof_taken += (uint64_t)part_read;
            part_read = 0;
        }
        if (mnf != Py_None) {
            PyObject *plist = sub_count(&mnf, 1) == 0 ? cgih_getattr(part, "list") : NULL;
            int pt = plist ? PyObject_IsTrue(plist) : -1;
            if (pt > 0)
                (void)sub_count(&mnf, PyObject_Size(plist)); /* a failure leaves mnf NULL */
            Py_XDECREF(plist);
            PyObject *zero = PyLong_FromLong(0);
            int neg = (mnf && zero && pt >= 0) ? PyObject_RichCompareBool(mnf, zero, Py_LT) : -1;
            Py_XDECREF(zero);
            if (neg != 0) {
                if (neg > 0)
                    PyErr_SetString(PyExc_ValueError, "Max number of fields exceeded");
                Py_DECREF(part);
                goto done;
            }
        }
        /* cgi.py then reads the part's bytes_read, which a FieldStorageClass
         * that makes something else (None, a MiniFieldStorage) lacks: the
         * same AttributeError. Then the part is given what it read. */
        PyObject *probe = cgih_getattr(part, "bytes_read");
        Py_XDECREF(probe);
        if (!probe || set_ll(part, "done", r->end_done[d]) < 0 || set_ll(part, "bytes_read", part_read) < 0) {
            Py_DECREF(part);
            goto done;
        }
        bytes_read = (long long)(r->end_off[d] - level_start - missing);
        int arc = PyList_Append(list, part);
        Py_DECREF(part);
        if (arc < 0 || set_ll(self, "bytes_read", bytes_read) < 0)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(list);
    Py_XDECREF(klass);
    Py_XDECREF(mnf);
    Py_XDECREF(ib);
    Py_XDECREF(limit);
    Py_XDECREF(enc);
    Py_XDECREF(err);
    Py_XDECREF(sep);
    return rc;
}

/* read_multi after cgi.py's checks and qs_on_post fields: the parts. */
int cgih_read_multi_parts(PyObject *self, PyObject *env, PyObject *kbv, PyObject *strict)
{
    PyObject *fp = cgih_getattr(self, "fp");
    PyObject *ib = fp ? cgih_getattr(self, "innerboundary") : NULL;
    if (!ib) {
        Py_XDECREF(fp);
        return -1;
    }
    int rc = -1;
    stream_obj *nested = as_stream(fp);
    if (nested) {
        /* A part that is itself multipart: its parts follow its headers. */
        int d = nested->cur_depth;
        int pr = cgih_mp_push_boundary(nested->p, PyBytes_AS_STRING(ib),
                                       (size_t)PyBytes_GET_SIZE(ib));
        if (pr == -2) {
            mp_error(nested->p); /* the parser's own, as for its other limits */
        } else if (pr != 0) {
            PyErr_Format(PyExc_ValueError, "Invalid boundary in multipart form: %R", ib);
        } else {
            nested->after_headers = 0;
            rc = read_parts(self, nested, d + 1, env, kbv, strict, nested->hc_off[d]);
            nested->cur_depth = d;
            if (rc == 0 && nested->end_seen[d])
                rc = set_ll(self, "done", nested->end_done[d]);
        }
        goto out;
    }

    PyObject *m = cgih_cgi_module_of(Py_TYPE(self));
    if (!m)
        goto out;
    cgi_state *st = cgih_cgi_state(m);
    if (cgih_multipart_add_types(m, st) < 0)
        goto out;
    stream_obj *r = PyObject_GC_New(stream_obj, st->PartStream);
    if (!r)
        goto out;
    memset((char *)r + sizeof(PyObject), 0, sizeof *r - sizeof(PyObject));
    PyObject_GC_Track(r);
    r->fp = Py_NewRef(fp);
    r->how = read_how(fp);
    long long length, limit;
    if (get_int(self, "length", &length) < 0 || get_int(self, "limit", &limit) < 0) {
        Py_DECREF(r);
        goto out;
    }
    r->remaining = length > 0 ? length : -1;
    grow_pipe(fp, length);
    r->p = PyMem_Malloc(sizeof *r->p);
    if (!r->p) {
        PyErr_NoMemory();
        Py_DECREF(r);
        goto out;
    }
    if (cgih_mp_init(r->p, configured_settings(), PyBytes_AS_STRING(ib),
                     (size_t)PyBytes_GET_SIZE(ib)) !=
        0) {
        PyErr_Format(PyExc_ValueError, "Invalid boundary in multipart form: %R", ib);
        Py_DECREF(r);
        goto out;
    }
    cgih_mp_set_cgi_limits(r->p, limit, length);
    r->p->data = r;
    r->status = CGIH_MP_OK;
    rc = read_parts(self, r, 0, env, kbv, strict, 0);
    Py_DECREF(r);
out:
    Py_DECREF(fp);
    Py_DECREF(ib);
    return rc;
}

/* read_lines_to_outerboundary for a part handed a _PartStream: 1 when handled,
 * 0 when fp is something else, -1 on error. */
int cgih_part_read_lines(PyObject *self)
{
    PyObject *fp = cgih_getattr(self, "fp");
    if (!fp)
        return -1;
    stream_obj *r = as_stream(fp);
    if (!r) {
        Py_DECREF(fp);
        return 0;
    }
    int d = r->cur_depth, rc = -1;
    r->after_headers = 0;
    sink_t s = {.self = self};
    PyObject *bin = cgih_getattr(self, "_binary_file");
    int b = bin ? PyObject_IsTrue(bin) : -1;
    Py_XDECREF(bin);
    if (b < 0)
        goto out;
    s.binary = b;
    if (!(s.mem = cgih_getattr(self, "_FieldStorage__file")))
        goto out;
    if (s.mem == Py_None)
        Py_CLEAR(s.mem);
    if (!(s.enc = cgih_getattr(self, "encoding")) ||
        !(s.err = cgih_getattr(self, "errors")))
        goto out;
    r->sink = &s;
    rc = drain_part(r, d);
    r->sink = NULL;
    if (rc == 0)
        rc = sink_flush(&s);
    if (rc == 0)
        rc = set_ll(self, "done", r->end_done[d]);
out:
    r->sink = NULL;
    Py_XDECREF(s.mem);
    Py_XDECREF(s.enc);
    Py_XDECREF(s.err);
    Py_XDECREF(s.dec);
    PyMem_Free(s.unit.p);
    Py_DECREF(fp);
    return rc < 0 ? -1 : 1;
}

/* skip_lines for a part handed a _PartStream: the parser has already done
 * what cgi.py's skip_lines does; the part's end is consumed. 1/0/-1 as above. */
int cgih_part_skip_lines(PyObject *self)
{
    PyObject *fp = cgih_getattr(self, "fp");
    if (!fp)
        return -1;
    stream_obj *r = as_stream(fp);
    Py_DECREF(fp);
    if (!r)
        return 0;
    int d = r->cur_depth;
    r->after_headers = 0;
    if (drain_part(r, d) < 0 || set_ll(self, "done", r->end_done[d]) < 0)
        return -1;
    return 1;
}
