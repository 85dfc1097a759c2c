#!/usr/bin/python3
# Canonical dump of what cgi made of a request body on stdin, for the
# multipart differential test (tests/test_multipart_diff.py). Run once under
# /usr/bin/python3 (stdlib cgi.py) and once under cgihost (C cgi) with the
# same environment and stdin; the two outputs must be identical.
#
# T_MODE  fs        cgi.FieldStorage(**T_ARGS)
#         sub       a FieldStorage subclass with FieldStorageClass and a
#                   make_file() override (records every call)
#         pm        cgi.parse_multipart(stdin, T_PDICT, **T_ARGS)
#         parse     cgi.parse(**T_ARGS), then the environ keys it mutates
# T_ARGS  a Python dict literal of keyword arguments (evaluated here, so
#         values like sys.stdin.buffer may be named: see FP below)
# T_FP    stdin (default: let cgi pick sys.stdin.buffer) | buffer | text |
#         bytesio (stdin read whole into a BytesIO first)
import copy
import hashlib
import io
import os
import re
import sys

import cgi

MAKE_FILE_CALLS = []


def short(v):
    """ascii() of a value (its repr with every non-ASCII character escaped,
    the same under any CPython: what repr() leaves unescaped follows the
    interpreter's Unicode database), hashed when it is big (MB-sized
    fields); an object's address (an email.header.Header's repr) does not
    count."""
    r = re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", ascii(v))
    if len(r) > 4096:
        return "%s len=%d sha256=%s" % (type(v).__name__, len(v),
                                        hashlib.sha256(r.encode("utf-8", "surrogatepass")).hexdigest()[:16])
    return r


def exc(e):
    return "EXC %s: %s" % (type(e).__name__, short(str(e)))


def attr(obj, name):
    try:
        return short(getattr(obj, name))
    except Exception as e:  # noqa: BLE001 - an exception is a result here
        return exc(e)


def headers_of(h):
    if h is None:
        return "None"
    out = []
    try:
        out.append("items=" + short(list(h.items())))
    except Exception as e:  # noqa: BLE001
        out.append("items " + exc(e))
    for k in ("content-type", "Content-Disposition", "CONTENT-LENGTH"):
        try:
            out.append("get(%s)=%s" % (k, short(h.get(k))))
        except Exception as e:  # noqa: BLE001
            out.append("get(%s) %s" % (k, exc(e)))
        try:
            out.append("in(%s)=%s" % (k, k in h))
        except Exception as e:  # noqa: BLE001
            out.append("in(%s) %s" % (k, exc(e)))
    return " ".join(out)


def message_of(h):
    """What a part's email.message.Message gives beyond lookups (cgihost
    makes it on demand), after a change made before any of it."""
    out = []
    try:
        h["X-Dump"] = "1"
    except Exception as e:  # noqa: BLE001
        out.append("set " + exc(e))
    for name, call in (("repr", lambda: re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", ascii(h))),
                       ("type", lambda: h.get_content_type()),
                       ("filename", lambda: h.get_filename()),
                       ("charset", lambda: h.get_content_charset()),
                       ("param", lambda: h.get_param("name", header="content-disposition")),
                       ("str", lambda: str(h)),
                       ("items", lambda: list(h.items())),
                       ("len", lambda: len(h)),
                       ("copy", lambda: (type(copy.copy(h)).__name__, list(copy.copy(h).items()))),
                       ("get_kw", lambda: h.get("nope", failobj="F")),
                       ("get_all", lambda: h.get_all("x-dump")),
                       ("defects", lambda: [type(d).__name__ for d in h.defects]),
                       ("setattr", lambda: (setattr(h, "preamble", "p"), h.preamble))):
        try:
            out.append("%s=%s" % (name, short(call())))
        except Exception as e:  # noqa: BLE001
            out.append("%s %s" % (name, exc(e)))
    return " ".join(out)


def messages(fs, lines, ind=""):
    """Second pass, once every part is dumped as read: each part's headers
    as a Message."""
    if isinstance(fs, cgi.MiniFieldStorage):
        return
    h = getattr(fs, "headers", None)
    if h is not None and not isinstance(h, dict):
        lines.append("%smessage %s" % (ind, message_of(h)))
    for item in getattr(fs, "list", None) or ():
        messages(item, lines, ind + "    ")


FIELDS = ("name", "filename", "type", "type_options", "disposition",
          "disposition_options", "done", "bytes_read", "limit", "length",
          "innerboundary", "outerboundary", "qs_on_post", "keep_blank_values",
          "strict_parsing", "max_num_fields", "encoding", "errors", "separator")


def dump(fs, lines, ind=""):
    cls = type(fs).__name__
    if isinstance(fs, cgi.MiniFieldStorage):
        lines.append("%sMini %s name=%s value=%s file=%s repr=%s" % (
            ind, cls, attr(fs, "name"), attr(fs, "value"),
            attr(fs, "file"), short(ascii(fs))))
        return
    lines.append("%s%s" % (ind, cls))
    for f in FIELDS:
        lines.append("%s  %s=%s" % (ind, f, attr(fs, f)))
    lines.append("%s  headers %s" % (ind, headers_of(getattr(fs, "headers", None))))
    f = getattr(fs, "file", None)
    if f is None:
        lines.append("%s  file=None" % ind)
    else:
        try:
            pos = f.tell()
        except Exception as e:  # noqa: BLE001
            pos = exc(e)
        lines.append("%s  file class=%s tell=%s" % (ind, type(f).__name__, pos))
    lst = getattr(fs, "list", None)
    if lst is None:
        lines.append("%s  list=None" % ind)
        for _ in range(2):  # .value reads the file again on every access
            try:
                v = fs.value
                lines.append("%s  value %s %s" % (ind, type(v).__name__, short(v)))
            except Exception as e:  # noqa: BLE001
                lines.append("%s  value %s" % (ind, exc(e)))
        try:
            lines.append("%s  repr=%s" % (ind, short(ascii(fs))))
        except Exception as e:  # noqa: BLE001
            lines.append("%s  repr %s" % (ind, exc(e)))
        return
    lines.append("%s  list len=%d" % (ind, len(lst)))
    for item in lst:
        dump(item, lines, ind + "    ")
    try:
        keys = sorted(fs.keys(), key=ascii)  # a set's order in cgi.py
        lines.append("%s  keys=%s bool=%s len=%s" % (ind, short(keys), bool(fs), len(fs)))
        for k in keys:
            lines.append("%s  key %r getvalue=%s getfirst=%s getlist=%s" % (
                ind, k, short(fs.getvalue(k)), short(fs.getfirst(k)),
                short(fs.getlist(k))))
    except Exception as e:  # noqa: BLE001
        lines.append("%s  keys %s" % (ind, exc(e)))


def get_fp(kind):
    if kind == "buffer":
        return sys.stdin.buffer
    if kind == "text":
        return sys.stdin
    if kind == "bytesio":
        return io.BytesIO(sys.stdin.buffer.read())
    return None


class Part(cgi.FieldStorage):
    pass


class Top(cgi.FieldStorage):
    FieldStorageClass = Part

    def make_file(self):
        MAKE_FILE_CALLS.append((type(self).__name__, self.name, self.filename,
                                self._binary_file))
        return io.BytesIO() if self._binary_file else io.StringIO(newline="\n")


Part.FieldStorageClass = Part
Part.make_file = Top.make_file


def main():
    mode = os.environ.get("T_MODE", "fs")
    kwargs = eval(os.environ.get("T_ARGS", "{}"))  # noqa: S307 - test input
    fp = get_fp(os.environ.get("T_FP", "stdin"))
    lines = []
    try:
        if mode in ("fs", "sub"):
            if fp is not None:
                kwargs["fp"] = fp
            cls = Top if mode == "sub" else cgi.FieldStorage
            form = cls(**kwargs)
            dump(form, lines)
            messages(form, lines)
            if mode == "sub":
                lines.append("make_file calls=%s" % short(MAKE_FILE_CALLS))
        elif mode == "pm":
            pdict = eval(os.environ.get("T_PDICT", "{}"))  # noqa: S307
            res = cgi.parse_multipart(fp if fp is not None else sys.stdin.buffer,
                                      pdict, **kwargs)
            lines.append("result=%s" % short(sorted(res.items())))
        elif mode == "parse":
            env = dict(os.environ)
            if fp is not None:
                kwargs["fp"] = fp
            res = cgi.parse(environ=env, **kwargs)
            lines.append("result=%s" % short(sorted(res.items())))
            lines.append("QUERY_STRING=%s REQUEST_METHOD=%s" % (
                short(env.get("QUERY_STRING")), short(env.get("REQUEST_METHOD"))))
        else:
            lines.append("bad T_MODE")
    except Exception as e:  # noqa: BLE001
        lines.append(exc(e))
    sys.stdout.write("\n".join(lines) + "\n")


main()
