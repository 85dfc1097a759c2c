/* qsl.c: urllib.parse.parse_qsl() on a str, bound to the pure-C splitter in
 * parsers/qs.c. Same list of (name, value) pairs, same exceptions and messages.
 *
 * The str is handled as its UTF-8 bytes (lone surrogates pass through as
 * surrogatepass sequences). Decoding follows urllib.parse.unquote(): a part
 * without '%' is returned as it is (after '+' -> ' '); otherwise each ASCII run
 * is percent-decoded and decoded with encoding/errors on its own, and other
 * characters pass through untouched.
 */
#include "cgi_internal.h"

#include <string.h>

#include "parsers/qs.h"

typedef struct {
    cgih_buf name, value;
    /* A value's first span, held where it is in the query (not copied) until
     * a second one comes or the field ends: a large value is not held twice. */
    const char *held;
    size_t held_len;
    PyObject *result; /* list */
    PyObject *encoding, *errors;
    /* asked for their truth where parse_qsl asks, field by field */
    PyObject *keep_blank, *strict;
} ctx_t;

static PyObject *decode_sp(const char *s, size_t n)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "surrogatepass");
}

/* Python's unquote(part.replace('+', ' '), encoding, errors); part is
 * rewritten in place. */
static PyObject *unquote(char *s, size_t n, PyObject *encoding, PyObject *errors)
{
    if (!memchr(s, '%', n)) {
        for (size_t i = 0; i < n; i++)
            if (s[i] == '+')
                s[i] = ' ';
        return decode_sp(s, n);
    }
    const char *enc = "utf-8", *err = "replace";
    if (encoding != Py_None) {
        if (!PyUnicode_Check(encoding)) {
            PyErr_Format(PyExc_TypeError, "decode() argument 'encoding' must be str, not %.50s",
                         Py_TYPE(encoding)->tp_name);
            return NULL;
        }
        if (!(enc = PyUnicode_AsUTF8(encoding)))
            return NULL;
    }
    if (errors != Py_None) {
        if (!PyUnicode_Check(errors)) {
            PyErr_Format(PyExc_TypeError, "decode() argument 'errors' must be str, not %.50s",
                         Py_TYPE(errors)->tp_name);
            return NULL;
        }
        if (!(err = PyUnicode_AsUTF8(errors)))
            return NULL;
    }
    PyObject *parts = PyList_New(0), *res = NULL;
    if (!parts)
        return NULL;
    size_t i = 0;
    while (i < n) {
        int ascii;
        size_t run = cgih_qs_run(s + i, n - i, &ascii);
        PyObject *piece;
        if (ascii) {
            size_t m = cgih_qs_unquote(s + i, run);
            piece = PyUnicode_Decode(s + i, (Py_ssize_t)m, enc, err);
        } else {
            piece = decode_sp(s + i, run);
        }
        if (!piece || PyList_Append(parts, piece) < 0) {
            Py_XDECREF(piece);
            goto done;
        }
        Py_DECREF(piece);
        i += run;
    }
    if (PyList_GET_SIZE(parts) == 1) {
        res = PyList_GET_ITEM(parts, 0);
        Py_INCREF(res);
    } else {
        PyObject *empty = PyUnicode_FromStringAndSize("", 0);
        if (empty) {
            res = PyUnicode_Join(empty, parts);
            Py_DECREF(empty);
        }
    }
done:
    Py_DECREF(parts);
    return res;
}

static int on_name(cgih_qs_parser *p, const char *at, size_t n)
{
    ctx_t *c = p->data;
    return cgih_buf_add(&c->name, at, n);
}

static int on_value(cgih_qs_parser *p, const char *at, size_t n)
{
    ctx_t *c = p->data;
    if (!c->value.len && !c->held) {
        c->held = at;
        c->held_len = n;
        return 0;
    }
    if (c->held && cgih_buf_add(&c->value, c->held, c->held_len) < 0)
        return -1;
    c->held = NULL;
    return cgih_buf_add(&c->value, at, n);
}

/* The field's value: decoded from where it is held when it has nothing to
 * unquote, else copied and unquoted. */
static PyObject *value_of(ctx_t *c)
{
    if (c->held && !memchr(c->held, '%', c->held_len) && !memchr(c->held, '+', c->held_len))
        return decode_sp(c->held, c->held_len);
    if (c->held && cgih_buf_add(&c->value, c->held, c->held_len) < 0)
        return NULL;
    c->held = NULL;
    return unquote(c->value.p ? c->value.p : "", c->value.len, c->encoding, c->errors);
}

static int on_field_end(cgih_qs_parser *p)
{
    ctx_t *c = p->data;
    int rc = -1, t;
    /* `if not name_value and not strict_parsing: continue` */
    if (p->field_len == 0) {
        if ((t = PyObject_IsTrue(c->strict)) < 0)
            goto reset;
        if (!t) {
            rc = 0;
            goto reset;
        }
    }
    if (!p->field_has_eq) {
        if ((t = PyObject_IsTrue(c->strict)) < 0)
            goto reset;
        if (t) {
            PyObject *raw = decode_sp(c->name.p ? c->name.p : "", c->name.len);
            if (raw) {
                PyErr_Format(PyExc_ValueError, "bad query field: %R", raw);
                Py_DECREF(raw);
            }
            goto reset;
        }
        if ((t = PyObject_IsTrue(c->keep_blank)) < 0)
            goto reset;
        if (!t) {
            rc = 0;
            goto reset;
        }
    }
    /* `if len(nv[1]) or keep_blank_values:` */
    t = c->value.len || c->held ? 1 : PyObject_IsTrue(c->keep_blank);
    if (t < 0)
        goto reset;
    if (t) {
        PyObject *name = unquote(c->name.p ? c->name.p : "", c->name.len, c->encoding, c->errors);
        PyObject *value = name ? value_of(c) : NULL;
        PyObject *pair = value ? PyTuple_Pack(2, name, value) : NULL;
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (!pair)
            goto reset;
        rc = PyList_Append(c->result, pair);
        Py_DECREF(pair);
        goto reset;
    }
    rc = 0;
reset:
    c->name.len = c->value.len = 0;
    c->held = NULL;
    return rc;
}

/* urllib.parse's _coerce_args() applied to the separator alone. */
static PyObject *coerce_separator(PyObject *sep)
{
    if (PyUnicode_Check(sep)) {
        Py_INCREF(sep);
        return sep;
    }
    int truth = PyObject_IsTrue(sep);
    if (truth < 0)
        return NULL;
    if (!truth)
        return PyUnicode_FromStringAndSize("", 0);
    return PyObject_CallMethod(sep, "decode", "ss", "ascii", "strict");
}

PyObject *cgih_parse_qsl(PyObject *qs, PyObject *keep_blank_values, PyObject *strict_parsing,
                         PyObject *encoding, PyObject *errors, PyObject *max_num_fields,
                         PyObject *separator)
{
    static const cgih_qs_settings settings = {
        .on_name = on_name, .on_value = on_value, .on_field_end = on_field_end};
    ctx_t c = {.encoding = encoding,
               .errors = errors,
               .keep_blank = keep_blank_values,
               .strict = strict_parsing};
    PyObject *sep = NULL, *encoded = NULL, *encsep = NULL;
    PyObject *res = NULL;

    if (!PyUnicode_Check(qs)) {
        PyErr_SetString(PyExc_TypeError, "parse_qsl: the query must be str");
        return NULL;
    }
    if (!(sep = coerce_separator(separator)))
        return NULL;
    if (!PyUnicode_Check(sep) || PyUnicode_GET_LENGTH(sep) == 0) {
        PyErr_SetString(PyExc_ValueError, "Separator must be of type string or bytes.");
        goto done;
    }
    Py_ssize_t qlen = PyUnicode_GET_LENGTH(qs);
    if (max_num_fields != Py_None) {
        Py_ssize_t count = qlen ? PyUnicode_Count(qs, sep, 0, PY_SSIZE_T_MAX) : 0;
        if (count < 0)
            goto done;
        PyObject *num = PyLong_FromSsize_t(qlen ? 1 + count : 0);
        if (!num)
            goto done;
        int over = PyObject_RichCompareBool(max_num_fields, num, Py_LT);
        Py_DECREF(num);
        if (over < 0)
            goto done;
        if (over) {
            PyErr_SetString(PyExc_ValueError, "Max number of fields exceeded");
            goto done;
        }
    }
    if (!(c.result = PyList_New(0)))
        goto done;
    if (qlen == 0) {
        res = c.result;
        c.result = NULL;
        goto done;
    }

    Py_ssize_t n, sn;
    const char *s = PyUnicode_AsUTF8AndSize(qs, &n);
    if (!s) {
        PyErr_Clear();
        if (!(encoded = PyUnicode_AsEncodedString(qs, "utf-8", "surrogatepass")))
            goto done;
        s = PyBytes_AS_STRING(encoded);
        n = PyBytes_GET_SIZE(encoded);
    }
    const char *ss = PyUnicode_AsUTF8AndSize(sep, &sn);
    if (!ss) {
        PyErr_Clear();
        if (!(encsep = PyUnicode_AsEncodedString(sep, "utf-8", "surrogatepass")))
            goto done;
        ss = PyBytes_AS_STRING(encsep);
        sn = PyBytes_GET_SIZE(encsep);
    }
    cgih_qs_parser p;
    if (cgih_qs_init(&p, &settings, ss, (size_t)sn) < 0) {
        PyErr_Format(PyExc_ValueError, "separator longer than %d bytes", CGIH_QS_SEP_MAX);
        goto done;
    }
    p.data = &c;
    if (cgih_qs_execute(&p, s, (size_t)n) != CGIH_QS_OK || cgih_qs_finish(&p) != CGIH_QS_OK) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "query string: %s at byte %llu", cgih_qs_errmsg(&p),
                         (unsigned long long)cgih_qs_errpos(&p));
        goto done;
    }
    res = c.result;
    c.result = NULL;
done:
    Py_XDECREF(c.result);
    PyMem_Free(c.name.p);
    PyMem_Free(c.value.p);
    Py_XDECREF(encoded);
    Py_XDECREF(encsep);
    Py_XDECREF(sep);
    return res;
}
