/* shim.h: the built-in modules that stand in for the stdlib's cgi and cgitb. */
#ifndef CGIH_SHIM_H
#define CGIH_SHIM_H

#include <Python.h>

PyMODINIT_FUNC PyInit_cgi(void);
PyMODINIT_FUNC PyInit_cgitb(void);

/* For the resident server's request child, once it has given the request
 * new standard streams (sys.stdout and sys.__stdout__): cgitb's handler,
 * made at the server's import, follows them now rather than at its next
 * report, so that cgitb.handler.__self__.file is sys.stdout as in a fresh
 * start; and the module leaves sys.modules, unless a module preloaded
 * since cgih_cgitb_note_import() took it or its names, so that the script's
 * own `import cgitb` makes one whose handler holds that import's
 * sys.stdout. 0, or -1 with an exception set. */
int cgih_cgitb_follow_stdout(void);

/* For the resident server, right after its own import of cgitb, before
 * CGIHOST_PRELOAD's modules: notes the module as it is. 0. */
int cgih_cgitb_note_import(void);

/* What cgi.py's imports bind in other packages (urllib.parse, email's
 * submodules, collections.abc), made reachable from their packages when
 * first asked for (see cgimodule.c): done by `import cgi`, and by cgihost at
 * its start, so that a script sees the same whether its request runs
 * in-process or in a server that has cgi imported. 0, or -1 with an
 * exception set. */
int cgih_install_submodule_finder(void);

/* Puts first on sys.meta_path a finder whose find_spec is the function that
 * DEF describes: a types.SimpleNamespace (sys.implementation's type, so
 * nothing is imported for it), as a finder needs nothing more. 0, or -1
 * with an exception set (RuntimeError without sys.meta_path or
 * sys.implementation). */
int cgih_meta_path_push(PyMethodDef *def);

#endif
