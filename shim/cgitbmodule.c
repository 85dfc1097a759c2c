/* cgitbmodule.c: the built-in `cgitb` module, a port of CPython 3.11's
 * Lib/cgitb.py to C.
 *
 * The reports (html(), text(), Hook.handle()) produce the same text as
 * cgitb.py for the same exception, and call the same helpers to do it
 * (inspect, linecache, pydoc, tokenize, keyword, traceback, time, tempfile).
 * Those are imported only when a report is made: importing cgitb and calling
 * enable() import nothing. No DeprecationWarning is raised.
 *
 * One deliberate difference, in reset(): see the comment above RESET_TEXT.
 *
 * Hook.handle() looks up reset, html and text in the module at call time, as
 * cgitb.py's globals are, so a script that replaces cgitb.reset is honoured;
 * enable() likewise calls the module's current Hook.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include "cgi_internal.h" /* cgih_bind_args: CPython's argument errors */
#include "pycompat.h"
#include "shim.h"

typedef struct {
    PyTypeObject *Hook;
    PyObject *undef;         /* __UNDEF__, the list cgitb.py uses as a sentinel */
    PyObject *handler_hook;  /* the Hook behind the module's `handler` */
    PyObject *import_stdout; /* sys.__stdout__ when the module was made, or NULL */
    PyObject *html_escape;   /* html.escape when the module was made, where html was
                                loaded (cgitb.py's `from html import escape as
                                html_escape`), else NULL: html's own, reproduced */
} cgitb_state;

static PyModuleDef cgitb_module;

static cgitb_state *get_state(PyObject *module)
{
    return (cgitb_state *)PyModule_GetState(module);
}

/* ---- small helpers ---------------------------------------------------------- */

/* Attribute names are interned, as Python code's identifiers are: a fresh
 * string per lookup would take a new slot in CPython's type method cache
 * each time (it keys on the name's address), evicting useful entries. */
static PyObject *getattr_s(PyObject *o, const char *name)
{
    PyObject *n = PyUnicode_InternFromString(name);
    if (!n)
        return NULL;
    PyObject *r = PyObject_GetAttr(o, n);
    Py_DECREF(n);
    return r;
}

static int setattr_s(PyObject *o, const char *name, PyObject *v)
{
    PyObject *n = PyUnicode_InternFromString(name);
    if (!n)
        return -1;
    int r = PyObject_SetAttr(o, n, v);
    Py_DECREF(n);
    return r;
}

/* o.name(*args), args from Py_BuildValue(fmt, ...) as PyObject_CallMethod
 * takes them (fmt NULL: no arguments). */
static PyObject *call_method(PyObject *o, const char *name, const char *fmt, ...)
{
    PyObject *m = getattr_s(o, name), *args, *r = NULL;
    if (!m)
        return NULL;
    if (fmt) {
        va_list va;
        va_start(va, fmt);
        args = Py_VaBuildValue(fmt, va);
        va_end(va);
        if (args && !PyTuple_Check(args))
            Py_SETREF(args, PyTuple_Pack(1, args));
    } else {
        args = PyTuple_New(0);
    }
    if (args)
        r = PyObject_Call(m, args, NULL);
    Py_XDECREF(args);
    Py_DECREF(m);
    return r;
}

/* `fmt % args`, with Python's semantics (args a tuple or one object). */
static PyObject *pyfmt(const char *fmt, PyObject *args)
{
    PyObject *f = PyUnicode_FromString(fmt);
    if (!f)
        return NULL;
    PyObject *r = PyUnicode_Format(f, args);
    Py_DECREF(f);
    return r;
}

/* `fmt % (a, b)`. */
static PyObject *pyfmt2(const char *fmt, PyObject *a, PyObject *b)
{
    PyObject *t = PyTuple_Pack(2, a, b);
    if (!t)
        return NULL;
    PyObject *r = pyfmt(fmt, t);
    Py_DECREF(t);
    return r;
}

/* `a + b` for a C string a and an object b, or the reverse (`+` semantics). */
static PyObject *cat_sl(const char *a, PyObject *b)
{
    PyObject *s = PyUnicode_FromString(a);
    if (!s)
        return NULL;
    PyObject *r = PyNumber_Add(s, b);
    Py_DECREF(s);
    return r;
}

static PyObject *cat_sr(PyObject *a, const char *b)
{
    PyObject *s = PyUnicode_FromString(b);
    if (!s)
        return NULL;
    PyObject *r = PyNumber_Add(a, s);
    Py_DECREF(s);
    return r;
}

/* `sep.join(items)`. */
static PyObject *join(const char *sep, PyObject *items)
{
    PyObject *s = PyUnicode_FromString(sep);
    if (!s)
        return NULL;
    PyObject *r = PyUnicode_Join(s, items);
    Py_DECREF(s);
    return r;
}

/* `a == b` (op Py_EQ) or `a != b` for a C string b: 1, 0, or -1 on error. */
static int cmp_str(PyObject *a, const char *b, int op)
{
    PyObject *s = PyUnicode_FromString(b);
    if (!s)
        return -1;
    int r = PyObject_RichCompareBool(a, s, op);
    Py_DECREF(s);
    return r;
}

/* getattr(import module, name). */
static PyObject *import_attr(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module);
    if (!m)
        return NULL;
    PyObject *a = getattr_s(m, name);
    Py_DECREF(m);
    return a;
}

/* getattr(getattr(import module, obj), name): pydoc.html.repr and the like. */
static PyObject *import_attr2(const char *module, const char *obj, const char *name)
{
    PyObject *o = import_attr(module, obj);
    if (!o)
        return NULL;
    PyObject *a = getattr_s(o, name);
    Py_DECREF(o);
    return a;
}

/* name(a, b, c) for the global `name` (a new reference). */
static PyObject *call_global3(PyObject *module, const char *name, PyObject *a, PyObject *b,
                              PyObject *c)
{
    PyObject *f = cgih_load_global(module, name);
    if (!f)
        return NULL;
    PyObject *r = PyObject_CallFunctionObjArgs(f, a, b, c, NULL);
    Py_DECREF(f);
    return r;
}

/* name(arg) for the global `name` (a new reference). */
static PyObject *call_global(PyObject *module, const char *name, PyObject *arg)
{
    PyObject *f = cgih_load_global(module, name);
    if (!f)
        return NULL;
    PyObject *r = PyObject_CallOneArg(f, arg);
    Py_DECREF(f);
    return r;
}

/* ---- reset, small, strong, grey ------------------------------------------- */

/* reset(): the stdlib's first line is "<!--: spam", which Apache 2.4 rejects as
 * a header whose name has invalid characters (AH02429): a script that crashes
 * before printing its headers then gets a 500, not the report. Ours is valid in
 * every state the output can be in when the report starts:
 *
 *  1. Nothing sent yet: "X-Cgitb: <!--" is a legal header (token name, any
 *     value), "Content-Type: text/html" follows and the blank line ends the
 *     headers. The body starts like the stdlib's; its "-->" leftovers are drawn
 *     in the background colour at size -5, as in the stdlib.
 *  2. In the middle of the headers (some header lines sent, no blank line):
 *     the same two lines simply extend the header block; a Content-Type the
 *     script already sent is overridden (Apache keeps the last one). If the
 *     crash came in the middle of a header line, "X-Cgitb: <!--" is appended
 *     to it, and "Content-Ty" + "X-Cgitb: <!--" is still a "Name: value" line.
 *  3. Headers and some body sent: the report lands in the HTML body. "<!--" at
 *     the end of the first line opens a comment that hides the header lines up
 *     to the "-->" on the first <body> line, exactly the stdlib's trick, so the
 *     only difference from the stdlib there is the text "X-Cgitb:" at the top
 *     of the report. (A token cannot start with "<", so no header name can be
 *     an HTML comment opener; that word is the price of a valid header.)
 */
static const char RESET_TEXT[] =
    "X-Cgitb: <!--\n"
    "Content-Type: text/html\n"
    "\n"
    "<body bgcolor=\"#f0f0f8\"><font color=\"#f0f0f8\" size=\"-5\"> -->\n"
    "<body bgcolor=\"#f0f0f8\"><font color=\"#f0f0f8\" size=\"-5\"> --> -->\n"
    "</font> </font> </font> </script> </object> </blockquote> </pre>\n"
    "</table> </table> </table> </table> </table> </font> </font> </font>";

static PyObject *cgitb_reset(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    if (cgih_bind_args("reset", 0, args, kw, NULL, 0, 0, NULL) < 0)
        return NULL;
    return PyUnicode_FromStringAndSize(RESET_TEXT, sizeof RESET_TEXT - 1);
}

/* `open + text + close if text else ''`, as small()/strong()/grey() do. */
static PyObject *wrap(PyObject *text, const char *open, const char *close)
{
    int t = PyObject_IsTrue(text);
    if (t < 0)
        return NULL;
    if (!t)
        return PyUnicode_FromString("");
    PyObject *a = cat_sl(open, text);
    if (!a)
        return NULL;
    PyObject *r = cat_sr(a, close);
    Py_DECREF(a);
    return r;
}

static PyObject *small(PyObject *text)
{
    return wrap(text, "<small>", "</small>");
}

static PyObject *strong(PyObject *text)
{
    return wrap(text, "<strong>", "</strong>");
}

static PyObject *grey(PyObject *text)
{
    return wrap(text, "<font color=\"#909090\">", "</font>");
}

static const char *const text_names[] = {"text"};

static PyObject *cgitb_small(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    PyObject *text;
    return cgih_bind_args("small", 0, args, kw, text_names, 1, 1, &text) < 0 ? NULL : small(text);
}

static PyObject *cgitb_strong(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    PyObject *text;
    return cgih_bind_args("strong", 0, args, kw, text_names, 1, 1, &text) < 0 ? NULL : strong(text);
}

static PyObject *cgitb_grey(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    PyObject *text;
    return cgih_bind_args("grey", 0, args, kw, text_names, 1, 1, &text) < 0 ? NULL : grey(text);
}

/* ---- lookup, scanvars ------------------------------------------------------- */

/* (where, value) for `where` a C string or NULL for None. */
static PyObject *where_value(const char *where, PyObject *value)
{
    if (!value)
        return NULL;
    PyObject *r = where ? Py_BuildValue("(sO)", where, value) : PyTuple_Pack(2, Py_None, value);
    Py_DECREF(value);
    return r;
}

static PyObject *lookup(cgitb_state *st, PyObject *name, PyObject *frame, PyObject *locals)
{
    int has = PySequence_Contains(locals, name);
    if (has < 0)
        return NULL;
    if (has)
        return where_value("local", PyObject_GetItem(locals, name));

    PyObject *globals = getattr_s(frame, "f_globals");
    if (!globals)
        return NULL;
    PyObject *res = NULL, *builtins = NULL;
    if ((has = PySequence_Contains(globals, name)) < 0)
        goto done;
    if (has) {
        res = where_value("global", PyObject_GetItem(globals, name));
        goto done;
    }
    PyObject *key = PyUnicode_FromString("__builtins__");
    if (!key)
        goto done;
    has = PySequence_Contains(globals, key);
    if (has > 0)
        builtins = PyObject_GetItem(globals, key);
    Py_DECREF(key);
    if (has < 0 || (has && !builtins))
        goto done;
    if (builtins && PyDict_CheckExact(builtins)) {
        if ((has = PySequence_Contains(builtins, name)) < 0)
            goto done;
        if (has) {
            res = where_value("builtin", PyObject_GetItem(builtins, name));
            goto done;
        }
    } else if (builtins) {
        /* hasattr() then getattr(): one lookup, AttributeError meaning no. */
        PyObject *v = PyObject_GetAttr(builtins, name);
        if (v) {
            res = where_value("builtin", v);
            goto done;
        }
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            goto done;
        PyErr_Clear();
    }
    Py_INCREF(st->undef);
    res = where_value(NULL, st->undef);
done:
    Py_XDECREF(builtins);
    Py_DECREF(globals);
    return res;
}

static PyObject *cgitb_lookup(PyObject *module, PyObject *args, PyObject *kwds)
{
    static const char *const names[] = {"name", "frame", "locals"};
    PyObject *av[3];
    if (cgih_bind_args("lookup", 0, args, kwds, names, 3, 3, av) < 0)
        return NULL;
    return lookup(get_state(module), av[0], av[1], av[2]);
}

/* A port of scanvars(): the names of one logical line, tokenized from
 * reader(), with what lookup() (or getattr() after a '.') finds for them. */
static PyObject *scanvars(PyObject *module, PyObject *reader, PyObject *frame, PyObject *locals)
{
    cgitb_state *st = get_state(module);
    PyObject *vars = NULL, *lasttoken = Py_NewRef(Py_None), *parent = Py_NewRef(Py_None);
    PyObject *prefix = NULL, *value = Py_NewRef(st->undef);
    PyObject *tokenize = NULL, *kwlist = NULL, *NEWLINE = NULL, *NAME = NULL, *tokens = NULL;
    PyObject *it = NULL, *tok = NULL, *res = NULL;
    PyObject *f[5] = {NULL, NULL, NULL, NULL, NULL};

    if (!(prefix = PyUnicode_FromString("")) || !(vars = PyList_New(0)))
        goto done;
    if (!(tokenize = PyImport_ImportModule("tokenize")) ||
        !(kwlist = import_attr("keyword", "kwlist")) ||
        !(NEWLINE = getattr_s(tokenize, "NEWLINE")) || !(NAME = getattr_s(tokenize, "NAME")))
        goto done;
    if (!(tokens = call_method(tokenize, "generate_tokens", "O", reader)) ||
        !(it = PyObject_GetIter(tokens)))
        goto done;
    while ((tok = PyIter_Next(it))) {
        if (cgih_unpack(tok, 5, f) < 0)
            goto done;
        PyObject *ttype = f[0], *token = f[1];
        int r = PyObject_RichCompareBool(ttype, NEWLINE, Py_EQ);
        if (r < 0)
            goto done;
        if (r)
            break;
        int is_name = PyObject_RichCompareBool(ttype, NAME, Py_EQ);
        if (is_name < 0)
            goto done;
        if (is_name) {
            int kw = PySequence_Contains(kwlist, token);
            if (kw < 0)
                goto done;
            is_name = !kw;
        }
        if (is_name) {
            int after_dot = cmp_str(lasttoken, ".", Py_EQ);
            if (after_dot < 0)
                goto done;
            PyObject *item = NULL;
            if (after_dot) {
                if (parent != st->undef) {
                    PyObject *v = PyObject_GetAttr(parent, token);
                    if (!v) {
                        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                            goto done;
                        PyErr_Clear();
                        v = Py_NewRef(st->undef);
                    }
                    Py_SETREF(value, v);
                    PyObject *full = PyNumber_Add(prefix, token);
                    if (!full)
                        goto done;
                    item = PyTuple_Pack(3, full, prefix, value);
                    Py_DECREF(full);
                    if (!item)
                        goto done;
                }
            } else {
                /* where, value = lookup(token, frame, locals): the global */
                PyObject *wv = call_global3(module, "lookup", token, frame, locals), *wvv[2];
                int u = wv ? cgih_unpack(wv, 2, wvv) : -1;
                Py_XDECREF(wv);
                if (u < 0)
                    goto done;
                Py_SETREF(value, wvv[1]);
                item = PyTuple_Pack(3, token, wvv[0], value);
                Py_DECREF(wvv[0]);
                if (!item)
                    goto done;
            }
            if (item) {
                int rc = PyList_Append(vars, item);
                Py_DECREF(item);
                if (rc < 0)
                    goto done;
            }
        } else {
            int dot = cmp_str(token, ".", Py_EQ);
            if (dot < 0)
                goto done;
            if (dot) {
                PyObject *p = cat_sr(lasttoken, ".");
                if (!p)
                    goto done;
                Py_SETREF(prefix, PyNumber_InPlaceAdd(prefix, p));
                Py_DECREF(p);
                if (!prefix)
                    goto done;
                Py_SETREF(parent, Py_NewRef(value));
            } else {
                Py_SETREF(parent, Py_NewRef(Py_None));
                Py_SETREF(prefix, PyUnicode_FromString(""));
                if (!prefix)
                    goto done;
            }
        }
        Py_SETREF(lasttoken, Py_NewRef(token));
        for (int i = 0; i < 5; i++)
            Py_CLEAR(f[i]);
        Py_CLEAR(tok);
    }
    if (!PyErr_Occurred())
        res = Py_NewRef(vars);
done:
    for (int i = 0; i < 5; i++)
        Py_XDECREF(f[i]);
    Py_XDECREF(tok);
    Py_XDECREF(it);
    Py_XDECREF(tokens);
    Py_XDECREF(NAME);
    Py_XDECREF(NEWLINE);
    Py_XDECREF(kwlist);
    Py_XDECREF(tokenize);
    Py_XDECREF(value);
    Py_XDECREF(prefix);
    Py_XDECREF(parent);
    Py_XDECREF(lasttoken);
    Py_XDECREF(vars);
    return res;
}

static PyObject *cgitb_scanvars(PyObject *module, PyObject *args, PyObject *kwds)
{
    static const char *const names[] = {"reader", "frame", "locals"};
    PyObject *av[3];
    if (cgih_bind_args("scanvars", 0, args, kwds, names, 3, 3, av) < 0)
        return NULL;
    return scanvars(module, av[0], av[1], av[2]);
}

/* ---- the reports: html() and text() ----------------------------------------- */

/* s with U+00A0 replaced by `with` (a new reference), or NULL. The HTML
 * report shows it as "&nbsp;" (an extension of cgitb.py's HTML): a line that
 * cgihost ran with no-break spaces for spaces shows as a copy fixed by hand
 * shows, and one holding them in its strings or comments shows them
 * whatever charset the browser guesses for a page that names none (as
 * hello.py's), where the raw bytes came out as "\u00c2\u00a0" in
 * windows-1252. */
static PyObject *nbsp_as(PyObject *s, const char *with)
{
    Py_ssize_t at = PyUnicode_FindChar(s, 0xa0, 0, PyUnicode_GET_LENGTH(s), 1);
    if (at < 0)
        return at == -1 ? Py_NewRef(s) : NULL;
    PyObject *a = PyUnicode_FromOrdinal(0xa0), *b = PyUnicode_FromString(with);
    PyObject *r = a && b ? PyUnicode_Replace(s, a, b, -1) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return r;
}

/* The reader() closure of html()/text(): self is the list
 * [highlight, lnum, file, getline]; each call marks lnum, returns
 * linecache.getline(file, lnum) and moves lnum on, even on error. (Python
 * code can reach the list, as reader.__self__, and change it, also while
 * the calls below run: its items are held here.) */
static PyObject *reader_call(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (!PyList_Check(self) || PyList_GET_SIZE(self) != 4) {
        PyErr_SetString(PyExc_RuntimeError, "cgitb: the reader's state was changed");
        return NULL;
    }
    PyObject *one = PyLong_FromLong(1);
    if (!one)
        return NULL;
    PyObject *highlight = Py_NewRef(PyList_GET_ITEM(self, 0));
    PyObject *file = Py_NewRef(PyList_GET_ITEM(self, 2));
    PyObject *getline = Py_NewRef(PyList_GET_ITEM(self, 3));
    PyObject *lnum = Py_NewRef(PyList_GET_ITEM(self, 1)), *line = NULL;
    /* try: highlight[lnum] = 1; return getline(file, lnum) */
    if (PyObject_SetItem(highlight, lnum, one) == 0)
        line = PyObject_CallFunctionObjArgs(getline, file, lnum, NULL);
    /* The tokenizer reads a line that cgihost ran with no-break spaces for
     * spaces as a copy fixed by hand reads (3.12's C tokenizer made a name
     * of "\u00a0\u00a0return"); elsewhere, in strings and comments, what
     * it finds is the same either way. */
    if (line && PyUnicode_Check(line))
        Py_SETREF(line, nbsp_as(line, " "));
    /* finally: lnum += 1 -- with the try's exception, if any, put aside */
    PyObject *exc = line ? NULL : PyErr_GetRaisedException_compat();
    PyObject *next = PyNumber_Add(lnum, one);
    if (next && PyList_SetItem(self, 1, next) == 0) { /* steals next */
        if (exc)
            PyErr_SetRaisedException_compat(exc);
    } else {
        /* the finally clause failed: its exception wins, as in Python */
        Py_XDECREF(exc);
        Py_CLEAR(line);
    }
    Py_DECREF(lnum);
    Py_DECREF(getline);
    Py_DECREF(file);
    Py_DECREF(highlight);
    Py_DECREF(one);
    return line;
}

static PyMethodDef reader_def = {"reader", reader_call, METH_NOARGS, NULL};

/* The formatvalue lambda: '=' + repr(value), self being pydoc's repr. */
static PyObject *formatvalue_call(PyObject *repr, PyObject *value)
{
    PyObject *r = PyObject_CallOneArg(repr, value);
    if (!r)
        return NULL;
    PyObject *s = cat_sl("=", r);
    Py_DECREF(r);
    return s;
}

static PyMethodDef formatvalue_def = {"<lambda>", formatvalue_call, METH_O, NULL};

/* Modules cgitb.py imports with itself, imported here when a report
 * first needs them, with room above the recursion limit for the imports'
 * own frames: cgitb.py has them from its import, at the top of the script,
 * and its report runs as deep in the stack as the handler's caller left it
 * (a handler called 950 frames deep, a script that lowered the limit to
 * 60). Without the room, the import fails there with RecursionError and
 * the report is the plain traceback where cgitb.py's is a report. Imported
 * modules cost a dict lookup each. */
static int import_with_room(const char *const names[], size_t n)
{
    int limit = Py_GetRecursionLimit(), rc = 0;
    Py_SetRecursionLimit(limit <= INT_MAX - 200 ? limit + 200 : INT_MAX);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        PyObject *m = PyImport_ImportModule(names[i]);
        if (!m)
            rc = -1;
        Py_XDECREF(m);
    }
    Py_SetRecursionLimit(limit);
    return rc;
}

/* Those a report needs. */
static int import_report_modules(void)
{
    static const char *const names[] = {"inspect", "keyword",  "linecache", "pydoc",
                                        "time",    "tokenize", "traceback"};
    return import_with_room(names, sizeof names / sizeof names[0]);
}

/* What a report needs from the lazily imported modules. */
typedef struct {
    int html;
    cgitb_state *st;
    PyObject *module; /* cgitb, borrowed: small, strong, grey, scanvars are its globals */
    PyObject *indent; /* '<tt>' + small('&nbsp;' * 5) + '&nbsp;</tt>' (html only) */
    PyObject *inspect, *getline, *abspath;
    PyObject *repr;      /* pydoc.html.repr or pydoc.text.repr */
    PyObject *escape;    /* pydoc.html.escape (html only) */
    PyObject *preformat; /* pydoc.html.preformat (html only) */
    PyObject *formatvalue;
    PyObject *one;
} report;

static void report_clear(report *r)
{
    Py_CLEAR(r->inspect);
    Py_CLEAR(r->getline);
    Py_CLEAR(r->abspath);
    Py_CLEAR(r->repr);
    Py_CLEAR(r->escape);
    Py_CLEAR(r->preformat);
    Py_CLEAR(r->formatvalue);
    Py_CLEAR(r->one);
    Py_CLEAR(r->indent);
}

static int report_init(report *r, PyObject *module, int html)
{
    const char *doc = html ? "html" : "text";
    r->html = html;
    r->module = module;
    r->st = get_state(module);
    if (!(r->inspect = PyImport_ImportModule("inspect")) ||
        !(r->getline = import_attr("linecache", "getline")) ||
        !(r->abspath = import_attr2("os", "path", "abspath")) ||
        !(r->repr = import_attr2("pydoc", doc, "repr")) ||
        !(r->formatvalue = PyCFunction_New(&formatvalue_def, r->repr)) ||
        !(r->one = PyLong_FromLong(1)))
        goto fail;
    if (html && (!(r->escape = import_attr2("pydoc", "html", "escape")) ||
                 !(r->preformat = import_attr2("pydoc", "html", "preformat"))))
        goto fail;
    return 0;
fail:
    report_clear(r);
    return -1;
}

/* 'Python X.Y.Z: ' + sys.executable + the time.ctime() date, as the head of
 * both reports shows them. */
static int version_and_date(PyObject **pyver, PyObject **date)
{
    *pyver = *date = NULL;
    /* In cgitb.py's order, each read when it is used: a str subclass's
     * split() (or a finalizer) can replace sys.executable meanwhile, so
     * neither is held borrowed across a call. */
    PyObject *version = cgih_sys_attr("version");
    if (!version)
        return -1;
    PyObject *parts = call_method(version, "split", NULL), *v = NULL, *a = NULL;
    Py_DECREF(version);
    if (parts)
        v = PySequence_GetItem(parts, 0);
    Py_XDECREF(parts);
    if (v)
        a = cat_sl("Python ", v);
    Py_XDECREF(v);
    if (!a)
        return -1;
    PyObject *b = cat_sr(a, ": ");
    Py_DECREF(a);
    if (!b)
        return -1;
    PyObject *executable = cgih_sys_attr("executable");
    *pyver = executable ? PyNumber_Add(b, executable) : NULL;
    Py_XDECREF(executable);
    Py_DECREF(b);
    if (!*pyver)
        return -1;
    PyObject *time = PyImport_ImportModule("time"), *now = NULL;
    if (time && (now = call_method(time, "time", NULL)))
        *date = call_method(time, "ctime", "O", now);
    Py_XDECREF(now);
    Py_XDECREF(time);
    if (!*date) {
        Py_CLEAR(*pyver);
        return -1;
    }
    return 0;
}

/* The line "in func(args)" of one frame. */
static PyObject *frame_call(report *r, PyObject *func, PyObject *argvalues)
{
    int ne = cmp_str(func, "?", Py_NE);
    if (ne <= 0)
        return ne < 0 ? NULL : PyUnicode_FromString("");
    PyObject *call = NULL;
    if (r->html) {
        PyObject *e = PyObject_CallOneArg(r->escape, func), *s = NULL;
        if (e && (s = call_global(r->module, "strong", e)))
            call = cat_sl("in ", s);
        Py_XDECREF(e);
        Py_XDECREF(s);
    } else {
        call = cat_sl("in ", func);
    }
    if (!call)
        return NULL;
    int notmod = cmp_str(func, "<module>", Py_NE);
    if (notmod <= 0)
        return notmod < 0 ? (Py_DECREF(call), NULL) : call;
    PyObject *fav = getattr_s(r->inspect, "formatargvalues"), *a = NULL, *kw = NULL;
    PyObject *s = NULL;
    if (fav && (a = PySequence_Tuple(argvalues)) &&
        (kw = Py_BuildValue("{sO}", "formatvalue", r->formatvalue)))
        s = PyObject_Call(fav, a, kw);
    Py_XDECREF(fav);
    Py_XDECREF(a);
    Py_XDECREF(kw);
    if (!s) {
        Py_DECREF(call);
        return NULL;
    }
    Py_SETREF(call, PyNumber_InPlaceAdd(call, s));
    Py_DECREF(s);
    return call;
}

/* One source line of a frame's context, appended to rows. */
static int context_row(report *r, PyObject *rows, PyObject *i, PyObject *line, PyObject *highlight)
{
    PyObject *row = NULL;
    if (r->html) {
        /* small('&nbsp;' * (5-len(str(i))) + str(i)) + '&nbsp;' */
        PyObject *si = PyObject_Str(i), *pad = NULL, *padded = NULL, *sm = NULL, *num = NULL;
        PyObject *pre = NULL, *tt = NULL;
        if (!si)
            return -1;
        Py_ssize_t n = 5 - PyUnicode_GET_LENGTH(si);
        PyObject *nb = PyUnicode_FromString("&nbsp;");
        if (nb)
            pad = PySequence_Repeat(nb, n > 0 ? n : 0);
        Py_XDECREF(nb);
        if (pad && (padded = PyNumber_Add(pad, si)) &&
            (sm = call_global(r->module, "small", padded)))
            num = cat_sr(sm, "&nbsp;");
        Py_DECREF(si);
        Py_XDECREF(pad);
        Py_XDECREF(padded);
        Py_XDECREF(sm);
        if (!num)
            return -1;
        int hl = PySequence_Contains(highlight, i);
        if (hl >= 0 && (pre = PyObject_CallOneArg(r->preformat, line)) && PyUnicode_Check(pre))
            Py_SETREF(pre, nbsp_as(pre, "&nbsp;"));
        if (pre) {
            tt = pyfmt2(hl ? "<tt>=&gt;%s%s</tt>" : "<tt>&nbsp;&nbsp;%s%s</tt>", num, pre);
            if (tt && hl) {
                row = pyfmt("<tr><td bgcolor=\"#ffccee\">%s</td></tr>", tt);
            } else if (tt) {
                PyObject *g = call_global(r->module, "grey", tt);
                if (g)
                    row = pyfmt("<tr><td>%s</td></tr>", g);
                Py_XDECREF(g);
            }
        }
        Py_DECREF(num);
        Py_XDECREF(pre);
        Py_XDECREF(tt);
    } else {
        PyObject *num = pyfmt("%5d ", i), *stripped = NULL;
        if (num && (stripped = call_method(line, "rstrip", NULL)))
            row = PyNumber_Add(num, stripped);
        Py_XDECREF(num);
        Py_XDECREF(stripped);
    }
    if (!row)
        return -1;
    int rc = PyList_Append(rows, row);
    Py_DECREF(row);
    return rc;
}

/* One entry of the variable dump: the name decorated by where it was found. */
static PyObject *dump_entry(report *r, PyObject *name, PyObject *where, PyObject *value)
{
    if (value == r->st->undef)
        return cat_sr(name, r->html ? " <em>undefined</em>" : " undefined");
    PyObject *label = NULL;
    int is_global = cmp_str(where, "global", Py_EQ);
    int is_builtin = is_global == 0 ? cmp_str(where, "builtin", Py_EQ) : 0;
    int is_local = (is_global == 0 && is_builtin == 0) ? cmp_str(where, "local", Py_EQ) : 0;
    if (is_global < 0 || is_builtin < 0 || is_local < 0)
        return NULL;
    if (r->html) {
        if (is_global || is_builtin) {
            PyObject *em = pyfmt("<em>%s</em> ", where), *s = NULL;
            if (em && (s = call_global(r->module, "strong", name)))
                label = PyNumber_Add(em, s);
            Py_XDECREF(em);
            Py_XDECREF(s);
        } else if (is_local) {
            label = call_global(r->module, "strong", name);
        } else {
            PyObject *last = NULL, *s = NULL;
            PyObject *parts = call_method(name, "split", "s", ".");
            if (parts && (last = PySequence_GetItem(parts, -1)) &&
                (s = call_global(r->module, "strong", last)))
                label = PyNumber_Add(where, s);
            Py_XDECREF(parts);
            Py_XDECREF(last);
            Py_XDECREF(s);
        }
    } else {
        if (is_global) {
            label = cat_sl("global ", name);
        } else if (!is_local) {
            PyObject *last = NULL;
            PyObject *parts = call_method(name, "split", "s", ".");
            if (parts && (last = PySequence_GetItem(parts, -1)))
                label = PyNumber_Add(where, last);
            Py_XDECREF(parts);
            Py_XDECREF(last);
        } else {
            label = Py_NewRef(name);
        }
    }
    if (!label)
        return NULL;
    PyObject *rv = PyObject_CallOneArg(r->repr, value), *res = NULL;
    if (rv)
        res = pyfmt2(r->html ? "%s&nbsp;= %s" : "%s = %s", label, rv);
    Py_DECREF(label);
    Py_XDECREF(rv);
    return res;
}

/* The variable dump row of one frame, appended to rows. */
static int dump_row(report *r, PyObject *rows, PyObject *vars)
{
    PyObject *done = PyDict_New(), *dump = PyList_New(0), *it = NULL, *v = NULL;
    PyObject *joined = NULL, *row = NULL;
    PyObject *f[3] = {NULL, NULL, NULL};
    int rc = -1;
    if (!done || !dump || !(it = PyObject_GetIter(vars)))
        goto done;
    while ((v = PyIter_Next(it))) {
        if (cgih_unpack(v, 3, f) < 0)
            goto done;
        int seen = PySequence_Contains(done, f[0]);
        if (seen < 0)
            goto done;
        if (!seen) {
            if (PyObject_SetItem(done, f[0], r->one) < 0)
                goto done;
            PyObject *e = dump_entry(r, f[0], f[1], f[2]);
            if (!e)
                goto done;
            int a = PyList_Append(dump, e);
            Py_DECREF(e);
            if (a < 0)
                goto done;
        }
        for (int i = 0; i < 3; i++)
            Py_CLEAR(f[i]);
        Py_CLEAR(v);
    }
    if (PyErr_Occurred() || !(joined = join(r->html ? ", " : "\n", dump)))
        goto done;
    if (r->html) {
        PyObject *g = call_global(r->module, "grey", joined), *s = NULL;
        if (g && (s = call_global(r->module, "small", g)))
            row = pyfmt("<tr><td>%s</td></tr>", s);
        Py_XDECREF(g);
        Py_XDECREF(s);
    } else {
        row = Py_NewRef(joined);
    }
    if (row)
        rc = PyList_Append(rows, row);
done:
    for (int i = 0; i < 3; i++)
        Py_XDECREF(f[i]);
    Py_XDECREF(v);
    Py_XDECREF(it);
    Py_XDECREF(row);
    Py_XDECREF(joined);
    Py_XDECREF(dump);
    Py_XDECREF(done);
    return rc;
}

/* The section of one record of inspect.getinnerframes(). */
static PyObject *frame_section(report *r, PyObject *record)
{
    PyObject *rec[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    PyObject *file = NULL, *link = NULL, *argvalues = NULL, *locals = NULL, *call = NULL;
    PyObject *highlight = NULL, *state = NULL, *reader = NULL, *vars = NULL, *rows = NULL;
    PyObject *row = NULL, *i = NULL, *it = NULL, *line = NULL, *joined = NULL, *res = NULL;
    if (cgih_unpack(record, 6, rec) < 0)
        return NULL;
    PyObject *frame = rec[0], *lnum = rec[2], *func = rec[3], *lines = rec[4], *index = rec[5];

    int has_file = PyObject_IsTrue(rec[1]);
    if (has_file < 0)
        goto done;
    if (has_file) {
        if (!(file = PyObject_CallOneArg(r->abspath, rec[1])))
            goto done;
        if (r->html) {
            PyObject *e = PyObject_CallOneArg(r->escape, file);
            if (!e)
                goto done;
            link = pyfmt2("<a href=\"file://%s\">%s</a>", file, e);
            Py_DECREF(e);
            if (!link)
                goto done;
        } else {
            /* file and abspath(file) or '?' */
            int t = PyObject_IsTrue(file);
            if (t < 0)
                goto done;
            if (!t)
                Py_SETREF(file, PyUnicode_FromString("?"));
        }
    } else {
        file = PyUnicode_FromString("?");
        link = Py_XNewRef(file);
    }
    if (!file)
        goto done;

    PyObject *av[4] = {NULL, NULL, NULL, NULL};
    if (!(argvalues = call_method(r->inspect, "getargvalues", "O", frame)) ||
        cgih_unpack(argvalues, 4, av) < 0)
        goto done;
    locals = Py_NewRef(av[3]);
    for (int k = 0; k < 4; k++)
        Py_DECREF(av[k]);
    if (!(call = frame_call(r, func, argvalues)))
        goto done;

    if (!(highlight = PyDict_New()) || !(state = PyList_New(4)))
        goto done;
    PyList_SET_ITEM(state, 0, Py_NewRef(highlight));
    PyList_SET_ITEM(state, 1, Py_NewRef(lnum));
    PyList_SET_ITEM(state, 2, Py_NewRef(file));
    PyList_SET_ITEM(state, 3, Py_NewRef(r->getline));
    if (!(reader = PyCFunction_New(&reader_def, state)) ||
        !(vars = call_global3(r->module, "scanvars", reader, frame, locals)))
        goto done;

    if (r->html)
        row = PyUnicode_FromFormat("<tr><td bgcolor=\"#d8bbff\"><big>&nbsp;</big>%S %S</td></tr>",
                                   link, call);
    else
        row = pyfmt2(" %s %s", file, call);
    if (!row || !(rows = PyList_New(0)) || PyList_Append(rows, row) < 0)
        goto done;
    if (index != Py_None) {
        if (!(i = PyNumber_Subtract(lnum, index)) || !(it = PyObject_GetIter(lines)))
            goto done;
        while ((line = PyIter_Next(it))) {
            if (context_row(r, rows, i, line, highlight) < 0)
                goto done;
            Py_SETREF(i, PyNumber_InPlaceAdd(i, r->one));
            if (!i)
                goto done;
            Py_CLEAR(line);
        }
        if (PyErr_Occurred())
            goto done;
    }
    if (dump_row(r, rows, vars) < 0 || !(joined = join("\n", rows)))
        goto done;
    if (r->html)
        res = pyfmt("\n<table width=\"100%%\" cellspacing=0 cellpadding=0 border=0>\n%s</table>",
                    joined);
    else
        res = pyfmt("\n%s\n", joined);
done:
    Py_XDECREF(joined);
    Py_XDECREF(line);
    Py_XDECREF(it);
    Py_XDECREF(i);
    Py_XDECREF(row);
    Py_XDECREF(rows);
    Py_XDECREF(vars);
    Py_XDECREF(reader);
    Py_XDECREF(state);
    Py_XDECREF(highlight);
    Py_XDECREF(call);
    Py_XDECREF(locals);
    Py_XDECREF(argvalues);
    Py_XDECREF(link);
    Py_XDECREF(file);
    for (int k = 0; k < 6; k++)
        Py_XDECREF(rec[k]);
    return res;
}

/* The "ExcType: message" paragraph and the exception's attributes. */
static PyObject *exception_section(report *r, PyObject *etype, PyObject *evalue)
{
    PyObject *parts = PyList_New(0), *first = NULL, *names = NULL, *it = NULL, *name = NULL;
    PyObject *res = NULL;
    if (!parts)
        return NULL;
    PyObject *ts = PyObject_Str(etype), *vs = ts ? PyObject_Str(evalue) : NULL;
    if (ts && vs) {
        if (r->html) {
            PyObject *te = PyObject_CallOneArg(r->escape, ts), *s = NULL, *ve = NULL;
            if (te && (s = call_global(r->module, "strong", te)) &&
                (ve = PyObject_CallOneArg(r->escape, vs)))
                first = pyfmt2("<p>%s: %s", s, ve);
            Py_XDECREF(te);
            Py_XDECREF(s);
            Py_XDECREF(ve);
        } else {
            first = pyfmt2("%s: %s", ts, vs);
        }
    }
    Py_XDECREF(ts);
    Py_XDECREF(vs);
    if (!first || PyList_Append(parts, first) < 0)
        goto done;
    if (!(names = PyObject_Dir(evalue)) || !(it = PyObject_GetIter(names)))
        goto done;
    while ((name = PyIter_Next(it))) {
        if (r->html) {
            PyObject *head = PySequence_GetSlice(name, 0, 1);
            int under = head ? cmp_str(head, "_", Py_EQ) : -1;
            Py_XDECREF(head);
            if (under < 0)
                goto done;
            if (under) {
                Py_CLEAR(name);
                continue;
            }
        }
        PyObject *attr = PyObject_GetAttr(evalue, name), *value = NULL, *entry = NULL;
        if (attr)
            value = PyObject_CallOneArg(r->repr, attr);
        Py_XDECREF(attr);
        if (!value)
            goto done;
        if (r->html) {
            PyObject *t = PyTuple_Pack(3, r->indent, name, value);
            if (t)
                entry = pyfmt("\n<br>%s%s&nbsp;=\n%s", t);
            Py_XDECREF(t);
        } else {
            PyObject *t = Py_BuildValue("(sOO)", "    ", name, value);
            if (t)
                entry = pyfmt("\n%s%s = %s", t);
            Py_XDECREF(t);
        }
        Py_DECREF(value);
        if (!entry)
            goto done;
        int a = PyList_Append(parts, entry);
        Py_DECREF(entry);
        if (a < 0)
            goto done;
        Py_CLEAR(name);
    }
    if (!PyErr_Occurred())
        res = join("", parts);
done:
    Py_XDECREF(name);
    Py_XDECREF(it);
    Py_XDECREF(names);
    Py_XDECREF(first);
    Py_DECREF(parts);
    return res;
}

/* ''.join(traceback.format_exception(*args)) */
static PyObject *format_exception_args(PyObject *args)
{
    PyObject *fe = import_attr("traceback", "format_exception"), *lines = NULL, *res = NULL;
    if (fe && (lines = PyObject_Call(fe, args, NULL)))
        res = join("", lines);
    Py_XDECREF(fe);
    Py_XDECREF(lines);
    return res;
}

/* ''.join(traceback.format_exception(etype, evalue, etb)) */
static PyObject *format_exception(PyObject *etype, PyObject *evalue, PyObject *etb)
{
    PyObject *args = PyTuple_Pack(3, etype, evalue, etb);
    if (!args)
        return NULL;
    PyObject *res = format_exception_args(args);
    Py_DECREF(args);
    return res;
}

/* html_escape(s): the html.escape of the module's making, which a script
 * may have replaced before its `import cgitb` (not after: cgitb.py bound
 * it then). Where html was not loaded, html's own, the same chain of
 * s.replace() calls, without importing html (and re) for it. */
static PyObject *escape_heading(PyObject *module, PyObject *s)
{
    cgitb_state *st = get_state(module);
    if (!st)
        return NULL;
    if (st->html_escape)
        return PyObject_CallOneArg(st->html_escape, s);
    return cgih_html_escape(s);
}

static PyObject *head_section(report *r, PyObject *etype)
{
    PyObject *pyver, *date, *res = NULL;
    if (version_and_date(&pyver, &date) < 0)
        return NULL;
    PyObject *ts = PyObject_Str(etype);
    if (!ts)
        goto done;
    if (r->html) {
        PyObject *e = escape_heading(r->module, ts), *t = NULL;
        if (e && (t = PyTuple_Pack(3, e, pyver, date)))
            res = pyfmt(
                "\n<body bgcolor=\"#f0f0f8\">\n"
                "<table width=\"100%%\" cellspacing=0 cellpadding=2 border=0 summary=\"heading\">\n"
                "<tr bgcolor=\"#6622aa\">\n"
                "<td valign=bottom>&nbsp;<br>\n"
                "<font color=\"#ffffff\" face=\"helvetica, arial\">&nbsp;<br>\n"
                "<big><big><strong>%s</strong></big></big></font></td>\n"
                "<td align=right valign=bottom>\n"
                "<font color=\"#ffffff\" face=\"helvetica, arial\">%s<br>%s</font></td>\n"
                "</tr></table>\n"
                "<p>A problem occurred in a Python script.  Here is the sequence of\n"
                "function calls leading up to the error, in the order they occurred.</p>",
                t);
        Py_XDECREF(e);
        Py_XDECREF(t);
    } else {
        PyObject *t = PyTuple_Pack(3, ts, pyver, date);
        if (t)
            res = pyfmt("%s\n%s\n%s\n\n"
                        "A problem occurred in a Python script.  Here is the sequence of\n"
                        "function calls leading up to the error, in the order they occurred.\n",
                        t);
        Py_XDECREF(t);
    }
    Py_DECREF(ts);
done:
    Py_DECREF(pyver);
    Py_DECREF(date);
    return res;
}

/* html(einfo, context) or text(einfo, context). */
static PyObject *make_report(PyObject *module, PyObject *einfo, PyObject *context, int html)
{
    PyObject *ei[3] = {NULL, NULL, NULL};
    PyObject *etype = NULL, *head = NULL, *frames = NULL, *records = NULL, *it = NULL;
    PyObject *rec = NULL, *exc = NULL, *tb = NULL, *res = NULL;
    report r = {0};
    if (cgih_unpack(einfo, 3, ei) < 0)
        return NULL;
    /* cgitb.py's isinstance(etype, type), which a __class__ can answer */
    int is_type = PyObject_IsInstance(ei[0], (PyObject *)&PyType_Type);
    if (is_type > 0)
        etype = getattr_s(ei[0], "__name__");
    else if (is_type == 0)
        etype = Py_NewRef(ei[0]);
    if (!etype || import_report_modules() < 0 || report_init(&r, module, html) < 0)
        goto done;
    if (!(head = head_section(&r, etype)) || !(frames = PyList_New(0)))
        goto done;
    if (html) { /* indent = '<tt>' + small('&nbsp;' * 5) + '&nbsp;</tt>' */
        PyObject *nb = PyUnicode_FromString("&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;");
        PyObject *sm = nb ? call_global(module, "small", nb) : NULL, *a = NULL;
        if (sm && (a = cat_sl("<tt>", sm)))
            r.indent = cat_sr(a, "&nbsp;</tt>");
        Py_XDECREF(nb);
        Py_XDECREF(sm);
        Py_XDECREF(a);
        if (!r.indent)
            goto done;
    }
    if (!(records = call_method(r.inspect, "getinnerframes", "OO", ei[2], context)) ||
        !(it = PyObject_GetIter(records)))
        goto done;
    while ((rec = PyIter_Next(it))) {
        PyObject *section = frame_section(&r, rec);
        if (!section)
            goto done;
        int a = PyList_Append(frames, section);
        Py_DECREF(section);
        if (a < 0)
            goto done;
        Py_CLEAR(rec);
    }
    if (PyErr_Occurred() || !(exc = exception_section(&r, etype, ei[1])))
        goto done;
    if (!(tb = format_exception(etype, ei[1], ei[2])))
        goto done;
    if (html) {
        Py_SETREF(tb, PyObject_CallOneArg(r.escape, tb));
        if (!tb)
            goto done;
    }
    PyObject *fr = join("", frames), *tail = NULL;
    if (fr)
        tail = pyfmt(html ? "\n\n\n<!-- The above is a description of an error in a Python "
                            "program, formatted\n"
                            "     for a web browser because the 'cgitb' module was enabled.  In "
                            "case you\n"
                            "     are not reading this in a web browser, here is the original "
                            "traceback:\n\n%s\n-->\n"
                          : "\n\nThe above is a description of an error in a Python program.  "
                            "Here is\nthe original traceback:\n\n%s\n",
                     tb);
    if (tail) {
        PyObject *all = PyTuple_Pack(4, head, fr, exc, tail);
        if (all)
            res = join("", all);
        Py_XDECREF(all);
    }
    Py_XDECREF(fr);
    Py_XDECREF(tail);
done:
    report_clear(&r);
    Py_XDECREF(tb);
    Py_XDECREF(exc);
    Py_XDECREF(rec);
    Py_XDECREF(it);
    Py_XDECREF(records);
    Py_XDECREF(frames);
    Py_XDECREF(head);
    Py_XDECREF(etype);
    for (int k = 0; k < 3; k++)
        Py_XDECREF(ei[k]);
    return res;
}

static PyObject *report_func(PyObject *module, PyObject *args, PyObject *kwds, int html)
{
    static const char *const names[] = {"einfo", "context"};
    PyObject *av[2];
    if (cgih_bind_args(html ? "html" : "text", 0, args, kwds, names, 2, 1, av) < 0)
        return NULL;
    PyObject *einfo = av[0], *context = av[1];
    PyObject *five = context ? NULL : PyLong_FromLong(5);
    if (!context && !five)
        return NULL;
    PyObject *r = make_report(module, einfo, context ? context : five, html);
    Py_XDECREF(five);
    return r;
}

static PyObject *cgitb_html(PyObject *module, PyObject *args, PyObject *kwds)
{
    return report_func(module, args, kwds, 1);
}

static PyObject *cgitb_text(PyObject *module, PyObject *args, PyObject *kwds)
{
    return report_func(module, args, kwds, 0);
}

/* ---- Hook ------------------------------------------------------------------- */

/* Hook keeps its settings in its __dict__, as the Python class does, so that
 * scripts can read, change and add attributes and subclass it. */
typedef struct {
    PyObject_HEAD
    PyObject *dict;
    PyObject *weakreflist;
} hook_object;

static int hook_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static const char *const names[] = {"display", "logdir", "context", "file", "format"};
    PyObject *av[5];
    if (cgih_bind_args("Hook.__init__", 1, args, kwds, names, 5, 0, av) < 0)
        return -1;
    PyObject *display = av[0], *logdir = av[1] ? av[1] : Py_None, *context = av[2];
    PyObject *file = av[3] ? av[3] : Py_None, *format = av[4];
    PyObject *one = NULL, *five = NULL, *html = NULL; /* the defaults, when used */
    int rc = -1;
    if (!(display || (display = one = PyLong_FromLong(1))) ||
        !(context || (context = five = PyLong_FromLong(5))) ||
        !(format || (format = html = PyUnicode_FromString("html"))) ||
        setattr_s(self, "display", display) < 0 || setattr_s(self, "logdir", logdir) < 0 ||
        setattr_s(self, "context", context) < 0)
        goto done;
    /* self.file = file or sys.stdout, read now as cgitb.py reads it (the
     * setattrs above can run Python code that replaces sys.stdout) */
    int t = PyObject_IsTrue(file);
    if (t < 0)
        goto done;
    file = t ? Py_NewRef(file) : cgih_sys_attr("stdout");
    if (!file)
        goto done;
    if (setattr_s(self, "file", file) == 0 && setattr_s(self, "format", format) == 0)
        rc = 0;
    Py_DECREF(file);
done:
    Py_XDECREF(one);
    Py_XDECREF(five);
    Py_XDECREF(html);
    return rc;
}

static PyObject *hook_call(PyObject *self, PyObject *args, PyObject *kwds)
{
    static const char *const names[] = {"etype", "evalue", "etb"};
    PyObject *av[3];
    if (cgih_bind_args("Hook.__call__", 1, args, kwds, names, 3, 3, av) < 0)
        return NULL;
    PyObject *info = PyTuple_Pack(3, av[0], av[1], av[2]);
    if (!info)
        return NULL;
    PyObject *r = call_method(self, "handle", "(O)", info);
    Py_DECREF(info);
    if (!r)
        return NULL;
    Py_DECREF(r); /* cgitb.py's __call__ returns None, whatever handle() returns */
    Py_RETURN_NONE;
}

/* self.file.write(s); 0 or -1. Steals s, which may be NULL when making it
 * failed (an exception is then set). */
static int write_file(PyObject *self, PyObject *s)
{
    if (!s)
        return -1;
    PyObject *file = getattr_s(self, "file"), *r = NULL;
    if (file)
        r = call_method(file, "write", "O", s);
    Py_DECREF(s);
    Py_XDECREF(file);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* The traceback where `import traceback` failed: cgitb.py has it from its
 * own import, this module imports what a report needs at the first one,
 * which a script can have made impossible since (sys.path emptied, every
 * file descriptor in use: ImportError, OSError). Made of what needs no
 * import: the interpreter's own display of an exception (chained ones and
 * notes too, as format_exception()'s), into an _io.StringIO set as
 * sys.stderr meanwhile. */
static PyObject *plain_traceback(PyObject *info)
{
    PyObject *exc = PyErr_GetRaisedException_compat(); /* the import's, if this fails too */
    PyObject *sio = import_attr("_io", "StringIO"); /* built in, loaded at start-up */
    PyObject *f = sio ? PyObject_CallNoArgs(sio) : NULL, *doc = NULL;
    PyObject *saved = PySys_GetObject("stderr"); /* borrowed */
    Py_XINCREF(saved);
    if (f && PySys_SetObject("stderr", f) == 0) {
        PyErr_Display(PyTuple_GET_ITEM(info, 0), PyTuple_GET_ITEM(info, 1),
                      PyTuple_GET_ITEM(info, 2));
        if (PySys_SetObject("stderr", saved ? saved : Py_None) == 0)
            doc = call_method(f, "getvalue", NULL);
    }
    Py_XDECREF(saved);
    Py_XDECREF(f);
    Py_XDECREF(sio);
    if (doc)
        Py_XDECREF(exc);
    else
        PyErr_SetRaisedException_compat(exc); /* drops what this one raised */
    return doc;
}

/* pydoc.html.escape(doc); where pydoc cannot be imported (see
 * plain_traceback()), its replacements, made here. */
static PyObject *escape_plain(PyObject *doc)
{
    PyObject *e = import_attr2("pydoc", "html", "escape");
    if (e) {
        PyObject *r = PyObject_CallOneArg(e, doc);
        Py_DECREF(e);
        return r;
    }
    if (!PyUnicode_Check(doc))
        return NULL;
    PyErr_Clear();
    static const char *const pairs[][2] = {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}};
    PyObject *s = Py_NewRef(doc);
    for (size_t i = 0; s && i < sizeof pairs / sizeof pairs[0]; i++) {
        PyObject *a = PyUnicode_FromString(pairs[i][0]), *b = PyUnicode_FromString(pairs[i][1]);
        Py_SETREF(s, a && b ? PyUnicode_Replace(s, a, b, -1) : NULL);
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    return s;
}

static PyObject *format_eq_html(PyObject *self);

/* `formatter = (self.format=="html") and html or text`: the globals html
 * and text as cgitb.py's code finds them (a NameError when deleted; text
 * when html is false). A new reference. */
static PyObject *choose_formatter(PyObject *module, PyObject *self)
{
    PyObject *eq = format_eq_html(self);
    int t = eq ? PyObject_IsTrue(eq) : -1;
    Py_XDECREF(eq);
    if (t <= 0)
        return t < 0 ? NULL : cgih_load_global(module, "text");
    PyObject *html = cgih_load_global(module, "html");
    int h = html ? PyObject_IsTrue(html) : -1;
    if (h > 0)
        return html;
    Py_XDECREF(html);
    return h < 0 ? NULL : cgih_load_global(module, "text");
}

/* The report as cgitb.py's handle() makes it, in its try: formatter(info,
 * self.context), or on any failure the plain traceback (*plain set). */
static PyObject *handle_doc(PyObject *self, PyObject *formatter, PyObject *info, int *plain)
{
    *plain = 0;
    PyObject *context = getattr_s(self, "context"), *doc = NULL;
    if (context)
        doc = PyObject_CallFunctionObjArgs(formatter, info, context, NULL);
    Py_XDECREF(context);
    if (doc)
        return doc;
    /* except: (bare, as in cgitb.py): the fallback runs with the
     * formatter's exception being handled, so that sys.exc_info() is it
     * and an exception the fallback raises has it as __context__ */
    cgih_handled saved;
    cgih_except_begin(&saved);
    *plain = 1;
    PyObject *t = PySequence_Tuple(info); /* the *info of format_exception(*info) */
    if (!t && Py_TYPE(info)->tp_iter == NULL && !PySequence_Check(info)) /* as the call's */
        PyErr_Format(PyExc_TypeError,
                     "traceback.format_exception() argument after * must be an iterable, not %.200s",
                     Py_TYPE(info)->tp_name);
    PyObject *fe = t ? import_attr("traceback", "format_exception") : NULL, *lines = NULL;
    if (fe && (lines = PyObject_Call(fe, t, NULL)))
        doc = join("", lines);
    else if (t && !fe && PyTuple_GET_SIZE(t) == 3)
        doc = plain_traceback(t);
    Py_XDECREF(lines);
    Py_XDECREF(fe);
    Py_XDECREF(t);
    cgih_except_end(&saved);
    return doc;
}

/* self.format == "html", its result: cgitb.py's handle() reads self.format
 * and compares it anew at each of its four uses (a new reference). */
static PyObject *format_eq_html(PyObject *self)
{
    PyObject *format = getattr_s(self, "format");
    if (!format)
        return NULL;
    PyObject *html = PyUnicode_FromString("html");
    PyObject *r = html ? PyObject_RichCompare(format, html, Py_EQ) : NULL;
    Py_XDECREF(html);
    Py_DECREF(format);
    return r;
}

/* The same as a truth value: 1, 0, or -1 on error. */
static int format_is_html(PyObject *self)
{
    PyObject *r = format_eq_html(self);
    if (!r)
        return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* The logdir part of handle(): the report to a mkstemp() file, and the message
 * saying where it is. The suffix is ['.txt', '.html'][self.format=="html"]
 * (the comparison's result as the index), the directory self.logdir read
 * again, as cgitb.py has them. */
static PyObject *log_report(PyObject *self, PyObject *doc)
{
    static const char *const tempfile[] = {"tempfile"};
    PyObject *mkstemp =
        import_with_room(tempfile, 1) == 0 ? import_attr("tempfile", "mkstemp") : NULL;
    PyObject *args = NULL, *kw = NULL;
    PyObject *fdpath = NULL, *fdopen = NULL, *f = NULL, *msg = NULL;
    PyObject *suffixes = NULL, *eq = NULL, *suffix = NULL, *logdir = NULL;
    PyObject *fp[2] = {NULL, NULL};
    if (!mkstemp || !(suffixes = Py_BuildValue("[ss]", ".txt", ".html")) ||
        !(eq = format_eq_html(self)) || !(suffix = PyObject_GetItem(suffixes, eq)) ||
        !(logdir = getattr_s(self, "logdir")) || !(args = PyTuple_New(0)) ||
        !(kw = Py_BuildValue("{sOsO}", "suffix", suffix, "dir", logdir)) ||
        !(fdpath = PyObject_Call(mkstemp, args, kw)) || cgih_unpack(fdpath, 2, fp) < 0)
        goto done;
    /* with os.fdopen(fd, 'w') as file: file.write(doc) -- any failure, bare except */
    int ok = 0;
    long fd = PyLong_AsLong(fp[0]);
    struct stat ours;
    int known = fd >= 0 && fd <= INT_MAX && fstat((int)fd, &ours) == 0;
    PyErr_Clear();
    if ((fdopen = import_attr("os", "fdopen")) &&
        (f = PyObject_CallFunction(fdopen, "Os", fp[0], "w"))) {
        PyObject *w = call_method(f, "write", "O", doc);
        PyObject *exc = PyErr_GetRaisedException_compat();
        PyObject *c = call_method(f, "close", NULL);
        ok = w && c;
        Py_XDECREF(w);
        Py_XDECREF(c);
        Py_XDECREF(exc);
    } else if (fdopen) {
        /* fdopen() refused the descriptor: do not leak it. */
        if (known)
            cgih_close_if_still((int)fd, &ours);
    }
    PyErr_Clear();
    msg = pyfmt(ok ? "%s contains the description of this error."
                   : "Tried to save traceback to %s, but failed.",
                fp[1]);
done:
    Py_XDECREF(fp[0]);
    Py_XDECREF(fp[1]);
    Py_XDECREF(f);
    Py_XDECREF(fdopen);
    Py_XDECREF(fdpath);
    Py_XDECREF(kw);
    Py_XDECREF(args);
    Py_XDECREF(logdir);
    Py_XDECREF(suffix);
    Py_XDECREF(eq);
    Py_XDECREF(suffixes);
    Py_XDECREF(mkstemp);
    return msg;
}

/* METH_FASTCALL arguments as the (tuple, dict) that cgih_bind_args takes. */
static int fastcall_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                         PyObject **tuple, PyObject **dict)
{
    *dict = NULL;
    if (!(*tuple = PyTuple_New(nargs)))
        return -1;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(*tuple, i, Py_NewRef(args[i]));
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nkw == 0)
        return 0;
    if (!(*dict = PyDict_New()))
        goto fail;
    for (Py_ssize_t i = 0; i < nkw; i++)
        if (PyDict_SetItem(*dict, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
            goto fail;
    return 0;
fail:
    Py_CLEAR(*tuple);
    Py_CLEAR(*dict);
    return -1;
}

/* The module's `handler` is Hook().handle made when cgitb is imported, so its
 * file is that moment's sys.stdout, as in cgitb.py. cgihost's resident server
 * imports cgitb once, before it forks, and gives each request new standard
 * streams, replacing sys.__stdout__ and sys.stdout together. A handler still
 * holding the stdout of the import therefore follows the request's
 * sys.__stdout__ when the request starts (cgih_cgitb_follow_stdout()): the
 * stream it would hold had the script imported cgitb itself. Anything a
 * script sets later (handler.__self__.file = x, sys.__stdout__) is left
 * alone, as in cgitb.py. */
static int rebind_handler_file(cgitb_state *st, PyObject *self)
{
    if (self != st->handler_hook || !st->import_stdout)
        return 0;
    /* held: getting self.file may run Python code that replaces it */
    PyObject *now = Py_XNewRef(PySys_GetObject("__stdout__"));
    int rc = 0;
    if (now && now != Py_None && now != st->import_stdout) {
        PyObject *file = getattr_s(self, "file");
        if (!file)
            rc = -1;
        else if (file == st->import_stdout && (rc = setattr_s(self, "file", now)) == 0)
            Py_SETREF(st->import_stdout, Py_NewRef(now));
        Py_XDECREF(file);
    }
    Py_XDECREF(now);
    return rc;
}

/* The server's own import of cgitb as it was (cgih_cgitb_note_import()):
 * the module and its names' values (not the import's __dunder__ ones), each with the
 * references it had. Compared only, never used: borrowed. */
#define NOTED_MAX 64
static struct {
    PyObject *module;
    Py_ssize_t refs;
    size_t n;
    PyObject *values[NOTED_MAX];
    Py_ssize_t value_refs[NOTED_MAX];
} noted;

/* The import's own names (__name__, __spec__, __loader__...), whose values
 * others share; not __UNDEF__, cgitb's sentinel, its own like the rest. */
static int is_dunder(PyObject *name)
{
    Py_ssize_t n = PyUnicode_Check(name) ? PyUnicode_GetLength(name) : 0;
    return n >= 4 && PyUnicode_CompareWithASCIIString(name, "__UNDEF__") != 0 &&
           PyUnicode_READ_CHAR(name, 0) == '_' && PyUnicode_READ_CHAR(name, 1) == '_' &&
           PyUnicode_READ_CHAR(name, n - 1) == '_' && PyUnicode_READ_CHAR(name, n - 2) == '_';
}

int cgih_cgitb_note_import(void)
{
    noted.module = NULL;
    noted.n = 0;
    PyObject *m = PyDict_GetItemString(PyImport_GetModuleDict(), "cgitb"); /* borrowed */
    if (!m || !PyModule_Check(m) || PyModule_GetDef(m) != &cgitb_module)
        return 0;
    PyObject *d = PyModule_GetDict(m); /* borrowed */
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (is_dunder(k))
            continue;
        if (noted.n == NOTED_MAX) {
            noted.n = 0;
            return 0; /* nothing noted: the module stays */
        }
        noted.values[noted.n] = v;
        noted.value_refs[noted.n++] = Py_REFCNT(v);
    }
    noted.module = m;
    noted.refs = Py_REFCNT(m);
    return 0;
}

/* Whether anything since the server's import of cgitb took the module or one
 * of its names' values (a module CGIHOST_PRELOAD imported), or changed them:
 * a reference more, or another value. */
static int taken_since_noted(PyObject *m)
{
    if (m != noted.module || Py_REFCNT(m) != noted.refs)
        return 1;
    PyObject *d = PyModule_GetDict(m); /* borrowed */
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    size_t n = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (is_dunder(k))
            continue;
        if (n >= noted.n || noted.values[n] != v || Py_REFCNT(v) != noted.value_refs[n])
            return 1;
        n++;
    }
    return n != noted.n;
}

/* The server's module, its handler rebound as above, then leaves
 * sys.modules, if nothing else took it or its names since the server
 * imported it: the script's own `import cgitb` makes a new module (a
 * built-in's import, some 20 us), whose handler holds the sys.stdout of
 * that import, as cgitb.py's does. A script that replaced sys.stdout before
 * it (a wrapper of its own encoding, say) had the server's module, whose
 * handler wrote past that wrapper to the request's first stream. A module
 * CGIHOST_PRELOAD imported that holds cgitb or its Hook keeps it the
 * script's too (the same module, as under python3), its handler following
 * the request's streams, as above. */
int cgih_cgitb_follow_stdout(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *m = PyDict_GetItemString(modules, "cgitb"); /* borrowed */
    if (!m || !PyModule_Check(m) || PyModule_GetDef(m) != &cgitb_module)
        return 0;
    int shared = taken_since_noted(m); /* before the rebinding takes references */
    cgitb_state *st = get_state(m);
    if (st && st->handler_hook && rebind_handler_file(st, st->handler_hook) < 0)
        return -1;
    return shared ? 0 : PyDict_DelItemString(modules, "cgitb");
}

/* python3 ends by SIGINT (status 130 from a shell) after an uncaught
 * KeyboardInterrupt: run_eval_code_obj() sets a flag of the runtime's when
 * the script's code raises it, and clears it whenever it starts, and
 * exec() or eval() of a string (namedtuple(), in the modules a report
 * imports: inspect, tokenize, pydoc) runs it again. cgitb.py has those
 * imported before the exception; a report made here imports them, and the
 * process then ended with status 1. Whether handle() is the interpreter's
 * own call for an uncaught exception: no Python frame runs (a script's own
 * call of handle() or of sys.excepthook has its frame). */
static int top_level_sigint(PyObject *info)
{
    if (PyEval_GetFrame() != NULL)
        return 0;
    /* PyErr_Print() calls the hook with (type, value, traceback) */
    return PyTuple_Check(info) && PyTuple_GET_SIZE(info) > 0 &&
           PyTuple_GET_ITEM(info, 0) == PyExc_KeyboardInterrupt;
}

/* Sets that flag back as run_eval_code_obj() sets it: by running code that
 * raises KeyboardInterrupt (cgihost keeps its own, and ignores the flag). */
static void keep_sigint_exit(void)
{
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *ns = PyDict_New();
    PyObject *r = ns ? PyRun_String("raise KeyboardInterrupt", Py_file_input, ns, ns) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(ns);
    PyErr_Clear();
    PyErr_SetRaisedException_compat(exc);
}

static PyObject *hook_handle(PyObject *self, PyTypeObject *cls, PyObject *const *args,
                             Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"info"};
    PyObject *tuple, *dict, *info;
    if (fastcall_args(args, nargs, kwnames, &tuple, &dict) < 0)
        return NULL;
    int bound = cgih_bind_args("Hook.handle", 1, tuple, dict, names, 1, 0, &info);
    if (bound == 0)
        info = info ? Py_NewRef(info) : Py_NewRef(Py_None);
    Py_DECREF(tuple);
    Py_XDECREF(dict);
    if (bound < 0)
        return NULL;
    /* info is now a new reference, released at the end */
    int sigint = top_level_sigint(info);
    PyObject *module = PyType_GetModule(cls); /* borrowed */
    int t = module ? PyObject_IsTrue(info) : -1;
    if (t < 0) {
        Py_DECREF(info);
        return NULL;
    }
    if (!t) { /* info = info or sys.exc_info() */
        PyObject *exc_info = import_attr("sys", "exc_info");
        Py_SETREF(info, exc_info ? PyObject_CallNoArgs(exc_info) : NULL);
        Py_XDECREF(exc_info);
        if (!info)
            return NULL;
    }

    PyObject *file = NULL, *doc = NULL, *display = NULL, *logdir = NULL;
    PyObject *res = NULL;

    int html = format_is_html(self); /* if self.format == "html": */
    if (html < 0)
        goto done;
    if (html) {
        /* self.file.write(reset()): the method first, then the global */
        PyObject *write = NULL, *reset = NULL, *s = NULL, *w = NULL;
        if ((file = getattr_s(self, "file")) && (write = getattr_s(file, "write")) &&
            (reset = cgih_load_global(module, "reset")) && (s = PyObject_CallNoArgs(reset)))
            w = PyObject_CallOneArg(write, s);
        Py_CLEAR(file);
        Py_XDECREF(write);
        Py_XDECREF(reset);
        Py_XDECREF(s);
        if (!w)
            goto done;
        Py_DECREF(w);
    }
    PyObject *formatter = choose_formatter(module, self);
    if (!formatter)
        goto done;
    int plain;
    doc = handle_doc(self, formatter, info, &plain);
    Py_DECREF(formatter);
    if (!doc || !(display = getattr_s(self, "display")))
        goto done;
    int shown = PyObject_IsTrue(display);
    if (shown < 0)
        goto done;
    PyObject *out;
    if (shown && plain) {
        Py_SETREF(doc, escape_plain(doc));
        PyObject *a = doc ? cat_sl("<pre>", doc) : NULL;
        out = a ? cat_sr(a, "</pre>\n") : NULL;
        Py_XDECREF(a);
    } else if (shown) {
        out = cat_sr(doc, "\n");
    } else {
        out = PyUnicode_FromString("<p>A problem occurred in a Python script.\n");
    }
    if (write_file(self, out) < 0)
        goto done;

    if (!(logdir = getattr_s(self, "logdir")))
        goto done;
    if (logdir != Py_None) {
        PyObject *msg = log_report(self, doc);
        if (!msg)
            goto done;
        int h = format_is_html(self); /* if self.format == 'html': */
        PyObject *line = h > 0 ? pyfmt("<p>%s</p>\n", msg) : h == 0 ? cat_sr(msg, "\n") : NULL;
        Py_DECREF(msg);
        if (write_file(self, line) < 0)
            goto done;
    }
    /* try: self.file.flush() except: pass */
    if ((file = getattr_s(self, "file"))) {
        PyObject *r = call_method(file, "flush", NULL);
        Py_XDECREF(r);
    }
    PyErr_Clear();
    res = Py_NewRef(Py_None);
done:
    Py_XDECREF(file);
    Py_XDECREF(logdir);
    Py_XDECREF(display);
    Py_XDECREF(doc);
    Py_DECREF(info);
    if (sigint)
        keep_sigint_exit();
    return res;
}

static int hook_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((hook_object *)self)->dict);
    return 0;
}

static int hook_clear(PyObject *self)
{
    Py_CLEAR(((hook_object *)self)->dict);
    return 0;
}

static void hook_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (((hook_object *)self)->weakreflist)
        PyObject_ClearWeakRefs(self);
    (void)hook_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef hook_methods[] = {
    {"handle", (PyCFunction)(void (*)(void))hook_handle,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS, "handle($self, info=None)\n--\n\n"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef hook_members[] = {
    {"__dictoffset__", Py_T_PYSSIZET, offsetof(hook_object, dict), Py_READONLY, NULL},
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(hook_object, weakreflist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef hook_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot hook_slots[] = {
    {Py_tp_doc, "Hook(display=1, logdir=None, context=5, file=None, format='html')\n--\n\n"
                "A hook to replace sys.excepthook that shows tracebacks in HTML."},
    {Py_tp_init, hook_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_call, hook_call},
    {Py_tp_traverse, hook_traverse},
    {Py_tp_clear, hook_clear},
    {Py_tp_dealloc, hook_dealloc},
    {Py_tp_methods, hook_methods},
    {Py_tp_members, hook_members},
    {Py_tp_getset, hook_getset},
    {0, NULL},
};

static PyType_Spec hook_spec = {
    .name = "cgitb.Hook",
    .basicsize = sizeof(hook_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = hook_slots,
};

/* ---- module functions ------------------------------------------------------- */

static PyObject *cgitb_enable(PyObject *module, PyObject *args, PyObject *kwds)
{
    static const char *const names[] = {"display", "logdir", "context", "format"};
    PyObject *av[4];
    if (cgih_bind_args("enable", 0, args, kwds, names, 4, 0, av) < 0)
        return NULL;
    PyObject *display = av[0], *logdir = av[1] ? av[1] : Py_None, *context = av[2];
    PyObject *format = av[3];
    PyObject *hook_type = getattr_s(module, "Hook"), *hook = NULL;
    PyObject *one = NULL, *five = NULL, *html = NULL; /* the defaults, when used */
    PyObject *kw = NULL;
    if (hook_type && (display || (display = one = PyLong_FromLong(1))) &&
        (context || (context = five = PyLong_FromLong(5))) &&
        (format || (format = html = PyUnicode_FromString("html"))) &&
        (kw = Py_BuildValue("{sOsOsOsO}", "display", display, "logdir", logdir, "context", context,
                            "format", format))) {
        PyObject *noargs = PyTuple_New(0);
        if (noargs)
            hook = PyObject_Call(hook_type, noargs, kw);
        Py_XDECREF(noargs);
    }
    int rc = hook ? PySys_SetObject("excepthook", hook) : -1;
    Py_XDECREF(kw);
    Py_XDECREF(one);
    Py_XDECREF(five);
    Py_XDECREF(html);
    Py_XDECREF(hook);
    Py_XDECREF(hook_type);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(enable_doc,
             "enable($module, /, display=1, logdir=None, context=5, format='html')\n--\n\n"
             "Install an exception handler that formats tracebacks as HTML.\n\n"
             "    The optional argument 'display' can be set to 0 to suppress sending the\n"
             "    traceback to the browser, and 'logdir' can be set to a directory to cause\n"
             "    tracebacks to be written to files there.");

/* Docstrings begin with the signature (see inspect.signature) and are the
 * stdlib's; an empty body leaves __doc__ None, as for cgitb.py's small(). */
#define SIG(sig, doc) sig "\n--\n\n" doc

static PyMethodDef cgitb_methods[] = {
    {"reset", (PyCFunction)(void (*)(void))cgitb_reset, METH_VARARGS | METH_KEYWORDS,
     SIG("reset($module, /)", "Return a string that resets the CGI and browser to a known state.")},
    {"small", (PyCFunction)(void (*)(void))cgitb_small, METH_VARARGS | METH_KEYWORDS,
     SIG("small($module, /, text)", "")},
    {"strong", (PyCFunction)(void (*)(void))cgitb_strong, METH_VARARGS | METH_KEYWORDS,
     SIG("strong($module, /, text)", "")},
    {"grey", (PyCFunction)(void (*)(void))cgitb_grey, METH_VARARGS | METH_KEYWORDS,
     SIG("grey($module, /, text)", "")},
    {"lookup", (PyCFunction)(void (*)(void))cgitb_lookup, METH_VARARGS | METH_KEYWORDS,
     SIG("lookup($module, /, name, frame, locals)",
         "Find the value for a given name in the given environment.")},
    {"scanvars", (PyCFunction)(void (*)(void))cgitb_scanvars, METH_VARARGS | METH_KEYWORDS,
     SIG("scanvars($module, /, reader, frame, locals)",
         "Scan one logical line of Python and look up values of variables used.")},
    {"html", (PyCFunction)(void (*)(void))cgitb_html, METH_VARARGS | METH_KEYWORDS,
     SIG("html($module, /, einfo, context=5)",
         "Return a nice HTML document describing a given traceback.")},
    {"text", (PyCFunction)(void (*)(void))cgitb_text, METH_VARARGS | METH_KEYWORDS,
     SIG("text($module, /, einfo, context=5)",
         "Return a plain text document describing a given traceback.")},
    {"enable", (PyCFunction)(void (*)(void))cgitb_enable, METH_VARARGS | METH_KEYWORDS, enable_doc},
    {NULL, NULL, 0, NULL},
};

/* ---- the module ------------------------------------------------------------- */

static int cgitb_exec(PyObject *m)
{
    cgitb_state *st = get_state(m);
    st->Hook = (PyTypeObject *)PyType_FromModuleAndSpec(m, &hook_spec, NULL);
    if (!st->Hook || PyModule_AddObjectRef(m, "Hook", (PyObject *)st->Hook) < 0)
        return -1;
    if (cgih_bare_tp_name(st->Hook) < 0) /* "'Hook' object has no attribute" */
        return -1;
    if (!(st->undef = PyList_New(0)) || PyModule_AddObjectRef(m, "__UNDEF__", st->undef) < 0)
        return -1;
    /* handler = Hook().handle, made now as cgitb.py makes it on import. */
    if (!(st->handler_hook = PyObject_CallNoArgs((PyObject *)st->Hook)))
        return -1;
    st->import_stdout = Py_XNewRef(PySys_GetObject("__stdout__"));
    /* html_escape, as cgitb.py's import binds it, where html is loaded */
    PyObject *hn = PyUnicode_FromString("html");
    PyObject *html = hn ? PyImport_GetModule(hn) : NULL;
    Py_XDECREF(hn);
    if (html && html != Py_None && !(st->html_escape = getattr_s(html, "escape")))
        PyErr_Clear(); /* gone: html's own is reproduced */
    Py_XDECREF(html);
    if (PyErr_Occurred())
        return -1;
    PyObject *handle = getattr_s(st->handler_hook, "handle");
    if (!handle)
        return -1;
    int rc = PyModule_AddObjectRef(m, "handler", handle);
    Py_DECREF(handle);
    return rc;
}

static int cgitb_traverse(PyObject *m, visitproc visit, void *arg)
{
    cgitb_state *st = get_state(m);
    Py_VISIT(st->Hook);
    Py_VISIT(st->undef);
    Py_VISIT(st->handler_hook);
    Py_VISIT(st->import_stdout);
    Py_VISIT(st->html_escape);
    return 0;
}

static int cgitb_clear(PyObject *m)
{
    cgitb_state *st = get_state(m);
    Py_CLEAR(st->Hook);
    Py_CLEAR(st->undef);
    Py_CLEAR(st->handler_hook);
    Py_CLEAR(st->import_stdout);
    Py_CLEAR(st->html_escape);
    return 0;
}

static void cgitb_free(void *m)
{
    (void)cgitb_clear((PyObject *)m);
    /* Built as an extension module of its own (setup.py), cgitb has its own
     * copy of pyutil.c's interned names, which only this empties: kept, a
     * later interpreter at the address of the one that filled it would be
     * handed that dead interpreter's strings. (In cgihost, cgi's and
     * cgitb's are one table: either's going empties it, and it refills.) */
    cgih_names_clear();
}

static PyModuleDef_Slot cgitb_slots[] = {
    {Py_mod_exec, cgitb_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(cgitb_doc,
             "More comprehensive traceback formatting for Python scripts.\n\n"
             "To enable this module, do:\n\n"
             "    import cgitb; cgitb.enable()\n\n"
             "at the top of your script.  The optional arguments to enable() are:\n\n"
             "    display     - if true, tracebacks are displayed in the web browser\n"
             "    logdir      - if set, tracebacks are written to files in this directory\n"
             "    context     - number of lines of source code to show for each stack frame\n"
             "    format      - 'text' or 'html' controls the output format\n\n"
             "By default, tracebacks are displayed but not saved, the context is 5 lines\n"
             "and the output format is 'html' (for backwards compatibility with the\n"
             "original use of this module)\n\n"
             "Alternatively, if you have caught an exception and want cgitb to display it\n"
             "for you, call cgitb.handler().  The optional argument to handler() is a\n"
             "3-item tuple (etype, evalue, etb) just like the value of sys.exc_info().\n"
             "The default handler displays output as HTML.\n\n"
             "(cgihost: built in, in C.)");

static PyModuleDef cgitb_module = {
    PyModuleDef_HEAD_INIT,         .m_name = "cgitb",          .m_doc = cgitb_doc,
    .m_size = sizeof(cgitb_state), .m_methods = cgitb_methods, .m_slots = cgitb_slots,
    .m_traverse = cgitb_traverse,  .m_clear = cgitb_clear,     .m_free = cgitb_free,
};

PyMODINIT_FUNC PyInit_cgitb(void)
{
    return PyModuleDef_Init(&cgitb_module);
}
