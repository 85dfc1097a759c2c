"""cgihost as a python3 stand-in: the acceptance script, no-break spaces,
the interpreter it names, and what `import cgi` costs in modules."""
import hashlib
import pathlib
import re
import socket
import subprocess
import time

import pytest

from conftest import (BASE_ENV, PYTHON, ROOT, SERVED, as_mod_cgid, cold_only, fixed_copy, reap,
                      recv_to_eof, recv_until, run, signal_ends_the_drain)

NB = "\u00a0"


# sha256 of ../shared/fixtures/hello.py, for a checkout without ../shared.
FIXTURE_SHA256 = "42e167393ff83f6d5006f210dfc71d96fdb34ec19fd4bc3e420750fcc01876ec"


def orig_and_ref(tmp_path):
    """Two directories: the files as pasted, and the copy fixed by hand."""
    dirs = tmp_path / "orig", tmp_path / "ref"
    for d in dirs:
        d.mkdir()
    return dirs


def test_hello_is_the_fixture_byte_for_byte():
    fixture = ROOT.parent / "shared" / "fixtures" / "hello.py"
    hello = ROOT / "scripts" / "hello.py"
    if fixture.exists():
        assert hello.read_bytes() == fixture.read_bytes()
        assert hashlib.sha256(fixture.read_bytes()).hexdigest() == FIXTURE_SHA256
    assert hashlib.sha256(hello.read_bytes()).hexdigest() == FIXTURE_SHA256
    assert NB.encode() in hello.read_bytes()


def test_hello2_serves_the_same_script():
    assert (ROOT / "scripts" / "hello2.py").read_bytes() == (ROOT / "scripts" / "hello.py").read_bytes()


def test_nbsp_in_literals_and_comments_keeps_its_value(cgihost, tmp_path):
    script = tmp_path / "lit.py"
    script.write_text(
        "if True:\n"
        f"{NB}{NB}s = '{NB}'  # comment{NB}\n"
        f"{NB}{NB}b = b'\\xc2\\xa0' +{NB}b'x'\n"
        f"{NB}{NB}print(repr(s), len(s), ord(s))\n"
        f"t = '''{NB}\n{NB}'''\n"
        "print(repr(t))\n", encoding="utf-8")
    r = run([cgihost, script])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"'\\xa0' 1 160\n'\\xa0\\n\\xa0'\n"


def test_traceback_lines_and_columns_stay_right(cgihost, tmp_path):
    orig, ref = orig_and_ref(tmp_path)
    script = orig / "crash.py"
    script.write_text(
        "def f(x):\n"
        f"{NB} {NB} return{NB}{NB}x[0] +{NB}1 / x[1]\n"
        "if True:\n"
        f"{NB}{NB}{NB}{NB}f([1, 0])\n", encoding="utf-8")
    fixed = fixed_copy(script, ref)
    ours = run([cgihost, script])
    theirs = run([PYTHON, fixed])
    assert ours.returncode == theirs.returncode == 1
    a = ours.stderr.decode().replace(str(script), "S").splitlines()
    b = theirs.stderr.decode().replace(str(fixed), "S").splitlines()
    # The same frames at the same line numbers, and the same exception.
    assert [x for x in a if x.startswith("  File")] == [x for x in b if x.startswith("  File")]
    assert a[-1] == b[-1] == "ZeroDivisionError: division by zero"
    # The source line is shown as it is in the file, and the markers sit under
    # the failing expression '1 / x[1]', counted in characters.
    i = a.index('  File "S", line 2, in f')
    shown, marks = a[i + 1], a[i + 2]
    assert NB in shown
    assert marks.strip() == "~~^~~~~~"
    assert marks.index("~") == shown.index("1 / x[1]")


@pytest.mark.parametrize("eol", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_nbsp_with_other_line_endings(cgihost, tmp_path, eol):
    # Windows and old Mac line endings, as python3 reads them.
    src = eol.join(["if True:", f"{NB}{NB}x = 'a\\", f"{NB}b'", "  y = 2", "print(ascii(x), y)", ""])
    script = tmp_path / "eol.py"
    script.write_bytes(src.encode())
    ref = tmp_path / "ref.py"
    ref.write_bytes(src.replace(f"{NB}{NB}x", "  x").encode())
    ours, theirs = run([cgihost, script]), run([PYTHON, ref])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"'a\\xa0b' 2\n"


def test_a_script_that_compiles_is_not_rewritten(cgihost, tmp_path):
    script = tmp_path / "ok.py"
    script.write_text(f"x = '{NB}'\nprint(ascii(x))\n", encoding="utf-8")
    r = run([cgihost, script])
    assert r.stdout == b"'\\xa0'\n"


@pytest.mark.parametrize("src", [
    f"if True:\n{NB}{NB}x = (\n",
    f"import os\nif True:\n{NB}{NB}print(os.sep)\n{NB}{NB}x = (1,\n",  # '(' was never closed
    f"x = 1\n{NB}{NB}y = 2\n",  # unexpected indent
    f"if True:\n{NB}{NB}x = 1\n\ty = 2\n",  # inconsistent use of tabs
    f"if True:\n{NB}{NB}x = 1\n  y = (1 +{NB}\n",
    f"if True:\n{NB}{NB}x = (1,{NB}2 3)\n",  # the caret under '2 3'
    # the error's line alone, as python3 reads it again from the file: not
    # with the line it continues, nor without its newline, nor its BOM
    f"x{NB}= 1 + \\\n  2 3\n",
    f"y = 1{NB}+ \\\n    2 + \\{NB}\n  3\n",
    f"x{NB}= 1 + \\\n  (2 +\n 3 4)\n",
    f"\ufeffx{NB}= a b\n",
])
def test_other_syntax_errors_are_reported_as_python3_does(cgihost, tmp_path, src):
    # The error python3 gives the same script with its no-break spaces made
    # spaces, not the first no-break space.
    script = tmp_path / "bad.py"
    script.write_text(src, encoding="utf-8")
    ref = tmp_path / "ref"
    ref.mkdir()
    fixed = fixed_copy(script, ref)
    theirs, same = run([PYTHON, fixed]), run([cgihost, fixed])
    ours = run([cgihost, script])
    assert ours.returncode == theirs.returncode == same.returncode == 1
    assert ours.stdout == b""

    def after_file(r):
        lines = r.stderr.decode().splitlines()
        i = next(i for i, x in enumerate(lines) if x.startswith("  File"))
        return lines[i].split(",")[1:], lines[i + 1:]
    # python3's message and line number (the oracle); and all that follows
    # the File line, the line shown and the caret under it, as the same
    # interpreter shows them for the fixed copy (make test-matrix runs this
    # against 3.13, whose display of a TabError differs from 3.11's).
    a, b, c = after_file(ours), after_file(theirs), after_file(same)
    assert "U+00A0" not in a[1][-1]
    assert (a[0], a[1][-1]) == (b[0], b[1][-1])
    assert a == c


def test_a_module_with_nbsp_is_imported_as_the_script_runs(cgihost, tmp_path):
    # A helper module pasted from the same web page: python3 refuses it, and
    # runs a copy fixed by hand. No bytecode is cached for it (python3 would
    # run that .pyc without a word); a clean module's is, as python3 does.
    orig, ref = orig_and_ref(tmp_path)
    script = orig / "main.py"
    script.write_text("import helper, clean\nhelper.hi(clean.X)\n", encoding="utf-8")
    (orig / "helper.py").write_text(
        "def hi(x):\n"
        f"{NB}{NB}if x:\n"
        f"{NB}{NB}{NB}{NB}print('hi',{NB}x)  #{NB}a comment\n", encoding="utf-8")
    (orig / "clean.py").write_text("X = 5\n", encoding="utf-8")
    for f in ("main.py", "helper.py", "clean.py"):
        fixed_copy(orig / f, ref)
    refused = run([PYTHON, script])
    assert refused.returncode == 1 and b"U+00A0" in refused.stderr
    assert not (orig / "__pycache__").exists()
    ours, theirs = run([cgihost, script]), run([PYTHON, ref / "main.py"])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"hi 5\n"
    cached = sorted(p.name.split(".")[0] for p in (orig / "__pycache__").iterdir())
    assert cached == ["clean"]
    assert run([cgihost, script]).stdout == ours.stdout  # and again, from clean's .pyc


@pytest.mark.parametrize("src", [
    f"def f():\n{NB}{NB}x = (1,\n",  # '(' was never closed
    f"x = 1\n{NB}{NB}y = 2\n",  # unexpected indent
    f"def f():\n{NB}{NB}return{NB}1 2\n",
])
def test_a_syntax_error_in_a_module_with_nbsp_is_python3s(cgihost, tmp_path, src):
    # As for the script: the error python3 gives the fixed copy, under the
    # frames it shows (importlib's are left out).
    orig, ref = orig_and_ref(tmp_path)
    (orig / "main.py").write_text("print('before')\nimport bad\n", encoding="utf-8")
    (orig / "bad.py").write_text(src, encoding="utf-8")
    for f in ("main.py", "bad.py"):
        fixed_copy(orig / f, ref)
    ours, theirs = run([cgihost, orig / "main.py"]), run([PYTHON, ref / "main.py"])
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == theirs.stdout == b"before\n"
    assert ours.stderr.decode().replace(str(orig), "D") == theirs.stderr.decode().replace(str(ref), "D")


@pytest.mark.parametrize("spec", ["utf8", "UTF8", "u8", "cp65001", "utf_8", "utf-8-unix"])
def test_utf8_by_any_name_is_fixed(cgihost, tmp_path, spec):
    # The tokenizer names only utf-8 and its utf-8-* forms "utf-8"; the
    # codec is UTF-8's for all of these, and python3 reads the fixed copies.
    orig, ref = orig_and_ref(tmp_path)
    (orig / "main.py").write_text(f"# -*- coding: {spec} -*-\nimport helper\nif True:\n"
                                  f"{NB}{NB}print(helper.X)\n", encoding="utf-8")
    (orig / "helper.py").write_text(f"# vim: set fileencoding={spec} :\nif True:\n{NB}{NB}X = 'ok'\n",
                                    encoding="utf-8")
    for f in ("main.py", "helper.py"):
        fixed_copy(orig / f, ref)
    ours, theirs = run([cgihost, orig / "main.py"]), run([PYTHON, ref / "main.py"])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"ok\n"


@pytest.mark.parametrize("spec", ["latin-1", "iso-8859-15", "cp1252", "windows-1250", "koi8-r",
                                  "mac_roman", "cp437", "gb18030", "cp1252-crlf"])
def test_nbsp_in_another_encoding_is_fixed(cgihost, tmp_path, spec):
    # A script saved in an encoding with a no-break space (A0 in latin-1,
    # 9A in koi8-r, CA in mac_roman, FF in cp437): those in code become
    # spaces, one column each; the literal one stays.
    orig, ref = orig_and_ref(tmp_path)
    spec, _, crlf = spec.partition("-crlf")
    main = (f"# -*- coding: {spec} -*-\nimport helper\nif True:\n"
            "§§print(helper.X,§ascii('x\xa0'),§f'{§len(helper.X)§}')\n")
    helper = f"# vim: set fileencoding={spec} :\nif True:\n§§X§=§'ok'\n"
    for d, nb in ((orig, "\xa0"), (ref, " ")):
        for name, text in (("main.py", main), ("helper.py", helper)):
            text = text.replace("§", nb)
            (d / name).write_bytes((text.replace("\n", "\r\n") if crlf else text).encode(spec))
    ours, theirs = run([cgihost, orig / "main.py"]), run([PYTHON, ref / "main.py"])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"ok 'x\\xa0' 2\n"


def test_a_traceback_in_another_encoding_marks_the_right_characters(cgihost, tmp_path):
    # The rewrite works on the text the compiler sees (decoded to UTF-8), so
    # a marker under an expression sits where it does for a UTF-8 script.
    script = tmp_path / "tb.py"
    script.write_bytes(b"# coding: cp1252\nx = '\x80'\ndef f():\n\xa0\xa0return\xa01/0\xa0+ 1\nf()\n")
    r = run([cgihost, script])
    assert r.returncode == 1
    lines = r.stderr.decode("utf-8").splitlines()
    i = lines.index(f'  File "{script}", line 4, in f')
    shown, marks = lines[i + 1], lines[i + 2]
    assert marks.strip() == "~^~" and marks.index("~") == shown.index("1/0"), (shown, marks)
    assert lines[-1] == "ZeroDivisionError: division by zero"


def test_a_string_in_an_escape_encoding_is_not_taken_for_code(cgihost, tmp_path):
    # unicode_escape reads \x27 as a quote: the rewrite sees the text the
    # tokenizer sees, a string holding a no-break space, and leaves it.
    script = tmp_path / "esc.py"
    script.write_bytes(b"# coding: unicode_escape\nx = \\x27a\xa0b\\x27\nprint(ascii(x))\n")
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"'a\\xa0b'\n"


@pytest.mark.parametrize("body", [
    b"if 1:\n\xa0\xa0x = '\xe9' 1\n",               # the parser's error, with its line
    b"def f(a,\xa0a): return '\xe9'\n",             # the compiler's: python3 reads no
    b"if 1:\n\xa0\xa0y = 1\n\xa0\xa0return 'e'\n",  # line that is not UTF-8 back
    # the parser's, its line read from a copy in the file's encoding: the
    # lines continued with a backslash, or a string's, are not shown with
    # the error's (placed in UTF-8 under no file name, they were)
    b"if 1:\n\xa0\xa0x = 'caf\xe9' + \\\n    1 +\n",
    b"x = 1\xa0+\\\n2 +\\\n3 +\n",
    b"x = '''\xe9\n'''\xa0+ 1 +\n",
], ids=["parser", "compiler-not-utf8", "compiler", "backslash", "backslashes", "string"])
def test_errors_in_another_encoding_are_python3s(cgihost, tmp_path, body):
    orig, ref = orig_and_ref(tmp_path)
    (orig / "e.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + body)
    (ref / "e.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + body.replace(b"\xa0", b" "))
    ours, theirs = run([cgihost, orig / "e.py"]), run([PYTHON, ref / "e.py"])
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == theirs.stdout == b""
    assert ours.stderr.replace(bytes(orig), b"D") == theirs.stderr.replace(bytes(ref), b"D")


@pytest.mark.parametrize("src", [
    # a parser error at the end, in UTF-8 by another name: python3 shows
    # the line (compiled with its spec read, 3.11 took line 1's)
    b"# coding: utf8\nif 1:\n\xc2\xa0 x = 1; y = [1, 2\n  print(x)\n",
    # mac_arabic writes ASCII punctuation as bytes past 80: left alone
    b"# coding: mac_arabic\nif 1:\n\x81\x81y = 1\n\x81\x81return (y)\n",
], ids=["utf8-alias-eof", "mac_arabic"])
def test_more_encodings_give_what_python3_gives_a_copy_fixed_by_hand(cgihost, tmp_path, src):
    orig, ref = orig_and_ref(tmp_path)
    (orig / "e.py").write_bytes(src)
    fixed = src if b"mac_arabic" in src else src.replace(b"\xc2\xa0", b" ")
    (ref / "e.py").write_bytes(fixed)
    ours, theirs = run([cgihost, orig / "e.py"]), run([PYTHON, ref / "e.py"])
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.replace(bytes(orig), b"D") == theirs.stderr.replace(bytes(ref), b"D")


def test_a_source_its_encoding_refuses_is_left_to_python3(cgihost, tmp_path):
    # euc_jp has no character A0 A0: python3 says "encoding problem".
    script = tmp_path / "j.py"
    script.write_bytes(b"# coding: euc_jp\nif 1:\n\xa0\xa0print(1)\n")
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert theirs.returncode == 1
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


@pytest.mark.parametrize("src", [
    f"if True:\n{NB}{NB}y = 1\nbreak\n",  # found by the compiler, past the parser
    f"def f(a, a):\n{NB}{NB}pass\n",
    f"if True:\n{NB}{NB}print(1 is 1)\nreturn 5\n",  # a warning, then the error
    f"x = 1 is 1\nif True:\n{NB}{NB}print(x)\n",  # a warning, and it runs
    # an invalid escape: a DeprecationWarning on 3.11, not shown; a
    # SyntaxWarning from 3.12, given while parsing, before the no-break space
    f"import re\nx = re.match('\\d', '1')\nif True:\n{NB}{NB}print(x is None)\n",
])
@pytest.mark.parametrize("as_module", [False, True], ids=["script", "module"])
def test_errors_and_warnings_of_a_source_with_nbsp_are_python3s(cgihost, tmp_path, src, as_module):
    # The text and carets of an error the compiler finds, and each warning
    # once, as python3 gives them for the fixed copy: its status, output and
    # error; all of stderr as the same interpreter shows it for the fixed
    # copy (make test-matrix runs this against 3.13, whose warnings differ).
    orig, ref, same = tmp_path / "orig", tmp_path / "ref", tmp_path / "same"
    for d in (orig, ref, same):
        d.mkdir()
    (orig / "main.py").write_text("import bad\n" if as_module else src, encoding="utf-8")
    (orig / "bad.py").write_text(src, encoding="utf-8")
    for f in ("main.py", "bad.py"):
        fixed_copy(orig / f, ref)
        fixed_copy(orig / f, same)
    ours, theirs = run([cgihost, orig / "main.py"]), run([PYTHON, ref / "main.py"])
    fixed = run([cgihost, same / "main.py"])

    def shown(r, d):  # the source lines a warning shows are the file's, no-break spaces and all
        return [x.strip(" " + NB) for x in r.stderr.decode().replace(str(d), "D").splitlines()]
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    if theirs.returncode:
        assert shown(ours, orig)[-1] == shown(theirs, ref)[-1]  # the error
    assert shown(ours, orig) == shown(fixed, same)
    assert sum("Warning" in x for x in shown(ours, orig)) <= 1


@pytest.mark.parametrize("src", [
    # -W error: the warning is the error, placed as python3 places it
    f"#!/usr/bin/python3 -Werror\nif 1:\n{NB}{NB}x = '\\d'\n",
    f"#!/usr/bin/python3 -Werror\nx = 1;{NB}y = 1 is 1\n",
    # no-break spaces only in a literal: the warnings before a real error
    f"#!/usr/bin/python3 -Walways\nx = '\\d'\ns = 'a{NB}b'\nbreak\n",
    # an error the compiler finds, with CR LF and CR line endings
    f"if 1:\r\n{NB}{NB}x = 1\r\nbreak\r\n",
    f"if 1:\r{NB}{NB}x = 1\rbreak\r",
    # -W error, a warning before a real error: the warning is the error
    f"#!/usr/bin/python3 -Werror\nx = '\\d'\nif 1:\n{NB}{NB}y = (1,\n",
    # mixed filters: a warning shown, then one that is an error
    f"#!/usr/bin/python3 -Werror::SyntaxWarning\nx = 1\nif x:\n{NB}{NB}y = x is 1\nz = '\\d'\n",
], ids=["werror-escape", "werror-is", "walways-literal-only", "crlf", "cr", "werror-before-error", "mixed"])
def test_warnings_and_errors_as_python3_gives_them_for_a_fixed_copy(cgihost, tmp_path, src):
    script = tmp_path / "w.py"
    script.write_bytes(src.encode())
    ref = tmp_path / "ref"
    ref.mkdir()
    fixed = ref / "w.py"
    fixed.write_bytes(re.sub(f"{NB}(?![^']*'\\n)", " ", src).encode())  # not in the literal 'a b'
    opt = src.split("\n")[0].split()[1:] if src.startswith("#!") else []
    ours, theirs, same = run([cgihost, script]), run([PYTHON, *opt, fixed]), run([cgihost, fixed])
    assert ours.returncode == theirs.returncode != 0
    # all of stderr as the same interpreter gives it for the fixed copy (as
    # python3 here: make test-matrix runs this against 3.13, whose warnings
    # differ), and python3's error
    assert ours.stderr.replace(bytes(tmp_path), b"T") == same.stderr.replace(bytes(ref), b"T")
    assert ours.stderr.splitlines()[-1].split(b":")[0] == theirs.stderr.splitlines()[-1].split(b":")[0]
    (tmp_path / "v.py").write_text("import sys\nprint(sys.version_info[:2] == (3, 11))\n")
    if run([cgihost, tmp_path / "v.py"]).stdout == b"True\n":
        assert ours.stderr.replace(bytes(tmp_path), b"T") == theirs.stderr.replace(bytes(ref), b"T")


@pytest.mark.parametrize("as_module", [False, True], ids=["script", "module"])
def test_mixed_warning_filters_give_each_warning_once(cgihost, tmp_path, as_module):
    # A warning shown (always), then one that is an error: python3 shows the
    # first once, then the error, for the fixed copy.
    ref = tmp_path / "ref"
    ref.mkdir()
    src = f"x ={NB}'\\d'\nif x is 1: pass\n"
    (tmp_path / "bad.py").write_text(src, encoding="utf-8")
    (tmp_path / "main.py").write_text("import bad\n" if as_module else src, encoding="utf-8")
    for f in ("bad.py", "main.py"):
        fixed_copy(tmp_path / f, ref)
    env = {"PYTHONWARNINGS": "always::DeprecationWarning,error::SyntaxWarning"}
    ours, theirs = run([cgihost, tmp_path / "main.py"], env=env), run([PYTHON, ref / "main.py"], env=env)
    same = run([cgihost, ref / "main.py"], env=env)  # (make test-matrix: 3.13's warnings differ)

    def shown(r, d):  # a warning shows the file's line, no-break spaces and all
        return r.stderr.replace(bytes(d), b"T").replace(NB.encode(), b" ")
    assert ours.returncode == theirs.returncode == same.returncode == 1
    assert shown(ours, tmp_path) == shown(same, ref)
    (tmp_path / "v.py").write_text("import sys\nprint(sys.version_info[:2] == (3, 11))\n")
    if run([cgihost, tmp_path / "v.py"]).stdout == b"True\n":
        assert shown(same, ref) == shown(theirs, ref)
        assert ours.stderr.count(b"DeprecationWarning") == 1


@pytest.mark.parametrize("module", [".*bad", ".*other"])
def test_an_error_filter_for_one_module_is_python3s(cgihost, tmp_path, module):
    # The compile that places an error runs under no file name; a filter
    # making one module's warnings errors still applies to this one (and to
    # no other): the warning is the error, or is shown and the later error
    # stands.
    ref = tmp_path / "ref"
    ref.mkdir()
    (tmp_path / "bad.py").write_text(f"x = 1\nif x is 1:\n{NB}{NB}y = 1\nbreak\n", encoding="utf-8")
    (tmp_path / "main.py").write_text(f"import warnings\nwarnings.filterwarnings('error', module='{module}')\n"
                                      "import bad\n", encoding="utf-8")
    for f in ("bad.py", "main.py"):
        fixed_copy(tmp_path / f, ref)
    ours, theirs = run([cgihost, tmp_path / "main.py"]), run([PYTHON, ref / "main.py"])
    same = run([cgihost, ref / "main.py"])  # (make test-matrix: 3.13's messages differ)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.replace(bytes(tmp_path), b"T") == same.stderr.replace(bytes(ref), b"T")
    assert ours.stderr.splitlines()[-1].split(b":")[0] == theirs.stderr.splitlines()[-1].split(b":")[0]
    assert (b"'break' outside loop" in ours.stderr) == (module == ".*other")


def test_a_failed_import_of_a_module_with_nbsp_is_python3s(cgihost, tmp_path):
    # The error's text is the line as in the file (no newline at its end
    # there, none here), and a warning shown before is not shown again.
    ref = tmp_path / "ref"
    ref.mkdir()
    (tmp_path / "bad.py").write_text(f"x ={NB}1\nif x:\n    break", encoding="utf-8")
    script = tmp_path / "main.py"
    script.write_text("import warnings\ndef f(): warnings.warn('w')\nf()\n"
                      "try:\n    import bad\nexcept SyntaxError as e:\n    print(repr(e.text), e.lineno, e.offset)\n"
                      "f()\n", encoding="utf-8")
    for f in ("bad.py", "main.py"):
        fixed_copy(tmp_path / f, ref)
    ours, theirs = run([cgihost, script]), run([PYTHON, ref / "main.py"])
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, b"'    break' 3 5\n")
    assert ours.stderr.replace(bytes(tmp_path), b"T") == theirs.stderr.replace(bytes(ref), b"T")
    assert ours.stderr.count(b"UserWarning") == 1


def test_a_warning_once_given_is_not_given_again_by_an_import(cgihost, tmp_path):
    # Importing a module (compiled from source) whose no-break spaces are all
    # in literals leaves the warnings registry alone.
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mod.py").write_text(f"S = 'a{NB}b'\n", encoding="utf-8")
    script = tmp_path / "s.py"
    script.write_text("import os, sys, warnings\nsys.dont_write_bytecode = True\n"
                      "sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'm'))\n"
                      "def w(): warnings.warn('x')\nw()\nimport mod\nw()\nprint(repr(mod.S))\n",
                      encoding="utf-8")
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stderr.count(b"UserWarning") == 1


# An f-string: no-break spaces ("§" below) in the expressions of its {...},
# which are code, are spaces; those in its text and format spec (NB) are
# kept. The reference replaces only the first.
FSTRING_SCRIPT = (
    'name, price, qty, w, p = "Ann", 2.5, 4, 10, 3\n'
    'items, d = ["a", "b"], {"k": "v"}\n'
    'if True:\n'
    f'§§print(f"Hi{NB}{{§name§}}!")\n'
    f'§§print(f"Total:{{§price§*§qty§:{NB}>9.2f}}")\n'
    "§§print(f\"{§', '.join(items)§}\")\n"
    "§§print(f'{§d[\"k\"]§!r}{{{NB}}}')\n"
    "§§print(f\"{§price§:{§w§}.{p§}f}|{{{NB}}}\")\n"
    "§§print(f\"\"\"{§name\n§§+§'x'§}\"\"\")\n"
    "§§print(rf'\\{§qty§}', f'\\N{NO-BREAK SPACE}' == '\\xa0', f'{qty!r:{NB}^5}')\n"
    "§§print(f'{§f\"{§name§}{NB}\"§}', F'{§(lambda§x:§x)(1)§}')\n"
).replace("{NB}", NB)


@pytest.mark.parametrize("how", ["script", "module"])
def test_nbsp_in_an_fstrings_fields_is_a_space(cgihost, tmp_path, how):
    orig, ref = orig_and_ref(tmp_path)
    name = "f.py" if how == "script" else "helper.py"
    (orig / name).write_text(FSTRING_SCRIPT.replace("§", NB), encoding="utf-8")
    (ref / name).write_text(FSTRING_SCRIPT.replace("§", " "), encoding="utf-8")
    if how == "module":
        for d in (orig, ref):
            (d / "f.py").write_text("import helper\n")
    ours, theirs = run([cgihost, orig / "f.py"]), run([PYTHON, ref / "f.py"])
    assert theirs.returncode == 0, theirs.stderr
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, theirs.stdout, b"")
    assert NB.encode() in theirs.stdout  # the literal ones are kept


def test_nbsp_in_a_string_inside_an_fstring_in_its_own_quotes_is_kept(cgihost, tmp_path):
    # From 3.12 an f-string's {...} may hold a string in the f-string's own
    # quotes (3.11 refuses this; make test-matrix runs it against 3.13): its
    # no-break spaces are literal, those around it code.
    (tmp_path / "v.py").write_text("import sys\nprint(sys.version_info >= (3, 12))\n")
    if run([cgihost, tmp_path / "v.py"]).stdout != b"True\n":
        pytest.skip("same quotes inside an f-string need CPython 3.12+")
    for src in (f'd = {{"a{NB}b": "ok"}}\nprint(f"{{d["a{NB}b"]}}")\n',
                f'd = {{"a{NB}b": "ok"}}\nif 1:\n{NB}{NB}print(f"{{{NB}d["a{NB}b"]{NB}}}")\n'):
        (tmp_path / "f.py").write_text(src, encoding="utf-8")
        r = run([cgihost, tmp_path / "f.py"])
        assert (r.returncode, r.stdout, r.stderr) == (0, b"ok\n", b"")
        (tmp_path / "main.py").write_text("import f\n", encoding="utf-8")
        r = run([cgihost, tmp_path / "main.py"])
        assert (r.returncode, r.stdout, r.stderr) == (0, b"ok\n", b"")


def test_py_compile_of_a_module_with_nbsp_is_refused_as_python3_does(cgihost, tmp_path):
    # Only imports take no-break spaces as spaces: py_compile (and
    # compileall) refuse the file, and write no .pyc python3 would then run.
    (tmp_path / "helper.py").write_text(f"if True:\n{NB}{NB}X = 1\n", encoding="utf-8")
    script = tmp_path / "main.py"
    script.write_text("import py_compile\n"
                      "try:\n    py_compile.compile('helper.py', doraise=True)\n"
                      "except py_compile.PyCompileError as e:\n    print(type(e.exc_value).__name__)\n"
                      "import os\nprint(os.path.exists('__pycache__'))\n", encoding="utf-8")
    ours, theirs = run([cgihost, script], cwd=tmp_path), run([PYTHON, script], cwd=tmp_path)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, b"SyntaxError\nFalse\n")


@pytest.mark.parametrize("src", [
    b"x = 1\n# caf\xe9\nprint('ok')\n",
    b"print('caf\xe9')\n",
    b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n",
    b"#!/usr/bin/python3\n# coding: latin-1\nprint('caf\xe9')\n",
    b"x = 1\n# coding: latin-1\nprint('caf\xe9')\n",
    b"#!/usr/bin/python3 \xe9\n# coding: latin-1\nprint('ok')\n",
    b"\xef\xbb\xbfprint('caf\xc3\xa9')\n",
    b"print('ok')  # \xc3\x28\n",
    b"# \xed\xa0\x80\nprint('ok')\n",
    b"# \xc0\xaf\nprint('ok')\n",
    b"# \xf4\x90\x80\x80\nprint('ok')\n",
    # an encoding python3 cannot read the file with: "encoding problem",
    # with no line
    b"# coding: nosuch\nprint('ok')\n",
    b"#!/usr/bin/python3\n# vim: set fileencoding=ascii :\nx = 1\nprint('caf\xe9')\n",
    b"# coding: cp1252\nprint('\x81')\n",
    b"# coding: utf8\nprint('\xff')\n",
    b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nprint('ok')\n",
    b"\xef\xbb\xbf# coding: utf8\nprint('ok')\n",
    b"\xef\xbb\xbf# coding: UTF_8\nprint('ok')\n",
    b"# coding: Latin_1_x\nprint('caf\xe9')\n",
    b"# coding: latin-1\nprint('\xc2\xa0')\nx = (\n",
], ids=["comment", "literal", "cookie", "cookie-line-2", "cookie-too-late", "bad-line-1",
        "bom", "bad-continuation", "surrogate", "overlong", "past-10ffff",
        "no-such-codec", "ascii-refuses", "cp1252-refuses", "utf8-unnormalized-refuses",
        "bom-and-latin-1", "bom-and-utf8", "bom-and-UTF_8", "latin-1-alias", "latin-1-syntax-error"])
def test_source_that_is_not_utf8_is_taken_or_refused_as_python3_does(cgihost, tmp_path, src):
    # Compiled from memory, the tokenizer would skip the check python3 makes
    # of a file that declares no encoding.
    script = tmp_path / "enc.py"
    script.write_bytes(src)
    ours = run([cgihost, script])
    ref = run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr)


ENDINGS = {
    # python3 flushes stderr and stdout when the script's code ends: before
    # atexit handlers, a traceback or an exit message.
    "atexit": "import atexit, os\natexit.register(os.write, 1, b'footer\\n')\n"
              "print('Content-Type: text/plain\\n')\nprint('body')\n",
    "traceback": "print('Content-Type: text/plain\\n')\nprint('body')\n1/0\n",
    "exit-message": "import sys\nprint('body')\nsys.exit('bye')\n",
    "stderr-first": "import sys\nprint('out')\nsys.stderr.write('err\\n')\n",
    # the newline after the message goes to sys.stderr as str() of the
    # message left it, even when writing the message failed; a stderr whose
    # flush() fails (none here) gives status 120 without a word
    "exit-message-replaces-stderr": "import io, sys\nclass M:\n    def __str__(self):\n"
                                    "        sys.stderr = io.StringIO()\n        return 'msg'\n"
                                    "sys.exit(M())\n",
    "exit-message-write-fails": "import os, sys\nclass E:\n    n = 0\n    def write(self, s):\n"
                                "        E.n += 1\n        os.write(2, f'[{E.n}:{s!r}]'.encode())\n"
                                "        if E.n == 1:\n            raise OSError('no')\n"
                                "sys.stderr = E()\nsys.exit('msg')\n",
    # sys.stderr is read before sys.stdout's flush at exit, as
    # flush_std_files() reads it: a flush that replaces it flushes the old one
    "stderr-read-before-stdout-flush": "import io, sys\nclass Bad:\n    def write(self, s): return len(s)\n"
                                       "    def flush(self):\n        if n[0] >= 2: raise OSError('no')\n"
                                       "keep = sys.stderr = Bad()\nn = [0]\nclass Out:\n"
                                       "    def write(self, s): return len(s)\n    def flush(self):\n"
                                       "        n[0] += 1\n        if n[0] == 2: sys.stderr = io.StringIO()\n"
                                       "sys.stdout = Out()\n",
    # 3.11 leaves what sys.exit() raised as it was given up to the top,
    # unnormalized: a tuple is printed, status 1, where the SystemExit made
    # of it would have its first item as `code` (a student's sys.exit((5,))
    # lost its message in the error log); normalized for a handler first
    "exit-tuple": "import sys\nprint('body')\nsys.exit((5,))\n",
    "exit-empty-tuple": "import sys\nsys.exit(())\n",
    "exit-nested-tuple": "import sys\nsys.exit(((),))\n",
    "exit-tuple-through-finally": "import sys\ntry:\n    sys.exit((5,))\nfinally:\n    print('f')\n",
    # and an uncaught KeyboardInterrupt (exactly) ends it by SIGINT
    "keyboardinterrupt": "print('body')\nraise KeyboardInterrupt\n",
    "keyboardinterrupt-subclass": "class K(KeyboardInterrupt): pass\nraise K\n",
    "keyboardinterrupt-exit": "import sys\nsys.exit(KeyboardInterrupt())\n",
    # the script's globals are released at the end, and with them what
    # their __del__ methods print (a class and its functions make a cycle
    # with the globals, which only a collection frees)
    "global-del": "class D:\n    def __del__(self):\n        print('del ran')\n"
                  "d = D()\nprint('end')\n",
    "global-cycle-del": "import sys\nclass D:\n    def __del__(self):\n"
                        "        sys.stdout.write('del of a cycle ran\\n')\n"
                        "d = D()\nd.me = d\ndel d\nkeep = D()\nprint('end')\n",
}


def test_a_stream_replaced_by_its_own_closed_is_flushed_without_a_crash(cgihost, tmp_path):
    """At the end, sys.stdout's `closed` is asked before its flush(); Python
    code there that replaces sys.stdout frees the stream: it is held, not
    flushed after its free (python3 3.11 itself crashes on this one)."""
    script = tmp_path / "s.py"
    script.write_text("import os, sys\nclass O:\n    def __init__(self, tag):\n        self.tag = tag\n"
                      "    @property\n    def closed(self):\n        sys.stdout = O('new')\n"
                      "        return False\n    def write(self, s):\n        return len(s)\n"
                      "    def flush(self):\n        os.write(1, f'flush {self.tag}\\n'.encode())\n"
                      "sys.stdout = O('old' * 30)\n")
    r = run([cgihost, script])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"flush " + b"old" * 30 + b"\n")


@pytest.mark.parametrize("name", ENDINGS)
def test_the_end_of_a_script_is_python3s(cgihost, tmp_path, name):
    # Both streams on one pipe, as mod_cgi's error log is not, but a shell's
    # 2>&1 is: the order of what each printed shows.
    script = tmp_path / "end.py"
    script.write_text(ENDINGS[name])
    got = {}
    for who, argv in (("ours", [cgihost, script]), ("ref", [PYTHON, script])):
        full = dict(BASE_ENV)
        p = subprocess.run([str(a) for a in argv], env=full, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        got[who] = (p.returncode, p.stdout)
    if SERVED and got["ref"][0] < 0:  # the client exits 128+N for a script's signal N
        got["ref"] = (128 - got["ref"][0], got["ref"][1])
    assert got["ours"] == got["ref"]


TEARDOWN = """
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helper                     # holds an open file it never closes
helper.log.write("request seen\\n")
import cgi
cgi.logfile = os.path.join(helper.HERE, "cgi.log")
cgi.log("logged %s", "once")      # cgi.py's log file, never flushed either
import builtins
builtins.REQLOG = open(os.path.join(helper.HERE, "builtins.log"), "w")
REQLOG.write("held by builtins\\n")
sys.auditlog = open(os.path.join(helper.HERE, "sys.log"), "w")
sys.auditlog.write("held by sys\\n")
print("Content-Type: text/plain\\n")
print("body")
sys.stdout = open(os.devnull, "w")  # never put back
print("lost")
"""
HELPER = """
import os
HERE = os.path.dirname(os.path.abspath(__file__))
log = open(os.path.join(HERE, "app.log"), "a")
"""


TEARDOWN_FILES = {"app.log": "request seen\n", "cgi.log": "logged once\n",
                  "builtins.log": "held by builtins\n", "sys.log": "held by sys\n"}


def both_in_dirs(cgihost, tmp_path, files, env=None):
    """files (name: text, t.py the script) written to a directory each for
    cgihost and python3, t.py run there: {"ours"/"ref": (result, dir)}."""
    got = {}
    for who, exe in (("ours", cgihost), ("ref", PYTHON)):
        d = tmp_path / who
        d.mkdir()
        for name, text in files.items():
            (d / name).write_text(text)
        got[who] = (run([exe, d / "t.py"], env), d)
    return got


def test_what_python3s_teardown_flushes_is_flushed(cgihost, tmp_path):
    # python3's teardown puts sys.stdout back and frees every module's
    # globals: buffered output and files held by modules reach their files.
    got = {}
    for who, (r, d) in both_in_dirs(cgihost, tmp_path, {"helper.py": HELPER, "t.py": TEARDOWN},
                                    {"REQUEST_METHOD": "GET"}).items():
        got[who] = (r.returncode, r.stdout, *((d / f).read_text() for f in TEARDOWN_FILES))
    assert got["ours"] == got["ref"]
    assert got["ref"] == (0, b"Content-Type: text/plain\n\nbody\n", *TEARDOWN_FILES.values())


@pytest.mark.parametrize("safe", ["", "1"])
def test_sys_path_is_python3s_with_and_without_pythonsafepath(cgihost, tmp_path, safe):
    script = tmp_path / "p.py"
    script.write_text("import sys\nprint(sys.path)\n")
    env = {"PYTHONSAFEPATH": safe} if safe else {}
    ours, ref = run([cgihost, script], env), run([PYTHON, script], env)
    assert ours.returncode == ref.returncode == 0
    assert ours.stdout == ref.stdout
    assert (str(tmp_path).encode() in ours.stdout) == (not safe)


@pytest.mark.parametrize("src", [
    b'print("start")\n# comment \0 here\nprint("after the NUL line")\nraise SystemExit(4)\n',
    b'print("a")\0\nprint("b")\n',
    b'import sys\nprint("x")\n# \0\nprint(__file__, sys.argv)\nprint(1/0)\n',
    b'x = 1\xc2\xa0+ 1\nprint(x)\n# \0 nul\nprint("swallowed")\nif x:\n\xc2\xa0\xc2\xa0print("in")\n'],
    ids=["comment", "code", "traceback", "no-break spaces"])
def test_a_nul_byte_in_a_script_is_read_as_python3_reads_it(cgihost, tmp_path, src):
    """python3 3.11 reads a script through its file tokenizer, where a NUL
    byte ends its line (the rest runs); 3.12 refuses it. Compiled from
    memory, the script ended at the NUL without a word (status 0)."""
    script = tmp_path / "nul.py"
    script.write_bytes(src)
    fixed = tmp_path / "fixed" / "nul.py"  # python3 runs a copy fixed by hand
    fixed.parent.mkdir()
    fixed.write_bytes(src.replace("\u00a0".encode(), b" "))
    ours, ref = run([cgihost, script], {}), run([PYTHON, fixed], {})
    (tmp_path / "v.py").write_text("import sys\nprint(sys.version_info[:2] == (3, 11))\n")
    if run([cgihost, tmp_path / "v.py"]).stdout == b"True\n":
        assert (ours.returncode, ours.stdout, ours.stderr.replace(bytes(tmp_path), b"T")) == \
            (ref.returncode, ref.stdout, ref.stderr.replace(bytes(fixed.parent), b"T"))
        assert ref.returncode != 0 or b"\xc2\xa0" in src
    else:  # make test-matrix: cgihost on 3.12+, which refuses the file
        assert ours.returncode == 1 and ours.stdout == b"", ours
        assert ours.stderr.endswith(b"SyntaxError: source code cannot contain null bytes\n"), ours.stderr


USER_SITE = """
import os, sys
v = "python%d.%d" % sys.version_info[:2]
base = os.environ["BASE"]
print([p.replace(v, "pythonX.Y") for p in sys.path if p.startswith(base)])
try:
    import ubmod
    print("ubmod", ubmod.WHERE.replace(v, "pythonX.Y"))
except ImportError as e:
    print("ImportError", e)
"""


@pytest.mark.parametrize("how", ["abs", "slash", "relative", "dotdot", "empty", "home", "home//",
                                 "home empty", "nousersite"])
def test_the_user_site_directory_is_python3s(cgihost, tmp_path, how):
    """site.py's user site-packages: PYTHONUSERBASE (made absolute, as
    site.addsitedir() does), else HOME's .local (HOME is read as
    os.path.expanduser() reads it); PYTHONUSERBASE was ignored."""
    base = tmp_path / "b"
    for v in range(8, 14):  # whichever CPython cgihost embeds
        for top in (base / "ub", base / "home" / ".local"):
            d = top / "lib" / f"python3.{v}" / "site-packages"
            d.mkdir(parents=True)
            (d / "ubmod.py").write_text("WHERE = __file__\n")
            (d / "x.pth").write_text(str(top / "fromPth") + "\n")
            (top / "fromPth").mkdir(exist_ok=True)
    (base / "w").mkdir()
    env = {"BASE": str(base)}
    env.update({"abs": {"PYTHONUSERBASE": str(base / "ub")},
                "slash": {"PYTHONUSERBASE": str(base / "ub") + "//"},
                "relative": {"PYTHONUSERBASE": "../ub"},
                "dotdot": {"PYTHONUSERBASE": str(base / "w" / ".." / "ub")},
                "empty": {"PYTHONUSERBASE": "", "HOME": str(base / "home")},
                "home": {"HOME": str(base / "home")},
                "home//": {"HOME": str(base / "home") + "//"},
                "home empty": {"HOME": ""},
                "nousersite": {"PYTHONUSERBASE": str(base / "ub"), "PYTHONNOUSERSITE": "1"}}[how])
    script = tmp_path / "us.py"
    script.write_text(USER_SITE)
    ours = run([cgihost, script], env, cwd=base / "w")
    ref = run([PYTHON, script], env, cwd=base / "w")
    assert ref.returncode == 0, ref.stderr
    assert (ours.stdout, ours.returncode) == (ref.stdout, 0), ours.stderr
    assert (b"\nubmod /" in ref.stdout) == (how not in ("home empty", "nousersite")), ref.stdout


H3 = """
import os
class Res:
    def __del__(self):
        print("released", os.path.basename(os.getcwd()) != "", flush=True)
held = Res()
"""
ORDER = """
import builtins, functools, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h3
f = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "print.log"), "w")
builtins.print = functools.partial(builtins.print, file=f)
del f
print("hello")
def work():
    r = h3.Res()
    1/0
work()
"""


def test_the_teardown_releases_in_python3s_order(cgihost, tmp_path):
    # A traceback's frames (sys.last_traceback) go before the modules are
    # cleared, so __del__ methods see their module's globals; a replaced
    # builtin is dropped, and with it the file it held.
    got = {}
    for who, (r, d) in both_in_dirs(cgihost, tmp_path, {"h3.py": H3, "t.py": ORDER}).items():
        # (the traceback's text is the interpreter's: cgihost may be built
        # against another CPython than /usr/bin/python3's)
        got[who] = (r.returncode, r.stdout, b"Exception ignored" in r.stderr, (d / "print.log").read_text())
    assert got["ours"] == got["ref"]
    # r goes with the traceback, printing through the replaced print into
    # the file; h3.held goes with h3, after builtins are put back.
    assert got["ref"][1] == b"released True\n" and got["ref"][3] == "hello\nreleased True\n"


def test_sys_executable_is_the_matching_python(cgihost, tmp_path):
    script = tmp_path / "exe.py"
    script.write_text(
        "import subprocess, sys\n"
        "out = subprocess.run([sys.executable, '-c', 'import sys; print(sys.version_info[:2])'],"
        " capture_output=True, text=True).stdout.strip()\n"
        "print(out == str(sys.version_info[:2]), sys.executable)\n")
    r = run([cgihost, script])
    assert r.stdout.startswith(b"True /"), r.stderr
    # named as python3 names itself (cgitb's reports show it): the python3
    # beside the python3.X it is
    assert r.stdout.endswith(b"/python3\n"), r.stdout


def test_sys_orig_argv_is_the_python3_command_line(cgihost, tmp_path):
    script = tmp_path / "orig.py"
    script.write_text("import sys\nprint(sys.orig_argv == [sys.executable, *sys.argv], sys.argv[1:])\n")
    for argv in ([cgihost, script, "a", "b c"], [PYTHON, script, "a", "b c"]):
        assert run(argv).stdout == b"True ['a', 'b c']\n"


@cold_only
def test_import_cgi_is_built_in_and_light(cgihost, tmp_path):
    script = tmp_path / "mods.py"
    script.write_text(
        "import sys\n"
        "before = set(sys.modules)\n"
        "import cgi, cgi\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print(new, cgi.__spec__.origin)\n"
        "cgi.FieldStorage()\n"
        "heavy = {'email', 'urllib', 'urllib.parse', 'tempfile', 're', 'locale', 'warnings',\n"
        "         'collections', 'os'}\n"
        "print(sorted(heavy & set(sys.modules)))\n")
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"}
    r = run([cgihost, script], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"['cgi'] built-in\n[]\n"
    # With every warning shown (which imports warnings), still no DeprecationWarning.
    r = run([cgihost, script], dict(env, PYTHONWARNINGS="always"))
    assert r.returncode == 0 and r.stderr == b""


def test_missing_script_is_one_line_and_status_2(cgihost, tmp_path):
    r = run([cgihost, tmp_path / "nope.py"])
    assert r.returncode == 2
    assert r.stderr.count(b"\n") == 1
    assert b"can't open file" in r.stderr and b"[Errno 2]" in r.stderr


def test_unreadable_script(cgihost, tmp_path):
    r = run([cgihost, tmp_path])
    assert r.returncode == 2
    assert b"[Errno 21]" in r.stderr


def test_version_and_usage(cgihost):
    v = subprocess.run([cgihost, "--version"], capture_output=True)
    assert v.returncode == 0
    # and the CPython it embeds
    version = (ROOT / "VERSION").read_text().strip()
    assert re.fullmatch(rf"cgihost {re.escape(version)} \(CPython 3\.\d+\.\d+\S*\)\n", v.stdout.decode()), v
    u = subprocess.run([cgihost], capture_output=True)
    assert u.returncode == 2 and b"usage" in u.stderr


def test_help_gives_the_man_pages_synopsis(cgihost):
    """--help names what the man page's SYNOPSIS does: stop and status take
    --user and --socket-dir, serve's options are behind serve --help."""
    h = subprocess.run([cgihost, "--help"], capture_output=True)
    assert h.returncode == 0 and h.stderr == b"", h
    assert b"cgihost stop | status [--user USER] [--socket-dir DIR]\n" in h.stdout, h.stdout
    assert b"cgihost serve --help" in h.stdout and b"cgihost [--] SCRIPT [ARG...]\n" in h.stdout
    assert subprocess.run([cgihost, "-h"], capture_output=True).stdout == h.stdout


@pytest.mark.parametrize("command", ["serve", "stop", "status"])
def test_a_commands_help_is_its_usage(cgihost, command):
    h = subprocess.run([cgihost, command, "--help"], capture_output=True, timeout=30)
    assert h.returncode == 0 and h.stderr == b"", h
    assert h.stdout.startswith(b"usage: cgihost serve ")
    assert b"cgihost stop | status [--user USER] [--socket-dir DIR]\n" in h.stdout, h.stdout


def test_unclosed_files_are_flushed_at_exit(cgihost, tmp_path):
    out = tmp_path / "out.txt"
    script = tmp_path / "w.py"
    script.write_text(
        "import atexit\n"
        f"f = open({str(out)!r}, 'w')\n"
        "f.write('data')\n"
        "atexit.register(lambda: print('atexit ran'))\n")
    r = run([cgihost, script])
    assert r.returncode == 0
    assert r.stdout == b"atexit ran\n"
    assert out.read_text() == "data"


# A file left open in a script whose globals are in a cycle (a function's
# __globals__): the cycle's collection could close the FileIO before the
# TextIOWrapper's flush, losing the data, unless the teardown collects first
# as Py_FinalizeEx() does. gc.disable() is the control: python3 loses it too.
@pytest.mark.parametrize("rest", [
    "def g(): pass\n",
    "import cgi\n",
    "class C:\n    def m(self): pass\n",
    "def h(log=open(OUT + '.2', 'w')):\n    pass\nh.__defaults__[0].write('two')\n",
    "import gc\ngc.disable()\ndef g(): pass\n",
])
def test_files_left_open_in_a_cycle_are_written_as_python3_writes_them(cgihost, tmp_path, rest):
    got = []
    for argv0 in (cgihost, PYTHON):
        out = tmp_path / f"out-{len(got)}.txt"
        script = tmp_path / "w.py"
        script.write_text(f"OUT = {str(out)!r}\n"
                          "f = open(OUT, 'w')\nf.write('data')\n" + rest)
        r = run([argv0, script])
        assert r.returncode == 0 and (argv0 == PYTHON or r.stderr == b""), r.stderr
        two = pathlib.Path(str(out) + ".2")
        got.append((out.read_text(), two.read_text() if two.exists() else None))
    assert got[0] == got[1]
    if "disable" not in rest:
        assert got[0][0] == "data"


# Where a helper module keeps a file open, held beyond the modules' teardown:
# by a signal handler, a codec search function or an at-fork callback
# (released with the interpreter), an instance put in sys.modules, an
# attribute of a module there before the script, a list in sys.
HOLDERS = {
    "signal": "import signal, sys\nlogf = open(OUT, 'a')\nclass D:\n    def __del__(self):\n"
              "        print('del D', flush=True)\nd = D()\ndef on_term(n, f):\n    sys.exit(1)\n"
              "signal.signal(signal.SIGTERM, on_term)\n",
    "codecs": "import codecs\nlogf = open(OUT, 'a')\ndef search(name):\n    return None\n"
              "codecs.register(search)\n",
    "at-fork": "import os\nlogf = open(OUT, 'a')\ndef child():\n    pass\n"
               "os.register_at_fork(after_in_child=child)\n",
    "sys.modules": "import sys\nclass _Log:\n    def __init__(self):\n        self.logf = open(OUT, 'a')\n"
                   "    def __del__(self):\n        print('del _Log', flush=True)\n"
                   "sys.modules[__name__] = _Log()\n",
    "os-attribute": "import os\nos.cgihost_test_keep = logf = open(OUT, 'a')\n",
    "sys-list": "import sys\nlogf = open(OUT, 'a')\nsys.path_hooks.append(logf)\n",
}


# A module there at the start, freed by the script, leaves its address to
# the next object of its size: a module the script makes then.
ADDRESS_REUSED = """import sys, types
class D:
    def __del__(self):
        print('del D', flush=True)
gone = id(sys.modules['_sitebuiltins'])
del sys.modules['_sitebuiltins']
new = types.ModuleType('made')
new.d = D()
sys.modules['made'] = new
del new
print('ok')
"""


def test_a_module_made_where_one_that_was_there_was_freed_is_released(cgihost, tmp_path):
    """The teardown releases the modules the script added, and told them
    from those there before by address: a module made at the address of
    one that was there and was freed (the __main__ a served request
    replaces, or one the script deleted) was kept, and the finalizers of
    what it held never ran, where python3 runs them."""
    script = tmp_path / "aba.py"
    script.write_text(ADDRESS_REUSED)
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout == b"ok\ndel D\n"


@pytest.mark.parametrize("holder", list(HOLDERS))
def test_a_helpers_open_file_is_written_wherever_it_is_held(cgihost, tmp_path, holder):
    got = []
    for argv0 in (cgihost, PYTHON):
        d = tmp_path / str(len(got))
        d.mkdir()
        out = d / "out.txt"
        (d / "helper.py").write_text(f"OUT = {str(out)!r}\n" + HOLDERS[holder])
        script = d / "s.py"
        script.write_text("import helper\nhelper.logf.write('data')\nprint('ok')\n")
        r = run([argv0, script])
        assert r.returncode == 0 and r.stderr == b"", r.stderr
        got.append((r.stdout, out.read_text() if out.exists() else None))
    assert got[0] == got[1]
    assert got[0][1] == "data"


def test_what_finalizers_print_once_sys_is_cleared_is_lost_as_in_python3(cgihost, tmp_path):
    """python3 clears sys (its streams with it) after the modules, and
    collects once more: an object the script kept in sys, and the __main__
    globals its class holds, are released then, and what their __del__
    prints goes nowhere. A plain __main__ object's goes out (the control)."""
    kept = tmp_path / "kept.py"
    kept.write_text("import sys\nclass D:\n    def __del__(self):\n        print('del D')\nd = D()\n"
                    "class M:\n    def __del__(self):\n        print('del M', file=sys.stderr)\n"
                    "sys.mything = M()\nprint('end')\n")
    plain = tmp_path / "plain.py"
    plain.write_text("class D:\n    def __del__(self):\n        print('del D')\nd = D()\nprint('end')\n")
    # python3 clears sys as a module: names with one leading underscore
    # first, then the rest in order, streams set to None as it reaches
    # them: sys._keep and a replaced displayhook (before the streams) print,
    # sys.mine (added after them) does not
    order = tmp_path / "order.py"
    order.write_text("import sys\nclass O:\n    def __init__(s, n): s.n = n\n"
                     "    def __del__(s): print('del', s.n)\nprint('end')\n"
                     "sys._keep = O('sys._keep')\nsys.mine = O('sys.mine')\n"
                     "sys.displayhook = O('sys.displayhook')\n")
    for script, out in ((kept, b"end\n"), (plain, b"end\ndel D\n"),
                        (order, b"end\ndel sys._keep\ndel sys.displayhook\n")):
        ours, theirs = run([cgihost, script]), run([PYTHON, script])
        assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
        assert ours.stdout == out and ours.stderr == b""


def test_a_finalizer_that_prints_once_stdout_is_gone_goes_on(cgihost, tmp_path):
    """Once python3 has cleared sys, sys.stdout is None: print() does
    nothing and the finalizer goes on (to write its file), where a missing
    sys.stdout would raise and stop it."""
    out = tmp_path / "log.out"
    script = tmp_path / "log.py"
    script.write_text("import sys\nclass Log:\n    def __init__(self, path):\n"
                      "        self.f = open(path, 'w')\n    def __del__(self):\n"
                      "        print('closing the log')\n        self.f.write('last record\\n')\n"
                      "        self.f.close()\n"
                      f"sys.applog = Log({str(out)!r})\nprint('body')\n")
    for argv0 in (PYTHON, cgihost):
        out.unlink(missing_ok=True)
        r = run([argv0, script])
        assert (r.returncode, r.stdout, r.stderr) == (0, b"body\n", b""), (argv0, r)
        assert out.read_text() == "last record\n", argv0


@pytest.mark.parametrize("disable", ["", "import gc\ngc.disable()\n"])
def test_a_cycle_is_finalized_at_exit_as_python3_does(cgihost, tmp_path, disable):
    """The teardown's collection is made also where the script disabled gc,
    as finalize_modules()'s is."""
    script = tmp_path / "cyc.py"
    script.write_text(disable + "class A:\n    def __del__(self):\n        print('del A')\n"
                      "a = A()\na.me = a\ndef g(): pass\n")
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"del A\n"


DISTUTILS = """
from distutils.util import strtobool
import distutils, sys
print(strtobool("yes"), distutils.__file__)
print([type(f).__name__ for f in sys.meta_path if type(f).__name__ == "DistutilsMetaFinder"])
import distutils.version
"""


@pytest.mark.parametrize("use", [None, "local", "stdlib"])
def test_distutils_is_setuptools_where_its_pth_says(cgihost, tmp_path, use):
    """setuptools' distutils-precedence.pth (Debian's python3-setuptools)
    makes python3's `import distutils` setuptools' copy, with no
    DeprecationWarning; cgihost skips .pth code lines, but does that one
    when distutils is first imported. Where the .pth is absent, both give
    the stdlib's."""
    script = tmp_path / "du.py"
    script.write_text(DISTUTILS)
    env = {} if use is None else {"SETUPTOOLS_USE_DISTUTILS": use}
    ours, theirs = run([cgihost, script], env), run([PYTHON, script], env)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr)
    pth = pathlib.Path("/usr/lib/python3/dist-packages/distutils-precedence.pth")
    if pth.exists() and use != "stdlib":
        assert b"setuptools/_distutils" in ours.stdout and ours.stderr == b""


SPY = """
import os, sys
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "distutils":
            print("spy asked distutils")
        return None
sys.meta_path.insert(len(sys.meta_path) - 3, Spy())  # just before BuiltinImporter
os.environ["SETUPTOOLS_USE_DISTUTILS"] = "stdlib" if os.environ.get("FLIP") else "local"
import distutils
print(distutils.__file__)
"""


@pytest.mark.parametrize("use,flip", [(None, "1"), ("stdlib", ""), ("stdlib", "1")])
def test_distutils_is_decided_at_the_start_and_asks_every_finder(cgihost, tmp_path, use, flip):
    """The .pth line reads SETUPTOOLS_USE_DISTUTILS at python3's start: a
    script changing it later changes nothing. Every finder on sys.meta_path
    is asked for distutils where python3 asks it (the lazy finder once took
    itself out of the list while importlib went through it)."""
    script = tmp_path / "spy.py"
    script.write_text(SPY)
    env = {"FLIP": flip} if use is None else {"SETUPTOOLS_USE_DISTUTILS": use, "FLIP": flip}
    ours, theirs = run([cgihost, script], env), run([PYTHON, "-W", "ignore", script], env)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


def test_broken_stdout_exits_120(cgihost, tmp_path):
    script = tmp_path / "big.py"
    script.write_text("print('x' * 100000)\n")
    p = subprocess.Popen([str(cgihost), str(script)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(BASE_ENV))
    p.stdout.close()
    p.wait(timeout=30)
    q = subprocess.Popen([PYTHON, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(BASE_ENV))
    q.stdout.close()
    q.wait(timeout=30)
    assert p.returncode == q.returncode


FINALIZERS = """
import atexit, sys, time
class Late:
    def __del__(self, sleep=time.sleep, secs=float(sys.argv[1])):
        print("from __del__")
        sleep(secs)
late = Late()
atexit.register(lambda: print("from atexit"))
print("from the script")
if sys.argv[2] == "big":
    sys.stdout.write("x" * 200000)
"""


@pytest.mark.parametrize("reader", ["reads", "gone"])
def test_finalizers_print_as_python3_does(cgihost, tmp_path, reader):
    """stdout is flushed after atexit and before the teardown, whose
    finalizers' output follows silently: the same bytes, stderr and status
    as python3, also when the reader has gone (no 'Exception ignored')."""
    script = tmp_path / "fin.py"
    script.write_text(FINALIZERS)
    got = []
    for argv in ([cgihost, script], [PYTHON, script]):
        p = subprocess.Popen([str(a) for a in argv] + ["0", "big" if reader == "gone" else "small"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(BASE_ENV))
        if reader == "gone":
            p.stdout.close()
            out = b""
            err = p.stderr.read()
        else:
            out, err = p.communicate(timeout=30)
        p.wait(timeout=30)
        # Without the interpreter's own traceback markers (3.13 underlines
        # more than 3.11, the oracle; make test-matrix runs this on 3.13).
        err = b"\n".join(line for line in err.split(b"\n") if line.strip(b" ~^") or not line)
        got.append((p.returncode, out, err.replace(str(cgihost).encode(), b"PROG")
                    .replace(PYTHON.encode(), b"PROG")))
    assert got[0] == got[1]
    if reader == "reads":
        assert got[0][1] == b"from the script\nfrom atexit\nfrom __del__\n"


def test_output_is_out_before_the_teardown(cgihost, tmp_path):
    """A slow teardown (a finalizer, or freeing a large upload's temporary
    file) does not hold back the response: it is flushed first, as python3
    does."""
    script = tmp_path / "fin.py"
    script.write_text(FINALIZERS)
    p = subprocess.Popen([str(cgihost), str(script), "3", "small"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(BASE_ENV))
    t0 = time.monotonic()
    first = p.stdout.readline()
    t_first = time.monotonic() - t0
    rest = p.stdout.read()
    p.wait(timeout=30)
    assert first == b"from the script\n" and rest == b"from atexit\nfrom __del__\n"
    assert t_first < 2.0, t_first  # the __del__ sleeps 3 s after the flush


def test_a_script_that_closes_its_stdout_exits_as_python3(cgihost, tmp_path):
    """python3 does not flush a closed sys.stdout at exit (no 'Exception
    ignored', status 0)."""
    script = tmp_path / "close.py"
    script.write_text("import sys\nprint('hi')\nsys.stdout.close()\n")
    ours = run([cgihost, script])
    ref = run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    assert ref.returncode == 0 and ref.stdout == b"hi\n"


SHEBANG_BODY = r"""
import os, sys
f = sys.flags
print(f.optimize, __debug__, f.dont_write_bytecode, f.no_user_site, f.no_site,
      f.ignore_environment, f.isolated, f.safe_path, f.bytes_warning, f.dev_mode, f.utf8_mode,
      f.warn_default_encoding)
open(__file__).close()  # an EncodingWarning under -X warn_default_encoding
print(sys.warnoptions, sys._xoptions, sys.stdout.write_through, sys.stdout.line_buffering)
print(sys.orig_argv[1:-1], 'exit' in dir(__builtins__), sys.path[0] == os.path.dirname(__file__),
      any('packages' in p for p in sys.path))
import warnings
warnings.warn("careful")
print("Content-Type: text/plain\n")
os.system("echo from a subprocess")   # before it, or after: -u
print("end")
"""


@pytest.mark.parametrize("opt", ["-u", "-O", "-OO", "-uO", "-B", "-s", "-S", "-E", "-I", "-P",
                                 "-W ignore", "-Werror", "-W ignore::UserWarning", "-b", "-X dev",
                                 "-X utf8", "-Xwarn_default_encoding", "-v", "-q", "-R", "-u -O", "-Z",
                                 "-h", "-V", ""])
def test_a_shebang_lines_option_is_python3s(cgihost, tmp_path, opt):
    """The option of a `#!/usr/bin/python3 OPT` line, as mod_cgi running the
    script directly gives it to python3 (through the kernel), is cgihost's."""
    script = tmp_path / "opt.py"
    script.write_text(f"#!{PYTHON} {opt}\n" + SHEBANG_BODY)
    script.chmod(0o755)
    # no PYTHON* variable: under tests/served the request is then the server's
    ours, ref = run([cgihost, script]), run([script])
    def norm(r):  # -v's import lines differ (cgihost starts lean, imports built-in cgi)
        err = r.stderr if opt != "-v" else b"".join(
            line for line in r.stderr.splitlines(True) if line.startswith((b"Python ", b"Type ")) or b"Warning" in line)
        # What is the interpreter's (make test-matrix runs this against 3.13):
        # the version it names (-V, -v), its path in the usage line, and the
        # traceback markers (3.13 underlines more).
        err = b"".join(line for line in err.splitlines(True) if line.strip(b" ~^\n") or line == b"\n")
        err = re.sub(rb"usage: \S+", b"usage: PROG", err)
        return r.returncode, *(re.sub(rb"Python 3\.\d+\.\d+[^\s:]*( \([^\n]*)?", b"Python 3", x) for x in (r.stdout, err))
    assert norm(ours) == norm(ref)


def test_the_teardowns_collections_call_gc_callbacks_as_python3s(cgihost, tmp_path):
    """Py_FinalizeEx()'s collection calls gc.callbacks; finalize_modules()'s
    (_PyGC_CollectNoFail) do not."""
    script = tmp_path / "gccb.py"
    script.write_text("import gc, sys\nw = sys.stderr.write\n"
                      "def cb(phase, info, w=w):\n"
                      "    if phase == 'stop' and info['generation'] == 2:\n"
                      "        w('full collection\\n')\n"
                      "gc.callbacks.append(cb)\n")
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == \
        (theirs.returncode, theirs.stdout, theirs.stderr) == (0, b"", b"full collection\n")


IGNORES_BODY = "print('Content-Type: text/plain')\nprint()\nprint('unread', flush=True)\n"
# A POST of 20000 bytes under Apache, run in-process
APACHE_POST = dict(BASE_ENV, REQUEST_METHOD="POST", CONTENT_LENGTH="20000", CGIHOST_NO_SERVER="1",
                   SERVER_SOFTWARE="Apache/2.4.62 (Debian)")


def test_an_unread_body_is_drained_until_apache_ends_it(cgihost, tmp_path):
    """mod_cgid gives the script one socket as stdin and stdout, writes the
    whole request body before it reads the response, then shuts its end
    down. A script that ends without reading the body must not close that
    socket while body is still to come (then, or unread in it, the kernel
    resets Apache's end and the response is lost): cgihost reads and drops
    the body until Apache's end of it, however slowly a client sends it.
    The peer here plays Apache."""
    script = tmp_path / "ignores.py"
    script.write_text(IGNORES_BODY)
    a, p = as_mod_cgid([cgihost, script], APACHE_POST, stderr=subprocess.PIPE)
    try:
        out = recv_until(a, rb"unread\n$")
        time.sleep(0.3)  # the script has ended; no body has come yet
        assert p.poll() is None, p.stderr.read()
        for _ in range(2):  # a slow client: two halves, 0.3 s apart
            a.sendall(b"x" * 10000)
            time.sleep(0.3)
        a.shutdown(socket.SHUT_WR)
        assert out + recv_to_eof(a) == b"Content-Type: text/plain\n\nunread\n"
        assert p.wait(timeout=30) == 0
    finally:
        a.close()
        reap(p)


def test_under_another_server_an_unread_body_not_there_yet_is_not_waited_for(cgihost, tmp_path):
    """Under a server that is not Apache, whose socket's other end may never
    be shut down, the script's end is not held up for a body that has not
    come."""
    script = tmp_path / "ignores.py"
    script.write_text(IGNORES_BODY)
    env = dict(APACHE_POST)
    del env["SERVER_SOFTWARE"]
    a, p = as_mod_cgid([cgihost, script], env)
    try:
        assert p.wait(timeout=30) == 0
        assert recv_to_eof(a).endswith(b"unread\n")
    finally:
        a.close()
        reap(p)


FILE_AFTER = """import atexit, sys, threading, time
def cleanup():
    print("atexit sees", "__file__" in globals(), "__cached__" in globals())
atexit.register(cleanup)
def t():
    time.sleep(0.1)
    print("thread sees", "__file__" in globals())
threading.Thread(target=t).start()
print("main sees", __file__ == sys.argv[0])
if sys.argv[1:] == ["exit"]:
    sys.exit(3)
if sys.argv[1:] == ["raise"]:
    raise ValueError("x")
"""


@pytest.mark.parametrize("end", ["", "exit", "raise"])
def test_file_leaves_main_when_the_scripts_code_ends_as_in_python3(cgihost, tmp_path, end):
    """python3 deletes __file__ and __cached__ from __main__ once the
    script's code has ended (after printing an uncaught exception), before
    threads are joined and atexit handlers run; but a SystemExit ends the
    process from within the printing, and leaves them."""
    script = tmp_path / "f.py"
    script.write_text(FILE_AFTER)
    args = [end] if end else []
    ours, theirs = run([cgihost, script, *args]), run([PYTHON, script, *args])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout.endswith(b"atexit sees %s %s\n" % ((b"True",) * 2 if end == "exit" else (b"False",) * 2))


POOL_LEFT_OPEN = """import multiprocessing
def sq(x):
    return x * x
p = multiprocessing.Pool(2)
print(p.map(sq, range(5)))
"""


def test_an_unclosed_pool_goes_quietly_as_in_python3(cgihost, tmp_path):
    """multiprocessing names __main__ __mp_main__ in sys.modules too: that
    entry goes at the teardown as python3 drops every entry, so that
    __main__'s globals (the pool) are freed with the modules all there; in
    the cold path, where __main__ was there before the baseline, it kept
    __main__ alive until its modules were cleared, and Pool.__del__ failed."""
    script = tmp_path / "pool.py"
    script.write_text(POOL_LEFT_OPEN)
    ours, theirs = run([cgihost, script]), run([PYTHON, script])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == b"[0, 1, 4, 9, 16]\n" and ours.stderr == b""


DAEMON_WRITER = """import subprocess, threading, time
p = subprocess.Popen(["sleep", "5"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
threading.Thread(target=lambda: p.stdin.write(b"x" * 200000), daemon=True).start()
time.sleep(0.2)
print("body", flush=True)
"""


def test_a_daemon_thread_blocked_in_a_write_does_not_hold_the_exit(cgihost, tmp_path):
    """python3 abandons daemon threads at exit. One blocked in a write holds
    its file's lock: the teardown does not wait on it to flush that file."""
    script = tmp_path / "d.py"
    script.write_text(DAEMON_WRITER)
    t = time.monotonic()
    r = run([cgihost, script])
    assert r.returncode == 0 and r.stdout == b"body\n", r
    assert time.monotonic() - t < 4


@pytest.mark.parametrize("handler", ["", "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"],
                         ids=["default", "script's handler"])
def test_a_signal_during_the_drain_ends_it(cgihost, tmp_path, handler):
    """The script has ended and its body is being drained: a web server's
    SIGTERM then ends the process by its default effect, as python3's end
    has put the script's handlers away."""
    script = tmp_path / "ignores.py"
    script.write_text(handler + IGNORES_BODY)
    a, p = as_mod_cgid([cgihost, script], APACHE_POST)
    try:
        recv_until(a, rb"unread\n$")
        signal_ends_the_drain(a, p)
    finally:
        a.close()
        reap(p)


def test_an_alarm_the_script_left_armed_does_not_cut_the_drain(cgihost, tmp_path):
    """The script's timer is the script's: it is cancelled with it, and the
    drain waits for the body, as a served run's client does."""
    script = tmp_path / "alarm.py"
    script.write_text("import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\nsignal.alarm(1)\n"
                      + IGNORES_BODY)
    a, p = as_mod_cgid([cgihost, script], APACHE_POST)
    try:
        out = recv_until(a, rb"unread\n$")
        time.sleep(1.5)  # past the alarm
        assert p.poll() is None
        a.sendall(b"x" * 20000)
        a.shutdown(socket.SHUT_WR)
        assert out + recv_to_eof(a) == b"Content-Type: text/plain\n\nunread\n"
        assert p.wait(timeout=30) == 0
    finally:
        a.close()
        reap(p)


SIGNAL_HANDLER_IN_MAIN = """import signal, sys, tempfile
def onterm(s, f):
    sys.exit(1)
signal.signal(signal.SIGTERM, onterm)
t = tempfile.NamedTemporaryFile("w", dir=".", prefix="tmpdel")
t.write("x")
class Conn:
    def __del__(self):
        print("Conn closed")
c = Conn()
print("end")
"""

PENDING_AT_TEARDOWN = """import signal, atexit
signal.signal(signal.SIGALRM, lambda n, f: print("handler ran at teardown"))
atexit.register(sum, range(3 * 10 ** 7))
atexit.register(signal.setitimer, signal.ITIMER_REAL, 0.01)
print("body")
"""

# signal.signal() runs the handlers of signals caught and not yet handled
# first; one that raises must not keep SIGINT's handler, and the globals it
# holds, from going.
PENDING_RAISES = """import atexit, signal, sys, tempfile
def onint(s, f):
    sys.exit(1)
def onalrm(s, f):
    raise RuntimeError("alarm")
signal.signal(signal.SIGINT, onint)
signal.signal(signal.SIGALRM, onalrm)
t = tempfile.NamedTemporaryFile("w", dir=".", prefix="tmpdel")
t.write("x")
atexit.register(sum, range(3 * 10 ** 7))
atexit.register(signal.setitimer, signal.ITIMER_REAL, 0.01)
print("end")
"""


# two of them pending, both raising: each signal.signal() call fails on one
PENDING_TWO_RAISE = PENDING_RAISES.replace(
    "signal.signal(signal.SIGALRM, onalrm)\n",
    "signal.signal(signal.SIGALRM, onalrm)\nsignal.signal(signal.SIGPROF, onalrm)\n").replace(
    "atexit.register(signal.setitimer, signal.ITIMER_REAL, 0.01)\n",
    "atexit.register(signal.setitimer, signal.ITIMER_PROF, 0.01)\n"
    "atexit.register(signal.setitimer, signal.ITIMER_REAL, 0.01)\n")


@pytest.mark.parametrize("text", [SIGNAL_HANDLER_IN_MAIN, PENDING_AT_TEARDOWN, PENDING_RAISES,
                                  PENDING_TWO_RAISE],
                         ids=["handler", "pending", "pending-raises", "pending-two-raise"])
def test_signal_handlers_go_at_exit_as_in_python3(cgihost, tmp_path, text):
    """python3 puts every handler of its own back to SIG_DFL after atexit
    (_PySignal_Fini()): a handler defined in __main__ then no longer holds
    its globals, whose finalizers run and whose temporary file goes. A
    signal caught late in atexit's C code is dropped there: its handler
    prints nothing."""
    script = tmp_path / "s.py"
    script.write_text(text)
    ours, theirs = run([cgihost, script], cwd=tmp_path), run([PYTHON, script], cwd=tmp_path)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout in (b"end\nConn closed\n", b"body\n", b"end\n")
    assert not list(tmp_path.glob("tmpdel*"))
