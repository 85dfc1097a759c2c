"""End-to-end: each request runs through build/cgihost on the original script
and through /usr/bin/python3 with the stdlib cgi on a copy whose no-break spaces
are replaced. stdout and the exit status must match byte for byte; stderr must
match once the stdlib's DeprecationWarning is dropped and paths are normalized
(and, for tracebacks, in the final exception line, since the stdlib's frames
inside cgi.py cannot exist in C)."""
import re
import urllib.parse

import pytest

from conftest import PYTHON, ROOT, fixed_copy, run

HELLO = ROOT / "scripts" / "hello.py"
HELLO2 = ROOT / "scripts" / "hello2.py"
SCRIPTS = ROOT / "tests" / "scripts"
DUMP = SCRIPTS / "dump.py"


def get(qs, **env):
    return dict(env, REQUEST_METHOD="GET", QUERY_STRING=qs)


def post(body, ctype="application/x-www-form-urlencoded", qs=None, clen=True, **env):
    e = dict(env, REQUEST_METHOD="POST", CONTENT_TYPE=ctype)
    if clen is True:
        e["CONTENT_LENGTH"] = str(len(body))
    elif clen is not None:
        e["CONTENT_LENGTH"] = clen
    if qs is not None:
        e["QUERY_STRING"] = qs
    return e


# (id, script, env, stdin, argv)
ROWS = [
    ("hello-get", HELLO, get("name=Ada&happy=on"), b"", []),
    ("hello-get-empty", HELLO, get(""), b"", []),
    ("hello-get-sad", HELLO, get("name=Bob&sad=on"), b"", []),
    ("hello2-post", HELLO2, post(b"name=Grace&happy=on"), b"name=Grace&happy=on", []),
    ("hello-post-all", HELLO, post(b"name=G&happy=on&sad=on"), b"name=G&happy=on&sad=on", []),
    ("hello-head", HELLO, dict(REQUEST_METHOD="HEAD", QUERY_STRING="name=H"), b"", []),
    ("hello-nonascii", HELLO, get("name=Jos%C3%A9+%E2%82%AC"), b"", []),
    ("dump-plain", DUMP, get("a=1&b=2"), b"", []),
    ("dump-repeated", DUMP, get("a=1&a=2&a=3&b=x"), b"", []),
    ("dump-plus-percent", DUMP, get("q=a+b%20c%2B%26d&e=%41%42"), b"", []),
    ("dump-invalid-escapes", DUMP, get("x=%zz%4&y=100%&z=%"), b"", []),
    ("dump-invalid-utf8", DUMP, get("x=%ff%fe&y=%C3&z=%C3%A9"), b"", []),
    ("dump-blank-dropped", DUMP, get("a=&b&c=1&&d="), b"", []),
    ("dump-blank-kept", DUMP, get("a=&b&c=1&&d=", T_ARGS="{'keep_blank_values': 1}"), b"", []),
    ("dump-strict-bad", DUMP, get("a=1&b", T_ARGS="{'strict_parsing': 1}"), b"", []),
    ("dump-strict-empty", DUMP, get("a=1&&b=2", T_ARGS="{'strict_parsing': True}"), b"", []),
    ("dump-strict-ok", DUMP, get("a=1&b=2", T_ARGS="{'strict_parsing': 1}"), b"", []),
    ("dump-max-fields", DUMP, get("a=1&b=2&c=3", T_ARGS="{'max_num_fields': 2}"), b"", []),
    ("dump-max-fields-ok", DUMP, get("a=1&b=2", T_ARGS="{'max_num_fields': 2}"), b"", []),
    ("dump-separator", DUMP, get("a=1;b=2&c=3", T_ARGS="{'separator': ';'}"), b"", []),
    ("dump-separator-bytes", DUMP, get("a=1;;b=2", T_ARGS="{'separator': b';;'}"), b"", []),
    ("dump-separator-bad", DUMP, get("a=1", T_ARGS="{'separator': None}"), b"", []),
    ("dump-latin1", DUMP, get("n=%E9t%E9", T_ARGS="{'encoding': 'latin-1'}"), b"", []),
    ("dump-errors-strict", DUMP, get("n=%ff", T_ARGS="{'errors': 'strict'}"), b"", []),
    ("dump-errors-surrogate", DUMP, get("n=%ff", T_ARGS="{'errors': 'surrogateescape'}"), b"", []),
    ("dump-equals-in-value", DUMP, get("a==b=c&=d"), b"", []),
    ("dump-raw-nonascii", DUMP, get("n=é+%C3%A9"), b"", []),
    ("dump-no-method", DUMP, {"QUERY_STRING": "a=1"}, b"", []),
    ("dump-lowercase-method", DUMP, get("a=1", REQUEST_METHOD="get"), b"", []),
    ("dump-argv-fallback", DUMP, {"REQUEST_METHOD": "GET"}, b"", ["x=1&y=2"]),
    ("dump-argv-none", DUMP, {"REQUEST_METHOD": "GET"}, b"", []),
    ("dump-post-urlencoded", DUMP, post(b"a=1&b=%20x"), b"a=1&b=%20x", []),
    ("dump-post-merge-qs", DUMP, post(b"a=1", qs="b=2&a=3"), b"a=1", []),
    ("dump-post-default-ctype", DUMP, {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3"}, b"a=1", []),
    ("dump-post-bad-clen", DUMP, post(b"a=1&b=2", clen="abc"), b"a=1&b=2", []),
    ("dump-post-no-clen", DUMP, post(b"a=1&b=2", clen=None), b"a=1&b=2", []),
    ("dump-post-short-body", DUMP, post(b"a=1", clen="100"), b"a=1", []),
    ("dump-post-long-body", DUMP, post(b"a=1&b=2", clen="3"), b"a=1&b=2", []),
    ("dump-post-body-errors", DUMP, post(b"n=\xff\xfe%41"), b"n=\xff\xfe%41", []),
    ("dump-post-text-plain", DUMP, post(b"hello\nworld\n", ctype="text/plain"), b"hello\nworld\n", []),
    ("dump-post-text-plain-noclen", DUMP, post(b"line\n" * 300, ctype="text/plain", clen=None),
     b"line\n" * 300, []),
    ("dump-maxlen", DUMP, post(b"a=1", T_ARGS="{}", clen="99999999999999999999"), b"a=1", []),
    ("status-normal", SCRIPTS / "status.py", {}, b"", []),
    ("status-exit-3", SCRIPTS / "status.py", {"T_EXIT": "3"}, b"", []),
    ("status-exit-263", SCRIPTS / "status.py", {"T_EXIT": "263"}, b"", []),
    ("status-exit-msg", SCRIPTS / "status.py", {"T_EXIT": "msg"}, b"", []),
    ("status-exit-none", SCRIPTS / "status.py", {"T_EXIT": "none"}, b"", []),
    ("status-exit-builtin", SCRIPTS / "status.py", {"T_EXIT": "builtin"}, b"", []),
    ("status-raise", SCRIPTS / "status.py", {"T_EXIT": "raise"}, b"", []),
    ("env", SCRIPTS / "env.py", {"PYTHONPATH": "/tmp/pp-marker"}, b"", ["a1", "b 2"]),
    ("missing-script", SCRIPTS / "does-not-exist.py", {}, b"", []),
]


def normalize(stderr: bytes, paths) -> bytes:
    lines = stderr.decode("utf-8", "replace").splitlines()
    out, skip = [], False
    for line in lines:
        if skip:
            skip = False
            continue
        if "DeprecationWarning: 'cgi' is deprecated" in line:
            skip = True  # and the source line that follows
            continue
        out.append(line)
    text = "\n".join(out)
    for p in paths:
        text = text.replace(str(p), "SCRIPT")
    text = re.sub(r"^(/usr/bin/python3|cgihost): ", "PROG: ", text, flags=re.M)
    if "Traceback (most recent call last):" in text:
        text = text.strip().splitlines()[-1]
    return text.encode()


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_same_as_stdlib(row, cgihost, tmp_path):
    _, script, env, stdin, argv = row
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref_script = fixed_copy(script, ref_dir) if script.exists() else ref_dir / script.name
    ours = run([cgihost, script, *argv], env, stdin)
    ref = run([PYTHON, ref_script, *argv], env, stdin)
    assert ours.stdout == ref.stdout
    assert ours.returncode == ref.returncode
    assert normalize(ours.stderr, [script, script.parent]) == \
        normalize(ref.stderr, [ref_script, ref_dir])


def test_table_is_big_enough():
    assert len(ROWS) >= 25
