/* cgifuncs.c: the module-level functions of the built-in `cgi` module other
 * than parse_header and valid_boundary: parse, parse_multipart, the logging
 * family (log, initlog, dolog, nolog, closelog) and the debugging helpers
 * (test, print_exception, print_environ, print_form, print_directory,
 * print_arguments, print_environ_usage).
 *
 * Each is a port of CPython 3.11's Lib/cgi.py. Where cgi.py names a module
 * global (log, logfile, logfp, maxlen, FieldStorage, print, ...), the C code
 * looks the name up at call time in the module's dict and then in builtins,
 * as LOAD_GLOBAL does, and assigns through the module's dict where cgi.py says
 * `global`: scripts reassign these (`cgi.logfp = StringIO()`,
 * `cgi.log = cgi.dolog`, `cgi.maxlen = 1000`).
 *
 * Nothing heavy is imported: html.escape is reproduced here (a script's
 * html.escape is called where the script has loaded html); traceback is
 * imported only by print_exception, os only by parse() when it must mutate
 * the default environ (os.environ), urllib.parse only by parse() for a query
 * that is not a str.
 */
#include "cgi_internal.h"

#include <unistd.h> /* environ */
#include <string.h>

/* ---- module globals, as LOAD_GLOBAL / STORE_GLOBAL see them -------------- */

/* `name = v` at the cgi module's top level (cgih_load_global() reads). */
static int store_global(PyObject *module, const char *name, PyObject *v)
{
    return PyDict_SetItemString(PyModule_GetDict(module), name, v);
}

/* print(*args, end=end) through the `print` that cgi.py would find. */
static int print_objs(PyObject *module, PyObject *args, const char *end)
{
    PyObject *print = cgih_load_global(module, "print");
    if (!print)
        return -1;
    PyObject *kw = NULL, *r = NULL;
    if (end && !(kw = Py_BuildValue("{ss}", "end", end)))
        goto done;
    r = PyObject_Call(print, args, kw);
done:
    Py_DECREF(print);
    Py_XDECREF(kw);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* print(s) for a C string; print() when s is NULL. */
static int print_str(PyObject *module, const char *s)
{
    PyObject *args = s ? Py_BuildValue("(s)", s) : PyTuple_New(0);
    if (!args)
        return -1;
    int rc = print_objs(module, args, NULL);
    Py_DECREF(args);
    return rc;
}

/* print(o), stealing o. */
static int print_steal(PyObject *module, PyObject *o, const char *end)
{
    if (!o)
        return -1;
    PyObject *args = PyTuple_Pack(1, o);
    Py_DECREF(o);
    if (!args)
        return -1;
    int rc = print_objs(module, args, end);
    Py_DECREF(args);
    return rc;
}

/* html.escape(s), which cgi.py looks up at each call: the html module's
 * where a script has loaded it (and may have replaced the function), else
 * the same chain of s.replace() calls, so the same result and the same
 * exception for anything that is not a str. New reference. */
static PyObject *html_escape(PyObject *s)
{
    PyObject *f = cgih_loaded_attr("html", "escape");
    if (f) {
        PyObject *r = PyObject_CallOneArg(f, s);
        Py_DECREF(f);
        return r;
    }
    if (PyErr_Occurred())
        return NULL;
    return cgih_html_escape(s);
}

/* a + b for objects, stealing neither. */
static PyObject *concat3(const char *a, PyObject *b, const char *c)
{
    PyObject *sa = PyUnicode_FromString(a), *r = NULL;
    if (!sa)
        return NULL;
    PyObject *ab = PyNumber_Add(sa, b);
    Py_DECREF(sa);
    if (!ab)
        return NULL;
    PyObject *sc = PyUnicode_FromString(c);
    if (sc)
        r = PyNumber_Add(ab, sc);
    Py_XDECREF(sc);
    Py_DECREF(ab);
    return r;
}

static int setitem_str(PyObject *mapping, const char *key, PyObject *v)
{
    PyObject *k = PyUnicode_FromString(key);
    if (!k)
        return -1;
    int rc = PyObject_SetItem(mapping, k, v);
    Py_DECREF(k);
    return rc;
}

/* sys.argv[1] when sys.argv[1:] is non-empty, else NULL with no error
 * (*err 0) or with one (*err 1): cgi.py's `sys.argv[1] if sys.argv[1:]`. */
PyObject *cgih_argv1(int *err)
{
    *err = 0;
    PyObject *argv = cgih_sys_attr("argv");
    if (!argv) {
        *err = 1;
        return NULL;
    }
    PyObject *one = PyLong_FromLong(1);
    PyObject *from1 = one ? PySlice_New(one, NULL, NULL) : NULL;
    PyObject *tail = from1 ? PyObject_GetItem(argv, from1) : NULL, *v = NULL; /* argv[1:] */
    Py_XDECREF(from1);
    Py_XDECREF(one);
    int t = tail ? PyObject_IsTrue(tail) : -1;
    Py_XDECREF(tail);
    if (t > 0)
        v = PySequence_GetItem(argv, 1);
    Py_DECREF(argv);
    if (t < 0 || (t > 0 && !v))
        *err = 1;
    return v;
}

/* The default `environ=os.environ`. cgi.py binds os.environ when it is
 * imported: a script that then rebinds os.environ does not change it. Here
 * it is bound when cgi is made if os is loaded by then (always in the
 * resident server), else on the first call that needs it once os is loaded;
 * before that, a snapshot of the C environment decoded as os.environ
 * decodes it (nothing can have changed os.environ before os is imported).
 * NEED_OS: the real os.environ, importing os (parse() mutates it). */
PyObject *cgih_default_environ(PyObject *module, int need_os)
{
    cgi_state *st = cgih_cgi_state(module);
    if (st->environ)
        return Py_NewRef(st->environ);
    PyObject *os = PyDict_GetItemString(PyImport_GetModuleDict(), "os"); /* borrowed */
    if (os || need_os) {
        PyObject *owned = os ? NULL : PyImport_ImportModule("os");
        PyObject *e = os || owned ? cgih_getattr(os ? os : owned, "environ") : NULL;
        Py_XDECREF(owned);
        if (e)
            st->environ = Py_NewRef(e);
        return e;
    }
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        PyObject *k = PyUnicode_DecodeFSDefaultAndSize(*e, eq - *e);
        PyObject *v = k ? PyUnicode_DecodeFSDefault(eq + 1) : NULL;
        int rc = v ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* Error messages for the pure-Python signatures these functions imitate. */
static int no_kwargs(const char *fname, PyObject *kw)
{
    if (!kw || PyDict_GET_SIZE(kw) == 0)
        return 0;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    if (PyDict_Next(kw, &pos, &k, &v))
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%S'", fname, k);
    return -1;
}

/* ---- logging ---------------------------------------------------------------- */

static PyObject *call_global_args(PyObject *module, const char *name, PyObject *args)
{
    PyObject *f = cgih_load_global(module, name);
    if (!f)
        return NULL;
    PyObject *r = PyObject_Call(f, args, NULL);
    Py_DECREF(f);
    return r;
}

/* Whether f is warnings' own warn, _warnings.warn: the function itself,
 * not what sys.modules["_warnings"] holds now (a script may have taken the
 * name out, or the module away). */
static int is_warnings_own(PyObject *f)
{
    if (!PyCFunction_Check(f) || strcmp(((PyCFunctionObject *)f)->m_ml->ml_name, "warn") != 0)
        return 0;
    PyObject *self = PyCFunction_GET_SELF(f);
    const char *name = self && PyModule_Check(self) ? PyModule_GetName(self) : NULL;
    PyErr_Clear(); /* a module with no name: not _warnings */
    return name && strcmp(name, "_warnings") == 0;
}

/* initlog(*allargs) */
static PyObject *cgi_initlog(PyObject *module, PyObject *args, PyObject *kw)
{
    if (no_kwargs("initlog", kw) < 0)
        return NULL;
    /* warnings.warn(msg, DeprecationWarning, stacklevel=2): a script's
     * replacement is called so; warnings' own is _warnings.warn, and
     * stack level 1 from C is the Python caller, as stacklevel=2 is in
     * cgi.py. */
    static const char msg[] = "cgi.log() is deprecated as of 3.10. Use logging instead";
    PyObject *warn = cgih_loaded_attr("warnings", "warn");
    if (warn && !is_warnings_own(warn)) {
        PyObject *a = Py_BuildValue("(sO)", msg, PyExc_DeprecationWarning);
        PyObject *k = a ? Py_BuildValue("{si}", "stacklevel", 2) : NULL;
        PyObject *r = k ? PyObject_Call(warn, a, k) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(k);
        Py_XDECREF(r);
        Py_CLEAR(warn);
        if (!r)
            return NULL;
    } else {
        Py_XDECREF(warn);
        if (PyErr_Occurred() || PyErr_WarnEx(PyExc_DeprecationWarning, msg, 1) < 0)
            return NULL;
    }
    PyObject *logfile = cgih_load_global(module, "logfile");
    if (!logfile)
        return NULL;
    int t = PyObject_IsTrue(logfile);
    if (t > 0) {
        PyObject *logfp = cgih_load_global(module, "logfp");
        if (!logfp) {
            Py_DECREF(logfile);
            return NULL;
        }
        int has = PyObject_IsTrue(logfp);
        Py_DECREF(logfp);
        t = has < 0 ? -1 : !has;
    }
    if (t > 0) {
        PyObject *open = cgih_load_global(module, "open");
        PyObject *fp = NULL;
        if (open) {
            /* open(logfile, "a", encoding="locale"); before 3.10, which
             * has no "locale" encoding, encoding=None means the same. */
            PyObject *a = Py_BuildValue("(Os)", logfile, "a");
#if PY_VERSION_HEX >= 0x030A0000
            PyObject *k = a ? Py_BuildValue("{ss}", "encoding", "locale") : NULL;
#else
            PyObject *k = a ? Py_BuildValue("{sO}", "encoding", Py_None) : NULL;
#endif
            fp = k ? PyObject_Call(open, a, k) : NULL;
            Py_XDECREF(a);
            Py_XDECREF(k);
            Py_DECREF(open);
        }
        if (fp) {
            t = store_global(module, "logfp", fp);
            Py_DECREF(fp);
        } else if (PyErr_ExceptionMatches(PyExc_OSError)) {
            PyErr_Clear();
            t = 0;
        } else {
            t = -1;
        }
    }
    Py_DECREF(logfile);
    if (t < 0)
        return NULL;
    PyObject *logfp = cgih_load_global(module, "logfp");
    if (!logfp)
        return NULL;
    int has = PyObject_IsTrue(logfp);
    Py_DECREF(logfp);
    if (has < 0)
        return NULL;
    PyObject *f = cgih_load_global(module, has ? "dolog" : "nolog");
    if (!f)
        return NULL;
    int rc = store_global(module, "log", f);
    Py_DECREF(f);
    if (rc < 0)
        return NULL;
    return call_global_args(module, "log", args);
}

/* dolog(fmt, *args): logfp.write(fmt % args + "\n") */
static PyObject *cgi_dolog(PyObject *module, PyObject *args, PyObject *kw)
{
    PyObject *fmt = NULL, *rest = NULL, *res = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (kw && PyDict_GET_SIZE(kw)) {
        PyObject *kfmt = PyDict_GetItemString(kw, "fmt"); /* borrowed */
        Py_ssize_t extra = PyDict_GET_SIZE(kw) - (kfmt ? 1 : 0);
        if (kfmt && n > 0) {
            PyErr_SetString(PyExc_TypeError, "dolog() got multiple values for argument 'fmt'");
            return NULL;
        }
        if (extra) {
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (PyDict_Next(kw, &pos, &k, &v)) {
                if (!PyUnicode_Check(k) || PyUnicode_CompareWithASCIIString(k, "fmt") != 0) {
                    PyErr_Format(PyExc_TypeError, "dolog() got an unexpected keyword argument '%S'",
                                 k);
                    return NULL;
                }
            }
        }
        fmt = kfmt;
    }
    if (!fmt) {
        if (n == 0) {
            PyErr_SetString(PyExc_TypeError,
                            "dolog() missing 1 required positional argument: 'fmt'");
            return NULL;
        }
        fmt = PyTuple_GET_ITEM(args, 0);
        rest = PyTuple_GetSlice(args, 1, n);
    } else {
        rest = PyTuple_New(0);
    }
    if (!rest)
        return NULL;
    /* logfp.write is looked up before fmt % args is formatted */
    PyObject *logfp = cgih_load_global(module, "logfp");
    PyObject *write = logfp ? cgih_getattr(logfp, "write") : NULL;
    PyObject *line = write ? PyNumber_Remainder(fmt, rest) : NULL;
    PyObject *nl = line ? PyUnicode_FromString("\n") : NULL;
    PyObject *full = nl ? PyNumber_Add(line, nl) : NULL;
    if (full)
        res = PyObject_CallOneArg(write, full);
    Py_XDECREF(full);
    Py_XDECREF(nl);
    Py_XDECREF(line);
    Py_XDECREF(write);
    Py_XDECREF(logfp);
    Py_DECREF(rest);
    if (!res)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_NONE;
}

/* nolog(*allargs) */
static PyObject *cgi_nolog(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    (void)args;
    if (no_kwargs("nolog", kw) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* closelog() */
static PyObject *cgi_closelog(PyObject *module, PyObject *args, PyObject *kw)
{
    if (cgih_bind_args("closelog", 0, args, kw, NULL, 0, 0, NULL) < 0)
        return NULL;
    PyObject *empty = PyUnicode_FromString("");
    int rc = empty ? store_global(module, "logfile", empty) : -1;
    Py_XDECREF(empty);
    if (rc < 0)
        return NULL;
    PyObject *logfp = cgih_load_global(module, "logfp");
    if (!logfp)
        return NULL;
    int t = PyObject_IsTrue(logfp);
    if (t > 0) {
        PyObject *r = PyObject_CallMethod(logfp, "close", NULL);
        Py_XDECREF(r);
        t = r ? store_global(module, "logfp", Py_None) : -1;
    }
    Py_DECREF(logfp);
    if (t < 0)
        return NULL;
    PyObject *f = cgih_load_global(module, "initlog");
    if (!f)
        return NULL;
    rc = store_global(module, "log", f);
    Py_DECREF(f);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- parse and parse_multipart ---------------------------------------------- */

/* a, b = seq */
static int unpack2(PyObject *seq, PyObject **a, PyObject **b)
{
    PyObject *t = PySequence_Tuple(seq);
    if (!t) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                         Py_TYPE(seq)->tp_name);
        }
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    if (n != 2) {
        if (n > 2)
            PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 2)");
        else
            PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected 2, got %zd)", n);
        Py_DECREF(t);
        return -1;
    }
    *a = PyTuple_GET_ITEM(t, 0);
    *b = PyTuple_GET_ITEM(t, 1);
    Py_INCREF(*a);
    Py_INCREF(*b);
    Py_DECREF(t);
    return 0;
}

/* urllib.parse.parse_qs(qs, keep_blank_values, strict_parsing,
 * encoding=encoding, separator=separator) */
static PyObject *parse_qs(PyObject *qs, PyObject *keep_blank, PyObject *strict, PyObject *encoding,
                          PyObject *separator)
{
    if (!PyUnicode_Check(qs)) {
        /* bytes and stranger things: the real one, which is rare enough. */
        PyObject *m = PyImport_ImportModule("urllib.parse"), *f = NULL, *r = NULL;
        PyObject *a = NULL, *k = NULL;
        if (m && (f = cgih_getattr(m, "parse_qs")) &&
            (a = PyTuple_Pack(3, qs, keep_blank, strict)) &&
            (k = Py_BuildValue("{sOsO}", "encoding", encoding, "separator", separator)))
            r = PyObject_Call(f, a, k);
        Py_XDECREF(m);
        Py_XDECREF(f);
        Py_XDECREF(a);
        Py_XDECREF(k);
        return r;
    }
    PyObject *errors = PyUnicode_FromString("replace");
    if (!errors)
        return NULL;
    PyObject *pairs = cgih_parse_qsl(qs, keep_blank, strict, encoding, errors, Py_None, separator);
    Py_DECREF(errors);
    if (!pairs)
        return NULL;
    PyObject *d = PyDict_New();
    for (Py_ssize_t i = 0; d && i < PyList_GET_SIZE(pairs); i++) {
        PyObject *pair = PyList_GET_ITEM(pairs, i);
        PyObject *name = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
        PyObject *lst = PyDict_GetItemWithError(d, name); /* borrowed */
        int rc;
        if (lst) {
            rc = PyList_Append(lst, value);
        } else if (PyErr_Occurred()) {
            rc = -1;
        } else {
            PyObject *nl = PyList_New(1);
            if (nl) {
                Py_INCREF(value);
                PyList_SET_ITEM(nl, 0, value);
            }
            rc = nl ? PyDict_SetItem(d, name, nl) : -1;
            Py_XDECREF(nl);
        }
        if (rc < 0)
            Py_CLEAR(d);
    }
    Py_DECREF(pairs);
    return d;
}

/* qs = qs + '&' if qs, then + more. Steals qs; new reference. */
static PyObject *join_qs(PyObject *qs, PyObject *more)
{
    int t = PyObject_IsTrue(qs);
    if (t < 0) {
        Py_DECREF(qs);
        return NULL;
    }
    if (t) {
        PyObject *amp = PyUnicode_FromString("&");
        PyObject *a = amp ? PyNumber_Add(qs, amp) : NULL;
        Py_XDECREF(amp);
        Py_SETREF(qs, a);
        if (!qs)
            return NULL;
    }
    PyObject *r = PyNumber_Add(qs, more);
    Py_DECREF(qs);
    return r;
}

static PyObject *cgi_parse(PyObject *module, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"fp", "environ", "keep_blank_values", "strict_parsing",
                                        "separator"};
    PyObject *av[5];
    if (cgih_bind_args("parse", 0, args, kw, names, 5, 0, av) < 0)
        return NULL;
    PyObject *fp = av[0] ? av[0] : Py_None, *environ_ = av[1], *keep_blank = av[2], *strict = av[3];
    PyObject *separator = av[4];
    PyObject *zero = NULL, *amp = NULL, *encoding = NULL, *qs = NULL;
    PyObject *method = NULL, *ctype = NULL, *pdict = NULL, *res = NULL, *tmp = NULL;
    int t;
    Py_INCREF(fp);
    if (!(zero = PyLong_FromLong(0)) || !(amp = PyUnicode_FromString("&")))
        goto done;
    if (!keep_blank)
        keep_blank = zero;
    if (!strict)
        strict = zero;
    if (!separator)
        separator = amp;
    if (!environ_) {
        /* cgi.py mutates os.environ itself: that needs os. */
        if (!(environ_ = cgih_default_environ(module, 1)))
            goto done;
    } else {
        Py_INCREF(environ_);
    }

    if (fp == Py_None) {
        Py_SETREF(fp, cgih_sys_attr("stdin"));
        if (!fp)
            goto done;
    }
    encoding = cgih_getattr(fp, "encoding");
    if (!encoding) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            goto done;
        PyErr_Clear();
        if (!(encoding = PyUnicode_FromString("latin-1")))
            goto done;
    }
    PyObject *tiow = PyImport_ImportModule("_io");
    if (tiow)
        Py_SETREF(tiow, cgih_getattr(tiow, "TextIOWrapper"));
    t = tiow ? PyObject_IsInstance(fp, tiow) : -1;
    Py_XDECREF(tiow);
    if (t < 0)
        goto done;
    if (t) {
        Py_SETREF(fp, cgih_getattr(fp, "buffer"));
        if (!fp)
            goto done;
    }

    if ((t = cgih_has_key(environ_, "REQUEST_METHOD")) < 0)
        goto done;
    if (!t) {
        if (!(tmp = PyUnicode_FromString("GET")) ||
            setitem_str(environ_, "REQUEST_METHOD", tmp) < 0)
            goto done;
        Py_CLEAR(tmp);
    }
    if (!(method = cgih_get_key(environ_, "REQUEST_METHOD")))
        goto done;
    if (!(tmp = PyUnicode_FromString("POST")))
        goto done;
    t = PyObject_RichCompareBool(method, tmp, Py_EQ);
    Py_CLEAR(tmp);
    if (t < 0)
        goto done;
    if (t) {
        PyObject *ph = cgih_load_global(module, "parse_header");
        PyObject *ct = ph ? cgih_get_key(environ_, "CONTENT_TYPE") : NULL;
        PyObject *parsed = ct ? PyObject_CallOneArg(ph, ct) : NULL;
        Py_XDECREF(ph);
        Py_XDECREF(ct);
        t = parsed ? unpack2(parsed, &ctype, &pdict) : -1;
        Py_XDECREF(parsed);
        if (t < 0)
            goto done;
        if ((t = PyUnicode_Check(ctype) &&
                 PyUnicode_CompareWithASCIIString(ctype, "multipart/form-data") == 0)) {
            PyObject *pm = cgih_load_global(module, "parse_multipart");
            PyObject *a = pm ? PyTuple_Pack(2, fp, pdict) : NULL;
            PyObject *k = a ? Py_BuildValue("{sO}", "separator", separator) : NULL;
            if (k)
                res = PyObject_Call(pm, a, k);
            Py_XDECREF(pm);
            Py_XDECREF(a);
            Py_XDECREF(k);
            goto done;
        }
        if (PyUnicode_Check(ctype) &&
            PyUnicode_CompareWithASCIIString(ctype, "application/x-www-form-urlencoded") == 0) {
            PyObject *cl = cgih_get_key(environ_, "CONTENT_LENGTH");
            PyObject *clength = cl ? PyNumber_Long(cl) : NULL;
            Py_XDECREF(cl);
            if (!clength)
                goto done;
            PyObject *maxlen = cgih_load_global(module, "maxlen");
            t = maxlen ? PyObject_IsTrue(maxlen) : -1;
            if (t > 0)
                t = PyObject_RichCompareBool(clength, maxlen, Py_GT);
            Py_XDECREF(maxlen);
            if (t > 0)
                PyErr_SetString(PyExc_ValueError, "Maximum content length exceeded");
            PyObject *data = t == 0 ? PyObject_CallMethod(fp, "read", "O", clength) : NULL;
            Py_DECREF(clength);
            if (data)
                qs = PyObject_CallMethod(data, "decode", "O", encoding);
            Py_XDECREF(data);
        } else {
            qs = PyUnicode_FromString("");
        }
        if (!qs || (t = cgih_has_key(environ_, "QUERY_STRING")) < 0)
            goto done;
        if (t) {
            if (!(tmp = cgih_get_key(environ_, "QUERY_STRING")))
                goto done;
            qs = join_qs(qs, tmp);
            Py_CLEAR(tmp);
        } else {
            int err;
            tmp = cgih_argv1(&err);
            if (err)
                goto done;
            if (tmp)
                qs = join_qs(qs, tmp);
            Py_CLEAR(tmp);
        }
        if (!qs || setitem_str(environ_, "QUERY_STRING", qs) < 0)
            goto done;
    } else {
        if ((t = cgih_has_key(environ_, "QUERY_STRING")) < 0)
            goto done;
        if (t) {
            if (!(qs = cgih_get_key(environ_, "QUERY_STRING")))
                goto done;
        } else {
            int err;
            qs = cgih_argv1(&err);
            if (err)
                goto done;
            if (!qs && !(qs = PyUnicode_FromString("")))
                goto done;
            if (setitem_str(environ_, "QUERY_STRING", qs) < 0)
                goto done;
        }
    }
    res = parse_qs(qs, keep_blank, strict, encoding, separator);
done:
    Py_XDECREF(zero);
    Py_XDECREF(amp);
    Py_XDECREF(environ_);
    Py_XDECREF(fp);
    Py_XDECREF(encoding);
    Py_XDECREF(qs);
    Py_XDECREF(method);
    Py_XDECREF(ctype);
    Py_XDECREF(pdict);
    Py_XDECREF(tmp);
    return res;
}

/* parse_multipart(fp, pdict, encoding="utf-8", errors="replace", separator='&')
 *
 * cgi.py passes FieldStorage an email.message.Message made with
 * set_type(ctype); a dict with the lowercase keys FieldStorage looks up is the
 * same to it and costs no import of email. */
static PyObject *cgi_parse_multipart(PyObject *module, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"fp", "pdict", "encoding", "errors", "separator"};
    PyObject *av[5];
    if (cgih_bind_args("parse_multipart", 0, args, kw, names, 5, 2, av) < 0)
        return NULL;
    PyObject *fp = av[0], *pdict = av[1], *encoding = av[2], *errors = av[3], *separator = av[4];
    PyObject *owned[3] = {NULL, NULL, NULL};
    PyObject *b = NULL, *boundary = NULL, *ctype = NULL, *headers = NULL, *environ_ = NULL;
    PyObject *fs = NULL, *res = NULL, *it = NULL, *k;
    if (!encoding && !(encoding = owned[0] = PyUnicode_FromString("utf-8")))
        goto done;
    if (!errors && !(errors = owned[1] = PyUnicode_FromString("replace")))
        goto done;
    if (!separator && !(separator = owned[2] = PyUnicode_FromString("&")))
        goto done;
    if (!(b = cgih_get_key(pdict, "boundary")) ||
        !(boundary = PyObject_CallMethod(b, "decode", "s", "ascii")))
        goto done;
    PyObject *fmt = PyUnicode_FromString("multipart/form-data; boundary={}");
    if (!fmt)
        goto done;
    ctype = PyObject_CallMethod(fmt, "format", "O", boundary);
    Py_DECREF(fmt);
    if (!ctype)
        goto done;
    /* Message.set_type(): "if not type.count('/') == 1: raise ValueError" */
    Py_ssize_t len = PyUnicode_GET_LENGTH(ctype), slashes = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        slashes += PyUnicode_READ_CHAR(ctype, i) == '/';
    if (slashes != 1) {
        PyErr_SetNone(PyExc_ValueError);
        goto done;
    }
    if (!(headers = PyDict_New()) || PyDict_SetItemString(headers, "content-type", ctype) < 0)
        goto done;
    PyObject *cl = cgih_get_key(pdict, "CONTENT-LENGTH");
    if (cl) {
        int rc = PyDict_SetItemString(headers, "content-length", cl);
        Py_DECREF(cl);
        if (rc < 0)
            goto done;
    } else if (PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
    } else {
        goto done;
    }
    if (!(environ_ = Py_BuildValue("{ss}", "REQUEST_METHOD", "POST")))
        goto done;
    PyObject *cls = cgih_load_global(module, "FieldStorage");
    if (!cls)
        goto done;
    PyObject *a = PyTuple_Pack(1, fp);
    PyObject *kwargs =
        a ? Py_BuildValue("{sOsOsOsOsO}", "headers", headers, "encoding", encoding, "errors",
                          errors, "environ", environ_, "separator", separator)
          : NULL;
    if (kwargs)
        fs = PyObject_Call(cls, a, kwargs);
    Py_DECREF(cls);
    Py_XDECREF(a);
    Py_XDECREF(kwargs);
    if (!fs || !(res = PyDict_New()) || !(it = PyObject_GetIter(fs)))
        goto fail;
    while ((k = PyIter_Next(it))) {
        PyObject *v = PyObject_CallMethod(fs, "getlist", "O", k);
        int rc = v ? PyDict_SetItem(res, k, v) : -1;
        Py_XDECREF(v);
        Py_DECREF(k);
        if (rc < 0)
            goto fail;
    }
    if (PyErr_Occurred())
        goto fail;
    goto done;
fail:
    Py_CLEAR(res);
done:
    for (int i = 0; i < 3; i++)
        Py_XDECREF(owned[i]);
    Py_XDECREF(b);
    Py_XDECREF(boundary);
    Py_XDECREF(ctype);
    Py_XDECREF(headers);
    Py_XDECREF(environ_);
    Py_XDECREF(fs);
    Py_XDECREF(it);
    return res;
}

/* ---- test/debug helpers ----------------------------------------------------- */

static PyObject *cgi_print_exception(PyObject *module, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"type", "value", "tb", "limit"};
    PyObject *av[4];
    if (cgih_bind_args("print_exception", 0, args, kw, names, 4, 0, av) < 0)
        return NULL;
    PyObject *type = av[0] ? av[0] : Py_None, *value = av[1] ? av[1] : Py_None;
    PyObject *tb = av[2] ? av[2] : Py_None, *limit = av[3] ? av[3] : Py_None;
    PyObject *ei[3] = {NULL, NULL, NULL};
    PyObject *traceback = NULL, *l1 = NULL, *l2 = NULL, *lst = NULL, *res = NULL;
    if (type == Py_None) { /* type, value, tb = sys.exc_info() */
        PyObject *exc_info = cgih_sys_attr("exc_info");
        PyObject *r = exc_info ? PyObject_CallNoArgs(exc_info) : NULL;
        Py_XDECREF(exc_info);
        int rc = r ? cgih_unpack(r, 3, ei) : -1;
        Py_XDECREF(r);
        if (rc < 0)
            return NULL;
        type = ei[0];
        value = ei[1];
        tb = ei[2];
    }
    if (!(traceback = PyImport_ImportModule("traceback")))
        goto done;
    if (print_str(module, NULL) < 0 ||
        print_str(module, "<H3>Traceback (most recent call last):</H3>") < 0)
        goto done;
    if (!(l1 = PyObject_CallMethod(traceback, "format_tb", "OO", tb, limit)) ||
        !(l2 = PyObject_CallMethod(traceback, "format_exception_only", "OO", type, value)) ||
        !(lst = PyNumber_Add(l1, l2)))
        goto done;
    Py_ssize_t n = PyObject_Size(lst);
    if (n < 0)
        goto done;
    PyObject *head = PySequence_GetSlice(lst, 0, n - 1 < 0 ? 0 : n - 1);
    PyObject *last = PySequence_GetItem(lst, n - 1);
    PyObject *empty = PyUnicode_FromString("");
    PyObject *joined = head && empty ? PyUnicode_Join(empty, head) : NULL;
    PyObject *e1 = joined && last ? html_escape(joined) : NULL;
    PyObject *e2 = e1 ? html_escape(last) : NULL;
    PyObject *out = NULL;
    if (e2) {
        PyObject *fmt = PyUnicode_FromString("<PRE>%s<B>%s</B></PRE>");
        PyObject *pair = fmt ? PyTuple_Pack(2, e1, e2) : NULL;
        out = pair ? PyNumber_Remainder(fmt, pair) : NULL;
        Py_XDECREF(fmt);
        Py_XDECREF(pair);
    }
    Py_XDECREF(head);
    Py_XDECREF(last);
    Py_XDECREF(empty);
    Py_XDECREF(joined);
    Py_XDECREF(e1);
    Py_XDECREF(e2);
    if (print_steal(module, out, NULL) < 0)
        goto done;
    res = Py_None;
    Py_INCREF(res);
done:
    for (int i = 0; i < 3; i++)
        Py_XDECREF(ei[i]);
    Py_XDECREF(traceback);
    Py_XDECREF(l1);
    Py_XDECREF(l2);
    Py_XDECREF(lst);
    return res;
}

static int print_environ_impl(PyObject *module, PyObject *environ_)
{
    PyObject *keys = PyObject_CallMethod(environ_, "keys", NULL);
    PyObject *sorted = keys ? PySequence_List(keys) : NULL;
    Py_XDECREF(keys);
    if (!sorted || PyList_Sort(sorted) < 0 || print_str(module, NULL) < 0 ||
        print_str(module, "<H3>Shell Environment:</H3>") < 0 || print_str(module, "<DL>") < 0)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sorted); i++) {
        PyObject *key = PyList_GET_ITEM(sorted, i);
        PyObject *ek = html_escape(key);
        PyObject *v = ek ? PyObject_GetItem(environ_, key) : NULL;
        PyObject *ev = v ? html_escape(v) : NULL;
        PyObject *a = ev ? Py_BuildValue("(sOsO)", "<DT>", ek, "<DD>", ev) : NULL;
        Py_XDECREF(ek);
        Py_XDECREF(v);
        Py_XDECREF(ev);
        int rc = a ? print_objs(module, a, NULL) : -1;
        Py_XDECREF(a);
        if (rc < 0)
            goto fail;
    }
    Py_DECREF(sorted);
    if (print_str(module, "</DL>") < 0 || print_str(module, NULL) < 0)
        return -1;
    return 0;
fail:
    Py_XDECREF(sorted);
    return -1;
}

static PyObject *cgi_print_environ(PyObject *module, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"environ"};
    PyObject *environ_;
    if (cgih_bind_args("print_environ", 0, args, kw, names, 1, 0, &environ_) < 0)
        return NULL;
    if (environ_)
        Py_INCREF(environ_);
    else if (!(environ_ = cgih_default_environ(module, 0)))
        return NULL;
    int rc = print_environ_impl(module, environ_);
    Py_DECREF(environ_);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *cgi_print_form(PyObject *module, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"form"};
    PyObject *form;
    if (cgih_bind_args("print_form", 0, args, kw, names, 1, 1, &form) < 0)
        return NULL;
    PyObject *keys = PyObject_CallMethod(form, "keys", NULL);
    PyObject *sorted = keys ? PySequence_List(keys) : NULL;
    Py_XDECREF(keys);
    if (!sorted || PyList_Sort(sorted) < 0 || print_str(module, NULL) < 0 ||
        print_str(module, "<H3>Form Contents:</H3>") < 0)
        goto fail;
    if (PyList_GET_SIZE(sorted) == 0 && print_str(module, "<P>No form fields.") < 0)
        goto fail;
    if (print_str(module, "<DL>") < 0)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sorted); i++) {
        PyObject *key = PyList_GET_ITEM(sorted, i), *value = NULL, *s = NULL, *e = NULL;
        int ok = 0;
        if (!(e = html_escape(key)) || print_steal(module, concat3("<DT>", e, ":"), " ") < 0)
            goto item_done;
        Py_CLEAR(e);
        if (!(value = PyObject_GetItem(form, key)))
            goto item_done;
        if (!(s = PyObject_Repr((PyObject *)Py_TYPE(value))) || !(e = html_escape(s)) ||
            print_steal(module, concat3("<i>", e, "</i>"), NULL) < 0)
            goto item_done;
        Py_CLEAR(s);
        Py_CLEAR(e);
        if (!(s = PyObject_Repr(value)) || !(e = html_escape(s)) ||
            print_steal(module, concat3("<DD>", e, ""), NULL) < 0)
            goto item_done;
        ok = 1;
    item_done:
        Py_XDECREF(value);
        Py_XDECREF(s);
        Py_XDECREF(e);
        if (!ok)
            goto fail;
    }
    Py_DECREF(sorted);
    if (print_str(module, "</DL>") < 0 || print_str(module, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
fail:
    Py_XDECREF(sorted);
    return NULL;
}

static PyObject *cgi_print_directory(PyObject *module, PyObject *args, PyObject *kw)
{
    if (cgih_bind_args("print_directory", 0, args, kw, NULL, 0, 0, NULL) < 0)
        return NULL;
    if (print_str(module, NULL) < 0 || print_str(module, "<H3>Current Working Directory:</H3>") < 0)
        return NULL;
    /* os.getcwd(): os's, which a script may have replaced, where os is
     * loaded (always, but for a script that took it out of sys.modules);
     * else posix.getcwd, which it is, posix being always loaded. */
    PyObject *getcwd = cgih_loaded_attr("os", "getcwd");
    if (!getcwd && !PyErr_Occurred()) {
        PyObject *posix = PyImport_ImportModule("posix");
        getcwd = posix ? cgih_getattr(posix, "getcwd") : NULL;
        Py_XDECREF(posix);
    }
    PyObject *pwd = getcwd ? PyObject_CallNoArgs(getcwd) : NULL;
    Py_XDECREF(getcwd);
    int rc;
    if (pwd) {
        rc = print_steal(module, html_escape(pwd), NULL);
        Py_DECREF(pwd);
    } else if (PyErr_ExceptionMatches(PyExc_OSError)) {
        PyObject *exc = PyErr_GetRaisedException_compat();
        PyObject *s = PyObject_Str(exc);
        PyObject *e = s ? html_escape(s) : NULL;
        PyObject *a = e ? Py_BuildValue("(sO)", "OSError:", e) : NULL;
        rc = a ? print_objs(module, a, NULL) : -1;
        Py_XDECREF(a);
        Py_XDECREF(e);
        Py_XDECREF(s);
        Py_DECREF(exc);
    } else {
        return NULL;
    }
    if (rc < 0 || print_str(module, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *cgi_print_arguments(PyObject *module, PyObject *args, PyObject *kw)
{
    if (cgih_bind_args("print_arguments", 0, args, kw, NULL, 0, 0, NULL) < 0)
        return NULL;
    if (print_str(module, NULL) < 0 || print_str(module, "<H3>Command Line Arguments:</H3>") < 0 ||
        print_str(module, NULL) < 0 || print_steal(module, cgih_sys_attr("argv"), NULL) < 0 ||
        print_str(module, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static const char environ_usage[] =
    "\n"
    "<H3>These environment variables could have been set:</H3>\n"
    "<UL>\n"
    "<LI>AUTH_TYPE\n"
    "<LI>CONTENT_LENGTH\n"
    "<LI>CONTENT_TYPE\n"
    "<LI>DATE_GMT\n"
    "<LI>DATE_LOCAL\n"
    "<LI>DOCUMENT_NAME\n"
    "<LI>DOCUMENT_ROOT\n"
    "<LI>DOCUMENT_URI\n"
    "<LI>GATEWAY_INTERFACE\n"
    "<LI>LAST_MODIFIED\n"
    "<LI>PATH\n"
    "<LI>PATH_INFO\n"
    "<LI>PATH_TRANSLATED\n"
    "<LI>QUERY_STRING\n"
    "<LI>REMOTE_ADDR\n"
    "<LI>REMOTE_HOST\n"
    "<LI>REMOTE_IDENT\n"
    "<LI>REMOTE_USER\n"
    "<LI>REQUEST_METHOD\n"
    "<LI>SCRIPT_NAME\n"
    "<LI>SERVER_NAME\n"
    "<LI>SERVER_PORT\n"
    "<LI>SERVER_PROTOCOL\n"
    "<LI>SERVER_ROOT\n"
    "<LI>SERVER_SOFTWARE\n"
    "</UL>\n"
    "In addition, HTTP headers sent by the server may be passed in the\n"
    "environment as well.  Here are some common variable names:\n"
    "<UL>\n"
    "<LI>HTTP_ACCEPT\n"
    "<LI>HTTP_CONNECTION\n"
    "<LI>HTTP_HOST\n"
    "<LI>HTTP_PRAGMA\n"
    "<LI>HTTP_REFERER\n"
    "<LI>HTTP_USER_AGENT\n"
    "</UL>\n";

static PyObject *cgi_print_environ_usage(PyObject *module, PyObject *args, PyObject *kw)
{
    if (cgih_bind_args("print_environ_usage", 0, args, kw, NULL, 0, 0, NULL) < 0)
        return NULL;
    if (print_str(module, environ_usage) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Calls the global `name` with args (NULL: none); 0 or -1. */
static int call_global_void(PyObject *module, const char *name, PyObject *arg)
{
    PyObject *f = cgih_load_global(module, name);
    if (!f)
        return -1;
    PyObject *r = arg ? PyObject_CallOneArg(f, arg) : PyObject_CallNoArgs(f);
    Py_DECREF(f);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *cgi_test(PyObject *module, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"environ"};
    PyObject *environ_;
    if (cgih_bind_args("test", 0, args, kw, names, 1, 0, &environ_) < 0)
        return NULL;
    if (environ_)
        Py_INCREF(environ_);
    else if (!(environ_ = cgih_default_environ(module, 0)))
        return NULL;
    PyObject *res = NULL;
    if (print_str(module, "Content-type: text/html") < 0 || print_str(module, NULL) < 0)
        goto done;
    PyObject *out = cgih_sys_attr("stdout");
    int rc = out ? PySys_SetObject("stderr", out) : -1;
    Py_XDECREF(out);
    if (rc < 0)
        goto done;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (print_str(module, "<H1>Second try with a small maxlen...</H1>") < 0)
                goto done;
            PyObject *fifty = PyLong_FromLong(50);
            rc = fifty ? store_global(module, "maxlen", fifty) : -1;
            Py_XDECREF(fifty);
            if (rc < 0)
                goto done;
        }
        /* try: */
        PyObject *fsc = cgih_load_global(module, "FieldStorage");
        PyObject *form = fsc ? PyObject_CallNoArgs(fsc) : NULL;
        Py_XDECREF(fsc);
        rc = form ? 0 : -1;
        if (rc == 0)
            rc = call_global_void(module, "print_directory", NULL);
        if (rc == 0)
            rc = call_global_void(module, "print_arguments", NULL);
        if (rc == 0)
            rc = call_global_void(module, "print_form", form);
        if (rc == 0)
            rc = call_global_void(module, "print_environ", environ_);
        Py_XDECREF(form);
        if (pass == 0) {
            if (rc == 0)
                rc = call_global_void(module, "print_environ_usage", NULL);
            if (rc == 0)
                rc = print_str(module, "<H3>What follows is a test, not an actual exception:</H3>");
            if (rc == 0) {
                /* g() -> f() -> exec("testing print_exception() -- <I>italics?</I>") */
                PyObject *ex = cgih_load_global(module, "exec");
                PyObject *r = ex ? PyObject_CallFunction(
                                       ex, "sO", "testing print_exception() -- <I>italics?</I>",
                                       PyModule_GetDict(module))
                                 : NULL;
                Py_XDECREF(ex);
                Py_XDECREF(r);
                rc = r ? 0 : -1;
            }
        }
        if (rc < 0) {
            /* except: print_exception() */
            cgih_handled saved;
            cgih_except_begin(&saved);
            rc = call_global_void(module, "print_exception", NULL);
            cgih_except_end(&saved);
            if (rc < 0)
                goto done;
        }
    }
    res = Py_None;
    Py_INCREF(res);
done:
    Py_DECREF(environ_);
    return res;
}

/* cgi.py's docstrings, as they are (help() and __doc__ show the same). */
#define DOC_parse                                                                                  \
    "Parse a query in the environment or from a file (default stdin)\n"                            \
    "\n"                                                                                           \
    "        Arguments, all optional:\n"                                                           \
    "\n"                                                                                           \
    "        fp              : file pointer; default: sys.stdin.buffer\n"                          \
    "\n"                                                                                           \
    "        environ         : environment dictionary; default: os.environ\n"                      \
    "\n"                                                                                           \
    "        keep_blank_values: flag indicating whether blank values in\n"                         \
    "            percent-encoded forms should be treated as blank strings.\n"                      \
    "            A true value indicates that blanks should be retained as\n"                       \
    "            blank strings.  The default false value indicates that\n"                         \
    "            blank values are to be ignored and treated as if they were\n"                     \
    "            not included.\n"                                                                  \
    "\n"                                                                                           \
    "        strict_parsing: flag indicating what to do with parsing errors.\n"                    \
    "            If false (the default), errors are silently ignored.\n"                           \
    "            If true, errors raise a ValueError exception.\n"                                  \
    "\n"                                                                                           \
    "        separator: str. The symbol to use for separating the query arguments.\n"              \
    "            Defaults to &.\n"                                                                 \
    "    "

#define DOC_parse_multipart                                                                        \
    "Parse multipart input.\n"                                                                     \
    "\n"                                                                                           \
    "    Arguments:\n"                                                                             \
    "    fp   : input file\n"                                                                      \
    "    pdict: dictionary containing other parameters of content-type header\n"                   \
    "    encoding, errors: request encoding and error handler, passed to\n"                        \
    "        FieldStorage\n"                                                                       \
    "\n"                                                                                           \
    "    Returns a dictionary just like parse_qs(): keys are the field names, each\n"              \
    "    value is a list of values for that field. For non-file fields, the value\n"               \
    "    is a list of strings.\n"                                                                  \
    "    "

#define DOC_initlog                                                                                \
    "Write a log message, if there is a log file.\n"                                               \
    "\n"                                                                                           \
    "    Even though this function is called initlog(), you should always\n"                       \
    "    use log(); log is a variable that is set either to initlog\n"                             \
    "    (initially), to dolog (once the log file has been opened), or to\n"                       \
    "    nolog (when logging is disabled).\n"                                                      \
    "\n"                                                                                           \
    "    The first argument is a format string; the remaining arguments (if\n"                     \
    "    any) are arguments to the % operator, so e.g.\n"                                          \
    "        log(\"%s: %s\", \"a\", \"b\")\n"                                                      \
    "    will write \"a: b\" to the log file, followed by a newline.\n"                            \
    "\n"                                                                                           \
    "    If the global logfp is not None, it should be a file object to\n"                         \
    "    which log data is written.\n"                                                             \
    "\n"                                                                                           \
    "    If the global logfp is None, the global logfile may be a string\n"                        \
    "    giving a filename to open, in append mode.  This file should be\n"                        \
    "    world writable!!!  If the file can't be opened, logging is\n"                             \
    "    silently disabled (since there is no safe place where we could\n"                         \
    "    send an error message).\n"                                                                \
    "\n"                                                                                           \
    "    "

#define DOC_dolog "Write a log message to the log file.  See initlog() for docs."

#define DOC_nolog "Dummy function, assigned to log when logging is disabled."

#define DOC_closelog "Close the log file."

#define DOC_test                                                                                   \
    "Robust test CGI script, usable as main program.\n"                                            \
    "\n"                                                                                           \
    "    Write minimal HTTP headers and dump all information provided to\n"                        \
    "    the script in HTML form.\n"                                                               \
    "\n"                                                                                           \
    "    "

#define DOC_print_environ "Dump the shell environment as HTML."

#define DOC_print_form "Dump the contents of a form as HTML."

#define DOC_print_directory "Dump the current directory as HTML."

#define DOC_print_environ_usage "Dump a list of environment variables used by CGI as HTML."

/* A text signature (inspect.signature(), help()) as cgi.py's own: CPython
 * takes it off the docstring. (One can hold constants only: parse(),
 * test() and print_environ(), whose environ defaults to os.environ, have
 * none.) */
#define SIG(s) s "\n--\n\n"

PyMethodDef cgih_cgi_funcs[] = {
    {"parse", (PyCFunction)(void (*)(void))cgi_parse, METH_VARARGS | METH_KEYWORDS, DOC_parse},
    {"parse_multipart", (PyCFunction)(void (*)(void))cgi_parse_multipart,
     METH_VARARGS | METH_KEYWORDS,
     SIG("parse_multipart($module, /, fp, pdict, encoding='utf-8', errors='replace', separator='&')")
         DOC_parse_multipart},
    {"initlog", (PyCFunction)(void (*)(void))cgi_initlog, METH_VARARGS | METH_KEYWORDS,
     SIG("initlog($module, /, *allargs)") DOC_initlog},
    {"dolog", (PyCFunction)(void (*)(void))cgi_dolog, METH_VARARGS | METH_KEYWORDS,
     SIG("dolog($module, /, fmt, *args)") DOC_dolog},
    {"nolog", (PyCFunction)(void (*)(void))cgi_nolog, METH_VARARGS | METH_KEYWORDS,
     SIG("nolog($module, /, *allargs)") DOC_nolog},
    {"closelog", (PyCFunction)(void (*)(void))cgi_closelog, METH_VARARGS | METH_KEYWORDS,
     SIG("closelog($module, /)") DOC_closelog},
    {"test", (PyCFunction)(void (*)(void))cgi_test, METH_VARARGS | METH_KEYWORDS, DOC_test},
    {"print_exception", (PyCFunction)(void (*)(void))cgi_print_exception,
     METH_VARARGS | METH_KEYWORDS,
     SIG("print_exception($module, /, type=None, value=None, tb=None, limit=None)") ""},
    {"print_environ", (PyCFunction)(void (*)(void))cgi_print_environ, METH_VARARGS | METH_KEYWORDS,
     DOC_print_environ},
    {"print_form", (PyCFunction)(void (*)(void))cgi_print_form, METH_VARARGS | METH_KEYWORDS,
     SIG("print_form($module, /, form)") DOC_print_form},
    {"print_directory", (PyCFunction)(void (*)(void))cgi_print_directory,
     METH_VARARGS | METH_KEYWORDS, SIG("print_directory($module, /)") DOC_print_directory},
    {"print_arguments", (PyCFunction)(void (*)(void))cgi_print_arguments,
     METH_VARARGS | METH_KEYWORDS, SIG("print_arguments($module, /)") ""},
    {"print_environ_usage", (PyCFunction)(void (*)(void))cgi_print_environ_usage,
     METH_VARARGS | METH_KEYWORDS, SIG("print_environ_usage($module, /)") DOC_print_environ_usage},
    {NULL, NULL, 0, NULL},
};
