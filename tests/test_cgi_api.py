"""Differential tests of the cgi module API outside multipart bodies.

Each case of tests/scripts/api_cases.py runs once under /usr/bin/python3 with
the stdlib cgi.py and once under cgihost with the C cgi; the canonical dumps
they print (values, types, exception types and messages) must be equal.
"""
import ast
import os
import re

import pytest

from conftest import PYTHON, ROOT, run

CASES_SCRIPT = ROOT / "tests" / "scripts" / "api_cases.py"
NAMES = re.findall(r"^def case_(\w+)\(", CASES_SCRIPT.read_text(), flags=re.M)

POST_BODY = b"p=1&q=%3Cx%3E&p=2"
POST_ENV = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(POST_BODY))}

# Cases driven by the process environment and stdin: (env, stdin).
CASE_ENV = {
    "parse_stdin_post": (dict(POST_ENV, QUERY_STRING="g=0"), POST_BODY),
    "parse_default_environ": ({"REQUEST_METHOD": "GET"}, b""),
    "test_default_environ": ({"REQUEST_METHOD": "GET", "QUERY_STRING": "t=1&u=<&>"}, b""),
    "test_post_maxlen": (dict(POST_ENV, CONTENT_LENGTH="62"), b"x=" + b"y" * 60),
    "fs_stdin_default": (dict(POST_ENV, QUERY_STRING="g=0"), POST_BODY),
    "fs_default_environ": ({"REQUEST_METHOD": "GET", "QUERY_STRING": "d=1&d=2"}, b""),
    "default_environ_bound_at_import": ({"REQUEST_METHOD": "GET", "QUERY_STRING": "orig=1"}, b""),
    "print_environ_default": ({"ZZ": "<&>", "AA": "x"}, b""),
}

# Under another CPython (tests/matrix/run says which), a traceback's caret
# lines are that interpreter's: 3.13 marks a whole call where 3.11 marks none,
# 3.9 one character where 3.11 marks the expression. Only they are left out.
OTHER_PYTHON = os.environ.get("MATRIX_PY_VERSION", "3.11") != "3.11"


def normalize(out: bytes) -> str:
    s = re.sub(r"0x[0-9a-f]+", "0xADDR", out.decode("utf-8", "backslashreplace"))
    return re.sub(r"(?m)^[ \t]*[~^][~^ \t]*\n", "", s) if OTHER_PYTHON else s


def run_case(interp, name):
    env, stdin = CASE_ENV.get(name, ({}, b""))
    env = dict(env, API_CASE=name)
    return run([interp, CASES_SCRIPT], env=env, stdin=stdin, cwd=ROOT)


def test_case_list_is_large():
    assert len(NAMES) >= 60, len(NAMES)
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_api_case(cgihost, name):
    want = run_case(PYTHON, name)
    got = run_case(cgihost, name)
    assert want.returncode == 0, want.stderr.decode()
    assert got.returncode == 0, got.stderr.decode()
    assert normalize(got.stdout) == normalize(want.stdout)
    assert want.stdout.strip(), "the case printed nothing"


NO_HEAVY = r"""
import io, sys
import cgi
cgi.parse(io.BytesIO(b""), {"QUERY_STRING": "a=1"})
cgi.parse(io.BytesIO(b"a=1"), {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3",
          "CONTENT_TYPE": "application/x-www-form-urlencoded"})
form = cgi.FieldStorage(environ={"QUERY_STRING": "a=1&b=<2>"})
out = sys.stdout
sys.stdout = io.StringIO()
cgi.print_form(form)
cgi.print_environ({"A": "<b>"})
cgi.print_environ()
cgi.print_directory()
cgi.print_arguments()
cgi.print_environ_usage()
cgi.logfp = io.StringIO()
cgi.dolog("x %s", 1)
cgi.nolog("x")
cgi.closelog()
cgi.logfp = io.StringIO()
cgi.log = cgi.dolog
cgi.log("y")
fs = cgi.FieldStorage(fp=io.BytesIO(b"x" * 5000), environ={"REQUEST_METHOD": "POST",
                      "CONTENT_TYPE": "text/plain"})
fs.value
sys.stdout = out
heavy = sorted(m for m in ("email", "urllib", "urllib.parse", "tempfile", "re", "locale",
                           "html", "warnings", "traceback")
               if m in sys.modules)
print(heavy)
"""


def test_functions_import_nothing_heavy(cgihost, tmp_path):
    """Importing cgi and using the API loads none of email, urllib, tempfile,
    re, locale, html, warnings. Not covered: print_exception and test(), which
    import traceback (and so re) as cgi.py does, and initlog, which warns."""
    script = tmp_path / "noheavy.py"
    script.write_text(NO_HEAVY)
    r = run([cgihost, script], env={"REQUEST_METHOD": "GET", "QUERY_STRING": "z=1"})
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() == "[]"


def test_stdlib_imports_them(tmp_path):
    """The check above can fail: the stdlib's cgi loads those modules."""
    script = tmp_path / "noheavy.py"
    script.write_text(NO_HEAVY)
    r = run([PYTHON, script], env={"REQUEST_METHOD": "GET", "QUERY_STRING": "z=1"})
    assert r.returncode == 0, r.stderr.decode()
    assert "email" in r.stdout.decode()


ENVIRON_FIRST_USE = r"""
import cgi, os
print(cgi.FieldStorage().list)
os.environ["QUERY_STRING"] = "changed=1"
os.environ = {"REQUEST_METHOD": "GET", "QUERY_STRING": "rebound=1"}
print(cgi.FieldStorage().list, cgi.parse())
import io, sys
sys.stdout = buf = io.StringIO()
cgi.print_environ()
sys.stdout = sys.__stdout__
print("rebound" in buf.getvalue(), "changed=1" in buf.getvalue())
"""


LOCALE_QS = r"""
import cgi, sys
def show(f):
    try:
        r = f()
    except Exception as e:
        r = f"{type(e).__name__}: {e}"
    print(ascii(r))
show(lambda: cgi.FieldStorage().getvalue("q"))
show(lambda: cgi.FieldStorage(environ={"QUERY_STRING": "a=\xe9\x00b=\u20ac&c=\udcff"}).list)
show(lambda: cgi.FieldStorage(environ={"QUERY_STRING": b"a=1"}).list)
class S(str):
    def encode(self, *a):
        return b"over=" + str.encode(self, *a)
show(lambda: cgi.FieldStorage(environ={"QUERY_STRING": S("a=1")}).list)
show(lambda: cgi.FieldStorage(environ={"QUERY_STRING": S("a=\xe9")}).list)
show(lambda: sys.flags.utf8_mode)
"""


@pytest.mark.parametrize("env", [{"LC_ALL": "C"}, {"LC_ALL": "POSIX"}, {"LANG": "C"},
                                 {"LC_ALL": "C", "PYTHONUTF8": "0"}, {"LC_ALL": "C.UTF-8"},
                                 {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "0"}, {"LC_ALL": "xx_YY.UTF-8"}],
                         ids=lambda e: " ".join(f"{k}={v}" for k, v in e.items()))
def test_a_query_string_that_is_not_ascii_is_encoded_as_cgi_py_does(cgihost, tmp_path, env):
    """cgi.py encodes the query string with locale.getpreferredencoding():
    UTF-8 in the UTF-8 mode that python3 turns on under a C or POSIX locale
    (a raw UTF-8 query string under LC_ALL=C raised UnicodeEncodeError, the
    C library's locale codec being ASCII), else the locale's codec, with its
    messages; a str subclass's encode() is called."""
    script = tmp_path / "qs.py"
    script.write_text(LOCALE_QS)
    env = dict(env, REQUEST_METHOD="GET", QUERY_STRING="q=caf\xe9")
    want = run([PYTHON, "-W", "ignore", script], env=env)
    got = run([cgihost, script], env=env)
    assert want.returncode == 0, want.stderr
    assert got.stdout == want.stdout and got.returncode == 0, (got.stdout, want.stdout, got.stderr)
    assert want.stdout.count(b"caf") == 1


def test_the_default_environ_is_the_os_environ_cgi_found(cgihost, tmp_path):
    """cgi.py binds os.environ as its default environ when imported. Without
    site, cgihost's start does not load os: cgi binds os.environ at its first
    use then (the api case default_environ_bound_at_import has os loaded
    first). A script rebinding os.environ afterwards changes nothing."""
    script = tmp_path / "environ.py"
    script.write_text(ENVIRON_FIRST_USE)
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "orig=1"}
    theirs = run([PYTHON, "-W", "ignore", script], env=env)
    ours = run([cgihost, script], env=env)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == theirs.stdout
    assert b"[MiniFieldStorage('changed', '1')] {'changed': ['1']}" in ours.stdout


TEMPDIR_EACH_CALL = r"""
import cgi, io, os, pathlib, sys, tempfile
body = (b'--B\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n\r\n'
        + b"x" * 1500 + b'\r\n--B\r\nContent-Disposition: form-data; name="t"\r\n\r\n'
        + b"y\r\n" * 600 + b'\r\n--B--\r\n')
env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
       "CONTENT_LENGTH": str(len(body))}
base = sys.argv[1]
def where(label):
    try:
        form = cgi.FieldStorage(fp=io.BytesIO(body), environ=env)
        dirs = [os.path.dirname(os.readlink("/proc/self/fd/%d" % p.file.fileno()))
                for p in form.list]
        print(label, [d.replace(base, "BASE") for d in dirs])
    except Exception as e:
        print(label, type(e).__name__, str(e).split(": ")[0])
where("default")
for label, td in [("str", base + "/a"), ("None", None), ("Path", pathlib.Path(base) / "b"),
                  ("bytes", (base + "/a").encode()), ("None again", None), ("int", 5),
                  ("gone", base + "/gone"), ("back to None", None), ("empty", "")]:
    if td == "":
        os.chdir(base + "/b")  # "": the working directory, as os.path.join("", name) has it
    tempfile.tempdir = td
    where(label)
"""


def test_make_file_honours_tempfile_tempdir_at_each_call(cgihost, tmp_path):
    """make_file()'s TemporaryFile() goes where tempfile.tempdir says at that
    call, read as tempfile reads it (str, bytes, os.PathLike); set back to
    None, the default directory again (cgihost kept the last str it saw, and
    took a Path or bytes for None); "" is the working directory (cgihost
    made its file in /)."""
    for d in ("a", "b", "default"):
        (tmp_path / d).mkdir()
    script = tmp_path / "tempdir.py"
    script.write_text(TEMPDIR_EACH_CALL)
    env = {"TMPDIR": str(tmp_path / "default")}
    theirs = run([PYTHON, "-W", "ignore", script, tmp_path], env=env)
    ours = run([cgihost, script, tmp_path], env=env)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == theirs.stdout
    assert b"None again ['BASE/default', 'BASE/default']" in ours.stdout
    assert b"empty ['BASE/b', 'BASE/b']" in ours.stdout


MAKE_FILE_FAILS = r"""
import codecs, cgi, io, os, threading
def search(name):  # a text codec without incremental ones: TextIOWrapper refuses it
    if name == "noinc":
        ci = codecs.lookup("utf-8")
        return codecs.CodecInfo(ci.encode, ci.decode, name="noinc")
codecs.register(search)
env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "0"}
fs = cgi.FieldStorage(fp=io.BytesIO(b""), environ=env)
before = sorted(os.listdir("/proc/self/fd"))
for enc in ("noinc", 123):  # TextIOWrapper's refusal; open()'s, before any FileIO
    fs.encoding = enc
    try:
        fs.make_file()
    except TypeError as e:
        print(e)
print("fds as before", sorted(os.listdir("/proc/self/fd")) == before)
fs.encoding = "noinc"
stolen, stop = [], False
def other_thread():
    while not stop:
        fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.close(fd)
        except OSError:  # closed already, by someone else
            stolen.append(fd)
t = threading.Thread(target=other_thread, daemon=True)
t.start()
failed = 0
try:
    for i in range(20000):
        try:
            fs.make_file()
        except TypeError:
            pass
        except OSError:  # its own file closed by the other thread
            failed += 1
finally:
    stop = True
t.join(10)
print("stolen", len(stolen), "failed", failed)
"""


def test_make_file_that_fails_closes_only_its_own_file(cgihost, tmp_path):
    """When _io.open() failed on make_file()'s temporary file once its
    FileIO had the fd (an encoding that TextIOWrapper refuses), it closed
    the fd, and cgihost closed the number again: in a script with threads,
    another thread's file opened meanwhile (closed behind its back, or its
    next file closed as the temporary one). Now the fd is closed only if it
    is still the temporary file; one open() refused is closed, not leaked."""
    script = tmp_path / "make_file_fails.py"
    script.write_text(MAKE_FILE_FAILS)
    theirs = run([PYTHON, "-W", "ignore", script], timeout=120)
    ours = run([cgihost, script], timeout=120)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == theirs.stdout
    assert ours.stdout.endswith(b"fds as before True\nstolen 0 failed 0\n"), ours.stdout


FUNCTION_SIGNATURES = r"""
import cgi, inspect
for n in ["parse_multipart", "parse_header", "valid_boundary", "print_exception", "print_form",
          "print_directory", "print_arguments", "print_environ_usage", "initlog", "dolog", "nolog",
          "closelog"]:
    f = getattr(cgi, n)
    print(n, inspect.signature(f), repr(f.__doc__))
"""


def test_module_functions_have_cgi_pys_signatures(cgihost, tmp_path):
    """inspect.signature() and help() show cgi.py's parameters; the
    docstrings are unchanged by it. (parse, test and print_environ, whose
    environ defaults to os.environ, have none: a C function's text signature
    holds constants only.)"""
    script = tmp_path / "sigs.py"
    script.write_text(FUNCTION_SIGNATURES)
    theirs = run([PYTHON, "-W", "ignore", script])
    ours = run([cgihost, script])
    assert theirs.returncode == 0 and ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == theirs.stdout


METHODS = r"""
import cgi, inspect, re
FS = cgi.FieldStorage
form = FS(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": "n=x"})
clean = lambda s: re.sub(r"0x[0-9a-f]+", "0xADDR", s)
print(clean(repr(form.getvalue)), clean(repr(FS.getvalue)), inspect.ismethod(form.getfirst))
# (the slots, __init__, __len__ and co., are C slot wrappers: a documented difference)
for n in ["__enter__", "__exit__", "__getattr__", "getvalue", "getfirst", "getlist", "keys",
          "read_urlencoded", "read_multi", "read_single", "read_binary", "read_lines",
          "_FieldStorage__write", "read_lines_to_eof", "read_lines_to_outerboundary", "skip_lines",
          "make_file"]:
    f = getattr(FS, n)
    print(n, repr(f.__doc__), inspect.signature(f), inspect.signature(getattr(form, n)),
          f.__qualname__, f.__name__, f.__module__)
print(form.getvalue("n"), FS.getvalue(form, "n"), form.getfirst(key="n"), form.keys())
class Sub(FS):
    def getvalue(self, key, default=None):
        return "sub:" + super().getvalue(key, default)
print(Sub(environ={"REQUEST_METHOD": "GET", "QUERY_STRING": "n=x"}).getvalue("n"))
try:
    FS.getvalue(1, "n")
except TypeError:
    print("TypeError")
"""


def test_methods_are_bound_methods_with_python3s_names_docs_and_signatures(cgihost, tmp_path):
    # cgitb reports show form.getvalue and its signature; scripts and tools
    # introspect them (inspect.signature, __doc__, __qualname__).
    script = tmp_path / "methods.py"
    script.write_text(METHODS)
    ours, theirs = run([cgihost, script]), run([PYTHON, "-W", "ignore", script])
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    assert b"<bound method FieldStorage.getvalue of FieldStorage(None, None, [MiniFieldStorage('n', 'x')])>" \
        in ours.stdout


INTERNAL = r"""
import cgi, io
body = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n'
fs = cgi.FieldStorage(fp=io.BytesIO(body), environ={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
                                                    "CONTENT_TYPE": "multipart/form-data; boundary=b"})
part = fs.list[0]
for t in (type(cgi.FieldStorage.getvalue), type(part.fp), type(part.headers)):
    if t.__module__ != "cgi":
        continue  # the stdlib's own types: nothing of cgihost's to check
    for make in (lambda: t(), lambda: object.__new__(t), lambda: t.__new__(t)):
        try:
            make()
            print("made", t.__name__)
        except TypeError:
            print("refused", t.__name__)
print("alive")
"""


def test_the_modules_internal_types_cannot_be_made(cgihost, tmp_path):
    # An object of them made by object.__new__ would hold NULLs: a crash.
    script = tmp_path / "internal.py"
    script.write_text(INTERNAL)
    r = run([cgihost, script])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[-1] == "alive" and len(lines) == 10
    assert all(line.startswith("refused ") for line in lines[:-1])


@pytest.mark.parametrize("module", ["cgi", "cgitb"])
def test_the_modules_docstring_is_the_stdlibs_and_says_it_is_built_in(cgihost, tmp_path, module):
    script = tmp_path / "doc.py"
    script.write_text(f"import {module}\nprint(repr({module}.__doc__))\n")
    want = run([PYTHON, "-W", "ignore", script])
    got = run([cgihost, script])
    assert want.returncode == got.returncode == 0, got.stderr
    want_doc, got_doc = (ast.literal_eval(r.stdout.decode()) for r in (want, got))
    assert got_doc.startswith(want_doc) and got_doc[len(want_doc):].strip() == \
        "(cgihost: built in, in C.)", (got_doc, want_doc)


SUBMODULES = r"""
import sys
first = sys.argv[1] == "first"
if first:
    import cgi
import collections, email, urllib
if not first:
    import cgi
def show(f):
    try:
        r = f()
    except Exception as e:  # noqa: BLE001
        r = f"{type(e).__name__}: {e}"
    print(r)
show(lambda: urllib.parse.quote_plus("a b&c"))
show(lambda: email.utils.formatdate(0, usegmt=True))
show(lambda: email.message.Message)
show(lambda: isinstance({}, collections.abc.Mapping))
show(lambda: urllib.request)
show(lambda: email.mime)
show(lambda: collections.nothere)
show(lambda: hasattr(urllib, "error"))
import importlib
importlib.reload(urllib)
show(lambda: urllib.parse.unquote("%41"))
"""


@pytest.mark.parametrize("order", ["first", "after"])
def test_submodules_that_cgi_py_imports_are_reached_through_their_package(cgihost, tmp_path, order):
    """cgi.py imports urllib.parse, email.message and collections.abc, which
    a script then reaches having imported only urllib, email or collections
    (AttributeError under cgihost, whose cgi imports none of them): they are
    imported when asked for, whether the package was loaded before cgi or
    after it; other names give the AttributeError they give."""
    script = tmp_path / "sub.py"
    script.write_text(SUBMODULES)
    want = run([PYTHON, "-W", "ignore", script, order])
    got = run([cgihost, script, order])
    assert want.returncode == 0, want.stderr
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr
    assert b"a+b%26c" in got.stdout and b"AttributeError: module 'urllib' has no attribute 'request'" \
        in got.stdout


def test_submodules_are_reached_without_import_cgi_too(cgihost, tmp_path):
    """cgihost sets the finder up at its start: a script that never imports
    cgi sees the same in-process as through a server, which has cgi
    imported (there it once got urllib.parse, and in-process an
    AttributeError)."""
    script = tmp_path / "nocgi.py"
    script.write_text("import sys, urllib\nprint(urllib.parse.quote_plus('a b'), 'cgi' in sys.modules)\n")
    cold = run([cgihost, script], env={"CGIHOST_NO_SERVER": "1"})
    got = run([cgihost, script])
    assert cold.stdout == b"a+b False\n", cold.stderr
    assert got.stdout in (b"a+b False\n", b"a+b True\n"), got.stderr  # the server's has cgi loaded


def test_a_submodule_reached_again_does_not_recurse(cgihost, tmp_path):
    """urllib.parse in sys.modules but not bound in a urllib imported again
    (or deleted from it): the __getattr__ binds it (it recursed until
    RecursionError; python3 gives AttributeError, cgi.py's import done)."""
    script = tmp_path / "again.py"
    script.write_text("import cgi, sys, urllib.parse\ndel sys.modules['urllib']\nimport urllib\n"
                      "print(urllib.parse.__name__)\ndel urllib.parse\nprint(urllib.parse.__name__)\n")
    r = run([cgihost, script])
    assert (r.returncode, r.stdout) == (0, b"urllib.parse\nurllib.parse\n"), r.stderr


NO_MEMORY = r"""
import io, sys, warnings
import _testcapi
warnings.simplefilter("ignore")
import cgi
body = (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nxx\r\n'
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\n\r\nyy\r\n--B--\r\n')
ops = [
    lambda: cgi.FieldStorage(fp=io.BytesIO(body), environ={
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
        "CONTENT_LENGTH": str(len(body))}),
    lambda: cgi.FieldStorage(fp=io.BytesIO(b"p=1"), environ={"REQUEST_METHOD": "POST",
                                                            "CONTENT_LENGTH": "3"}),
]
for op in ops:
    for start in range(400):
        _testcapi.set_nomemory(start, start + 1)
        try:
            op()
        except BaseException:
            pass
        finally:
            _testcapi.remove_mem_hooks()
print("survived")
"""


def test_an_allocation_failing_anywhere_in_fieldstorage_raises(cgihost, tmp_path):
    """Each allocation of a FieldStorage's construction failed in turn (an
    exception, never a crash): a string made as a call's argument went
    unchecked, and a failed one was read (segfault)."""
    script = tmp_path / "nomem.py"
    script.write_text(NO_MEMORY)
    r = run([cgihost, script], env={})
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout.decode().strip() == "survived"


NO_MEMORY_ERRORS = r"""
import io, warnings
import _testcapi
warnings.simplefilter("ignore")
import cgi
body = (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nxx\r\n'
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\n\r\nyy\r\n--B--\r\n')
env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
       "CONTENT_LENGTH": str(len(body))}
for start in range(400):
    _testcapi.set_nomemory(start, start + 1)
    try:
        fs = cgi.FieldStorage(fp=io.BytesIO(body), environ=env)
        fs["a"], fs["f"]
    except MemoryError:
        pass
    except RuntimeError as e:  # io's, as under python3
        assert str(e) == "can't allocate read lock", e
    except BaseException as e:
        _testcapi.remove_mem_hooks()
        print(start, type(e).__name__, e)
    finally:
        _testcapi.remove_mem_hooks()
print("done")
"""


def test_a_failed_allocation_is_a_memory_error_not_another_answer(cgihost, tmp_path):
    """A look-up that failed for want of memory was taken for a missing key:
    a part without its name (KeyError later), a body without its boundary
    (ValueError: Invalid boundary)."""
    script = tmp_path / "nomem_errors.py"
    script.write_text(NO_MEMORY_ERRORS)
    r = run([cgihost, script], env={})
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout.decode().strip() == "done"
