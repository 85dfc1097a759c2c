"""A private Apache serving a directory through cgihost: used by host/demo,
tests/test_apache.py and bench/bench.py.

Everything it writes is under its run directory; it reads no system
configuration but /etc/mime.types and Debian's module files. Started as root,
Apache runs its children as www-data, as Debian does, so the files they need
(cgihost, the scripts, the run directory with mod_cgid's socket) must be
reachable by www-data: when they are not (a checkout under /root), they are
copied to a fresh world-readable directory under /tmp first.
"""
import ctypes
import errno
import grp
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TEMPLATE = HERE / "private.conf.in"
SNIPPET = HERE / "cgihost.conf"
APACHE = "/usr/sbin/apache2"
USER = "www-data"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unprivileged_port_start():
    """The lowest port a user other than root may listen on."""
    try:
        return int(pathlib.Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def reachable_by(user, paths):
    """True when `user` can read (and traverse to) every path, checked in a
    child that becomes that user."""
    if os.geteuid() != 0:
        return True
    pw = pwd.getpwnam(user)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            ok = all(os.access(p, os.R_OK | os.X_OK) for p in paths)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _die_with_parent():
    """In the child before exec: SIGTERM when the process that started
    Apache dies, so a killed test run or demo leaves no Apache behind."""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def cgi_module(mpm):
    """Debian pairs mod_cgid with the threaded MPMs and mod_cgi with prefork."""
    return "cgi" if mpm == "prefork" else "cgid"


class PrivateApache:
    """Apache on 127.0.0.1:port serving docroot's .py files through cgihost.

    extra: more configuration, written to run/extra.conf (the template
    includes it last). without: modules not to load ("actions", ...), for
    tests. Call start(), then stop(); or use it as a context manager.
    """

    def __init__(self, run_dir, cgihost, docroot, port=None, extra="", mpm="event",
                 user=USER, stage=None, without=()):
        self.run = pathlib.Path(run_dir).resolve()
        self.cgihost = pathlib.Path(cgihost).resolve()
        self.docroot = pathlib.Path(docroot).absolute()
        self.port = port or free_port()
        self.extra = extra
        self.mpm = mpm
        self.cgimod = cgi_module(mpm)
        self.user = user if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.group = "www-data" if os.geteuid() == 0 else grp.getgrgid(os.getegid()).gr_name
        self.stage = stage
        self.without = tuple(without)
        self.staged_dir = None
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pidfile(self):
        return self.run / "httpd.pid"

    def _prepare(self):
        self.run.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run, 0o755)
        for log in ("error.log", "access.log"):
            (self.run / log).touch()
        stage = None

        def staged():
            nonlocal stage
            if stage is None:
                stage = pathlib.Path(self.stage or tempfile.mkdtemp(prefix="cgihost-apache-"))
                stage.mkdir(parents=True, exist_ok=True)
                os.chmod(stage, 0o755)
                self.staged_dir = stage
            return stage

        root = os.geteuid() == 0
        if root and not reachable_by(self.user, [self.cgihost]):
            # cgihost and what it execs next to itself (cgihost-py).
            for f in self.cgihost.parent.glob(self.cgihost.name + "*"):
                if f.is_file():
                    shutil.copy2(f, staged() / f.name)
            self.cgihost = staged() / self.cgihost.name
        if root and not reachable_by(self.user, [self.docroot]):
            if (staged() / "docroot").exists():
                shutil.rmtree(staged() / "docroot")
            shutil.copytree(self.docroot, staged() / "docroot", symlinks=True)
            os.chmod(staged() / "docroot", 0o755)
            self.docroot = staged() / "docroot"
        # mod_cgid's socket and cgihost's server socket directory: where the
        # children, as www-data, can reach them.
        self.sock_dir = self.run if not root or reachable_by(self.user, [self.run]) else staged()
        self.cgihost_sockets = self.sock_dir / "cgihost-sockets"
        self.cgihost_sockets.mkdir(mode=0o700, exist_ok=True)
        if root:
            pw = pwd.getpwnam(self.user)
            os.chown(self.cgihost_sockets, pw.pw_uid, pw.pw_gid)
        conf = TEMPLATE.read_text()
        for k, v in {"RUN": self.run, "PORT": self.port, "DOCROOT": self.docroot,
                     "MPM": self.mpm, "CGIMOD": self.cgimod, "USER": self.user,
                     "GROUP": self.group, "CGIHOST": self.cgihost, "SNIPPET": SNIPPET,
                     "SOCK": self.sock_dir / "cgid.sock",
                     "CGIHOST_SOCKETS": self.cgihost_sockets}.items():
            conf = conf.replace(f"@{k}@", str(v))
            self.extra = self.extra.replace(f"@{k}@", str(v))
        for m in self.without:
            conf = conf.replace(f"\nLoadModule {m}_module ", f"\n#LoadModule {m}_module ")
        (self.run / "httpd.conf").write_text(conf)
        (self.run / "extra.conf").write_text(self.extra)

    def configtest(self):
        return subprocess.run([APACHE, "-t", "-f", str(self.run / "httpd.conf")],
                              capture_output=True, text=True)

    def bind_error(self):
        """The OSError that binding 127.0.0.1:port gives, as Apache would
        bind it, or None: EADDRINUSE where something listens already (a
        connect would reach that other program)."""
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Apache
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError as e:
                return e
        return None

    def start(self, timeout=15):
        e = self.bind_error()
        if e is not None and e.errno == errno.EADDRINUSE:
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is in use by another program")
        if e is not None:  # EACCES: a port below ip_unprivileged_port_start, without root
            raise RuntimeError(f"cannot listen on 127.0.0.1:{self.port}: {e.strerror}"
                               + (f" (a port below {unprivileged_port_start()} needs root)"
                                  if e.errno == errno.EACCES else ""))
        self._prepare()
        t = self.configtest()
        if t.returncode != 0:
            raise RuntimeError(f"apache2 -t: {t.stderr}")
        # Apache's own environment: empty but PATH, as under systemd.
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C"}
        self.proc = subprocess.Popen(
            [APACHE, "-f", str(self.run / "httpd.conf"), "-DFOREGROUND"],
            env=env, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"apache2 exited with {self.proc.returncode}: "
                                   + self.error_log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            # listening, and still ours: not another program that took the
            # port meanwhile while Apache failed to bind it
            time.sleep(0.1)
            if self.proc.poll() is None:
                return self
        self.stop()
        raise RuntimeError("apache2 did not start listening: " + self.error_log())

    def stop(self, timeout=15):
        """Stops Apache and waits until its whole process group is gone;
        removes the copy made for www-data, also when start() did not get
        as far as starting Apache (interrupted, or apache2 -t failed)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            self.proc = None
            self.stop_cgihost_server()
        if self.staged_dir is not None:
            shutil.rmtree(self.staged_dir, ignore_errors=True)
            self.staged_dir = None

    def stop_cgihost_server(self):
        """Stops the resident cgihost server this Apache's requests started
        (in its own socket directory), where the build has one."""
        if not (self.cgihost.parent / "cgihost-py").exists():
            return
        env = {"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(self.cgihost_sockets)}
        as_user = {"user": self.user, "group": self.group} if os.geteuid() == 0 else {}
        try:
            subprocess.run([str(self.cgihost), "stop"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=15, **as_user)
        except (OSError, subprocess.SubprocessError):
            pass

    def error_log(self):
        try:
            return (self.run / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def stop_pidfile(pidfile, timeout=15):
    """Stops the Apache whose parent wrote pidfile. Returns False if none ran."""
    try:
        pid = int(pathlib.Path(pidfile).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
