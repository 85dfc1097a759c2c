"""Shared fixtures: where cgihost is, the reference interpreter, and a runner
that executes one CGI request through both."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CGIHOST = pathlib.Path(os.environ.get("CGIHOST", ROOT / "build" / "cgihost"))
PYTHON = "/usr/bin/python3"  # Debian's, with the stdlib cgi.py: the oracle
NBSP = "\u00a0".encode()

# Apache's environment is nearly empty: no LANG, no HOME.
BASE_ENV = {
    "PATH": "/usr/bin:/bin",
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "SERVER_SOFTWARE": "test",
}


def fixed_copy(src: pathlib.Path, dst_dir: pathlib.Path) -> pathlib.Path:
    """The script with its no-break spaces replaced, as python3 needs it."""
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes().replace(NBSP, b" "))
    return dst


def run(argv, env=None, stdin=b"", cwd=None, timeout=30):
    full = dict(BASE_ENV)
    full.update(env or {})
    return subprocess.run(
        [str(a) for a in argv], input=stdin, env=full, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


@pytest.fixture(scope="session")
def cgihost():
    if not CGIHOST.exists():
        pytest.fail(f"{CGIHOST} is not built; run make")
    return CGIHOST
