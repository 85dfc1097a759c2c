/* pyutil.c: small helpers the files of the cgi module share; cgitb links
 * this file alone of cgi's. */
#include "cgi_internal.h"
#include "shim.h"

#include <limits.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- interned names ----------------------------------------------------------
 *
 * PyUnicode_InternFromString() decodes, hashes and looks up its name at
 * every call: a fifth of a FieldStorage()'s work, which names some thirty
 * attributes, keys and methods, several more than once. Here each name is
 * interned once and kept, found again by a hash of its bytes. The table
 * serves the first interpreter that asks (another one, a subinterpreter,
 * interns as before), not at all in a free-threaded build, and is emptied
 * with cgih_names_clear() when that interpreter's cgi or cgitb module goes. */
#define NAME_SLOTS 256 /* a power of two; a full table interns as before */
static struct name_slot {
    uint32_t hash;
    char *key;
    PyObject *name;
} name_slots[NAME_SLOTS];
static PyInterpreterState *names_owner;

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

PyObject *cgih_name(const char *s)
{
#ifdef Py_GIL_DISABLED
    return PyUnicode_InternFromString(s);
#else
    PyInterpreterState *me = PyInterpreterState_Get();
    PyInterpreterState *owner = __atomic_load_n(&names_owner, __ATOMIC_ACQUIRE);
    if (!owner) {
        PyInterpreterState *none = NULL;
        if (!__atomic_compare_exchange_n(&names_owner, &none, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            owner = none; /* another interpreter was first */
        else
            owner = me;
    }
    if (owner != me)
        return PyUnicode_InternFromString(s);
    uint32_t h = name_hash(s);
    for (uint32_t i = 0; i < NAME_SLOTS; i++) {
        struct name_slot *slot = &name_slots[(h + i) & (NAME_SLOTS - 1)];
        if (slot->name && slot->hash == h && strcmp(slot->key, s) == 0)
            return Py_NewRef(slot->name);
        if (!slot->name) {
            PyObject *name = PyUnicode_InternFromString(s);
            char *key = name ? strdup(s) : NULL;
            if (!key)
                return name; /* not kept: next time again */
            slot->hash = h;
            slot->key = key;
            slot->name = Py_NewRef(name);
            return name;
        }
    }
    return PyUnicode_InternFromString(s);
#endif
}

void cgih_names_clear(void)
{
#ifndef Py_GIL_DISABLED
    if (__atomic_load_n(&names_owner, __ATOMIC_ACQUIRE) != PyInterpreterState_Get())
        return;
    for (size_t i = 0; i < NAME_SLOTS; i++) {
        Py_CLEAR(name_slots[i].name);
        free(name_slots[i].key);
        name_slots[i].key = NULL;
    }
    __atomic_store_n(&names_owner, NULL, __ATOMIC_RELEASE);
#endif
}

PyObject *cgih_getattr(PyObject *o, const char *name)
{
    PyObject *n = cgih_name(name);
    PyObject *v = n ? PyObject_GetAttr(o, n) : NULL;
    Py_XDECREF(n);
    return v;
}

/* html.escape(s) as html's own is, without importing html (and re): the
 * same chain of s.replace() calls, so the same result, and the same
 * exception for anything that is not a str. New reference. */
PyObject *cgih_html_escape(PyObject *s)
{
    static const char *const pairs[5][2] = {
        {"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#x27;"}};
    Py_INCREF(s);
    for (size_t i = 0; i < 5 && s; i++)
        Py_SETREF(s, PyObject_CallMethod(s, "replace", "ss", pairs[i][0], pairs[i][1]));
    return s;
}

/* sys.modules[name] when it is a module (a new reference), else NULL with
 * no error: None or a stand-in put there after cgi.py's import is not what
 * cgi.py's code reaches. */
static PyObject *loaded_module(const char *name)
{
    PyObject *k = cgih_name(name);
    PyObject *m = k ? PyImport_GetModule(k) : NULL;
    Py_XDECREF(k);
    if (m && !PyModule_Check(m))
        Py_CLEAR(m);
    return m;
}

/* getattr(sys.modules[module], name) where that module is loaded (a new
 * reference), else NULL with no error: what cgi.py's code reaches through a
 * module it imported, which a script that has the module may have replaced
 * (html.escape, os.getcwd), found without importing it. */
PyObject *cgih_loaded_attr(const char *module, const char *name)
{
    PyObject *m = loaded_module(module);
    PyObject *v = m ? cgih_getattr(m, name) : NULL;
    Py_XDECREF(m);
    return v;
}

/* module.name where the module is loaded and a script replaced its function
 * `name` (a new reference), else NULL: with no error when the module is not
 * loaded or the attribute is still the module's own function of that name
 * (the C code then does its work); with the look-up's error. */
PyObject *cgih_replaced_attr(const char *module, const char *name)
{
    PyObject *m = loaded_module(module);
    PyObject *f = m ? cgih_getattr(m, name) : NULL;
    PyCodeObject *code = f && PyFunction_Check(f) ? (PyCodeObject *)PyFunction_GET_CODE(f) : NULL;
    if (code && PyFunction_GET_GLOBALS(f) == PyModule_GetDict(m) &&
        PyUnicode_CompareWithASCIIString(code->co_name, name) == 0)
        Py_CLEAR(f);
    Py_XDECREF(m);
    return f;
}

int cgih_setattr(PyObject *o, const char *name, PyObject *v)
{
    PyObject *n = cgih_name(name);
    int rc = n ? PyObject_SetAttr(o, n, v) : -1;
    Py_XDECREF(n);
    return rc;
}

int cgih_has_key(PyObject *mapping, const char *key)
{
    PyObject *k = cgih_name(key);
    if (!k)
        return -1;
    int rc = PySequence_Contains(mapping, k);
    Py_DECREF(k);
    return rc;
}

PyObject *cgih_get_key(PyObject *mapping, const char *key)
{
    PyObject *k = cgih_name(key);
    if (!k)
        return NULL;
    PyObject *v = PyObject_GetItem(mapping, k);
    Py_DECREF(k);
    return v;
}

int cgih_count(PyObject *v, long long *out)
{
    int over = 0;
    *out = PyLong_Check(v) ? PyLong_AsLongLongAndOverflow(v, &over) : PyLong_AsLongLong(v);
    if (over)
        *out = over > 0 ? LLONG_MAX : LLONG_MIN;
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

void cgih_close_if_still(int fd, const struct stat *was)
{
    struct stat now;
    if (fstat(fd, &now) == 0 && now.st_dev == was->st_dev && now.st_ino == was->st_ino &&
        close(fd) != 0) {
        /* closed all the same (EINTR), or not ours after all */
    }
}

int cgih_bare_tp_name(PyTypeObject *tp)
{
    const char *bare = PyUnicode_AsUTF8(((PyHeapTypeObject *)tp)->ht_name);
    if (!bare)
        return -1;
    tp->tp_name = bare; /* ht_name, which holds it, lives as long as the type */
    return 0;
}

int cgih_buf_add(cgih_buf *b, const char *at, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        char *np = PyMem_Realloc(b->p, cap);
        if (!np) {
            PyErr_NoMemory();
            return -1;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, at, n);
    b->len += n;
    return 0;
}

/* ---- binding arguments as a pure-Python function does -------------------- */

int cgih_bind_args(const char *fname, int has_self, PyObject *args, PyObject *kw,
                   const char *const *names, int n, int nreq, PyObject **out)
{
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    for (int i = 0; i < n; i++)
        out[i] = i < nargs ? PyTuple_GET_ITEM(args, i) : NULL;
    /* keywords first, then too many positionals, then missing ones, in
     * CPython's order (initialize_locals in ceval.c) */
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (kw && PyDict_Next(kw, &pos, &k, &v)) {
        if (!PyUnicode_Check(k)) {
            PyErr_Format(PyExc_TypeError, "%s() keywords must be strings", fname);
            return -1;
        }
        int j = 0;
        while (j < n && PyUnicode_CompareWithASCIIString(k, names[j]) != 0)
            j++;
        if (j == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, k);
            return -1;
        }
        if (out[j]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[j]);
            return -1;
        }
        out[j] = v;
    }
    if (nargs > n) {
        Py_ssize_t given = nargs + has_self, argc = n + has_self;
        if (nreq < n)
            PyErr_Format(PyExc_TypeError,
                         "%s() takes from %zd to %zd positional arguments but %zd were given",
                         fname, (Py_ssize_t)nreq + has_self, argc, given);
        else
            PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s but %zd %s given",
                         fname, argc, argc == 1 ? "" : "s", given, given == 1 ? "was" : "were");
        return -1;
    }
    int missing = 0;
    for (int i = 0; i < nreq; i++)
        missing += !out[i];
    if (missing) {
        char list[512];
        size_t len = 0;
        int seen = 0;
        list[0] = '\0';
        for (int i = 0; i < nreq && len < sizeof list; i++) {
            if (out[i])
                continue;
            seen++;
            const char *sep = seen == 1         ? ""
                              : missing == 2    ? " and "
                              : seen == missing ? ", and "
                                                : ", ";
            int w = snprintf(list + len, sizeof list - len, "%s'%s'", sep, names[i]);
            if (w < 0)
                break;
            len += (size_t)w;
        }
        PyErr_Format(PyExc_TypeError, "%s() missing %d required positional argument%s: %s", fname,
                     missing, missing == 1 ? "" : "s", list);
        return -1;
    }
    return 0;
}

/* ---- methods as functions ---------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyMethodDef *def;
    PyTypeObject *owner;
    PyObject *qualname; /* "Owner.name", made when first asked for */
    vectorcallfunc vectorcall;
} method_obj;

static const char *bare_name(const char *key, const char *owner);

/* Borrowed, or NULL with an exception set. */
static PyObject *qualname_of(method_obj *m)
{
    if (!m->qualname)
        m->qualname = PyUnicode_FromFormat("%s.%s", m->owner->tp_name,
                                           bare_name(m->def->ml_name, m->owner->tp_name));
    return m->qualname;
}

static PyObject *method_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    method_obj *m = (method_obj *)callable;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int flags = m->def->ml_flags & (METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O);
    if (n < 1) {
        if (qualname_of(m))
            PyErr_Format(PyExc_TypeError, "%U() missing 1 required positional argument: 'self'", m->qualname);
        return NULL;
    }
    PyObject *self = args[0];
    if (!PyObject_TypeCheck(self, m->owner)) {
        PyErr_Format(PyExc_TypeError, "descriptor '%s' for '%s' objects doesn't apply to a '%s' object",
                     m->def->ml_name, m->owner->tp_name, Py_TYPE(self)->tp_name);
        return NULL;
    }
    if (nkw && !(flags & METH_KEYWORDS)) {
        if (qualname_of(m))
            PyErr_Format(PyExc_TypeError, "%U() takes no keyword arguments", m->qualname);
        return NULL;
    }
    if (flags == METH_NOARGS) {
        if (n != 1) {
            if (qualname_of(m))
                PyErr_Format(PyExc_TypeError, "%U() takes no arguments (%zd given)", m->qualname, n - 1);
            return NULL;
        }
        return m->def->ml_meth(self, NULL);
    }
    if (flags == METH_O) {
        if (n != 2) {
            if (qualname_of(m))
                PyErr_Format(PyExc_TypeError, "%U() takes exactly one argument (%zd given)", m->qualname,
                             n - 1);
            return NULL;
        }
        return m->def->ml_meth(self, args[1]);
    }
    PyObject *tuple = PyTuple_New(n - 1), *kw = NULL, *r = NULL;
    if (!tuple)
        return NULL;
    for (Py_ssize_t i = 1; i < n; i++)
        PyTuple_SET_ITEM(tuple, i - 1, Py_NewRef(args[i]));
    if (nkw) {
        if (!(kw = PyDict_New()))
            goto done;
        for (Py_ssize_t i = 0; i < nkw; i++)
            if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[n + i]) < 0)
                goto done;
    }
    if (flags & METH_KEYWORDS)
        r = ((PyCFunctionWithKeywords)(void (*)(void))m->def->ml_meth)(self, tuple, kw);
    else
        r = m->def->ml_meth(self, tuple);
done:
    Py_DECREF(tuple);
    Py_XDECREF(kw);
    return r;
}

/* A function's __get__: bound to an instance, itself on the class. */
static PyObject *method_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)type;
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *method_repr(PyObject *self)
{
    PyObject *q = qualname_of((method_obj *)self);
    return q ? PyUnicode_FromFormat("<function %U at %p>", q, self) : NULL;
}

/* The ml_doc after "name(sig)\n--\n\n", or all of it; NULL without one. */
static const char *doc_body(const char *doc, const char **sig_end)
{
    *sig_end = NULL;
    if (!doc)
        return NULL;
    const char *mark = strstr(doc, ")\n--\n\n");
    if (!mark || !strchr(doc, '(') || strchr(doc, '(') > mark)
        return doc;
    *sig_end = mark + 1;
    return mark + 6;
}

static PyObject *method_doc(PyObject *self, void *closure)
{
    (void)closure;
    const char *end, *body = doc_body(((method_obj *)self)->def->ml_doc, &end);
    return body && *body ? PyUnicode_FromString(body) : Py_NewRef(Py_None);
}

/* inspect.signature() asks for this first: the signature of a Python
 * function declared as the ml_doc says ("$self" as "self"), made when asked. */
static PyObject *method_signature(PyObject *self, void *closure)
{
    (void)closure;
    const char *doc = ((method_obj *)self)->def->ml_doc, *end;
    doc_body(doc, &end);
    if (!end)
        return Py_NewRef(Py_None);
    const char *open = strchr(doc, '(');
    PyObject *params = PyUnicode_FromStringAndSize(open, end - open);
    PyObject *src = params ? PyUnicode_FromFormat("def f%U: pass\n", params) : NULL;
    Py_XDECREF(params);
    PyObject *clean = src ? PyObject_CallMethod(src, "replace", "ss", "$", "") : NULL;
    Py_XDECREF(src);
    const char *text = clean ? PyUnicode_AsUTF8(clean) : NULL;
    PyObject *code = text ? Py_CompileString(text, "<signature>", Py_file_input) : NULL;
    Py_XDECREF(clean);
    PyObject *ns = code ? PyDict_New() : NULL, *r = NULL;
    if (ns && PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) == 0 &&
        (r = PyEval_EvalCode(code, ns, ns))) {
        Py_DECREF(r);
        PyObject *inspect = PyImport_ImportModule("inspect");
        PyObject *f = PyDict_GetItemString(ns, "f"); /* borrowed */
        r = inspect && f ? PyObject_CallMethod(inspect, "signature", "O", f) : NULL;
        Py_XDECREF(inspect);
    }
    Py_XDECREF(ns);
    Py_XDECREF(code);
    return r;
}

/* The function's own name: a dict key "_Owner__name" (a private name as
 * the class statement mangled it) was defined as "__name". */
static const char *bare_name(const char *key, const char *owner)
{
    size_t lo = strlen(owner);
    if (key[0] == '_' && strncmp(key + 1, owner, lo) == 0 && strncmp(key + 1 + lo, "__", 2) == 0)
        return key + 1 + lo;
    return key;
}

static PyObject *method_name(PyObject *self, void *closure)
{
    (void)closure;
    method_obj *m = (method_obj *)self;
    return PyUnicode_FromString(bare_name(m->def->ml_name, m->owner->tp_name));
}

static PyObject *method_qualname(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *q = qualname_of((method_obj *)self);
    return q ? Py_NewRef(q) : NULL;
}

/* __module__ is the type's ("cgi", from the spec's name), for the type and
 * its objects alike. */
static PyGetSetDef method_getset[] = {
    {"__doc__", method_doc, NULL, NULL, NULL},
    {"__signature__", method_signature, NULL, NULL, NULL},
    {"__name__", method_name, NULL, NULL, NULL},
    {"__qualname__", method_qualname, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef method_members[] = {
    {"__vectorcalloffset__", Py_T_PYSSIZET, offsetof(method_obj, vectorcall), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static int method_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((method_obj *)self)->owner);
    return 0;
}

/* No tp_clear: owner is never NULL while the object lives (the owner type's
 * own clear, emptying its dict, breaks their cycle). */
static void method_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((method_obj *)self)->owner);
    Py_CLEAR(((method_obj *)self)->qualname);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot method_slots[] = {
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_descr_get, method_get},
    {Py_tp_repr, method_repr},
    {Py_tp_getset, method_getset},
    {Py_tp_members, method_members},
    {Py_tp_traverse, method_traverse},
    {Py_tp_dealloc, method_dealloc},
    {0, NULL},
};

static PyType_Spec method_spec = {
    .name = "cgi._function",
    .basicsize = sizeof(method_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
             Py_TPFLAGS_METHOD_DESCRIPTOR,
    .slots = method_slots,
};

void cgih_no_instances(PyTypeObject *tp)
{
    tp->tp_new = NULL;
    PyType_Modified(tp);
}

PyTypeObject *cgih_method_type(PyObject *module)
{
    PyTypeObject *tp = (PyTypeObject *)PyType_FromModuleAndSpec(module, &method_spec, NULL);
    if (tp)
        cgih_no_instances(tp);
    return tp;
}

int cgih_add_methods(PyTypeObject *method_type, PyTypeObject *owner, PyMethodDef *defs)
{
    for (PyMethodDef *d = defs; d->ml_name; d++) {
        method_obj *m = PyObject_GC_New(method_obj, method_type);
        if (!m)
            return -1;
        m->def = d;
        m->owner = (PyTypeObject *)Py_NewRef(owner);
        m->vectorcall = method_call;
        m->qualname = NULL;
        PyObject_GC_Track(m);
        int rc = PyDict_SetItemString(owner->tp_dict, d->ml_name, (PyObject *)m);
        Py_DECREF(m);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* `a, b, ... = seq` into out[0..n-1] (new references), with Python's errors. */
int cgih_unpack(PyObject *seq, Py_ssize_t n, PyObject **out)
{
    PyObject *it = PyObject_GetIter(seq);
    if (!it) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                         Py_TYPE(seq)->tp_name);
        }
        return -1;
    }
    Py_ssize_t got = 0;
    for (; got < n; got++) {
        out[got] = PyIter_Next(it);
        if (!out[got])
            break;
    }
    if (got == n) {
        PyObject *extra = PyIter_Next(it);
        if (!extra && !PyErr_Occurred()) {
            Py_DECREF(it);
            return 0;
        }
        if (extra) {
            Py_DECREF(extra);
            PyErr_Format(PyExc_ValueError, "too many values to unpack (expected %zd)", n);
        }
    } else if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected %zd, got %zd)", n,
                     got);
    }
    for (Py_ssize_t i = 0; i < got; i++)
        Py_CLEAR(out[i]);
    Py_DECREF(it);
    return -1;
}

/* The global NAME as MODULE's code reads it (LOAD_GLOBAL): the module's,
 * else the builtin, else NameError (a script's `del cgi.maxlen`). New
 * reference. */
PyObject *cgih_load_global(PyObject *module, const char *name)
{
    PyObject *d = PyModule_GetDict(module); /* borrowed */
    PyObject *key = cgih_name(name);
    if (!key)
        return NULL;
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (!v && !PyErr_Occurred()) {
        PyObject *b = PyEval_GetBuiltins(); /* borrowed */
        v = b ? PyDict_GetItemWithError(b, key) : NULL;
        if (!v && !PyErr_Occurred())
            PyErr_Format(PyExc_NameError, "name '%s' is not defined", name);
    }
    Py_DECREF(key);
    Py_XINCREF(v);
    return v;
}

/* sys.<name>, as the attribute lookup `sys.name` does. New reference.
 * PySys_GetObject() hides a failed look-up's error (a MemoryError, making
 * the key): without the name there, the look-up is made again through the
 * module, whose errors are raised (an AttributeError when it is missing). */
PyObject *cgih_sys_attr(const char *name)
{
    PyObject *v = PySys_GetObject(name); /* borrowed */
    if (v)
        return Py_NewRef(v);
    PyObject *sys = loaded_module("sys");
    if (sys) {
        v = PyObject_GetAttrString(sys, name);
        Py_DECREF(sys);
    } else if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_AttributeError, "module 'sys' has no attribute '%s'", name);
    }
    return v;
}

int cgih_meta_path_push(PyMethodDef *def)
{
    /* held: making the finder may run Python code (a script's own
     * sys.implementation), which may replace them */
    PyObject *impl = Py_XNewRef(PySys_GetObject("implementation")); /* types.SimpleNamespace */
    PyObject *mp = Py_XNewRef(PySys_GetObject("meta_path"));
    if (!impl || !mp || !PyList_Check(mp)) {
        Py_XDECREF(impl);
        Py_XDECREF(mp);
        PyErr_SetString(PyExc_RuntimeError, "no sys.meta_path or sys.implementation");
        return -1;
    }
    PyObject *fs = PyCFunction_New(def, NULL);
    PyObject *kw = fs ? Py_BuildValue("{sO}", "find_spec", fs) : NULL;
    PyObject *noargs = kw ? PyTuple_New(0) : NULL;
    PyObject *finder = noargs ? PyObject_Call((PyObject *)Py_TYPE(impl), noargs, kw) : NULL;
    int rc = finder ? PyList_Insert(mp, 0, finder) : -1;
    Py_DECREF(impl);
    Py_DECREF(mp);
    Py_XDECREF(fs);
    Py_XDECREF(kw);
    Py_XDECREF(noargs);
    Py_XDECREF(finder);
    return rc;
}

void cgih_except_begin(cgih_handled *saved)
{
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyErr_GetExcInfo(&saved->type, &saved->value, &saved->tb);
    PyObject *tb = exc ? PyException_GetTraceback(exc) : NULL;
    if (exc)
        Py_INCREF(Py_TYPE(exc));
    PyErr_SetExcInfo(exc ? (PyObject *)Py_TYPE(exc) : NULL, exc, tb); /* steals all three */
}

void cgih_except_end(cgih_handled *saved)
{
    PyErr_SetExcInfo(saved->type, saved->value, saved->tb);
}
