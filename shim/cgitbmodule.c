/* cgitbmodule.c: the built-in `cgitb` module (work in progress). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "shim.h"

static PyModuleDef_Slot cgitb_slots[] = {
    {0, NULL},
};

static PyModuleDef cgitb_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cgitb",
    .m_size = 0,
    .m_slots = cgitb_slots,
};

PyMODINIT_FUNC PyInit_cgitb(void)
{
    return PyModuleDef_Init(&cgitb_module);
}
