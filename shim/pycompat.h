/* pycompat.h: the few C-API differences between CPython 3.9 and 3.13, behind
 * version guards so that one source builds on all of them.
 *
 * 3.9 is the floor: the modules' heap types need PyType_FromModuleAndSpec,
 * PyType_GetModule and METH_METHOD (defining class), all new in 3.9; on 3.8 a
 * type cannot reach its module's state without a global, which per-module
 * state forbids. Newer slots (Py_mod_multiple_interpreters 3.12, Py_mod_gil
 * 3.13) and PyType_GetModuleByDef (3.11) are guarded where they are used. */
#ifndef CGIH_PYCOMPAT_H
#define CGIH_PYCOMPAT_H

#include <Python.h>

/* Member-definition names: Python.h has them from 3.12 on. */
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_READONLY READONLY
#endif

#if PY_VERSION_HEX < 0x03090000
#error "the cgi and cgitb modules need CPython 3.9 or later"
#endif

/* Strong references and PyModule_AddObjectRef: Python.h has them from 3.10. */
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *cgih_compat_newref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

static inline PyObject *cgih_compat_xnewref(PyObject *o)
{
    Py_XINCREF(o);
    return o;
}

#define Py_NewRef(o) cgih_compat_newref((PyObject *)(o))
#define Py_XNewRef(o) cgih_compat_xnewref((PyObject *)(o))

/* Adds a new reference to value as name; -1 with an exception set on failure
 * (value NULL means the exception is already set), as 3.10's. */
static inline int PyModule_AddObjectRef(PyObject *mod, const char *name, PyObject *value)
{
    if (!value) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "PyModule_AddObjectRef() called with NULL value "
                                               "and no exception set");
        return -1;
    }
    Py_INCREF(value);
    if (PyModule_AddObject(mod, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}
#endif

/* The raised exception as one object (3.12 API), for older versions too. */
static inline PyObject *PyErr_GetRaisedException_compat(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

static inline void PyErr_SetRaisedException_compat(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    if (!exc)
        return;
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
#endif
}

#endif
