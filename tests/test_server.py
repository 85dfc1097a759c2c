"""The resident server (issue 4), end to end through the real client binary.

Every test starts its own server in a fresh socket directory and stops it.
Run as root (as `make test` is), servers and clients run as www-data through
setpriv, since root never uses a server; another user (nobody) plays the
stranger. Run as another user, they run as that user, and the tests that
need two users are skipped.

Whether a request went through the server shows in the script itself: its
parent process is then the server (os.getppid()), not the client's caller.
"""
import ast
import concurrent.futures
import contextlib
import functools
import hashlib
import json
import os
import pathlib
import pwd
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import (CGIHOST, PYTHON, ROOT, as_mod_cgid, fixed_copy, reap, recv_to_eof, recv_until,
                      signal_ends_the_drain)

IS_ROOT = os.geteuid() == 0
USER = "www-data" if IS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
UID = pwd.getpwnam(USER).pw_uid
STRANGER = "nobody"
CGIHOST_PY = CGIHOST.parent / "cgihost-py"


def as_user(argv, user=USER):
    if not IS_ROOT:
        return [str(a) for a in argv]
    pw = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
            *[str(a) for a in argv]]


@functools.lru_cache(maxsize=None)
def can_unshare(*argv):
    """Whether `ARGV true` (an unshare) runs here: in a chroot no mount
    namespace can be made of its root and nobody makes a user namespace, a
    container may allow neither. There no client can be so confined, and
    the test of one is skipped."""
    return subprocess.run([*argv, "true"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def wait_for(pred, timeout=20.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def proc_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or between it and the read
        return False


def pids_with(word):
    """Processes whose command line contains word."""
    out = []
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if word.encode() in (p / "cmdline").read_bytes():
                    out.append(int(p.name))
            except OSError:
                pass
    return out


# A subreaper that starts the server and reaps whatever is orphaned below it,
# as init does on a real system (this container's pid 1 does not reap).
REAPER = r"""
import ctypes, os, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.environ.pop("LC_CTYPE", None)  # our own start's PEP 538 coercion, not the server's
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    try:
        p, st = os.wait()
    except ChildProcessError:
        break
    if p == pid:
        code = os.waitstatus_to_exitcode(st)
        status = code if code >= 0 else 128 - code
sys.exit(status)
"""


def python_version(argv):
    """The CPython version ("3.13") argv prints, or names after "CPython "."""
    out = subprocess.run(argv, stdout=subprocess.PIPE, check=True, timeout=30).stdout
    return re.search(rb"(?:CPython |^)(3\.\d+)", out).group(1).decode()


@functools.lru_cache(maxsize=None)
def cgihost_python_version():
    """The CPython cgihost is built against, as its --version names it."""
    return python_version([CGIHOST, "--version"])


@functools.lru_cache(maxsize=None)
def other_python():
    """Whether cgihost is built against another CPython than the reference,
    /usr/bin/python3 (3.11): what is that interpreter's own then differs."""
    return cgihost_python_version() != python_version(
        [PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])


class Server:
    """A server in a fresh socket directory, its scripts in a readable dir."""

    def __init__(self, base, args=(), binary=None, wrap=(), outer=()):
        self.dir = base / "sock"
        self.scripts = base / "scripts"
        self.log = base / "server.log"
        self.binary = binary or CGIHOST
        self.args = list(args)
        self.wrap = list(wrap)
        self.outer = list(outer)  # before the switch to the user (as root)
        self.proc = None

    def env(self, **extra):
        e = {"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(self.dir),
             "CGIHOST_NO_AUTOSTART": "1"}
        e.update(extra)
        return e

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", REAPER, *self.outer,
                 *as_user([*self.wrap, self.binary, "serve", "--socket-dir", self.dir, *self.args])],
                env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        assert wait_for(lambda: (self.dir / "server.sock").exists() or self.proc.poll() is not None)
        assert self.proc.poll() is None, self.log.read_text()
        self.pid = self.reaper_child()
        return self

    def reaper_child(self):
        """The server's pid: the reaper's direct child while nothing is orphaned."""
        kids = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(kids[0])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            subprocess.run(as_user([self.binary, "stop"]), env=self.env(), timeout=30,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        # Nothing of ours is left running: pool children name the directory.
        for pid in pids_with(str(self.dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None

    def script(self, name, text):
        p = self.scripts / name
        p.write_text(text)
        p.chmod(0o644)
        return p

    def run(self, argv, env=None, stdin=b"", timeout=60, cwd=None, user=USER, wrap=()):
        full = self.env(GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1",
                        SERVER_SOFTWARE="test")
        full.update(env or {})
        return subprocess.run(as_user([*wrap, CGIHOST, *argv], user=user), input=stdin, env=full,
                              cwd=cwd or self.scripts, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)


@pytest.fixture
def base():
    d = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-srv-"))
    (d / "scripts").mkdir()
    for p in (d, d / "scripts"):
        p.chmod(0o755)
    if IS_ROOT:  # the server makes its socket directory here; scripts write files
        os.chown(d, UID, -1)
        os.chown(d / "scripts", UID, -1)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def srv(base):
    s = Server(base).start()
    yield s
    s.stop()


WHO = "import os\nprint('ppid', os.getppid(), flush=True)\n"


def served(server, r):
    return f"ppid {server.pid}\n".encode() in r.stdout


# ---- the request is the cold path's ---------------------------------------------

DUMP = r"""
import sys
PRE = [m for m in ("cgi", "os") if m in sys.modules]
import json, os
u = os.umask(0); os.umask(u)
import faulthandler, gc, resource, signal, time, warnings
print(json.dumps({
    "environ": dict(os.environ), "environb": {k.decode(): v.decode() for k, v in os.environb.items()},
    "argv": sys.argv, "cwd": os.getcwd(), "umask": u, "path": sys.path,
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    "stdio": [(f.encoding, f.errors, f.line_buffering, f.write_through) for f in (sys.stdin, sys.stdout, sys.stderr)],
    "flags": list(sys.flags), "fds": sorted(os.listdir("/proc/self/fd")),
    "modules_cgi": "cgi" in sys.modules and sys.modules["cgi"].__name__, "preloaded": PRE,
    # what else a process takes from its start
    "signals": {s.name: str(signal.getsignal(s)) for s in signal.Signals
                if s not in (signal.SIGKILL, signal.SIGSTOP)},
    "sigmask": sorted(s.name for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    "procsig": [l.split() for l in open("/proc/self/status") if l.startswith(("SigIgn", "SigBlk"))],
    "rlimits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")},
    "tz": [time.tzname, time.timezone], "gc": [gc.isenabled(), gc.get_threshold()],
    "warnings": [str(f) for f in warnings.filters], "recursion": sys.getrecursionlimit(),
    "faulthandler": faulthandler.is_enabled(), "int_max_str_digits": sys.get_int_max_str_digits(),
}, sort_keys=True))
print("ppid", os.getppid())
"""


def test_environment_is_the_requests_exactly(srv):
    script = srv.script("dump.py", DUMP)
    sub = srv.scripts / "sub"
    sub.mkdir(mode=0o755)
    env = {"QUERY_STRING": "a=1", "REQUEST_METHOD": "GET", "X_ODD": "v=w=x", "EMPTY": ""}
    wrap = ["prlimit", "--nofile=300:4000"]
    ours = srv.run([script, "arg one", "two"], env=env, cwd=sub, wrap=wrap)
    cold = srv.run([script, "arg one", "two"], env={**env, "CGIHOST_NO_SERVER": "1"}, cwd=sub, wrap=wrap)
    assert ours.returncode == cold.returncode == 0, (ours.stderr, cold.stderr)
    assert served(srv, ours) and not served(srv, cold)
    a, b = (json.loads(r.stdout.splitlines()[0]) for r in (ours, cold))
    b["environ"].pop("CGIHOST_NO_SERVER")
    b["environb"].pop("CGIHOST_NO_SERVER")
    # The documented differences: cgi is imported in the server before the
    # script runs, and the child keeps its connection to the client (close-
    # on-exec, at fd 200 or above) to report the status.
    assert a.pop("modules_cgi") == "cgi" and b.pop("modules_cgi") is False
    # The server has imported os as python3's start does (site imports it):
    # a request's `import os` is free, and os.environ is still the request's.
    assert a.pop("preloaded") == ["cgi", "os"] and b.pop("preloaded") == []
    extra = [fd for fd in a["fds"] if int(fd) >= 200]
    assert len(extra) == 1
    a["fds"].remove(extra[0])
    assert a == b
    assert a["nofile"] == [300, 4000]
    assert a["cwd"] == str(sub) and a["argv"] == [str(script), "arg one", "two"]
    # and what python3 sees of the same request
    py = subprocess.run(as_user(["prlimit", "--nofile=300:4000", PYTHON, script, "arg one", "two"]),
                        env={k: v for k, v in srv.env(**env, GATEWAY_INTERFACE="CGI/1.1",
                                                         SERVER_PROTOCOL="HTTP/1.1",
                                                         SERVER_SOFTWARE="test").items()},
                        cwd=sub, stdout=subprocess.PIPE, timeout=60)
    c = json.loads(py.stdout.splitlines()[0])
    keys = ["environ", "argv", "cwd", "umask", "nofile", "stdio", "fds", "sigmask", "procsig", "rlimits", "tz",
            "gc", "warnings", "recursion", "faulthandler", "int_max_str_digits"]
    if b"__asan_init" not in CGIHOST_PY.read_bytes():
        keys.append("signals")  # the sanitizers' runtime installs handlers of its own
    if other_python():
        # 3.13's collector starts with a threshold of 2000, 3.11's of 700
        keys.remove("gc")
        assert a["gc"][0] == c["gc"][0]
    for k in keys:
        assert a[k] == c[k], k
    assert c["preloaded"] == ["os"]


def test_a_requests_tz_is_read_as_at_a_fresh_start(srv):
    """The C library and the time module read TZ at the server's start; a
    request with another TZ sees its own local time, as under python3."""
    script = srv.script("tz.py", "import os, time\n"
                        "print(time.tzname, time.timezone, time.strftime('%H %Z', time.localtime(0)),"
                        " os.getppid())\n")
    for tz in ("JST-9", "EST+5EDT", None):
        env = {"TZ": tz} if tz else {}
        ours = srv.run([script], env=env)
        assert ours.returncode == 0, ours.stderr
        got = ours.stdout.decode().rsplit(" ", 1)
        assert int(got[1]) == srv.pid, "not run by the server"
        py = subprocess.run(as_user([PYTHON, script]), env=srv.env(**env), stdout=subprocess.PIPE,
                            timeout=60)
        assert got[0] == py.stdout.decode().rsplit(" ", 1)[0], tz


def test_a_requests_threads_get_the_stack_its_limit_gives(srv):
    """glibc sizes threads' default stack from RLIMIT_STACK once, at a
    process's start (the server's): a request with another soft limit starts
    threads with the stack python3 started with that limit gives them."""
    script = srv.script("tstack.py", WHO + "import ctypes, threading\n"
                        "libc = ctypes.CDLL(None)\n"
                        "libc.pthread_self.restype = ctypes.c_ulong\n"
                        "libc.pthread_getattr_np.argtypes = [ctypes.c_ulong, ctypes.c_void_p]\n"
                        "def t():\n"
                        "    a = ctypes.create_string_buffer(256)\n"
                        "    libc.pthread_getattr_np(libc.pthread_self(), a)\n"
                        "    s = ctypes.c_size_t()\n"
                        "    libc.pthread_attr_getstacksize(a, ctypes.byref(s))\n"
                        "    print('stack', s.value)\n"
                        "th = threading.Thread(target=t); th.start(); th.join()\n")
    limits = ["1048576", "4000000", "8388608"]
    if resource.getrlimit(resource.RLIMIT_STACK)[1] == resource.RLIM_INFINITY:
        limits.append("unlimited")
    for lim in limits:
        wrap = ["prlimit", f"--stack={lim}:", "--"]
        ours = srv.run([script], wrap=wrap)
        assert ours.returncode == 0 and served(srv, ours), ours
        py = subprocess.run(as_user([*wrap, PYTHON, script]), env=srv.env(), stdout=subprocess.PIPE,
                            timeout=60)
        want = py.stdout.splitlines()[-1]
        assert ours.stdout.splitlines()[-1] == want, lim


def test_a_time_zone_file_replaced_is_read_again_as_at_a_fresh_start(base):
    """The server read its time zone file at its start; once it is another
    (timedatectl set-timezone, a tzdata upgrade) a request with the same TZ
    sees the new zone, as python3 started then does."""
    zone = base / "zone"
    shutil.copy("/usr/share/zoneinfo/Asia/Tokyo", zone)
    zone.chmod(0o644)
    srv = Server(base)
    env0 = srv.env
    srv.env = lambda **kw: env0(**{"TZ": f":{zone}", **kw})
    srv.start()
    try:
        script = srv.script("tz.py", "import os, time\n"
                            "print(time.tzname, time.timezone, time.strftime('%H %Z', time.localtime(0)),"
                            " os.getppid())\n")
        def check():
            ours = srv.run([script])
            assert ours.returncode == 0, ours.stderr
            got = ours.stdout.decode().rsplit(" ", 1)
            assert int(got[1]) == srv.pid, "not run by the server"
            py = subprocess.run(as_user([PYTHON, script]), env=srv.env(), stdout=subprocess.PIPE, timeout=60)
            assert got[0] == py.stdout.decode().rsplit(" ", 1)[0]
            return got[0]
        assert "JST" in check()
        new = base / "zone.new"
        shutil.copy("/usr/share/zoneinfo/America/New_York", new)
        new.chmod(0o644)
        new.rename(zone)
        assert "EST" in check()
        assert "EST" in check()
    finally:
        srv.stop()


# Runs the rest of argv with SIGHUP and SIGINT ignored (as under nohup, and
# a shell's background job) and SIGUSR2 blocked; SIGPIPE and SIGXFSZ back at
# their defaults, as subprocess leaves them; without the LC_CTYPE that
# Python's start adds (PEP 538), which the tests' environments do not have.
# DFLWRAP: the same with every signal at its default and none blocked,
# whatever the test run inherited.
WRAP = ("import os, signal, sys\n"
        "os.environ.pop('LC_CTYPE', None)\n"
        "for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):\n"
        "    signal.signal(s, signal.SIG_DFL)\n"
        "signal.pthread_sigmask(signal.SIG_SETMASK, [])\n"
        "%s"
        "os.execv(sys.argv[1], sys.argv[1:])\n")
SIGWRAP = WRAP % ("for s in (signal.SIGHUP, signal.SIGINT): signal.signal(s, signal.SIG_IGN)\n"
                  "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])\n")
DFLWRAP = WRAP % ""


def signal_state(r):
    """What the script saw of its signals: the kernel's ignored and blocked
    sets, Python's view of the mask and (but under a sanitizer, whose
    runtime installs handlers of its own) of the dispositions."""
    d = json.loads(r.stdout.splitlines()[0])
    return {k: d[k] for k in ("signals", "sigmask", "procsig")
            if k != "signals" or b"__asan_init" not in CGIHOST_PY.read_bytes()}


def python3_signal_state(srv, script, wrap=()):
    py = subprocess.run(as_user([*wrap, PYTHON, script]), cwd=srv.scripts, timeout=60,
                        env=srv.env(GATEWAY_INTERFACE="CGI/1.1"), stdout=subprocess.PIPE)
    return signal_state(py)


def test_the_clients_ignored_and_blocked_signals_are_the_scripts(srv):
    script = srv.script("dump.py", DUMP)
    wrap = [PYTHON, "-c", SIGWRAP]
    dfl = [PYTHON, "-c", DFLWRAP]
    ours, plain = srv.run([script], wrap=wrap), srv.run([script], wrap=dfl)
    assert served(srv, ours) and served(srv, plain)
    got, want = signal_state(ours), python3_signal_state(srv, script, wrap)
    assert got == want
    assert want["sigmask"] == ["SIGUSR2"]
    ign = int(dict(want["procsig"])["SigIgn:"], 16)
    assert ign & (1 << (signal.SIGHUP - 1)) and ign & (1 << (signal.SIGINT - 1))
    if "signals" in want:
        assert want["signals"]["SIGHUP"] == want["signals"]["SIGINT"] == str(signal.SIG_IGN)
    # and the next request, from a client that ignores nothing, has none of it
    assert signal_state(plain) == python3_signal_state(srv, script, dfl)
    assert signal_state(plain) != want


BLOCK34 = WRAP % "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN, signal.SIGRTMIN + 1])\n"
MASK = """
import signal
print(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
      sorted(int(s) for s in signal.sigpending()))
"""


@pytest.mark.parametrize("path", ["served", "refused"])
def test_a_client_started_with_sigrtmin_blocked_gives_its_script_it_blocked(srv, path):
    """python3's SIGRTMIN is 34, which musl (the client's C library) keeps
    for itself: its sigprocmask() left 34 out of the mask it reported, so
    the served script started with 34 unblocked, and the client gave the
    mask back without it before running a refused request in-process."""
    script = srv.script("mask.py", WHO + MASK)
    extra = {"PYTHONPATH": "/nonexistent"} if path == "refused" else {}
    r = srv.run([script], wrap=[PYTHON, "-c", BLOCK34], env=extra)
    cold = srv.run([script], wrap=[PYTHON, "-c", BLOCK34], env=dict(extra, CGIHOST_NO_SERVER="1"))
    assert served(srv, r) == (path == "served")
    rt = int(signal.SIGRTMIN)
    assert cold.stdout.split(b"\n")[1:] == [f"[{rt}, {rt + 1}] []".encode(), b""], cold.stdout
    assert r.stdout.split(b"\n")[1:] == cold.stdout.split(b"\n")[1:], (r.stdout, cold.stdout)


def test_what_the_server_ignores_is_not_the_scripts(base):
    srv = Server(base, wrap=[PYTHON, "-c", SIGWRAP]).start()
    try:
        script = srv.script("dump.py", DUMP)
        dfl = [PYTHON, "-c", DFLWRAP]
        r = srv.run([script], wrap=dfl)
        assert served(srv, r)
        want = python3_signal_state(srv, script, dfl)
        assert signal_state(r) == want
        ign = int(dict(want["procsig"])["SigIgn:"], 16)
        assert not ign & (1 << (signal.SIGHUP - 1)) and not ign & (1 << (signal.SIGINT - 1))
        if "signals" in want:
            assert want["signals"]["SIGINT"] == "<built-in function default_int_handler>"
    finally:
        srv.stop()


def test_a_sigint_to_a_waiting_pool_child_is_no_requests(srv):
    """A SIGINT that reaches a pool child before its request (Python notes
    it) is no script's KeyboardInterrupt."""
    script = srv.script("who.py", "import time\nfor _ in range(1000): time.sleep(0)\n" + WHO)
    for _ in range(3):
        for pid in settled_pool(srv, 2):
            os.kill(pid, signal.SIGINT)
        time.sleep(0.1)
        r = srv.run([script])
        assert r.returncode == 0 and served(srv, r), r.stderr
        assert b"KeyboardInterrupt" not in r.stderr


def test_a_client_with_no_new_privs_keeps_them_for_its_script(srv):
    """A web server run with no_new_privs (systemd's NoNewPrivileges=), a
    seccomp filter or a smaller capability bounding set passes them to its
    CGI scripts; a child of a server started without them has none. Such
    a request runs in-process, confined as under python3."""
    script = srv.script("nnp.py", WHO + "print([l.split()[1] for l in open('/proc/self/status')"
                        " if l.startswith(('NoNewPrivs:', 'Seccomp:', 'CapBnd:'))])\n")
    wrap = ["setpriv", "--no-new-privs"]
    r = srv.run([script], wrap=wrap)
    py = subprocess.run(as_user([*wrap, PYTHON, script]), env=srv.env(), stdout=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == py.stdout.splitlines()[-1]
    assert b"'1'" in py.stdout.splitlines()[-1]
    assert not served(srv, r)
    assert wait_for(lambda: "refused a request (another confinement than mine" in srv.log.read_text(), 5)
    assert served(srv, srv.run([script]))


@pytest.mark.skipif(not IS_ROOT, reason="ambient capabilities are given as root")
def test_a_client_with_ambient_capabilities_passes_them_to_its_script(srv):
    """A web server given ambient capabilities (systemd's
    AmbientCapabilities=, setpriv --ambient-caps) passes them to the
    programs it runs: python3's script has them, effective. A child of a
    server started without them had none. Such a request runs in-process,
    with them."""
    script = srv.script("caps.py", WHO + "print([l.split()[1] for l in open('/proc/self/status')"
                        " if l.startswith(('CapEff:', 'CapAmb:'))])\n")
    caps = ["--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service"]
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    pw = pwd.getpwnam(USER)
    runs = [subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                            "--clear-groups", *caps, prog, script], env=full, cwd=srv.scripts,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            for prog in (CGIHOST, PYTHON)]
    r, py = runs
    assert r.returncode == 0 and py.returncode == 0, (r.stderr, py.stderr)
    assert py.stdout.splitlines()[-1] == b"['0000000000000400', '0000000000000400']", py.stdout
    assert r.stdout.splitlines()[-1] == py.stdout.splitlines()[-1], r.stdout
    assert not served(srv, r)
    assert wait_for(lambda: "refused a request (another confinement than mine" in srv.log.read_text(), 5)
    assert served(srv, srv.run([script]))


@pytest.mark.skipif(not IS_ROOT, reason="a private /tmp needs root's mount namespace")
def test_a_client_with_a_private_tmp_runs_its_script_in_it():
    """A web server given a private /tmp (systemd's PrivateTmp=, as
    Debian's apache2.service has it) runs its CGI scripts in it, where one
    request finds the session file another left; a child of a server that
    sees another /tmp (one systemd started) would not. Such a request runs
    in-process, in the client's /tmp, and the server's log says why."""
    if not can_unshare("unshare", "-m"):
        pytest.skip("no mount namespace can be made here")
    base = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-srv-", dir="/var/tmp"))
    private = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-tmp-", dir="/var/tmp"))
    try:
        for p in (base, base / "scripts"):
            p.mkdir(exist_ok=True)
            p.chmod(0o755)
            os.chown(p, UID, -1)
        private.chmod(0o1777)
        s = Server(base).start()
        try:
            script = s.script("tmp.py", WHO + "import os\nprint('tmp', os.stat('/tmp').st_ino)\n")
            r = s.run([script], wrap=())
            assert served(s, r) and f"tmp {os.stat('/tmp').st_ino}\n".encode() in r.stdout, r.stdout
            # the client from outside /tmp (a checkout there is hidden by the mount)
            (base / "bin").mkdir()
            for f in CGIHOST.parent.glob(CGIHOST.name + "*"):
                if f.is_file():
                    shutil.copy2(f, base / "bin" / f.name)
            full = s.env(GATEWAY_INTERFACE="CGI/1.1")
            r = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /tmp && exec "$@"',
                                private, *as_user([base / "bin" / CGIHOST.name, script])],
                               env=full, cwd=s.scripts,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            assert r.returncode == 0, r.stderr
            assert not served(s, r)
            assert f"tmp {private.stat().st_ino}\n".encode() in r.stdout, r.stdout
            assert wait_for(lambda: "refused a request (another /tmp than mine" in s.log.read_text(), 5)
        finally:
            s.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


WHERE = WHO + ("import socket\nprint('ifaces', sorted(n for _, n in socket.if_nameindex()))\n"
               "print('home', sorted(os.listdir('/home')))\n"
               "print('host', socket.gethostname(), 'pid 1', os.getpid() == 1)\n")


@pytest.mark.parametrize("how", ["network", "mounts", "same-mounts", "pids", "hostname"])
def test_a_client_in_another_network_or_mount_view_runs_its_script_in_it(srv, how):
    """A web server confined by systemd in namespaces of its own
    (PrivateNetwork=, ProtectHome=, ProtectSystem=, InaccessiblePaths=,
    PrivatePIDs=, ProtectHostname=; PrivateIPC=: the ipc_or_user test below)
    runs its scripts there; a
    child of a server outside them (the unit's, or root's serve --user)
    escaped them: the script of a client without a network had the
    server's, one whose /home was hidden listed it, one in a PID namespace
    of its own saw (and could signal) the server's processes, one with a
    host name of its own saw the server's. Such a request runs in-process.
    A mount namespace of its own that mounts nothing else is still served."""
    if not IS_ROOT:
        pytest.skip("needs root (unshare)")
    flags = {"network": ["-n"], "pids": ["-p", "-f"], "hostname": ["-u"]}.get(how, ["-m"])
    if not can_unshare("unshare", *flags):
        pytest.skip(f"no namespace of unshare {' '.join(flags)} can be made here")
    script = srv.script("where.py", WHERE)
    inner = as_user([CGIHOST, script])
    wrap = {"network": ["unshare", "-n", *inner],
            "mounts": ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /home && exec "$@"', "sh",
                       *inner],
            "same-mounts": ["unshare", "-m", *inner],
            "pids": ["unshare", "-p", "-f", *inner],
            "hostname": ["unshare", "-u", "sh", "-c", 'hostname cgihost-test-uts && exec "$@"', "sh",
                         *inner]}[how]
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    runs = [subprocess.run(wrap, env=dict(full, **extra), cwd=srv.scripts, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
            for extra in ({}, {"CGIHOST_NO_SERVER": "1"})]
    r, cold = runs
    assert r.returncode == 0 and cold.returncode == 0, (r.stderr, cold.stderr)
    assert served(srv, r) == (how == "same-mounts"), r.stdout
    assert r.stdout.split(b"\n")[1:] == cold.stdout.split(b"\n")[1:], (r.stdout, cold.stdout)


@pytest.mark.skipif(not IS_ROOT, reason="needs root (unshare -m, mount)")
@pytest.mark.parametrize("how", ["systemd", "other-bind"])
def test_a_server_in_a_systemd_units_mount_namespace_serves_apaches_requests(base, how):
    """cgihost.service (PrivateTmp=, JoinsNamespaceOf=apache2.service) and
    Debian's apache2.service each run in a mount namespace of their own,
    which systemd gives two mounts more: /run/systemd/incoming, a view of
    /run/systemd/propagate/UNIT, another for each unit; and in the
    server's, /run/cgihost (RuntimeDirectory=) bound onto itself. The
    server took both for another mount view and ran none of Apache's
    requests: booted under systemd 252 (Debian 12, systemd-nspawn), every
    request ran in-process, the journal saying "other mounts, or unknown".
    Neither changes what a script sees: served. A bind mount that shows
    another directory (other-bind) still is another view: in-process."""
    if not can_unshare("unshare", "-m"):
        pytest.skip("no mount namespace can be made here")
    incoming = pathlib.Path("/run/systemd/incoming")
    made = [p for p in (incoming.parent, incoming) if not p.exists()]
    for p in made:
        p.mkdir()
    run = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-units-", dir="/run"))
    try:
        for d in ("propagate-cgihost", "propagate-apache2", "runtime"):
            (run / d).mkdir()
        # the server's unit: its own incoming, its runtime directory bound onto itself
        own = "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\""
        bind = [run / "runtime", run / "runtime"] if how == "systemd" else \
            [run / "propagate-cgihost", run / "runtime"]
        s = Server(base, outer=["unshare", "-m", "sh", "-c",
                                f"mount --bind {run}/propagate-cgihost {incoming} && {own}", "sh",
                                *bind]).start()
        try:
            script = s.script("where.py", WHO)
            full = s.env(GATEWAY_INTERFACE="CGI/1.1")
            r = subprocess.run(["unshare", "-m", "sh", "-c", own, "sh", run / "propagate-apache2",
                                incoming, *as_user([CGIHOST, script])],
                               env=full, cwd=s.scripts, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            assert r.returncode == 0, r.stderr
            assert served(s, r) == (how == "systemd"), (r.stdout, s.log.read_text())
        finally:
            s.stop()
    finally:
        shutil.rmtree(run, ignore_errors=True)
        for p in reversed(made):
            p.rmdir()


@pytest.mark.skipif(not IS_ROOT, reason="needs root (unshare)")
def test_a_server_in_a_pid_namespace_of_its_own_runs_no_request(base):
    """A server started in a PID namespace of its own (a container's, or
    unshare -p) gets pid 0 for a client outside it from SO_PEERCRED, and
    cannot look into it through /proc: what confines the client is
    unknown, and its script would see the server's pids. Such a request
    runs in-process; the server's log says why."""
    if not can_unshare("unshare", "-p", "-f"):
        pytest.skip("no PID namespace can be made here")
    s = Server(base, outer=["unshare", "-p", "-f"]).start()
    try:
        script = s.script("where.py", WHO)
        r = s.run([script])
        assert r.returncode == 0, r.stderr
        # in-process: the script's parent is the client's, this test (setpriv execs)
        assert r.stdout == f"ppid {os.getpid()}\n".encode(), r.stdout
        assert wait_for(lambda: "a PID namespace I do not see" in s.log.read_text(), 5)
    finally:
        s.stop()


NAMESPACES = WHO + ("import os\n"
                    "print('ids', os.getuid(), os.getgid(), os.stat('/').st_uid)\n"
                    "print('ns', [os.readlink(f'/proc/self/ns/{n}') for n in ('ipc', 'user')])\n"
                    "print('caps', [l for l in open('/proc/self/status') if l.startswith('CapEff')])\n")


# An LD_PRELOAD library for the server: the first reallocarray() that grows
# an array fails, and a marker file is written when that array is freed.
GROW_FAILS = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static void *held;
static int failed;
void *reallocarray(void *p, size_t n, size_t size)
{
    if (p && !failed) {
        failed = 1;
        held = p;
        errno = ENOMEM;
        return NULL;
    }
    if (size && n > (size_t)-1 / size) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n * size);
}
void free(void *p)
{
    if (p && p == held) {
        held = NULL;
        const char *m = getenv("GROW_FAILS_FREED");
        int fd = m ? open(m, O_WRONLY | O_CREAT | O_CLOEXEC, 0666) : -1;
        if (fd >= 0)
            close(fd);
    }
    __libc_free(p);
}
"""


@pytest.mark.skipif(not IS_ROOT, reason="needs root (unshare -m, mount)")
def test_a_mount_view_that_runs_out_of_memory_leaks_nothing(base, tmp_path):
    """The server compares the mounts of a client in a mount namespace of its
    own with its own, each read into a growing array: when growing it failed
    (out of memory), the array and the lines read so far were lost, on
    every such request. Now they are freed; the request runs in-process,
    as when the mounts differ."""
    if not can_unshare("unshare", "-m"):
        pytest.skip("no mount namespace can be made here")
    if b"__asan_init" in CGIHOST_PY.read_bytes():
        pytest.skip("not under a sanitizer, whose runtime must come first: no library preloaded")
    lib = base / "growfails.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", lib, "-x", "c", "-"],
                   input=GROW_FAILS.encode(), check=True)
    lib.chmod(0o755)
    marker = base / "freed"
    s = Server(base, wrap=["env", f"LD_PRELOAD={lib}", f"GROW_FAILS_FREED={marker}"]).start()
    try:
        script = s.script("where.py", WHO)
        # more than 64 mounts, the array's first size: it has to grow
        mounts = ('mount -t tmpfs none /mnt && for i in $(seq 70); do mkdir /mnt/$i && '
                  'mount -t tmpfs none /mnt/$i || exit 1; done && exec "$@"')
        full = s.env(GATEWAY_INTERFACE="CGI/1.1", LD_PRELOAD=str(lib))  # as the server's
        r = subprocess.run(["unshare", "-m", "sh", "-c", mounts, "sh", *as_user([CGIHOST, script])],
                           env=full, cwd=s.scripts, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert not served(s, r), r.stdout
        assert wait_for(lambda: marker.exists(), 5), s.log.read_text()
    finally:
        s.stop()


@pytest.mark.parametrize("how", ["ipc", "user"])
def test_a_client_in_another_ipc_or_user_namespace_runs_its_script_in_it(srv, how):
    """A client in an IPC namespace of its own (systemd's PrivateIPC=) had
    its script run in the server's, with the System V IPC and POSIX message
    queues the web server's confinement hides; one in a user namespace of
    its own (unshare -U, with the server's capability bounding set) had it
    run with the server's uid and capabilities, where python3 in the
    client's has the mapped uid (1000 here) and that namespace's. Such a
    request runs in-process."""
    if not IS_ROOT:
        pytest.skip("needs root (unshare -i, and www-data to map)")
    if not can_unshare(*(["unshare", "-i"] if how == "ipc" else as_user(["unshare", "-U"]))):
        pytest.skip(f"no {how} namespace can be made here")
    script = srv.script("ns.py", NAMESPACES)
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    if how == "ipc":
        wrap = ["unshare", "-i", *as_user([CGIHOST, script])]
    else:
        # The bounding set, full in a new user namespace, made the server's:
        # that check alone refused it where the server's lacks a capability.
        bnd = int(next(l.split()[1] for l in open(f"/proc/{srv.pid}/status")
                       if l.startswith("CapBnd")), 16)
        last = int(pathlib.Path("/proc/sys/kernel/cap_last_cap").read_text())
        drop = ",".join(f"-cap_{n}" for n in range(last + 1) if not bnd >> n & 1)
        wrap = as_user(["unshare", "-U", "--map-user=1000", "--map-group=1000", "--keep-caps",
                        *(["setpriv", f"--bounding-set={drop}"] if drop else []), CGIHOST, script])
    runs = [subprocess.run(wrap, env=dict(full, **extra), cwd=srv.scripts, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
            for extra in ({}, {"CGIHOST_NO_SERVER": "1"})]
    r, cold = runs
    assert r.returncode == 0 and cold.returncode == 0, (r.stderr, cold.stderr)
    assert not served(srv, r), r.stdout
    # each unshare makes a namespace of its own: not the server's, both times
    ours = os.readlink(f"/proc/{srv.pid}/ns/{how}").encode()
    lines = [[l for l in x.stdout.split(b"\n")[1:] if not l.startswith(b"ns ")] for x in runs]
    assert lines[0] == lines[1], (r.stdout, cold.stdout)
    assert ours not in r.stdout and ours not in cold.stdout, (ours, r.stdout)
    if how == "user":
        assert b"ids 1000 1000 65534\n" in r.stdout, r.stdout


@pytest.mark.skipif(not IS_ROOT or not os.path.exists("/proc/self/ns/time"),
                    reason="needs root (unshare -T) and time namespaces")
def test_a_client_in_another_time_namespace_runs_its_script_in_it(srv):
    """A client in a time namespace of its own (unshare -T, a restored
    container's) had its script run with the server's CLOCK_BOOTTIME and
    CLOCK_MONOTONIC, not the ones python3 would have there. Such a request
    runs in-process."""
    script = srv.script("clock.py", WHO + "import time\n"
                        "print(int(time.clock_gettime(time.CLOCK_BOOTTIME)))\n")
    wrap = ["unshare", "-T", "-f", "--boottime", "1000000", *as_user([CGIHOST, script])]
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    runs = [subprocess.run(wrap, env=dict(full, **extra), cwd=srv.scripts, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
            for extra in ({}, {"CGIHOST_NO_SERVER": "1"})]
    ours = time.clock_gettime(time.CLOCK_BOOTTIME)
    for r in runs:
        assert r.returncode == 0, r.stderr
        assert int(r.stdout.split()[2]) - ours > 900000, r.stdout
    assert not served(srv, runs[0]), runs[0].stdout
    assert wait_for(lambda: "another time namespace" in srv.log.read_text(), 5)


def build_client_with(main_c, srv, tmp_path, name, client_defines=()):
    """cgihost's client (host/client.c, its main() renamed cgih_client_main)
    linked with another main(), in a directory the user reaches, beside a
    link to cgihost-py: the client's own binary, doing something first."""
    bindir = srv.scripts.parent / name
    bindir.mkdir()
    bindir.chmod(0o755)
    (tmp_path / "main.c").write_text(main_c)
    objs = []
    for src, extra in (("client.c", ["-Dmain=cgih_client_main", *client_defines]), ("proto.c", [])):
        objs.append(tmp_path / (src[:-2] + ".o"))
        subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", *extra, "-c", "-o", objs[-1],
                        ROOT / "host" / src], check=True)
    subprocess.run(["cc", "-o", bindir / "cgihost", tmp_path / "main.c", *objs], check=True)
    os.symlink(CGIHOST_PY, bindir / "cgihost-py")
    return bindir / "cgihost"


UNDUMPABLE_MAIN = r"""
#include <sys/prctl.h>
int cgih_client_main(int argc, char **argv);
int main(int argc, char **argv)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return 99;
    return cgih_client_main(argc, argv);
}
"""


def test_a_client_the_server_cannot_look_into_runs_its_script_in_process(srv, tmp_path):
    """The server checks what confines a client (its /tmp, network and
    mounts) through /proc/PID, which a process that is not dumpable keeps
    closed to its own user: a script confined by systemd could make itself
    so (prctl(PR_SET_DUMPABLE, 0)) before it connects, to pass for one of
    the server's own. Such a request runs in-process, in the client's
    confinement, whatever it is. The client here is cgihost's, with a
    main() that makes itself undumpable first."""
    script = srv.script("where.py", WHERE)
    hidden_client = build_client_with(UNDUMPABLE_MAIN, srv, tmp_path, "undumpable")
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    runs = [subprocess.run(as_user([exe, script]), env=full, cwd=srv.scripts,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            for exe in (CGIHOST, hidden_client)]
    ok, hidden = runs
    assert ok.returncode == 0 and hidden.returncode == 0, (ok.stderr, hidden.stderr)
    assert served(srv, ok), ok.stdout
    assert not served(srv, hidden), hidden.stdout
    assert hidden.stdout.split(b"\n")[1:] == ok.stdout.split(b"\n")[1:], (hidden.stdout, ok.stdout)


PID_REUSE_MAIN = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
int cgih_client_main(int argc, char **argv);
/* The client's connect(), made by a process that exits at once. Its PID
 * (SO_PEERCRED's) goes to the file $PIDREUSE; once $PIDREUSE.go exists (the
 * test has had a pool child of the server forked with that PID), the
 * request goes on, on the connection left to us. */
int evil_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    pid_t a = fork();
    if (a == 0)
        _exit(connect(fd, sa, len) == 0 ? 0 : 1);
    int st;
    if (a < 0 || waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    const char *path = getenv("PIDREUSE");
    char go[4096];
    snprintf(go, sizeof go, "%s.go", path);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%d\n", (int)a) < 0 || fclose(f) != 0)
        return -1;
    struct stat sb;
    for (int i = 0; i < 600 && stat(go, &sb) != 0; i++)
        usleep(50000);
    return 0;
}
int main(int argc, char **argv) { return cgih_client_main(argc, argv); }
"""


def test_a_client_whose_pid_is_reused_does_not_pass_for_one_of_the_servers(srv, tmp_path):
    """The server checks a client's /tmp, network and mounts through
    /proc/PID of SO_PEERCRED's PID, after the handshake, which the client
    times. A script in a network namespace of its own connects from a
    process that exits, and waits until that PID is taken by a process of
    the server's (here the test hands it to the next pool child through
    ns_last_pid; a script cycles PIDs to it): the checks looked at that
    child, in the server's namespaces, and the script ran there. Now the
    connecting process must still be there when the checks are done."""
    if not IS_ROOT:
        pytest.skip("needs root (unshare, ns_last_pid)")
    if not can_unshare("unshare", "-n"):
        pytest.skip("no network namespace can be made here")
    script = srv.script("where.py", WHERE)
    evil = build_client_with(PID_REUSE_MAIN, srv, tmp_path, "pidreuse",
                             ["-Dconnect=evil_connect"])
    handed = 0
    for attempt in range(6):
        note = srv.scripts.parent / f"pidreuse-{attempt}"
        full = srv.env(GATEWAY_INTERFACE="CGI/1.1", PIDREUSE=str(note))
        p = subprocess.Popen(["unshare", "-n", *as_user([evil, script])], env=full,
                             cwd=srv.scripts, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert wait_for(lambda: note.exists() and note.read_text().endswith("\n")), "no pid"
            a = int(note.read_text())
            # The server's next fork gets A: a status question (asked from
            # here, root's, without a fork of ours that would take A) takes
            # a pool child, which leaves; the server forks its replacement.
            for _ in range(20):
                pathlib.Path("/proc/sys/kernel/ns_last_pid").write_text(str(a - 1))
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as q:
                    q.settimeout(5)
                    q.connect(str(srv.dir / "server.sock"))
                    q.sendall(struct.pack("IIII", 0x31484743, 4, 3, 0))  # QUERY
                    q.recv(64)
                if wait_for(lambda: a in live_children(srv.pid), timeout=1):
                    handed += 1
                    break
            pathlib.Path(str(note) + ".go").touch()
            out, err = p.communicate(timeout=60)
        finally:
            reap(p)
        assert p.returncode == 0, err
        assert b"ifaces ['lo']" in out and not served(srv, subprocess.CompletedProcess(
            p.args, 0, out, err)), out
        if handed >= 2:
            break
    assert handed, "no pool child got the client's PID"


def test_the_service_unit_sees_what_apache_sees():
    """cgihost.service runs requests for Debian's apache2.service: a server
    confined otherwise (NoNewPrivileges=, SystemCallFilter=,
    CapabilityBoundingSet=) or with another /tmp would run none of them
    (the two tests above), so it joins Apache's private /tmp and confines
    no more than Apache's unit does."""
    unit = (ROOT / "host" / "cgihost.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines()
                    if line and not line.startswith(("#", "[")) and "=" in line)
    for confining in ("NoNewPrivileges", "SystemCallFilter", "CapabilityBoundingSet",
                      "RestrictNamespaces", "ProtectSystem", "ProtectHome"):
        assert confining not in settings, confining
    apache = pathlib.Path("/lib/systemd/system/apache2.service")
    private = "PrivateTmp=true" in apache.read_text() if apache.exists() else True
    assert settings.get("PrivateTmp") == ("yes" if private else "no")
    assert settings.get("JoinsNamespaceOf") == "apache2.service"
    assert "apache2.service" in settings.get("After", "").split()


def test_the_service_unit_stops_its_server_by_signal_alone():
    """systemd runs ExecStop= also when the main process has exited by
    itself. cgihost.service had ExecStop=cgihost stop: booted under systemd
    252 with the socket unit, a server that stopped on --idle-exit left
    `cgihost stop` knocking at systemd's socket, which never answers; it
    failed after 5 s ("did not answer"), the unit with it, and
    Restart=on-failure started a server again at once, each idle period.
    SIGTERM, which systemd sends at every stop, stops the server as
    `cgihost stop` does, letting its requests finish."""
    unit = (ROOT / "host" / "cgihost.service").read_text()
    keys = [line.split("=", 1)[0] for line in unit.splitlines()
            if line and not line.startswith(("#", "[")) and "=" in line]
    assert "ExecStop" not in keys and "ExecStopPost" not in keys
    settings = dict(line.split("=", 1) for line in unit.splitlines()
                    if line and not line.startswith(("#", "[")) and "=" in line)
    assert settings.get("KillSignal", "SIGTERM") == "SIGTERM"
    assert settings.get("KillMode") == "mixed"


def test_apache_is_told_to_leave_the_units_server_to_systemd():
    """With cgihost.service, a request that found no server in /run/cgihost
    (the unit stopped or restarting) started one there, in
    apache2.service; `systemctl start cgihost` then failed five times in a
    second ("a server already runs in /run/cgihost") and stayed failed.
    What the unit and the snippet tell Apache to set has it run such
    requests in-process instead."""
    want = ["SetEnv CGIHOST_SOCKET_DIR /run/cgihost", "SetEnv CGIHOST_NO_AUTOSTART 1"]
    unit = (ROOT / "host" / "cgihost.service").read_text()
    snippet = (ROOT / "host" / "apache" / "cgihost.conf").read_text()
    for line in want:
        assert f"#   {line}\n" in unit, line
        assert f"#{line}\n" in snippet, line


class UserBaseServer(Server):
    """A server, and its requests, with PYTHONUSERBASE=base/ub (the user's
    site-packages there, made by the test)."""

    def env(self, **extra):
        return super().env(PYTHONUSERBASE=str(self.dir.parent / "ub"), **extra)


def test_a_package_installed_while_the_server_runs_is_found(base):
    """python3 reads the site directories and their .pth files at each
    start, the server at its own: a package installed in a site directory
    (pip install --user, which makes it) or a .pth added there makes the
    server restart (about a second later), and requests find what python3
    finds."""
    s = UserBaseServer(base).start()
    try:
        probe = s.run([s.script("ver.py", "import sys\nprint('%d.%d' % sys.version_info[:2])\n")])
        site = base / "ub" / "lib" / f"python{probe.stdout.decode().strip()}" / "site-packages"
        script = s.script("imp.py", WHO + "import vmod\nprint('vmod', vmod.X)\n")
        r = s.run([script])
        assert served(s, r) and b"ModuleNotFoundError" in r.stderr, r.stderr
        site.mkdir(parents=True)
        (site / "vmod.py").write_text("X = 42\n")
        assert wait_for(lambda: "site-packages directory or .pth file changed" in s.log.read_text(), 10)
        assert wait_for(lambda: b"vmod 42\n" in s.run([script]).stdout, 10), s.log.read_text()
        # the restart's log line says why, not that the binary changed
        assert "a site-packages directory or .pth file changed: restarting" in s.log.read_text()
        assert " changed: restarting" not in s.log.read_text().replace(
            "a site-packages directory or .pth file changed: restarting", ""), s.log.read_text()
        r = s.run([script])
        assert served(s, r) and r.stdout.endswith(b"vmod 42\n"), (r.stdout, r.stderr)
        extra = base / "extra"  # a .pth line's directory
        extra.mkdir()
        (extra / "wmod.py").write_text("Y = 7\n")
        script = s.script("imp2.py", WHO + "import wmod\nprint('wmod', wmod.Y)\n")
        (site / "extra.pth").write_text(f"{extra}\n")
        assert wait_for(lambda: b"wmod 7\n" in s.run([script]).stdout, 10), s.log.read_text()
        r = s.run([script])
        assert served(s, r) and r.stdout.endswith(b"wmod 7\n"), (r.stdout, r.stderr)
        if not other_python():  # (the reference reads the site directory of its own version)
            assert python3_prints(script, s.env()) == b"wmod 7\n"
    finally:
        s.stop()


def test_a_preloaded_modules_file_upgraded_restarts_the_server(base):
    """The server keeps the modules it imported: when the file of one
    changes (an apt upgrade of the standard library, a package upgraded in
    place, which leave the site directories as they were), it restarts,
    about a second later, as for a site change, so that requests run the
    code a fresh start runs (review Z35: served requests kept the old module
    until the server's idle exit, where cold ones and python3 had the new)."""
    libdir = base / "lib"
    libdir.mkdir(mode=0o755)
    (libdir / "z35mod.py").write_text("V = 1\n")
    s = Server(base, ["--preload", "z35mod"])
    s.env = functools.partial(Server.env, s, PYTHONPATH=str(libdir))
    s.start()
    try:
        script = s.script("v.py", WHO + "import z35mod\nprint('V', z35mod.V)\n")
        r = s.run([script])
        assert served(s, r) and r.stdout.endswith(b"V 1\n"), (r, s.log.read_text())
        time.sleep(0.05)
        (libdir / "z35mod.py").write_text("V = 22\n")
        assert wait_for(lambda: b"V 22\n" in s.run([script]).stdout, 10), s.log.read_text()
        r = s.run([script])
        assert served(s, r) and r.stdout.endswith(b"V 22\n"), (r, s.log.read_text())
        assert f"{libdir}/z35mod.py, a module this server imported, changed: restarting" in \
            s.log.read_text(), s.log.read_text()
    finally:
        s.stop()


def test_a_ctrl_c_during_the_servers_start_stops_it(base):
    """A SIGINT (Ctrl-C at root's terminal, which the relay passes on) that
    comes once the socket exists but before the server watches its signals,
    while Python starts or a module is preloaded, stops the server as one a
    moment later does. It was Python's: a KeyboardInterrupt in the preload
    ("cannot preload ...") or only noted, and the server ran on (review Z37:
    test_roots_terminal_relay_shows_the_users_controls_as_question_marks hung
    now and then against CPython 3.13, whose start takes longer)."""
    libdir = base / "lib"
    libdir.mkdir(mode=0o755)
    mark = base / "preloading"
    (libdir / "z37slow.py").write_text(f"import time\nopen({str(mark)!r}, 'w').close()\ntime.sleep(2)\n")
    s = Server(base, ["--preload", "z37slow"])
    s.env = functools.partial(Server.env, s, PYTHONPATH=str(libdir))
    s.start()
    try:
        assert wait_for(mark.exists, 10), s.log.read_text()
        os.kill(s.pid, signal.SIGINT)
        assert s.proc.wait(timeout=15) == 0, s.log.read_text()
        text = s.log.read_text()
        assert "cannot preload" not in text and "stopping: Interrupt" in text, text
    finally:
        s.stop()


def test_status_names_the_program_and_the_settings_the_server_started_with(base):
    """status says which program the server runs and the settings it took:
    after an upgrade, whether the server runs the new one; with virtual
    hosts sharing a socket directory, whose CGIHOST_PRELOAD it took (the
    first request's; review Z35: nothing said either, and another vhost's
    settings were ignored without a word)."""
    s = Server(base, ["--preload", "json"])
    s.env = functools.partial(Server.env, s, CGIHOST_IDLE_EXIT="777", CGIHOST_PRELOAD="html")
    s.start()
    try:
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        out = st.stdout.decode()
        assert st.returncode == 0, out
        assert f"\n  program {CGIHOST_PY.resolve()}\n" in out, out
        started = [l for l in out.splitlines() if l.startswith("  started with ")]
        assert len(started) == 1, out
        words = started[0].split()
        assert "--preload json" in started[0] and "CGIHOST_IDLE_EXIT=777" in words, out
        assert "CGIHOST_PRELOAD=html" in words and "CGIHOST_SOCKET_DIR" not in out, out
    finally:
        s.stop()


def test_the_fd_limit_leaves_room_for_max_children_and_the_queue(base):
    """--max-children 4096 is in range, and each running request holds two
    fds in the server: under systemd's default soft fd limit (1024) the queue
    was cut to 0. The server raises its soft limit (up to the hard one) to
    what its settings need; the script still gets its client's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 8480:
        pytest.skip(f"hard fd limit {hard}")
    lim = ["prlimit", f"--nofile=1024:{'unlimited' if hard == resource.RLIM_INFINITY else hard}"]
    s = Server(base, args=["--max-children", "4096"], wrap=lim).start()
    try:
        script = s.script("nofile.py", WHO + "import resource\n"
                          "print('nofile', resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n")
        r = s.run([script], wrap=lim)
        assert served(s, r) and r.stdout.endswith(b"nofile 1024\n"), (r.stdout, r.stderr)
        assert "--queue cut" not in s.log.read_text(), s.log.read_text()
    finally:
        s.stop()


def test_a_pth_file_edited_among_many_restarts_the_server(base):
    """The server watches every .pth file its start read, however many: with
    140 in the user's site-packages, an edit to the last one read (the
    watch list held 128) makes it restart, and requests see the new line."""
    site = base / "ub" / "lib" / f"python{cgihost_python_version()}" / "site-packages"
    site.mkdir(parents=True)
    for i in range(140):
        (site / f"p{i}.pth").write_text(f"# {i}\n")
    for p in (base / "ub", base / "ub" / "lib", site.parent, site):
        p.chmod(0o755)
    s = UserBaseServer(base).start()
    try:
        extra = base / "extra"
        extra.mkdir()
        extra.chmod(0o755)
        (extra / "wmod.py").write_text("Y = 7\n")
        script = s.script("imp3.py", WHO + "import wmod\nprint('wmod', wmod.Y)\n")
        r = s.run([script])
        assert served(s, r) and b"ModuleNotFoundError" in r.stderr, r.stderr
        last = [n for n in os.listdir(site) if n.endswith(".pth")][-1]  # readdir's order
        time.sleep(0.05)
        (site / last).write_text(f"{extra}\n")
        assert wait_for(lambda: "site-packages directory or .pth file changed" in s.log.read_text(),
                        10), s.log.read_text()
        assert wait_for(lambda: b"wmod 7\n" in s.run([script]).stdout, 10), s.log.read_text()
        r = s.run([script])
        assert served(s, r) and r.stdout.endswith(b"wmod 7\n"), (r.stdout, r.stderr)
    finally:
        s.stop()


def python3_prints(script, env):
    """What /usr/bin/python3 prints running script as www-data, ppid line left out."""
    r = subprocess.run(as_user([PYTHON, script]), env=env, stdout=subprocess.PIPE, timeout=60)
    return b"".join(line for line in r.stdout.splitlines(True) if not line.startswith(b"ppid "))


def test_umask_and_tty_free_stdio_follow_the_request(srv):
    script = srv.script("dump.py", DUMP)
    ours = srv.run([script], wrap=["sh", "-c", 'umask 027; exec "$@"', "sh"])
    a = json.loads(ours.stdout.splitlines()[0])
    assert served(srv, ours)
    assert a["umask"] == 0o027
    assert [fd for fd in a["fds"] if int(fd) < 200] == ["0", "1", "2", "3"]  # 3: listdir's own


STDIO_KINDS = r"""
import json, os, sys
info = {}
for name in ("stdin", "stdout", "stderr"):
    f = getattr(sys, name)
    if f is None:
        info[name] = None
        continue
    try:
        pos = f.buffer.tell() if hasattr(f, "buffer") else f.tell()
    except OSError as e:
        pos = "unseekable"
    info[name] = [f.encoding, f.errors, f.line_buffering, f.write_through, f.seekable(), pos,
                  f.name, f.mode, getattr(sys, "__%s__" % name) is f]
sys.stderr.write("to stderr\n")
line = sys.stdin.readline()
print(json.dumps({"info": info, "line": line}, sort_keys=True))
print("ppid", os.getppid())
"""


@pytest.mark.parametrize("kinds", ["files", "devnull", "pipes"])
def test_stdio_on_files_devices_and_pipes_as_cold(srv, kinds):
    """sys.std* are the server's premade objects when the fd is of their kind
    (pipe or socket; regular file or non-tty device, as mod_cgid's stderr is
    the error log): what a script sees of them, positions included, is what
    a cold start gives it, and what it writes lands where it should."""
    script = srv.script("kinds.py", STDIO_KINDS)
    io_dir = srv.scripts.parent / "io"
    io_dir.mkdir()
    os.chmod(io_dir, 0o777)
    results = []
    for mode in ("server", "cold"):
        out, err, inp = (io_dir / f"{mode}.{n}" for n in ("out", "err", "in"))
        inp.write_bytes(b"skipped\nfirst line\nsecond\n")
        out.write_bytes(b"x" * 10)  # written after these, at their end (append)
        err.write_bytes(b"y" * 7)
        for p in (out, err, inp):
            p.chmod(0o666)
        env = {"CGIHOST_NO_SERVER": "1"} if mode == "cold" else {}
        if kinds == "files":
            shell = f'exec 0<"{inp}" 1>>"{out}" 2>>"{err}"; read skip; exec "$@"'
        elif kinds == "devnull":
            shell = f'exec 0</dev/null 1>>"{out}" 2>/dev/null; exec "$@"'
        else:
            shell = f'cat "{inp}" | "$@" 2>&1 | cat >> "{out}"'
        r = srv.run([script], env=env, wrap=["sh", "-c", shell, "sh"])
        assert r.returncode == 0, r.stderr
        text = out.read_bytes()
        assert text.startswith(b"x" * 10), text
        assert (f"ppid {srv.pid}\n".encode() in text) == (mode == "server"), text
        results.append((text.replace(f"ppid {srv.pid}\n".encode(), b""), err.read_bytes()))
    (served_out, served_err), (cold_out, cold_err) = results
    cold_out = b"\n".join(l for l in cold_out.split(b"\n") if not l.startswith(b"ppid "))
    assert served_out.rstrip(b"\n") == cold_out.rstrip(b"\n")
    assert served_err == cold_err
    if kinds == "files":
        assert served_err == b"y" * 7 + b"to stderr\n"
        got = json.loads(served_out[10:])
        assert got["line"] == "first line\n"
        # tell(): the fd's own position (the shell read a line), not that of
        # the /dev/null the server made the object on.
        assert got["info"]["stdin"][5] == len(b"skipped\n")
        assert got["info"]["stdin"][4] is True and got["info"]["stderr"][8] is True

def test_hello_is_byte_identical_to_cold_and_python3(srv, tmp_path):
    hello = srv.scripts / "hello.py"
    hello.write_bytes((ROOT / "scripts" / "hello.py").read_bytes())
    hello.chmod(0o644)
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "name=Ada&happy=on"}
    ours = srv.run([hello], env=env)
    cold = srv.run([hello], env={**env, "CGIHOST_NO_SERVER": "1"})
    fixed = fixed_copy(hello, tmp_path)
    py = subprocess.run([PYTHON, fixed], env=srv.env(**env), stdout=subprocess.PIPE, timeout=60)
    assert ours.stdout == cold.stdout == py.stdout
    assert ours.returncode == 0
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE, timeout=30)
    assert b"1 requests served" in st.stdout or b"2 requests served" in st.stdout, st.stdout


def test_no_state_leaks_between_requests(srv):
    marker = srv.scripts / "leak.txt"
    script = srv.script("leak.py", f"""
import os, sys, cgi
leaked = {{
    "global": "LEAK" in globals(),
    "module": hasattr(cgi, "leak"),
    "env": "LEAK" in os.environ,
    "sysmod": "leaky" in sys.modules,
    "fds": sorted(os.listdir("/proc/self/fd")),
    "file": os.path.exists({str(marker)!r}),
}}
print(leaked)
LEAK = 1
cgi.leak = 1
os.environ["LEAK"] = "1"
sys.modules["leaky"] = cgi
f = open({str(marker)!r}, "w")
f.write("x")
print("ppid", os.getppid())
""")
    first = srv.run([script])
    second = srv.run([script])
    assert served(srv, first) and served(srv, second)
    assert first.stdout.startswith(b"{'global': False, 'module': False, 'env': False, 'sysmod': False, "
                                   b"'fds': ['0', '1', '2', '200', '3'], 'file': False}")
    # Only the file on disk remains.
    assert second.stdout.startswith(b"{'global': False, 'module': False, 'env': False, 'sysmod': False, "
                                    b"'fds': ['0', '1', '2', '200', '3'], 'file': True}")


def test_post_body_of_50_mib_arrives_intact(srv):
    script = srv.script("post.py", WHO + """
import hashlib, sys
data = sys.stdin.buffer.read()
print(len(data), hashlib.sha256(data).hexdigest())
""")
    body = os.urandom(1 << 20) * 50
    r = srv.run([script], env={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body))},
                stdin=body, timeout=120)
    assert r.returncode == 0, r.stderr
    assert served(srv, r)
    assert f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode() in r.stdout


@pytest.mark.parametrize("code", [
    "pass", "import sys; sys.exit(3)", "import sys; sys.exit('bye now')", "import sys; sys.exit()",
    "raise KeyError('boom')", "import os, sys; sys.stdout.flush(); os._exit(7)", "exit(4)",
    "import sys; sys.exit(300)", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
    "import atexit; atexit.register(print, 'at exit')", "raise KeyboardInterrupt",
])
def test_exit_status_as_cold(srv, code):
    script = srv.script("exit.py", WHO + "print('before')\n" + code + "\nprint('after')\n")
    ours = srv.run([script])
    cold = srv.run([script], env={"CGIHOST_NO_SERVER": "1"})
    assert served(srv, ours)
    # A cold run killed by signal N is what the client reports as 128+N.
    cold_rc = cold.returncode if cold.returncode >= 0 else 128 - cold.returncode
    if b"Sanitizer" in cold.stderr:  # an ASan build reports the SIGSEGV, with pids
        ours.stderr = cold.stderr = b""
    assert (ours.returncode, ours.stdout.split(b"\n", 1)[1], ours.stderr) == \
        (cold_rc, cold.stdout.split(b"\n", 1)[1], cold.stderr)


def test_the_teardown_flushes_what_python3s_does(srv):
    # cgi is preloaded in the server, so its log file is dropped by name;
    # the helper module and the replaced sys.stdout as on the cold path.
    from test_host import HELPER, TEARDOWN, TEARDOWN_FILES
    srv.script("helper.py", HELPER)
    script = srv.script("t.py", WHO + TEARDOWN)
    outs = []
    for env in ({}, {"CGIHOST_NO_SERVER": "1"}):
        r = srv.run([script], env=env)
        outs.append((r.returncode, r.stdout.split(b"\n", 1)[1],
                     *((srv.scripts / f).read_text() for f in TEARDOWN_FILES)))
        for f in TEARDOWN_FILES:
            (srv.scripts / f).unlink()
        assert served(srv, r) == (not env)
    assert outs[0] == outs[1] == (0, b"Content-Type: text/plain\n\nbody\n", *TEARDOWN_FILES.values())


@pytest.mark.parametrize("name", ["atexit", "traceback", "exit-message", "global-del",
                                  "global-cycle-del", "keyboardinterrupt"])
def test_the_end_of_a_script_is_the_cold_paths(srv, name):
    # __main__ is the child's own: what the script left in it is released
    # at the end, __del__ methods run, as on the cold path (test_host.py
    # compares that with python3).
    from test_host import ENDINGS
    script = srv.script("end.py", WHO + ENDINGS[name])
    ours = srv.run([script])
    cold = srv.run([script], env={"CGIHOST_NO_SERVER": "1"})
    assert served(srv, ours) and not served(srv, cold)
    cold_rc = cold.returncode if cold.returncode >= 0 else 128 - cold.returncode  # 128+N of a signal
    assert (ours.returncode, ours.stdout.split(b"\n", 1)[1], ours.stderr) == \
        (cold_rc, cold.stdout.split(b"\n", 1)[1], cold.stderr)
    assert (b"ran\n" in cold.stdout) == name.endswith("-del")


SHEBANG = """import os, sys
print('ppid', os.getppid(), flush=True)
print('cgi' in sys.modules, sys.flags.optimize, sys.stdout.write_through, sys.orig_argv[1])
print(sys.stdin.read())
os.system('echo from a subprocess')
print('end')
sys.exit(3)
"""


@pytest.mark.parametrize("opt", ["-u", "-O"])
def test_a_shebang_option_is_the_scripts_through_the_server(srv, opt):
    # -u the request child applies itself (the server's preloads are there);
    # another option needs a fresh start, which the child execs: still the
    # server's child, with the request's stdin, output and exit status.
    script = srv.script("opt.py", f"#!/usr/bin/python3 {opt}\n" + SHEBANG)
    r = srv.run([script], stdin=b"the body", env={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "8"})
    assert served(srv, r), r.stderr
    assert r.returncode == 3, r.stderr
    lines = f"{opt == '-u'} {int(opt == '-O')} {opt == '-u'} {opt}\nthe body\n".encode()
    sub = b"from a subprocess\n"
    # unbuffered, the lines come in the order printed; buffered, at exit
    assert r.stdout.split(b"\n", 1)[1] == (lines + sub + b"end\n" if opt == "-u" else sub + lines + b"end\n")


# ---- signals and faults ------------------------------------------------------------

SLEEPER = """
import os, sys, time, signal
if len(sys.argv) > 1:
    signal.signal(signal.SIGTERM, lambda *a: (print("caught", a[0], flush=True), sys.exit(5)))
print(os.getpid(), os.getppid(), flush=True)
time.sleep(60)
print("woke")
"""


def start_client(srv, argv, env=None):
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    full.update(env or {})
    p = subprocess.Popen(as_user([CGIHOST, *argv]), env=full, cwd=srv.scripts,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()
    pid, ppid = map(int, line.split())
    return p, pid, ppid


@pytest.mark.parametrize("handled", [False, True])
@pytest.mark.parametrize("shebang", ["", "#!/usr/bin/python3 -O\n"], ids=["", "fresh-interpreter"])
def test_sigterm_to_the_client_reaches_the_script(srv, handled, shebang):
    # also in the fresh interpreter a #! option makes the child exec
    script = srv.script("sleep.py", shebang + SLEEPER)
    p, pid, ppid = start_client(srv, [script] + (["h"] if handled else []))
    assert ppid == srv.pid
    time.sleep(0.5)  # let print() return: a signal inside it is another test
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    if handled:
        assert p.returncode == 5 and out == b"caught 15\n", err
    else:
        assert p.returncode == 128 + signal.SIGTERM, err
    assert wait_for(lambda: not proc_alive(pid), 10)



TAKER = """
import os, signal, sys, time
sig = getattr(signal, sys.argv[1])
if sys.argv[2:] == ["h"]:
    signal.signal(sig, lambda *a: (print("caught", a[0], flush=True), sys.exit(5)))
print(os.getpid(), os.getppid(), flush=True)
time.sleep(2)
print("woke")
"""


@pytest.mark.parametrize("handled", [False, True], ids=["default", "handled"])
@pytest.mark.parametrize("sig", ["SIGPIPE", "SIGWINCH", "SIGCONT", "SIGRTMIN", "SIGRTMAX"])
def test_a_signal_python3_takes_reaches_the_script(srv, sig, handled):
    """Sent to the client, SIGPIPE (which python3 ignores: it ended the
    client, and with it the script), SIGWINCH and SIGCONT (which the client
    ignored: the script's handler never ran) and the real-time signals do
    to the script what they do to python3's process: SIGRTMIN (34) too,
    which a client built with musl cannot name (it ended the client)."""
    script = srv.script("take.py", TAKER)
    argv = [script, sig] + (["h"] if handled else [])
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    outs = {}
    for name, prog in (("python3", PYTHON), ("cgihost", CGIHOST)):
        p = subprocess.Popen(as_user([prog, *argv]), env=full, cwd=srv.scripts,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pid, ppid = map(int, p.stdout.readline().split())
        assert (ppid == srv.pid) == (name == "cgihost")
        time.sleep(0.5)  # let print() return
        p.send_signal(getattr(signal, sig))
        try:
            out, err = p.communicate(timeout=30)
        finally:
            reap(p)
        rc = p.returncode if p.returncode >= 0 else 128 - p.returncode  # the client's 128+N
        outs[name] = (rc, out)
        assert wait_for(lambda: not proc_alive(pid), 10)
    assert outs["cgihost"] == outs["python3"], outs
    if handled:
        assert outs["cgihost"] == (5, f"caught {int(getattr(signal, sig))}\n".encode())


CATCHER = """
import os, signal, sys, time
signal.signal(signal.SIGHUP, lambda *a: (print("caught", a[0], flush=True), sys.exit(5)))
print(os.getpid(), os.getppid(), flush=True)
time.sleep(60)
print("woke")
"""


@pytest.mark.parametrize("shebang", ["", "#!/usr/bin/python3 -O\n"], ids=["", "fresh-interpreter"])
def test_a_signal_the_client_ignores_reaches_a_script_that_handles_it(srv, shebang):
    """Started with SIGHUP ignored (nohup), the script inherits the ignore
    and installs a handler: a SIGHUP sent to the client reaches it, as one
    sent to python3's process does (the client caught only the signals it
    did not ignore, and dropped this one)."""
    script = srv.script("catch.py", shebang + CATCHER)
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    wrap = [PYTHON, "-c", SIGWRAP]
    outs = {}
    for name, argv in (("python3", [*wrap, PYTHON, script]), ("cgihost", [*wrap, CGIHOST, script])):
        p = subprocess.Popen(as_user(argv), env=full, cwd=srv.scripts, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        pid, ppid = map(int, p.stdout.readline().split())
        if name == "cgihost":
            assert ppid == srv.pid
        time.sleep(0.5)  # let print() return
        p.send_signal(signal.SIGHUP)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        outs[name] = (p.returncode, out)
        assert wait_for(lambda: not proc_alive(pid), 10)
    assert outs["cgihost"] == outs["python3"] == (5, b"caught 1\n"), outs


def test_a_process_the_script_forks_does_not_end_the_request(srv):
    """A child the script forks that returns (sys.exit, not os._exit) finishes
    like any Python process, but the request stays its parent's: the client
    reports the parent's status after the parent's output."""
    script = srv.script("forks.py", WHO + """
import os, sys, time
if os.fork() == 0:
    sys.exit(0)
os.wait()
time.sleep(0.5)
print("parent done", flush=True)
sys.exit(3)
""")
    r = srv.run([script])
    assert served(srv, r), r
    assert r.returncode == 3 and r.stdout.endswith(b"parent done\n"), r


def test_the_response_ends_when_the_script_closes_stdout(srv):
    """The web server sees the end of the response when the script closes
    its stdout, as with python3: the client does not hold a copy of it."""
    script = srv.script("early.py", WHO + """
import os, sys, time
sys.stdout.flush()
os.close(1)
time.sleep(3)
""")
    full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
    p = subprocess.Popen(as_user([CGIHOST, script]), env=full, cwd=srv.scripts,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    out = p.stdout.read()  # until EOF
    t_eof = time.monotonic() - t0
    p.wait(timeout=30)
    assert f"ppid {srv.pid}\n".encode() == out, out
    assert t_eof < 2.0, t_eof
    assert p.returncode == 0


@pytest.mark.parametrize("shebang", ["", "#!/usr/bin/python3 -O\n"], ids=["", "fresh-interpreter"])
def test_sigkill_of_the_client_kills_the_script(srv, shebang):
    script = srv.script("sleep.py", shebang + SLEEPER)
    p, pid, ppid = start_client(srv, [script])
    assert ppid == srv.pid and proc_alive(pid)
    p.kill()
    p.wait(timeout=30)
    assert wait_for(lambda: not proc_alive(pid), 10), "the script outlived its client"


def test_server_killed_mid_request(srv):
    script = srv.script("slow.py", """
import os, sys, time
print(os.getpid(), os.getppid(), flush=True)
time.sleep(1.5)
print("done")
sys.exit(6)
""")
    p, pid, ppid = start_client(srv, [script])
    assert ppid == srv.pid
    server = srv.pid
    os.kill(server, signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out) == (6, b"done\n"), err
    # No zombie: the script was reaped (by the subreaper standing in for init).
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10)
    assert wait_for(lambda: srv.proc.poll() is not None, 10)
    # The next request falls back and is right.
    r = srv.run([script])
    assert r.returncode == 6 and r.stdout.endswith(b"done\n")



def test_a_daemon_the_script_forks_keeps_no_connection_to_the_client(srv):
    """A process the script forks (the "background job" CGI's daemon) has the
    fds a process python3 forks has: not the request child's connection to
    the client. Kept, it held the client, once the server was gone (killed:
    no STATUS from its reaping of a script that died of a signal), until the
    daemon ended, where python3's script ends the request when it dies."""
    daemon = srv.scripts.parent / "daemon"
    script = srv.script("daemon.py", f"""
import os, signal, sys, time
print(os.getpid(), os.getppid(), flush=True)
if os.fork() == 0:
    os.setsid()
    n = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(n, fd)
    os.close(n)
    with open({str(daemon)!r} + ".tmp", "w") as f:
        f.write(" ".join([str(os.getpid())] + os.listdir("/proc/self/fd")))
    os.rename({str(daemon)!r} + ".tmp", {str(daemon)!r})
    time.sleep(60)
    os._exit(0)
while not os.path.exists({str(daemon)!r}):
    time.sleep(0.02)
time.sleep(1)
os.kill(os.getpid(), signal.SIGTERM)
""")
    p, pid, ppid = start_client(srv, [script])
    assert ppid == srv.pid
    daemon_pid = None
    try:
        assert wait_for(lambda: daemon.exists(), 10)
        daemon_pid, *fds = map(int, daemon.read_text().split())
        # 0-2, the file written and the directory listed, as under python3
        assert sorted(fds) == [0, 1, 2, 3, 4], fds
        os.kill(srv.pid, signal.SIGKILL)
        t0 = time.monotonic()
        out, err = p.communicate(timeout=60)
        assert time.monotonic() - t0 < 10, "the client waited for the daemon"
        assert p.returncode == 1 and b"lost the server" in err, (p.returncode, err)
        assert proc_alive(daemon_pid)  # the daemon lives on, as it would under python3
    finally:
        reap(p)
        if daemon_pid:
            os.kill(daemon_pid, signal.SIGKILL)


def test_a_peer_trickling_its_handshake_is_cut_off(srv):
    # Each wait of a request child is bounded (10 s); so is the handshake as
    # a whole, or a byte every few seconds would hold the child for ever.
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(srv.dir / "server.sock"))
    c.settimeout(0.5)
    t0 = time.monotonic()
    closed = None
    try:
        while time.monotonic() - t0 < 25:
            try:
                c.send(b"C")  # not a whole header yet, ever
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - t0
                break
            try:
                if c.recv(64) == b"":
                    closed = time.monotonic() - t0
                    break
            except socket.timeout:
                pass
            time.sleep(2)
    finally:
        c.close()
    assert closed is not None and 9 <= closed <= 15, closed


POISON = r"""
import os
# The page-learning area every request child shares with the pool (an
# anonymous MAP_SHARED mapping): its page count set far past the array.
for line in open("/proc/self/maps"):
    f = line.split()
    if f[1] == "rw-s" and "/dev/zero" in line:
        start = int(f[0].split("-")[0], 16)
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            # lock (held by us: this child, were it a learner, records
            # nothing), n
            mem.seek(start)
            mem.write(b"".join(v.to_bytes(4, "little") for v in (os.getpid(), 0xFFFFFFF0)))
        print("poisoned")
"""


def children_of(pid):
    return sorted(pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ, reason="no page learning under the sanitizers")
def test_a_script_that_scribbles_on_the_shared_area_breaks_no_pool_child(srv):
    # First the learners (the first children forked, which copy nothing
    # ahead and record what their request wrote, over the scribbling too).
    who = srv.script("who.py", WHO)
    for _ in range(8):
        assert served(srv, srv.run([who]))
        time.sleep(0.1)
    r = srv.run([srv.script("poison.py", WHO + POISON)])
    assert served(srv, r) and r.stdout.endswith(b"poisoned\n"), r
    # Pool children, warming up, read that count: they must not crash (the
    # pool would be refilled, and crash, for ever).
    for _ in range(3):
        assert served(srv, srv.run([who]))
        time.sleep(0.1)
    time.sleep(1)
    pool = children_of(srv.pid)
    assert len(pool) == 2
    time.sleep(1)
    assert children_of(srv.pid) == pool
    assert served(srv, srv.run([who]))
    # (A crash loop ends at the next learner, which does not read it: the
    # server's log tells.)
    assert "while idle" not in srv.log.read_text(), srv.log.read_text()[-1000:]


def test_server_killed_between_requests_and_stale_socket(srv):
    script = srv.script("who.py", WHO + "print('ok')\n")
    assert served(srv, srv.run([script]))
    os.kill(srv.pid, signal.SIGKILL)
    assert wait_for(lambda: srv.proc.poll() is not None, 10)
    # The socket file is left behind, stale: connect() is refused.
    assert (srv.dir / "server.sock").exists()
    t = time.monotonic()
    r = srv.run([script])
    assert r.returncode == 0 and r.stdout.endswith(b"ok\n")
    assert time.monotonic() - t < 10
    # Pool children left with the server.
    assert wait_for(lambda: not pids_with(str(srv.dir)), 10)


def test_a_server_whose_socket_file_goes_leaves_for_a_new_one(base):
    """The socket file removed (a /tmp cleaner), or its directory removed
    and made again with another server's socket in it: the server no longer
    reached stops within seconds, letting its lock go so that a new one can
    start, and it never unlinks the socket file of another."""
    a = Server(base).start()
    b = Server(base)
    try:
        script = a.script("who.py", WHO + "print('ok')\n")
        assert served(a, a.run([script]))
        (a.dir / "server.sock").unlink()
        assert wait_for(lambda: a.proc.poll() is not None, 10), a.log.read_text()
        assert "the socket file is gone" in a.log.read_text()
        a.proc = None
        a = Server(base).start()
        shutil.rmtree(a.dir)
        b.start()  # makes the directory again, binds its own socket there
        assert wait_for(lambda: a.proc.poll() is not None, 10), a.log.read_text()
        assert (b.dir / "server.sock").exists()
        assert served(b, b.run([script]))
    finally:
        a.stop()
        b.stop()


def test_a_server_whose_socket_file_goes_lets_its_lock_go_while_requests_run(base):
    """The socket file removed while a request runs: no client reaches the
    server any more, so it lets its lock go within seconds, not when the
    request ends (up to --stop-wait): a new server can start at once, and
    the old one still watches its request (its client's signals), then
    exits, leaving the new one's socket alone."""
    a = Server(base).start()
    b = None
    try:
        script = a.script("sleep.py", SLEEPER)
        p, pid, ppid = start_client(a, [script])
        assert ppid == a.pid
        (a.dir / "server.sock").unlink()
        assert wait_for(lambda: "the socket file is gone" in a.log.read_text(), 10), a.log.read_text()
        t = time.monotonic()
        b = Server(base).start()  # the old one's lock no longer keeps it from starting
        assert time.monotonic() - t < 10
        assert a.proc.poll() is None and proc_alive(pid)
        p.send_signal(signal.SIGTERM)  # still passed on by the old server
        p.communicate(timeout=30)
        assert p.returncode == 128 + signal.SIGTERM
        assert wait_for(lambda: a.proc.poll() is not None, 10), a.log.read_text()
        r = b.run([a.script("who.py", WHO)])
        assert r.returncode == 0 and served(b, r), r  # its socket is still there
    finally:
        if b:
            b.stop()
        a.stop()


def test_a_restarted_server_whose_socket_file_went_meanwhile_stops(base):
    """The socket file removed just before a restart's exec, which keeps the
    listening socket (a /tmp cleaner, between the last look and the exec):
    the new binary finds no file of its own and stops, letting its lock go
    for a new server, rather than serve on where no client reaches it,
    every request in-process and `cgihost stop` finding no server, until
    --idle-exit."""
    s = Server(base)
    s.dir.mkdir(mode=0o700)
    if IS_ROOT:
        os.chown(s.dir, UID, -1)
    sock = s.dir / "server.sock"
    # as reexec() hands the socket over, the file gone meanwhile
    code = f"""
import os, socket, sys
l = socket.socket(socket.AF_UNIX)
l.bind({str(sock)!r}); l.listen(16)
os.unlink({str(sock)!r})
if l.fileno() != 3:
    os.dup2(l.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), CGIHOST_REEXEC="own")
os.environ.pop("LC_CTYPE", None)
os.execvp(sys.argv[1], sys.argv[1:])
"""
    argv = as_user([sys.executable, "-c", code, CGIHOST, "serve", "--socket-dir", s.dir])
    new = None
    with open(s.log, "ab") as log:
        s.proc = subprocess.Popen([sys.executable, "-c", REAPER, *argv], env=s.env(),
                                  stdout=log, stderr=log)
    try:
        assert wait_for(lambda: "serving on" in s.log.read_text(), 30), s.log.read_text()
        assert wait_for(lambda: s.proc.poll() is not None, 10), s.log.read_text()
        assert "the socket file is gone" in s.log.read_text()
        new = Server(base).start()  # the lock is free
        assert served(new, new.run([new.script("who.py", WHO)]))
    finally:
        if new:
            new.stop()
        s.stop()


@contextlib.contextmanager
def a_listener_instead(srv, then):
    """srv stopped, and a listener on its socket that runs `then` (Python,
    with s the listening socket) and never answers."""
    srv.stop()
    sock = srv.dir / "server.sock"
    sock.unlink(missing_ok=True)
    helper = subprocess.Popen(as_user([sys.executable, "-c", f"""
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind({str(sock)!r}); s.listen(1)
print("up", flush=True)
{then}
time.sleep(60)
"""]), stdout=subprocess.PIPE)
    try:
        assert helper.stdout.readline() == b"up\n"
        yield
    finally:
        helper.kill()
        helper.wait(timeout=10)
        sock.unlink(missing_ok=True)


def test_a_wedged_server_costs_a_bounded_wait(srv, base):
    """A listener that accepts nothing, then one that accepts and says nothing."""
    script = srv.script("who.py", WHO + "print('ok')\n")
    for accept in (False, True):
        with a_listener_instead(srv, f"conns = []\nwhile {accept}:\n    conns.append(s.accept()[0])"):
            t = time.monotonic()
            r = srv.run([script], env={"CGIHOST_TIMEOUT_MS": "500"})
            took = time.monotonic() - t
            assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r.stderr
            assert took < 8, took


def test_a_server_reading_a_large_request_slowly_costs_one_time_out(srv, base):
    """A listener that reads a little now and then and never answers: the
    client's sending of a large request (a big environment) is bounded by
    CGIHOST_TIMEOUT_MS as a whole, not each sendmsg() by it (where each one
    that sent a part made way for another wait: some 15 s here)."""
    script = srv.script("who.py", WHO + "print('ok')\n")
    with a_listener_instead(srv, "c = s.accept()[0]\nwhile c.recv(16384):\n    time.sleep(0.2)"):
        big = {f"BIG{i}": "x" * 100000 for i in range(15)}
        t = time.monotonic()
        r = srv.run([script], env={"CGIHOST_TIMEOUT_MS": "500", **big})
        took = time.monotonic() - t
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r.stderr
        assert took < 5, took


def test_concurrency_200_requests_16_at_a_time(srv):
    script = srv.script("n.py", WHO + "import sys\nprint('n', sys.argv[1])\n")

    # Under ASan, whose exits are slow, children that had answered but not
    # yet exited used to fill --max-children (64) near the 64th request, and
    # the requests refused then ran in-process (1 run in 6 failed here); they
    # now wait in the server's queue.
    def one(i):
        r = srv.run([script, str(i)], timeout=120)
        return r.returncode, r.stdout

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(200)))
    bad = [(i, r) for i, r in enumerate(results) if r != (0, f"ppid {srv.pid}\nn {i}\n".encode())]
    # Under a loaded machine a request may fall back (still right, other ppid).
    wrong = [(i, r) for i, r in bad if not r[1].endswith(f"n {i}\n".encode()) or r[0] != 0]
    assert not wrong, wrong[:3]
    assert len(bad) <= 20, (bad[:3], srv.log.read_text()[-2000:])


def child_trace(srv, script, field):
    """A field of the request child's CGIHOST_TRACE line for one run of
    hello.py: faults_run (page faults in the script's run), private_kb."""
    r = srv.run([script], env={"CGIHOST_TRACE": "1", "QUERY_STRING": "name=Ada&happy=on"})
    assert r.returncode == 0, r.stderr
    for line in r.stderr.decode().splitlines():
        w = line.split()
        if w[:2] == ["cgihost-trace", "child"]:
            return int(w[w.index(field) + 1])
    raise AssertionError(f"not served: {r.stderr!r}")


def run_faults(srv, script):
    return child_trace(srv, script, "faults_run")


def live_children(pid):
    """The server's children that are running (pool and request children)."""
    kids = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(k for k in map(int, kids) if proc_alive(k))


def settled_pool(s, n, seconds=10):
    """Waits until the server has the same n live children for 0.3 s: its
    pool, full and idle."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        kids = live_children(s.pid)
        if kids != last:
            last, since = kids, time.monotonic()
        elif len(kids) == n and time.monotonic() - since >= 0.3:
            return kids
        time.sleep(0.05)
    raise AssertionError(f"no settled pool of {n}: {last}")


def test_pool_children_stopped_by_a_signal_are_replaced_and_never_left(srv, base):
    """Pool children that a signal stopped (kill -STOP, a debugger) accept
    nothing, and while they count as idle the server does not listen: every
    request waited for its client's timeout, then ran in-process, and at the
    server's end they were left behind, stopped. Now a connection that waits
    has them killed within about a second and is served; and a server that
    stops lets stopped ones go too."""
    script = srv.script("who.py", WHO + "print('pid', os.getpid())\nprint('ok')\n")

    def run_to_its_end(s):
        # A request child's exit can outlast settled_pool()'s 0.3 s (ASan's,
        # on a loaded machine), and it was taken for a pool child, stopped,
        # and never killed: no connection waited for it.
        r = s.run([script])
        assert served(s, r), r
        child = int(re.search(rb"^pid (\d+)$", r.stdout, re.M).group(1))
        assert wait_for(lambda: not proc_alive(child), 10)

    run_to_its_end(srv)
    pool = settled_pool(srv, 2)
    for pid in pool:
        os.kill(pid, signal.SIGSTOP)
    t = time.monotonic()
    r = srv.run([script], env={"CGIHOST_TIMEOUT_MS": "10000"})
    assert served(srv, r) and r.stdout.endswith(b"ok\n"), r
    assert time.monotonic() - t < 5
    assert wait_for(lambda: not any(proc_alive(p) for p in pool), 10)
    assert "was stopped by a signal while connections waited: killed" in srv.log.read_text()
    run_to_its_end(srv)
    pool = settled_pool(srv, 2)
    srv.stop()
    # A server that stops on its own (idle), no connection waiting.
    s = Server(base, args=["--idle-exit", "2"]).start()
    try:
        run_to_its_end(s)
        pool = settled_pool(s, 2)
        for pid in pool:
            os.kill(pid, signal.SIGSTOP)
        assert wait_for(lambda: s.proc.poll() is not None, 15)
        assert wait_for(lambda: not any(proc_alive(p) for p in pool), 10)  # (s.stop() kills them)
    finally:
        s.stop()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="on one CPU the pool was never refilled while a request ran")
def test_the_pool_is_refilled_when_no_request_runs(base):
    """A fork beside a running request slowed it: while one runs, the pool is
    not refilled; once none runs, it is full again."""
    s = Server(base, ["--pool", "3"]).start()
    try:
        # A first run caches the script: pool children forked before are
        # then replaced, which is not what is looked at here.
        script = s.script("nap.py", "import os, sys, time\nprint(os.getpid(), os.getppid(), flush=True)\n"
                                    "time.sleep(60 if sys.argv[1:] else 0)\n")
        assert s.run([script]).returncode == 0
        pool = settled_pool(s, 3)
        p, pid, ppid = start_client(s, [script, "sleep"])
        assert ppid == s.pid and pid in pool  # a pool child took it
        time.sleep(1)  # time enough for a refill, were there one
        assert live_children(s.pid) == pool  # the request and 2 idle: none forked
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        after = settled_pool(s, 3)
        assert pid not in after
    finally:
        s.stop()


def test_status_counts_no_more_idle_children_than_the_pool_holds(base):
    """With --pool 1, the pool child that takes a status question is
    replaced while it asks, and was counted with its replacement: status
    said 2 idle children of a pool of one."""
    s = Server(base, ["--pool", "1"]).start()
    try:
        seen = []
        for _ in range(12):
            settled_pool(s, 1)
            st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), capture_output=True,
                                timeout=30).stdout
            seen.append(int(re.search(rb"(\d+) idle children", st).group(1)))
        assert max(seen) <= 1, seen
    finally:
        s.stop()


def test_status_is_answered_while_pool_children_are_recycled(base):
    """Each script newly cached makes the server recycle its idle pool
    children; one that had just accepted a status question (its TAKEN sent,
    or about to be) lost it when the server closed its control socket, and
    status said "did not answer" (a few in a few hundred)."""
    s = Server(base, ["--pool", "4"]).start()
    try:
        scripts = [s.script(f"r{i}.py", f"print({i})\n") for i in range(300)]
        done = []

        def requests():
            for p in scripts:
                r = s.run([p])
                assert r.returncode == 0, r
            done.append(1)

        def ask():
            bad = []
            while not done:
                st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), capture_output=True,
                                    timeout=30)
                if st.returncode != 0:
                    bad.append(st.stderr)
            return bad

        with concurrent.futures.ThreadPoolExecutor(5) as ex:
            req = ex.submit(requests)
            askers = [ex.submit(ask) for _ in range(4)]
            req.result()
            bad = [b for a in askers for b in a.result()]
        assert bad == [], bad
    finally:
        s.stop()


def test_a_long_preload_list_is_preloaded_whole(base):
    """--preload takes a list of any length: its last module is imported
    by the server too, where a 4 KiB buffer once cut the list short."""
    s = Server(base, ["--preload", "json," * 1000 + "html"]).start()
    try:
        script = s.script("pre.py", "import sys, os\nprint('html' in sys.modules, 'json' in sys.modules)\n"
                                    "print('ppid', os.getppid())\n")
        r = s.run([script])
        assert r.returncode == 0 and served(s, r), r
        assert r.stdout.startswith(b"True True\n"), r.stdout
    finally:
        s.stop()


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def apache_post(server):
    """A POST of 20000 bytes under Apache, for that server."""
    return server.env(GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="POST", CONTENT_LENGTH="20000",
                      SERVER_SOFTWARE="Apache/2.4.62 (Debian)")


def test_the_body_a_script_left_is_drained_by_its_client_not_its_child(base):
    """Under Apache (mod_cgid: stdin and stdout one socket) a script that
    ended without reading its body has the rest drained, so that the socket
    is not closed with body still to come (the response would be lost). The
    child hands the socket to the client with the status and ends: a slow
    client's upload holds a small client process, not the server's child
    and its place among --max-children. The peer here plays Apache."""
    s = Server(base, ["--max-children", "1", "--queue-ms", "0"]).start()
    a = None
    try:
        script = s.script("ignores.py", "import os\nprint('Content-Type: text/plain')\nprint()\n"
                                        "print('ppid', os.getppid(), flush=True)\n")
        who = s.script("who.py", WHO)
        assert served(s, s.run([who]))  # the script cache warm
        # the pool full again: with its child still exiting, its one place
        # was taken and the request ran in-process (no queue)
        settled_pool(s, 1)
        a, p = as_mod_cgid(as_user([CGIHOST, script]), apache_post(s), cwd=s.scripts)
        out = recv_until(a, rb"ppid \d+\n")
        assert f"ppid {s.pid}".encode() in out  # served
        time.sleep(0.3)  # the script has ended; no body has come yet
        assert p.poll() is None  # its client waits for the body
        # while the only child place is free: another request is served at once
        r = s.run([who])
        assert r.returncode == 0 and served(s, r), r
        for _ in range(2):  # a slow client: two halves, 0.3 s apart
            a.sendall(b"x" * 10000)
            time.sleep(0.3)
        a.shutdown(socket.SHUT_WR)
        assert out + recv_to_eof(a) == b"Content-Type: text/plain\n\nppid %d\n" % s.pid
        assert p.wait(timeout=30) == 0
    finally:
        if a:
            a.close()
            reap(p)
        s.stop()


def test_a_script_that_used_up_its_fds_still_has_its_body_drained(srv):
    """The child copies the request's stdin for the client once its own
    stdout and stderr are closed: a script that left no fd free still gets
    its body drained, as in-process."""
    script = srv.script("fds.py", "import os, resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
                                  "held = []\ntry:\n    while True:\n"
                                  "        held.append(os.open('/dev/null', os.O_RDONLY))\nexcept OSError:\n"
                                  "    pass\nprint('Content-Type: text/plain')\nprint()\n"
                                  "print('ppid', os.getppid(), flush=True)\n")
    a, p = as_mod_cgid(as_user([CGIHOST, script]), apache_post(srv), cwd=srv.scripts)
    try:
        out = recv_until(a, rb"ppid \d+\n")
        assert f"ppid {srv.pid}".encode() in out
        time.sleep(0.3)
        a.sendall(b"x" * 20000)  # no EPIPE: somebody holds the socket
        a.shutdown(socket.SHUT_WR)
        assert out + recv_to_eof(a) == b"Content-Type: text/plain\n\nppid %d\n" % srv.pid
        assert p.wait(timeout=30) == 0
    finally:
        a.close()
        reap(p)


def test_a_signal_to_a_client_draining_the_body_ends_it(srv):
    """The script has ended; its client drains the body it left: a SIGTERM
    (Apache's, at its Timeout) ends the client by its default effect at
    once, rather than wait blocked for the rest of the body."""
    script = srv.script("ignores.py", "import os\nprint('Content-Type: text/plain')\nprint()\n"
                                      "print('ppid', os.getppid(), flush=True)\n")
    a, p = as_mod_cgid(as_user([CGIHOST, script]), apache_post(srv), cwd=srv.scripts)
    try:
        assert f"ppid {srv.pid}".encode() in recv_until(a, rb"ppid \d+\n")
        signal_ends_the_drain(a, p)
    finally:
        a.close()
        reap(p)


def test_a_pool_larger_than_max_children_does_not_spin(base):
    """The pool cannot be filled past --max-children; the server then idles
    (it used to loop on the refill it could not do, at 100% CPU)."""
    s = Server(base, ["--pool", "3", "--max-children", "1"]).start()
    try:
        ok = s.script("ok.py", "print('ok')\n")
        assert s.run([ok]).stdout.endswith(b"ok\n")  # started up, Python and all
        time.sleep(0.3)
        t0 = cpu_seconds(s.pid)
        time.sleep(1.5)
        used = cpu_seconds(s.pid) - t0
        assert used < 0.3, f"{used:.2f} s of CPU in 1.5 s idle"
        assert s.run([ok]).stdout.endswith(b"ok\n")
    finally:
        s.stop()


def start_unable_to_fork(base):
    """A server (pool 2) whose fork fails: RLIMIT_NPROC 1."""
    wrapper = base / "cgihost-nproc1"
    wrapper.write_text(f"#!/bin/sh\nexec prlimit --nproc=1 {CGIHOST} \"$@\"\n")
    wrapper.chmod(0o755)
    return Server(base, ["--pool", "2"], binary=wrapper).start()


def test_a_server_that_cannot_fork_idles_and_requests_still_run(base):
    """With fork failing (RLIMIT_NPROC 1), the server retries its pool once a
    second instead of looping on it, and every request runs in-process."""
    s = start_unable_to_fork(base)
    try:
        ok = s.script("ok.py", WHO + "print('ok')\n")
        r = s.run([ok])
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r
        assert b"ppid " in r.stdout and not served(s, r), r.stdout  # not a child of the server
        time.sleep(0.3)
        t0 = cpu_seconds(s.pid)
        time.sleep(1.5)
        used = cpu_seconds(s.pid) - t0
        assert used < 0.3, f"{used:.2f} s of CPU in 1.5 s"
        assert len(s.log.read_text().splitlines()) < 20, s.log.read_text()[-2000:]
        # With no child to hand them to, the server answers these itself.
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert st.returncode == 0 and f"server {s.pid} ".encode() in st.stdout, st
        sp = subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert sp.returncode == 0 and f"server {s.pid} stopped".encode() in sp.stdout, sp
        assert s.proc.wait(timeout=15) == 0
    finally:
        s.stop()


def test_a_line_the_log_would_repeat_is_counted(base):
    """The same log line again within a second is counted, not written: a
    failure that every request meets (here fork's, each request trying for
    a child) would fill the log."""
    s = start_unable_to_fork(base)
    try:
        ok = s.script("ok.py", WHO + "print('ok')\n")
        for _ in range(20):
            r = s.run([ok])
            assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r
        s.stop()  # a line of its own: the count of the lines before it goes first
        log = s.log.read_text()
        forks = [line for line in log.splitlines() if ": fork: " in line]
        counts = [int(n) for n in re.findall(r"\(the line before (\d+) more times\)", log)]
        assert len(forks) + sum(counts) >= 20, log
        assert len(forks) < 10 and counts, log
    finally:
        s.stop()


def occupy(s, base, seconds):
    """Starts slow.py (sleeping SECONDS) through server s and waits until it
    runs: with --max-children 1, s is then saturated."""
    gate = base / "scripts" / "gate"
    gate.unlink(missing_ok=True)
    slow = s.script("slow.py", WHO + f"import time\nopen({str(gate)!r}, 'w').close()\n"
                    f"time.sleep({seconds})\nprint('slow done')\n")
    p = subprocess.Popen(as_user([CGIHOST, slow]), env=s.env(GATEWAY_INTERFACE="CGI/1.1"),
                         cwd=s.scripts, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_for(gate.exists, 30)
    return p


def test_a_saturated_server_answers_status_and_stop(base):
    """With --max-children busy, a request waits --queue-ms, is refused and runs in-process,
    but `cgihost status` and `cgihost stop` still reach the server; stop lets
    the running request finish."""
    s = Server(base, ["--pool", "0", "--max-children", "1"]).start()
    try:
        p = occupy(s, base, 2)
        ok = s.script("ok.py", WHO + "print('ok')\n")
        r = s.run([ok])
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(s, r), r
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert st.returncode == 0 and b"1 running" in st.stdout, st
        sp = subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert sp.returncode == 0 and f"server {s.pid} ".encode() in sp.stdout, sp
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and out.endswith(b"slow done\n"), (out, err)
        assert f"ppid {s.pid}\n".encode() in out, out  # it was the server's
        assert s.proc.wait(timeout=15) == 0
    finally:
        s.stop()


GONE_CLIENT = r"""
import os, socket, struct, sys
def s(x):
    b = x.encode()
    return struct.pack("I", len(b)) + b + b"\0"
env = ["PATH=/usr/bin:/bin"]
body = (struct.pack("III", 0, 0o22, 2) + s("cgihost") + s(sys.argv[2]) + struct.pack("I", len(env))
        + b"".join(s(e) for e in env) + struct.pack("I", 0) + struct.pack("Q", 0))
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
pid = os.fork()
if pid == 0:  # connects (SO_PEERCRED names it), then is gone
    c.connect(sys.argv[1])
    os._exit(0)
if sys.argv[3] == "reaped":
    os.waitpid(pid, 0)
else:  # a zombie
    while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        pass
c.sendall(struct.pack("IIII", 0x31484743, 4, 1, len(body)) + body)
c.settimeout(20)
print(c.recv(8).hex())
"""


def test_a_client_gone_before_its_request_is_checked_is_not_said_to_have_another_tmp(srv):
    """A client killed (reaped, or a zombie) before its child looks at its
    /tmp has none in /proc: that ENOENT was taken for another /tmp, refused
    (counted among the refusals) and logged as "another /tmp than mine (a
    private /tmp, as systemd's PrivateTmp= ...)", sending whoever reads the
    log after a web server's PrivateTmp= for what was a client that died."""
    script = srv.script("w.py", WHO)
    for how in ("reaped", "zombie", "reaped", "zombie"):
        r = subprocess.run(as_user([PYTHON, "-c", GONE_CLIENT, srv.dir / "server.sock", script, how]),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r
        assert r.stdout.strip() != struct.pack("Ii", 5, 9).hex().encode(), r.stdout  # REFUSE TMP
    time.sleep(0.3)
    assert b"another /tmp" not in srv.log.read_bytes(), srv.log.read_text()
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), capture_output=True, timeout=30)
    assert b" 0 refused" in st.stdout, st.stdout


def test_a_saturated_server_queues_requests_until_a_child_ends(base):
    """With --max-children running, requests wait for one to end (--queue,
    --queue-ms) and are served by the server, oldest first, rather than each
    refused into an in-process run. Under ASan, whose exits are slow, a burst
    used to fill --max-children with exiting children and fall back."""
    s = Server(base, ["--pool", "0", "--max-children", "1", "--queue-ms", "20000"]).start()
    try:
        nap = s.script("nap.py", WHO + "import sys, time\ntime.sleep(0.3)\nprint('n', sys.argv[1])\n")
        full = s.env(GATEWAY_INTERFACE="CGI/1.1", CGIHOST_TIMEOUT_MS="30000")
        procs = []
        for i in range(4):
            procs.append(subprocess.Popen(as_user([CGIHOST, nap, str(i)]), env=full, cwd=s.scripts,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            time.sleep(0.05)  # in this order
        outs = [p.communicate(timeout=60) for p in procs]
        for i, (p, (out, err)) in enumerate(zip(procs, outs)):
            assert p.returncode == 0 and out == f"ppid {s.pid}\nn {i}\n".encode(), (i, out, err)
    finally:
        s.stop()


def test_a_status_query_sent_in_pieces_is_answered_from_the_queue(base):
    """A saturated server reads a STOP or QUERY header that comes in parts
    (edge-triggered), and answers it; nothing spins meanwhile."""
    s = Server(base, ["--pool", "0", "--max-children", "1", "--queue-ms", "20000"]).start()
    try:
        p = occupy(s, base, 6)
        ask = s.script("ask.py", f"""import socket, struct, time
s = socket.socket(socket.AF_UNIX)
s.connect({str(s.dir / "server.sock")!r})
hdr = struct.pack("IIII", 0x31484743, 4, 3, 0)  # QUERY
s.sendall(hdr[:5])
time.sleep(0.5)
s.sendall(hdr[5:])
s.settimeout(10)
print(struct.unpack("Ii", s.recv(8)))
""")
        cpu0, t0 = cpu_seconds(s.pid), time.monotonic()
        r = subprocess.run(as_user([sys.executable, ask]), env=s.env(), capture_output=True, timeout=30)
        assert r.stdout == f"(6, {s.pid})\n".encode(), r  # INFO, the server's pid first
        assert time.monotonic() - t0 < 3  # from the queue, not once the slow script ends
        assert cpu_seconds(s.pid) - cpu0 < 0.3  # no busy loop over the half header
        p.kill()
        p.communicate(timeout=30)
    finally:
        s.stop()


def test_past_queue_waiting_requests_a_request_is_refused_at_once(base):
    """--queue bounds how many wait: one more is refused at once (and runs
    in-process), and does not pass those waiting; they are still served."""
    s = Server(base, ["--pool", "0", "--max-children", "1", "--queue", "1",
                      "--queue-ms", "20000"]).start()
    try:
        p = occupy(s, base, 1.5)
        ok = s.script("ok.py", WHO + "print('ok')\n")
        full = s.env(GATEWAY_INTERFACE="CGI/1.1", CGIHOST_TIMEOUT_MS="30000")
        waiting = subprocess.Popen(as_user([CGIHOST, ok]), env=full, cwd=s.scripts,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.3)
        t0 = time.monotonic()
        r = s.run([ok], env={"CGIHOST_TIMEOUT_MS": "30000"})
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(s, r), r
        assert time.monotonic() - t0 < 1.0
        assert waiting.poll() is None  # still waiting, not passed
        out, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0 and out == f"ppid {s.pid}\nok\n".encode(), (out, err)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and out.endswith(b"slow done\n"), (out, err)
        assert refused(s) == 1
    finally:
        s.stop()


def test_a_request_child_has_none_of_the_waiting_requests_connections(base):
    """A child forked while requests wait in the queue has none of their
    connections (a script could otherwise answer in another request's name)."""
    s = Server(base, ["--pool", "0", "--max-children", "1", "--queue-ms", "20000"]).start()
    try:
        socks = s.script("socks.py", WHO + "import os\nn = 0\n"
                         "for f in [int(f) for f in os.listdir('/proc/self/fd')]:\n"
                         "    try:\n"
                         "        n += f > 2 and os.readlink(f'/proc/self/fd/{f}').startswith('socket:')\n"
                         "    except OSError:\n"
                         "        pass  # listdir's own\n"
                         "print('sockets', n)\n")
        nap = s.script("nap.py", WHO + "import time\ntime.sleep(0.5)\nprint('nap')\n")
        full = s.env(GATEWAY_INTERFACE="CGI/1.1", CGIHOST_TIMEOUT_MS="30000")
        alone = s.run([socks], env={"CGIHOST_TIMEOUT_MS": "30000"})
        assert served(s, alone) and b"sockets " in alone.stdout, alone
        # nap runs; socks, then nap again, wait; socks's child is forked when
        # the first nap ends, with the second waiting.
        procs = []
        for script in (nap, socks, nap):
            procs.append(subprocess.Popen(as_user([CGIHOST, script]), env=full, cwd=s.scripts,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            time.sleep(0.1)
        outs = [p.communicate(timeout=60)[0] for p in procs]
        assert all(f"ppid {s.pid}\n".encode() in o for o in outs), outs
        assert outs[1] == alone.stdout, (outs[1], alone.stdout)
    finally:
        s.stop()


def test_a_queued_request_waits_queue_ms_then_runs_in_process(base):
    """A request that waited --queue-ms is refused and runs in-process: not
    at once (it waited), and well before the client's own 2 s bound. With
    --queue 0 nothing waits. `cgihost status` and `stop` are answered while
    requests wait, and stopping sends the waiting ones in-process."""
    s = Server(base, ["--pool", "0", "--max-children", "1", "--queue-ms", "600"]).start()
    try:
        p = occupy(s, base, 6)
        ok = s.script("ok.py", WHO + "print('ok')\n")
        t0 = time.monotonic()
        r = s.run([ok])
        waited = time.monotonic() - t0
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(s, r), r
        assert 0.55 <= waited < 1.9, waited
        # A waiting request, then status and stop: answered, not queued.
        q = subprocess.Popen(as_user([CGIHOST, ok]), env=s.env(GATEWAY_INTERFACE="CGI/1.1",
                                                                CGIHOST_TIMEOUT_MS="30000"),
                             cwd=s.scripts, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.2)
        t0 = time.monotonic()
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert st.returncode == 0 and b"1 running" in st.stdout and b", 1 waiting" in st.stdout, st
        assert time.monotonic() - t0 < 0.5
        sp = subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert sp.returncode == 0 and f"server {s.pid} ".encode() in sp.stdout, sp
        out, err = q.communicate(timeout=30)
        assert q.returncode == 0 and out.endswith(b"ok\n") and f"ppid {s.pid}\n".encode() not in out
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and out.endswith(b"slow done\n"), (out, err)
        assert s.proc.wait(timeout=15) == 0
    finally:
        s.stop()
    # --queue 0: refused at once, as before the queue
    s = Server(base, ["--pool", "0", "--max-children", "1", "--queue", "0"]).start()
    try:
        p = occupy(s, base, 6)
        t0 = time.monotonic()
        r = s.run([ok])
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(s, r), r
        assert time.monotonic() - t0 < 0.55
        # said in the log, as the other refusals are
        assert wait_for(lambda: "refused a request (no child to run it: --max-children 1 running, "
                        "no --queue), which its client runs in-process" in s.log.read_text(), 5), \
            s.log.read_text()
        p.kill()
        p.communicate(timeout=30)
    finally:
        s.stop()


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ, reason="the sanitizers' shadow memory is not learned")
def test_pool_children_take_the_requests_faults_ahead(srv):
    """Learned pre-faulting: after a few requests, a pool child has already
    copied the pages a request writes, so the script's run takes few page
    faults. It once stopped for good when the request child recording the
    pages was killed holding the lock (the server kills a child whose client
    has gone, and the client goes as soon as it has the status)."""
    script = srv.script("hello.py", (ROOT / "scripts" / "hello.py").read_text())
    for _ in range(30):
        r = srv.run([script], env={"QUERY_STRING": "name=Ada&happy=on"})
        assert r.returncode == 0, r.stderr
    faults = sorted(run_faults(srv, script) for _ in range(9))
    # About 6 with the pages learned; 50-80 without (measured on 3.11).
    assert faults[4] < 30, faults


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ, reason="the sanitizers' shadow memory is not learned")
def test_the_pages_copied_ahead_follow_the_requests_of_now(base):
    """The pages pool children copy ahead are those that recent requests
    wrote, not all that any request ever wrote: after a script that writes
    much of the server's memory has been learned, hello.py's requests, once
    learned in turn, copy only their own again. (Learning used to record
    the pages copied ahead too, so the set only grew: 206 pages became 533
    for good after one larger script.)"""
    s = Server(base, ["--pool", "2"]).start()
    try:
        hello = s.script("hello.py", (ROOT / "scripts" / "hello.py").read_text())
        wide = s.script("wide.py", "import sys\nfor m in list(sys.modules.values()):\n"
                        "    for v in list(vars(m).values()):\n        id(v)\nprint('wide')\n")
        # hello.py once, so that it is cached (caching recycles the idle
        # children, and a learner among them would learn later instead).
        assert s.run([hello]).returncode == 0
        for _ in range(6):  # the first children forked learn: these
            assert s.run([wide]).stdout.endswith(b"wide\n")
        before = sorted(child_trace(s, hello, "private_kb") for _ in range(3))[1]
        for _ in range(140):  # past the 64th and 128th child, which learn hello.py
            assert s.run([hello], env={"QUERY_STRING": "name=Ada"}).returncode == 0
        after = sorted(child_trace(s, hello, "private_kb") for _ in range(3))[1]
        assert after < before * 0.7, (before, after)
    finally:
        s.stop()


def huge_pages_usable():
    try:
        enabled = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        size = int(pathlib.Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").read_text())
    except (OSError, ValueError):
        return False
    return ("[always]" in enabled or "[madvise]" in enabled) and size == 2 << 20


def test_a_request_child_has_the_servers_code_mapped_from_the_fork(srv):
    """The server maps its code and constants whole, its own on huge pages
    and the libraries' with an anonymous page each, so that fork() copies
    their page table entries: a request child takes no faults on code (68 a
    request without). The script looks first thing: every code mapping of
    the executable (a file mapping, or the anonymous huge pages the server
    moved over it) is all present. Without it about 85% is, by the pool
    child's warm-up and fault-around."""
    if b"__asan_init" in CGIHOST_PY.read_bytes():
        pytest.skip("not under a sanitizer (the server does not do it there)")
    script = srv.script("smaps.py", """import json, os
exe, maps, cur = os.path.realpath('/proc/self/exe'), [], None
for line in open('/proc/self/smaps'):
    w = line.split()
    if not w[0].endswith(':'):
        cur = {'range': w[0], 'perms': w[1], 'path': w[5] if len(w) == 6 else ''}
        maps.append(cur)
    elif w[0] in ('Size:', 'Rss:', 'AnonHugePages:'):
        cur[w[0][:-1]] = int(w[1])
print(os.getppid(), json.dumps({'exe': exe, 'maps': maps}))
""")
    r = srv.run([script])
    assert r.returncode == 0, r.stderr
    ppid, info = r.stdout.decode().split(" ", 1)
    assert int(ppid) == srv.pid, "not run by the server"
    info = json.loads(info)
    # the executable's mappings and the anonymous ones among them
    first = min(i for i, m in enumerate(info["maps"]) if m["path"] == info["exe"])
    last = max(i for i, m in enumerate(info["maps"]) if m["path"] == info["exe"])
    own = [m for m in info["maps"][first:last + 1] if m["path"] in (info["exe"], "")]
    code = [m for m in own if m["perms"] == "r-xp"]
    assert code and all(m["Rss"] == m["Size"] for m in code), code
    text = sum(m["Size"] for m in code)
    small = [l for l in srv.log.read_text().splitlines() if "stay on small pages" in l]
    # what the machine may refuse (a fragmented memory gives no huge page)
    if small and any(w in small[0] for w in ("huge pages are off", "no huge pages given")):
        pytest.skip(small[0])
    assert not small, small
    if huge_pages_usable() and text >= 2048:
        # the executable's code on 2 MiB pages, its constants too
        assert sum(m["AnonHugePages"] for m in code) >= 2048, code
        assert sum(m["AnonHugePages"] for m in own if m["perms"] == "r--p") >= 2048, own


# Runs the rest of argv with transparent huge pages off for it and what it
# starts (prctl PR_SET_THP_DISABLE, as a container may have it).
NOTHP = ("import ctypes, os, sys\n"
         "os.environ.pop('LC_CTYPE', None)\n"
         "assert ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0) == 0\n"
         "os.execv(sys.argv[1], sys.argv[1:])\n")


@pytest.mark.skipif(b"__asan_init" in CGIHOST_PY.read_bytes(), reason="not under a sanitizer")
def test_without_huge_pages_the_code_stays_as_it_was(base):
    srv = Server(base, wrap=[PYTHON, "-c", NOTHP]).start()
    try:
        r = srv.run([srv.script("who.py", WHO)])
        assert served(srv, r)
        log = srv.log.read_text()
        assert "stay on small pages: transparent huge pages are off" in log, log
        maps = pathlib.Path(f"/proc/{srv.pid}/maps").read_text().splitlines()
        exe = os.path.realpath(f"/proc/{srv.pid}/exe")
        code = [l for l in maps if l.split()[1] == "r-xp" and l.endswith(exe)]
        assert code, maps  # the executable's own code mapping, not an anonymous copy
    finally:
        srv.stop()


def server_figures(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")))
    return fds, rss


def test_no_fd_or_memory_growth_over_10000_requests(srv):
    n = int(os.environ.get("CGIHOST_TEST_REQUESTS", "10000"))
    script = srv.script("tiny.py", "print('x')\n")
    srv.run([script])
    srv.run([script])
    time.sleep(1.0)
    before = server_figures(srv.pid)
    # A shell loop keeps the cost per request down to the client's own.
    loop = f"i=0; while [ $i -lt {n // 4} ]; do {CGIHOST} {script} >/dev/null || echo fail; i=$((i+1)); done"
    procs = [subprocess.Popen(as_user(["sh", "-c", loop]), env=srv.env(), stdout=subprocess.PIPE)
             for _ in range(4)]
    outs = [p.communicate(timeout=1800)[0] for p in procs]
    assert all(o == b"" for o in outs)
    time.sleep(1.0)
    after = server_figures(srv.pid)
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE, timeout=30)
    print(f"\nserver over {n} requests: fds {before[0]} -> {after[0]}, "
          f"VmRSS {before[1]} -> {after[1]} KiB; {st.stdout.decode().strip()}")
    assert after[0] == before[0]
    assert after[1] - before[1] < 2048


# ---- security and set-up --------------------------------------------------------------

def stranger_connects(server, base):
    """The stranger connects to server's socket, linked into a directory of
    the stranger's own, and reads the first message: (that directory, the
    run, whose stdout is the message unpacked)."""
    nobody = pwd.getpwnam(STRANGER)
    odir = base / "other"
    odir.mkdir(mode=0o700)
    os.chown(odir, nobody.pw_uid, nobody.pw_gid)
    os.link(server.dir / "server.sock", odir / "server.sock")
    os.chmod(odir / "server.sock", 0o666)
    raw = subprocess.run(as_user([sys.executable, "-c", f"""
import socket, struct
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect({str(odir / 'server.sock')!r})
print(struct.unpack("Ii", s.recv(8)))
"""], user=STRANGER), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return odir, raw


@pytest.mark.skipif(not IS_ROOT, reason="needs root to play two users")
def test_another_user_is_refused_and_falls_back(srv, base):
    script = srv.script("who.py", WHO + "print('ok')\n")
    # The server refuses the connection itself (SO_PEERCRED), before it
    # says anything ...
    odir, raw = stranger_connects(srv, base)
    assert raw.stdout == b"(5, 1)\n", raw.stderr  # REFUSE, CGIH_REFUSE_UID
    # ... and the real client, as the stranger, runs the request itself.
    r = srv.run([script], env={"CGIHOST_SOCKET_DIR": str(odir)}, user=STRANGER)
    assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(srv, r), r.stderr
    # Our own user still gets the server, which counts the two refusals.
    assert served(srv, srv.run([script]))
    assert wait_for(lambda: refused(srv) == 2, 5), refused(srv)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to play two users")
def test_without_a_pool_status_counts_and_refusals_are_logged(base):
    """With --pool 0 the server accepts each connection itself and forks a
    child for it: a status query is then no running request and no idle
    child, and a stranger's connection, refused there, is logged too."""
    s = Server(base, ["--pool", "0"]).start()
    try:
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30).stdout
        assert b", 0 running, 0 idle children" in st, st
        _, raw = stranger_connects(s, base)
        assert raw.stdout == b"(5, 1)\n", raw.stderr  # REFUSE, CGIH_REFUSE_UID
        nobody = pwd.getpwnam(STRANGER)
        assert wait_for(lambda: f"refused a request (another user: uid {nobody.pw_uid})"
                        in s.log.read_text(), 5), s.log.read_text()
    finally:
        s.stop()


def test_a_socket_directory_that_cannot_be_made_is_said(srv, base):
    """Its parent missing (/run/cgihost without the tmpfiles line), the
    directory cannot be made: said on every request, as one refused, rather
    than every request running in-process without a word."""
    script = srv.script("who.py", WHO + "print('ok')\n")
    r = srv.run([script], env={"CGIHOST_SOCKET_DIR": str(base / "missing" / "x"),
                               "CGIHOST_NO_AUTOSTART": "0"})
    assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(srv, r)
    assert r.stderr == (b"cgihost: socket directory %s: No such file or directory; no resident "
                        b"server, running in-process\n" % str(base / "missing" / "x").encode()), r.stderr


def test_a_socket_directory_too_long_for_a_socket_is_said(srv, base):
    """A socket's path holds 107 bytes: a longer directory is said on every
    request, and by status, rather than every request running in-process
    without a word."""
    script = srv.script("who.py", WHO + "print('ok')\n")
    long = str(base / ("d" * 120))
    r = srv.run([script], env={"CGIHOST_SOCKET_DIR": long})
    assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(srv, r)
    assert r.stderr == (b"cgihost: socket directory %s: path too long for a socket; no resident "
                        b"server, running in-process\n" % long.encode()), r.stderr
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(CGIHOST_SOCKET_DIR=long),
                        capture_output=True, timeout=30)
    assert (st.returncode, st.stderr) == (2, b"cgihost: socket directory path too long: %s\n"
                                          % long.encode()), st


@pytest.mark.skipif(not IS_ROOT, reason="needs root to set an effective uid apart")
def test_serve_refuses_real_and_effective_ids_that_differ(base):
    """A server whose real uid is root's (setpriv --euid, a set-user-ID
    copy) would let code it runs take root back: it refuses to start."""
    r = subprocess.run(["setpriv", f"--euid={UID}", f"--egid={pwd.getpwuid(UID).pw_gid}",
                        "--clear-groups", CGIHOST, "serve", "--socket-dir", base / "s"],
                       capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1, r
    assert r.stderr == (b"cgihost: refusing to run with real and effective user or group ids "
                        b"that differ (a set-user-ID or set-group-ID copy?)\n"), r.stderr
    assert not (base / "s").exists()


@pytest.mark.parametrize("bad", ["group-writable", "world-writable", "symlink", "symlink/",
                                 "symlink/.", "symlink/./", "another user's"])
def test_socket_directory_rules(srv, base, bad):
    script = srv.script("who.py", WHO + "print('ok')\n")
    env = {}
    if bad.startswith("symlink"):  # with a trailing slash, lstat() would follow it
        link = base / "link"
        link.symlink_to(srv.dir)
        env["CGIHOST_SOCKET_DIR"] = str(link) + bad[7:]
    elif bad == "another user's":
        if not IS_ROOT:
            pytest.skip("needs root to make another user's directory")
        other = base / "other"
        other.mkdir(mode=0o700)
        os.chown(other, pwd.getpwnam(STRANGER).pw_uid, -1)
        env["CGIHOST_SOCKET_DIR"] = str(other)
    else:
        os.chmod(srv.dir, 0o720 if bad == "group-writable" else 0o702)
    try:
        r = srv.run([script], env=env)
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(srv, r)
        # Said, on every request: someone may have put it there to turn the
        # server off.
        assert re.fullmatch(rb"cgihost: socket directory \S+: [^\n]+; no resident server, running "
                            rb"in-process\n", r.stderr), r.stderr
        # A server will not start there either.
        s = subprocess.run(as_user([CGIHOST, "serve", "--socket-dir", env.get("CGIHOST_SOCKET_DIR", srv.dir)]),
                           env=srv.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert s.returncode == 1 and b"socket directory" in s.stderr, s.stderr
    finally:
        os.chmod(srv.dir, 0o700)
    assert served(srv, srv.run([script]))


@pytest.mark.parametrize("var", ["PYTHONUSERBASE", "HOME"])
def test_a_relative_user_base_runs_in_process(base, var):
    """A relative PYTHONUSERBASE (or HOME) names the user site from the
    working directory: the server's, made absolute at its start, is not the
    request's, even where the variable is the same."""
    s = Server(base)
    env = s.env
    s.env = lambda **extra: env(**{var: "rel/ub", **extra})
    s.start()
    try:
        script = s.script("who.py", WHO + "print('ok')\n")
        r = s.run([script])
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(s, r), r
        assert wait_for(lambda: f"({var}, relative)" in s.log.read_text().replace(
            "interpreter-shaping variables not as mine: ", "("), 5), s.log.read_text()
    finally:
        s.stop()


def test_a_relative_socket_directory_is_refused(srv, base):
    """A relative CGIHOST_SOCKET_DIR would be one per script directory, and
    a server started by a client (in /) would look for it elsewhere: said,
    and no server is started or used."""
    script = srv.script("who.py", WHO + "print('ok')\n")
    rel = os.path.relpath(srv.dir, srv.scripts)
    r = srv.run([script], env={"CGIHOST_SOCKET_DIR": rel, "CGIHOST_NO_AUTOSTART": ""})
    assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and not served(srv, r), r
    assert r.stderr == (f"cgihost: CGIHOST_SOCKET_DIR={rel} is not an absolute path; no resident "
                        "server, running in-process\n").encode(), r.stderr


FAKE_SERVER = r"""
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(os.path.join(sys.argv[1], "server.sock"))
s.listen(4)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.recv(64)
        c.sendall(struct.pack("Ii", 6, 4242))  # one INFO: its "pid"
    except OSError:  # asked nothing
        pass
    c.close()
"""


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
@pytest.mark.parametrize("listener", ["the user's", "root's"])
def test_status_and_stop_for_a_user_ask_only_that_users_server(base, listener):
    # Root's `cgihost stop --user NAME` (from cron, say) meets what NAME left
    # in its socket directory: a FIFO as the lock must not hang it, and a
    # listener that is not NAME's is not taken for its server.
    d = base / "sock"
    d.mkdir(mode=0o700)
    os.chown(d, UID, -1)
    os.mkfifo(d / "lock", 0o600)
    os.chown(d / "lock", UID, -1)
    argv = [sys.executable, "-c", FAKE_SERVER, d]
    fake = subprocess.Popen(as_user(argv) if listener == "the user's" else argv, stdout=subprocess.PIPE)
    env = {"PATH": "/usr/bin:/bin"}
    try:
        assert fake.stdout.readline() == b"listening\n"
        st = subprocess.run([CGIHOST, "status", "--user", USER, "--socket-dir", d], env=env,
                            capture_output=True, timeout=20)
        sp = subprocess.run([CGIHOST, "stop", "--user", USER, "--socket-dir", d], env=env,
                            capture_output=True, timeout=20)
    finally:
        fake.kill()
        fake.wait()
    if listener == "the user's":
        assert st.returncode == 0 and st.stdout.startswith(b"cgihost: server 4242 on "), st
        assert sp.returncode == 0 and sp.stdout == b"cgihost: server 4242 is stopping\n", sp
    else:
        for r in (st, sp):
            assert r.returncode == 1 and b"is not a server of uid %d" % UID in r.stdout, r


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_status_and_stop_say_whose_server_they_may_ask(base):
    env = {"PATH": "/usr/bin:/bin"}
    for cmd in ("status", "stop"):
        # root has no server of its own: it names the user, wherever it looks
        for where in ([], ["--socket-dir", base / "none"]):
            r = subprocess.run([CGIHOST, cmd, *where], env=env, capture_output=True, timeout=20)
            assert r.returncode == 2 and b"--user" in r.stderr, r
        # a user asks only its own
        r = subprocess.run(as_user([CGIHOST, cmd, "--user", "root"]), env=env, capture_output=True,
                           timeout=20)
        assert r.returncode == 2 and b"only root asks another user's server" in r.stderr, r
        r = subprocess.run(as_user([CGIHOST, cmd, "--user", USER, "--socket-dir", base / "none"]),
                           env=env, capture_output=True, timeout=20)
        assert r.returncode == (0 if cmd == "stop" else 3) and b"no server" in r.stdout, r


@pytest.mark.parametrize("args, said", [
    (["--pool=3"], "unknown option --pool=3"),
    (["--bogus", "1"], "unknown option --bogus"),
    (["--pool"], "--pool needs a value"),
    (["--pool", "65"], "--pool 65: not a whole number from 0 to 64"),
    (["--max-children", "0"], "--max-children 0: not a whole number from 1 to 4096"),
    (["--queue", "x"], "--queue x: not a whole number from 0 to 65536"),
    (["--queue-ms", "4000000"], "--queue-ms 4000000: not a whole number from 0 to 3600000"),
    (["--idle-exit", "-1"], "--idle-exit -1: not a whole number from 0 to 1073741824")])
def test_a_bad_serve_option_says_what_is_wrong(args, said):
    r = subprocess.run(as_user([CGIHOST, "serve", *args]), capture_output=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2, r
    assert r.stderr.startswith(f"cgihost serve: {said}\nusage: cgihost serve ".encode()), r.stderr


def test_serve_refuses_a_relative_socket_directory(base):
    """One no client would reach (they refuse it; review Z14: the server ran
    in it, in its working directory)."""
    r = subprocess.run(as_user([CGIHOST, "serve", "--socket-dir", "rel"]), capture_output=True,
                       timeout=30, env={"PATH": "/usr/bin:/bin"}, cwd=base)
    assert r.returncode == 1 and r.stderr == b"cgihost: socket directory rel: not an absolute path\n", r
    assert not (base / "rel").exists()


@pytest.mark.parametrize("cmd", ["stop", "status"])
@pytest.mark.parametrize("args, said", [
    (["--bogus"], "unknown option --bogus"),
    (["--socket-dir"], "--socket-dir needs a value"),
    (["--user", "root", "--user"], "--user needs a value"),
    (["x", "y"], "unknown option x")])
def test_a_bad_stop_or_status_option_says_what_is_wrong(cmd, args, said):
    # (review Z14: the usage alone)
    r = subprocess.run(as_user([CGIHOST, cmd, *args]), capture_output=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2, r
    assert r.stderr.startswith(f"cgihost {cmd}: {said}\nusage: cgihost serve ".encode()), r.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_serve_help_prints_its_usage(flag):
    r = subprocess.run(as_user([CGIHOST, "serve", "--pool", "2", flag]), capture_output=True,
                       timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stderr == b"", r
    assert r.stdout.startswith(b"usage: cgihost serve "), r.stdout


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_root_serves_only_with_user_and_drops_it(base):
    r = subprocess.run([CGIHOST, "serve", "--socket-dir", base / "r"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and b"--user" in r.stderr
    s = Server(base)
    # As from root's shell (sudo keeps LANG): root's HOME and locale are
    # dropped with root, or no request of a web server (which has neither)
    # would be served.
    proc = subprocess.Popen([sys.executable, "-c", REAPER, CGIHOST, "serve", "--user", USER,
                             "--socket-dir", s.dir],
                            env=s.env(HOME="/root", LANG="C.UTF-8", LC_ALL="C.UTF-8",
                                      ROOTS_SECRET="s3cret"),
                            stderr=subprocess.PIPE)
    s.proc = proc
    try:
        assert wait_for(lambda: (s.dir / "server.sock").exists())
        s.pid = s.reaper_child()
        # Root's environment is gone from the server's memory (it ran again
        # without it), but for what a server takes from its start.
        environ = open(f"/proc/{s.pid}/environ", "rb").read().split(b"\0")
        assert not [e for e in environ if b"s3cret" in e or e.startswith((b"HOME=", b"LANG"))], environ
        assert b"PATH=/usr/bin:/bin" in environ and b"CGIHOST_SOCKET_DIR=" + bytes(s.dir) in environ
        uids = open(f"/proc/{s.pid}/status").read().split("Uid:")[1].split("\n")[0].split()
        assert set(map(int, uids)) == {UID}
        assert os.stat(s.dir).st_uid == UID
        script = s.script("who.py", WHO + "import os; print(os.environ.get('HOME'))\n")
        # with USER's groups, as the server has them (initgroups), as Apache's
        r = subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={pwd.getpwnam(USER).pw_gid}",
                            "--init-groups", CGIHOST, script], env=s.env(), capture_output=True,
                           timeout=60)
        assert served(s, r) and r.stdout.endswith(b"None\n"), r
    finally:
        s.stop()


def auto_started_in(sock_dir):
    """The auto-started servers (and their children) of that socket
    directory, named in their environment."""
    def there(pid):
        try:  # one may be gone between the listing and here
            return str(sock_dir).encode() in pathlib.Path(f"/proc/{pid}/environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return False
    return [pid for pid in pids_with("--auto") if there(pid)]


def test_autostart_for_the_own_user(base):
    s = Server(base)
    script = s.script("who.py", WHO + "print('ok')\n")
    env = {"CGIHOST_NO_AUTOSTART": ""}
    try:
        r = s.run([script], env=env)
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n")
        assert wait_for(lambda: (s.dir / "server.sock").exists(), 20)
        time.sleep(0.5)
        r = s.run([script], env=env)
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n")
        assert any(int(r.stdout.split()[1]) == p for p in pids_with("serve")), r.stdout
        # The auto-started server holds no fd of its start (its /dev/null, its
        # log) that a script could inherit: a script's fds are a cold start's.
        fds = s.script("fds.py", WHO + FDS)
        r = s.run([fds], env=env)
        assert any(int(r.stdout.split()[1]) == p for p in pids_with("serve")), r.stdout
        assert r.stdout.endswith(b"fds [0, 1, 2, 3]\n"), r.stdout
        st = os.stat(s.dir)
        assert st.st_uid == UID and st.st_mode & 0o777 == 0o700
    finally:
        subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), timeout=30, stdout=subprocess.DEVNULL)
        for pid in auto_started_in(s.dir):
            try:  # one that `stop` ended may be gone between the listing and here
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.parametrize("stream", ["its stderr", "another file"])
def test_a_server_logging_to_the_journal_leaves_its_name_to_it(base, stream):
    """Under systemd, whose JOURNAL_STREAM names the server's stderr, the
    journal starts each line with "cgihost[PID]: " itself: the server's own
    lines showed it twice (review Z32, booted under systemd 252). Where
    JOURNAL_STREAM names another file (a variable inherited), they keep it."""
    s = Server(base)
    s.log.touch()
    st = os.stat(s.log)
    js = f"{st.st_dev}:{st.st_ino}" if stream == "its stderr" else f"{st.st_dev}:{st.st_ino + 1}"
    env = s.env
    s.env = lambda **extra: env(JOURNAL_STREAM=js, **extra)
    s.start()
    try:
        assert served(s, s.run([s.script("who.py", WHO)]))
    finally:
        s.stop()
    lines = [line for line in s.log.read_text().splitlines() if "serving on " in line]
    # elsewhere dated too (review Z35: server.log had no times to line up
    # with Apache's error log), which the journal does itself
    stamp = "" if stream == "its stderr" else r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    prefix = "" if stream == "its stderr" else f"cgihost\\[{s.pid}\\]: "
    assert len(lines) == 1 and re.fullmatch(
        stamp + prefix + re.escape(f"serving on {s.dir}/server.sock (pool 2, idle exit 600s)"),
        lines[0]), s.log.read_text()
    if stamp:  # the local time of the start
        when = time.mktime(time.strptime(lines[0][:19], "%Y-%m-%d %H:%M:%S"))
        assert abs(when - time.time()) < 120, lines[0]


def test_a_start_that_cannot_make_its_lock_file_says_so(base):
    """The start's lock file (SOCKDIR/autostart) that cannot be made, as on a
    full file system (here a symlink in its place, which is not followed):
    the request runs in-process and says why, where it said nothing (review
    Z34)."""
    s = Server(base)
    script = s.script("who.py", WHO + "print('ok')\n")
    s.dir.mkdir(mode=0o700)
    os.chown(s.dir, UID, -1)
    stamp = s.dir / "autostart"
    stamp.symlink_to("/dev/null")
    os.utime(stamp, (0, 0), follow_symlinks=False)  # not a start of the last 2 s
    r = s.run([script], env={"CGIHOST_NO_AUTOSTART": ""})
    assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r
    assert re.fullmatch(re.escape(f"cgihost: {stamp}: ".encode()) +
                        rb"[^\n]+; no resident server, running in-process\n", r.stderr), r.stderr
    assert not (s.dir / "server.sock").exists() and not auto_started_in(s.dir)


def test_a_start_that_finds_the_lock_taken_keeps_the_running_servers_log(base):
    """A client that cannot reach the server (its socket file removed, the
    server stopped before it could notice) tries a start; that start finds
    the lock taken and leaves the log of the server that runs as it was."""
    s = Server(base)
    script = s.script("who.py", WHO + "print('ok')\n")
    env = {"CGIHOST_NO_AUTOSTART": ""}
    a = None
    try:
        s.run([script], env=env)
        assert wait_for(lambda: (s.dir / "server.sock").exists(), 20)
        time.sleep(0.5)
        a = int(s.run([script], env=env).stdout.split()[1])
        log = s.dir / "server.log"
        assert f"cgihost[{a}]: serving on" in log.read_text()
        os.kill(a, signal.SIGSTOP)
        (s.dir / "server.sock").unlink()
        stamp = s.dir / "autostart"
        before = stamp.stat().st_mtime_ns
        time.sleep(2.1)  # past the two seconds between starts
        r = s.run([script], env=env)
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n") and f"ppid {a}\n".encode() not in r.stdout
        assert stamp.stat().st_mtime_ns != before  # a start was tried
        # and it gave up: what runs there is the server and its pool children
        assert wait_for(lambda: set(auto_started_in(s.dir)) <= {a, *map(int, children_of(a))}, 20)
        assert f"cgihost[{a}]: serving on" in log.read_text()
    finally:
        if a:
            os.kill(a, signal.SIGCONT)  # it notices its socket gone, and stops
            assert wait_for(lambda: not proc_alive(a), 20)
        for pid in pids_with(str(s.dir)):
            os.kill(pid, signal.SIGKILL)


def test_a_start_that_keeps_failing_leaves_one_line_in_the_log(base):
    """A start that fails once it holds the lock (here its socket's name is
    taken by a directory) empties the log first: the log holds the last
    failure, not one line more for each start tried, every 2 s."""
    s = Server(base)
    script = s.script("who.py", WHO + "print('ok')\n")
    s.dir.mkdir(mode=0o700)
    os.chown(s.dir, UID, -1)
    (s.dir / "server.sock").mkdir()
    os.chown(s.dir / "server.sock", UID, -1)
    log = s.dir / "server.log"

    def failures():
        return log.read_text().count("Is a directory") if log.exists() else 0
    for i in range(3):
        if i:
            time.sleep(2.1)  # past the two seconds between starts
        r = s.run([script], env={"CGIHOST_NO_AUTOSTART": ""})
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r
        assert wait_for(lambda: failures() > 0, 20), sorted(os.listdir(s.dir))
    time.sleep(0.5)  # the last start's line written
    assert failures() == 1, log.read_text()


def test_an_auto_started_servers_log_says_which_settings_it_ignored(base):
    """A CGIHOST_* setting that is no whole number in its range (a SetEnv
    typo) is said in the log of the server a client starts: the log is
    emptied when the server takes its lock, and the line was written before,
    so it was lost."""
    s = Server(base)
    script = s.script("who.py", WHO + "print('ok')\n")
    env = {"CGIHOST_NO_AUTOSTART": "", "CGIHOST_POOL": "abc", "CGIHOST_QUEUE_MS": "-5"}
    log = s.dir / "server.log"
    try:
        r = s.run([script], env=env)
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r
        assert wait_for(lambda: log.exists() and "serving on" in log.read_text(), 20)
        text = log.read_text()
        assert "cgihost: CGIHOST_POOL=abc ignored: not a whole number from 0 to 64; 2 it is\n" in text, text
        assert ("cgihost: CGIHOST_QUEUE_MS=-5 ignored: not a whole number from 0 to 3600000; 500 it is\n"
                in text), text
    finally:
        subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), timeout=30, stdout=subprocess.DEVNULL)
        for pid in auto_started_in(s.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_setting_ignored_is_said_once_by_a_server_root_starts(base):
    """As root, serve runs again as the user: the setting it ignores is
    said once, not by both runs."""
    if not IS_ROOT:
        pytest.skip("needs root")
    d = base / "sock2"
    env = {"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(d), "CGIHOST_POOL": "abc"}
    d.mkdir(mode=0o700)
    os.chown(d, UID, -1)
    p = subprocess.Popen([CGIHOST, "serve", "--user", USER], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: (d / "server.sock").exists() or p.poll() is not None, 20)
    finally:
        subprocess.run(as_user([CGIHOST, "stop"]), env=env, timeout=30, stdout=subprocess.DEVNULL)
        out = p.communicate(timeout=30)[0].decode()
    assert out.count("CGIHOST_POOL=abc ignored") == 1, out


def test_roots_working_directory_is_not_the_servers(base, tmp_path):
    """root's `serve --user` run from a directory of its own (root's home,
    0700 above it): the server's working directory was that one, and any
    script of the user, the server's child, read it through
    /proc/PPID/cwd, past the parent closed to the user."""
    if not IS_ROOT:
        pytest.skip("needs root")
    private = tmp_path / "private"
    pub = private / "pub"
    pub.mkdir(parents=True)
    private.chmod(0o700)
    pub.chmod(0o755)
    (pub / "notes.txt").write_text("root's notes\n")
    (pub / "notes.txt").chmod(0o644)
    d = base / "sock"
    d.mkdir(mode=0o700)
    os.chown(d, UID, -1)
    env = {"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(d), "CGIHOST_NO_AUTOSTART": "1"}
    p = subprocess.Popen([CGIHOST, "serve", "--user", USER], env=env, cwd=pub,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    script = base / "scripts" / "cwd.py"
    script.write_text(WHO + "p = '/proc/%d/cwd' % os.getppid()\n"
                      "try:\n    print(open(p + '/notes.txt').read())\n"
                      "except OSError as e:\n    print('refused', e.errno)\n")
    script.chmod(0o644)
    try:
        assert wait_for(lambda: (d / "server.sock").exists() or p.poll() is not None, 20)
        assert p.poll() is None
        assert os.readlink(f"/proc/{p.pid}/cwd") == "/"
        # a client with the user's groups, as the server has them
        pw = pwd.getpwnam(USER)
        r = subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                            "--init-groups", CGIHOST, script], env=env, cwd=base / "scripts",
                           stdout=subprocess.PIPE, timeout=60)
        assert f"ppid {p.pid}\n".encode() in r.stdout, r  # served
        assert b"root's notes" not in r.stdout, r.stdout
    finally:
        subprocess.run(as_user([CGIHOST, "stop"]), env=env, timeout=30, stdout=subprocess.DEVNULL)
        p.wait(timeout=30)


def test_autostart_from_a_client_that_ignores_sigchld(base):
    """A client started with SIGCHLD ignored (inherited across exec) starts
    a server that still sees its children end: it kept them as running for
    ever, and a script that died left its client waiting."""
    s = Server(base)
    who = s.script("who.py", WHO + "print('ok')\n")
    die = s.script("die.py", WHO + "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    ign = ["/usr/bin/python3", "-c", "import os, signal, sys\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
           "os.execv(sys.argv[1], sys.argv[1:])\n"]
    env = {"CGIHOST_NO_AUTOSTART": ""}
    try:
        r = s.run([who], env=env, wrap=ign)
        assert r.returncode == 0 and r.stdout.endswith(b"ok\n"), r
        assert wait_for(lambda: (s.dir / "server.sock").exists(), 20)
        time.sleep(0.5)
        for _ in range(3):
            r = s.run([who], env=env, wrap=ign)
            assert r.returncode == 0 and any(int(r.stdout.split()[1]) == p for p in pids_with("serve"))
        t0 = time.monotonic()
        r = s.run([die], env=env, wrap=ign, timeout=30)
        assert r.returncode == 128 + signal.SIGKILL and time.monotonic() - t0 < 5, r
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE, timeout=30)
        assert b", 0 running," in st.stdout, st.stdout
    finally:
        subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), timeout=30, stdout=subprocess.DEVNULL)
        for pid in pids_with("--auto"):
            try:
                if pathlib.Path(f"/proc/{pid}/environ").read_bytes().find(str(s.dir).encode()) >= 0:
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass


def test_a_server_stops_before_its_cpu_time_limit(base):
    """A server inherits the CPU time limit of whoever starts it (a client
    under Apache's RLimitCPU), and its own time counts over its whole life:
    at three quarters of it, it stops, so that the next request starts a
    fresh one, rather than be killed by the kernel with requests running.
    (Here a preloaded module spends the time at once.)"""
    s = Server(base)
    lib = base / "lib"
    lib.mkdir(mode=0o755)
    (lib / "burn.py").write_text("import time\nt = time.process_time()\n"
                                 "while time.process_time() - t < 3.2:\n    pass\n")
    with open(s.log, "ab") as log:
        p = subprocess.Popen(["prlimit", "--cpu=4:8", "--", *as_user([CGIHOST, "serve", "--socket-dir", s.dir,
                                                                        "--preload", "burn"])],
                             env=s.env(PYTHONPATH=str(lib)), stdout=log, stderr=log)
    try:
        assert p.wait(timeout=30) == 0, s.log.read_text()
        text = s.log.read_text()
        # (at 3 s of 4, with 0.8 s to spare before SIGXCPU, which stops it too)
        assert "stopping: three quarters of the CPU time limit used" in text and "stopped after" in text, text
    finally:
        if p.poll() is None:
            p.kill()


@pytest.mark.parametrize("lib,check", [
    ("import cgitb\nfrom cgitb import Hook\ndef setup():\n    cgitb.enable(display=0)\n",
     "z9lib.setup()\nprint(z9lib.cgitb is cgitb, sys.modules['cgitb'] is z9lib.cgitb,\n"
     "      isinstance(sys.excepthook, cgitb.Hook), z9lib.Hook is cgitb.Hook)\n"),
    ("from cgitb import Hook\n", "print(z9lib.Hook is cgitb.Hook)\n"),
    # cgitb's sentinel, a dunder name but its own (review Z10)
    ("from cgitb import __UNDEF__\n", "print(z9lib.__UNDEF__ is cgitb.__UNDEF__)\n"),
], ids=["module", "hook", "undef"])
def test_a_preloaded_modules_cgitb_is_the_scripts(base, lib, check):
    """A module CGIHOST_PRELOAD imported that holds cgitb, or its Hook, has
    the script's cgitb, as under python3: the server's module, which a
    request otherwise takes out of sys.modules for the script's own import
    to make anew, stays when something preloaded took it (review Z9: it gave
    False for each)."""
    libdir = base / "lib"
    libdir.mkdir(mode=0o755)
    (libdir / "z9lib.py").write_text(lib)
    s = Server(base, ["--preload", "z9lib"])
    s.env = functools.partial(Server.env, s, PYTHONPATH=str(libdir))
    s.start()
    try:
        script = s.script("ident.py", WHO + "import sys, z9lib, cgitb\n" + check)
        r = subprocess.run(as_user([CGIHOST, script]), env=s.env(), capture_output=True, timeout=60)
        assert served(s, r), (r, s.log.read_text())
        py = subprocess.run(as_user([PYTHON, script]), env=s.env(), capture_output=True, timeout=60)
        want = py.stdout.split(b"\n", 1)[1]
        assert want.strip() and b"False" not in want, py
        assert r.stdout.split(b"\n", 1)[1] == want, r
    finally:
        s.stop()



@pytest.mark.parametrize("lib", [
    "import cgitb\ndef f():\n    pass\nimport z10_no_such_module\n",
    "import sys\ndef f():\n    import cgitb\n    try:\n        raise ValueError\n"
    "    except ValueError:\n        tb = sys.exc_info()[2]\nf()\n",
], ids=["failed", "cycle"])
def test_a_preloaded_module_that_holds_no_cgitb_leaves_it_new(base, lib):
    """A module CGIHOST_PRELOAD imported that failed after its import of
    cgitb (its traceback in sys.last_traceback, its functions and globals a
    cycle), or left a frame that imported it in a cycle, holds no cgitb:
    the script's import makes a new one, whose handler writes to the
    sys.stdout of that import, as python3's (review Z10: those references
    counted as taken, and it wrote past the script's stream). Nor does the
    script see the failure in sys.last_*."""
    libdir = base / "lib"
    libdir.mkdir(mode=0o755)
    (libdir / "z10lib.py").write_text(lib)
    s = Server(base, ["--preload", "z10lib"])
    s.env = functools.partial(Server.env, s, PYTHONPATH=str(libdir))
    s.start()
    try:
        script = s.script("ident.py", WHO + "import io, sys\n"
                          "sys.stdout = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)\n"
                          "import cgitb\n"
                          "print(cgitb.handler.__self__.file is sys.stdout,\n"
                          "      hasattr(sys, 'last_traceback'), hasattr(sys, 'last_value'))\n")
        r = subprocess.run(as_user([CGIHOST, script]), env=s.env(), capture_output=True, timeout=60)
        assert served(s, r), (r, s.log.read_text())
        py = subprocess.run(as_user([PYTHON, script]), env=s.env(), capture_output=True, timeout=60)
        want = py.stdout.split(b"\n", 1)[1]
        assert want == b"True False False\n", py
        assert r.stdout.split(b"\n", 1)[1] == want, r
    finally:
        s.stop()


def test_a_preloaded_module_that_starts_a_thread_is_left_to_the_scripts(base):
    """A module CGIHOST_PRELOAD named whose import starts a thread: a forked
    request has no such thread, and a lock the thread held stays held (review
    Z15: acquired False after 3 s, a plain acquire() hung). The server says
    so and starts again without it; the script's import starts the thread as
    under python3, and the other modules stay preloaded."""
    libdir = base / "lib"
    libdir.mkdir(mode=0o755)
    (libdir / "z15bg.py").write_text(
        "import threading, time\nlock = threading.Lock()\n"
        "def run():\n    while True:\n        with lock:\n            time.sleep(0.2)\n"
        "        time.sleep(0.01)\n"
        "threading.Thread(target=run, daemon=True).start()\ntime.sleep(0.05)\n")
    (libdir / "z15plain.py").write_text("X = 1\n")
    s = Server(base, ["--preload", "z15plain,z15bg,json"])
    s.env = functools.partial(Server.env, s, PYTHONPATH=str(libdir))
    s.start()
    try:
        script = s.script("bg.py", WHO + "import sys\n"
                          "pre = [m in sys.modules for m in ('z15plain', 'json', 'z15bg')]\n"
                          "import threading, z15bg\n"
                          "print(z15bg.lock.acquire(timeout=3), threading.active_count())\n"
                          "print('preloaded', pre)\n")
        r = subprocess.run(as_user([CGIHOST, script]), env=s.env(), capture_output=True, timeout=60)
        assert served(s, r), (r, s.log.read_text())
        py = subprocess.run(as_user([PYTHON, script]), env=s.env(), capture_output=True, timeout=60)
        want = py.stdout.split(b"\n", 1)[1]
        assert want.startswith(b"True 2\n"), py
        assert r.stdout.split(b"\n", 1)[1] == want.replace(b"[False, False,", b"[True, True,"), r
        assert "cannot preload z15bg: its import started a thread" in s.log.read_text()
        # The server's own: one thread, and the module not imported.
        assert (pathlib.Path(f"/proc/{s.pid}/status").read_text().count("Threads:\t1\n") == 1)
    finally:
        s.stop()


CLOSED_STD = """
import os, sys
fds = sorted(int(x) for x in os.listdir("/proc/self/fd") if int(x) < 100)
std = [sys.stdin is None, sys.stdout is None, sys.stderr is None]
with open(sys.argv[1], "w") as f:
    f.write(repr((std, fds, os.getppid())))
if sys.stdin is not None:
    sys.stdin.read()
if sys.stdout is not None:
    print("out")
if sys.stderr is not None:
    print("err", file=sys.stderr)
"""


@pytest.mark.parametrize("closed", ["0", "1", "2", "01", "012"])
def test_closed_std_fds_are_closed_for_the_script(srv, closed):
    """A client started with fd 0, 1 or 2 closed (cron, a supervisor): the
    script finds them closed (sys.stdin and co. None), as under python3. Its
    socket to the server took the closed slot, and was passed on as the
    script's stdin or stdout: a script reading stdin hung, one printing
    wrote into the socket ('lost the server')."""
    script = srv.script("closed.py", CLOSED_STD)

    def run(argv, out):
        def close():
            for fd in map(int, closed):
                os.close(fd)
        p = subprocess.run(as_user([*argv, script, out]), preexec_fn=close, timeout=30,
                           env=srv.env(GATEWAY_INTERFACE="CGI/1.1"), cwd=srv.scripts,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        std, fds, ppid = ast.literal_eval((srv.scripts / out).read_text())
        return (p.returncode, std, fds, p.stdout, p.stderr), ppid
    got, ppid = run([CGIHOST], "o1")
    want, _ = run(["/usr/bin/python3"], "o2")
    assert ppid == srv.pid, "not served"
    assert got == want


# The fds below 200 (the client connection's) a script has; 3 is listdir's.
FDS = "import os\nprint('fds', sorted(int(f) for f in os.listdir('/proc/self/fd') if int(f) < 200))\n"

# Runs argv as the session leader of a new pty (whose master it drains), with
# fd 7 open on the file argv[1].
WITH_TTY_AND_FD = r"""
import fcntl, os, sys, termios
master, slave = os.openpty()
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.dup2(os.open(sys.argv[1], os.O_RDONLY), 7)
    os.environ.pop("LC_CTYPE", None)  # our own start's PEP 538 coercion, not the server's
    os.execvp(sys.argv[2], sys.argv[2:])
os.close(slave)
while True:
    try:
        if not os.read(master, 4096):
            break
    except OSError:  # EIO: the session is gone
        break
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def fd_targets(pid):
    """What the process's fds name; one closed while they are listed (the
    server forming its pool) is left out."""
    held = []
    for f in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            held.append(os.readlink(f))
        except FileNotFoundError:
            pass
    return held


def test_the_servers_terminal_and_inherited_fds_are_not_a_scripts(base, tmp_path):
    # As when root runs `serve --user` from a terminal with a file open:
    # no script may read the file or reach the terminal (TIOCSTI).
    secret = tmp_path / "secret"
    secret.write_text("secret\n")
    s = Server(base)
    s.proc = subprocess.Popen([sys.executable, "-c", WITH_TTY_AND_FD, secret,
                               *as_user([CGIHOST, "serve", "--socket-dir", s.dir])],
                              env=s.env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        assert s.proc.poll() is None
        s.pid = s.reaper_child()
        held = fd_targets(s.pid)
        assert str(secret) not in held, held  # the server closed it
        script = s.script("tty.py", WHO + FDS + (
            "try:\n    open('/dev/tty', 'rb')\n    print('tty opened')\n"
            "except OSError as e:\n    print('tty', e.errno)\n"
            "print('session leader', os.getsid(0) == os.getpid())\n"))
        r = s.run([script])
        assert served(s, r), r
        assert b"fds [0, 1, 2, 3]\n" in r.stdout, r.stdout
        assert b"tty 6\n" in r.stdout, r.stdout  # ENXIO: no controlling terminal
        assert b"session leader True\n" in r.stdout
    finally:
        s.stop()


# Runs argv as the session leader of a new pty, as from root's shell; prints
# what the terminal showed once argv ends. SIGUSR1: a Ctrl-C typed there.
ROOTS_TERMINAL = r"""
import fcntl, os, select, signal, sys, termios
master, slave = os.openpty()
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.closerange(3, 1024)
    os.environ.pop("LC_CTYPE", None)  # our own start's PEP 538 coercion, not the server's
    os.execvp(sys.argv[1], sys.argv[1:])
os.close(slave)
signal.signal(signal.SIGUSR1, lambda *a: os.write(master, b"\x03"))
shown = b""
status = None
while True:
    try:
        if select.select([master], [], [], 0.2)[0]:
            data = os.read(master, 4096)
            if not data:
                break
            shown += data
    except InterruptedError:
        continue
    except OSError:  # EIO: the session is gone
        break
    done, st = os.waitpid(pid, os.WNOHANG)
    if done == pid:
        status = st
        break
if status is None:
    status = os.waitpid(pid, 0)[1]
while True:  # what it wrote just before it ended
    try:
        data = os.read(master, 4096) if select.select([master], [], [], 0.2)[0] else b""
    except InterruptedError:
        continue
    except OSError:
        break
    if not data:
        break
    shown += data
sys.stdout.buffer.write(shown)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)  # argv's own exit status
"""


def tty_nr(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[4])


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
@pytest.mark.parametrize("activated", [False, True])
def test_roots_terminal_is_not_the_users(base, activated):
    """root's `serve --user` from a terminal: the server, the user's, and so
    any script's to take over (pidfd_getfd(), ptrace: same uid), holds no fd
    of root's terminal and has no controlling terminal, or a script could
    read root's keystrokes or push a command into root's shell (TIOCSTI
    through the server, whose terminal it is). Its log still shows on the
    terminal, and Ctrl-C there still stops it."""
    s = Server(base)
    serve = [CGIHOST, "serve", "--user", USER, "--socket-dir", s.dir]
    if activated:  # systemd-socket-activate run from root's shell: the socket as fd 3
        s.dir.mkdir(mode=0o700)
        os.chown(s.dir, UID, -1)
        serve = [sys.executable, "-c", activator(s.dir / "server.sock", "root"), *serve]
    s.proc = subprocess.Popen([sys.executable, "-c", ROOTS_TERMINAL, *serve], env=s.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: (s.dir / "lock").exists() or s.proc.poll() is not None)
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        assert s.proc.poll() is None
        sock_ino = os.stat(s.dir / "server.sock").st_ino
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), capture_output=True,
                            timeout=30)
        s.pid = int(st.stdout.split()[2])
        assert os.stat(f"/proc/{s.pid}").st_uid == UID
        held = fd_targets(s.pid)
        assert not [t for t in held if t.startswith("/dev/pts/") or t == "/dev/tty"], held
        assert tty_nr(s.pid) == 0
        script = s.script("who.py", WHO + "print('ok')\n")
        # with USER's groups, as the server has them (initgroups)
        r = subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={pwd.getpwnam(USER).pw_gid}",
                            "--init-groups", CGIHOST, script], env=s.env(), capture_output=True,
                           timeout=60)
        assert served(s, r) and r.stdout.endswith(b"ok\n"), r
        s.proc.send_signal(signal.SIGUSR1)  # Ctrl-C
        shown = s.proc.communicate(timeout=30)[0]
        assert s.proc.returncode == 0
        assert not proc_alive(s.pid)
        assert b"serving on " in shown and b"stopping: Interrupt" in shown, shown
        if activated:  # it served on fd 3, and left the socket in place
            assert os.stat(s.dir / "server.sock").st_ino == sock_ino
    finally:
        s.stop()


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
@pytest.mark.parametrize("lang", ["C.UTF-8", "C"])
def test_roots_terminal_relay_shows_the_users_controls_as_question_marks(base, lang):
    """What the server writes reaches root's terminal with its controls as
    '?': C0 but tab and newline, DEL, C1 as UTF-8, and C1 as a lone byte
    (0x9b, a CSI to a terminal not in UTF-8, which passed: review Z34); UTF-8
    text, with its continuation bytes 0x80-0x9f, passes as it is, in a UTF-8
    locale only: an overlong form ("\\xe0\\x82\\x9b", C1's CSI), a surrogate
    or a code past U+10FFFF is no UTF-8, and in another locale, whose
    terminal takes "\\xe2\\x9b\\xb1" for "a", CSI, "1", no byte 0x80-0x9f
    passes (both did: review Z36). The bytes here: a module name to preload,
    which the server names in its log."""
    said = (b"<A\x1bB\x07C\x7fD\xc2\x9bE\x9bF\x85G\tH\xc3\xa9I\xe2\x82\xacJ\xf0\x9f\x98\x80K"
            b"\xe2\x9bL\xa0M\xc2\xa0N\xe0\x82\x9bO\xf0\x80\x82\x9bP\xed\xa0\x80Q\xf4\x90\x80\x80R>")
    if lang == "C":
        want = bytes(b"?"[0] if 0x80 <= b <= 0x9f or (b < 0x20 and b != 9) or b == 0x7f else b
                     for b in said)
    else:
        want = (b"<A?B?C?D?E?F?G\tH\xc3\xa9I\xe2\x82\xacJ\xf0\x9f\x98\x80K\xe2?L\xa0M\xc2\xa0N"
                b"\xe0??O\xf0???P\xed\xa0?Q\xf4???R>")
    s = Server(base)
    serve = [CGIHOST, "serve", "--user", USER, "--socket-dir", s.dir, "--preload",
             os.fsdecode(said)]
    s.proc = subprocess.Popen([sys.executable, "-c", ROOTS_TERMINAL, *serve],
                              env=s.env(LANG=lang), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        # serving, its start over (a Ctrl-C typed during it is another test's)
        assert subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), capture_output=True,
                              timeout=30).returncode == 0
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGUSR1)  # Ctrl-C
        shown = s.proc.communicate(timeout=30)[0]
        assert b"serving on " in shown, shown
        assert want in shown, shown
    finally:
        s.stop()


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_roots_terminal_relay_passes_ctrl_c_with_the_output_elsewhere(base, tmp_path):
    """root's `serve --user ... >log 2>&1` (or `| tee log`) from a terminal:
    the relay's pipe ends at once, the server's output going elsewhere, but
    the terminal's signals are still the server's. The relay stopped passing
    them on there (it waited for the server with them blocked): Ctrl-C, a
    kill of it, the terminal's hangup were lost and the server ran on."""
    s = Server(base)
    log = tmp_path / "serve.log"
    serve = ["sh", "-c", 'exec "$@" >"$0" 2>&1', log,
             CGIHOST, "serve", "--user", USER, "--socket-dir", s.dir]
    s.proc = subprocess.Popen([sys.executable, "-c", ROOTS_TERMINAL, *serve], env=s.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        assert s.proc.poll() is None
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), capture_output=True,
                            timeout=30)
        s.pid = int(st.stdout.split()[2])
        time.sleep(0.5)  # the relay has read its pipe's end
        s.proc.send_signal(signal.SIGUSR1)  # Ctrl-C
        s.proc.communicate(timeout=30)
        assert wait_for(lambda: not proc_alive(s.pid), 10)
        assert b"stopping: Interrupt" in log.read_bytes(), log.read_bytes()
        assert s.proc.returncode == 0  # the server's status, the relay's
    finally:
        s.stop()


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_roots_terminal_relay_passes_ctrl_c_typed_during_its_fork(base):
    """A Ctrl-C typed while the relay forks the server (held there by
    strace for 5 s) is passed on too: caught from after the fork only, it
    ended the relay at its default and left the server, in a session of its
    own, running without a terminal."""
    s = Server(base)
    serve = ["strace", "-o", "/dev/null", "-e", "inject=clone:delay_exit=5000000",
             CGIHOST, "serve", "--user", USER, "--socket-dir", s.dir]
    s.proc = subprocess.Popen([sys.executable, "-c", ROOTS_TERMINAL, *serve], env=s.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        # the server, the fork's child, starts while its parent waits in clone()
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        assert s.proc.poll() is None
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), capture_output=True,
                            timeout=30)
        s.pid = int(st.stdout.split()[2])
        s.proc.send_signal(signal.SIGUSR1)  # Ctrl-C
        shown = s.proc.communicate(timeout=30)[0]
        assert wait_for(lambda: not proc_alive(s.pid), 10), shown
        assert b"stopping: Interrupt" in shown, shown
        assert s.proc.returncode == 0, shown
    finally:
        s.stop()


def test_a_script_can_start_a_session_of_its_own(srv):
    """A server without a terminal (as systemd or a client starts it) keeps
    its children in its session, no session or group leaders, as a CGI is
    under Apache: os.setsid() in the script's own process works, as it does
    under python3 (it failed with EPERM when every child was a session
    leader)."""
    script = srv.script("sid.py", WHO + "os.setsid()\nprint('setsid', os.getsid(0) == os.getpid())\n")
    r = srv.run([script])
    assert served(srv, r) and r.stdout.endswith(b"setsid True\n"), r


@pytest.mark.skipif(not IS_ROOT, reason="needs root to play two group lists")
def test_a_client_with_other_groups_runs_in_process(base):
    # The script would run with the server's groups: a client without the
    # server's supplementary group (adm) must not get it through the server.
    s = Server(base)
    pw = pwd.getpwnam(USER)
    launch = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--groups=4"]
    with open(s.log, "ab") as log:
        s.proc = subprocess.Popen([sys.executable, "-c", REAPER, *launch, CGIHOST, "serve",
                                   "--socket-dir", s.dir], env=s.env(), stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log)
    try:
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        s.pid = s.reaper_child()
        script = s.script("ids.py", WHO + "print('groups', os.getgroups())\n")
        r = s.run([script])  # as_user: --clear-groups
        assert r.returncode == 0 and not served(s, r) and b"groups []\n" in r.stdout, r
        full = s.env(GATEWAY_INTERFACE="CGI/1.1")
        r = subprocess.run([*launch, CGIHOST, script], env=full, cwd=s.scripts,
                           stdout=subprocess.PIPE, timeout=60)
        assert r.returncode == 0 and served(s, r) and b"groups [4]\n" in r.stdout, r
    finally:
        s.stop()


def test_a_hard_limit_above_the_servers_runs_in_process(base):
    # A server started under low limits (as an auto-start by a request with
    # Apache's RLimitNOFILE would be) cannot give a request more: that
    # request runs in-process with its own limits, not clamped ones.
    s = Server(base)
    with open(s.log, "ab") as log:
        s.proc = subprocess.Popen([sys.executable, "-c", REAPER, "prlimit", "--nofile=64:64", "--",
                                   *as_user([CGIHOST, "serve", "--socket-dir", s.dir])],
                                  env=s.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        assert wait_for(lambda: (s.dir / "server.sock").exists() or s.proc.poll() is not None)
        s.pid = s.reaper_child()
        script = s.script("nofile.py", WHO + "import resource\n"
                          "print('nofile', resource.getrlimit(resource.RLIMIT_NOFILE))\n")
        r = s.run([script], wrap=["prlimit", "--nofile=100:200", "--"])
        assert r.returncode == 0 and not served(s, r), r
        assert b"nofile (100, 200)\n" in r.stdout, r.stdout
        r = s.run([script], wrap=["prlimit", "--nofile=32:64", "--"])
        assert r.returncode == 0 and served(s, r), r
        assert b"nofile (32, 64)\n" in r.stdout, r.stdout
    finally:
        s.stop()


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_root_never_autostarts(base):
    d = base / "rootdir"
    r = subprocess.run([CGIHOST, ROOT / "tests" / "scripts" / "status.py"], timeout=60,
                       env={"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(d)},
                       stdout=subprocess.PIPE)
    assert r.returncode == 0 and b"after" in r.stdout
    time.sleep(0.5)
    assert not d.exists()


def test_no_server_forces_the_cold_path(srv):
    script = srv.script("who.py", WHO)
    assert not served(srv, srv.run([script], env={"CGIHOST_NO_SERVER": "1"}))
    assert served(srv, srv.run([script], env={"CGIHOST_NO_SERVER": "0"}))


def test_an_interpreter_shaping_variable_falls_back(srv):
    script = srv.script("who.py", WHO + "import sys; print(sys.flags.dont_write_bytecode)\n")
    assert refused(srv) == 0
    r = srv.run([script], env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert r.stdout.endswith(b"1\n") and not served(srv, r)
    assert refused(srv) == 1  # cgihost status tells
    # and the log says why, naming the variable
    assert wait_for(lambda: "refused a request (interpreter-shaping variables not as mine: "
                    "PYTHONDONTWRITEBYTECODE)" in srv.log.read_text(), 5), srv.log.read_text()


def renamed_libz(base):
    """base/lib holding a copy of libz named libcgihostldtest.so: a library
    found only through LD_LIBRARY_PATH. Returns the directory."""
    lib = next(p for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                           "/lib", "/usr/lib") for p in [pathlib.Path(d) / "libz.so.1"] if p.exists())
    libdir = base / "lib"
    libdir.mkdir(mode=0o755)
    shutil.copy(lib, libdir / "libcgihostldtest.so")
    (libdir / "libcgihostldtest.so").chmod(0o755)
    return libdir


def test_a_loader_variable_is_the_scripts_as_under_python3(srv, base):
    """LD_LIBRARY_PATH (a site's SetEnv for a database driver's libraries)
    is read by the dynamic loader as a process starts: a request child
    would search the server's. Such a request runs in-process, where a
    library found through it loads as under python3."""
    libdir = renamed_libz(base)
    script = srv.script("ld.py", WHO + "import ctypes\nprint(ctypes.CDLL('libcgihostldtest.so').zlibVersion() != 0)\n")
    env = {"LD_LIBRARY_PATH": str(libdir)}
    r = srv.run([script], env=env)
    py = subprocess.run(as_user([PYTHON, script]), env=srv.env(**env), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=60)
    assert py.returncode == 0 and py.stdout.endswith(b"True\n"), py.stderr
    assert r.returncode == 0 and r.stdout.endswith(b"True\n"), r.stderr
    assert not served(srv, r)
    assert wait_for(lambda: "refused a request (interpreter-shaping variables not as mine: "
                    "LD_LIBRARY_PATH)" in srv.log.read_text(), 5), srv.log.read_text()
    # and without it, served
    assert served(srv, srv.run([srv.script("who.py", WHO)]))


def test_a_loader_variable_behind_an_action_is_the_scripts_as_under_python3(srv, base):
    """Behind the Action, a site's SetEnv LD_LIBRARY_PATH reaches cgihost as
    REDIRECT_LD_LIBRARY_PATH and its script as LD_LIBRARY_PATH: the request
    runs in-process, but the loader read the variables of its start before
    the script's environment was made. It starts again with them, as
    python3 started by mod_cgi would have: the library loads."""
    libdir = renamed_libz(base)
    script = srv.script("ldaction.py", "print('Content-Type: text/plain\\n')\n" + WHO +
                        "import ctypes, os\nprint(os.environ.get('LD_LIBRARY_PATH'), "
                        "'CGIHOST_START_ENV' in os.environ)\n"
                        "print(ctypes.CDLL('libcgihostldtest.so').zlibVersion() != 0)\n")
    handler = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "DOCUMENT_ROOT": str(srv.scripts),
               "SCRIPT_NAME": "/cgihost-bin/cgihost", "SCRIPT_FILENAME": str(CGIHOST),
               "PATH_INFO": "/ldaction.py", "PATH_TRANSLATED": str(script),
               "REDIRECT_STATUS": "200", "REDIRECT_URL": "/ldaction.py",
               "REQUEST_URI": "/ldaction.py", "REDIRECT_HANDLER": "cgihost-script",
               "REDIRECT_LD_LIBRARY_PATH": str(libdir)}
    want = f"{libdir} False\nTrue\n".encode()
    for env in (handler, dict(handler, CGIHOST_NO_SERVER="1")):
        r = srv.run([], env=env)
        assert r.returncode == 0 and r.stdout.endswith(want), r
        assert not served(srv, r)


@pytest.mark.parametrize("name,value,shows", [
    ("REDIRECT_PYTHONPATH", "LIB", "import sys; print('LIB' in sys.path)"),
    ("REDIRECT_PYTHONDONTWRITEBYTECODE", "1", "import sys; print(sys.flags.dont_write_bytecode)"),
    ("REDIRECT_PYTHONIOENCODING", "latin-1", "import sys; print(sys.stdout.encoding)"),
    ("REDIRECT_REDIRECT_PYTHONIOENCODING", "latin-1", None),
])
def test_an_interpreter_shaping_variable_behind_an_action_is_applied(srv, name, value, shows):
    """A site's SetEnv PYTHONPATH reaches cgihost, behind the Action, as
    REDIRECT_PYTHONPATH, and its script as PYTHONPATH (test_apache.py): that
    shapes the interpreter, as for a script run directly, so the request runs
    in-process; it used to be served with the server's sys.path. (An earlier
    level's, REDIRECT_REDIRECT_..., runs in-process too: never wrong.)"""
    differs = shows is not None
    shows = shows or "import sys; print(sys.stdout.encoding)"
    lib = srv.scripts / "lib"
    lib.mkdir()
    script = srv.script("shaped.py", "print('Content-Type: text/plain\\n')\n" + WHO +
                        shows.replace("'LIB'", repr(str(lib))) + "\n")
    handler = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "DOCUMENT_ROOT": str(srv.scripts),
               "SCRIPT_NAME": "/cgihost-bin/cgihost", "SCRIPT_FILENAME": str(CGIHOST),
               "PATH_INFO": "/shaped.py", "PATH_TRANSLATED": str(script),
               "REDIRECT_STATUS": "200", "REDIRECT_URL": "/shaped.py",
               "REQUEST_URI": "/shaped.py", "REDIRECT_HANDLER": "cgihost-script"}
    plain = srv.run([], env=handler)
    assert served(srv, plain), plain
    env = dict(handler, **{name: value.replace("LIB", str(lib))})
    cold = srv.run([], env=dict(env, CGIHOST_NO_SERVER="1"))
    assert (cold.stdout.split(b"\n")[-2] != plain.stdout.split(b"\n")[-2]) == differs, (cold, plain)
    r = srv.run([], env=env)
    assert r.returncode == 0 and not served(srv, r), r
    assert r.stdout.split(b"\n")[-2] == cold.stdout.split(b"\n")[-2]


@pytest.mark.parametrize("name,said", [("CGIHOST_DRAIN_MS", True),
                                       ("REDIRECT_CGIHOST_DRAIN_MS", False)])
def test_the_drain_reads_the_web_servers_setting_served_or_not(srv, name, said):
    """CGIHOST_DRAIN_MS is cgihost's, set at server level; a <Directory>'s
    SetEnv reaches cgihost behind the Action as REDIRECT_CGIHOST_DRAIN_MS,
    which is the script's (renamed for it), not cgihost's. The client of a
    served request read the first only; in-process, the drain read the
    script's environment, so the second counted, as did a script's own
    os.environ change. Both now read the web server's: a bad value is said
    (or not) the same, served or not."""
    script = srv.script("left.py", "import os\nos.environ['CGIHOST_DRAIN_MS'] = 'xyz'\n"
                        "print('Content-Type: text/plain\\n')\n" + WHO)
    handler = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "10", "SERVER_SOFTWARE": "Apache/2.4",
               "DOCUMENT_ROOT": str(srv.scripts), "SCRIPT_NAME": "/cgihost-bin/cgihost",
               "SCRIPT_FILENAME": str(CGIHOST), "PATH_INFO": "/left.py",
               "PATH_TRANSLATED": str(script), "REDIRECT_STATUS": "200",
               "REDIRECT_URL": "/left.py", "REQUEST_URI": "/left.py",
               "REDIRECT_HANDLER": "cgihost-script", "GATEWAY_INTERFACE": "CGI/1.1", name: "abc"}
    for cold in (False, True):
        env = srv.env(**handler, **({"CGIHOST_NO_SERVER": "1"} if cold else {}))
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"12345")  # half the body: the drain waits for Apache's end
            p = subprocess.Popen(as_user([CGIHOST]), stdin=b, stdout=b, stderr=subprocess.PIPE,
                                 env=env, cwd=srv.scripts)
            b.close()
            out = b""
            while b"ppid" not in out:
                chunk = a.recv(4096)
                assert chunk, out
                out += chunk
            a.shutdown(socket.SHUT_WR)
            err = p.communicate(timeout=30)[1].decode()
        assert p.returncode == 0 and (f"ppid {srv.pid}\n".encode() in out) != cold, out
        assert ("CGIHOST_DRAIN_MS=abc ignored" in err) == said, (cold, err)
        assert "xyz" not in err, err


def refused(srv):
    """How many requests the server has refused (their clients ran them)."""
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE,
                        timeout=30, check=True).stdout.decode()
    return int(st.split(" refused (run by their clients)")[0].split()[-1])


def cached_scripts(srv):
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE,
                        timeout=30, check=True).stdout.decode()
    return int(st.split(" cached scripts")[0].split()[-1])


def test_the_code_cache_keys_on_the_path_as_file_names_it(srv):
    """A relative path is cached as __file__ spells it (co_filename is
    part of the code): c.py and the absolute path share one entry, ./c.py
    has its own, and each is compiled once."""
    script = srv.script("c.py", WHO + "print(__file__)\n")
    for argv, file in (([script], script), (["c.py"], script), (["./c.py"], f"{script.parent}/./c.py"),
                       ([script], script), (["./c.py"], f"{script.parent}/./c.py"), (["c.py"], script)):
        r = srv.run(argv)
        cold = srv.run(argv, env={"CGIHOST_NO_SERVER": "1"})
        assert served(srv, r) and r.stdout.endswith(f"{file}\n".encode()), r
        assert cold.stdout.endswith(f"{file}\n".encode()), cold
        time.sleep(0.3)  # the server compiles when idle
    assert cached_scripts(srv) == 2


@pytest.mark.skipif(not IS_ROOT, reason="needs root to take the read permission away")
def test_a_cached_script_made_unreadable_fails_as_cold(srv):
    script = srv.script("u.py", WHO + "print('u')\n")
    for _ in range(3):
        assert srv.run([script]).stdout.endswith(b"u\n")
        time.sleep(0.3)
    assert cached_scripts(srv) == 1
    script.chmod(0)
    r = srv.run([script])
    cold = srv.run([script], env={"CGIHOST_NO_SERVER": "1"})
    assert r.returncode == cold.returncode == 2, (r, cold)
    assert r.stdout == b"" and b"Permission denied" in r.stderr


def test_an_edited_script_takes_effect_at_once(srv):
    script = srv.script("v.py", WHO + "print('v1')\n")
    for i in range(3):  # cached by now
        assert srv.run([script]).stdout.endswith(b"v1\n")
        time.sleep(0.3)
    st = os.stat(script)
    script.write_text(WHO + "print('v2')\n")  # same size
    os.utime(script, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    r = srv.run([script])
    assert served(srv, r) and r.stdout.endswith(b"v2\n")


def test_compile_time_warnings_still_show(srv):
    script = srv.script("w.py", WHO + "x = 1\nprint(x is 1)\n")
    for i in range(3):
        r = srv.run([script])
        cold = srv.run([script], env={"CGIHOST_NO_SERVER": "1"})
        assert served(srv, r)
        assert r.stderr == cold.stderr and b"SyntaxWarning" in r.stderr
        time.sleep(0.3)


def test_idle_exit(base):
    s = Server(base, ["--idle-exit", "1"]).start()
    try:
        assert wait_for(lambda: s.proc.poll() is not None, 20)
        assert not (s.dir / "server.sock").exists()
    finally:
        s.stop()


def server_on_a_copy(base):
    """A server started from a copy of the binaries in base/bin, which a
    test may then replace."""
    bindir = base / "bin"
    bindir.mkdir(mode=0o755)
    for f in (CGIHOST, CGIHOST_PY):
        shutil.copy2(f, bindir / f.name)
    return bindir, Server(base, binary=bindir / "cgihost").start()


def replaced_while_running(s, bindir, script):
    """Runs script (a slow one) in the background, replaces the server's
    binary meanwhile, and returns once the server waits for it to restart."""
    p = subprocess.Popen(as_user([CGIHOST, script]), cwd=s.scripts, stdout=subprocess.PIPE,
                         env=s.env(GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1"))
    time.sleep(1)
    new = bindir / "cgihost-py.new"
    shutil.copy2(CGIHOST_PY, new)
    os.replace(new, bindir / "cgihost-py")
    assert wait_for(lambda: "stopping: binary replaced" in s.log.read_text(), 10), s.log.read_text()
    return p


def test_restarts_when_its_binary_is_replaced(base):
    bindir, s = server_on_a_copy(base)
    try:
        script = s.script("who.py", WHO)
        pid = s.pid
        assert s.run([script]).stdout == f"ppid {pid}\n".encode()
        new = bindir / "cgihost-py.new"
        shutil.copy2(CGIHOST_PY, new)
        os.replace(new, bindir / "cgihost-py")
        assert wait_for(lambda: s.log.read_text().count("serving on") == 2, 20), s.log.read_text()
        assert s.reaper_child() == pid  # the same process, re-executed: the socket never went away
        assert s.run([script]).stdout == f"ppid {pid}\n".encode()
    finally:
        s.stop()


def test_stops_when_its_binary_is_gone(base):
    # make uninstall, or a build directory cleaned: the server stops, where
    # it served on from the deleted file until idle, the requests of the
    # user's other copies of cgihost too (their clients reach its socket).
    bindir, s = server_on_a_copy(base)
    try:
        script = s.script("who.py", WHO)
        assert s.run([script]).stdout == f"ppid {s.pid}\n".encode()
        for f in ("cgihost", "cgihost-py"):
            (bindir / f).unlink()
        assert wait_for(lambda: s.proc.poll() is not None, 15), s.log.read_text()
        assert "stopping: the binary I run from is gone" in s.log.read_text()
        assert not (s.dir / "server.sock").exists()
    finally:
        s.stop()


def test_a_binary_being_written_is_waited_for(base):
    # A linker or install(1) writes the new binary in place, and makes it
    # executable last: the server restarts once it is whole, not before
    # (executing it half written failed, and the server ended).
    bindir, s = server_on_a_copy(base)
    try:
        script = s.script("who.py", WHO)
        pid = s.pid
        target = bindir / "cgihost-py"
        data = CGIHOST_PY.read_bytes()
        target.unlink()
        with open(target, "wb") as f:
            f.write(data[:4096])
            f.flush()
            time.sleep(2.5)  # not executable yet: two looks at least
            os.chmod(target, 0o755)
            step = len(data) // 10 + 1
            for at in range(4096, len(data), step):  # executable, still growing
                f.write(data[at:at + step])
                f.flush()
                time.sleep(0.3)
            assert "restarting" not in s.log.read_text(), s.log.read_text()
        assert wait_for(lambda: s.log.read_text().count("serving on") == 2, 20), s.log.read_text()
        assert "re-exec" not in s.log.read_text()
        assert s.reaper_child() == pid
        assert s.run([script]).stdout == f"ppid {pid}\n".encode()
    finally:
        s.stop()


def test_a_binary_that_does_not_run_is_not_restarted_into(base):
    # A directory where the binary was, then a file executable from the
    # start but still open for writing (cp, rsync --inplace): the server
    # stops for neither (its exec would fail, and end it), serves on, and
    # restarts once a binary that runs is there.
    bindir, s = server_on_a_copy(base)
    try:
        script = s.script("who.py", WHO)
        pid = s.pid
        target = bindir / "cgihost-py"
        target.unlink()
        target.mkdir()
        time.sleep(3)
        assert s.run([script]).stdout == f"ppid {pid}\n".encode()
        target.rmdir()
        data = CGIHOST_PY.read_bytes()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o755)
        try:
            os.write(fd, data[:len(data) // 2])
            assert wait_for(lambda: "does not run" in s.log.read_text(), 10), s.log.read_text()
            assert s.run([script]).stdout == f"ppid {pid}\n".encode()
            os.write(fd, data[len(data) // 2:])
        finally:
            os.close(fd)
        assert wait_for(lambda: s.log.read_text().count("(pool") == 2, 40), s.log.read_text()
        assert "re-exec" not in s.log.read_text() and "stopped" not in s.log.read_text()
        assert s.reaper_child() == pid
        assert s.run([script]).stdout == f"ppid {pid}\n".encode()
    finally:
        s.stop()


def test_an_exec_that_fails_leaves_the_server_serving(base):
    # The binary gone again while the server waited for a request to end
    # before its exec: the exec fails, and the server serves on as it was
    # (it ended), then restarts once a binary is back.
    bindir, s = server_on_a_copy(base)
    try:
        who = s.script("who.py", WHO)
        slow = s.script("slow.py", "import time\ntime.sleep(8)\nprint('done')\n")
        pid = s.pid
        p = replaced_while_running(s, bindir, slow)
        target = bindir / "cgihost-py"
        target.unlink()
        target.mkdir()
        assert p.communicate(timeout=30)[0] == b"done\n"
        assert wait_for(lambda: "as before" in s.log.read_text(), 20), s.log.read_text()
        assert "re-exec" in s.log.read_text()
        assert s.reaper_child() == pid
        assert s.run([who]).stdout == f"ppid {pid}\n".encode()
        target.rmdir()
        shutil.copy2(CGIHOST_PY, target)
        assert wait_for(lambda: s.log.read_text().count("(pool") == 2, 40), s.log.read_text()
        assert s.run([who]).stdout == f"ppid {pid}\n".encode()
    finally:
        s.stop()


def test_a_signal_during_a_restarts_wait_stops_the_server(base):
    # SIGTERM while the server waits for a request to end before it
    # re-executes: it stops then, as asked, and does not restart.
    bindir, s = server_on_a_copy(base)
    try:
        slow = s.script("slow.py", "import time\ntime.sleep(8)\nprint('done')\n")
        pid = s.pid
        p = replaced_while_running(s, bindir, slow)
        os.kill(pid, signal.SIGTERM)
        # the socket goes at once: no new request waits for this server
        assert wait_for(lambda: not (s.dir / "server.sock").exists(), 2), s.log.read_text()
        assert p.communicate(timeout=30)[0] == b"done\n"
        assert s.proc.wait(timeout=30) == 0
        log = s.log.read_text()
        assert "stopped after" in log and "restarting" not in log, log
        assert not (s.dir / "server.sock").exists()
    finally:
        s.stop()


def test_a_request_while_a_restart_waits_runs_in_process_at_once(base):
    """While the server waits for a running request to end before it
    re-executes, it still accepts: a request is refused at once and runs
    in-process (it waited in the backlog for the client's 2 s time-out),
    and `cgihost status` is answered (it waited 5 s, then said the server
    did not answer)."""
    bindir, s = server_on_a_copy(base)
    try:
        who = s.script("who.py", WHO)
        slow = s.script("slow.py", "import time\ntime.sleep(8)\nprint('done')\n")
        p = replaced_while_running(s, bindir, slow)
        t0 = time.monotonic()
        r = s.run([who])
        took = time.monotonic() - t0
        assert r.returncode == 0 and r.stdout.startswith(b"ppid ") and not served(s, r), r
        assert took < 1.5, took
        t0 = time.monotonic()
        st = subprocess.run(as_user([CGIHOST, "status"]), env=s.env(), stdout=subprocess.PIPE,
                            timeout=30)
        assert st.returncode == 0 and f"server {s.pid} ".encode() in st.stdout, st
        assert b"1 running" in st.stdout and time.monotonic() - t0 < 1.5, st
        assert p.communicate(timeout=30)[0] == b"done\n"
        assert wait_for(lambda: s.log.read_text().count("serving on") == 2, 20), s.log.read_text()
        assert s.run([who]).stdout == f"ppid {s.pid}\n".encode()
    finally:
        s.stop()


def test_a_setting_that_is_no_number_is_logged(base):
    s = Server(base)
    with open(s.log, "ab") as log:
        p = subprocess.Popen(as_user([CGIHOST, "serve", "--socket-dir", s.dir, "--idle-exit", "1"]),
                             env=s.env(CGIHOST_MAX_CHILDREN="0", CGIHOST_POOL="many"),
                             stdout=log, stderr=log)
    try:
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
    text = s.log.read_text()
    assert "cgihost: CGIHOST_MAX_CHILDREN=0 ignored: not a whole number from 1 to 4096; 64 it is" in text
    assert "cgihost: CGIHOST_POOL=many ignored: not a whole number from 0 to 64; 2 it is" in text


def test_a_client_timeout_that_is_no_number_is_said(srv):
    script = srv.script("who.py", WHO)
    r = srv.run([script], env={"CGIHOST_TIMEOUT_MS": "soon"})
    assert served(srv, r), r
    assert r.stderr == (b"cgihost: CGIHOST_TIMEOUT_MS=soon ignored: not a whole number from 1 to "
                        b"3600000; 2000 it is\n"), r.stderr


def test_status_and_stop(srv):
    def status():
        return subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE,
                              timeout=30).stdout
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE, timeout=30)
    assert st.returncode == 0 and f"server {srv.pid}".encode() in st.stdout
    # The pool child that answers the question is not a running request
    # (it was counted as one), and counts as the idle child it was.
    assert wait_for(lambda: re.search(rb", 0 running, [1-9]\d* idle children", status()), 10), status()
    sp = subprocess.run(as_user([CGIHOST, "stop"]), env=srv.env(), stdout=subprocess.PIPE, timeout=30)
    assert sp.returncode == 0 and b"stopped" in sp.stdout
    assert wait_for(lambda: srv.proc.poll() is not None, 10)
    st = subprocess.run(as_user([CGIHOST, "status"]), env=srv.env(), stdout=subprocess.PIPE, timeout=30)
    assert st.returncode == 3


def test_a_stop_past_stop_wait_leaves_the_socket_but_watches_its_requests(base):
    """A request still running --stop-wait seconds after a stop is not
    abandoned: the server lets a successor start (socket and lock let go)
    and goes on passing its client's signals until the request ends; then
    it exits, leaving the successor's socket alone."""
    s = Server(base, ["--stop-wait", "1"]).start()
    new = None
    try:
        script = s.script("sleep.py", SLEEPER)
        p, pid, ppid = start_client(s, [script])
        assert ppid == s.pid
        stop = subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), capture_output=True, timeout=30)
        assert stop.stdout == b"cgihost: server %d has let its socket go; it ends when its requests do\n" \
            % s.pid, stop
        assert wait_for(lambda: "leaving the socket to a new server" in s.log.read_text(), 10), \
            s.log.read_text()
        assert s.proc.poll() is None and proc_alive(pid)
        new = Server(base).start()  # a successor starts in the same directory
        p.send_signal(signal.SIGTERM)  # and the old server still passes it on
        p.communicate(timeout=30)
        assert p.returncode == 128 + signal.SIGTERM
        assert wait_for(lambda: not proc_alive(pid), 10)
        assert wait_for(lambda: s.proc.poll() is not None, 10), s.log.read_text()
        r = new.run([s.script("who.py", WHO)])
        assert r.returncode == 0 and served(new, r), r  # its socket is still there
    finally:
        if new:
            new.stop()
        s.stop()


def test_a_tty_gets_a_line_buffered_stdout(srv):
    """stdio is made for the request's fds: a tty's stdout is line-buffered."""
    import pty
    script = srv.script("tty.py", "import os, sys\nprint(os.getppid(), sys.stdout.isatty(), "
                        "sys.stdout.line_buffering, sys.stdin.isatty())\n")
    master, slave = pty.openpty()
    try:
        full = srv.env(GATEWAY_INTERFACE="CGI/1.1")
        p = subprocess.Popen(as_user([CGIHOST, script]), env=full, cwd=srv.scripts,
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        slave = -1
        assert p.wait(timeout=60) == 0, p.stderr.read()
        out = os.read(master, 1000).split()
        assert out == [str(srv.pid).encode(), b"True", b"True", b"False"], out
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def activator(sock, maker="user"):
    """Python code that makes the listening socket at sock as systemd's
    cgihost.socket would (maker "root": bound as root, then given to the
    user with mode 0600; "root, left root's": mode 0666, root's), passes it
    as fd 3 with LISTEN_FDS=1, and execs its arguments."""
    pw = pwd.getpwnam(USER)
    return f"""
import os, socket, sys
l = socket.socket(socket.AF_UNIX)
l.bind({str(sock)!r}); l.listen(16)
if os.geteuid() == 0 and {maker == "root"!r}:
    os.chown({str(sock)!r}, {pw.pw_uid}, {pw.pw_gid})
    os.chmod({str(sock)!r}, 0o600)
elif os.geteuid() == 0 and {maker != "user"!r}:
    os.chmod({str(sock)!r}, 0o666)
if l.fileno() != 3:
    os.dup2(l.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.environ.pop("LC_CTYPE", None)
os.execvp(sys.argv[1], sys.argv[1:])
"""


def start_activated(s, serve, maker="user", env=None, name="server.sock"):
    """s's server run as systemd's cgihost.socket runs it: activator() makes
    its socket (NAME) in s's directory and execs serve (as the user, or,
    maker being root's, serve alone as the user), in ENV (s.env()'s by
    default); returns the socket's path."""
    s.dir.mkdir(mode=0o700)
    if IS_ROOT:
        os.chown(s.dir, UID, -1)
    sock = s.dir / name
    code = activator(sock, maker)
    argv = (as_user([sys.executable, "-c", code, *serve]) if maker == "user" else
            [sys.executable, "-c", code, *as_user(serve)])
    with open(s.log, "ab") as log:
        s.proc = subprocess.Popen([sys.executable, "-c", REAPER, *map(str, argv)],
                                  env=s.env() if env is None else env, stdout=log, stderr=log)
    return sock


@pytest.mark.parametrize("case", ["no directory given", "another directory given", "another name"])
def test_a_socket_activated_server_is_where_its_socket_is(base, case):
    """The socket passed as fd 3 is the server's: with no socket directory
    given (systemd-socket-activate passes no environment), the socket's
    directory is the server's, its log names that socket and its lock is
    there; a directory given that is not the socket's, or a socket not
    named server.sock (no client looks there), is refused, saying why."""
    s = Server(base)
    serve = [CGIHOST, "serve", "--idle-exit", "2"]
    if case == "another directory given":
        other = base / "elsewhere"
        other.mkdir(mode=0o700)
        if IS_ROOT:
            os.chown(other, UID, -1)
        serve += ["--socket-dir", other]
    env = {k: v for k, v in s.env().items() if k != "CGIHOST_SOCKET_DIR"}
    start_activated(s, serve, env=env, name="other.sock" if case == "another name" else "server.sock")
    try:
        if case == "no directory given":
            assert wait_for(lambda: "serving on" in s.log.read_text(), 20), s.log.read_text()
            assert f"serving on {s.dir}/server.sock" in s.log.read_text(), s.log.read_text()
            assert (s.dir / "lock").exists()
            s.pid = s.reaper_child()
            r = s.run([s.script("who.py", WHO)])
            assert served(s, r), (r.stdout, s.pid, s.log.read_text())
        else:
            assert s.proc.wait(timeout=30) == 1
            said = (f"is in {s.dir}, not in the socket directory {other}" if case != "another name"
                    else "is not a socket file named server.sock")
            assert "cgihost: the socket passed as fd 3 (LISTEN_FDS) " + said in s.log.read_text(), \
                s.log.read_text()
    finally:
        s.stop()


@pytest.mark.parametrize("maker", ["user", "root", "root, left root's"])
def test_socket_activation(base, maker):
    """As systemd's cgihost.socket would: the socket made by someone else,
    passed as fd 3 with LISTEN_FDS=1; the server leaves it in place. With
    "root", as systemd itself makes it: bound and listening as root (a
    client then sees root's credentials on it), chowned to the user with
    mode 0600, in the user's directory (the tmpfiles.d line the unit
    documents), the server started as the user; requests are served.
    "root, left root's": the socket file stays root's (mode 0666), as
    another service of root's would be: the client does not use it."""
    if maker != "user" and not IS_ROOT:
        pytest.skip("needs root, as systemd")
    s = Server(base)
    sock = start_activated(s, [CGIHOST, "serve", "--socket-dir", s.dir, "--idle-exit", "2"], maker)
    try:
        assert wait_for(lambda: "serving on" in s.log.read_text(), 20), s.log.read_text()
        s.pid = s.reaper_child()
        script = s.script("who.py", WHO)
        r = s.run([script])
        if maker == "root, left root's":
            assert r.returncode == 0 and not served(s, r), (r.stdout, s.pid)
        else:
            assert served(s, r), (r.stdout, s.pid, s.log.read_text())
        # It exits when idle and leaves the socket it did not make.
        assert wait_for(lambda: s.proc.poll() is not None, 30)
        assert sock.exists()
    finally:
        s.stop()


def test_a_socket_activated_server_keeps_its_socket_past_stop_wait(base):
    """No second instance of a socket-activated unit starts while the first
    runs: past --stop-wait with a request still running, it keeps the socket
    and answers at once (run it yourself), rather than let clients wait
    their time-out in a backlog nobody accepts."""
    s = Server(base)
    sock = start_activated(s, [CGIHOST, "serve", "--socket-dir", s.dir, "--stop-wait", "1"])
    try:
        assert wait_for(lambda: "serving on" in s.log.read_text(), 20), s.log.read_text()
        s.pid = s.reaper_child()
        script = s.script("sleep.py", SLEEPER)
        p, pid, ppid = start_client(s, [script])
        assert ppid == s.pid
        subprocess.run(as_user([CGIHOST, "stop"]), env=s.env(), stdout=subprocess.DEVNULL, timeout=30)
        time.sleep(1.5)  # past --stop-wait
        who = s.script("who.py", WHO)
        t = time.monotonic()
        r = s.run([who])
        assert r.returncode == 0 and not served(s, r)
        assert time.monotonic() - t < 1.5, "waited for an answer"
        assert "leaving the socket" not in s.log.read_text()
        p.send_signal(signal.SIGTERM)  # still passed on
        p.communicate(timeout=30)
        assert p.returncode == 128 + signal.SIGTERM
        assert wait_for(lambda: s.proc.poll() is not None, 10), s.log.read_text()
        assert sock.exists()
    finally:
        s.stop()


def test_the_client_is_static_and_on_musl_where_installed():
    """The client is what a web server executes per request: static, without
    libpython, and on musl where musl-gcc is installed (make deps installs
    it), whose start costs about 0.2 ms less than static glibc's here."""
    data = CGIHOST.read_bytes()
    if b"libasan" in data or b"__asan_init" in data:
        pytest.skip("a sanitizer build links the client dynamically")
    assert b"libpython" not in data and b"Py_Initialize" not in data
    elf = subprocess.run(["readelf", "-lW", str(CGIHOST)], capture_output=True, text=True, check=True).stdout
    assert "INTERP" not in elf, "the client is not static"
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc is not installed: the client is on static glibc")
    notes = subprocess.run(["readelf", "-nW", str(CGIHOST)], capture_output=True, text=True, check=True).stdout
    assert "NT_GNU_ABI_TAG" not in notes and b"glibc" not in data, "the client is on glibc"


@pytest.mark.skipif(not IS_ROOT, reason="a set-user-ID copy of root's needs root to make")
@pytest.mark.parametrize("mode", [0o4755, 0o2755], ids=["setuid", "setgid"])
def test_a_set_id_copy_runs_nothing(mode):
    """A set-user-ID (or set-group-ID) root copy of cgihost, an admin's
    chmod u+s, ran any script its caller named with euid 0 (in-process: only
    serve refused differing ids): root for every local user."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-setid-"))
    try:
        d.chmod(0o755)
        if os.statvfs(d).f_flag & os.ST_NOSUID:
            pytest.skip("the temporary directory is on a nosuid mount")
        for f in (CGIHOST, CGIHOST_PY):
            shutil.copy2(f, d / f.name)
            os.chown(d / f.name, 0, 0)
            (d / f.name).chmod(mode)
        script = d / "who.py"
        script.write_text("import os\nprint('ids', os.geteuid(), os.getegid())\n")
        script.chmod(0o644)
        for argv in ([script], ["--", script], ["status", "--user", USER], ["serve"]):
            r = subprocess.run(as_user([d / CGIHOST.name, *argv], user=STRANGER),
                               env={"PATH": "/usr/bin:/bin", "CGIHOST_NO_AUTOSTART": "1",
                                    "CGIHOST_SOCKET_DIR": str(d / "sock")},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            assert r.returncode == 1 and b"ids" not in r.stdout, (argv, r)
            assert b"real and effective user or group ids that differ" in r.stderr, (argv, r)
    finally:
        shutil.rmtree(d, ignore_errors=True)
