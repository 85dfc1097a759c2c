"""setup.py, as pip runs it from a checkout: pip builds in the tree, so
build/lib.* and build/temp.* of an earlier install are reused; a header's
change must rebuild the modules, not reinstall the old ones."""
import os
import shutil
import subprocess
import time

from conftest import PYTHON, ROOT


def build(tree):
    return subprocess.run([PYTHON, "setup.py", "-q", "build_ext", "--build-lib", "L",
                           "--build-temp", "T"], cwd=tree, capture_output=True)


def test_a_changed_header_rebuilds_the_modules(tmp_path):
    for f in ("setup.py", "setup.cfg", "VERSION", "README.md", "MANIFEST.in", "LICENSE"):
        shutil.copy(ROOT / f, tmp_path)
    shutil.copytree(ROOT / "shim", tmp_path / "shim")
    first = build(tmp_path)
    assert first.returncode == 0, first.stderr.decode()
    headers = sorted(p for p in (tmp_path / "shim").rglob("*.h"))
    assert headers
    for h in headers:  # each header, cgi's and cgitb's: a build that reads it fails
        text = h.read_text()
        h.write_text(text + "\n#error header-changed\n")
        # newer than the modules: written in the build's clock tick, it may
        # carry the same time (file times follow a coarse clock)
        later = time.time() + 2
        os.utime(h, (later, later))
        r = build(tmp_path)
        h.write_text(text)
        assert r.returncode != 0 and b"header-changed" in r.stderr, (h.name, r.stderr.decode())


KBD_CASES = [
    # python3 ends by SIGINT after an uncaught KeyboardInterrupt, cgitb.py's hook or not
    ("import cgitb; cgitb.enable()\nraise KeyboardInterrupt\n", -2),
    ("import cgitb; cgitb.enable(format='text')\ndef f():\n    raise KeyboardInterrupt\nf()\n", -2),
    # a script's own call of the hook: the script goes on, and ends as usual
    ("import cgitb\ntry:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt:\n"
     "    cgitb.Hook(format='text').handle()\n", 0),
    ("import cgitb; cgitb.enable()\nraise ValueError\n", 1),
]


def test_an_uncaught_keyboardinterrupt_still_ends_by_sigint(tmp_path):
    """The extension module's report imports inspect, tokenize and pydoc,
    whose namedtuple()s run eval(): that cleared the interpreter's flag
    of an uncaught KeyboardInterrupt, and python3 ended with status 1."""
    shutil.copy(ROOT / "setup.py", tmp_path)
    for f in ("setup.cfg", "VERSION", "README.md", "LICENSE"):
        shutil.copy(ROOT / f, tmp_path)
    shutil.copytree(ROOT / "shim", tmp_path / "shim")
    assert build(tmp_path).returncode == 0
    stdlib = tmp_path / "stdlib"  # cgitb.py, the oracle
    stdlib.mkdir()
    shutil.copy("/usr/lib/python3.11/cgitb.py", stdlib)
    script = tmp_path / "kbd.py"
    for code, status in KBD_CASES:
        script.write_text(code)
        got = [subprocess.run([PYTHON, script], capture_output=True, env={"PYTHONPATH": str(p)},
                              cwd=tmp_path).returncode for p in (stdlib, tmp_path / "L")]
        assert got == [status, status], code
