/* pyutil.c: small helpers the files of the cgi module share. */
#include "cgi_internal.h"

#include <stdint.h>
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
