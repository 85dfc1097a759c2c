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
    char path[4096]; /* as os.path.join() makes it: "" is the working directory */
    if (snprintf(path, sizeof path, "%s%stmpcgihXXXXXX", dir, *dir ? "/" : "") >=
        (int)sizeof path) {
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
    /* tempfile.tempdir, when a script has set it, wins as it does in tempfile:
     * read at each call (set back to None, the default applies again), and
     * taken as os.fsdecode() takes it (str, bytes or an os.PathLike). Only
     * the default is remembered, as gettempdir() remembers it. */
    PyObject *mods = PyImport_GetModuleDict();
    PyObject *tf = PyDict_GetItemString(mods, "tempfile");
    PyObject *td = tf ? PyObject_GetAttrString(tf, "tempdir") : NULL;
    if (tf && !td)
        PyErr_Clear();
    if (td && td != Py_None) {
        PyObject *name = PyOS_FSPath(td), *path = NULL; /* str or bytes, as tempfile has it */
        int fd = -1;
        if (name && PyUnicode_FSConverter(name, &path)) {
            fd = open_tmp_in(PyBytes_AS_STRING(path));
            if (fd < 0)
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
        }
        Py_XDECREF(path);
        Py_XDECREF(name);
        Py_DECREF(td);
        return fd;
    }
    Py_XDECREF(td);
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
    /* cgi.py's make_file(): tempfile.TemporaryFile("wb+"), or ("w+",
     * encoding=..., newline='\n'); made here in C unless a script replaced
     * it (tempfile.tempdir is honoured below). cgi.py calls it through the
     * module its `import tempfile` bound: what else sys.modules holds under
     * the name now (None, a stand-in object) is not it. */
    PyObject *replaced = cgih_replaced_attr("tempfile", "TemporaryFile");
    if (replaced || PyErr_Occurred()) {
        PyObject *r = NULL;
        if (replaced && strcmp(mode, "wb+") == 0) {
            r = PyObject_CallFunction(replaced, "s", mode);
        } else if (replaced) {
            PyObject *args = Py_BuildValue("(s)", mode);
            PyObject *kw =
                args ? Py_BuildValue("{sOsO}", "encoding", encoding, "newline", newline) : NULL;
            r = kw ? PyObject_Call(replaced, args, kw) : NULL;
            Py_XDECREF(args);
            Py_XDECREF(kw);
        }
        Py_XDECREF(replaced);
        return r;
    }
    int fd = open_tmp(st);
    if (fd < 0)
        return NULL;
    struct stat ours;
    if (fstat(fd, &ours) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        close(fd);
        return NULL;
    }
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
    if (!f) /* (a TextIOWrapper refusing the encoding closed it already) */
        cgih_close_if_still(fd, &ours);
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
    return cgih_install_submodule_finder();
}

/* ---- what importing cgi.py binds in other packages ------------------------------------
 *
 * cgi.py imports urllib.parse, email.parser, email.message (and with them
 * most of email) and collections.abc, and each becomes an attribute of its
 * package: a script that wrote only "import urllib" reaches urllib.parse
 * under python3 once it has imported cgi. This module imports none of
 * them. Instead a package of theirs gets a module __getattr__ (PEP 562)
 * that imports such a submodule the first time it is asked for: set here
 * on a package already loaded, else as it loads, by a finder first on
 * sys.meta_path that has the package's loader set it after its exec. */
static const char *const cgi_py_submodules[] = {
    "collections.abc", "email._encoded_words", "email._parseaddr", "email._policybase",
    "email.base64mime", "email.charset", "email.encoders", "email.errors", "email.feedparser",
    "email.header", "email.iterators", "email.message", "email.parser", "email.quoprimime",
    "email.utils", "urllib.parse", NULL};
static const char *const cgi_py_packages[] = {"collections", "email", "urllib", NULL};

static int is_cgi_py_package(PyObject *name)
{
    for (const char *const *p = cgi_py_packages; *p; p++)
        if (PyUnicode_CompareWithASCIIString(name, *p) == 0)
            return 1;
    return 0;
}

/* The package's __getattr__(name); PKG: the package's name. */
static PyObject *package_getattr(PyObject *pkg, PyObject *name)
{
    PyObject *full = PyUnicode_Check(name) ? PyUnicode_FromFormat("%U.%U", pkg, name) : NULL;
    const char *f = full ? PyUnicode_AsUTF8(full) : NULL;
    int known = 0;
    for (const char *const *s = cgi_py_submodules; f && *s && !known; s++)
        known = strcmp(*s, f) == 0;
    if (!known) {
        Py_XDECREF(full);
        PyErr_Clear();
        return PyErr_Format(PyExc_AttributeError, "module '%U' has no attribute '%S'", pkg, name);
    }
    /* The submodule (PyImport_Import() gives it, not the package), bound
     * in the package: an import finding it in sys.modules already (the
     * package imported again since) binds nothing, and asking the package
     * again would come back here. */
    PyObject *sub = PyImport_Import(full);
    Py_DECREF(full);
    PyObject *m = sub ? PyImport_GetModule(pkg) : NULL;
    if (m && PyObject_SetAttr(m, name, sub) < 0)
        Py_CLEAR(sub);
    if (sub && !m && !PyErr_Occurred())
        PyErr_Format(PyExc_AttributeError, "module '%U' has no attribute '%S'", pkg, name);
    if (!m)
        Py_CLEAR(sub);
    Py_XDECREF(m);
    return sub;
}

static PyMethodDef package_getattr_def = {"__getattr__", package_getattr, METH_O, NULL};

/* Gives MODULE, the package NAME, the __getattr__ above, unless it has one. */
static int set_package_getattr(PyObject *module, PyObject *name)
{
    PyObject *d = PyModule_Check(module) ? PyModule_GetDict(module) : NULL; /* borrowed */
    if (!d)
        return 0;
    if (PyDict_GetItemString(d, "__getattr__")) /* borrowed; its own */
        return 0;
    PyObject *f = PyCFunction_New(&package_getattr_def, name);
    int rc = f ? PyDict_SetItemString(d, "__getattr__", f) : -1;
    Py_XDECREF(f);
    return rc;
}

/* Whether LOADER is one made for this module alone, whose class's
 * exec_module() is a plain function: importlib's for a source or .pyc file
 * (a zipimporter, say, loads many modules). */
static int own_file_loader(PyObject *loader)
{
    static const char *const kinds[] = {"SourceFileLoader", "SourcelessFileLoader"};
    PyObject *n = PyUnicode_FromString("_frozen_importlib_external");
    PyObject *ext = n ? PyImport_GetModule(n) : NULL;
    Py_XDECREF(n);
    int yes = 0;
    for (size_t i = 0; ext && !yes && i < sizeof kinds / sizeof *kinds; i++) {
        PyObject *t = PyObject_GetAttrString(ext, kinds[i]);
        yes = t == (PyObject *)Py_TYPE(loader);
        Py_XDECREF(t);
    }
    Py_XDECREF(ext);
    PyErr_Clear();
    return yes;
}

/* The package's loader's exec_module(module), then the __getattr__. */
static PyObject *exec_then_getattr(PyObject *loader, PyObject *module)
{
    PyObject *exec = PyObject_GetAttrString((PyObject *)Py_TYPE(loader), "exec_module");
    PyObject *r = exec ? PyObject_CallFunctionObjArgs(exec, loader, module, NULL) : NULL;
    Py_XDECREF(exec);
    PyObject *name = r ? PyObject_GetAttrString(module, "__name__") : NULL;
    if (name && PyUnicode_Check(name) && set_package_getattr(module, name) < 0)
        Py_CLEAR(r);
    if (r && !name)
        PyErr_Clear(); /* no name: no __getattr__ */
    Py_XDECREF(name);
    return r;
}

static PyMethodDef exec_then_getattr_def = {"exec_module", exec_then_getattr, METH_O, NULL};

static PyObject *submodule_find_spec(PyObject *unused, PyObject *args);
static PyMethodDef find_spec_def = {"find_spec", submodule_find_spec, METH_VARARGS, NULL};

/* Whether a finder's find_spec (a new reference, or NULL) is ours. */
static int is_ours(PyObject *find_spec)
{
    return find_spec && PyCFunction_Check(find_spec) &&
           PyCFunction_GET_FUNCTION(find_spec) == (PyCFunction)(void (*)(void))submodule_find_spec;
}

/* find_spec(name, path=None, target=None): None but for one of the
 * packages, whose spec is what the finders after it give, its loader
 * (an instance) set to give the package the __getattr__ as it loads. */
static PyObject *submodule_find_spec(PyObject *unused, PyObject *args)
{
    (void)unused;
    PyObject *name, *path = Py_None, *target = Py_None;
    if (!PyArg_ParseTuple(args, "O|OO:find_spec", &name, &path, &target))
        return NULL;
    PyObject *mp = PySys_GetObject("meta_path"); /* borrowed */
    if (!PyUnicode_Check(name) || !is_cgi_py_package(name) || !mp || !PyList_Check(mp))
        Py_RETURN_NONE;
    PyObject *finders = PySequence_List(mp), *spec = NULL;
    for (Py_ssize_t i = 0; finders && !spec && i < PyList_GET_SIZE(finders); i++) {
        PyObject *fs = PyObject_GetAttrString(PyList_GET_ITEM(finders, i), "find_spec");
        if (!fs) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                break;
            PyErr_Clear();
            continue;
        }
        if (is_ours(fs)) {
            Py_DECREF(fs);
            continue;
        }
        spec = PyObject_CallFunctionObjArgs(fs, name, path, target, NULL);
        Py_DECREF(fs);
        if (spec == Py_None)
            Py_CLEAR(spec);
        else if (!spec)
            break;
    }
    Py_XDECREF(finders);
    if (!spec)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *loader = PyObject_GetAttrString(spec, "loader");
    if (loader && own_file_loader(loader)) {
        PyObject *f = PyCFunction_New(&exec_then_getattr_def, loader);
        if (!f || PyObject_SetAttrString(loader, "exec_module", f) < 0)
            PyErr_Clear(); /* a loader that takes no attribute: no __getattr__ */
        Py_XDECREF(f);
    }
    PyErr_Clear();
    Py_XDECREF(loader);
    return spec;
}

/* The finder first on sys.meta_path (once), and the __getattr__ for the
 * packages loaded already. */
int cgih_install_submodule_finder(void)
{
    PyObject *mp = PySys_GetObject("meta_path"); /* borrowed */
    if (!mp || !PyList_Check(mp))
        return 0;
    /* a copy: a finder's find_spec may be Python code that changes the list */
    PyObject *finders = PySequence_List(mp);
    if (!finders)
        return -1;
    int ours = 0;
    for (Py_ssize_t i = 0; !ours && i < PyList_GET_SIZE(finders); i++) {
        PyObject *fs = PyObject_GetAttrString(PyList_GET_ITEM(finders, i), "find_spec");
        ours = is_ours(fs);
        Py_XDECREF(fs);
        PyErr_Clear();
    }
    Py_DECREF(finders);
    if (ours)
        return 0;
    if (!PySys_GetObject("implementation"))
        return 0; /* a script that deleted it: no finder */
    int rc = cgih_meta_path_push(&find_spec_def);
    for (const char *const *p = cgi_py_packages; rc == 0 && *p; p++) {
        PyObject *name = PyUnicode_FromString(*p);
        PyObject *m = name ? PyImport_GetModule(name) : NULL;
        if (!name || (!m && PyErr_Occurred()) || (m && set_package_getattr(m, name) < 0))
            rc = -1;
        Py_XDECREF(m);
        Py_XDECREF(name);
    }
    return rc;
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
