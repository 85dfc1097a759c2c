/* cgimodule.c: the built-in `cgi` module: module state, module-level
 * functions and globals, and registration of the built-ins.
 *
 * It imports nothing heavy: no email, urllib, tempfile, re or locale. The
 * stdlib's DeprecationWarning is not raised.
 */
#include "cgi_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parsers/header.h"
#include "shim.h"

cgi_state *cgih_cgi_state(PyObject *module)
{
    return (cgi_state *)PyModule_GetState(module);
}

PyObject *cgih_cgi_module_of(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyType_GetModuleByDef(tp, &cgih_cgi_module);
#else
    PyObject *mro = tp->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE))
            continue;
        PyObject *m = PyType_GetModule(t);
        if (m && PyModule_GetDef(m) == &cgih_cgi_module)
            return m;
        PyErr_Clear();
    }
    PyErr_SetString(PyExc_TypeError, "not a cgi module type");
    return NULL;
#endif
}

/* ---- parse_header --------------------------------------------------------- */

static PyObject *decode_sp(const char *s, size_t n)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "surrogatepass");
}

/* cgi.parse_header() on the pure-C core of parsers/header.c, which works on the
 * str's UTF-8 bytes (lone surrogates pass through as surrogatepass). */
PyObject *cgih_parse_header(PyObject *line)
{
    if (!PyUnicode_Check(line)) {
        PyErr_Format(PyExc_TypeError, "can only concatenate str (not \"%.200s\") to str",
                     Py_TYPE(line)->tp_name);
        return NULL;
    }
    PyObject *encoded = NULL, *key = NULL, *pdict = NULL, *res = NULL;
    char *scratch = NULL;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(line, &n);
    if (!s) {
        PyErr_Clear();
        if (!(encoded = PyUnicode_AsEncodedString(line, "utf-8", "surrogatepass")))
            return NULL;
        s = PyBytes_AS_STRING(encoded);
        n = PyBytes_GET_SIZE(encoded);
    }
    cgih_header_iter it;
    cgih_header_param prm;
    const char *k;
    size_t klen;
    cgih_header_begin(&it, s, (size_t)n, &k, &klen);
    if (!(key = decode_sp(k, klen)) || !(pdict = PyDict_New()))
        goto done;
    if (!(scratch = PyMem_Malloc((size_t)n + 1))) {
        PyErr_NoMemory();
        goto done;
    }
    while (cgih_header_next(&it, &prm)) {
        const char *v = prm.value;
        size_t vlen = prm.value_len;
        if (prm.quoted) {
            vlen = cgih_header_unescape(prm.value, prm.value_len, scratch);
            v = scratch;
        }
        PyObject *raw = decode_sp(prm.name, prm.name_len);
        PyObject *name = raw ? PyObject_CallMethod(raw, "lower", NULL) : NULL;
        PyObject *value = name ? decode_sp(v, vlen) : NULL;
        int rc = value ? PyDict_SetItem(pdict, name, value) : -1;
        Py_XDECREF(raw);
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (rc < 0)
            goto done;
    }
    res = PyTuple_Pack(2, key, pdict);
done:
    PyMem_Free(scratch);
    Py_XDECREF(encoded);
    Py_XDECREF(key);
    Py_XDECREF(pdict);
    return res;
}

static PyObject *cgi_parse_header(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    static const char *const names[] = {"line"};
    PyObject *line;
    if (cgih_bind_args("parse_header", 0, args, kw, names, 1, 1, &line) < 0)
        return NULL;
    return cgih_parse_header(line);
}

/* ---- temporary files ------------------------------------------------------ */

/* tempfile.gettempdir()'s candidates, in its order. */
static int open_tmp_in(const char *dir)
{
#ifdef O_TMPFILE
    int fd = open(dir, O_RDWR | O_EXCL | O_NOFOLLOW | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    if (snprintf(path, sizeof path, "%s/tmpcgihXXXXXX", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int f = mkostemp(path, O_CLOEXEC);
    if (f < 0)
        return -1;
    if (unlink(path) != 0) {
        int e = errno;
        close(f);
        errno = e;
        return -1;
    }
    return f;
}

static int open_tmp(cgi_state *st)
{
    /* tempfile.tempdir, when a script has set it, wins as it does in tempfile. */
    PyObject *mods = PyImport_GetModuleDict();
    PyObject *tf = PyDict_GetItemString(mods, "tempfile");
    if (tf) {
        PyObject *td = PyObject_GetAttrString(tf, "tempdir");
        if (!td)
            PyErr_Clear();
        else if (PyUnicode_Check(td))
            Py_XSETREF(st->tempdir, td);
        else
            Py_DECREF(td);
    }
    if (st->tempdir) {
        const char *d = PyUnicode_AsUTF8(st->tempdir);
        if (!d)
            return -1;
        int fd = open_tmp_in(d);
        if (fd < 0)
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, st->tempdir);
        return fd;
    }
    const char *cands[7] = {getenv("TMPDIR"), getenv("TEMP"), getenv("TMP"), "/tmp", "/var/tmp",
                            "/usr/tmp", NULL};
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd))
        cands[6] = cwd;
    for (size_t i = 0; i < 7; i++) {
        if (!cands[i] || !*cands[i])
            continue;
        int fd = open_tmp_in(cands[i]);
        if (fd >= 0) {
            st->tempdir = PyUnicode_DecodeFSDefault(cands[i]);
            if (!st->tempdir) {
                close(fd);
                return -1;
            }
            return fd;
        }
    }
    PyErr_SetString(PyExc_FileNotFoundError, "No usable temporary directory found");
    return -1;
}

PyObject *cgih_temporary_file(cgi_state *st, const char *mode, PyObject *encoding,
                              PyObject *newline)
{
    int fd = open_tmp(st);
    if (fd < 0)
        return NULL;
    PyObject *io = PyImport_ImportModule("_io"), *open_ = NULL, *args = NULL, *kw = NULL;
    PyObject *f = NULL;
    if (!io || !(open_ = PyObject_GetAttrString(io, "open")))
        goto done;
    if (!(args = Py_BuildValue("(is)", fd, mode)))
        goto done;
    if (!(kw = Py_BuildValue("{sisOsOsO}", "buffering", -1, "newline", newline, "encoding",
                             encoding, "errors", Py_None)))
        goto done;
    f = PyObject_Call(open_, args, kw);
done:
    if (!f)
        close(fd);
    Py_XDECREF(io);
    Py_XDECREF(open_);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    return f;
}

/* ---- valid_boundary ------------------------------------------------------- */

/* re.match("^[ -~]{0,200}[!-~]$", s), the pattern in bytes for bytes, as
 * cgi.py does: the same re.Match, None, or TypeError (a bytearray meets the
 * str pattern). re is imported here, on a script's own call: FieldStorage
 * checks boundaries in C (cgih_valid_boundary) and never imports it. */
static PyObject *cgi_valid_boundary(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    static const char *const names[] = {"s"};
    PyObject *s;
    if (cgih_bind_args("valid_boundary", 0, args, kw, names, 1, 1, &s) < 0)
        return NULL;
    static const char pat[] = "^[ -~]{0,200}[!-~]$";
    PyObject *re = PyImport_ImportModule("re"), *r = NULL;
    if (!re)
        return NULL;
    PyObject *pattern = PyBytes_Check(s) ? PyBytes_FromStringAndSize(pat, sizeof pat - 1)
                                         : PyUnicode_FromStringAndSize(pat, sizeof pat - 1);
    if (pattern)
        r = PyObject_CallMethod(re, "match", "OO", pattern, s);
    Py_XDECREF(pattern);
    Py_DECREF(re);
    return r;
}

/* ---- the module ----------------------------------------------------------- */

static PyMethodDef cgi_methods[] = {
    {"parse_header", (PyCFunction)(void (*)(void))cgi_parse_header, METH_VARARGS | METH_KEYWORDS,
     "parse_header($module, /, line)\n--\n\n"
     "Parse a Content-type like header.\n\n    Return the main content-type and a dictionary of "
     "options.\n\n    "},
    {"valid_boundary", (PyCFunction)(void (*)(void))cgi_valid_boundary, METH_VARARGS | METH_KEYWORDS,
     "valid_boundary($module, /, s)\n--\n\n"},
    {NULL, NULL, 0, NULL},
};

static int cgi_exec(PyObject *m)
{
    cgi_state *st = cgih_cgi_state(m);
    if (cgih_fieldstorage_add_types(m, st) < 0)
        return -1;
    /* environ=os.environ, bound now when os is loaded (cgih_default_environ()) */
    if (PyDict_GetItemString(PyImport_GetModuleDict(), "os")) {
        PyObject *e = cgih_default_environ(m, 0);
        if (!e)
            return -1;
        Py_DECREF(e);
    }
    if (PyModule_AddStringConstant(m, "__version__", "2.6") < 0 ||
        PyModule_AddIntConstant(m, "maxlen", 0) < 0 ||
        PyModule_AddStringConstant(m, "logfile", "") < 0 ||
        PyModule_AddObjectRef(m, "logfp", Py_None) < 0)
        return -1;
    /* parse, parse_multipart, the logging family and the print_* helpers
     * (cgifuncs.c); log starts as initlog, as in cgi.py. */
    if (PyModule_AddFunctions(m, cgih_cgi_funcs) < 0)
        return -1;
    PyObject *initlog = PyObject_GetAttrString(m, "initlog");
    int rc = initlog ? PyModule_AddObjectRef(m, "log", initlog) : -1;
    Py_XDECREF(initlog);
    if (rc < 0)
        return -1;
    PyObject *all = Py_BuildValue("[ssssssssssss]", "MiniFieldStorage", "FieldStorage", "parse",
                                  "parse_multipart", "parse_header", "test", "print_exception",
                                  "print_environ", "print_form", "print_directory",
                                  "print_arguments", "print_environ_usage");
    if (!all || PyModule_AddObject(m, "__all__", all) < 0) {
        Py_XDECREF(all);
        return -1;
    }
    return 0;
}

static int cgi_traverse(PyObject *m, visitproc visit, void *arg)
{
    cgi_state *st = cgih_cgi_state(m);
    Py_VISIT(st->FieldStorage);
    Py_VISIT(st->MiniFieldStorage);
    Py_VISIT(st->tempdir);
    Py_VISIT(st->PartStream);
    Py_VISIT(st->Headers);
    Py_VISIT(st->environ);
    return 0;
}

static int cgi_clear(PyObject *m)
{
    cgi_state *st = cgih_cgi_state(m);
    Py_CLEAR(st->FieldStorage);
    Py_CLEAR(st->MiniFieldStorage);
    Py_CLEAR(st->tempdir);
    Py_CLEAR(st->PartStream);
    Py_CLEAR(st->Headers);
    Py_CLEAR(st->environ);
    return 0;
}

static void cgi_free(void *m)
{
    cgi_clear((PyObject *)m);
    cgih_names_clear();
}

static PyModuleDef_Slot cgi_slots[] = {
    {Py_mod_exec, cgi_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyModuleDef cgih_cgi_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cgi",
    .m_doc = "Support module for CGI (Common Gateway Interface) scripts.\n\n"
             "This module defines a number of utilities for use by CGI scripts\n"
             "written in Python.\n\n"
             "The global variable maxlen can be set to an integer indicating the maximum size\n"
             "of a POST request. POST requests larger than this size will result in a\n"
             "ValueError being raised during parsing. The default value of this variable is 0,\n"
             "meaning the request size is unlimited.\n\n"
             "(cgihost: built in, in C.)",
    .m_size = sizeof(cgi_state),
    .m_methods = cgi_methods,
    .m_slots = cgi_slots,
    .m_traverse = cgi_traverse,
    .m_clear = cgi_clear,
    .m_free = cgi_free,
};

PyMODINIT_FUNC PyInit_cgi(void)
{
    return PyModuleDef_Init(&cgih_cgi_module);
}
