"""The extension modules themselves, under the interpreter tests/matrix/run
is testing (CGIHOST: that interpreter with the built modules first on its
path). Skipped outside the matrix."""
import os
import pathlib
import subprocess

import pytest

from conftest import BASE_ENV, PYTHON, ROOT, fixed_copy, run

VERSION = os.environ.get("MATRIX_VERSION")
INTERP = os.environ.get("MATRIX_PYTHON")
pytestmark = pytest.mark.skipif(not VERSION, reason="run by tests/matrix/run")

ORIGINS = "import cgi, cgitb; print(cgi.__spec__.origin); print(cgitb.__spec__.origin)"


def test_the_c_modules_are_imported(cgihost):
    r = run([cgihost, "-c", ORIGINS])
    assert r.returncode == 0, r.stderr.decode()
    origins = r.stdout.decode().split()
    assert len(origins) == 2 and all(o.endswith(".so") for o in origins), origins
    assert r.stderr == b""  # no DeprecationWarning: not the stdlib's files


def venv_with_module(tmp_path):
    """A venv of the interpreter under test with the project pip-installed,
    offline: --no-index, --no-build-isolation, setuptools from the
    interpreter or from Debian's python3-setuptools (MATRIX_BUILD_PYTHONPATH)."""
    venv = tmp_path / "venv"
    # Debian's python3: its setuptools and wheel, as README says.
    system = ["--system-site-packages"] if INTERP.startswith("/usr/bin/") else []
    subprocess.run([INTERP, "-m", "venv", *system, venv], check=True)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if os.environ.get("MATRIX_BUILD_PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["MATRIX_BUILD_PYTHONPATH"]
    r = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q",
                        "--no-build-isolation", "--no-index", ROOT],
                       env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout.decode()
    return venv / "bin" / "python"


HELLO_REQUESTS = [
    {"REQUEST_METHOD": "GET", "QUERY_STRING": "name=Ada&happy=on"},
    {"REQUEST_METHOD": "GET", "QUERY_STRING": ""},
    {"REQUEST_METHOD": "GET", "QUERY_STRING": "name=Jos%C3%A9+%3Cb%3E&sad=on"},
    {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
     "CONTENT_LENGTH": "19"},
]


@pytest.mark.skipif(VERSION != "3.13", reason="the venv check runs under 3.13")
def test_fixed_hello_under_stock_python_in_a_venv(tmp_path):
    """`python3.13 fixed_hello.py` with the module pip-installed into a venv
    prints the same bytes as /usr/bin/python3 with the stdlib cgi.py."""
    python = venv_with_module(tmp_path)
    r = subprocess.run([python, "-c", ORIGINS], capture_output=True, env=BASE_ENV)
    assert all(o.endswith(".so") and "/venv/" in o for o in r.stdout.decode().split()), r
    hello = fixed_copy(ROOT / "scripts" / "hello.py", tmp_path)
    for env in HELLO_REQUESTS:
        body = b"name=Grace&happy=on" if env["REQUEST_METHOD"] == "POST" else b""
        ours = run([python, hello], env=env, stdin=body)
        ref = run([PYTHON, hello], env=env, stdin=body)
        assert ref.returncode == 0 and ref.stdout.lower().startswith(b"content-type")
        assert (ours.returncode, ours.stdout) == (0, ref.stdout), ours.stderr.decode()
        assert ours.stderr == b""


@pytest.mark.skipif(VERSION != "3.11", reason="the venv check runs under 3.11")
def test_debian_python_installs_it_offline(tmp_path):
    """Debian's python3 with python3-setuptools: pip install into a venv works
    offline; the stdlib's cgi.py still comes first, PYTHONPATH puts the C
    module ahead (README)."""
    python = venv_with_module(tmp_path)
    r = subprocess.run([python, "-c", "import cgi; print(cgi.__file__)"],
                       capture_output=True, env=BASE_ENV)
    assert r.stdout.decode().strip() == "/usr/lib/python3.11/cgi.py"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                          capture_output=True, check=True).stdout.decode().strip()
    r = subprocess.run([python, "-c", ORIGINS], capture_output=True,
                       env=dict(BASE_ENV, PYTHONPATH=site))
    assert all(o.startswith(site) and o.endswith(".so") for o in r.stdout.decode().split()), r
    # the license it declares (PSF-2.0) goes with it, as the license asks
    r = subprocess.run([python, "-m", "pip", "show", "-f", "cgihost"], capture_output=True, env=BASE_ENV)
    assert b"License: PSF-2.0" in r.stdout and b"/LICENSE" in r.stdout, r.stdout
