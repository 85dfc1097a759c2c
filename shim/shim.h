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
 * start. 0, or -1 with an exception set. */
int cgih_cgitb_follow_stdout(void);

#endif
