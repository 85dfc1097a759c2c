"""The multipart parser's limits are configurable from the environment, and a
request over one gets a ValueError naming the limit and the byte offset."""
import os
import re

from conftest import PYTHON, run

# Peak memory means nothing under the sanitizers (ASan's quarantine and
# shadow memory): there the values alone are checked.
SANITIZED = "ASAN_OPTIONS" in os.environ

SCRIPT = "import cgi\nform = cgi.FieldStorage()\nprint(form.getvalue('a'))\n"


def body(header_len):
    return (b'--B\r\nContent-Disposition: form-data; name="a"\r\nX-Long: ' + b"x" * header_len +
            b"\r\n\r\nvalue\r\n--B--\r\n")


def request(cgihost, tmp_path, data, **env):
    script = tmp_path / "lim.py"
    script.write_text(SCRIPT)
    e = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
         "CONTENT_LENGTH": str(len(data))}
    e.update(env)
    return run([cgihost, script], e, data)


def test_default_header_line_limit_admits_ordinary_headers(cgihost, tmp_path):
    r = request(cgihost, tmp_path, body(300))
    assert r.returncode == 0 and r.stdout == b"value\n"


def test_header_line_limit_is_configurable(cgihost, tmp_path):
    r = request(cgihost, tmp_path, body(300), CGIHOST_MAX_HEADER_LINE="100")
    assert r.returncode == 1
    assert b"ValueError: multipart body: header line too long (CGIHOST_MAX_HEADER_LINE=100) at byte" in r.stderr


def test_a_header_name_over_the_lookbehind_names_the_line_limit_too(cgihost, tmp_path):
    # whatever the line limit, a name is at most 65538 bytes: the error says
    # which variable does not raise it
    data = (b'--B\r\nContent-Disposition: form-data; name="a"\r\n' + b"X" * 70000 +
            b": v\r\n\r\nvalue\r\n--B--\r\n")
    r = request(cgihost, tmp_path, data, CGIHOST_MAX_HEADER_LINE="1000000",
                CGIHOST_MAX_HEADER_BLOCK="1000000")
    assert r.returncode == 1
    assert (b"ValueError: multipart body: header name too long (over 65538 bytes, whatever "
            b"CGIHOST_MAX_HEADER_LINE) at byte ") in r.stderr, r.stderr


def test_parts_limit_is_configurable(cgihost, tmp_path):
    data = b"".join(b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n'
                    for _ in range(5)) + b"--B--\r\n"
    assert request(cgihost, tmp_path, data).returncode == 0
    r = request(cgihost, tmp_path, data, CGIHOST_MAX_PARTS="3")
    assert r.returncode == 1 and b"ValueError: multipart body:" in r.stderr




def test_a_limit_that_is_no_number_is_said_and_the_default_applies(cgihost, tmp_path):
    data = body(300)
    for bad in ("0", "abc", "-1", "99999999999999999999", " 5"):
        r = request(cgihost, tmp_path, data, CGIHOST_MAX_HEADER_LINE=bad)
        assert r.returncode == 0 and r.stdout == b"value\n", (bad, r)
        assert (b"cgihost: CGIHOST_MAX_HEADER_LINE=%s ignored: not a whole number from 1 to "
                % bad.encode()) in r.stderr, (bad, r.stderr)
    r = request(cgihost, tmp_path, data, CGIHOST_MAX_HEADER_LINE="20000")
    assert r.returncode == 0 and r.stderr == b"", r.stderr

def nested(depth):
    """A form field inside DEPTH levels of multipart/mixed parts."""
    inner = b'--B0\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--B0--\r\n'
    for d in range(1, depth + 1):
        inner = (b"--B%d\r\nContent-Disposition: form-data; name=\"n%d\"\r\n"
                 b"Content-Type: multipart/mixed; boundary=B%d\r\n\r\n" % (d, d, d - 1) +
                 inner + b"\r\n--B%d--\r\n" % d)
    return inner


def test_depth_limit_is_configurable_and_named(cgihost, tmp_path):
    data = nested(3)
    env = {"CONTENT_TYPE": "multipart/form-data; boundary=B3"}
    r = request(cgihost, tmp_path, data, **env)
    assert r.returncode == 0, r.stderr
    r = request(cgihost, tmp_path, data, CGIHOST_MAX_DEPTH="2", **env)
    assert r.returncode == 1
    assert re.search(rb"ValueError: multipart body: multipart nesting too deep \(CGIHOST_MAX_DEPTH=2\) "
                     rb"at byte \d+\n$", r.stderr), r.stderr


def test_depth_limit_goes_to_31_and_a_larger_one_is_said(cgihost, tmp_path):
    """The parser's frame stack holds 31 levels: CGIHOST_MAX_DEPTH=31 parses
    31, and a larger value is refused as a bad one (said, the default 16
    applies) rather than taken and silently cut."""
    env = {"CONTENT_TYPE": "multipart/form-data; boundary=B31"}
    r = request(cgihost, tmp_path, nested(31), CGIHOST_MAX_DEPTH="31", **env)
    assert r.returncode == 0 and r.stdout == b"None\n" and r.stderr == b"", r.stderr
    r = request(cgihost, tmp_path, nested(31), CGIHOST_MAX_DEPTH="32", **env)
    assert r.returncode == 1
    assert (b"cgihost: CGIHOST_MAX_DEPTH=32 ignored: not a whole number from 1 to 31; "
            b"the default applies\n") in r.stderr, r.stderr
    assert b"multipart nesting too deep (CGIHOST_MAX_DEPTH=16) at byte" in r.stderr


KEEPER = r'''
import io
import cgi
kept = []
class FP(io.BytesIO):
    def readinto(self, b):
        kept.append(b)
        kept.append(b[0:4])
        return super().readinto(b)
class Raw(io.RawIOBase):
    def __init__(self, body):
        self.body = io.BytesIO(body)
    def readable(self):
        return True
    def readinto(self, b):
        kept.append(b)
        kept.append(b[0:4])
        return self.body.readinto(b)
body = b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\nhello\r\n--XX--\r\n'
env = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
       "CONTENT_TYPE": "multipart/form-data; boundary=XX"}
for fp in (FP(body), io.BufferedReader(Raw(body), buffer_size=8)):
    fs = cgi.FieldStorage(fp=fp, environ=env)
    print(fs.getvalue("a"))
    del fs
print(len(kept) > 0)
for b in kept:
    b[0:1] = b"z"
print("ok")
'''


def test_a_readinto_that_keeps_the_buffer_gets_no_freed_memory(cgihost, tmp_path):
    """The parser reads io's own files through readinto() into its own
    buffer, and others with read(). A readinto() in Python that keeps the
    view it is given (or a slice of it), an io.BytesIO subclass's or a raw
    file's under io.BufferedReader, which passes its caller's buffer on,
    must not be left pointing at freed memory once the FieldStorage is gone
    (ASan reported a use after free)."""
    script = tmp_path / "keep.py"
    script.write_text(KEEPER)
    r = run([cgihost, script], {"REQUEST_METHOD": "GET"})
    assert r.returncode == 0 and r.stdout == b"hello\nhello\nTrue\nok\n", r.stderr


GROWTH = r'''
def kib(key):  # (not ru_maxrss: it counts the process before its exec)
    with open("/proc/self/status") as f:
        return int(next(l.split()[1] for l in f if l.startswith(key + ":")))
start = kib("VmRSS")  # a served request's includes the server's pages it maps
'''


LONG_LINES = r'''
import cgi, hashlib
''' + GROWTH + r'''form = cgi.FieldStorage()
print(kib('VmHWM') - start)
for name in ("t", "f"):
    v = form[name].value
    print(name, len(v), hashlib.md5(v.encode() if isinstance(v, str) else v).hexdigest())
    del v
'''


def test_a_long_line_is_not_held_in_memory_whole(cgihost, tmp_path):
    """cgi.py reads a part with readline(1 << 16), so a line without a line
    end (a text field, a file of zeros) costs it 64 KiB at a time. cgihost
    wrote such a line as one piece, held whole: a 32 MiB text field took
    about three times that (bytes, their decoding, the copy), a file part's
    first line twice. The peak RSS of FieldStorage(), then the values."""
    import hashlib
    script = tmp_path / "long.py"
    script.write_text(LONG_LINES)
    n = 32 << 20
    text = "é".encode() + b"y" * (n - 4) + "é".encode()  # characters at both ends of the line
    data = (b'--B\r\nContent-Disposition: form-data; name="t"\r\n\r\n' + text +
            b'\r\n--B\r\nContent-Disposition: form-data; name="f"; filename="z"\r\n\r\n' +
            b"\0" * n + b"\r\n--B--\r\n")
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
           "CONTENT_LENGTH": str(len(data))}
    r = run([cgihost, script], env, data, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\n")
    assert lines[1] == "t %d %s" % (len(text.decode()), hashlib.md5(text).hexdigest())
    assert lines[2] == "f %d %s" % (n, hashlib.md5(b"\0" * n).hexdigest())
    assert SANITIZED or int(lines[0]) < 40 * 1024, "peak RSS growth %s KiB" % lines[0]


CUT_END = r'''
import cgi, io
for n in (100, 65534, 131070):
    body = (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + b"x" * n +
            b"\xe2\x82\r\n--B--\r\n")
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
           "CONTENT_LENGTH": str(len(body))}
    for errors in ("replace", "strict"):
        try:
            v = cgi.FieldStorage(fp=io.BytesIO(body), environ=env, errors=errors)["a"].value
            print(n, errors, len(v), ascii(v[-2:]))
        except UnicodeDecodeError as e:
            print(n, errors, type(e).__name__)
'''


def test_a_long_line_ending_in_a_cut_character_keeps_it(cgihost, tmp_path):
    """A text field whose long line ends, at a 64 KiB piece's end, with the
    start of a character: python3 decodes it as U+FFFD (or raises, strict);
    a decoder left with those bytes must not drop them."""
    script = tmp_path / "cut.py"
    script.write_text(CUT_END)
    r = run([cgihost, script], {"REQUEST_METHOD": "GET"})
    o = run(["/usr/bin/python3", "-W", "ignore", script], {"REQUEST_METHOD": "GET"})
    assert o.returncode == 0 and r.returncode == 0, (o.stderr, r.stderr)
    assert r.stdout == o.stdout


URLENCODED_PEAK = r'''
import cgi, hashlib
''' + GROWTH + r'''form = cgi.FieldStorage()
print(kib('VmHWM') - start)
for name in ("a", "b"):
    v = form.getfirst(name)
    print(name, len(v), hashlib.md5(v.encode()).hexdigest())
'''


def urlencoded_peaks(cgihost, script, text, data, timeout):
    """text, a script printing first how far its peak RSS grew over its RSS
    at the start, posted data as a urlencoded body under cgihost and under
    python3: the same output after that line; (cgihost's growth, python3's
    growth) in KiB."""
    script.write_text(text)
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
           "CONTENT_LENGTH": str(len(data))}
    r = run([cgihost, script], env, data, timeout=timeout)
    o = run([PYTHON, "-W", "ignore", script], env, data, timeout=timeout)
    assert r.returncode == o.returncode == 0, (r.stderr, o.stderr)
    assert r.stdout.split(b"\n")[1:] == o.stdout.split(b"\n")[1:]
    return int(r.stdout.split(b"\n")[0]), int(o.stdout.split(b"\n")[0])


def test_a_large_urlencoded_value_is_held_as_cgi_py_holds_it(cgihost, tmp_path):
    """cgi.py holds a urlencoded body as its decoded text and each value
    (urllib's unquote() gives a value with nothing to unquote back as it
    is): a 32 MiB value costs it about twice that. cgihost kept the body's
    bytes too, and copied each value before decoding it: four times."""
    data = b"a=" + b"y" * (32 << 20) + b"&b=x+y%21"
    peak, _ = urlencoded_peaks(cgihost, tmp_path / "ue.py", URLENCODED_PEAK, data, 60)
    assert SANITIZED or peak < 80 * 1024, "peak RSS growth %d KiB" % peak


MANY_FIELDS = r'''
import cgi
''' + GROWTH + r'''form = cgi.FieldStorage()
print(kib('VmHWM') - start)
print(len(form.list), form.list[0], form.list[-1], vars(form.list[-1]))
'''


def test_many_urlencoded_fields_cost_what_cgi_py_s_cost(cgihost, tmp_path):
    """Each field of a urlencoded body (or query string) is a MiniFieldStorage.
    cgi.py's, a Python class's object, keeps its name and value inline (keys
    shared by the class); cgihost's C type gave each object a dict of its
    own: 250 bytes an object where cgi.py's takes 100, so a 4 MiB body of
    "a=b&" took 340 MiB where cgi.py takes 200 (a 16 MiB one 1.3 GiB, 0.75)."""
    data = b"a=b&" * (1 << 20)
    peak, oracle = urlencoded_peaks(cgihost, tmp_path / "many.py", MANY_FIELDS, data, 120)
    assert SANITIZED or peak < oracle * 1.15, "peak RSS growth %d KiB, python3's %d KiB" % (peak, oracle)
