/* fieldstorage.c: cgi.FieldStorage as a C heap type, and cgi.MiniFieldStorage (made
 * by type() before CPython 3.13, a C type with a managed __dict__ from it).
 *
 * Instances keep their state in an instance __dict__ under the same attribute
 * names as cgi.py (name, filename, list, file, headers, _FieldStorage__file, ...),
 * and every internal step is dispatched through attribute lookup, so Python
 * subclasses that override make_file(), read_*() or FieldStorageClass behave as
 * they do with the stdlib. Except in a multipart body's parts, whose fp is
 * the parser's stream (multipartbind.c): there an override of a read_*()
 * method that reads self.fp line by line, or of _FieldStorage__write, does
 * not see the part's lines (README, "Differences").
 */
#include "cgi_internal.h"
#include "parsers/multipart.h"

#include <stddef.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    PyObject *dict;
    PyObject *weakreflist;
} fs_object;

/* ---- small helpers ------------------------------------------------------- */

static int set(PyObject *self, const char *name, PyObject *v)
{
    return cgih_setattr(self, name, v);
}

static int set_steal(PyObject *self, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    int rc = set(self, name, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *get(PyObject *self, const char *name)
{
    return cgih_getattr(self, name);
}

/* hasattr(o, name): 1, 0, or -1 for an error other than AttributeError. */
static int has_attr(PyObject *o, const char *name)
{
    PyObject *v = get(o, name);
    if (v) {
        Py_DECREF(v);
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        return -1;
    PyErr_Clear();
    return 0;
}

static PyObject *call_method0(PyObject *self, const char *name)
{
    PyObject *n = cgih_name(name);
    PyObject *r = n ? PyObject_CallMethodObjArgs(self, n, NULL) : NULL;
    Py_XDECREF(n);
    return r;
}

static int call_method0_void(PyObject *self, const char *name)
{
    PyObject *r = call_method0(self, name);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* The global `name` as cgi.py's code reads it (new reference): the cgi
 * module's, else the builtin, else NameError (a script's `del cgi.maxlen`). */
static PyObject *module_global(PyTypeObject *tp, const char *name)
{
    PyObject *m = cgih_cgi_module_of(tp);
    return m ? cgih_load_global(m, name) : NULL;
}

/* getattr(module, attr), the module taken from sys.modules where it is
 * (as cgi.py's names bound at its import: no import statement's machinery
 * at every call), else imported. */
static PyObject *import_attr(const char *module, const char *attr)
{
    PyObject *name = PyUnicode_FromString(module);
    PyObject *m = name ? PyImport_GetModule(name) : NULL;
    if (!m && name && !PyErr_Occurred())
        m = PyImport_Import(name);
    Py_XDECREF(name);
    if (!m)
        return NULL;
    PyObject *a = cgih_getattr(m, attr);
    Py_DECREF(m);
    return a;
}

/* type(x).__name__ (new reference) */
static PyObject *type_name(PyObject *x)
{
    return cgih_getattr((PyObject *)Py_TYPE(x), "__name__");
}

/* ValueError("%s should return bytes, got %s" % (fp, type(x).__name__)) */
static void not_bytes(PyObject *fp, PyObject *x)
{
    PyObject *n = type_name(x);
    if (n)
        PyErr_Format(PyExc_ValueError, "%S should return bytes, got %S", fp, n);
    Py_XDECREF(n);
}

/* ---- GC and lifetime, shared by both types -------------------------------- */

static int fs_traverse(fs_object *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
#if PY_VERSION_HEX >= 0x03090000
    Py_VISIT(Py_TYPE(self));
#endif
    return 0;
}

static int fs_clear(fs_object *self)
{
    Py_CLEAR(self->dict);
    return 0;
}

static void fs_dealloc(fs_object *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_finalize && PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    fs_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMemberDef fs_members[] = {
    {"__dictoffset__", Py_T_PYSSIZET, offsetof(fs_object, dict), Py_READONLY, NULL},
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(fs_object, weakreflist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

/* __dict__, as instances of a Python class have it (vars(fs), fs.__dict__). */
static PyGetSetDef fs_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- MiniFieldStorage ----------------------------------------------------- */

static int mini_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"name", "value"};
    PyObject *av[2];
    if (cgih_bind_args("MiniFieldStorage.__init__", 1, args, kw, names, 2, 2, av) < 0)
        return -1;
    PyObject *name = av[0], *value = av[1];
    if (set(self, "name", name) < 0 || set(self, "value", value) < 0)
        return -1;
    return 0;
}

static PyObject *mini_repr(PyObject *self)
{
    PyObject *name = get(self, "name"), *value = name ? get(self, "value") : NULL, *r = NULL;
    if (value)
        r = PyUnicode_FromFormat("MiniFieldStorage(%R, %R)", name, value);
    Py_XDECREF(name);
    Py_XDECREF(value);
    return r;
}

/* cgi.py's MiniFieldStorage class attributes, in its order, into dict:
 * filename = list = type = file = None, type_options = {}, disposition =
 * None, disposition_options = headers = {}. */
static int put_mini_class_attrs(PyObject *dict)
{
    static const char *const names[] = {
        "filename", "list", "type", "file", "type_options", "disposition", "disposition_options",
        "headers"};
    int rc = 0;
    for (int i = 0; rc == 0 && i < 8; i++) {
        int is_dict = i == 4 || i == 6 || i == 7;
        PyObject *v = is_dict ? PyDict_New() : Py_NewRef(Py_None);
        rc = v ? PyDict_SetItemString(dict, names[i], v) : -1;
        Py_XDECREF(v);
    }
    return rc;
}

#if PY_VERSION_HEX >= 0x030D0000
/* From 3.13 a C type can have its objects' __dict__ managed as a Python
 * class's are (Py_TPFLAGS_MANAGED_DICT, with PyObject_VisitManagedDict and
 * PyObject_ClearManagedDict): the same ~100 bytes an object, for a fifth of
 * what type() costs the module's import (type_new: about 15 us here). */
static int mini_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return PyObject_VisitManagedDict(self, visit, arg);
}

static int mini_clear(PyObject *self)
{
    PyObject_ClearManagedDict(self);
    return 0;
}

static void mini_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_finalize && PyObject_CallFinalizerFromDealloc(self) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(self);
    PyObject_ClearWeakRefs(self);
    PyObject_ClearManagedDict(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot mini_slots[] = {
    {Py_tp_doc, "Like FieldStorage, for use when no file uploads are possible."},
    {Py_tp_init, mini_init},
    {Py_tp_repr, mini_repr},
    {Py_tp_getset, fs_getset},
    {Py_tp_traverse, mini_traverse},
    {Py_tp_clear, mini_clear},
    {Py_tp_dealloc, mini_dealloc},
    {0, NULL},
};

static PyType_Spec mini_spec = {
    .name = "cgi.MiniFieldStorage",
    .basicsize = sizeof(PyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF,
    .slots = mini_slots,
};

static PyTypeObject *make_mini(PyObject *module, PyTypeObject *method_type)
{
    (void)method_type;
    PyTypeObject *tp = (PyTypeObject *)PyType_FromModuleAndSpec(module, &mini_spec, NULL);
    /* "object of type 'MiniFieldStorage' has no len()"; __module__ stays "cgi" */
    if (tp && (cgih_bare_tp_name(tp) < 0 || put_mini_class_attrs(tp->tp_dict) < 0))
        Py_CLEAR(tp);
    else if (tp)
        PyType_Modified(tp);
    return tp;
}
#else
/* Before 3.13, MiniFieldStorage is made by type(), as a class statement
 * makes it, so that its objects keep their attributes as a Python class's
 * objects do (3.11: values inline in the object, keys shared by the class),
 * not in a dict of their own each: ~100 bytes an object, where a C type's
 * per-object dict took 250 (one per query field: a 16 MiB "a=b&a=b..." body
 * took 1.3 GiB, where cgi.py takes 0.75). Its __init__ and __repr__: */
static PyObject *mini_init_method(PyObject *self, PyObject *args, PyObject *kw)
{
    if (mini_init(self, args, kw) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *mini_repr_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return mini_repr(self);
}

static PyMethodDef mini_methods[] = {
    {"__init__", (PyCFunction)(void (*)(void))mini_init_method, METH_VARARGS | METH_KEYWORDS,
     "__init__($self, name, value)\n--\n\nConstructor from field name and value."},
    {"__repr__", mini_repr_method, METH_NOARGS,
     "__repr__($self)\n--\n\nReturn printable representation."},
    {NULL, NULL, 0, NULL},
};

/* type("MiniFieldStorage", (), ns), with the class attributes of cgi.py's and
 * the methods above (set again as attributes: the slots follow them). */
static PyTypeObject *make_mini(PyObject *module, PyTypeObject *method_type)
{
    PyObject *ns = PyDict_New(), *modname = ns ? PyModule_GetNameObject(module) : NULL;
    PyObject *doc =
        modname
            ? PyUnicode_FromString("Like FieldStorage, for use when no file uploads are possible.")
            : NULL;
    int rc = doc && PyDict_SetItemString(ns, "__module__", modname) == 0 &&
                     PyDict_SetItemString(ns, "__doc__", doc) == 0
                 ? 0
                 : -1;
    Py_XDECREF(modname);
    Py_XDECREF(doc);
    if (rc == 0)
        rc = put_mini_class_attrs(ns);
    PyObject *tp =
        rc == 0 ? PyObject_CallFunction((PyObject *)&PyType_Type, "s()O", "MiniFieldStorage", ns)
                : NULL;
    Py_XDECREF(ns);
    if (!tp)
        return NULL;
    rc = cgih_add_methods(method_type, (PyTypeObject *)tp, mini_methods);
    for (PyMethodDef *d = mini_methods; rc == 0 && d->ml_name; d++) {
        PyObject *m = PyDict_GetItemString(((PyTypeObject *)tp)->tp_dict, d->ml_name);
        rc = m ? PyObject_SetAttrString(tp, d->ml_name, m) : -1;
    }
    if (rc < 0)
        Py_CLEAR(tp);
    return (PyTypeObject *)tp;
}
#endif

/* ---- FieldStorage: construction ------------------------------------------- */

/* qs.encode(locale.getpreferredencoding(), 'surrogateescape'). An ASCII
 * query string (a URL's is) is the same bytes in every locale encoding
 * Linux has: no locale module, no codec, 10% of a GET's FieldStorage()
 * (unless a script replaced the function, which is then called). Any other
 * goes as cgi.py sends it: "utf-8" in UTF-8 mode (python3's under a C or
 * POSIX LC_ALL), which PyUnicode_EncodeLocale() would not heed, else the
 * encoding of LC_CTYPE as the environment sets it now; a str subclass's
 * own encode() is called. */
static PyObject *encode_locale(PyObject *qs)
{
    PyObject *rep =
        PyUnicode_CheckExact(qs) ? cgih_replaced_attr("locale", "getpreferredencoding") : NULL;
    if (!rep && PyErr_Occurred())
        return NULL;
    int replaced = !PyUnicode_CheckExact(qs) || rep;
    Py_XDECREF(rep);
    if (!replaced) {
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(qs) < 0)
            return NULL;
#endif
        if (PyUnicode_IS_ASCII(qs))
            return PyBytes_FromStringAndSize((const char *)PyUnicode_DATA(qs),
                                             PyUnicode_GET_LENGTH(qs));
    }
    PyObject *pref = import_attr("locale", "getpreferredencoding");
    PyObject *enc = pref ? PyObject_CallNoArgs(pref) : NULL;
    Py_XDECREF(pref);
    if (!enc)
        return NULL;
    PyObject *r = PyObject_CallMethod(qs, "encode", "Os", enc, "surrogateescape");
    Py_DECREF(enc);
    return r;
}

static int headers_type_ok(PyObject *headers)
{
    if (PyDict_Check(headers) || cgih_is_headers(headers))
        return 1;
    /* collections.abc.Mapping is _collections_abc.Mapping, which is frozen and
     * loaded at start-up; collections.abc would import all of collections. */
    PyObject *mapping = import_attr("_collections_abc", "Mapping");
    if (!mapping)
        return -1;
    int ok = PyObject_IsInstance(headers, mapping);
    Py_DECREF(mapping);
    if (ok != 0)
        return ok;
    /* An email.message.Message can only exist once email.message is loaded. */
    PyObject *mods = PyImport_GetModuleDict();
    PyObject *em = PyDict_GetItemString(mods, "email.message");
    if (!em)
        return 0;
    PyObject *msg = cgih_getattr(em, "Message");
    if (!msg)
        return -1;
    ok = PyObject_IsInstance(headers, msg);
    Py_DECREF(msg);
    return ok;
}

/* The global NAME of cgi.py's code (parse_header, valid_boundary) when a
 * script replaced it (a new reference), or NULL: with no error while it is
 * the module's own function, whose C core is then called directly; with
 * NameError when it is gone. */
static PyObject *replaced_function(PyTypeObject *tp, const char *name)
{
    PyObject *m = cgih_cgi_module_of(tp); /* borrowed */
    PyObject *f = m ? cgih_load_global(m, name) : NULL;
    if (f && PyCFunction_Check(f) && PyCFunction_GetSelf(f) == m &&
        strcmp(((PyCFunctionObject *)f)->m_ml->ml_name, name) == 0)
        Py_CLEAR(f);
    return f;
}

/* (key, pdict) = parse_header(headers[name]) if name in headers, else NULL
 * with no error (*found = 0). A 2-tuple. */
static PyObject *header_params(PyTypeObject *tp, PyObject *headers, const char *name, int *found)
{
    *found = cgih_has_key(headers, name);
    if (*found <= 0)
        return NULL;
    PyObject *v = cgih_get_key(headers, name);
    if (!v)
        return NULL;
    PyObject *f = replaced_function(tp, "parse_header"), *r = NULL, *kp[2];
    if (f) {
        PyObject *got = PyObject_CallOneArg(f, v);
        if (got && cgih_unpack(got, 2, kp) == 0) {
            r = PyTuple_Pack(2, kp[0], kp[1]);
            Py_DECREF(kp[0]);
            Py_DECREF(kp[1]);
        }
        Py_XDECREF(got);
        Py_DECREF(f);
    } else if (!PyErr_Occurred()) {
        r = cgih_parse_header(v);
    }
    Py_DECREF(v);
    return r;
}

/* *out = pdict[key] if key in pdict, else NULL (a new reference); -1 on an
 * error. pdict is parse_header()'s, or a replacement's of any type. */
static int pdict_item(PyObject *pdict, const char *key, PyObject **out)
{
    *out = NULL;
    if (PyDict_CheckExact(pdict)) {
        PyObject *k = cgih_name(key);
        *out = k ? Py_XNewRef(PyDict_GetItemWithError(pdict, k)) : NULL;
        Py_XDECREF(k);
        return *out || !PyErr_Occurred() ? 0 : -1;
    }
    int has = cgih_has_key(pdict, key);
    if (has > 0)
        *out = cgih_get_key(pdict, key);
    return has < 0 || (has > 0 && !*out) ? -1 : 0;
}

static int fs_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"fp", "headers", "outerboundary", "environ",
                                        "keep_blank_values", "strict_parsing", "limit",
                                        "encoding", "errors", "max_num_fields", "separator"};
    PyObject *av[11];
    PyObject *method = NULL, *owned_fp = NULL, *owned_headers = NULL, *owned_environ = NULL;
    PyObject *tmp = NULL, *pd = NULL, *ctype = NULL, *cdisp = NULL, *clen = NULL;
    int rc = -1, found, clen_nonneg;

    if (cgih_bind_args("FieldStorage.__init__", 1, args, kw, names, 11, 0, av) < 0)
        return -1;
    PyObject *fp = av[0] ? av[0] : Py_None, *headers = av[1] ? av[1] : Py_None;
    PyObject *outerboundary = av[2], *environ_ = av[3], *keep_blank_values = av[4];
    PyObject *strict_parsing = av[5], *limit = av[6] ? av[6] : Py_None, *encoding = av[7];
    PyObject *errors = av[8], *max_num_fields = av[9] ? av[9] : Py_None, *separator = av[10];

    PyObject *zero = PyLong_FromLong(0); /* the 0 defaults, kept as ints */
    if (!zero)
        return -1;
    if (!keep_blank_values)
        keep_blank_values = zero;
    if (!strict_parsing)
        strict_parsing = zero;
    PyObject *s_utf8 = NULL, *s_replace = NULL, *s_amp = NULL, *empty_bytes = NULL;
    if (!encoding && !(encoding = s_utf8 = PyUnicode_FromString("utf-8")))
        goto done;
    if (!errors && !(errors = s_replace = PyUnicode_FromString("replace")))
        goto done;
    if (!separator && !(separator = s_amp = PyUnicode_FromString("&")))
        goto done;
    if (!outerboundary && !(outerboundary = empty_bytes = PyBytes_FromStringAndSize("", 0)))
        goto done;
    if (!environ_) {
        PyObject *m = cgih_cgi_module_of(Py_TYPE(self));
        if (!m || !(owned_environ = cgih_default_environ(m, 0)))
            goto done;
        environ_ = owned_environ;
    }

    if (set(self, "keep_blank_values", keep_blank_values) < 0 ||
        set(self, "strict_parsing", strict_parsing) < 0 ||
        set(self, "max_num_fields", max_num_fields) < 0 ||
        set(self, "separator", separator) < 0)
        goto done;

    if ((found = cgih_has_key(environ_, "REQUEST_METHOD")) < 0)
        goto done;
    if (found) {
        if (!(tmp = cgih_get_key(environ_, "REQUEST_METHOD")))
            goto done;
        method = PyObject_CallMethod(tmp, "upper", NULL);
        Py_CLEAR(tmp);
    } else {
        method = PyUnicode_FromString("GET");
    }
    if (!method)
        goto done;
    if (set(self, "qs_on_post", Py_None) < 0)
        goto done;

    int is_get = PyUnicode_Check(method) && (PyUnicode_CompareWithASCIIString(method, "GET") == 0 ||
                                             PyUnicode_CompareWithASCIIString(method, "HEAD") == 0);
    int is_post = PyUnicode_Check(method) && PyUnicode_CompareWithASCIIString(method, "POST") == 0;
    if (is_get) {
        PyObject *qs;
        if ((found = cgih_has_key(environ_, "QUERY_STRING")) < 0)
            goto done;
        if (found) {
            qs = cgih_get_key(environ_, "QUERY_STRING");
        } else {
            int err;
            qs = cgih_argv1(&err);
            if (!qs && !err)
                qs = PyUnicode_FromString("");
        }
        if (!qs)
            goto done;
        tmp = encode_locale(qs);
        Py_DECREF(qs);
        if (!tmp)
            goto done;
        owned_fp = import_attr("_io", "BytesIO");
        if (owned_fp) {
            PyObject *bio = PyObject_CallOneArg(owned_fp, tmp);
            Py_DECREF(owned_fp);
            owned_fp = bio;
        }
        Py_CLEAR(tmp);
        if (!owned_fp)
            goto done;
        fp = owned_fp;
        if (headers == Py_None) {
            if (!(owned_headers = Py_BuildValue("{ss}", "content-type",
                                                "application/x-www-form-urlencoded")))
                goto done;
            headers = owned_headers;
        }
    }
    if (headers == Py_None) {
        if (!(owned_headers = PyDict_New()))
            goto done;
        headers = owned_headers;
        if (is_post && (!(tmp = PyUnicode_FromString("application/x-www-form-urlencoded")) ||
                        PyDict_SetItemString(headers, "content-type", tmp) < 0))
            goto done;
        Py_CLEAR(tmp);
        static const char *const copy[][2] = {{"CONTENT_TYPE", "content-type"},
                                              {"QUERY_STRING", NULL},
                                              {"CONTENT_LENGTH", "content-length"}};
        for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
            if ((found = cgih_has_key(environ_, copy[i][0])) < 0)
                goto done;
            if (!found)
                continue;
            if (!(tmp = cgih_get_key(environ_, copy[i][0])))
                goto done;
            if (copy[i][1] ? PyDict_SetItemString(headers, copy[i][1], tmp) < 0
                           : set(self, "qs_on_post", tmp) < 0)
                goto done;
            Py_CLEAR(tmp);
        }
    } else {
        int ok = headers_type_ok(headers);
        if (ok < 0)
            goto done;
        if (!ok) {
            PyErr_SetString(PyExc_TypeError,
                            "headers must be mapping or an instance of email.message.Message");
            goto done;
        }
    }
    if (set(self, "headers", headers) < 0)
        goto done;

    if (fp == Py_None) {
        PyObject *in = cgih_sys_attr("stdin");
        int fp_set = in ? set_steal(self, "fp", get(in, "buffer")) : -1;
        Py_XDECREF(in);
        if (fp_set < 0)
            goto done;
    } else {
        PyObject *tiow = import_attr("_io", "TextIOWrapper");
        int is_text = tiow ? PyObject_IsInstance(fp, tiow) : -1;
        Py_XDECREF(tiow);
        if (is_text < 0)
            goto done;
        if (is_text) {
            if (set_steal(self, "fp", get(fp, "buffer")) < 0)
                goto done;
        } else {
            int ok = has_attr(fp, "read");
            if (ok > 0)
                ok = has_attr(fp, "readline");
            if (ok < 0)
                goto done;
            if (!ok) {
                PyErr_SetString(PyExc_TypeError, "fp must be file pointer");
                goto done;
            }
            if (set(self, "fp", fp) < 0)
                goto done;
        }
    }
    if (set(self, "encoding", encoding) < 0 || set(self, "errors", errors) < 0)
        goto done;
    if (!PyBytes_Check(outerboundary)) {
        PyObject *n = type_name(outerboundary);
        if (n)
            PyErr_Format(PyExc_TypeError, "outerboundary must be bytes, not %S", n);
        Py_XDECREF(n);
        goto done;
    }
    if (set(self, "outerboundary", outerboundary) < 0 || set(self, "bytes_read", zero) < 0 ||
        set(self, "limit", limit) < 0)
        goto done;

    PyObject *self_headers = get(self, "headers");
    if (!self_headers)
        goto done;
    pd = header_params(Py_TYPE(self), self_headers, "content-disposition", &found);
    if (found < 0 || (found && !pd)) {
        Py_DECREF(self_headers);
        goto done;
    }
    PyObject *pdict;
    if (pd) {
        cdisp = PyTuple_GET_ITEM(pd, 0);
        pdict = PyTuple_GET_ITEM(pd, 1);
        Py_INCREF(cdisp);
        Py_INCREF(pdict);
    } else {
        cdisp = PyUnicode_FromString("");
        pdict = PyDict_New();
    }
    Py_CLEAR(pd);
    if (!cdisp || !pdict || set(self, "disposition", cdisp) < 0 ||
        set(self, "disposition_options", pdict) < 0) {
        Py_XDECREF(pdict);
        Py_DECREF(self_headers);
        goto done;
    }
    /* _binary_file = self.filename is not None: a replaced parse_header's
     * pdict may hold filename None */
    PyObject *pname = NULL, *pfile = NULL;
    rc = pdict_item(pdict, "name", &pname) < 0 || pdict_item(pdict, "filename", &pfile) < 0 ||
                 set(self, "name", pname ? pname : Py_None) < 0 ||
                 set(self, "filename", pfile ? pfile : Py_None) < 0 ||
                 set(self, "_binary_file", pfile && pfile != Py_None ? Py_True : Py_False) < 0
             ? -1
             : 0;
    Py_XDECREF(pname);
    Py_XDECREF(pfile);
    Py_DECREF(pdict);
    if (rc < 0) {
        Py_DECREF(self_headers);
        goto done;
    }
    rc = -1;

    pd = header_params(Py_TYPE(self), self_headers, "content-type", &found);
    if (found < 0 || (found && !pd)) {
        Py_DECREF(self_headers);
        goto done;
    }
    if (pd) {
        ctype = PyTuple_GET_ITEM(pd, 0);
        pdict = PyTuple_GET_ITEM(pd, 1);
        Py_INCREF(ctype);
        Py_INCREF(pdict);
    } else {
        int outer = PyObject_IsTrue(outerboundary);
        ctype = PyUnicode_FromString((outer || !is_post) ? "text/plain"
                                                         : "application/x-www-form-urlencoded");
        pdict = PyDict_New();
    }
    Py_CLEAR(pd);
    if (!ctype || !pdict || set(self, "type", ctype) < 0 || set(self, "type_options", pdict) < 0) {
        Py_XDECREF(pdict);
        Py_DECREF(self_headers);
        goto done;
    }
    PyObject *boundary;
    if (pdict_item(pdict, "boundary", &boundary) < 0) {
        tmp = NULL;
    } else if (boundary) {
        PyObject *enc = get(self, "encoding"), *err = enc ? get(self, "errors") : NULL;
        tmp = err ? PyObject_CallMethod(boundary, "encode", "OO", enc, err) : NULL;
        Py_XDECREF(enc);
        Py_XDECREF(err);
        Py_DECREF(boundary);
    } else {
        tmp = PyBytes_FromStringAndSize("", 0);
    }
    Py_DECREF(pdict);
    if (!tmp || set(self, "innerboundary", tmp) < 0) {
        Py_DECREF(self_headers);
        goto done;
    }
    Py_CLEAR(tmp);

    /* clen is kept as the int itself: a huge one must fail where cgi.py's does. */
    found = cgih_has_key(self_headers, "content-length");
    if (found > 0) {
        PyObject *v = cgih_get_key(self_headers, "content-length");
        PyObject *n = v ? PyNumber_Long(v) : NULL;
        Py_XDECREF(v);
        if (n) {
            clen = n;
        } else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
        } else {
            Py_DECREF(self_headers);
            goto done;
        }
        PyObject *maxlen = module_global(Py_TYPE(self), "maxlen");
        if (!maxlen) {
            Py_DECREF(self_headers);
            goto done;
        }
        int t = PyObject_IsTrue(maxlen);
        int over = 0;
        if (t > 0) {
            PyObject *c = clen ? clen : PyLong_FromLong(-1);
            over = c ? PyObject_RichCompareBool(c, maxlen, Py_GT) : -1;
            if (c != clen)
                Py_XDECREF(c);
        }
        Py_DECREF(maxlen);
        if (t < 0 || over < 0) {
            Py_DECREF(self_headers);
            goto done;
        }
        if (over) {
            PyErr_SetString(PyExc_ValueError, "Maximum content length exceeded");
            Py_DECREF(self_headers);
            goto done;
        }
    }
    Py_DECREF(self_headers);
    if (found < 0)
        goto done;
    if (!clen && !(clen = PyLong_FromLong(-1)))
        goto done;
    if ((clen_nonneg = PyObject_RichCompareBool(clen, zero, Py_GE)) < 0)
        goto done;
    if (set(self, "length", clen) < 0)
        goto done;
    PyObject *cur_limit = get(self, "limit");
    if (!cur_limit)
        goto done;
    int lim_none = (cur_limit == Py_None);
    Py_DECREF(cur_limit);
    if (lim_none && clen_nonneg && set(self, "limit", clen) < 0)
        goto done;
    if (set(self, "list", Py_None) < 0 || set(self, "file", Py_None) < 0 ||
        set(self, "done", zero) < 0)
        goto done;

    if (PyUnicode_Check(ctype) &&
        PyUnicode_CompareWithASCIIString(ctype, "application/x-www-form-urlencoded") == 0) {
        rc = call_method0_void(self, "read_urlencoded");
    } else if (PyUnicode_Check(ctype) && PyUnicode_GET_LENGTH(ctype) >= 10 &&
               (tmp = PyUnicode_FromString("multipart/")) != NULL && /* else the error, below */
               PyUnicode_Tailmatch(ctype, tmp, 0, 10, -1) == 1) {
        Py_CLEAR(tmp);
        PyObject *r = PyObject_CallMethod(self, "read_multi", "OOO", environ_, keep_blank_values,
                                          strict_parsing);
        Py_XDECREF(r);
        rc = r ? 0 : -1;
    } else {
        if (PyErr_Occurred())
            goto done;
        rc = call_method0_void(self, "read_single");
    }
done:
    Py_XDECREF(clen);
    Py_XDECREF(tmp);
    Py_XDECREF(ctype);
    Py_XDECREF(cdisp);
    Py_XDECREF(pd);
    Py_XDECREF(method);
    Py_XDECREF(owned_fp);
    Py_XDECREF(owned_headers);
    Py_XDECREF(owned_environ);
    Py_XDECREF(s_utf8);
    Py_XDECREF(s_replace);
    Py_XDECREF(s_amp);
    Py_XDECREF(empty_bytes);
    Py_DECREF(zero);
    return rc;
}

/* ---- FieldStorage: the mapping interface ---------------------------------- */

/* self.list, raising TypeError(msg) when it is None. */
static PyObject *indexable_list(PyObject *self, const char *msg)
{
    PyObject *list = get(self, "list");
    if (list == Py_None) {
        Py_DECREF(list);
        PyErr_SetString(PyExc_TypeError, msg);
        return NULL;
    }
    return list;
}

static PyObject *fs_getitem(PyObject *self, PyObject *key)
{
    PyObject *list = indexable_list(self, "not indexable");
    if (!list)
        return NULL;
    PyObject *found = PyList_New(0), *it = found ? PyObject_GetIter(list) : NULL, *item;
    Py_DECREF(list);
    if (!it)
        goto fail;
    while ((item = PyIter_Next(it))) {
        PyObject *name = get(item, "name");
        PyObject *eq = name ? PyObject_RichCompare(name, key, Py_EQ) : NULL;
        Py_XDECREF(name);
        int t = eq ? PyObject_IsTrue(eq) : -1;
        Py_XDECREF(eq);
        if (t < 0 || (t && PyList_Append(found, item) < 0)) {
            Py_DECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    if (PyErr_Occurred())
        goto fail;
    Py_DECREF(it);
    Py_ssize_t n = PyList_GET_SIZE(found);
    if (n == 0) {
        /* raise KeyError(key): the key as the one argument, even a tuple or None */
        PyObject *arg = PyTuple_Pack(1, key);
        if (arg) {
            PyErr_SetObject(PyExc_KeyError, arg);
            Py_DECREF(arg);
        }
        Py_DECREF(found);
        return NULL;
    }
    if (n == 1) {
        PyObject *one = PyList_GET_ITEM(found, 0);
        Py_INCREF(one);
        Py_DECREF(found);
        return one;
    }
    return found;
fail:
    Py_XDECREF(it);
    Py_XDECREF(found);
    return NULL;
}

static int fs_contains(PyObject *self, PyObject *key)
{
    PyObject *list = indexable_list(self, "not indexable");
    if (!list)
        return -1;
    PyObject *it = PyObject_GetIter(list), *item;
    Py_DECREF(list);
    if (!it)
        return -1;
    int res = 0;
    while ((item = PyIter_Next(it))) {
        PyObject *name = get(item, "name");
        PyObject *eq = name ? PyObject_RichCompare(name, key, Py_EQ) : NULL;
        Py_XDECREF(name);
        Py_DECREF(item);
        res = eq ? PyObject_IsTrue(eq) : -1;
        Py_XDECREF(eq);
        if (res != 0)
            break;
    }
    Py_DECREF(it);
    if (res == 0 && PyErr_Occurred())
        res = -1;
    return res;
}

static PyObject *fs_keys(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = indexable_list(self, "not indexable");
    if (!list)
        return NULL;
    PyObject *set_ = PySet_New(NULL), *it = set_ ? PyObject_GetIter(list) : NULL, *item;
    Py_DECREF(list);
    if (!it) {
        Py_XDECREF(set_);
        return NULL;
    }
    while ((item = PyIter_Next(it))) {
        PyObject *name = get(item, "name");
        Py_DECREF(item);
        if (!name || PySet_Add(set_, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(it);
            Py_DECREF(set_);
            return NULL;
        }
        Py_DECREF(name);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(set_);
        return NULL;
    }
    PyObject *res = PySequence_List(set_);
    Py_DECREF(set_);
    return res;
}

static Py_ssize_t fs_len(PyObject *self)
{
    PyObject *keys = call_method0(self, "keys");
    if (!keys)
        return -1;
    Py_ssize_t n = PyObject_Size(keys);
    Py_DECREF(keys);
    return n;
}

static int fs_bool(PyObject *self)
{
    PyObject *list = indexable_list(self, "Cannot be converted to bool.");
    if (!list)
        return -1;
    int t = PyObject_IsTrue(list);
    Py_DECREF(list);
    return t;
}

static PyObject *fs_iter(PyObject *self)
{
    PyObject *keys = call_method0(self, "keys");
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

/* kind: 0 getvalue, 1 getfirst, 2 getlist */
static PyObject *lookup_values(PyObject *self, PyObject *key, PyObject *deflt, int kind)
{
    int in = PySequence_Contains(self, key);
    if (in < 0)
        return NULL;
    if (!in) {
        if (kind == 2)
            return PyList_New(0);
        Py_INCREF(deflt);
        return deflt;
    }
    PyObject *value = PyObject_GetItem(self, key);
    if (!value)
        return NULL;
    PyObject *res = NULL;
    if (PyList_Check(value)) {
        if (kind == 1) {
            PyObject *first = PyList_GET_SIZE(value) ? Py_NewRef(PyList_GET_ITEM(value, 0)) : NULL;
            res = first ? get(first, "value") : NULL;
            Py_XDECREF(first);
            if (!first)
                PyErr_SetString(PyExc_IndexError, "list index out of range");
        } else {
            /* [x.value for x in value]: each x.value may run code (a
             * property, a subclass's __getitem__ returning a list it
             * keeps) that changes the list, so its size is read anew and
             * the item held while its value is fetched. */
            res = PyList_New(0);
            for (Py_ssize_t i = 0; res && i < PyList_GET_SIZE(value); i++) {
                PyObject *x = Py_NewRef(PyList_GET_ITEM(value, i));
                PyObject *v = get(x, "value");
                Py_DECREF(x);
                if (!v || PyList_Append(res, v) < 0)
                    Py_CLEAR(res);
                Py_XDECREF(v);
            }
        }
    } else {
        PyObject *v = get(value, "value");
        if (v && kind == 2) {
            res = PyList_New(1);
            if (res)
                PyList_SET_ITEM(res, 0, v);
            else
                Py_DECREF(v);
        } else {
            res = v;
        }
    }
    Py_DECREF(value);
    return res;
}

static PyObject *fs_getvalue(PyObject *self, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"key", "default"};
    PyObject *av[2];
    if (cgih_bind_args("FieldStorage.getvalue", 1, args, kw, names, 2, 1, av) < 0)
        return NULL;
    PyObject *key = av[0], *deflt = av[1] ? av[1] : Py_None;
    return lookup_values(self, key, deflt, 0);
}

static PyObject *fs_getfirst(PyObject *self, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"key", "default"};
    PyObject *av[2];
    if (cgih_bind_args("FieldStorage.getfirst", 1, args, kw, names, 2, 1, av) < 0)
        return NULL;
    PyObject *key = av[0], *deflt = av[1] ? av[1] : Py_None;
    return lookup_values(self, key, deflt, 1);
}

static PyObject *fs_getlist(PyObject *self, PyObject *args, PyObject *kw)
{
    static const char *const names[] = {"key"};
    PyObject *key;
    if (cgih_bind_args("FieldStorage.getlist", 1, args, kw, names, 1, 1, &key) < 0)
        return NULL;
    return lookup_values(self, key, Py_None, 2);
}

/* ---- FieldStorage: value, repr, context manager, __del__ ------------------ */

static PyObject *computed_value(PyObject *self)
{
    PyObject *file = get(self, "file");
    if (!file)
        return NULL;
    int t = PyObject_IsTrue(file);
    if (t < 0) {
        Py_DECREF(file);
        return NULL;
    }
    if (t) {
        PyObject *r = PyObject_CallMethod(file, "seek", "i", 0), *value = NULL;
        if (r) {
            Py_DECREF(r);
            value = call_method0(file, "read");
            if (value) {
                r = PyObject_CallMethod(file, "seek", "i", 0);
                if (!r)
                    Py_CLEAR(value);
                Py_XDECREF(r);
            }
        }
        Py_DECREF(file);
        return value;
    }
    Py_DECREF(file);
    PyObject *list = get(self, "list");
    if (!list)
        return NULL;
    if (list != Py_None)
        return list;
    Py_DECREF(list);
    Py_RETURN_NONE;
}

static PyObject *fs_getattr_method(PyObject *self, PyObject *name)
{
    if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "value") != 0) {
        PyErr_SetObject(PyExc_AttributeError, name);
        return NULL;
    }
    return computed_value(self);
}

/* Attribute lookup, then cgi.py's __getattr__ (fs_getattr_method). A Python
 * subclass gets CPython's getattr hook as its tp_getattro, which calls this
 * as __getattribute__ and then whichever __getattr__ the class resolves
 * (the subclass's own, or fs_getattr_method): only the type's own lookup
 * calls it here, so every __getattr__ runs once. */
static PyObject *fs_getattro(PyObject *self, PyObject *name)
{
    PyObject *r = PyObject_GenericGetAttr(self, name);
    if (r || Py_TYPE(self)->tp_getattro != fs_getattro || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return r;
    PyErr_Clear();
    return fs_getattr_method(self, name);
}

static PyObject *fs_repr(PyObject *self)
{
    PyObject *name = get(self, "name"), *filename = name ? get(self, "filename") : NULL;
    PyObject *value = filename ? get(self, "value") : NULL, *r = NULL;
    if (value)
        r = PyUnicode_FromFormat("FieldStorage(%R, %R, %R)", name, filename, value);
    Py_XDECREF(name);
    Py_XDECREF(filename);
    Py_XDECREF(value);
    return r;
}

static PyObject *fs_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_INCREF(self);
    return self;
}

static PyObject *fs_exit(PyObject *self, PyObject *Py_UNUSED(args))
{
    PyObject *file = get(self, "file");
    if (!file)
        return NULL;
    PyObject *r = call_method0(file, "close");
    Py_DECREF(file);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* __del__: self.file.close(), ignoring AttributeError as cgi.py does. */
static void fs_finalize(PyObject *self)
{
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *file = get(self, "file");
    PyObject *r = file ? call_method0(file, "close") : NULL;
    Py_XDECREF(file);
    if (r)
        Py_DECREF(r);
    else if (PyErr_ExceptionMatches(PyExc_AttributeError))
        PyErr_Clear();
    else {
        /* "Exception ignored in" __del__, as for cgi.py's method: not
         * repr(self), which would read the whole file again via .value */
        PyObject *err = PyErr_GetRaisedException_compat();
        PyObject *del = cgih_getattr((PyObject *)Py_TYPE(self), "__del__");
        if (!del)
            PyErr_Clear();
        PyErr_SetRaisedException_compat(err);
        PyErr_WriteUnraisable(del ? del : Py_None);
        Py_XDECREF(del);
    }
    PyErr_SetRaisedException_compat(exc);
}

/* ---- FieldStorage: reading ------------------------------------------------- */

static PyObject *fs_read_urlencoded(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *fp = get(self, "fp"), *length = fp ? get(self, "length") : NULL;
    PyObject *qs = NULL, *text = NULL, *query = NULL, *list = NULL, *mini = NULL;
    PyObject *enc = NULL, *err = NULL, *qop = NULL, *res = NULL;
    PyObject *kbv = NULL, *strict = NULL, *mnf = NULL, *sep = NULL;
    if (!length)
        goto done;
    qs = PyObject_CallMethod(fp, "read", "O", length);
    if (!qs)
        goto done;
    if (!PyBytes_Check(qs)) {
        not_bytes(fp, qs);
        goto done;
    }
    if (!(enc = get(self, "encoding")) || !(err = get(self, "errors")))
        goto done;
    if (!(text = PyObject_CallMethod(qs, "decode", "OO", enc, err)))
        goto done;
    Py_CLEAR(qs); /* as cgi.py's qs becomes the decoded text: not held twice */
    if (!(qop = get(self, "qs_on_post")))
        goto done;
    int t = PyObject_IsTrue(qop);
    if (t < 0)
        goto done;
    if (t) {
        PyObject *amp = PyUnicode_FromString("&");
        PyObject *a = amp ? PyNumber_Add(text, amp) : NULL;
        Py_XDECREF(amp);
        PyObject *b = a ? PyNumber_Add(a, qop) : NULL;
        Py_XDECREF(a);
        if (!b)
            goto done;
        Py_SETREF(text, b);
    }
    if (!(kbv = get(self, "keep_blank_values")) || !(strict = get(self, "strict_parsing")) ||
        !(mnf = get(self, "max_num_fields")) || !(sep = get(self, "separator")))
        goto done;
    if (!(query = cgih_parse_qsl(text, kbv, strict, enc, err, mnf, sep)))
        goto done;
    Py_CLEAR(text);
    if (!(mini = module_global(Py_TYPE(self), "MiniFieldStorage")))
        goto done;
    Py_ssize_t n = PyList_GET_SIZE(query);
    if (!(list = PyList_New(n)))
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(query, i);
        PyObject *m = PyObject_CallFunctionObjArgs(mini, PyTuple_GET_ITEM(pair, 0),
                                                   PyTuple_GET_ITEM(pair, 1), NULL);
        if (!m)
            goto done;
        PyList_SET_ITEM(list, i, m);
    }
    if (set(self, "list", list) < 0 || call_method0_void(self, "skip_lines") < 0)
        goto done;
    res = Py_None;
    Py_INCREF(res);
done:
    Py_XDECREF(fp);
    Py_XDECREF(length);
    Py_XDECREF(qs);
    Py_XDECREF(text);
    Py_XDECREF(query);
    Py_XDECREF(list);
    Py_XDECREF(mini);
    Py_XDECREF(enc);
    Py_XDECREF(err);
    Py_XDECREF(qop);
    Py_XDECREF(kbv);
    Py_XDECREF(strict);
    Py_XDECREF(mnf);
    Py_XDECREF(sep);
    return res;
}

/* self.<name> += n for an int attribute. */
static int add_to(PyObject *self, const char *name, Py_ssize_t n)
{
    PyObject *v = get(self, name);
    if (!v)
        return -1;
    PyObject *d = PyLong_FromSsize_t(n);
    PyObject *s = d ? PyNumber_Add(v, d) : NULL;
    Py_DECREF(v);
    Py_XDECREF(d);
    return set_steal(self, name, s);
}

static int set_int(PyObject *self, const char *name, long v)
{
    return set_steal(self, name, PyLong_FromLong(v));
}

static PyObject *fs_write(PyObject *self, PyObject *line);

enum line_use { FOR_SKIP, FOR_EOF, FOR_OUTER };

/* fp.readline(1 << 16) as bytes, for skip_lines, read_lines_to_eof or
 * read_lines_to_outerboundary (use). cgi.py does not check that the line is
 * bytes: it adds len(line) to bytes_read and fails at its next bytes-only
 * step. A bytearray passes them all, so it is taken as bytes. For any other
 * line that is not bytes, the same steps run here so that the same exception
 * comes out; an empty one stands for end of file. */
static PyObject *read_line(PyObject *self, PyObject *fp, enum line_use use)
{
    PyObject *line = PyObject_CallMethod(fp, "readline", "i", 1 << 16);
    if (!line || PyBytes_Check(line))
        return line;
    if (PyByteArray_Check(line)) {
        /* A bytearray does all that cgi.py does with a line, as bytes would. */
        Py_SETREF(line, PyBytes_FromObject(line));
        return line;
    }
    Py_ssize_t n = PyObject_Size(line);
    int t = n < 0 ? -1 : add_to(self, "bytes_read", n);
    if (t == 0)
        t = PyObject_IsTrue(line);
    if (t == 0) {
        Py_DECREF(line);
        return PyBytes_FromStringAndSize("", 0);
    }
    if (t > 0) {
        PyObject *r = use == FOR_EOF     ? fs_write(self, line)
                      : use == FOR_SKIP ? PyObject_CallMethod(line, "endswith", "y", "--")
                                        : PyObject_CallMethod(line, "startswith", "y", "--");
        if (r) {
            Py_DECREF(r);
            not_bytes(fp, line); /* bytes-like but not bytes: not followed further */
        }
    }
    Py_DECREF(line);
    return NULL;
}

/* The boundary lines b"--" + outerboundary and that + b"--". */
static int boundaries(PyObject *self, PyObject **next, PyObject **last)
{
    PyObject *ob = get(self, "outerboundary");
    if (!ob)
        return -1;
    *next = PyBytes_FromString("--");
    if (*next)
        PyBytes_Concat(next, ob);
    Py_DECREF(ob);
    if (!*next)
        return -1;
    *last = PyBytes_FromStringAndSize(PyBytes_AS_STRING(*next), PyBytes_GET_SIZE(*next));
    if (*last)
        PyBytes_ConcatAndDel(last, PyBytes_FromString("--"));
    if (!*last) {
        Py_CLEAR(*next);
        return -1;
    }
    return 0;
}

static int bytes_eq(PyObject *a, PyObject *b)
{
    return PyBytes_GET_SIZE(a) == PyBytes_GET_SIZE(b) &&
           memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(a)) == 0;
}

static PyObject *fs_skip_lines(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *ob = get(self, "outerboundary"), *done = ob ? get(self, "done") : NULL;
    if (!done) {
        Py_XDECREF(ob);
        return NULL;
    }
    int t1 = PyObject_IsTrue(ob), t2 = PyObject_IsTrue(done);
    Py_DECREF(ob);
    Py_DECREF(done);
    if (t1 < 0 || t2 < 0)
        return NULL;
    if (!t1 || t2)
        Py_RETURN_NONE;
    int streamed = cgih_part_skip_lines(self);
    if (streamed < 0)
        return NULL;
    if (streamed)
        Py_RETURN_NONE;
    PyObject *next, *last, *fp = get(self, "fp");
    if (!fp)
        return NULL;
    if (boundaries(self, &next, &last) < 0) {
        Py_DECREF(fp);
        return NULL;
    }
    int last_lfend = 1, rc = 0;
    for (;;) {
        PyObject *line = read_line(self, fp, FOR_SKIP);
        if (!line || add_to(self, "bytes_read", PyBytes_GET_SIZE(line)) < 0) {
            Py_XDECREF(line);
            rc = -1;
            break;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        const char *s = PyBytes_AS_STRING(line);
        if (n == 0) {
            Py_DECREF(line);
            rc = set_int(self, "done", -1);
            break;
        }
        if (n >= 2 && s[n - 2] == '-' && s[n - 1] == '-' && last_lfend) {
            PyObject *stripped = PyObject_CallMethod(line, "strip", NULL);
            if (!stripped) {
                Py_DECREF(line);
                rc = -1;
                break;
            }
            int is_next = bytes_eq(stripped, next), is_last = bytes_eq(stripped, last);
            Py_DECREF(stripped);
            if (is_next) {
                Py_DECREF(line);
                break;
            }
            if (is_last) {
                Py_DECREF(line);
                rc = set_int(self, "done", 1);
                break;
            }
        }
        last_lfend = s[n - 1] == '\n';
        Py_DECREF(line);
    }
    Py_DECREF(fp);
    Py_DECREF(next);
    Py_DECREF(last);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *fs_read_single(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *length = get(self, "length");
    if (!length)
        return NULL;
    long long len;
    int rc = cgih_count(length, &len);
    Py_DECREF(length);
    if (rc < 0)
        return NULL;
    if (len >= 0) {
        if (call_method0_void(self, "read_binary") < 0 ||
            call_method0_void(self, "skip_lines") < 0)
            return NULL;
    } else if (call_method0_void(self, "read_lines") < 0) {
        return NULL;
    }
    PyObject *file = get(self, "file");
    if (!file)
        return NULL;
    PyObject *r = PyObject_CallMethod(file, "seek", "i", 0);
    Py_DECREF(file);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *fs_read_binary(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *file = call_method0(self, "make_file");
    if (!file || set(self, "file", file) < 0) {
        Py_XDECREF(file);
        return NULL;
    }
    Py_DECREF(file);
    PyObject *length = get(self, "length"), *bufsize = length ? get(self, "bufsize") : NULL;
    PyObject *fp = bufsize ? get(self, "fp") : NULL;
    if (!fp) {
        Py_XDECREF(length);
        Py_XDECREF(bufsize);
        return NULL;
    }
    long long todo, bs;
    int bad = cgih_count(length, &todo) < 0 || cgih_count(bufsize, &bs) < 0;
    Py_DECREF(length);
    Py_DECREF(bufsize);
    PyObject *res = NULL;
    if (bad)
        goto done;
    while (todo > 0) {
        PyObject *data = PyObject_CallMethod(fp, "read", "L", todo < bs ? todo : bs);
        if (!data)
            goto done;
        if (!PyBytes_Check(data)) {
            not_bytes(fp, data);
            Py_DECREF(data);
            goto done;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(data);
        if (add_to(self, "bytes_read", n) < 0) {
            Py_DECREF(data);
            goto done;
        }
        if (n == 0) {
            Py_DECREF(data);
            if (set_int(self, "done", -1) < 0)
                goto done;
            break;
        }
        PyObject *f = get(self, "file");
        PyObject *r = f ? PyObject_CallMethod(f, "write", "O", data) : NULL;
        Py_XDECREF(f);
        Py_DECREF(data);
        if (!r)
            goto done;
        Py_DECREF(r);
        todo -= n;
    }
    res = Py_None;
    Py_INCREF(res);
done:
    Py_DECREF(fp);
    return res;
}

static PyObject *fs_read_lines(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *bin = get(self, "_binary_file");
    if (!bin)
        return NULL;
    int b = PyObject_IsTrue(bin);
    Py_DECREF(bin);
    if (b < 0)
        return NULL;
    PyObject *f = import_attr("_io", b ? "BytesIO" : "StringIO"), *file;
    if (!f)
        return NULL;
    file = PyObject_CallNoArgs(f);
    Py_DECREF(f);
    if (!file)
        return NULL;
    int rc = set(self, "file", file) < 0 || set(self, "_FieldStorage__file", file) < 0;
    Py_DECREF(file);
    if (rc)
        return NULL;
    PyObject *ob = get(self, "outerboundary");
    if (!ob)
        return NULL;
    int t = PyObject_IsTrue(ob);
    Py_DECREF(ob);
    if (t < 0)
        return NULL;
    return call_method0(self, t ? "read_lines_to_outerboundary" : "read_lines_to_eof");
}

/* __write(line): spills the in-memory buffer to make_file() past 1000 bytes. */
static PyObject *fs_write(PyObject *self, PyObject *line)
{
    Py_ssize_t len = PyObject_Size(line);
    if (len < 0)
        return NULL;
    PyObject *mem = get(self, "_FieldStorage__file");
    if (!mem)
        return NULL;
    if (mem != Py_None) {
        PyObject *pos = call_method0(mem, "tell");
        long long p = pos ? PyLong_AsLongLong(pos) : -1;
        Py_XDECREF(pos);
        if (p == -1 && PyErr_Occurred()) {
            Py_DECREF(mem);
            return NULL;
        }
        if (p + len > 1000) {
            /* self.file = self.make_file(); data = self.__file.getvalue();
             * self.file.write(data); self.__file = None -- in that order */
            PyObject *file = call_method0(self, "make_file");
            PyObject *data = file && set(self, "file", file) == 0
                                 ? call_method0(mem, "getvalue")
                                 : NULL;
            PyObject *r = data ? PyObject_CallMethod(file, "write", "O", data) : NULL;
            int rc = (!r || set(self, "_FieldStorage__file", Py_None) < 0);
            Py_XDECREF(r);
            Py_XDECREF(data);
            Py_XDECREF(file);
            if (rc) {
                Py_DECREF(mem);
                return NULL;
            }
        }
    }
    Py_DECREF(mem);
    PyObject *bin = get(self, "_binary_file"), *file = bin ? get(self, "file") : NULL;
    if (!file) {
        Py_XDECREF(bin);
        return NULL;
    }
    int b = PyObject_IsTrue(bin);
    Py_DECREF(bin);
    PyObject *data = NULL, *r = NULL;
    if (b > 0) {
        data = line;
        Py_INCREF(data);
    } else if (b == 0) {
        PyObject *enc = get(self, "encoding"), *err = enc ? get(self, "errors") : NULL;
        data = err ? PyObject_CallMethod(line, "decode", "OO", enc, err) : NULL;
        Py_XDECREF(enc);
        Py_XDECREF(err);
    }
    if (data)
        r = PyObject_CallMethod(file, "write", "O", data);
    Py_XDECREF(data);
    Py_DECREF(file);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static int write_line(PyObject *self, PyObject *line)
{
    PyObject *r = PyObject_CallMethod(self, "_FieldStorage__write", "O", line);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *fs_read_lines_to_eof(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *fp = get(self, "fp");
    if (!fp)
        return NULL;
    int rc = 0;
    for (;;) {
        PyObject *line = read_line(self, fp, FOR_EOF);
        if (!line || add_to(self, "bytes_read", PyBytes_GET_SIZE(line)) < 0) {
            Py_XDECREF(line);
            rc = -1;
            break;
        }
        if (PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            rc = set_int(self, "done", -1);
            break;
        }
        rc = write_line(self, line);
        Py_DECREF(line);
        if (rc < 0)
            break;
    }
    Py_DECREF(fp);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *fs_read_lines_to_outerboundary(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    int streamed = cgih_part_read_lines(self);
    if (streamed < 0)
        return NULL;
    if (streamed)
        Py_RETURN_NONE;
    PyObject *next, *last, *fp = get(self, "fp"), *delim = NULL;
    if (!fp)
        return NULL;
    if (boundaries(self, &next, &last) < 0) {
        Py_DECREF(fp);
        return NULL;
    }
    delim = PyBytes_FromStringAndSize("", 0);
    int last_lfend = 1, rc = delim ? 0 : -1;
    long long nread = 0;
    while (rc == 0) {
        PyObject *limit = get(self, "limit");
        if (!limit) {
            rc = -1;
            break;
        }
        if (limit != Py_None) {
            /* 0 <= self.limit <= _read, compared as Python objects */
            PyObject *zero = PyLong_FromLong(0), *rd = zero ? PyLong_FromLongLong(nread) : NULL;
            int stop = rd ? PyObject_RichCompareBool(zero, limit, Py_LE) : -1;
            if (stop > 0)
                stop = PyObject_RichCompareBool(limit, rd, Py_LE);
            Py_XDECREF(zero);
            Py_XDECREF(rd);
            Py_DECREF(limit);
            if (stop < 0) {
                rc = -1;
                break;
            }
            if (stop)
                break;
        } else {
            Py_DECREF(limit);
        }
        PyObject *line = read_line(self, fp, FOR_OUTER);
        if (!line || add_to(self, "bytes_read", PyBytes_GET_SIZE(line)) < 0) {
            Py_XDECREF(line);
            rc = -1;
            break;
        }
        nread += PyBytes_GET_SIZE(line);
        if (PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            rc = set_int(self, "done", -1);
            break;
        }
        if (PyBytes_GET_SIZE(delim) == 1 && PyBytes_AS_STRING(delim)[0] == '\r') {
            PyObject *joined = PyBytes_FromStringAndSize("\r", 1);
            PyBytes_Concat(&joined, line);
            Py_DECREF(line);
            if (!joined) {
                rc = -1;
                break;
            }
            line = joined;
            Py_SETREF(delim, PyBytes_FromStringAndSize("", 0));
        }
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        const char *s = PyBytes_AS_STRING(line);
        if (n >= 2 && s[0] == '-' && s[1] == '-' && last_lfend) {
            PyObject *stripped = PyObject_CallMethod(line, "rstrip", NULL);
            if (!stripped) {
                Py_DECREF(line);
                rc = -1;
                break;
            }
            int is_next = bytes_eq(stripped, next), is_last = bytes_eq(stripped, last);
            Py_DECREF(stripped);
            if (is_next || is_last) {
                Py_DECREF(line);
                if (is_last)
                    rc = set_int(self, "done", 1);
                break;
            }
        }
        PyObject *odelim = delim;
        const char *d;
        Py_ssize_t keep;
        if (n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n') {
            d = "\r\n", keep = n - 2, last_lfend = 1;
        } else if (n >= 1 && s[n - 1] == '\n') {
            d = "\n", keep = n - 1, last_lfend = 1;
        } else if (n >= 1 && s[n - 1] == '\r') {
            d = "\r", keep = n - 1, last_lfend = 0;
        } else {
            d = "", keep = n, last_lfend = 0;
        }
        delim = PyBytes_FromString(d);
        PyObject *out = PyBytes_FromStringAndSize(PyBytes_AS_STRING(odelim),
                                                  PyBytes_GET_SIZE(odelim));
        if (out)
            PyBytes_ConcatAndDel(&out, PyBytes_FromStringAndSize(s, keep));
        Py_DECREF(odelim);
        Py_DECREF(line);
        if (!delim || !out) {
            Py_XDECREF(out);
            rc = -1;
            break;
        }
        rc = write_line(self, out);
        Py_DECREF(out);
    }
    Py_XDECREF(delim);
    Py_DECREF(fp);
    Py_DECREF(next);
    Py_DECREF(last);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *fs_read_multi(PyObject *self, PyObject *args)
{
    PyObject *environ_, *kbv, *strict;
    if (!PyArg_ParseTuple(args, "OOO:read_multi", &environ_, &kbv, &strict))
        return NULL;
    PyObject *ib = get(self, "innerboundary"), *res = NULL, *qop = NULL, *list = NULL;
    if (!ib)
        return NULL;
    /* if not valid_boundary(ib): the global, which a script may replace */
    /* (a str one: the module's own too, which uses re) */
    PyObject *vb = PyBytes_Check(ib) ? replaced_function(Py_TYPE(self), "valid_boundary")
                                     : module_global(Py_TYPE(self), "valid_boundary");
    PyObject *ok = NULL;
    int valid = -1;
    if (vb) {
        ok = PyObject_CallOneArg(vb, ib);
        valid = ok ? PyObject_IsTrue(ok) : -1;
        Py_XDECREF(ok);
        Py_DECREF(vb);
    } else if (!PyErr_Occurred()) {
        valid = cgih_valid_boundary(PyBytes_AS_STRING(ib), (size_t)PyBytes_GET_SIZE(ib));
    }
    if (valid < 0)
        goto done;
    if (!valid) {
        PyErr_Format(PyExc_ValueError, "Invalid boundary in multipart form: %R", ib);
        goto done;
    }
    if (!(list = PyList_New(0)) || set(self, "list", list) < 0)
        goto done;
    if (!(qop = get(self, "qs_on_post")))
        goto done;
    int t = PyObject_IsTrue(qop);
    if (t < 0)
        goto done;
    if (t) {
        /* The query string's fields come first, as MiniFieldStorage. */
        PyObject *k = get(self, "keep_blank_values"), *s = k ? get(self, "strict_parsing") : NULL;
        PyObject *enc = s ? get(self, "encoding") : NULL, *err = enc ? get(self, "errors") : NULL;
        PyObject *mnf = err ? get(self, "max_num_fields") : NULL;
        PyObject *sep = mnf ? get(self, "separator") : NULL, *query = NULL;
        if (sep)
            query = cgih_parse_qsl(qop, k, s, enc, err, mnf, sep);
        Py_XDECREF(k);
        Py_XDECREF(s);
        Py_XDECREF(enc);
        Py_XDECREF(err);
        Py_XDECREF(mnf);
        Py_XDECREF(sep);
        if (!query)
            goto done;
        PyObject *mini = module_global(Py_TYPE(self), "MiniFieldStorage");
        for (Py_ssize_t i = 0; mini && i < PyList_GET_SIZE(query); i++) {
            PyObject *pair = PyList_GET_ITEM(query, i);
            PyObject *m = PyObject_CallFunctionObjArgs(mini, PyTuple_GET_ITEM(pair, 0),
                                                       PyTuple_GET_ITEM(pair, 1), NULL);
            if (!m || PyList_Append(list, m) < 0) {
                Py_XDECREF(m);
                Py_CLEAR(mini);
                break;
            }
            Py_DECREF(m);
        }
        Py_DECREF(query);
        if (!mini)
            goto done;
        Py_DECREF(mini);
    }
    if (cgih_read_multi_parts(self, environ_, kbv, strict) < 0 ||
        call_method0_void(self, "skip_lines") < 0)
        goto done;
    res = Py_NewRef(Py_None);
done:
    Py_XDECREF(ib);
    Py_XDECREF(qop);
    Py_XDECREF(list);
    return res;
}

static PyObject *fs_make_file(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *m = cgih_cgi_module_of(Py_TYPE(self));
    if (!m)
        return NULL;
    cgi_state *st = cgih_cgi_state(m);
    PyObject *bin = get(self, "_binary_file");
    if (!bin)
        return NULL;
    int b = PyObject_IsTrue(bin);
    Py_DECREF(bin);
    if (b < 0)
        return NULL;
    if (b)
        return cgih_temporary_file(st, "wb+", Py_None, Py_None);
    PyObject *enc = get(self, "encoding");
    if (!enc)
        return NULL;
    PyObject *nl = PyUnicode_FromString("\n");
    PyObject *f = nl ? cgih_temporary_file(st, "w+", enc, nl) : NULL;
    Py_XDECREF(nl);
    Py_DECREF(enc);
    return f;
}

/* Python-like methods (cgih_add_methods()): bound methods and signatures as
 * cgi.py's. */
static PyMethodDef fs_methods[] = {
    {"__enter__", fs_enter, METH_NOARGS, "__enter__($self)\n--\n\n"},
    {"__exit__", fs_exit, METH_VARARGS, "__exit__($self, *args)\n--\n\n"},
    {"__getattr__", fs_getattr_method, METH_O, "__getattr__($self, name)\n--\n\n"},
    {"getvalue", (PyCFunction)(void (*)(void))fs_getvalue, METH_VARARGS | METH_KEYWORDS,
     "getvalue($self, key, default=None)\n--\n\nDictionary style get() method, including 'value' lookup."},
    {"getfirst", (PyCFunction)(void (*)(void))fs_getfirst, METH_VARARGS | METH_KEYWORDS,
     "getfirst($self, key, default=None)\n--\n\n Return the first value received."},
    {"getlist", (PyCFunction)(void (*)(void))fs_getlist, METH_VARARGS | METH_KEYWORDS,
     "getlist($self, key)\n--\n\n Return list of received values."},
    {"keys", fs_keys, METH_NOARGS, "keys($self)\n--\n\nDictionary style keys() method."},
    {"read_urlencoded", fs_read_urlencoded, METH_NOARGS,
     "read_urlencoded($self)\n--\n\nInternal: read data in query string format."},
    {"read_multi", fs_read_multi, METH_VARARGS,
     "read_multi($self, environ, keep_blank_values, strict_parsing)\n--\n\n"
     "Internal: read a part that is itself multipart."},
    {"read_single", fs_read_single, METH_NOARGS, "read_single($self)\n--\n\nInternal: read an atomic part."},
    {"read_binary", fs_read_binary, METH_NOARGS, "read_binary($self)\n--\n\nInternal: read binary data."},
    {"read_lines", fs_read_lines, METH_NOARGS,
     "read_lines($self)\n--\n\nInternal: read lines until EOF or outerboundary."},
    {"_FieldStorage__write", fs_write, METH_O,
     "_FieldStorage__write($self, line)\n--\n\nline is always bytes, not string"},
    {"read_lines_to_eof", fs_read_lines_to_eof, METH_NOARGS,
     "read_lines_to_eof($self)\n--\n\nInternal: read lines until EOF."},
    {"read_lines_to_outerboundary", fs_read_lines_to_outerboundary, METH_NOARGS,
     "read_lines_to_outerboundary($self)\n--\n\nInternal: read lines until outerboundary.\n"
     "        Data is read as bytes: boundaries and line ends must be converted\n"
     "        to bytes for comparisons.\n"
     "        "},
    {"skip_lines", fs_skip_lines, METH_NOARGS,
     "skip_lines($self)\n--\n\nInternal: skip lines until outer boundary if defined."},
    {"make_file", fs_make_file, METH_NOARGS,
     "make_file($self)\n--\n\nOverridable: return a readable & writable file.\n"
     "\n"
     "        The file will be used as follows:\n"
     "        - data is written to it\n"
     "        - seek(0)\n"
     "        - data is read from it\n"
     "\n"
     "        The file is opened in binary mode for files, in text mode\n"
     "        for other fields\n"
     "\n"
     "        This version opens a temporary file for reading and writing,\n"
     "        and immediately deletes (unlinks) it.  The trick (on Unix!) is\n"
     "        that the file can still be used, but it can't be opened by\n"
     "        another process, and it will automatically be deleted when it\n"
     "        is closed or when the current process terminates.\n"
     "\n"
     "        If you want a more permanent file, you derive a class which\n"
     "        overrides this method.  If you want a visible temporary file\n"
     "        that is nevertheless automatically deleted when the script\n"
     "        terminates, try defining a __del__ method in a derived class\n"
     "        which unlinks the temporary files you have created.\n"
     "\n"
     "        "},
    {NULL, NULL, 0, NULL},
};

/* self[i] for the sequence protocol, which a Python class with __getitem__
 * and __len__ also has: reversed(fs) asks for fs[len - 1], ... */
static PyObject *fs_sq_item(PyObject *self, Py_ssize_t i)
{
    PyObject *key = PyLong_FromSsize_t(i);
    PyObject *r = key ? fs_getitem(self, key) : NULL;
    Py_XDECREF(key);
    return r;
}

static PyType_Slot fs_slots[] = {
    {Py_tp_doc, "Store a sequence of fields, reading multipart/form-data."},
    {Py_tp_init, fs_init},
    {Py_tp_repr, fs_repr},
    {Py_tp_iter, fs_iter},
    {Py_tp_getattro, fs_getattro},
    {Py_tp_finalize, fs_finalize},
    {Py_tp_members, fs_members},
    {Py_tp_getset, fs_getset},
    {Py_tp_traverse, fs_traverse},
    {Py_tp_clear, fs_clear},
    {Py_tp_dealloc, fs_dealloc},
    {Py_mp_subscript, fs_getitem},
    {Py_mp_length, fs_len},
    {Py_sq_contains, fs_contains},
    {Py_sq_item, fs_sq_item},
    {Py_sq_length, fs_len},
    {Py_nb_bool, fs_bool},
    {0, NULL},
};

static PyType_Spec fs_spec = {
    .name = "cgi.FieldStorage",
    .basicsize = sizeof(fs_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = fs_slots,
};

/* Class attributes, straight into the new type's dict: nothing can have
 * looked anything up in it yet, so one PyType_Modified() after is enough. */
static int set_class_attrs(PyTypeObject *tp, const char *const *names, PyObject **values, int n)
{
    for (int i = 0; i < n; i++) {
        if (!values[i] || PyDict_SetItemString(tp->tp_dict, names[i], values[i]) < 0)
            return -1;
    }
    PyType_Modified(tp);
    return 0;
}

int cgih_fieldstorage_add_types(PyObject *module, cgi_state *st)
{
    st->FieldStorage = (PyTypeObject *)PyType_FromModuleAndSpec(module, &fs_spec, NULL);
    if (!st->FieldStorage)
        return -1;
    /* "object of type 'FieldStorage' has no len()"; __module__ stays "cgi" */
    if (cgih_bare_tp_name(st->FieldStorage) < 0)
        return -1;

    PyTypeObject *method_type = cgih_method_type(module);
    int rc = method_type ? cgih_add_methods(method_type, st->FieldStorage, fs_methods) : -1;
    if (rc == 0 && !(st->MiniFieldStorage = make_mini(module, method_type)))
        rc = -1;
    Py_XDECREF(method_type);
    if (rc < 0)
        return -1;
    static const char *const fs_names[] = {"FieldStorageClass", "bufsize"};
    PyObject *fs_values[] = {Py_None, PyLong_FromLong(8 * 1024)};
    rc = set_class_attrs(st->FieldStorage, fs_names, fs_values, 2);
    Py_XDECREF(fs_values[1]);
    if (rc < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "MiniFieldStorage", (PyObject *)st->MiniFieldStorage) < 0 ||
        PyModule_AddObjectRef(module, "FieldStorage", (PyObject *)st->FieldStorage) < 0)
        return -1;
    return 0;
}
