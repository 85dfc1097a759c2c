"""The built-in cgitb: the same reports as CPython 3.11's cgitb.py, nothing
heavy imported until a report is made, and a reset() that gives a valid CGI
response whether the script crashed before, during or after its headers."""
import os
import re
import subprocess

import pytest

from conftest import BASE_ENV, PYTHON, ROOT, cold_only, run

SCRIPTS = ROOT / "tests" / "scripts"
REPORT = SCRIPTS / "cgitb_report.py"
DATE = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}")
STDLIB_RESET_LINE = "<!--: spam"
OUR_RESET_LINE = "X-Cgitb: <!--"


def normalize(text):
    """What legitimately differs between two runs: addresses, the clock, the
    interpreter's path (another CPython's under make test-matrix), and the first line
    of reset() (ours is a valid header, on purpose)."""
    text = re.sub(r"0x[0-9a-f]+", "0xADDR", text)
    text = DATE.sub("DATE", text)
    text = re.sub(r"Python (\d+\.\d+\.\d+\S*): \S+", r"Python \1: EXE", text)
    return text.replace(STDLIB_RESET_LINE, OUR_RESET_LINE)


def both(case, **kw):
    ours = run([pytest.cgihost, REPORT, case], **kw)
    theirs = run([PYTHON, REPORT, case], **kw)
    return ours, theirs


def same_stdout(cgihost, script):
    """script run by cgihost and by python3 with the stdlib: cgihost's run
    succeeds and prints what python3's does; returns that output."""
    ours = run([cgihost, script])
    theirs = run([PYTHON, script])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    return ours.stdout


@pytest.fixture(autouse=True)
def _cgihost(cgihost):
    pytest.cgihost = cgihost


CRASHES = ["zero", "multiline", "chained", "oserror", "odd", "nosource", "lambda", "keyerror",
           "attrs", "recursion", "closure", "generator", "syntax", "classbody", "unicode", "form"]
CASES = (
    [f"text:{c}" for c in CRASHES]
    + [f"html:{c}" for c in CRASHES]
    + [f"default:{c}" for c in ("zero", "chained")]
    + [f"hook:{fmt}:{disp}:{log}:{c}"
       for fmt in ("html", "text") for disp in ("0", "1") for log in ("0", "1")
       for c in ("zero", "odd")]
    + ["broken:html", "broken:text", "handler", "uncaught:html", "uncaught:text", "lookup",
       "helpers", "args", "faults"]
)


@pytest.mark.parametrize("case", CASES)
def test_report_matches_stdlib(case):
    ours, theirs = both(case)
    assert theirs.stdout, theirs.stderr  # the oracle ran
    assert ours.returncode == theirs.returncode, ours.stderr
    assert normalize(ours.stdout.decode()) == normalize(theirs.stdout.decode())


def test_error_paths_do_not_leak(cgihost):
    """Each injected failure of a helper the reports call (17 of them), in
    windows of 20 failing reports: the allocated block count stays flat. A
    deliberately leaked reference on one error path shows up as 10 or 20."""
    r = run([cgihost, REPORT, "faultleak"], timeout=120)
    assert r.returncode == 0, r.stderr
    growth = dict(line.rsplit(" ", 1) for line in r.stdout.decode().splitlines())
    assert len(r.stdout.decode().splitlines()) == 17
    assert all(int(v) < 5 for v in growth.values()), r.stdout.decode()


def test_normalize_does_not_hide_real_differences():
    ours, theirs = both("text:zero")
    a = normalize(ours.stdout.decode())
    assert a != normalize(theirs.stdout.decode().replace("in inner(", "in Inner("))
    assert "Python 3." in a and "DATE" in a and "division by zero" in a


def test_uncaught_exception_goes_through_the_hook(cgihost):
    r = run([cgihost, REPORT, "uncaught:text"])
    out = r.stdout.decode()
    assert r.returncode == 1
    assert out.startswith("ZeroDivisionError\nPython ")
    assert "A problem occurred in a Python script." in out
    assert r.stderr == b""


LAZY = ["inspect", "linecache", "pydoc", "tokenize", "keyword", "tempfile", "time"]


@cold_only
def test_import_and_enable_import_nothing_heavy(cgihost, tmp_path):
    script = tmp_path / "lazy.py"
    script.write_text(
        "import sys\n"
        f"heavy = {LAZY!r}\n"
        "before = set(sys.modules)\n"
        "import cgitb\n"
        "cgitb.enable()\n"
        "cgitb.enable(display=0, logdir='/tmp', context=3, format='text')\n"
        "print(sorted(set(sys.modules) - before))\n"
        "print(sorted(m for m in heavy if m in sys.modules and m not in before))\n"
        "print(cgitb.__spec__.origin)\n"
        "try:\n"
        "    1/0\n"
        "except ZeroDivisionError:\n"
        "    cgitb.text(sys.exc_info())\n"
        "print(sorted(m for m in heavy if m in sys.modules and m not in before))\n"
        "import io\n"
        f"h = cgitb.Hook(file=io.StringIO(), logdir={str(tmp_path)!r})\n"
        "h.handle((KeyError, KeyError(), None))\n"
        "print(sorted(m for m in heavy if m in sys.modules and m not in before))\n")
    r = run([cgihost, script])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "['cgitb']"
    assert lines[1] == "[]"
    assert lines[2] == "built-in"
    # ...and the check can fail: a report does import them (time may have
    # been imported by the host before the script started).
    reported = set(LAZY) - {"tempfile"}
    assert lines[3] in (repr(sorted(reported)), repr(sorted(reported - {"time"})))
    # tempfile only when a report is logged to a file.
    assert lines[4] in (repr(sorted(LAZY)), repr(sorted(set(LAZY) - {"time"})))


def test_api_surface(cgihost, tmp_path):
    script = tmp_path / "api.py"
    script.write_text(
        "import inspect, io, sys, cgitb\n"
        "print(sorted(n for n in ('enable', 'handler', 'Hook', 'html', 'text', 'reset', 'small',\n"
        "      'strong', 'grey', 'lookup', 'scanvars', '__UNDEF__') if hasattr(cgitb, n)))\n"
        "print(type(cgitb.__UNDEF__).__name__, cgitb.__UNDEF__)\n"
        "print(hasattr(cgitb, '__all__'))\n"
        "h = cgitb.handler.__self__\n"
        "print(type(h) is cgitb.Hook, h.file is sys.stdout, vars(h)['format'], h.display,\n"
        "      h.logdir, h.context)\n"
        "cgitb.enable(0, '/x', 2, 'text')\n"
        "e = sys.excepthook\n"
        "print(type(e).__name__, e.display, e.logdir, e.context, e.format, e.file is sys.stdout)\n"
        "buf = io.StringIO()\n"
        "class Mine(cgitb.Hook):\n"
        "    def handle(self, info=None):\n"
        "        self.file.write('mine %s' % info[0].__name__)\n"
        "m = Mine(file=buf, format='text')\n"
        "m(KeyError, KeyError('k'), None)\n"
        "print(buf.getvalue(), m.format, m.file is buf)\n"
        "cgitb.Hook = Mine\n"
        "cgitb.enable()\n"
        "print(type(sys.excepthook).__name__)\n"
        "h2 = cgitb.Hook.__mro__[1](file=io.StringIO(), format='text')\n"
        "h2.extra = 1\n"
        "print(sorted(vars(h2)))\n")
    assert b"mine KeyError" in same_stdout(cgihost, script)


def test_handle_honours_a_replaced_reset(cgihost, tmp_path):
    script = tmp_path / "r.py"
    script.write_text(
        "import io, sys, cgitb\n"
        "cgitb.reset = lambda: 'RESET\\n'\n"
        "cgitb.text = lambda info, context=5: 'TEXT %s' % context\n"
        "buf = io.StringIO()\n"
        "cgitb.Hook(file=buf, format='html', context=9).handle((None, None, None))\n"
        "h = cgitb.Hook(file=buf, format='text', context=4)\n"
        "h.handle((KeyError, KeyError(), None))\n"
        "print(repr(buf.getvalue()[:6]), 'TEXT 4' in buf.getvalue())\n")
    assert same_stdout(cgihost, script) == b"'RESET\\n' True\n"


def test_handle_looks_up_its_globals_as_the_stdlib(cgihost, tmp_path):
    """handle()'s reset, html and text are cgitb.py's globals: one deleted is
    a NameError, raised before the try (the formatter is chosen outside it),
    and `(self.format=="html") and html or text` gives text for an html
    that is false. The formatter's look-up failing was caught and the plain
    traceback written; None for html was called, TypeError, also the plain
    traceback; a deleted reset was an AttributeError (review Z15)."""
    script = tmp_path / "g.py"
    script.write_text(
        "import io, sys, cgitb\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    info = sys.exc_info()\n"
        "def show(tag):\n"
        "    buf = io.StringIO()\n"
        "    try:\n"
        "        r = cgitb.Hook(file=buf).handle(info)\n"
        "    except Exception as e:\n"
        "        r = '%s: %s' % (type(e).__name__, e)\n"
        "    v = buf.getvalue()\n"
        "    print(tag, r, len(v) > 0, '<pre>' in v, 'A problem occurred' in v,\n"
        "          'summary=' in v)\n"
        "html, text, reset = cgitb.html, cgitb.text, cgitb.reset\n"
        "cgitb.html = None\n"
        "show('falsy')\n"
        "cgitb.html = 0; cgitb.text = lambda info, context: 'TEXT'\n"
        "show('falsy-text')\n"
        "del cgitb.html\n"
        "show('no-html')\n"
        "cgitb.html = html; del cgitb.text\n"
        "show('no-text')\n"
        "cgitb.text = text; del cgitb.reset\n"
        "show('no-reset')\n"
        "cgitb.reset = reset\n"
        "h = cgitb.Hook(file=io.StringIO(), format='text'); del cgitb.text\n"
        "try:\n"
        "    h.handle(info)\n"
        "except NameError as e:\n"
        "    print(e)\n")
    assert same_stdout(cgihost, script) == (
        b"falsy None True False True False\n"
        b"falsy-text None True False False False\n"
        b"no-html NameError: name 'html' is not defined True False False False\n"
        b"no-text None True False True True\n"
        b"no-reset NameError: name 'reset' is not defined False False False False\n"
        b"name 'text' is not defined\n")


def test_reports_call_their_helpers_as_the_stdlib_globals(cgihost, tmp_path):
    """html() and text() call scanvars, lookup, small, strong and grey as
    cgitb.py's globals: a script that replaced cgitb.lookup or
    cgitb.scanvars to keep a secret out of its reports had it shown, the C
    functions being called directly (review Z15)."""
    script = tmp_path / "s.py"
    script.write_text(
        "import sys, cgitb\n"
        "def f():\n"
        "    password = 'hun' + 'ter2'\n"
        "    raise ValueError(len(password))\n"
        "try:\n"
        "    f()\n"
        "except ValueError:\n"
        "    info = sys.exc_info()\n"
        "real = cgitb.lookup\n"
        "def lookup(name, frame, locals):\n"
        "    where, value = real(name, frame, locals)\n"
        "    return [where, '***' if name == 'password' else value]\n"
        "cgitb.lookup = lookup\n"
        "print('hunter2' in cgitb.html(info), 'hunter2' in cgitb.text(info))\n"
        "cgitb.lookup = real\n"
        "scan = cgitb.scanvars\n"
        "cgitb.scanvars = lambda reader, frame, locals: iter([('x', 'local', 1)] * 2)\n"
        "t = cgitb.text(info)\n"
        "print('hunter2' in cgitb.html(info), 'hunter2' in t, t.count('x = 1'))\n"
        "cgitb.scanvars = scan\n"
        # calls counted, not marks in the report: the exception's attributes
        # (each shown with the indent) are the interpreter's
        "n = {'s': 0, 'b': 0, 'g': 0}\n"
        "def mark(k):\n"
        "    def f(t):\n"
        "        n[k] += 1\n"
        "        return '[%s:%s]' % (k, t)\n"
        "    return f\n"
        "cgitb.small, cgitb.strong, cgitb.grey = mark('s'), mark('b'), mark('g')\n"
        "h = cgitb.html(info)\n"
        "print(n['s'], n['b'], n['g'], '[s:&nbsp;&nbsp;' in h)\n"
        "del cgitb.grey\n"
        "try:\n"
        "    cgitb.html(info)\n"
        "except NameError as e:\n"
        "    print(e)\n")
    assert same_stdout(cgihost, script) == (
        b"False False\nFalse False 2\n13 7 10 True\nname 'grey' is not defined\n")


def test_the_heading_escapes_with_the_html_escape_of_the_import(cgihost, tmp_path):
    """html()'s heading escapes the exception type with cgitb.py's
    html_escape, bound at its import: a replacement made before `import
    cgitb` is called, one made after is not. cgihost called the html.escape
    of the report's time, the other way round (review Z17)."""
    script = tmp_path / "s.py"
    script.write_text(
        "import sys, html\n"
        "class E(Exception): pass\n"
        "E.__name__ = 'E<1>'\n"
        "try:\n"
        "    raise E('x')\n"
        "except E:\n"
        "    info = sys.exc_info()\n"
        "real = html.escape\n"
        "html.escape = lambda s, quote=True: '[before:%s]' % s\n"
        "import cgitb\n"
        "html.escape = lambda s, quote=True: '[after:%s]' % s\n"
        "h = cgitb.html(info)\n"
        "print(h.count('[before:E<1>]'), h.count('[after:'))\n")
    assert same_stdout(cgihost, script) == b"1 0\n"
    script.write_text(
        "import sys\n"
        "class E(Exception): pass\n"
        "E.__name__ = 'E<\"&\\'>'\n"
        "try:\n"
        "    raise E('x')\n"
        "except E:\n"
        "    info = sys.exc_info()\n"
        "import cgitb, html\n"
        "html.escape = lambda s, quote=True: '[after:%s]' % s\n"
        "h = cgitb.html(info)\n"
        "print(h.count('<strong>E&lt;&quot;&amp;&#x27;&gt;</strong>'), h.count('[after:'))\n")
    assert same_stdout(cgihost, script) == b"1 0\n"


def test_hook_call_and_attribute_errors_as_stdlib(cgihost, tmp_path):
    """Hook.__call__ returns None whatever handle() returns, and messages
    name the class 'Hook' (found by a randomized differential run)."""
    script = tmp_path / "h.py"
    script.write_text(
        "import io, cgitb\n"
        "class H(cgitb.Hook):\n"
        "    def handle(self, info=None):\n"
        "        return 'from handle'\n"
        "print(repr(H(file=io.StringIO())(None, None, None)))\n"
        "try:\n"
        "    cgitb.Hook().nonexistent\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
        "print(repr(cgitb.Hook)[:20], cgitb.Hook.__name__, cgitb.Hook.__qualname__, cgitb.Hook.__module__)\n")
    out = same_stdout(cgihost, script)
    assert out.startswith(b"None\n'Hook' object has no attribute"), out



def test_the_plain_fallback_runs_with_the_formatters_exception_handled(cgihost, tmp_path):
    """handle()'s bare except: while it falls back to a plain traceback, the
    formatter's exception is the one being handled (sys.exc_info()), and an
    exception the fallback raises has it as __context__ (review finding)."""
    script = tmp_path / "fallback.py"
    script.write_text(
        "import cgitb, io, sys, traceback\n"
        "try:\n"
        "    cgitb.Hook(file=io.StringIO(), format='html').handle(('strtype', 'val', None))\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, type(e.__context__).__name__)\n"
        "orig = traceback.format_exception\n"
        "def spy(*a, **k):\n"
        "    print('handled:', type(sys.exc_info()[1]).__name__)\n"
        "    return orig(*a, **k)\n"
        "traceback.format_exception = spy\n"
        "cgitb.html = lambda info, context=5: 1 / 0\n"
        "try:\n"
        "    raise ValueError('x')\n"
        "except ValueError:\n"
        "    cgitb.Hook(file=io.StringIO(), format='html').handle()\n"
        "print('after:', sys.exc_info())\n")
    out = same_stdout(cgihost, script)
    assert out.startswith(b"AttributeError AttributeError\nhandled: ZeroDivisionError\n"), out

# ---- the AH02429 flaw: the report must be a valid CGI response ----------------

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class BadCGI(Exception):
    pass


def parse_cgi(raw):
    """Split a CGI response the way Apache's mod_cgi does
    (ap_scan_script_header_err_core): header lines up to the first empty
    line, each 'Name: value' with a token name, else AH02429 and a 500."""
    headers = []
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise BadCGI("premature end of script headers")
        line = raw[pos:nl].rstrip(b"\r").decode("latin-1")
        pos = nl + 1
        if line == "":
            break
        name, colon, value = line.partition(":")
        if not colon:
            raise BadCGI(f"malformed header line {line!r}")
        if not TOKEN.fullmatch(name):
            raise BadCGI(f"AH02429: response header name {name!r} contains invalid characters")
        headers.append((name.lower(), value.strip()))
    return headers, raw[pos:]


def content_type(headers):
    types = [v for n, v in headers if n == "content-type"]
    return types[-1] if types else None  # mod_cgi keeps the last one


@pytest.mark.parametrize("bad", [
    b"<!--: spam\nContent-Type: text/html\n\nx",
    b"Content-Type: text/html\nno colon\n\nx",
    b"Content-Type: text/html\n",
    b"Bad Name: v\n\nx",
])
def test_the_strict_parser_rejects_what_apache_rejects(bad):
    with pytest.raises(BadCGI):
        parse_cgi(bad)


def test_stdlib_cgitb_fails_the_parser_when_nothing_was_sent():
    r = run([PYTHON, SCRIPTS / "cgitb_before.py"])
    with pytest.raises(BadCGI, match="AH02429"):
        parse_cgi(r.stdout)


def check_report(body, exc_line):
    text = body.decode()
    # The visible report and the original traceback in the HTML comment.
    assert "A problem occurred in a Python script." in text
    assert "Traceback (most recent call last):" in text
    assert exc_line in text
    assert text.rstrip().endswith("-->")


def test_crash_before_any_output(cgihost):
    r = run([cgihost, SCRIPTS / "cgitb_before.py"], env={"REQUEST_METHOD": "GET"})
    headers, body = parse_cgi(r.stdout)
    assert headers == [("x-cgitb", "<!--"), ("content-type", "text/html")]
    check_report(body, "KeyError: 'size'")
    assert b"never reached" not in body


def test_crash_in_the_headers(cgihost):
    r = run([cgihost, SCRIPTS / "cgitb_headers.py"], env={"REQUEST_METHOD": "GET"})
    headers, body = parse_cgi(r.stdout)
    assert headers[:2] == [("status", "200 OK"), ("content-type", "text/plain")]
    assert content_type(headers) == "text/html"
    check_report(body, "ZeroDivisionError: division by zero")


def test_crash_in_the_middle_of_a_header_line(cgihost):
    r = run([cgihost, SCRIPTS / "cgitb_headers.py"],
            env={"REQUEST_METHOD": "GET", "QUERY_STRING": "crash=partial"})
    headers, body = parse_cgi(r.stdout)
    assert ("x-half-writx-cgitb", "<!--") in headers
    assert content_type(headers) == "text/html"
    check_report(body, "ZeroDivisionError: division by zero")


def test_crash_after_output(cgihost):
    r = run([cgihost, SCRIPTS / "cgitb_after.py"], env={"REQUEST_METHOD": "GET"})
    headers, body = parse_cgi(r.stdout)
    assert headers == [("content-type", "text/html")]
    text = body.decode()
    assert text.startswith("<html><head><title>after</title>")
    # The report follows the page; its header lines sit inside an HTML comment
    # that the first <body> line closes.
    i = text.index("X-Cgitb: <!--\nContent-Type: text/html\n\n<body")
    assert text.index("-->", i) < text.index("A problem occurred")
    check_report(body[len(text[:i].encode()):],
                 "TypeError: unsupported operand type(s) for +: 'int' and 'str'")


@pytest.mark.parametrize("script", ["cgitb_before.py", "cgitb_headers.py", "cgitb_after.py"])
def test_report_body_matches_stdlib(cgihost, script):
    """Apart from the reset line, the crash output is the stdlib's."""
    ours = run([cgihost, SCRIPTS / script])
    theirs = run([PYTHON, SCRIPTS / script])
    assert ours.returncode == theirs.returncode == 1
    assert normalize(ours.stdout.decode()) == normalize(theirs.stdout.decode())


def test_handler_keeps_the_stdout_of_the_import_when_the_script_replaces_it(cgihost, tmp_path):
    """cgitb.handler writes to the sys.stdout of `import cgitb`, also after a
    script replaced sys.stdout and sys.__stdout__, as in cgitb.py. (Through
    the server, which imported cgitb before it forked, the handler follows
    each request's new streams when the request starts: the same.)"""
    script = tmp_path / "srv.py"
    script.write_text(
        "import io, sys, cgitb\n"
        "mine = io.StringIO()\n"
        "sys.stdout = sys.__stdout__ = mine\n"
        "try:\n"
        "    1/0\n"
        "except ZeroDivisionError:\n"
        "    cgitb.handler()\n"
        "sys.stderr.write(repr((cgitb.handler.__self__.file is mine,\n"
        "                       'division by zero' in mine.getvalue())))\n")
    ours, theirs = run([cgihost, script]), run([PYTHON, "-W", "ignore", script])
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stderr == theirs.stderr == b"(False, False)"
    assert normalize(ours.stdout.decode()) == normalize(theirs.stdout.decode())
    assert "division by zero" in ours.stdout.decode()


@pytest.mark.parametrize("shebang", ["", "#!/usr/bin/python3 -u\n"])
def test_handler_holds_the_scripts_stdout_on_a_pipe_or_a_file(cgihost, tmp_path, shebang):
    """cgitb.handler's file is the script's sys.stdout before any report, as
    under python3, whatever stdout is. (Through the server, whose import made
    the handler, a file or a -u script gets streams made for the request.)"""
    script = tmp_path / "ident.py"
    script.write_text(shebang + "import cgitb, sys\nprint(cgitb.handler.__self__.file is sys.stdout)\n")
    r = run([cgihost, script])
    assert r.stdout == b"True\n", r.stderr
    out = tmp_path / "out.txt"
    with open(out, "wb") as f:
        r = subprocess.run([str(cgihost), str(script)], env=BASE_ENV, stdout=f, stderr=subprocess.PIPE,
                           timeout=60)
    assert r.returncode == 0 and out.read_bytes() == b"True\n", (out.read_bytes(), r.stderr)


def test_handler_keeps_a_stream_the_script_chose(cgihost, tmp_path):
    """Only the stream of the import is followed: a script that replaces
    sys.stdout alone, or sets the handler's file, gets the stdlib's behaviour."""
    script = tmp_path / "keep.py"
    script.write_text(
        "import io, sys, cgitb\n"
        "mine = io.StringIO()\n"
        "sys.stdout = io.StringIO()\n"
        "try:\n"
        "    1/0\n"
        "except ZeroDivisionError:\n"
        "    cgitb.handler()\n"
        "captured = sys.stdout\n"
        "sys.stdout = sys.__stdout__\n"
        "print(captured.getvalue() == '', cgitb.handler.__self__.file is sys.__stdout__)\n"
        "cgitb.handler.__self__.file = mine\n"
        "sys.__stdout__ = io.StringIO()\n"
        "try:\n"
        "    1/0\n"
        "except ZeroDivisionError:\n"
        "    cgitb.handler()\n"
        "sys.__stdout__ = sys.stdout\n"
        "print(cgitb.handler.__self__.file is mine, 'division by zero' in mine.getvalue())\n")
    ours = run([cgihost, script])
    theirs = run([PYTHON, script])
    assert ours.returncode == 0, ours.stderr
    out = ours.stdout.decode().splitlines()
    assert out[-2:] == ["True True", "True True"]
    assert normalize(ours.stdout.decode()) == normalize(theirs.stdout.decode())


def test_signatures_and_docstrings(cgihost):
    """inspect.signature() and __doc__ of the API as for cgitb.py (Hook.handle
    unbound shows self as positional-only, as every C method does)."""
    script = ROOT / "tests" / "scripts" / "cgitb_sig.py"
    assert b"enable (display=1, logdir=None, context=5, format='html')" in same_stdout(cgihost, script)


# ---- the same through the resident server -------------------------------------

# Starts the server under a subreaper that reaps what is orphaned below it
# (this container's pid 1 does not), as test_server.py does.
REAPER = r"""
import ctypes, os, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.environ.pop("LC_CTYPE", None)  # our own start's PEP 538 coercion: not the requests'
    os.execvp(sys.argv[1], sys.argv[1:])
status = 0
while True:
    try:
        p, st = os.wait()
    except ChildProcessError:
        break
    if p == pid:
        status = os.waitstatus_to_exitcode(st)
sys.exit(status if status >= 0 else 128 - status)
"""


def test_reports_through_the_resident_server(cgihost):
    """The server imports cgitb before it forks and gives each request new
    streams: the three crash scripts still answer with valid responses, and
    cgitb.handler writes to the request. Root never uses a server, so the
    server and the clients run as www-data."""
    import os
    import pathlib
    import pwd
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    base = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-cgitb-"))
    base.chmod(0o755)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("www-data")
        user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
        os.chown(base, pw.pw_uid, -1)  # the server makes its socket directory here
    else:
        user = []
    sock = base / "sock"
    scripts = base / "scripts"
    scripts.mkdir(mode=0o755)
    for name in ("cgitb_before.py", "cgitb_headers.py", "cgitb_after.py"):
        shutil.copy(SCRIPTS / name, scripts / name)
        (scripts / name).chmod(0o644)
    (scripts / "handler.py").write_text(
        "import cgitb, sys\n"
        "print('Content-Type: text/html')\n"
        "print()\n"
        "try:\n"
        "    1/0\n"
        "except ZeroDivisionError:\n"
        "    cgitb.handler()\n"
        "print('END', cgitb.handler.__self__.file is sys.stdout)\n")
    (scripts / "handler.py").chmod(0o644)
    (scripts / "wrap.py").write_text(HANDLER_AFTER_WRAP)
    (scripts / "wrap.py").chmod(0o644)
    env = {"CGIHOST_SOCKET_DIR": str(sock), "CGIHOST_NO_AUTOSTART": "1",
           "REQUEST_METHOD": "GET"}

    def ctl(command):  # not a CGI request: no GATEWAY_INTERFACE
        return subprocess.run([*user, str(cgihost), command], capture_output=True, timeout=30,
                              env={"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(sock)})

    log = open(base / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-c", REAPER, *user, str(cgihost), "serve", "--socket-dir", str(sock)],
        env={"PATH": "/usr/bin:/bin", **env}, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not (sock / "server.sock").exists() and server.poll() is None:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        assert server.poll() is None, (base / "server.log").read_text()

        def request(name, **extra):
            return run([*user, cgihost, scripts / name], env={**env, **extra})

        headers, body = parse_cgi(request("cgitb_before.py").stdout)
        assert content_type(headers) == "text/html"
        check_report(body, "KeyError: 'size'")
        headers, body = parse_cgi(request("cgitb_headers.py", QUERY_STRING="crash=partial").stdout)
        assert ("x-half-writx-cgitb", "<!--") in headers
        check_report(body, "ZeroDivisionError: division by zero")
        headers, body = parse_cgi(request("cgitb_after.py").stdout)
        assert body.startswith(b"<html><head><title>after</title>")
        r = request("handler.py")
        headers, body = parse_cgi(r.stdout)
        assert b"division by zero" in body and body.rstrip().endswith(b"END True"), r.stdout
        r = request("wrap.py")  # the handler of the script's import, after its wrapper
        assert r.stdout.startswith(b"Content-Type: text/html\n\nX-Cgitb: <!--\n"), r.stdout
        assert r.stdout.endswith(b"True &#20013; end\n"), r.stdout
        # They did go through the server, which counts a request once it has
        # reaped its child: its client may have ended just before.
        deadline = time.monotonic() + 10
        while True:
            st = ctl("status")
            status = (st.stdout + st.stderr).decode()
            if "5 requests served" in status or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert "5 requests served" in status, status
    finally:
        ctl("stop")
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
        log.close()
        # Nothing of ours is left: pool children name the socket directory.
        for p in pathlib.Path("/proc").iterdir():
            try:
                if p.name.isdigit() and str(sock).encode() in (p / "cmdline").read_bytes():
                    os.kill(int(p.name), signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)


ODD_ETYPE = r"""
import cgitb
class F:
    __class__ = type  # isinstance(F(), type) is True; type(F()) is not
try:
    print(len(cgitb.text((F(), ValueError("x"), None))))
except Exception as e:
    print(type(e).__name__, e)
"""


def test_an_etype_that_says_it_is_a_type_is_one(cgihost, tmp_path):
    """cgitb.py asks isinstance(etype, type), which __class__ answers."""
    script = tmp_path / "odd_etype.py"
    script.write_text(ODD_ETYPE)
    assert same_stdout(cgihost, script) == b"AttributeError 'F' object has no attribute '__name__'\n"


READER = r"""
import sys, cgitb
cleared = []
def prof(frame, event, arg):
    if event == "c_call" and getattr(arg, "__name__", "") == "reader" and \
            isinstance(getattr(arg, "__self__", None), list):
        arg.__self__.clear()
        cleared.append(1)
try:
    1/0
except ZeroDivisionError:
    ei = sys.exc_info()
sys.setprofile(prof)
print(sys.version_info >= (3, 12))
try:
    cgitb.text(ei)
    print("report", bool(cleared))
except RuntimeError as e:
    print("RuntimeError", e)
"""


def test_a_reader_whose_state_python_changed_raises(cgihost, tmp_path):
    """html()'s and text()'s reader keeps its state in a list that Python code
    can reach (reader.__self__, from a profile function): emptied, it raised
    nothing and read past the list's end (a crash). cgitb.py's reader is a
    Python closure that no profile function sees as a C call. (From 3.12
    tokenize calls it from C, where no profile function sees it either.)"""
    script = tmp_path / "reader.py"
    script.write_text(READER)
    r = run([cgihost, script])
    assert r.returncode == 0, r.stderr
    assert r.stdout in (b"False\nRuntimeError cgitb: the reader's state was changed\n",
                        b"True\nreport False\n")


EMFILE = r"""
import cgitb, resource, sys
cgitb.enable(format=sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
files = []
while True:
    files.append(open(__file__))
"""


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_a_report_with_every_file_descriptor_in_use_is_the_stdlibs(cgihost, tmp_path, fmt):
    """cgitb.py imported what a report needs with the module; this one at the
    first report, which then cannot open a file: the plain traceback that
    cgitb.py falls back on is made without an import."""
    script = tmp_path / "emfile.py"
    script.write_text(EMFILE)
    ours, theirs = run([cgihost, script, fmt]), run([PYTHON, "-W", "ignore", script, fmt])
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr == theirs.stderr == b""
    assert normalize(ours.stdout.decode()) == normalize(theirs.stdout.decode())
    assert "<pre>Traceback (most recent call last):" in ours.stdout.decode()


def test_a_report_after_the_script_emptied_sys_path_is_a_plain_traceback(cgihost, tmp_path):
    """No module can be imported for the report: cgitb.py, which has its
    modules, gives the full report; cgihost the plain traceback, not an
    empty page and "Error in sys.excepthook" (README)."""
    script = tmp_path / "nopath.py"
    script.write_text("import cgitb\ncgitb.enable()\nimport sys\nsys.path = []\n"
                      "class Oops(Exception):\n    pass\ndef f():\n    raise Oops('a < b')\nf()\n")
    r = run([cgihost, script])
    assert r.returncode == 1 and r.stderr == b"", r.stderr
    out = r.stdout.decode()
    assert out.startswith("X-Cgitb: <!--\nContent-Type: text/html\n"), out
    assert out.endswith("<pre>Traceback (most recent call last):\n"
                        f'  File "{script}", line 9, in &lt;module&gt;\n    f()\n'
                        f'  File "{script}", line 8, in f\n    raise Oops(\'a &lt; b\')\n'
                        "Oops: a &lt; b\n</pre>\n"), out


DEEP = """import sys, cgitb
cgitb.enable(format=sys.argv[1], **({"logdir": sys.argv[3], "display": 0} if sys.argv[3:] else {}))
def f(n):
    if n <= 0:
        try:
            {}["k"]
        except KeyError:
            sys.excepthook(*sys.exc_info())
        return
    f(n - 1)
if sys.argv[2] == "low":
    sys.setrecursionlimit(60)
    1/0
f(int(sys.argv[2]))
"""


@pytest.mark.parametrize("logged", [False, True], ids=["shown", "logged"])
@pytest.mark.parametrize("fmt", ["html", "text"])
@pytest.mark.parametrize("depth", ["low", "955", "970"])
def test_a_report_made_deep_in_the_stack_is_the_stdlibs(cgihost, tmp_path, fmt, depth, logged):
    """cgitb.py imported inspect, pydoc, tempfile and the rest at the top of
    the script; the first report here imports them as deep as the handler
    runs: a handler called 955 frames down, or under a recursion limit of
    60, still gives cgitb.py's report, not the plain traceback of a
    RecursionError, shown or in a logdir's file (970 frames down, where
    only tempfile's import for the file failed: a log of RecursionError)."""
    script = tmp_path / "deep.py"
    script.write_text(DEEP)
    outs = []
    for who, argv in (("ours", [cgihost]), ("theirs", [PYTHON, "-W", "ignore"])):
        logdir = tmp_path / who
        logdir.mkdir()
        r = run([*argv, script, fmt, depth, *([logdir] if logged else [])])
        out = r.stdout.decode().replace(str(logdir), "LOGDIR")
        logs = [f.read_text() for f in logdir.iterdir()]
        out = re.sub(r"LOGDIR/tmp\w+\.", "LOGDIR/tmpNAME.", out)
        outs.append((r.returncode, normalize(out), [normalize(t) for t in logs]))
    ours, theirs = outs
    if not logged:  # (970 frames down cgitb.py's shown report fails too)
        assert "<pre>Traceback" not in theirs[1] or depth == "970"
    else:
        assert len(theirs[2]) == 1 and "KeyError" in theirs[2][0] or depth == "low", theirs
    assert ours == theirs


def test_handler_given_an_exception_not_its_info_fails_as_the_stdlibs(cgihost, tmp_path):
    """cgitb.handler(e), an easy mistake: the TypeError of cgitb.py's
    format_exception(*info), with the report's as its context."""
    script = tmp_path / "handler_e.py"
    script.write_text(
        "import cgitb\ntry:\n    1/0\nexcept ZeroDivisionError as e:\n    try:\n"
        "        cgitb.handler(e)\n    except TypeError as t:\n"
        "        print('TypeError', t, '|', type(t.__context__).__name__, t.__context__)\n")
    ours, theirs = run([cgihost, script]), run([PYTHON, "-W", "ignore", script])
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert normalize(ours.stdout.decode()) == normalize(theirs.stdout.decode())
    assert "must be an iterable, not ZeroDivisionError" in ours.stdout.decode()


def test_a_reader_whose_items_python_replaces_during_a_call_holds(cgihost):
    """The reader's items replaced while it calls highlight's __setitem__
    (tests/scripts/cgitb_reader_replaced.py): held, not read after their
    free (a crash)."""
    r = run([cgihost, SCRIPTS / "cgitb_reader_replaced.py"])
    assert (r.returncode, r.stdout, r.stderr) == (0, b"report\n", b"")


CHAINED = """
def f():
    try:
        {}['k']
    except KeyError as e:
        e.add_note("a note")
        raise ValueError("bad <x> & y") from e
"""


def test_the_plain_traceback_without_imports_is_format_exceptions(cgihost, tmp_path):
    """The fallback made without an import (sys.path emptied) shows chained
    exceptions and notes as traceback.format_exception(), here computed by
    python3 for the same code, escaped as cgitb.py escapes it."""
    ours_script = tmp_path / "chained.py"
    ours_script.write_text("import cgitb, sys\ncgitb.enable(format='text')\nsys.path[:] = []\n"
                           + CHAINED + "f()\n")
    ref_script = tmp_path / "ref.py"
    ref_script.write_text(
        "import pydoc, sys, traceback\n" + "\n" * 2 + CHAINED +
        "try:\n    f()\nexcept ValueError:\n"
        "    doc = ''.join(traceback.format_exception(*sys.exc_info()))\n"
        "    sys.stdout.write('<pre>' + pydoc.html.escape(doc) + '</pre>\\n')\n")
    ours, ref = run([cgihost, ours_script]), run([PYTHON, ref_script])
    assert ours.returncode == 1 and ref.returncode == 0, (ours.stderr, ref.stderr)
    # the same code at the same lines; only the file and the caller differ
    want = ref.stdout.decode().replace(str(ref_script), str(ours_script))
    want = re.sub(r'  File "[^"]+", line \d+, in &lt;module&gt;\n    f\(\)\n', "", want)
    got = re.sub(r'  File "[^"]+", line \d+, in &lt;module&gt;\n    f\(\)\n', "", ours.stdout.decode())
    assert got == want, (got, want)
    assert "The above exception was the direct cause" in got and "a note" in got


NBSP_CRASH = ("import cgitb\ncgitb.enable()\nprint('Content-Type: text/html\\n')\ndef f(x):\n"
              "\u00a0\u00a0\u00a0\u00a0y = x * len('\u00a0')\n"
              "\u00a0\u00a0\u00a0\u00a0return y / 0  # a\u00a0b\nf('1')\n")


def test_a_report_shows_no_break_spaces_as_a_copy_fixed_by_hand_shows_them(cgihost, tmp_path):
    """A script cgihost ran for its no-break spaces crashes: the HTML report
    is the one python3 gives a copy fixed by hand (spaces for the no-break
    spaces of the indentation), "&nbsp;" in both; the no-break spaces kept
    in its string and comment are "&nbsp;" too, not bytes a page without a
    charset shows as "\u00c2\u00a0". The plain traceback in the closing HTML
    comment keeps them."""
    script = tmp_path / "nb.py"
    script.write_text(NBSP_CRASH)
    ours = run([cgihost, script])
    script.write_text(NBSP_CRASH.replace("\n\u00a0\u00a0\u00a0\u00a0", "\n    "))
    theirs = run([PYTHON, script])
    assert ours.returncode == theirs.returncode == 1
    a, b = normalize(ours.stdout.decode()), normalize(theirs.stdout.decode())
    report, _, tail = a.partition("<!-- The above is")
    assert "\u00a0" not in report and "#&nbsp;a&nbsp;b<br>" in report
    # (the plain traceback is the interpreter's: from 3.13 it keeps the
    # indentation it cannot dedent, no-break spaces)
    assert "return y / 0  # a\u00a0b" in tail
    assert report == b.partition("<!-- The above is")[0].replace(
        "#&nbsp;a\u00a0b<br>", "#&nbsp;a&nbsp;b<br>").replace("len('\u00a0')", "len('&nbsp;')")


HOOK_FILE_AFTER_SETATTRS = """import cgitb, sys, io
class S(io.StringIO): pass
class H(cgitb.Hook):
    def __setattr__(self, k, v):
        if k == "display":
            sys.stdout = S()
        object.__setattr__(self, k, v)
old = sys.stdout
sys.stdout = io.StringIO()
h = H()
r = type(h.file).__name__
sys.stdout = old
print("hook file:", r)
"""

EXECUTABLE_AFTER_SPLIT = """import cgitb, sys
n = [0]
class V(str):
    def split(self, *a):  # a new, longer sys.executable at each call
        n[0] += 1
        sys.executable = "NEW-" + "e" * (100 * n[0])
        return str.split(self, *a)
sys.executable = "".join(["OLD-", "o" * 50])
sys.version = V(sys.version)
try:
    1/0
except ZeroDivisionError:
    info = sys.exc_info()
for report in (cgitb.text(info, 1), cgitb.html(info, 1)):
    print("NEW-e" in report, "OLD-o" in report)
"""


# PYTHONMALLOC=debug: a read after free reads 0xdd bytes, not what was there
@pytest.mark.parametrize("text,env", [(HOOK_FILE_AFTER_SETATTRS, None),
                                      (EXECUTABLE_AFTER_SPLIT, {"PYTHONMALLOC": "debug"})],
                         ids=["hook-file", "executable"])
def test_sys_attributes_are_read_when_the_stdlib_reads_them(cgihost, tmp_path, text, env):
    """Hook() reads sys.stdout after setting display, logdir and context, and
    html()/text() read sys.executable after sys.version.split(), as cgitb.py
    does; Python code run meanwhile may replace them. Held borrowed across
    those calls, the old object was used after its free (a crash)."""
    script = tmp_path / "s.py"
    script.write_text(text)
    ours, theirs = run([cgihost, script], env=env), run([PYTHON, "-W", "ignore", script], env=env)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), ours.stderr
    assert ours.stdout in (b"hook file: S\n", b"True False\n" * 2)


HANDLER_AFTER_WRAP = """import io, sys
sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="latin-1", errors="xmlcharrefreplace")
captured = io.StringIO()
import cgitb
print("Content-Type: text/html")
print()
try:
    "\\u00e9\\u4e2d" + 1
except TypeError:
    cgitb.handler()
print(cgitb.handler.__self__.file is sys.stdout, "\\u4e2d end")
"""


def test_handler_takes_the_stdout_of_the_scripts_import(cgihost, tmp_path):
    """A script that replaces sys.stdout (a wrapper with its own encoding, a
    common fix for Python 3 CGI) before `import cgitb`: cgitb.handler writes
    to that stream, as cgitb.py's, made at the import. Through the server,
    which had imported cgitb before the script started, the handler wrote to
    the request's first stream: the report came before the headers buffered
    in the wrapper, in another encoding (review Z4)."""
    script = tmp_path / "wrap.py"
    script.write_text(HANDLER_AFTER_WRAP)
    ours, theirs = run([cgihost, script]), run([PYTHON, "-W", "ignore", script])
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert normalize(ours.stdout.decode("latin-1")) == normalize(theirs.stdout.decode("latin-1"))
    assert ours.stdout.startswith(b"Content-Type: text/html\n\nX-Cgitb: <!--\n"), ours.stdout
    assert ours.stdout.endswith(b"True &#20013; end\n"), ours.stdout


FORMAT_COMPARED = """import cgitb, io, os, sys, tempfile
class Alternating(str):  # == "html" true, false, true, ...
    n = 0
    def __eq__(self, other):
        Alternating.n += 1
        return Alternating.n % 2 == 1
    __hash__ = str.__hash__
class Two(str):  # == gives 2: an index out of ['.txt', '.html']
    def __eq__(self, other):
        return 2
    __hash__ = str.__hash__
for fmt in (Alternating("html"), Two("html")):
    d = tempfile.mkdtemp(dir=os.path.dirname(__file__))  # (the test's tmp_path, not /tmp)
    buf = io.StringIO()
    try:
        1/0
    except ZeroDivisionError:
        try:
            cgitb.Hook(file=buf, format=fmt, logdir=d, context=0).handle()
        except Exception as e:
            print(type(e).__name__, e)
    out = buf.getvalue()
    print(Alternating.n, out.startswith(cgitb.reset()), 'summary=' in out, "<p>" + d in out,
          sorted(os.path.splitext(f)[1] for f in os.listdir(d)))
"""


def test_handle_compares_the_format_at_each_use_as_the_stdlib(cgihost, tmp_path):
    """cgitb.py's handle() reads self.format and compares it with "html" four
    times: for reset(), the formatter, the log file's suffix (the result as
    an index into ['.txt', '.html']) and the message's form. Compared once
    and taken as a truth value, a format with an odd __eq__ got another
    report, and an IndexError was a '.html' file (review Z4)."""
    script = tmp_path / "fmt.py"
    script.write_text(FORMAT_COMPARED)
    assert same_stdout(cgihost, script) == (
        b"4 True False False ['.html']\nIndexError list index out of range\n4 True True False []\n")
    assert sum(p.is_dir() for p in tmp_path.iterdir()) == 4  # two logdirs a run, none left in /tmp


NO_MEMORY = r"""
import sys, warnings
import _testcapi
warnings.simplefilter("ignore")
import cgitb
try:
    1 / 0
except ZeroDivisionError:
    info = sys.exc_info()
for fn in (cgitb.html, cgitb.text):
    fn(info)  # what it imports, imported once
    for start in range(200):
        _testcapi.set_nomemory(start, start + 1)
        try:
            fn(info)
        except MemoryError:
            pass
        except BaseException as e:
            _testcapi.remove_mem_hooks()
            print(fn.__name__, start, type(e).__name__, e)
        finally:
            _testcapi.remove_mem_hooks()
print("done")
"""


@pytest.mark.skipif(os.environ.get("MATRIX_PY_VERSION", "3.11") in ("3.12", "3.13"),
                    reason="pyenv's CPython 3.12.1 and 3.13.0 crash when an allocation fails in "
                    "inspect's own Python code, without cgihost too")
def test_a_failed_allocation_reading_sys_is_a_memory_error(cgihost, tmp_path):
    """Each allocation of html() and text() failed in turn: a MemoryError,
    as under python3. Reading sys.version or sys.executable through
    PySys_GetObject(), which hides its error, gave AttributeError: module
    'sys' has no attribute 'version'."""
    script = tmp_path / "nomem.py"
    script.write_text(NO_MEMORY)
    assert same_stdout(cgihost, script) == b"done\n"


def test_a_logdir_file_that_fdopen_closed_is_not_closed_again(cgihost, tmp_path):
    """When os.fdopen() of the log file failed, cgihost closed the file's fd
    so as not to leak it, but a failing fdopen() may have closed it itself
    (its FileIO had taken it), and the number was another file's by then:
    that file was closed behind its owner's back. cgitb.py closes nothing."""
    script = tmp_path / "fdopen.py"
    script.write_text(
        "import os, tempfile, cgitb\n"
        "held = []\n"
        "def fdopen(fd, mode):\n"
        "    os.close(fd)\n"
        "    held.append(open(os.devnull))  # takes the number\n"
        "    raise LookupError('no such encoding')\n"
        "os.fdopen = fdopen\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    cgitb.Hook(display=0, logdir=tempfile.mkdtemp(), format='text',\n"
        "               file=open(os.devnull, 'w')).handle()\n"
        "os.fstat(held[0].fileno())\n"
        "print('held file open')\n")
    assert same_stdout(cgihost, script) == b"held file open\n"
