# Differential driver for cgitb: run under /usr/bin/python3 (stdlib cgitb.py)
# and under cgihost (built-in cgitb) with the same case name; the test
# compares the two outputs. Usage: cgitb_report.py CASE
import io
import os
import sys
import tempfile

import cgitb

CONST = 42


class Thing:
    def __init__(self):
        self.attr = {"k": [1, 2, 3]}
        self.name = "<b>&amp;</b>"


class Odd(Exception):
    """An exception with public attributes, one of them a property that fails."""

    def __init__(self, msg):
        super().__init__(msg)
        self.code = 7
        self.html = "<i>x</i>"

    def __str__(self):
        return "odd <&> " + self.args[0]


class Broken(Exception):
    @property
    def explode(self):
        raise RuntimeError("no")


def inner(a, b=2, *args, **kw):
    t = Thing()
    x = t.attr["k"][0] + len(args) + CONST + len(t.name)
    return a / (b - 2) + x


def outer(n):
    return inner(n, 2, "extra", key="v<&>")


def multiline(d):
    return (d["a"] +
            d["b"] +
            d["missing"])


def chained():
    try:
        {}["k"]
    except KeyError as e:
        raise ValueError("while handling") from e


def raiser(exc):
    local_value = [1, 2]
    raise exc


def no_source():
    code = compile("def g(q):\n    return q.nothing\n", "<generated>", "exec")
    ns = {}
    exec(code, ns)
    ns["g"](5)


class Node:
    def __init__(self, depth):
        self.child = Node(depth - 1) if depth else None
        self.label = "n%d" % depth

    def walk(self):
        return self.child.child.child.label.upper().missing


def recurse(n):
    if n == 0:
        raise RecursionError("deep enough: \u00e9\u4e2d")
    return recurse(n - 1)


def closure():
    outer_var = "captured"

    def inner_fn(p):
        return outer_var[p]
    return inner_fn(99)


def generator():
    def gen():
        yield 1
        raise StopAsyncIteration("from a generator")
    return list(gen())


def syntax():
    compile("x = (1,\n  2 +\n", "<snippet>", "exec")


def form_value():
    # The classic: a form field that is not a number. The report shows the
    # bound method with the form's repr, as cgi.py's Python methods give it.
    import cgi
    form = cgi.FieldStorage(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": "n=x&m=y"})
    return int(form.getfirst("n")) + len(form.getlist("m")) + len(form.keys()) + int(form.getvalue("m"))


def in_class_body():
    class Broken:
        attribute = undefined_name  # noqa: F821
    return Broken


CRASHES = {
    "attrs": lambda: Node(2).walk(),
    "recursion": lambda: recurse(6),
    "closure": closure,
    "generator": generator,
    "syntax": syntax,
    "classbody": in_class_body,
    "unicode": lambda: {"cl\u00e9": 1}["\u00fc<ber>"],
    "zero": lambda: outer(10),
    "multiline": lambda: multiline({"a": 1, "b": 2}),
    "chained": chained,
    "oserror": lambda: open("/nonexistent/dir/file"),
    "odd": lambda: raiser(Odd("message")),
    "nosource": no_source,
    "lambda": lambda: (lambda y: y.upper())(3),
    "keyerror": lambda: {}["<key>"],
    "form": form_value,
}


def info_of(name):
    try:
        CRASHES[name]()
    except BaseException:
        return sys.exc_info()
    raise AssertionError("no exception")


def main():
    case = sys.argv[1]
    out = sys.stdout
    kind, _, name = case.partition(":")
    if kind in ("text", "html"):
        for ctx in (5, 0, 1, 3):
            try:
                out.write(getattr(cgitb, kind)(info_of(name), ctx))
            except Exception as e:  # the stdlib's own failures, e.g. OSError
                out.write("raised %s: %s\n" % (type(e).__name__, e))
    elif kind == "default":
        out.write(cgitb.text(info_of(name)))
        out.write(cgitb.html(info_of(name)))
    elif kind == "hook":
        # hook:FORMAT:DISPLAY:LOG:CASE -- Hook.handle into a StringIO
        fmt, display, log, name = name.split(":")
        buf = io.StringIO()
        logdir = tempfile.mkdtemp() if log == "1" else None
        h = cgitb.Hook(display=int(display), logdir=logdir, context=2, file=buf, format=fmt)
        h(*info_of(name))
        text = buf.getvalue()
        if fmt == "html":
            assert text.startswith(cgitb.reset())
            text = text[len(cgitb.reset()):]
        if logdir:
            files = os.listdir(logdir)
            assert len(files) == 1, files
            path = os.path.join(logdir, files[0])
            with open(path) as f:
                logged = f.read()
            text = text.replace(path, "LOGFILE")
            out.write("suffix=%s\n" % os.path.splitext(path)[1])
            out.write(logged)
            os.unlink(path)
            os.rmdir(logdir)
        out.write(text)
    elif kind == "broken":
        # html() fails on the property; handle() falls back to <pre>.
        buf = io.StringIO()
        cgitb.Hook(file=buf, format=name)(*info_of_broken())
        text = buf.getvalue()
        if text.startswith(cgitb.reset()):
            text = text[len(cgitb.reset()):]
        out.write(text)
    elif kind == "handler":
        try:
            outer(1)
        except ZeroDivisionError:
            cgitb.handler()
    elif kind == "uncaught":
        cgitb.enable(format=name, context=1)
        outer(3)
    elif kind == "lookup":
        frame = sys._getframe()
        local = 1
        for n in ("local", "CONST", "len", "nothing", "sys"):
            w, v = cgitb.lookup(n, frame, {"local": local})
            out.write("%s %r %r\n" % (n, w, v is cgitb.__UNDEF__ or v))
        # builtins as a dict (an exec'd frame) rather than the module
        ns = {"__builtins__": {"len": len}}
        exec("import sys\nf = sys._getframe()", {"__builtins__": __builtins__}, ns)
        g = {"__builtins__": {"len": len}, "gv": 1}
        exec("import sys\nfr = sys._getframe()", {"__builtins__": __builtins__, "sys": sys}, g)
        for n in ("len", "gv", "print", "nothing"):
            w, v = cgitb.lookup(n, type("F", (), {"f_globals": g})(), {})
            out.write("%s %r %r\n" % (n, w, v is cgitb.__UNDEF__ or v))

        class Raising(dict):
            def __contains__(self, k):
                raise LookupError("no contains")
        for args in ((("x", frame, Raising())), ("x", object(), {}), ("x", frame, 5)):
            try:
                cgitb.lookup(*args)
            except Exception as e:
                out.write("%s: %s\n" % (type(e).__name__, e))
        lines = iter(["x = t.attr.get(CONST) + len(zz.q) + Thing.__init__.__name__\n"])
        t = Thing()
        for name_, where, value in cgitb.scanvars(lambda: next(lines), frame, {"t": t}):
            out.write("%r %r %r\n" % (name_, where,
                                       "UNDEF" if value is cgitb.__UNDEF__ else repr(value)[:40]))
        for src in (["a.b.c + 1\n"], [". x\n"], ["if (\n"], ["x = 'unterminated\n"]):
            it = iter(src)
            try:
                got = cgitb.scanvars(lambda: next(it, ""), frame, {"a": t})
                out.write("%r\n" % [(n, w) for n, w, _ in got])
            except Exception as e:
                out.write("%s: %s\n" % (type(e).__name__, e))
    elif kind == "helpers":
        for f in (cgitb.small, cgitb.strong, cgitb.grey):
            for arg in ("", "x<y", 0, None, "0"):
                try:
                    out.write("%r\n" % f(arg))
                except Exception as e:
                    out.write("%s: %s\n" % (type(e).__name__, e))
            try:
                f(5)
            except Exception as e:
                out.write("%s: %s\n" % (type(e).__name__, e))
        for bad in (None, (1, 2), (1, 2, 3, 4), 5):
            for f in (cgitb.text, cgitb.html):
                try:
                    f(bad)
                except Exception as e:
                    out.write("%s: %s\n" % (type(e).__name__, e))
    elif kind == "args":
        # Argument-binding errors, worded as for the pure-Python functions.
        h = cgitb.Hook(file=io.StringIO())
        calls = [
            lambda: cgitb.enable(1, 2, 3, 4, 5), lambda: cgitb.enable(bogus=1),
            lambda: cgitb.enable(1, display=2), lambda: cgitb.html(),
            lambda: cgitb.text(1, 2, 3), lambda: cgitb.html(context=3),
            lambda: cgitb.reset(1), lambda: cgitb.reset(x=1), lambda: cgitb.small(),
            lambda: cgitb.grey("a", "b"), lambda: cgitb.strong(txt="a"),
            lambda: cgitb.lookup("x"), lambda: cgitb.lookup(), lambda: cgitb.scanvars(1, 2),
            lambda: cgitb.Hook(1, 2, 3, 4, 5, 6), lambda: cgitb.Hook(fmt="text"),
            lambda: h(1, 2), lambda: h(1, 2, 3, 4), lambda: h(etype=1, evalue=2, tb=3),
            lambda: h.handle(1, 2), lambda: h.handle(inf=1),
            lambda: cgitb.Hook(display=0, format=5, context=1, file=io.StringIO(),
                               logdir=None).handle(info=(None, None, None)),
            lambda: cgitb.small(text="kw"), lambda: cgitb.html(einfo=None),
        ]
        for call in calls:
            try:
                out.write("ok %r\n" % (call(),))
            except Exception as e:
                out.write("%s: %s\n" % (type(e).__name__, e))
    elif kind == "faults":
        for line in run_faults():
            out.write(line + "\n")
    elif kind == "faultleak":
        # The error paths must not leak. Per injected fault, the count of
        # allocated blocks over 10 rounds (20 failing reports), after a warm-up
        # that fills the stdlib's caches: a leak of one object per report
        # would add at least 20 in every window. Prints the smallest window.
        import gc
        for index in range(len(fault_patches())):
            for _ in range(30):
                run_faults(index)
            windows = []
            for _ in range(3):
                # CPython's type method cache holds the attribute names it
                # saw, and pydoc makes new ones ('repr_' + type name): empty
                # it at both ends of the window.
                gc.collect()
                sys._clear_type_cache()
                before = sys.getallocatedblocks()
                for _ in range(10):
                    run_faults(index)
                gc.collect()
                sys._clear_type_cache()
                windows.append(sys.getallocatedblocks() - before)
            out.write("%s %d\n" % (fault_patches()[index][1], min(windows)))
    else:
        raise SystemExit("unknown case " + case)


def boom(*args, **kw):
    raise LookupError("injected")


def fault_patches():
    import inspect
    import keyword
    import linecache
    import pydoc
    import time
    import tokenize
    import traceback

    def bad_records(*a):
        return [(1, 2)]

    def records_without_context(etb, context):
        return [r[:4] + (None, None) for r in real_getinnerframes(etb, context)]

    def bad_tokens(reader):
        yield (1, "x")

    real_getinnerframes = inspect.getinnerframes
    return [
        (linecache, "getline", boom), (pydoc.html, "repr", boom), (pydoc.text, "repr", boom),
        (pydoc.html, "escape", boom), (pydoc.html, "preformat", boom),
        (inspect, "getinnerframes", boom), (inspect, "getinnerframes", bad_records),
        (inspect, "getinnerframes", records_without_context),
        (inspect, "getargvalues", boom), (inspect, "formatargvalues", boom),
        (os.path, "abspath", boom), (tokenize, "generate_tokens", boom),
        (tokenize, "generate_tokens", bad_tokens), (keyword, "kwlist", None),
        (time, "ctime", boom), (traceback, "format_exception", boom),
        (sys, "executable", None),
        # Not html.escape: cgitb.py binds it when imported, the built-in when
        # it first reports, so replacing it afterwards is seen differently.
    ]


FAULT_INFO = []


def run_faults(only=None):
    if not FAULT_INFO:
        FAULT_INFO.extend([info_of("attrs"), info_of("zero")])
    results = []
    for index, (obj, attr, value) in enumerate(fault_patches()):
        if only is not None and index != only:
            continue
        # Restored exactly: an instance attribute that shadowed nothing
        # (pydoc.html.repr) is deleted again rather than set.
        had = attr in vars(obj)
        saved = vars(obj).get(attr)
        setattr(obj, attr, value)
        try:
            for f in (cgitb.text, cgitb.html):
                try:
                    r = f(FAULT_INFO[0], 2)
                    results.append("%s %s ok %d" % (attr, f.__name__, len(r.splitlines())))
                except Exception as e:
                    results.append("%s %s %s: %s" % (attr, f.__name__, type(e).__name__, e))
            if only is not None:
                continue
            buf = io.StringIO()
            try:
                cgitb.Hook(file=buf, format="html")(*FAULT_INFO[1])
                results.append("%s hook ok %d" % (attr, len(buf.getvalue().splitlines())))
            except Exception as e:
                results.append("%s hook %s: %s" % (attr, type(e).__name__, e))
        finally:
            if had:
                setattr(obj, attr, saved)
            else:
                delattr(obj, attr)
    return results


def info_of_broken():
    try:
        raise Broken("broken <attr>")
    except Broken:
        return sys.exc_info()


main()
