#!/usr/bin/python3
# Differential cases for the cgi module API outside multipart bodies. Run as
#   API_CASE=<name> python3 api_cases.py     (stdlib cgi.py, the oracle)
#   API_CASE=<name> cgihost api_cases.py     (cgihost's C cgi)
# Each case prints a canonical dump (values, types, exception type and
# message) to stdout; tests/test_cgi_api.py compares the two outputs.
import io
import os
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # the stdlib's import warning
import cgi  # noqa: E402

warnings.resetwarnings()

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- canonical dumps -----------------------------------------------------------

def canon(x, depth=0):
    if depth > 6:
        return "..."
    if isinstance(x, cgi.FieldStorage):
        return fsdump(x, depth + 1)
    if isinstance(x, cgi.MiniFieldStorage):
        return ("Mini", type(x).__name__, canon(x.name), canon(x.value))
    if isinstance(x, io.IOBase):
        return ("file", type(x).__name__, getattr(x, "mode", None),
                getattr(x, "encoding", None), x.closed)
    if isinstance(x, list):
        return [canon(i, depth + 1) for i in x]
    if isinstance(x, tuple):
        return tuple(canon(i, depth + 1) for i in x)
    if isinstance(x, dict):  # sorted: parse_multipart's order is a set's
        return {repr(k): canon(v, depth + 1) for k, v in sorted(x.items(), key=repr)}
    return (type(x).__name__, repr(x))


ATTRS = ["name", "filename", "type", "type_options", "disposition",
         "disposition_options", "headers", "list", "file", "length", "limit",
         "done", "bytes_read", "innerboundary", "outerboundary", "qs_on_post",
         "keep_blank_values", "strict_parsing", "max_num_fields", "separator",
         "encoding", "errors", "_binary_file", "FieldStorageClass", "bufsize"]


def fsdump(fs, depth=0):
    d = {}
    for a in ATTRS + ["value"]:
        try:
            d[a] = canon(getattr(fs, a), depth)
        except BaseException as e:  # noqa: BLE001
            d[a] = ("EXC", type(e).__name__, str(e))
    d["vars"] = sorted(vars(fs))
    return ("FS", type(fs).__name__, d)


def out(label, value):
    print(label, "=", canon(value))


def show(label, fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except BaseException as e:  # noqa: BLE001
        print(label, "EXC", type(e).__name__, str(e))
        return None
    out(label, r)
    return r


def post_env(body, ctype="application/x-www-form-urlencoded", **extra):
    e = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": ctype, "CONTENT_LENGTH": str(len(body))}
    e.update(extra)
    return e


class Reads:
    """A file-like object that records the sizes asked of read()/readline()."""

    def __init__(self, data, text=False):
        self.f = io.BytesIO(data)
        self.text = text
        self.calls = []

    def read(self, n=-1):
        self.calls.append(("read", n))
        r = self.f.read(n)
        return r.decode("latin-1") if self.text else r

    def readline(self, n=-1):
        self.calls.append(("readline", n))
        r = self.f.readline(n)
        return r.decode("latin-1") if self.text else r

    def __repr__(self):
        return "<Reads>"


class Returns:
    """A file-like object whose read() and readline() return obj."""

    def __init__(self, obj):
        self.obj = obj

    def read(self, n=-1):
        return self.obj

    def readline(self, n=-1):
        return self.obj

    def __repr__(self):
        return "<Returns>"


CASES = {}


def case(fn):
    CASES[fn.__name__[5:]] = fn
    return fn


# ---- module attributes ------------------------------------------------------------

@case
def case_module_attrs():
    out("__all__", cgi.__all__)
    out("__version__", cgi.__version__)
    out("maxlen", cgi.maxlen)
    out("logfile", cgi.logfile)
    out("logfp", cgi.logfp)
    out("log is initlog", cgi.log is cgi.initlog)
    for n in cgi.__all__ + ["log", "initlog", "dolog", "nolog", "closelog", "valid_boundary"]:
        out(n, (hasattr(cgi, n), callable(getattr(cgi, n, None))))
    out("star", sorted(n for n in cgi.__all__))
    for n in ["parse", "parse_multipart", "initlog", "dolog", "nolog", "closelog", "test",
              "print_exception", "print_environ", "print_form", "print_directory",
              "print_arguments", "print_environ_usage"]:
        f = getattr(cgi, n)
        out(n + " doc", (f.__name__, f.__doc__))


# ---- parse() ----------------------------------------------------------------------

@case
def case_parse_get():
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1&b=2&a=3&c=&d"}
    show("parse", cgi.parse, None, env)
    out("environ", env)


@case
def case_parse_no_method():
    env = {"QUERY_STRING": "x=%41+b"}
    show("parse", cgi.parse, environ=env)
    out("environ", env)


@case
def case_parse_argv():
    sys.argv[1:] = ["q=1&r=2"]
    env = {}
    show("parse", cgi.parse, environ=env)
    out("environ", env)


@case
def case_parse_no_qs_no_argv():
    del sys.argv[1:]
    env = {"REQUEST_METHOD": "HEAD"}
    show("parse", cgi.parse, environ=env)
    out("environ", env)


@case
def case_parse_post():
    body = b"a=1&b=%C3%A9&a=2"
    env = post_env(body)
    show("parse", cgi.parse, io.BytesIO(body), env)
    out("environ", env)


@case
def case_parse_post_qs():
    body = b"a=1"
    env = post_env(body, QUERY_STRING="z=9&a=0")
    show("parse", cgi.parse, io.BytesIO(body), env)
    out("environ", env)


@case
def case_parse_post_empty_body_qs():
    env = post_env(b"", QUERY_STRING="z=9")
    show("parse", cgi.parse, io.BytesIO(b""), env)
    out("environ", env)


@case
def case_parse_post_argv():
    sys.argv[1:] = ["argv=1"]
    body = b"a=1"
    env = post_env(body)
    show("parse", cgi.parse, io.BytesIO(body), env)
    out("environ", env)


@case
def case_parse_post_unknown_ctype():
    env = post_env(b"a=1", ctype="text/plain", QUERY_STRING="q=1")
    show("parse", cgi.parse, io.BytesIO(b"a=1"), env)
    out("environ", env)


@case
def case_parse_post_errors():
    show("no ctype", cgi.parse, io.BytesIO(b""), {"REQUEST_METHOD": "POST"})
    show("no clen", cgi.parse, io.BytesIO(b""),
         {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded"})
    show("bad clen", cgi.parse, io.BytesIO(b""),
         {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
          "CONTENT_LENGTH": "ten"})
    show("str read", cgi.parse, Reads(b"a=1", text=True), post_env(b"a=1"))
    show("lowercase post", cgi.parse, io.BytesIO(b"a=1"),
         {"REQUEST_METHOD": "post", "QUERY_STRING": "g=1", "CONTENT_LENGTH": "3"})


@case
def case_parse_maxlen():
    cgi.maxlen = 5
    body = b"a=1&b=2"
    show("over", cgi.parse, io.BytesIO(body), post_env(body))
    show("under", cgi.parse, io.BytesIO(b"a=1"), post_env(b"a=1"))
    cgi.maxlen = 0
    show("unlimited", cgi.parse, io.BytesIO(body), post_env(body))


@case
def case_parse_flags():
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "a=&b=1&&c"}
    show("blank", cgi.parse, None, dict(env), 1)
    show("blank kw", cgi.parse, environ=dict(env), keep_blank_values=True)
    show("strict", cgi.parse, None, dict(env), 0, 1)
    show("strict ok", cgi.parse, None, {"QUERY_STRING": "a=1&b=2"}, strict_parsing=1)
    show("sep", cgi.parse, None, {"QUERY_STRING": "a=1;b=2&c=3"}, separator=";")
    show("bad sep", cgi.parse, None, {"QUERY_STRING": "a=1"}, separator="")
    show("bytes qs", cgi.parse, None, {"QUERY_STRING": b"a=1&b=%41"})


@case
def case_parse_encodings():
    body = b"a=%E9&b=\xe9"
    tw = io.TextIOWrapper(io.BytesIO(body), encoding="latin-1")
    show("textio latin-1", cgi.parse, tw, post_env(body))
    show("bytesio", cgi.parse, io.BytesIO(body), post_env(body))

    class Enc(Reads):
        encoding = "utf-8"
    show("encoding attr", cgi.parse, Enc(b"a=%C3%A9"), post_env(b"a=%C3%A9"))
    show("bad utf-8", cgi.parse, Enc(b"a=\xff"), post_env(b"a=\xff"))


@case
def case_parse_default_environ():
    # environ defaults to os.environ, which parse() mutates
    os.environ.pop("REQUEST_METHOD", None)
    os.environ["QUERY_STRING"] = "e=1&e=2"
    show("parse", cgi.parse)
    out("REQUEST_METHOD", os.environ.get("REQUEST_METHOD"))
    out("posix env", os.getenv("REQUEST_METHOD"))


@case
def case_parse_default_environ_argv():
    sys.argv[1:] = ["from=argv"]
    show("parse", cgi.parse)
    out("QUERY_STRING", os.environ.get("QUERY_STRING"))
    out("REQUEST_METHOD", os.environ.get("REQUEST_METHOD"))


@case
def case_parse_stdin_post():
    # driven by the test: REQUEST_METHOD=POST, body on stdin
    show("parse", cgi.parse)
    out("QUERY_STRING", os.environ.get("QUERY_STRING"))


@case
def case_parse_multipart_dispatch():
    seen = []

    def fake(fp, pdict, **kw):
        seen.append((type(fp).__name__, pdict, kw))
        return "fake"
    cgi.parse_multipart = fake
    env = post_env(b"", ctype='multipart/form-data; boundary="b1"; charset=x')
    show("parse", cgi.parse, io.BytesIO(b""), env, separator=";")
    out("seen", seen)
    out("environ", env)
    tw = io.TextIOWrapper(io.BytesIO(b""))
    show("parse textio", cgi.parse, tw, post_env(b"", ctype="multipart/form-data; boundary=x"))
    out("seen", seen)


# ---- valid_boundary() --------------------------------------------------------------

@case
def case_valid_boundary():
    """cgi.py returns re.match()'s result: a Match, None, or re's TypeError."""
    for s in ["abc", b"abc", "a b", "ab ", " ", "", "x" * 201, "x" * 202, b"x" * 201 + b"\n",
              "ab\n", "ab\n\n", "\u00e9", b"\xff", bytearray(b"ab"), memoryview(b"ab"), 7, None]:
        show(repr(s)[:40], cgi.valid_boundary, s)


# ---- parse_multipart() -------------------------------------------------------------

class Spy:
    """Stands in for cgi.FieldStorage to see what parse_multipart passes."""
    calls = []

    def __init__(self, fp, headers=None, **kw):
        Spy.calls.append((fp, headers["content-type"], "content-length" in headers,
                          headers.get("content-length"), sorted(kw.items())))

    def __iter__(self):
        return iter(["b", "a"])

    def getlist(self, k):
        return [k * 2]


@case
def case_parse_multipart_spy():
    cgi.FieldStorage = Spy
    fp = io.BytesIO(b"")
    show("plain", cgi.parse_multipart, fp, {"boundary": b"AaB03x"})
    show("clen", cgi.parse_multipart, fp, {"boundary": b"x", "CONTENT-LENGTH": "123"})
    show("clen int", cgi.parse_multipart, fp, {"boundary": b"x", "CONTENT-LENGTH": 7},
         encoding="latin-1", errors="strict", separator=";")
    show("crlf", cgi.parse_multipart, fp, {"boundary": b"a\r\nb"})
    show("params", cgi.parse_multipart, fp, {"boundary": b'a"; x="y', "CONTENT-LENGTH": None})
    show("empty", cgi.parse_multipart, fp, {"boundary": b""})
    show("bytearray", cgi.parse_multipart, fp, {"boundary": bytearray(b"ba")})
    out("calls", [(c[0] is fp,) + c[1:] for c in Spy.calls])


@case
def case_parse_multipart_errors():
    fp = io.BytesIO(b"")
    show("no boundary", cgi.parse_multipart, fp, {})
    show("str boundary", cgi.parse_multipart, fp, {"boundary": "x"})
    show("slash", cgi.parse_multipart, fp, {"boundary": b"a/b"})
    show("non-ascii", cgi.parse_multipart, fp, {"boundary": b"\xe9"})
    show("no args", cgi.parse_multipart)
    show("one arg", cgi.parse_multipart, fp)
    show("bad kw", cgi.parse_multipart, fp, {}, bogus=1)


@case
def case_parse_multipart_body():
    body = (b"--AaB03x\r\n"
            b'Content-Disposition: form-data; name="field1"\r\n\r\n'
            b"Joe Blow\r\n"
            b"--AaB03x\r\n"
            b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n"
            b"file\r\ndata\r\n"
            b"--AaB03x--\r\n")
    show("pm", cgi.parse_multipart, io.BytesIO(body), {"boundary": b"AaB03x"})
    show("pm clen", cgi.parse_multipart, io.BytesIO(body),
         {"boundary": b"AaB03x", "CONTENT-LENGTH": str(len(body))})


def py_read_multi(self, environ, keep_blank_values, strict_parsing):
    """cgi.py 3.11's FieldStorage.read_multi, verbatim but for the imports."""
    import urllib.parse
    from email.parser import FeedParser
    ib = self.innerboundary
    if not cgi.valid_boundary(ib):
        raise ValueError('Invalid boundary in multipart form: %r' % (ib,))
    self.list = []
    if self.qs_on_post:
        query = urllib.parse.parse_qsl(
            self.qs_on_post, self.keep_blank_values, self.strict_parsing,
            encoding=self.encoding, errors=self.errors,
            max_num_fields=self.max_num_fields, separator=self.separator)
        self.list.extend(cgi.MiniFieldStorage(key, value) for key, value in query)

    klass = self.FieldStorageClass or self.__class__
    first_line = self.fp.readline()  # bytes
    if not isinstance(first_line, bytes):
        raise ValueError("%s should return bytes, got %s"
                         % (self.fp, type(first_line).__name__))
    self.bytes_read += len(first_line)
    while (first_line.strip() != (b"--" + self.innerboundary) and first_line):
        first_line = self.fp.readline()
        self.bytes_read += len(first_line)
    max_num_fields = self.max_num_fields
    if max_num_fields is not None:
        max_num_fields -= len(self.list)
    while True:
        parser = FeedParser()
        hdr_text = b""
        while True:
            data = self.fp.readline()
            hdr_text += data
            if not data.strip():
                break
        if not hdr_text:
            break
        self.bytes_read += len(hdr_text)
        parser.feed(hdr_text.decode(self.encoding, self.errors))
        headers = parser.close()
        if 'content-length' in headers:
            del headers['content-length']
        limit = None if self.limit is None else self.limit - self.bytes_read
        part = klass(self.fp, headers, ib, environ, keep_blank_values,
                     strict_parsing, limit,
                     self.encoding, self.errors, max_num_fields, self.separator)
        if max_num_fields is not None:
            max_num_fields -= 1
            if part.list:
                max_num_fields -= len(part.list)
            if max_num_fields < 0:
                raise ValueError('Max number of fields exceeded')
        self.bytes_read += part.bytes_read
        self.list.append(part)
        if part.done or self.bytes_read >= self.length > 0:
            break
    self.skip_lines()


MULTIPART_BODY = (
    b"--AaB03x\r\n"
    b'Content-Disposition: form-data; name="field1"\r\n\r\n'
    b"Joe Blow\r\nsecond line\r\n"
    b"--AaB03x\r\n"
    b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"file\r\ndata\rCR\nLF" + b"z" * 2000 + b"\r\n"
    b"--AaB03x\r\n"
    b'Content-Disposition: form-data; name="field1"\r\n\r\n'
    b"again\r\n"
    b"--AaB03x--\r\n")


@case
def case_parse_multipart_py_read_multi():
    # parse_multipart and parse end to end, with cgi.py's read_multi in a
    # Python subclass: the parts are read by the C FieldStorage (read_lines_to_
    # outerboundary, the spill to make_file) in cgihost.
    class PyFS(cgi.FieldStorage):
        read_multi = py_read_multi
    cgi.FieldStorage = PyFS
    body = MULTIPART_BODY
    show("pm", cgi.parse_multipart, io.BytesIO(body), {"boundary": b"AaB03x"})
    show("pm clen", cgi.parse_multipart, io.BytesIO(body),
         {"boundary": b"AaB03x", "CONTENT-LENGTH": str(len(body))})
    show("pm latin-1", cgi.parse_multipart, io.BytesIO(body.replace(b"Joe", b"J\xf6e")),
         {"boundary": b"AaB03x"}, encoding="latin-1")
    env = post_env(body, ctype="multipart/form-data; boundary=AaB03x", QUERY_STRING="q=1")
    show("parse", cgi.parse, io.BytesIO(body), env)
    out("environ", env)
    fs = PyFS(fp=io.BytesIO(body), environ=post_env(body, ctype="multipart/form-data; boundary=AaB03x"))
    out("fs", fs)
    out("parts", [fsdump(p) for p in fs.list])
    show("print_form", cgi.print_form, fs)


# ---- the logging family -------------------------------------------------------------

def record(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = show("call", fn, *args, **kw)
    out("warnings", [(x.category.__name__, str(x.message), os.path.basename(x.filename),
                      x.lineno) for x in w])
    return r


@case
def case_log_nolog():
    record(cgi.log, "hello %s", "x")
    out("log is nolog", cgi.log is cgi.nolog)
    record(cgi.log, "again")
    out("logfp", cgi.logfp)


@case
def case_log_stringio():
    cgi.logfp = io.StringIO()
    record(cgi.log, "%s: %s", "a", "b")
    out("log is dolog", cgi.log is cgi.dolog)
    record(cgi.log, "n=%d", 5)
    record(cgi.log, "no args")
    out("logged", cgi.logfp.getvalue())


@case
def case_log_logfile(tmp=None):
    import tempfile
    d = tempfile.mkdtemp()
    path = os.path.join(d, "cgi.log")
    cgi.logfile = path
    record(cgi.log, "first %r", [1])
    out("log is dolog", cgi.log is cgi.dolog)
    out("logfp", cgi.logfp)
    cgi.log("second")
    cgi.closelog()
    with open(path) as f:
        out("file", f.read())
    out("after close", (cgi.logfile, cgi.logfp, cgi.log is cgi.initlog))
    os.unlink(path)
    os.rmdir(d)


@case
def case_log_logfile_unopenable():
    cgi.logfile = "/nonexistent-dir-cgihost/x.log"
    record(cgi.log, "lost")
    out("state", (cgi.logfile, cgi.logfp, cgi.log is cgi.nolog))


@case
def case_log_logfile_with_logfp():
    cgi.logfile = "/nonexistent-dir-cgihost/x.log"
    cgi.logfp = io.StringIO()
    record(cgi.initlog, "to fp %d", 1)
    out("logged", cgi.logfp.getvalue())


@case
def case_closelog():
    fp = io.StringIO()
    cgi.logfp = fp
    cgi.logfile = "something"
    cgi.log = cgi.dolog
    show("closelog", cgi.closelog)
    out("state", (cgi.logfile, cgi.logfp, fp.closed, cgi.log is cgi.initlog))
    show("closelog again", cgi.closelog)
    show("closelog arg", cgi.closelog, 1)


@case
def case_dolog_direct():
    cgi.logfp = io.StringIO()
    show("fmt args", cgi.dolog, "%d-%s", 1, "a")
    show("fmt kw", cgi.dolog, fmt="kw %%")
    show("no fmt", cgi.dolog)
    show("too few", cgi.dolog, "%s %s", 1)
    show("bytes fmt", cgi.dolog, b"x")
    show("dict fmt", cgi.dolog, "%(a)s", {"a": 1})
    show("double fmt", cgi.dolog, "x", fmt="y")
    show("bad kw", cgi.dolog, "x", other=1)
    out("logged", cgi.logfp.getvalue())
    cgi.logfp = None
    show("no logfp", cgi.dolog, "x")
    show("no logfp bad fmt", cgi.dolog, "%s %s", 1)
    del cgi.logfp
    show("deleted logfp", cgi.dolog, "x")


@case
def case_nolog_initlog_args():
    show("nolog", cgi.nolog, 1, 2, 3)
    show("nolog kw", cgi.nolog, x=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        show("initlog kw", cgi.initlog, x=1)
        cgi.logfp = io.StringIO()
        show("initlog none", cgi.initlog)


@case
def case_log_reassigned():
    cgi.logfp = io.StringIO()
    cgi.log = cgi.dolog
    record(cgi.log, "direct %s", "dolog")
    seen = []
    cgi.dolog = lambda *a: seen.append(a)
    cgi.log = cgi.initlog
    record(cgi.log, "patched", 1)
    out("seen", seen)
    out("logged", cgi.logfp.getvalue())


@case
def case_log_deleted_globals():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        del cgi.logfile
        show("no logfile", cgi.initlog, "x")
        cgi.logfile = ""
        del cgi.nolog
        show("no nolog", cgi.initlog, "x")


@case
def case_log_warning_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        show("as error", cgi.log, "x")
    out("log is initlog", cgi.log is cgi.initlog)


@case
def case_log_replaced_warn():
    # initlog() warns through warnings.warn, which a script may replace
    calls = []
    orig = warnings.warn
    saved = cgi.logfp, cgi.log
    try:
        cgi.logfp = io.StringIO()
        warnings.warn = lambda *a, **k: calls.append((a, k))
        show("recorded", cgi.log, "a %s", 1)
        out("calls", calls)
        cgi.log = cgi.initlog
        warnings.warn = lambda *a, **k: 1 / 0
        show("raises", cgi.log, "b")
        del warnings.warn
        show("deleted", cgi.initlog, "c")
        out("logged", cgi.logfp.getvalue())
    finally:
        warnings.warn = orig
        cgi.logfp, cgi.log = saved


@case
def case_log_warnings_own_warn():
    # warnings.warn unreplaced while _warnings has lost its name, or is no
    # longer in sys.modules: the warning as cgi.py gives it, on the caller's
    # line (review Z18)
    import _warnings
    saved = cgi.logfp, cgi.log, _warnings.warn, sys.modules["_warnings"]

    def logged(label):
        cgi.log = cgi.initlog
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            show(label, cgi.log, "x")
        out(label + " warned", [(x.category.__name__, str(x.message), os.path.basename(x.filename),
                                 x.lineno - case_log_warnings_own_warn.__code__.co_firstlineno)
                                for x in w])
    try:
        cgi.logfp = io.StringIO()
        del _warnings.warn
        logged("name deleted")
        _warnings.warn = saved[2]
        sys.modules["_warnings"] = None
        logged("module None")
        out("logged", cgi.logfp.getvalue())
    finally:
        cgi.logfp, cgi.log, _warnings.warn, sys.modules["_warnings"] = saved


# ---- print_* and test() --------------------------------------------------------------

@case
def case_print_environ_usage():
    show("ret", cgi.print_environ_usage)


@case
def case_print_environ():
    show("ret", cgi.print_environ, {"B": "<b>&\"'", "A": "x y", "Z": ""})
    show("empty", cgi.print_environ, {})
    show("non-str", cgi.print_environ, {"A": 1})
    show("kw", cgi.print_environ, environ={"K": "v"})
    show("not mapping", cgi.print_environ, [1])


@case
def case_print_environ_default():
    show("default", cgi.print_environ)


@case
def case_print_form():
    form = cgi.FieldStorage(environ={"QUERY_STRING": "b=<x>&a=1&a=2&c='\"&"})
    show("ret", cgi.print_form, form)
    empty = cgi.FieldStorage(environ={"QUERY_STRING": ""})
    show("empty", cgi.print_form, empty)
    show("dict", cgi.print_form, {"k&": [1], "j": "<v>"})
    show("non-str key", cgi.print_form, {1: 2})
    show("list", cgi.print_form, [])


@case
def case_print_directory():
    show("ret", cgi.print_directory)


@case
def case_print_directory_gone():
    import tempfile
    old = os.getcwd()
    d = tempfile.mkdtemp()
    os.chdir(d)
    os.rmdir(d)
    show("ret", cgi.print_directory)
    os.chdir(old)


@case
def case_print_arguments():
    sys.argv[1:] = ["a<b", "c&d"]
    show("ret", cgi.print_arguments)


def raiser(msg):
    raise ValueError(msg)


@case
def case_print_exception_handled():
    try:
        raiser("<bad> & \"worse\"")
    except ValueError:
        show("ret", cgi.print_exception)


@case
def case_print_exception_args():
    try:
        raiser("x")
    except ValueError as e:
        exc = e
    show("explicit", cgi.print_exception, type(exc), exc, exc.__traceback__)
    show("limit", cgi.print_exception, type(exc), exc, exc.__traceback__, 1)
    show("kw", cgi.print_exception, value=exc, type=ValueError, tb=None)
    show("no exc", cgi.print_exception)
    show("bad tb", cgi.print_exception, ValueError, exc, "not a traceback")
    show("syntax", cgi.print_exception, SyntaxError,
         SyntaxError("bad <tag>", ("f.py", 1, 5, "x = <y>\n")), None)


@case
def case_print_exception_nested():
    try:
        try:
            raiser("inner")
        except ValueError:
            raise KeyError("outer")
    except KeyError:
        show("ret", cgi.print_exception)


@case
def case_print_replaced_functions():
    # The print_* helpers call html.escape, os.getcwd and sys.exc_info as
    # cgi.py does, at each call: a script's replacements are called
    import html
    calls = []
    saved = html.escape, os.getcwd, sys.exc_info

    def recorder(label, f):
        def r(*a, **k):
            calls.append((label, a, k))
            return f(*a, **k)
        return r
    try:
        html.escape = recorder("escape", html.escape)
        os.getcwd = recorder("getcwd", lambda: "/a<b>")
        sys.exc_info = recorder("exc_info", sys.exc_info)
        show("environ", cgi.print_environ, {"K": "<v>"})
        show("form", cgi.print_form, {"k": "<v>"})
        show("directory", cgi.print_directory)
        try:
            raiser("<x>")
        except ValueError:
            show("exception", cgi.print_exception)
        # a traceback's caret lines are the interpreter's (3.13 marks a call
        # 3.11 does not): left out of the recorded text, as normalize() does
        import re
        out("calls", [(c[0], tuple(re.sub(r"(?m)^[ \t]*[~^][~^ \t]*\n", "", x)
                                   if isinstance(x, str) else x for x in c[1]), c[2])
                      for c in calls])
        html.escape = lambda s, quote=True: s.upper()
        os.getcwd = lambda: 1 / 0
        show("upper", cgi.print_environ, {"k": "<v>"})
        show("getcwd raises", cgi.print_directory)
        os.getcwd = lambda: (_ for _ in ()).throw(OSError(5, "gone <x>"))
        show("getcwd OSError", cgi.print_directory)
        sys.exc_info = lambda: (ValueError, ValueError("made <up>"), None)
        show("exc_info replaced", cgi.print_exception)
        sys.exc_info = lambda: (1, 2)
        show("exc_info two", cgi.print_exception)
        del html.escape
        show("escape deleted", cgi.print_environ, {"k": "v"})
    finally:
        html.escape, os.getcwd, sys.exc_info = saved
    show("restored", cgi.print_environ, {"k": "<v>"})
    # stand-ins put in sys.modules after import cgi: cgi.py's code still
    # reaches the modules of its import (review Z18)
    import types
    saved = sys.modules["html"], sys.modules["os"], sys.modules["warnings"]
    try:
        sys.modules["html"] = types.SimpleNamespace()
        sys.modules["os"] = types.SimpleNamespace()
        sys.modules["warnings"] = types.SimpleNamespace(warn=lambda *a, **k: 1 / 0)
        show("stand-in html", cgi.print_environ, {"k": "<v>"})
        show("stand-in os", cgi.print_directory)
        logfp, cgi.logfp, cgi.log = cgi.logfp, io.StringIO(), cgi.initlog
        with saved[2].catch_warnings(module=saved[2]):
            saved[2].simplefilter("ignore")
            show("stand-in warnings", cgi.log, "x")
        cgi.logfp = logfp
    finally:
        sys.modules["html"], sys.modules["os"], sys.modules["warnings"] = saved


def normalize_test_output(s):
    # The stdlib's frames inside cgi.py (test, g, f, __init__) cannot exist in
    # C: drop them, with their source line and carets; keep everything else.
    import re
    return re.sub(r"  File &quot;[^\n]*/cgi\.py&quot;, line \d+, in \w+\n"
                  r"(?:    [^\n]*\n)?(?: *\^+\n)?", "", s)


def run_test(environ=None):
    import contextlib
    buf = io.StringIO()
    old_err = sys.stderr
    with contextlib.redirect_stdout(buf):
        try:
            r = cgi.test() if environ is None else cgi.test(environ)
        except BaseException as e:  # noqa: BLE001
            r = ("EXC", type(e).__name__, str(e))
    stderr_is_stdout = sys.stderr is buf
    sys.stderr = old_err
    print(normalize_test_output(buf.getvalue()))
    out("ret", r)
    out("stderr was redirected", stderr_is_stdout)
    out("maxlen", cgi.maxlen)


@case
def case_test_get():
    run_test({"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1&b=<2>", "X": "&"})


@case
def case_test_default_environ():
    run_test()


@case
def case_test_post_maxlen():
    # test() reads FieldStorage() from os.environ and stdin (set by the test)
    run_test({"K": "V"})


# ---- FieldStorage -------------------------------------------------------------------

@case
def case_fs_get():
    fs = show("fs", cgi.FieldStorage, environ={"REQUEST_METHOD": "GET",
                                               "QUERY_STRING": "a=1&b=2&a=3"})
    out("repr", repr(fs))
    out("keys", sorted(fs.keys()))
    out("len", len(fs))
    out("bool", bool(fs))
    out("in", ("a" in fs, "zz" in fs))
    out("iter", sorted(fs))
    out("getvalue", (fs.getvalue("a"), fs.getvalue("b"), fs.getvalue("z"), fs.getvalue("z", 7)))
    out("getfirst", (fs.getfirst("a"), fs.getfirst("b"), fs.getfirst("z", "d")))
    out("getlist", (fs.getlist("a"), fs.getlist("b"), fs.getlist("z")))
    out("item a", fs["a"])
    show("missing", lambda: fs["zz"])


@case
def case_fs_head_and_methods():
    for m in ["HEAD", "head", "get", "PUT", "DELETE", ""]:
        show(m, cgi.FieldStorage, fp=io.BytesIO(b"x=1"),
             environ={"REQUEST_METHOD": m, "QUERY_STRING": "q=1"})


@case
def case_fs_get_argv():
    sys.argv[1:] = ["from=argv&x"]
    show("argv", cgi.FieldStorage, environ={"REQUEST_METHOD": "GET"}, keep_blank_values=1)
    del sys.argv[1:]
    show("none", cgi.FieldStorage, environ={})
    # cgi.py's `elif sys.argv[1:]` on whatever sys.argv is, or is not
    saved = sys.argv
    for argv in ["abc", ("t", "tuple=1"), [], 5, None]:
        sys.argv = argv
        show("argv %r" % (argv,), cgi.FieldStorage, environ={"REQUEST_METHOD": "GET"})
    del sys.argv
    show("no argv", cgi.FieldStorage, environ={"REQUEST_METHOD": "GET"})
    sys.argv = saved


@case
def case_default_environ_bound_at_import():
    """cgi.py binds os.environ as the default environ when it is imported:
    a change made in it shows, rebinding os.environ afterwards does not."""
    saved = os.environ
    os.environ["QUERY_STRING"] = "inplace=1"
    show("fs", cgi.FieldStorage)
    os.environ = {"REQUEST_METHOD": "GET", "QUERY_STRING": "rebound=1"}
    show("fs rebound", cgi.FieldStorage)
    show("parse rebound", cgi.parse)
    os.environ = saved
    print("QUERY_STRING", os.environ.get("QUERY_STRING"))


@case
def case_fs_get_nonascii():
    show("fs", cgi.FieldStorage, environ={"QUERY_STRING": "n=Jos\u00e9&e=%E2%82%AC&s=\udcff"})


@case
def case_fs_get_nul():
    """A NUL in a query string from an environ dict (no real environment has
    one): cgi.py encodes it like any character."""
    show("qs", cgi.FieldStorage, environ={"REQUEST_METHOD": "GET",
                                          "QUERY_STRING": "\x00a=\x00\udcff\x00&b=\x00\x00"},
         keep_blank_values=1)
    show("bad errors", cgi.FieldStorage, environ={"QUERY_STRING": "a=\x00%ff"}, errors="nope")
    sys.argv[1:] = ["n=\x00"]
    show("argv", cgi.FieldStorage, environ={"REQUEST_METHOD": "GET"})
    del sys.argv[1:]


@case
def case_fs_missing_keys_and_sequence():
    """KeyError(key) with the key as its one argument; __getitem__ and
    __len__ make FieldStorage a sequence to reversed()."""
    fs = cgi.FieldStorage(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"})
    for key in [None, (1, 2), (), 0, "zz", b"a"]:
        try:
            fs[key]
        except KeyError as e:
            out("KeyError %r" % (key,), e.args)
    show("reversed", lambda: list(reversed(fs)))
    show("reversed empty", lambda: list(reversed(cgi.FieldStorage(environ={"QUERY_STRING": ""}))))


@case
def case_fs_subclass_getattr():
    """A subclass's own __getattr__ is asked for value, as cgi.py's is."""
    class S(cgi.FieldStorage):
        def __getattr__(self, name):
            if name == "value":
                return "from subclass"
            raise AttributeError("S has no " + name)
    fs = S(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"})
    out("value", fs.value)
    out("repr", repr(fs))
    show("missing", lambda: fs.nope)

    class T(cgi.FieldStorage):
        calls = []

        def __getattr__(self, name):
            self.calls.append(name)
            return cgi.FieldStorage.__getattr__(self, name)
    t = T(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": "b=2"})
    out("T value", t.value)
    show("T missing", lambda: t.nope)
    out("T calls", T.calls)


@case
def case_fs_readline_bytearray():
    """A readline() that returns a bytearray works as in cgi.py."""
    class FP:
        def __init__(self, data):
            self.b = io.BytesIO(data)

        def read(self, n=-1):
            return bytearray(self.b.read(n))

        def readline(self, n=-1):
            return bytearray(self.b.readline(n))

        def __repr__(self):
            return "<FP>"
    text = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"}
    show("to eof", lambda: cgi.FieldStorage(fp=FP(b"hello\nworld\n"), environ=text).value)
    show("outer", lambda: cgi.FieldStorage(fp=FP(b"x\r\n--zz\r\ny"), environ=text, headers={},
                                           outerboundary=b"zz").value)
    show("binary", lambda: cgi.FieldStorage(
        fp=FP(b"a\r\nb\r\n--zz--\r\n"), environ=text, outerboundary=b"zz",
        headers={"content-disposition": 'form-data; name="f"; filename="f"'}).value)


@case
def case_functions_by_keyword():
    show("parse_header", cgi.parse_header, line="text/plain; a=1")
    show("valid_boundary", cgi.valid_boundary, s="abc")
    show("parse_header bad kw", cgi.parse_header, lin="x")
    show("valid_boundary two", cgi.valid_boundary, "a", s="b")


@case
def case_fs_post_urlencoded():
    body = b"a=1&b=%41&c="
    show("fs", cgi.FieldStorage, fp=io.BytesIO(body),
         environ=post_env(body, QUERY_STRING="q=z&a=0"))
    show("blank", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body),
         keep_blank_values=True)
    show("no clen", cgi.FieldStorage, fp=io.BytesIO(body),
         environ={"REQUEST_METHOD": "POST"})
    show("bad clen", cgi.FieldStorage, fp=io.BytesIO(body),
         environ={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "x"})
    show("short clen", cgi.FieldStorage, fp=io.BytesIO(body),
         environ={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3"})


@case
def case_fs_params_stored():
    fs = show("fs", cgi.FieldStorage, environ={"QUERY_STRING": "a=1;b=2"},
              keep_blank_values=True, strict_parsing=False, max_num_fields=5,
              separator=";", encoding="latin-1", errors="strict", limit=99)
    show("max fields", cgi.FieldStorage, environ={"QUERY_STRING": "a=1&b=2&c=3"},
         max_num_fields=2)
    show("strict", cgi.FieldStorage, environ={"QUERY_STRING": "a=1&&b"}, strict_parsing=1)
    show("bad sep", cgi.FieldStorage, environ={"QUERY_STRING": "a"}, separator=None)
    show("bad arg", cgi.FieldStorage, bogus=1)
    show("too many", cgi.FieldStorage, *range(12))


@case
def case_fs_post_text_plain_clen():
    # read_binary() writes bytes to make_file()'s text file: a TypeError in cgi.py
    body = b"hello\nworld\n"
    show("fs", cgi.FieldStorage, fp=io.BytesIO(body),
         environ=post_env(body, ctype="text/plain"))


@case
def case_fs_post_text_plain_noclen():
    body = b"line one\r\nline two\nthree"
    fs = show("fs", cgi.FieldStorage, fp=io.BytesIO(body),
              environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})
    out("repr", repr(fs))
    out("value", fs.value)


@case
def case_fs_put_unknown():
    body = b"abc"
    show("put clen", cgi.FieldStorage, fp=io.BytesIO(body),
         environ={"REQUEST_METHOD": "PUT", "CONTENT_LENGTH": "3"})
    show("put", cgi.FieldStorage, fp=io.BytesIO(body), environ={"REQUEST_METHOD": "PUT"})


@case
def case_fs_spill():
    # Without a Content-Length, lines go to memory and then past 1000 bytes to
    # make_file().
    class Sub(cgi.FieldStorage):
        made = []

        def make_file(self):
            f = super().make_file()
            Sub.made.append(("made", self._binary_file, type(f).__name__))
            return f
    for n in [999, 1000, 1001, 5000]:
        body = b"x" * (n - 1) + b"\n"
        fs = show("n%d" % n, Sub, fp=io.BytesIO(body),
                  environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})
        out("len", len(fs.value))
    lines = b"".join(b"line %d\n" % i for i in range(200))
    fs = show("lines", Sub, fp=io.BytesIO(lines),
              environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})
    out("same", fs.value == lines.decode())
    out("made", Sub.made)

    class Peek(cgi.FieldStorage):
        def make_file(self):
            f = super().make_file()
            Peek.seen = type(self.file).__name__  # the in-memory file, still
            return f
    show("peek", Peek, fp=io.BytesIO(b"y" * 1500 + b"\n"),
         environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})
    out("seen", Peek.seen)

    class Failing(cgi.FieldStorage):
        def make_file(self):
            return io.BytesIO()  # a text part written as str: TypeError
    fs = Failing.__new__(Failing)
    try:
        fs.__init__(fp=io.BytesIO(b"z" * 1500 + b"\n"),
                    environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})
    except TypeError as e:
        out("failing", (str(e), type(fs.file).__name__, type(fs._FieldStorage__file).__name__))


@case
def case_fs_binary_part():
    # A part with a filename, as read_multi makes it: bytes, BytesIO, then a file.
    hdr = {"content-disposition": 'form-data; name="up"; filename="a.bin"',
           "content-type": "application/octet-stream"}
    body = b"\x00\x01\r\n\xff" * 3 + b"\r\n--BND--\r\n"
    fs = show("fs", cgi.FieldStorage, fp=io.BytesIO(body), headers=hdr,
              outerboundary=b"BND", environ={"REQUEST_METHOD": "POST"})
    out("repr", repr(fs))
    big = b"\x00" * 3000 + b"\r\n--BND\r\nrest"
    fp = io.BytesIO(big)
    fs = show("big", cgi.FieldStorage, fp=fp, headers=hdr, outerboundary=b"BND",
              environ={"REQUEST_METHOD": "POST"})
    out("rest", fp.read())


@case
def case_fs_binary_clen():
    hdr = {"content-disposition": 'form-data; name="up"; filename="a.bin"',
           "content-length": "5", "content-type": "text/plain"}
    fp = io.BytesIO(b"12345\r\n--B\r\nnext")
    fs = show("fs", cgi.FieldStorage, fp=fp, headers=hdr, outerboundary=b"B",
              environ={"REQUEST_METHOD": "POST"})
    out("rest", fp.read())
    out("value", fs.value)
    fp = io.BytesIO(b"123")
    show("short", cgi.FieldStorage, fp=fp, headers=hdr, environ={"REQUEST_METHOD": "POST"})


@case
def case_fs_value_rereads():
    hdr = {"content-disposition": 'form-data; name="f"; filename="x"', "content-length": "3",
           "content-type": "application/octet-stream"}
    fs = cgi.FieldStorage(fp=io.BytesIO(b"abc"), headers=hdr, environ={"REQUEST_METHOD": "POST"})
    out("v1", fs.value)
    fs.file.seek(0, 2)
    fs.file.write(b"def")
    out("v2", fs.value)
    fs.file.seek(1)
    out("v3", fs.value)
    out("pos", fs.file.tell())
    fs.file = None
    out("v4", fs.value)
    fs.list = [1]
    out("v5", fs.value)


@case
def case_fs_text_part_outerboundary():
    hdr = {"content-disposition": 'form-data; name="t"'}
    for body in [b"hello\r\n--XYZ\r\nrest", b"hello\r\n--XYZ--\r\n", b"a\nb\n--XYZ\nc",
                 b"no end", b"x\r", b"--XYZ\r\n", b"a\r\n--XYZ-- \r\n", b"a\r\r\n--XYZ\r\n",
                 b"  --XYZ\r\n--XYZ\r\n", b"a\r\n--XYZZ\r\n--XYZ\r\n"]:
        fp = io.BytesIO(body)
        show(repr(body), cgi.FieldStorage, fp=fp, headers=hdr, outerboundary=b"XYZ",
             environ={"REQUEST_METHOD": "POST"})
        out("rest", fp.read())


@case
def case_fs_limit():
    hdr = {"content-disposition": 'form-data; name="t"'}
    body = b"aaaa\nbbbb\ncccc\n--B--\n"
    for limit in [None, 0, 3, 5, 10, 100, -1, 4.5, True, "x"]:
        fp = io.BytesIO(body)
        show("limit %r" % limit, cgi.FieldStorage, fp=fp, headers=hdr, outerboundary=b"B",
             environ={"REQUEST_METHOD": "POST"}, limit=limit)
        out("rest", fp.read())


@case
def case_fs_skip_lines():
    # read_binary() then skip_lines() up to the outer boundary
    hdr = {"content-disposition": 'form-data; name="t"', "content-length": "2",
           "content-type": "application/x-www-form-urlencoded"}
    fp = io.BytesIO(b"a=1\r\njunk\r\n--B\r\nafter")
    show("urlencoded part", cgi.FieldStorage, fp=fp, headers=hdr, outerboundary=b"B",
         environ={"REQUEST_METHOD": "POST"})
    out("rest", fp.read())
    hdr = {"content-disposition": 'form-data; name="t"; filename="f"', "content-length": "2"}
    for body in [b"xyjunk\r\n--B--\r\nafter", b"xy\r\n--B-- \r\n", b"xy", b"xy\rno --B\r\n--B\r\n"]:
        fp = io.BytesIO(body)
        show(repr(body), cgi.FieldStorage, fp=fp, headers=hdr, outerboundary=b"B",
             environ={"REQUEST_METHOD": "POST"})
        out("rest", fp.read())


@case
def case_fs_bufsize():
    class Small(cgi.FieldStorage):
        bufsize = 4
    r = Reads(b"0123456789")
    hdr = {"content-disposition": 'form-data; name="f"; filename="x"', "content-length": "10",
           "content-type": "text/plain"}
    fs = show("fs", Small, fp=r, headers=hdr, environ={"REQUEST_METHOD": "POST"})
    out("calls", r.calls)
    out("class attrs", (cgi.FieldStorage.bufsize, cgi.FieldStorage.FieldStorageClass,
                        Small.bufsize, fs.bufsize))


@case
def case_fs_readline_sizes():
    r = Reads(b"a" * 70000 + b"\nend")
    fs = show("fs", cgi.FieldStorage, fp=r,
              environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})
    out("calls", r.calls)
    out("len", len(fs.value))


@case
def case_fs_headers_types():
    import collections.abc

    class M(collections.abc.Mapping):
        def __init__(self, d):
            self.d = d

        def __getitem__(self, k):
            return self.d[k]

        def __iter__(self):
            return iter(self.d)

        def __len__(self):
            return len(self.d)

        def __repr__(self):
            return "M(%r)" % self.d
    env = {"REQUEST_METHOD": "POST"}
    m = M({"content-type": "application/x-www-form-urlencoded", "content-length": "3"})
    fs = show("mapping", cgi.FieldStorage, fp=io.BytesIO(b"a=1"), headers=m, environ=env)
    out("same headers", fs.headers is m)
    show("list", cgi.FieldStorage, fp=io.BytesIO(b""), headers=[("a", "b")], environ=env)
    show("str", cgi.FieldStorage, fp=io.BytesIO(b""), headers="x", environ=env)
    show("empty dict", cgi.FieldStorage, fp=io.BytesIO(b"z"), headers={}, environ=env)
    show("get+headers", cgi.FieldStorage, headers={"content-type": "text/plain"},
         environ={"QUERY_STRING": "a=1"})


@case
def case_fs_headers_message():
    from email.message import Message
    h = Message()
    h["Content-Type"] = "application/x-www-form-urlencoded"
    h["Content-Length"] = "7"
    h["Content-Disposition"] = 'form-data; name="m"'
    fs = cgi.FieldStorage(fp=io.BytesIO(b"a=1&b=2"), headers=h, environ={"REQUEST_METHOD": "POST"})
    out("fs", {a: canon(getattr(fs, a)) for a in ATTRS if a != "headers"})
    out("headers", fs.headers is h)
    out("list", fs.list)


@case
def case_fs_fp_types():
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"}
    tw = io.TextIOWrapper(io.BytesIO(b"text body"), encoding="utf-8")
    fs = show("textio", cgi.FieldStorage, fp=tw, environ=env)
    out("fp is buffer", fs.fp is tw.buffer)

    class OnlyRead:
        def read(self, n=-1):
            return b""
    show("no readline", cgi.FieldStorage, fp=OnlyRead(), environ=env)
    show("int fp", cgi.FieldStorage, fp=3, environ=env)

    class Raises:
        @property
        def read(self):
            raise ValueError("no read for you")

        def readline(self):
            return b""
    show("read raises", cgi.FieldStorage, fp=Raises(), environ=env)
    show("str lines", cgi.FieldStorage, fp=Reads(b"abc\n", text=True), environ=env)
    show("str read", cgi.FieldStorage, fp=Reads(b"a=1", text=True),
         environ=post_env(b"a=1"))
    show("str read binary", cgi.FieldStorage, fp=Reads(b"abc", text=True),
         headers={"content-length": "3", "content-disposition": "x; filename=f",
                  "content-type": "text/plain"},
         environ={"REQUEST_METHOD": "POST"})
    fs = cgi.FieldStorage(fp=Reads(b"z=1"), environ=post_env(b"z=1"))
    out("custom fp kept", type(fs.fp).__name__)


@case
def case_fs_multipart_fp_read_overridden():
    # A multipart body is read with the fp's own read(): io's readinto()
    # stood for it, skipping a subclass's override, and a raw file without
    # readinto() raised NotImplementedError.
    body = b'--BB\r\nContent-Disposition: form-data; name="a"\r\n\r\nhello\r\n--BB--\r\n'
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=BB",
           "CONTENT_LENGTH": str(len(body))}

    def upper(cls):
        class Upper(cls):
            def read(self, n=-1):
                return super().read(n).replace(b"hello", b"HELLO")

            def readline(self, n=-1):
                return super().readline(n).replace(b"hello", b"HELLO")
        return Upper

    class RawReads(io.RawIOBase):
        def __init__(self, b):
            self.b = io.BytesIO(b)

        def read(self, n=-1):
            return self.b.read(n)

        def readline(self, n=-1):
            return self.b.readline(n)
    for label, fp in [("BytesIO", io.BytesIO(body)),
                      ("BufferedReader", io.BufferedReader(io.BytesIO(body))),
                      ("BytesIO subclass", upper(io.BytesIO)(body)),
                      ("BufferedReader subclass", upper(io.BufferedReader)(io.BytesIO(body))),
                      ("raw, read() only", RawReads(body))]:
        show(label, lambda: cgi.FieldStorage(fp=fp, environ=env).getvalue("a"))


@case
def case_fs_stdin_default():
    # fp=None reads sys.stdin.buffer (the body comes from the test)
    fs = show("fs", cgi.FieldStorage)
    out("fp is stdin.buffer", fs.fp is sys.stdin.buffer)


@case
def case_fs_stdin_missing():
    saved = sys.stdin
    sys.stdin = None
    show("none", cgi.FieldStorage, environ={"REQUEST_METHOD": "POST"})
    show("parse none", cgi.parse, None, {"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"})
    del sys.stdin
    show("deleted", cgi.FieldStorage, environ={"REQUEST_METHOD": "POST"})
    show("parse deleted", cgi.parse, None, {"QUERY_STRING": "a=1"})
    sys.stdin = saved


@case
def case_fs_outerboundary_type():
    show("str", cgi.FieldStorage, fp=io.BytesIO(b""), outerboundary="x",
         environ={"REQUEST_METHOD": "POST"})
    show("bytearray", cgi.FieldStorage, fp=io.BytesIO(b""), outerboundary=bytearray(b"x"),
         environ={"REQUEST_METHOD": "POST"})
    show("none", cgi.FieldStorage, fp=io.BytesIO(b""), outerboundary=None,
         environ={"REQUEST_METHOD": "POST"})
    show("BytesIO", cgi.FieldStorage, fp=io.BytesIO(b""), outerboundary=io.BytesIO(),
         environ={"REQUEST_METHOD": "POST"})
    show("fp returns BytesIO", cgi.FieldStorage, fp=Returns(io.BytesIO()),
         environ=post_env(b"a=1"))
    show("fp returns mini", cgi.FieldStorage, fp=Returns(cgi.MiniFieldStorage("a", "b")),
         environ=post_env(b"a=1"))
    show("fp lines return mini", cgi.FieldStorage, fp=Returns(cgi.MiniFieldStorage("a", "b")),
         environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"})


@case
def case_fs_maxlen():
    body = b"a=1&b=2&c=3"
    cgi.maxlen = 5
    show("over", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body))
    show("equal", cgi.FieldStorage, fp=io.BytesIO(b"a=1&b"), environ=post_env(b"a=1&b"))
    show("bad clen", cgi.FieldStorage, fp=io.BytesIO(body),
         environ={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "many"})
    show("get ignores", cgi.FieldStorage, environ={"QUERY_STRING": "a=1&b=2&c=3&d=4"})
    cgi.maxlen = 0
    show("off", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body))


@case
def case_fs_maxlen_global():
    # maxlen is a global of cgi.py's code: the module's, else a builtin,
    # else NameError (review Z11)
    import builtins
    body = b"a=1&b=2&c=3"
    del cgi.maxlen
    show("deleted", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body))
    show("deleted, parse", cgi.parse, io.BytesIO(body), post_env(body))
    show("deleted, get", cgi.FieldStorage, environ={"QUERY_STRING": "a=1"})
    builtins.maxlen = 5
    try:
        show("builtin", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body))
        cgi.maxlen = 0
        show("module's first", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body))
    finally:
        del builtins.maxlen
    # MiniFieldStorage too, which read_urlencoded() calls by its global name
    cgi.maxlen = 0
    mini = cgi.MiniFieldStorage
    del cgi.MiniFieldStorage
    try:
        show("no MiniFieldStorage", cgi.FieldStorage, fp=io.BytesIO(body), environ=post_env(body))
        builtins.MiniFieldStorage = mini
        show("builtin MiniFieldStorage", cgi.FieldStorage, fp=io.BytesIO(body),
             environ=post_env(body))
    finally:
        cgi.MiniFieldStorage = mini
        if hasattr(builtins, "MiniFieldStorage"):
            del builtins.MiniFieldStorage


@case
def case_fs_replaced_functions():
    # parse_header and valid_boundary are globals of cgi.py's code, which a
    # script may replace (to mend parse_header's quoting, say): FieldStorage
    # calls the replacement, whatever it returns; the C core ran regardless
    body = (b'--a.b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
            b'--a.b\r\nContent-Disposition: form-data; name="f"; filename="a;b.txt"\r\n\r\n'
            b'2\r\n--a.b--\r\n')
    env = post_env(body, "multipart/form-data; boundary=a.b")
    calls = []

    def fs(**kw):  # (part headers are a Message under cgi.py: left out)
        f = cgi.FieldStorage(**kw)
        return (f.type, f.type_options, f.disposition, f.disposition_options, f.name,
                f.innerboundary, f.list and [(p.name, p.filename, p.type, p.type_options,
                                              p.disposition, p.disposition_options, p.value)
                                             for p in f.list])
    orig_ph, orig_vb = cgi.parse_header, cgi.valid_boundary

    def ph(line):
        calls.append(("parse_header", line))
        return orig_ph(line)

    def vb(s):
        calls.append(("valid_boundary", s))
        return orig_vb(s)
    try:
        cgi.parse_header, cgi.valid_boundary = ph, vb
        show("recorded", fs, fp=io.BytesIO(body), environ=env)
        out("calls", calls)
        show("parse", cgi.parse, io.BytesIO(body), dict(env))
        out("calls", calls)
        cgi.valid_boundary = lambda s: False
        show("refused", fs, fp=io.BytesIO(body), environ=env)
        cgi.valid_boundary = lambda s: 1 / 0
        show("raises", fs, fp=io.BytesIO(body), environ=env)
        cgi.valid_boundary = vb
        for name, result in [("list", lambda line: ["text/plain", {"boundary": "q"}]),
                             ("mapping", lambda line: ("form-data", {"name": "n", "x": 1})),
                             ("str", lambda line: "ab"),
                             ("three", lambda line: (1, 2, 3)),
                             ("not iterable", lambda line: 5),
                             ("a list as pdict", lambda line: ("form-data", ["name"])),
                             ("raises", lambda line: [][1])]:
            cgi.parse_header = result
            show(name, fs, fp=io.BytesIO(body), environ=env)
            # the body's own, the parts' replaced
            cgi.parse_header = (lambda r: lambda line: orig_ph(line)
                                if line.startswith("multipart/") else r(line))(result)
            show(name + ", parts", fs, fp=io.BytesIO(body), environ=env)
        del cgi.parse_header
        show("deleted", fs, fp=io.BytesIO(body), environ=env)
        cgi.parse_header = orig_ph
        del cgi.valid_boundary
        show("deleted valid_boundary", fs, fp=io.BytesIO(body), environ=env)
    finally:
        cgi.parse_header, cgi.valid_boundary = orig_ph, orig_vb


@case
def case_fs_replaced_parse_header_filename_none():
    # _binary_file is `self.filename is not None`: a replaced parse_header's
    # pdict may hold filename None (the part is then read as text)
    body = (b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
            b'xy\r\n--B--\r\n')
    env = post_env(body, "multipart/form-data; boundary=B")
    orig_ph = cgi.parse_header

    def ph(line):
        key, pdict = orig_ph(line)
        if "filename" in pdict:
            pdict["filename"] = None
        return key, pdict

    def fs():
        f = cgi.FieldStorage(fp=io.BytesIO(body), environ=env)
        return [(p.name, p.filename, p._binary_file, p.value) for p in f.list]
    try:
        cgi.parse_header = ph
        show("filename None", fs)
    finally:
        cgi.parse_header = orig_ph


@case
def case_fs_replaced_temporary_file():
    # make_file() calls tempfile.TemporaryFile, which a script may replace
    # (a wrapper, say): the replacement is called as cgi.py calls it
    import functools
    import tempfile
    body = (b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n' +
            b"x" * 3000 + b'\r\n--B\r\nContent-Disposition: form-data; name="t"\r\n\r\n' +
            "\u00e9".encode() * 1500 + b"\r\n--B--\r\n")
    env = post_env(body, "multipart/form-data; boundary=B")
    calls = []
    orig = tempfile.TemporaryFile

    @functools.wraps(orig)
    def recorder(*a, **k):
        calls.append((a, k))
        return orig(*a, **k)

    def fs():
        f = cgi.FieldStorage(fp=io.BytesIO(body), environ=env)
        return [(p.name, type(p.file).__name__, len(p.value)) for p in f.list]
    try:
        tempfile.TemporaryFile = recorder
        show("recorded", fs)
        out("calls", calls)
        tempfile.TemporaryFile = lambda mode, **k: io.BytesIO() if "b" in mode else io.StringIO()
        show("in memory", fs)
        tempfile.TemporaryFile = lambda *a, **k: 1 / 0
        show("raises", fs)
        del tempfile.TemporaryFile
        show("deleted", fs)
    finally:
        tempfile.TemporaryFile = orig
    show("restored", fs)


@case
def case_fs_tempfile_not_a_module():
    # cgi.py's make_file() calls the tempfile module its import bound, not
    # what sys.modules holds now: None, or a stand-in whose TemporaryFile is
    # a function (PyModule_GetDict() of it set SystemError, and the function
    # was called with it pending)
    import tempfile
    import types
    body = (b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n' +
            b"x" * 3000 + b"\r\n--B--\r\n")
    env = post_env(body, "multipart/form-data; boundary=B")

    def fs():
        f = cgi.FieldStorage(fp=io.BytesIO(body), environ=env)
        return [(p.name, type(p.file).__name__, len(p.value)) for p in f.list]
    try:
        sys.modules["tempfile"] = types.SimpleNamespace(TemporaryFile=lambda *a, **k: io.BytesIO())
        show("a stand-in", fs)
        sys.modules["tempfile"] = None
        show("None", fs)
    finally:
        sys.modules["tempfile"] = tempfile


@case
def case_fs_replaced_preferredencoding():
    # a GET's query string is encoded with locale.getpreferredencoding(),
    # which a script may replace: called for an ASCII query string too
    import locale
    import types
    calls = []
    orig = locale.getpreferredencoding

    def fs(qs):
        return cgi.FieldStorage(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": qs}).list
    try:
        for label, f in [("recorded", lambda *a: calls.append(a) or orig(*a)),
                         ("utf-16", lambda: "utf-16-le"), ("raises", lambda: 1 / 0),
                         ("not a str", lambda: 5),
                         ("locale's getlocale", locale.getlocale)]:
            locale.getpreferredencoding = f
            show(label, fs, "a=1&b=%41")
            show(label + " non-ASCII", fs, "a=\u00e9")
        out("calls", calls)
        del locale.getpreferredencoding
        show("deleted", fs, "a=1")
    finally:
        locale.getpreferredencoding = orig
    show("restored", fs, "a=1")
    try:  # a stub module: cgi.py's is the module of its import
        sys.modules["locale"] = types.SimpleNamespace(getpreferredencoding=orig)
        show("stub", fs, "a=1")
    finally:
        sys.modules["locale"] = locale
    try:  # None: cgi.py's is still the module of its import (review Z18)
        sys.modules["locale"] = None
        show("none", fs, "a=1&b=%41")
    finally:
        sys.modules["locale"] = locale


@case
def case_fs_content_headers():
    env = {"REQUEST_METHOD": "POST"}
    for ct in ["text/plain; charset=utf-8", "TEXT/PLAIN", 'application/x-www-form-urlencoded; a="b;c"',
               "application/x-www-form-urlencoded ; x=1", "foo", ""]:
        show(ct, cgi.FieldStorage, fp=io.BytesIO(b"k=v"),
             headers={"content-type": ct, "content-length": "3"}, environ=env)
    for cd in ['form-data; name="n"', 'attachment; filename="f\\"q.txt"', "inline",
               'form-data; name=""; filename=""']:
        show(cd, cgi.FieldStorage, fp=io.BytesIO(b"k=v"),
             headers={"content-disposition": cd, "content-type": "application/x-www-form-urlencoded",
                      "content-length": "3"}, environ=env)


@case
def case_fs_innerboundary():
    # the boundary is kept as encoded bytes even when reading is not multipart
    for enc, b in [("utf-8", "abc"), ("latin-1", "\u00e9t\u00e9"), ("ascii", "\u00e9")]:
        show(enc, cgi.FieldStorage, fp=io.BytesIO(b"x"),
             headers={"content-type": "text/x; boundary=%s" % b}, encoding=enc,
             environ={"REQUEST_METHOD": "POST"})


@case
def case_fs_context_manager():
    hdr = {"content-disposition": 'form-data; name="f"; filename="x"', "content-length": "3",
           "content-type": "application/octet-stream"}
    with cgi.FieldStorage(fp=io.BytesIO(b"abc"), headers=hdr,
                          environ={"REQUEST_METHOD": "POST"}) as fs:
        out("inside", (fs.file.closed, fs.value))
    out("after", fs.file.closed)
    show("value after close", lambda: fs.value)
    g = cgi.FieldStorage(environ={"QUERY_STRING": "a=1"})
    show("enter", g.__enter__)
    show("exit no file", g.__exit__, None, None, None)


@case
def case_fs_del_closes():
    hdr = {"content-disposition": 'form-data; name="f"; filename="x"', "content-length": "3",
           "content-type": "application/octet-stream"}
    fs = cgi.FieldStorage(fp=io.BytesIO(b"abc"), headers=hdr, environ={"REQUEST_METHOD": "POST"})
    f = fs.file
    del fs
    out("closed", f.closed)
    g = cgi.FieldStorage(environ={"QUERY_STRING": "a=1"})
    del g.file
    del g
    out("no file ok", True)


@case
def case_fs_repr():
    out("get", repr(cgi.FieldStorage(environ={"QUERY_STRING": "a=1&b=%3C"})))
    hdr = {"content-disposition": 'form-data; name="f"; filename="x.txt"', "content-length": "3",
           "content-type": "text/plain"}
    out("file", repr(cgi.FieldStorage(fp=io.BytesIO(b"a'b"), headers=hdr,
                                      environ={"REQUEST_METHOD": "POST"})))
    out("text", repr(cgi.FieldStorage(fp=io.BytesIO(b"t"), headers={"content-disposition": "x; name=n"},
                                      environ={"REQUEST_METHOD": "POST"})))
    out("mini", repr(cgi.MiniFieldStorage("k", "v'")))


@case
def case_fs_getattr():
    fs = cgi.FieldStorage(environ={"QUERY_STRING": "a=1"})
    show("missing attr", lambda: fs.nonexistent)
    show("__getattr__", fs.__getattr__, "other")
    show("__getattr__ value", fs.__getattr__, "value")
    out("hasattr", (hasattr(fs, "value"), hasattr(fs, "nope"), hasattr(fs, "innerboundary")))
    fs.value = "set"
    out("set value", fs.value)
    fs.list = None
    del fs.value
    out("none value", fs.value)
    show("keys none", fs.keys)
    show("contains none", lambda: "a" in fs)
    show("len none", len, fs)
    show("bool none", bool, fs)
    show("getitem none", lambda: fs["a"])
    show("iter none", iter, fs)
    show("getvalue none", fs.getvalue, "a")
    fs.list = []
    out("empty", (bool(fs), len(fs), fs.keys(), "a" in fs))


@case
def case_fs_mapping_methods():
    fs = cgi.FieldStorage(environ={"QUERY_STRING": "a=1&a=2&b=3&c=4&c=5&c=6"})
    out("getvalue", [fs.getvalue(k) for k in "abcz"])
    out("getfirst", [fs.getfirst(k) for k in "abcz"])
    out("getlist", [fs.getlist(k) for k in "abcz"])
    out("kw", (fs.getvalue(key="a"), fs.getfirst("z", default=0)))
    show("getvalue noarg", fs.getvalue)
    show("getlist noarg", fs.getlist)
    show("unhashable", fs.__contains__, [])
    fs.list.append(cgi.MiniFieldStorage(None, "anon"))
    out("None key", (None in fs, fs.getvalue(None), sorted(map(repr, fs.keys()))))
    fs.list = [cgi.MiniFieldStorage("x", "1"), cgi.MiniFieldStorage("x", "2")]
    fs.list[0].value = "changed"
    out("getfirst changed", fs.getfirst("x"))


@case
def case_minifieldstorage():
    m = cgi.MiniFieldStorage("n", "v")
    out("attrs", [(a, canon(getattr(m, a))) for a in
                  ["name", "value", "filename", "list", "type", "file", "type_options",
                   "disposition", "disposition_options", "headers"]])
    out("vars", vars(m))
    out("class", (cgi.MiniFieldStorage.filename, cgi.MiniFieldStorage.headers))
    out("kw", cgi.MiniFieldStorage(value=1, name=2))
    show("missing", cgi.MiniFieldStorage, "n")
    out("shared dict", cgi.MiniFieldStorage("a", "b").headers is m.headers)
    show("len", len, m)
    show("add", lambda: m + 1)
    fs = cgi.FieldStorage(environ={"QUERY_STRING": "a=1"})
    show("fs add", lambda: fs + 1)
    show("fs call", fs)
    out("names", [(c.__name__, c.__qualname__, c.__module__, repr(c))
                  for c in (cgi.FieldStorage, cgi.MiniFieldStorage)])


@case
def case_fs_subclass():
    class Sub(cgi.FieldStorage):
        def __init__(self, *a, **kw):
            self.extra = "x"
            super().__init__(*a, **kw)

        def read_urlencoded(self):
            self.list = [cgi.MiniFieldStorage("sub", "yes")]

    fs = show("sub", Sub, environ={"QUERY_STRING": "a=1"})
    out("isinstance", isinstance(fs, cgi.FieldStorage))
    out("mro", [c.__name__ for c in Sub.__mro__])

    class Files(cgi.FieldStorage):
        def make_file(self):
            return io.BytesIO() if self._binary_file else io.StringIO()
    hdr = {"content-disposition": 'form-data; name="f"; filename="x"', "content-length": "4",
           "content-type": "text/plain"}
    show("make_file override", Files, fp=io.BytesIO(b"data"), headers=hdr,
         environ={"REQUEST_METHOD": "POST"})
    out("FieldStorageClass", (Files.FieldStorageClass, Sub.FieldStorageClass))


@case
def case_fs_part_class_not_fieldstorage():
    # FieldStorageClass making something that is not a FieldStorage: cgi.py
    # reads the part's list (with max_num_fields), then its bytes_read.
    body = b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nv1\r\n--B--\r\n'
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
           "CONTENT_LENGTH": str(len(body))}
    makers = {"mini": lambda *a, **k: cgi.MiniFieldStorage("n", "v"), "none": lambda *a, **k: None}
    for label, maker in makers.items():
        for mnf in (None, 5):
            class Odd(cgi.FieldStorage):
                FieldStorageClass = maker
            show(f"{label} mnf={mnf}", lambda: Odd(fp=io.BytesIO(body), environ=dict(env),
                                                   max_num_fields=mnf).list)


@case
def case_fs_encoding_errors():
    body = b"caf\xc3\xa9 \xff\n"
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain"}
    show("replace", cgi.FieldStorage, fp=io.BytesIO(body), environ=env)
    show("strict", cgi.FieldStorage, fp=io.BytesIO(body), environ=env, errors="strict")
    show("latin-1", cgi.FieldStorage, fp=io.BytesIO(body), environ=env, encoding="latin-1")
    show("bad enc", cgi.FieldStorage, fp=io.BytesIO(body), environ=env, encoding="nope")
    show("urlenc strict", cgi.FieldStorage, fp=io.BytesIO(b"a=\xff"), environ=post_env(b"a=\xff"),
         errors="strict")


@case
def case_fs_environ_mapping():
    class Env(dict):
        pass
    show("dict subclass", cgi.FieldStorage, environ=Env(QUERY_STRING="a=1"))
    show("non-str method", cgi.FieldStorage, environ={"REQUEST_METHOD": 1})
    show("non-mapping", cgi.FieldStorage, environ=[])


@case
def case_fs_default_environ():
    # environ defaults to os.environ (set by the test)
    show("fs", cgi.FieldStorage)


@case
def case_fs_random_lines():
    # Seeded random bodies through the line readers (read_lines_to_eof,
    # read_lines_to_outerboundary, skip_lines, read_binary): the same seed
    # gives the same inputs in both interpreters.
    import random
    rnd = random.Random(1234)
    atoms = [b"a", b"xyz", b"\r", b"\n", b"\r\n", b"--", b"--B", b"--B--", b"-", b" ",
             b"\xff", b"\xc3\xa9", b"B", b"=", b"&"]
    for i in range(300):
        body = b"".join(rnd.choice(atoms) for _ in range(rnd.randrange(0, 40)))
        if rnd.random() < 0.1:
            body += b"q" * rnd.choice([990, 1000, 1010, 3000])
        hdr = {}
        if rnd.random() < 0.5:
            hdr["content-disposition"] = rnd.choice(['form-data; name="n"',
                                                     'form-data; name="f"; filename="f.bin"'])
        if rnd.random() < 0.4:
            hdr["content-length"] = str(rnd.randrange(-1, len(body) + 5))
        if rnd.random() < 0.7:
            hdr["content-type"] = rnd.choice(["text/plain", "application/octet-stream"])
        kw = {}
        if rnd.random() < 0.7:
            kw["outerboundary"] = b"B"
        if rnd.random() < 0.3:
            kw["limit"] = rnd.randrange(0, len(body) + 3)
        fp = io.BytesIO(body)
        try:
            fs = cgi.FieldStorage(fp=fp, headers=hdr, environ={"REQUEST_METHOD": "POST"}, **kw)
            print(i, canon((fs.value, fs.done, fs.bytes_read, fs.length, fs.limit, fs.file,
                            fp.read())))
        except Exception as e:  # noqa: BLE001
            print(i, "EXC", type(e).__name__, e)


@case
def case_fs_random_params():
    # Seeded random requests and constructor parameters (no multipart), whole
    # FieldStorage dumps compared.
    import random
    rnd = random.Random(4321)
    qs_atoms = ["a=1", "b=", "c", "a=2", "%41=%42", "x=%zz", "e=%C3%A9", "p=+q+", "&", ";",
                "=v", "k=v=w", "\u00e9=\u00e8", "s=%FF", ""]
    ctypes = [None, "application/x-www-form-urlencoded", "text/plain", "APPLICATION/X-WWW-FORM-URLENCODED",
              "application/x-www-form-urlencoded; charset=latin-1", "application/octet-stream", ""]
    for i in range(400):
        qs = rnd.choice(["&", ";"]).join(rnd.choice(qs_atoms) for _ in range(rnd.randrange(0, 6)))
        body = "&".join(rnd.choice(qs_atoms) for _ in range(rnd.randrange(0, 6))).encode(
            "utf-8", "surrogateescape")
        env = {}
        method = rnd.choice([None, "GET", "POST", "HEAD", "post", "PUT"])
        if method is not None:
            env["REQUEST_METHOD"] = method
        if rnd.random() < 0.7:
            env["QUERY_STRING"] = qs
        ct = rnd.choice(ctypes)
        if ct is not None:
            env["CONTENT_TYPE"] = ct
        cl = rnd.choice([None, len(body), 0, len(body) // 2, len(body) + 3, "x", "-1", " 4 "])
        if cl is not None:
            env["CONTENT_LENGTH"] = str(cl)
        kw = {}
        for name, choices in [("keep_blank_values", [0, 1, True]), ("strict_parsing", [0, 1]),
                              ("max_num_fields", [None, 0, 1, 3, 10]), ("separator", ["&", ";"]),
                              ("encoding", ["utf-8", "latin-1", "ascii"]),
                              ("errors", ["replace", "strict", "ignore", "surrogateescape"]),
                              ("limit", [None, 2, 100])]:
            if rnd.random() < 0.3:
                kw[name] = rnd.choice(choices)
        if rnd.random() < 0.2:
            kw["headers"] = rnd.choice([{}, {"content-type": "text/plain"},
                                        {"content-length": str(len(body))}])
        if rnd.random() < 0.1:
            cgi.maxlen = rnd.choice([0, 5, 1000])
        try:
            fs = cgi.FieldStorage(fp=io.BytesIO(body), environ=env, **kw)
            print(i, canon(fs))
        except Exception as e:  # noqa: BLE001
            print(i, "EXC", type(e).__name__, e)


@case
def case_parse_random():
    # Seeded random environ/fp/flags through parse(); the result and the
    # mutated environ compared.
    import random
    rnd = random.Random(99)
    atoms = ["a=1", "b=", "c", "a=2", "%41=%42", "x=%zz", "e=%C3%A9", "p=+q+", "&", ";", "=v", ""]
    for i in range(300):
        qs = rnd.choice(["&", ";"]).join(rnd.choice(atoms) for _ in range(rnd.randrange(0, 5)))
        body = "&".join(rnd.choice(atoms) for _ in range(rnd.randrange(0, 5))).encode()
        env = {}
        for k, choices in [("REQUEST_METHOD", ["GET", "POST", "HEAD", "post"]),
                           ("QUERY_STRING", [qs]),
                           ("CONTENT_TYPE", ["application/x-www-form-urlencoded", "text/plain",
                                             "multipart/form-data; boundary=zz",
                                             "application/x-www-form-urlencoded; x=y"]),
                           ("CONTENT_LENGTH", [str(len(body)), "0", "2", "x"])]:
            if rnd.random() < 0.75:
                env[k] = rnd.choice(choices)
        if rnd.random() < 0.3:
            sys.argv[1:] = ["argv=1"]
        else:
            del sys.argv[1:]
        cgi.maxlen = rnd.choice([0, 0, 0, 3])
        kw = {}
        if rnd.random() < 0.3:
            kw["keep_blank_values"] = 1
        if rnd.random() < 0.2:
            kw["strict_parsing"] = 1
        if rnd.random() < 0.2:
            kw["separator"] = ";"
        fp = rnd.choice([io.BytesIO, lambda b: io.TextIOWrapper(io.BytesIO(b), "latin-1")])(body)
        cgi.parse_multipart = lambda fp, pdict, **k: ("multipart", pdict, k)
        try:
            r = cgi.parse(fp, env, **kw)
            print(i, canon(r), canon(env))
        except Exception as e:  # noqa: BLE001
            print(i, "EXC", type(e).__name__, e, canon(env))


@case
def case_fs_getvalue_list_changed_by_value():
    # getvalue()/getlist() are [x.value for x in self[key]]: a list that an
    # item's value changes is read as it is at each step (it crashed when
    # it shrank)
    shared = []

    class Item:
        def __init__(self, v, change):
            self.v, self.change = v, change

        @property
        def value(self):
            self.change()
            return self.v

    class FS(cgi.FieldStorage):
        def __contains__(self, key):
            return True

        def __getitem__(self, key):
            return shared

    fs = FS(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": ""})
    changes = {"shrink": shared.clear, "grow": lambda: len(shared) < 5 and shared.append(Item(9, lambda: None)),
               "drop_first": lambda: shared and shared.pop(0)}
    for label, change in changes.items():
        for method in ("getvalue", "getlist", "getfirst"):
            shared[:] = [Item(i, change) for i in range(200)]
            show(f"{label} {method}", getattr(fs, method), "k")


@case
def case_part_headers_names_without_lower():
    # email.message.Message lowers a name before it looks at any header: a
    # name without lower() fails on a part with no headers too; a failed
    # delete is not replayed when the whole Message is made later
    body = (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nxx\r\n'
            b'--B\r\n\r\nnohdr\r\n--B--\r\n')
    fs = cgi.FieldStorage(fp=io.BytesIO(body), environ=post_env(body, "multipart/form-data; boundary=B"))
    for i in range(2):
        h = fs.list[i].headers
        for label, fn in [("get", lambda: h.get(1)), ("in", lambda: 1 in h), ("item", lambda: h[1]),
                          ("get_all", lambda: h.get_all(1)), ("get None", lambda: h.get(None)),
                          ("str subclass", lambda: h.get(type("S", (str,), {})("content-disposition")))]:
            show(f"{i} {label}", fn)
        def delete():
            del h[1]
        show(f"{i} del", delete)
        show(f"{i} filename", h.get_filename)
        show(f"{i} str", lambda: str(h))


@case
def case_part_headers_changed_by_a_names_lower():
    # A header name's lower() that deletes or sets headers while a lookup
    # or a delete walks them: Message walks the list it started with (the
    # pair at hand was freed under the walk and read after)
    body = b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nxx\r\n--B--\r\n'
    fs = cgi.FieldStorage(fp=io.BytesIO(body), environ=post_env(body, "multipart/form-data; boundary=B"))
    h = fs.list[0].headers
    state = {}
    junk = []

    class N(str):
        def lower(self):
            change = state.pop("change", None)
            if change:
                change()
                junk.extend((object(), i) for i in range(100))  # reuses what was freed
            return str.lower(self)

    def delete():
        del h["x-foo"]

    def add():
        h["X-New"] = "n"

    for label, change in [("del", delete), ("set", add)]:
        for op, fn in [("item", lambda: h["x-foo"]), ("get_all", lambda: h.get_all("x-foo")),
                       ("in", lambda: "x-foo" in h), ("del other", lambda: h.__delitem__("y"))]:
            h[N("X-Foo")] = "bar"
            h["Y"] = "y"
            state["change"] = change
            show(f"{label} {op}", fn)
            out(f"{label} {op} items", h.items())
            state.clear()
            junk.clear()
            for name in ("x-foo", "x-new", "y"):
                del h[name]


MP_ONE = (b"--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--B--\r\n")


@case
def case_flags_truth_asked_when_parse_qsl_asks():
    # urllib.parse.parse_qsl asks keep_blank_values and strict_parsing for
    # their truth field by field, only where a field needs it: never for
    # "a=1", twice for a field without "=" when blanks are kept. An object
    # whose __bool__ raises is harmless where it is never asked.
    log = []

    class Flag:
        def __init__(self, name, value):
            self.name, self.value = name, value

        def __bool__(self):
            log.append(self.name)
            if self.value is None:
                raise RuntimeError(f"truth of {self.name}")
            return self.value

    queries = ["a=1", "a=1&b=", "a", "&&a=1", "a=1&&", "", "x&y=&=z&&", "a=%41+b"]
    flags = [(False, False), (True, False), (False, True), (True, True),
             (None, False), (False, None), (True, None), (None, None)]
    for q in queries:
        for kb, st in flags:
            label = f"{q!r} kb={kb} st={st}"
            for how, fn in [
                ("fs get", lambda: cgi.FieldStorage(
                    environ={"REQUEST_METHOD": "GET", "QUERY_STRING": q},
                    keep_blank_values=Flag("kb", kb), strict_parsing=Flag("st", st)).list),
                ("fs post", lambda: cgi.FieldStorage(
                    fp=io.BytesIO(q.encode()), environ=post_env(q.encode(), QUERY_STRING=q),
                    keep_blank_values=Flag("kb", kb), strict_parsing=Flag("st", st)).list),
                ("fs multipart", lambda: [(f.name, f.value) for f in cgi.FieldStorage(
                    fp=io.BytesIO(MP_ONE), environ=post_env(
                        MP_ONE, "multipart/form-data; boundary=B", QUERY_STRING=q),
                    keep_blank_values=Flag("kb", kb), strict_parsing=Flag("st", st)).list]),
                ("parse", lambda: cgi.parse(
                    environ={"REQUEST_METHOD": "GET", "QUERY_STRING": q},
                    keep_blank_values=Flag("kb", kb), strict_parsing=Flag("st", st))),
            ]:
                log.clear()
                show(f"{how} {label}", fn)
                out(f"{how} {label} asked", list(log))


def main():
    name = os.environ.get("API_CASE", "")
    if name == "--list":
        print("\n".join(CASES))
        return
    sys.stdout.flush()
    CASES[name]()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
