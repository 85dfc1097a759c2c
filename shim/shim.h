/* shim.h: the built-in modules that stand in for the stdlib's cgi and cgitb. */
#ifndef CGIH_SHIM_H
#define CGIH_SHIM_H

#include <Python.h>

PyMODINIT_FUNC PyInit_cgi(void);
PyMODINIT_FUNC PyInit_cgitb(void);

#endif
