"""Shared fixtures: where cgihost is, the reference interpreter, and a runner
that executes one CGI request through both."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

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


# tests/served (make test-py's second pass) runs the differential suites again
# with every cgihost run handed to a resident server: CGIHOST_TEST_SERVED=1,
# the server's socket directory in CGIHOST_SOCKET_DIR. run() counts the runs
# that must be served, and the session checks the server served them all.
SERVED = os.environ.get("CGIHOST_TEST_SERVED") == "1"
if SERVED:
    BASE_ENV.update(CGIHOST_SOCKET_DIR=os.environ["CGIHOST_SOCKET_DIR"], CGIHOST_NO_AUTOSTART="1")
elif os.geteuid() != 0:
    # Otherwise the cold path's: root never uses a server, but another user's
    # runs would start and then go to that user's own (/tmp/cgihost-UID). A
    # socket directory that cannot exist, and no autostart, keep them cold.
    BASE_ENV.update(CGIHOST_SOCKET_DIR="/nonexistent/cgihost", CGIHOST_NO_AUTOSTART="1")
runs_to_serve = 0
cold_only = pytest.mark.skipif(SERVED, reason="the cold path's own: the server preloads cgi, cgitb "
                                              "and os (README)")


def fixed_copy(src: pathlib.Path, dst_dir: pathlib.Path) -> pathlib.Path:
    """The script with its no-break spaces replaced, as python3 needs it."""
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes().replace(NBSP, b" "))
    return dst


def run(argv, env=None, stdin=b"", cwd=None, timeout=30):
    global runs_to_serve
    full = dict(BASE_ENV)
    full.update(env or {})
    # (an interpreter-shaping variable of its own makes the server refuse it)
    shaping = any(k.startswith("PYTHON") or k in ("HOME", "LANG", "LC_ALL", "LC_CTYPE",
                                                  "SETUPTOOLS_USE_DISTUTILS") for k in full)
    # (nor is a run that names a server of the test's own)
    own = "CGIHOST_SOCKET_DIR" in (env or {})
    to_serve = SERVED and pathlib.Path(argv[0]) == CGIHOST and "CGIHOST_NO_SERVER" not in full \
        and not own and not shaping and len(argv) > 1 and pathlib.Path(argv[1]).is_file()
    if to_serve:
        runs_to_serve += 1
        before = server_counts()[0]
    r = subprocess.run(
        [str(a) for a in argv], input=stdin, env=full, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if to_serve:
        # This run, not only the session's total at its end: the runs the
        # server serves uncounted (Popen, as_mod_cgid) would hide fallbacks
        # there. The server counts a request once it has reaped its child,
        # which may be just after the client ended: until no child runs.
        for _ in range(500):
            served, running = server_counts()
            if served > before or running == 0:
                break
            time.sleep(0.01)
        assert served > before, f"not served by the resident server ({before} served before it, {served} after)"
    return r


def server_counts():
    """The session server's requests served so far, and running now. A
    status query a pool child takes just as it is recycled goes unanswered
    ("did not answer", exit 1): asked again, a few times."""
    for _ in range(50):
        st = subprocess.run([str(CGIHOST), "status", "--socket-dir", os.environ["CGIHOST_SOCKET_DIR"]],
                            env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                            timeout=30).stdout.decode()
        served = re.search(r"(\d+) requests served, (\d+) running", st)
        if served:
            return int(served.group(1)), int(served.group(2))
        time.sleep(0.02)
    raise AssertionError(f"cgihost status: {st!r}")


def as_mod_cgid(argv, env, cwd=None, stderr=None):
    """argv run as mod_cgid runs a CGI program, one socket its stdin and
    stdout: (our end of it, the process)."""
    a, b = socket.socketpair()
    p = subprocess.Popen([str(x) for x in argv], stdin=b, stdout=b, stderr=stderr, env=env, cwd=cwd)
    b.close()
    a.settimeout(30)
    return a, p


def recv_until(sock, pattern):
    """What sock gives until the bytes regex pattern matches it."""
    out = b""
    while not re.search(pattern, out):
        more = sock.recv(4096)
        assert more, f"EOF before {pattern!r}: {out!r}"
        out += more
    return out


def recv_to_eof(sock):
    out = b""
    while True:
        more = sock.recv(4096)  # no ECONNRESET
        if not more:
            return out
        out += more


def signal_ends_the_drain(a, p):
    """p's script has ended and its body is being drained: once some body
    has come, a SIGTERM ends p by its default effect, at once."""
    a.sendall(b"x" * 100)
    time.sleep(0.3)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=5) == -signal.SIGTERM


def reap(p):
    if p.poll() is None:
        p.kill()
    p.wait()


@pytest.fixture(scope="session")
def cgihost():
    if not CGIHOST.exists():
        pytest.fail(f"{CGIHOST} is not built; run make")
    return CGIHOST


@pytest.fixture(scope="session", autouse=True)
def resident_server():
    """Under tests/served: a server for the session, and at its end a check
    that it served every run that run() handed to cgihost (a refusal would
    fall back to the cold path without a word)."""
    if not SERVED:
        # Nor, as another user than root, may they start that user's own
        # server (/tmp/cgihost-UID), which would outlive them by ten minutes:
        # a run without BASE_ENV did.
        own = pathlib.Path(f"/tmp/cgihost-{os.geteuid()}/server.sock")
        check = os.geteuid() != 0 and not own.exists()
        yield
        if check:
            assert not own.exists(), f"a cold run started a server in {own.parent}: one without BASE_ENV?"
        return
    sock = os.environ["CGIHOST_SOCKET_DIR"]
    env = {"PATH": "/usr/bin:/bin"}
    log = open(pathlib.Path(sock).parent / "server.log", "ab")
    server = subprocess.Popen([str(CGIHOST), "serve", "--socket-dir", sock], env=env,
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    for _ in range(400):
        if os.path.exists(os.path.join(sock, "server.sock")) or server.poll() is not None:
            break
        time.sleep(0.05)
    assert server.poll() is None, "the server did not start"
    yield
    st = subprocess.run([str(CGIHOST), "status", "--socket-dir", sock], env=env,
                        stdout=subprocess.PIPE, timeout=30).stdout.decode()
    subprocess.run([str(CGIHOST), "stop", "--socket-dir", sock], env=env, timeout=30)
    server.wait(timeout=30)
    log.close()
    served = int(re.search(r"(\d+) requests served", st).group(1))
    refused = re.search(r"(\d+) refused", st).group(1)
    print(f"\nthe server served {served} requests and refused {refused}; run() handed it {runs_to_serve}")
    assert runs_to_serve > 0 and served >= runs_to_serve, st
