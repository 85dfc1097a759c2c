/* cgi_internal.h: what the files of the built-in cgi module share. Not part of
 * any public interface. */
#ifndef CGIH_CGI_INTERNAL_H
#define CGIH_CGI_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <sys/stat.h>

#include "pycompat.h"

typedef struct {
    PyTypeObject *FieldStorage;
    PyTypeObject *MiniFieldStorage;
    PyObject *tempdir;        /* str, make_file()'s default directory, once found */
    PyTypeObject *PartStream; /* multipartbind.c */
    PyTypeObject *Headers;
    PyObject *environ; /* the default environ: os.environ as it was when bound (cgi.py binds it at import) */
} cgi_state;

extern PyModuleDef cgih_cgi_module;

/* The cgi module (borrowed) for an object of one of its types or subtypes;
 * NULL with an exception set when there is none. */
PyObject *cgih_cgi_module_of(PyTypeObject *tp);
cgi_state *cgih_cgi_state(PyObject *module);

/* Types, created in the module's exec slot. */
int cgih_fieldstorage_add_types(PyObject *module, cgi_state *st);

/* urllib.parse.parse_qsl(qs, ...) for a str qs, in C. New reference. */
PyObject *cgih_parse_qsl(PyObject *qs, PyObject *keep_blank_values, PyObject *strict_parsing,
                         PyObject *encoding, PyObject *errors, PyObject *max_num_fields,
                         PyObject *separator);

/* cgi.parse_header(line) as (key, pdict). New reference. */
PyObject *cgih_parse_header(PyObject *line);

/* An unlinked temporary file opened with io.open(fd, mode, **kw), the way
 * tempfile.TemporaryFile() makes it, without importing tempfile. */
PyObject *cgih_temporary_file(cgi_state *st, const char *mode, PyObject *encoding,
                              PyObject *newline);

/* Binds args/kw to the parameters names[0..n) of a pure-Python function whose
 * __qualname__ is fname, the first nreq of them required, with CPython's
 * TypeError messages; has_self counts a bound self as Python does in "takes
 * N positional arguments". out[i] is borrowed, or NULL when not given. */
int cgih_bind_args(const char *fname, int has_self, PyObject *args, PyObject *kw,
                   const char *const *names, int n, int nreq, PyObject **out);

/* The module-level functions of cgifuncs.c, added in the exec slot. */
extern PyMethodDef cgih_cgi_funcs[];

/* The default environ=os.environ, bound in the module's state as cgi.py
 * binds it at import, once os is loaded; before that a snapshot of the C
 * environment decoded as os.environ does. NEED_OS imports os. New
 * reference. */
PyObject *cgih_default_environ(PyObject *module, int need_os);
PyObject *cgih_argv1(int *err); /* sys.argv[1] if sys.argv[1:] (NULL: none, or *err) */

/* A bare `except:` in C: cgih_except_begin() makes the exception raised
 * the one being handled (sys.exc_info(), and the __context__ of anything
 * raised meanwhile) until cgih_except_end() puts back what was. */
typedef struct {
    PyObject *type, *value, *tb;
} cgih_handled;
void cgih_except_begin(cgih_handled *saved);
void cgih_except_end(cgih_handled *saved);

/* pyutil.c: small helpers the module's files share. */
/* The interned str of an ASCII name (new reference), kept for the next
 * call: see pyutil.c. cgih_names_clear() drops them. */
PyObject *cgih_name(const char *s);
void cgih_names_clear(void);
PyObject *cgih_getattr(PyObject *o, const char *name);       /* getattr(o, name) */
int cgih_unpack(PyObject *seq, Py_ssize_t n, PyObject **out);   /* a, b, ... = seq */
PyObject *cgih_load_global(PyObject *module, const char *name); /* NAME as MODULE's code reads it */
PyObject *cgih_sys_attr(const char *name); /* sys.<name>, a new reference, as `sys.name` */
/* getattr(sys.modules[module], name), or NULL with no error when it is not a
 * loaded module (absent, None, a stand-in) */
PyObject *cgih_loaded_attr(const char *module, const char *name);
/* module.name where a script replaced that function of the loaded module, or NULL */
PyObject *cgih_replaced_attr(const char *module, const char *name);
PyObject *cgih_html_escape(PyObject *s); /* html's own html.escape(s), reproduced */
int cgih_setattr(PyObject *o, const char *name, PyObject *v); /* setattr(o, name, v) */
int cgih_has_key(PyObject *mapping, const char *key);     /* key in mapping */
PyObject *cgih_get_key(PyObject *mapping, const char *key); /* mapping[key] */
/* An int as a byte count: past long long it saturates (cgi.py compares
 * counts with any int, and no count comes near 2**63). -1 with an error set
 * when v is not an int, as PyLong_AsLongLong(). */
int cgih_count(PyObject *v, long long *out);
/* close(fd) if fd is still the file WAS describes: a failed io.open() or
 * os.fdopen() has closed it already once its FileIO had it, and the number
 * may be another thread's file by now, not ours to close. */
void cgih_close_if_still(int fd, const struct stat *was);
/* A heap type's tp_name := its bare __name__, as assigning __name__ makes it:
 * CPython's messages ("'X' object has no attribute") name a type by tp_name,
 * which for the stdlib's classes is the bare class name, while a spec name
 * "cgi.X" gives "cgi.X" (and a bare spec name a DeprecationWarning). */
int cgih_bare_tp_name(PyTypeObject *tp);

/* Methods that behave as cgi.py's Python ones: each object of the type made
 * by cgih_method_type() is a function-like descriptor around a PyMethodDef
 * of OWNER, so instance.name is a bound method ("<bound method
 * FieldStorage.getvalue of FieldStorage(...)>", as cgitb reports show it),
 * OWNER.name repr()s as "<function FieldStorage.getvalue at 0x...>", and an
 * ml_doc of the form "name($self, ...)\n--\n\ndoc" gives __signature__ (for
 * inspect.signature()) and __doc__. cgih_add_methods() puts one per
 * entry of DEFS into OWNER's dict (call PyType_Modified() after). */
PyTypeObject *cgih_method_type(PyObject *module);
/* A type of the module's own that scripts meet but must not make: calling
 * it (or object.__new__ on it) raises TypeError, as Py_TPFLAGS_DISALLOW_
 * INSTANTIATION (3.10+) makes it, where an object made so would hold NULLs. */
void cgih_no_instances(PyTypeObject *tp);
int cgih_add_methods(PyTypeObject *method_type, PyTypeObject *owner, PyMethodDef *defs);

/* A growable byte buffer (PyMem); zero-initialise, PyMem_Free(b.p) when done. */
typedef struct {
    char *p;
    size_t len, cap;
} cgih_buf;
int cgih_buf_add(cgih_buf *b, const char *at, size_t n); /* 0, or -1 with MemoryError */

/* multipartbind.c: read_multi on the streaming parser. */
int cgih_multipart_add_types(PyObject *module, cgi_state *st);
int cgih_is_headers(PyObject *o);
int cgih_read_multi_parts(PyObject *self, PyObject *environ, PyObject *kbv, PyObject *strict);
/* 1: handled (fp is a part stream), 0: not a part stream, -1: error. */
int cgih_part_read_lines(PyObject *self);
int cgih_part_skip_lines(PyObject *self);

#endif
