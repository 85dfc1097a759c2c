"""The no-break-space rewrite against CPython's tokenizer (tests/nbsp_oracle.py):
over the stdlib of Debian's python3, and over that of each CPython 3.12+
pyenv has, whose tokenizer splits f-strings into code and text."""
import glob
import os
import pathlib
import subprocess

import pytest

from conftest import CGIHOST, PYTHON, ROOT

ORACLE = ROOT / "tests" / "nbsp_oracle.py"
# the C test next to the cgihost under test (make test-py builds it), or the
# default build's (a matrix build has none; the filter is pure C)
FILTER = next((p for p in (CGIHOST.parent / "tests" / "test_nbsp", ROOT / "build" / "tests" / "test_nbsp")
               if p.exists()), CGIHOST.parent / "tests" / "test_nbsp")
PYENV = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))


def check(python, files):
    if not FILTER.exists():
        pytest.fail(f"{FILTER} is not built (make test-py builds it)")
    r = subprocess.run([python, ORACLE, FILTER, *files], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    checked = int(out.split()[-4])
    assert checked > 50, out  # the files were read: not all left out
    return out


def test_the_rewrite_reads_python3s_stdlib_as_its_tokenizer_does():
    check(PYTHON, sorted(map(str, pathlib.Path("/usr/lib/python3.11").rglob("*.py"))))


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_rewrite_reads_fstrings_as_the_312_tokenizer_does(version):
    # (glob.glob: pathlib's glob raises PermissionError for a PYENV_ROOT we
    # may not read, root's as another user)
    pattern = PYENV / "versions" / f"{version}.*" / "bin" / f"python{version}"
    found = sorted(map(pathlib.Path, glob.glob(str(pattern))))
    if not found:
        pytest.skip(f"no CPython {version} under {PYENV} (pyenv)")
    python = found[-1]
    lib = python.parent.parent / "lib" / f"python{version}"
    # the top level's files with f-strings in them (the rest is 3.11's
    # case; 3.12's tokenize takes 15 ms a file), and test_fstring
    files = [str(p) for p in sorted(lib.glob("*.py"))
             if 'f"' in (t := p.read_text(encoding="utf-8", errors="replace")) or "f'" in t]
    files.append(str(lib / "test" / "test_fstring.py"))
    check(python, files)
