/* pyutil.c: small helpers the files of the cgi module share; cgitb links
 * this file alone of cgi's. */
#include "cgi_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int cgih_has_key(PyObject *mapping, const char *key)
{
    PyObject *k = PyUnicode_FromString(key);
    if (!k)
        return -1;
    int rc = PySequence_Contains(mapping, k);
    Py_DECREF(k);
    return rc;
}

PyObject *cgih_get_key(PyObject *mapping, const char *key)
{
    PyObject *k = PyUnicode_FromString(key);
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
