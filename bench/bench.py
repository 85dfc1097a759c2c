#!/usr/bin/python3
"""make bench: figures from side-by-side runs on this machine.

Every comparison is one hyperfine invocation, so the commands alternate under
the same load, and the figure reported is the median and the ratio of medians.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"


def hyperfine(commands, env, runs, warmup=5):
    """Runs hyperfine on named commands; returns {name: median seconds}."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = ["hyperfine", "-N", "--style", "none", "-w", str(warmup), "-r", str(runs),
                "--export-json", out.name]
        for name, cmd in commands:
            args += ["-n", name, cmd]
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
        data = json.load(open(out.name))
    return {r["command"]: r["median"] for r in data["results"]}


def hello_get(cgihost, runs):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-bench-"))
    fixed = tmp / "hello.py"
    fixed.write_bytes((ROOT / "scripts" / "hello.py").read_bytes().replace(
        "\u00a0".encode(), b" "))
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET",
           "QUERY_STRING": "name=Ada&happy=on", "CGIHOST_NO_SERVER": "1"}
    cmds = [("python3", f"{PYTHON} {fixed}"),
            ("cgihost", f"{cgihost} {ROOT / 'scripts' / 'hello.py'}")]
    outs = {subprocess.run(cmd.split(), env=env, capture_output=True).stdout for _, cmd in cmds}
    if len(outs) != 1:
        print("== hello.py GET: the two commands print different bytes; not timed\n")
        return
    print(f"== hello.py GET, cold start: hyperfine -N -w 5 -r {runs} (one side-by-side run)")
    try:
        med = hyperfine(cmds, env, runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = med["python3"]
    print(f"{'command':<12}{'median ms':>12}{'vs python3':>14}")
    for name, _ in cmds:
        print(f"{name:<12}{med[name] * 1e3:>12.2f}{base / med[name]:>13.2f}x")
    print(f"cgihost is {base / med['cgihost']:.2f}x faster than python3 (goal: 4x)")
    print()


def python313_module(runs):
    """Issue 6: stock python3.13 (pyenv's) with the C cgi module pip-installed
    into a venv (build/bench/venv-3.13, offline, as tests/matrix does) running
    the space-fixed hello.py, against /usr/bin/python3 with the stdlib cgi in
    one hyperfine run; then what `import cgi` costs inside that python3.13
    (median of 30 fresh processes timing the import itself)."""
    import glob
    import shutil
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13.*/bin/python3.13")))
    if not found:
        print("== python3.13 with the C module: SKIP, no pyenv python3.13\n")
        return
    venv = ROOT / "build" / "bench" / "venv-3.13"
    python = venv / "bin" / "python"
    sos = glob.glob(str(venv / "lib" / "python3.13" / "site-packages" / "cgi.*.so"))
    inputs = [*(ROOT / "shim").rglob("*.[ch]"), ROOT / "setup.py", ROOT / "setup.cfg"]
    newest = max(p.stat().st_mtime for p in inputs)
    if not sos or os.path.getmtime(sos[0]) < newest:
        subprocess.run([found[-1], "-m", "venv", "--clear", venv], check=True)
        # pip builds in the tree, and setuptools keeps an up-to-date-looking
        # build/lib.*/cgi*.so across a change of flags in setup.py.
        for kind in ("lib", "temp"):
            for old in glob.glob(str(ROOT / "build" / f"{kind}.*-cpython-313")):
                shutil.rmtree(old)
        buildenv = ROOT / "build" / "bench" / "buildenv"  # Debian's setuptools, wheel
        buildenv.mkdir(parents=True, exist_ok=True)
        for name in os.listdir("/usr/lib/python3/dist-packages"):
            if name.split("-")[0] in ("setuptools", "pkg_resources", "_distutils_hack", "wheel") \
                    and not (buildenv / name).is_symlink():
                (buildenv / name).symlink_to(pathlib.Path("/usr/lib/python3/dist-packages") / name)
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation",
                        "--disable-pip-version-check", ROOT], check=True,
                       env=dict(os.environ, PYTHONPATH=str(buildenv)), cwd=venv)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-bench-"))
    fixed = tmp / "hello.py"
    fixed.write_bytes((ROOT / "scripts" / "hello.py").read_bytes().replace(
        "\u00a0".encode(), b" "))
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET",
           "QUERY_STRING": "name=Ada&happy=on"}
    cmds = [("python3", f"{PYTHON} {fixed}"), ("python3.13+C", f"{python} {fixed}")]
    print(f"== hello.py GET under stock python3.13 with the C cgi installed: "
          f"hyperfine -N -w 5 -r {runs} (one side-by-side run)")
    med = hyperfine(cmds, env, runs)
    # What an import costs that is not the module's: an empty C extension
    # installed next to cgi (same sys.path position, same loader).
    site = pathlib.Path(sos[0] if sos else glob.glob(
        str(venv / "lib" / "python3.13" / "site-packages" / "cgi.*.so"))[0]).parent
    # Two of them: the second, imported right after the first, is what any
    # C extension costs once the import system is warm.
    inc = subprocess.run([found[-1] + "-config", "--includes"], capture_output=True, text=True,
                         check=True).stdout.split()
    empties = []
    for name in ("_cgihost_empty", "_cgihost_empty2"):
        empties.append(site / (name + sysconfig_suffix(python)))
        (tmp / "empty.c").write_text(
            f"#include <Python.h>\nstatic struct PyModuleDef d = {{PyModuleDef_HEAD_INIT, \"{name}\"}};\n"
            f"PyMODINIT_FUNC PyInit_{name}(void) {{ return PyModuleDef_Init(&d); }}\n")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", *inc, "-o", str(empties[-1]),
                        str(tmp / "empty.c")], check=True)

    def import_ms(module, gc_off=False, first=""):
        probe = (("import gc; gc.disable(); " if gc_off else "") + first +
                 f"import time; t = time.perf_counter_ns(); import {module}; "
                 "print(time.perf_counter_ns() - t)")
        return _median([int(subprocess.run([python, "-c", probe], env=env, check=True,
                                           capture_output=True).stdout) for _ in range(30)]) / 1e6
    imp, imp_nogc = import_ms("cgi"), import_ms("cgi", True)
    emp, emp_nogc = import_ms("_cgihost_empty"), import_ms("_cgihost_empty", True)
    # cgi's own share measured in one process: the empty extension first, so
    # that the import system and site-packages' directory listing are warm,
    # then cgi (dlopen() of its .so, its init and exec).
    own = import_ms("cgi", first="import _cgihost_empty; ")
    floor = import_ms("_cgihost_empty2", first="import _cgihost_empty; ")
    for empty in empties:
        empty.unlink()
    base = med["python3"]
    print(f"{'command':<14}{'median ms':>12}{'vs python3':>14}")
    for name, _ in cmds:
        print(f"{name:<14}{med[name] * 1e3:>12.2f}{base / med[name]:>13.2f}x")
    print(f"import cgi (C module) in python3.13: {imp:.3f} ms, "
          f"{imp / 1e3 / med['python3.13+C'] * 100:.1f}% of its run (goal: under 0.1 ms)")
    print(f"  an empty C extension in the same place: {emp:.3f} ms, so cgi's own share is "
          f"{imp - emp:.3f} ms; with gc disabled first (any import here sets off a collection "
          f"of what start-up left): cgi {imp_nogc:.3f} ms, empty {emp_nogc:.3f} ms")
    print(f"  cgi imported right after the empty extension, in the same process: {own:.3f} ms "
          f"(the import system warm; goal: under 0.1 ms)")
    print(f"  a second empty C extension right after the first: {floor:.3f} ms, what importing any C "
          f"extension costs there (the import system's Python code, dlopen()); cgi costs "
          f"{own - floor:.3f} ms more than that")
    print()
    shutil.rmtree(tmp, ignore_errors=True)


def sysconfig_suffix(python):
    """The extension-module suffix of that interpreter (.cpython-313-....so)."""
    return subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def apache(cgihost, n=3000, c=8, rounds=3):
    """Requests/s from `ab -n N -c C` on hello.py behind one private Apache
    (host/apache/private.py): mod_cgi(d) running /usr/bin/python3 on the
    space-fixed copy, cgihost cold, cgihost with its server, and a static C
    program printing the same bytes. Every response is checked first."""
    import shutil
    import urllib.request
    sys.path.insert(0, str(ROOT / "host" / "apache"))
    import private
    if not os.path.exists(private.APACHE) or not shutil.which("ab"):
        print("== Apache: skipped (apache2 and apache2-utils are not installed)\n")
        return
    qs = "name=Ada&happy=on"
    base = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-bench-apache-"))
    os.chmod(base, 0o755)
    dirs = {d: base / d for d in ("doc", "cold", "py", "static")}
    for d in dirs.values():
        d.mkdir()
        os.chmod(d, 0o755)
    shutil.copyfile(ROOT / "scripts" / "hello.py", dirs["doc"] / "hello.py")
    shutil.copyfile(ROOT / "scripts" / "hello.py", dirs["cold"] / "hello.py")
    fixed = dirs["py"] / "hello.py"
    fixed.write_bytes((ROOT / "scripts" / "hello.py").read_bytes().replace("\u00a0".encode(), b" "))
    os.chmod(fixed, 0o755)
    # The static program: hello.py's exact output for this query, one write().
    out = subprocess.run([PYTHON, str(fixed)], env={"PATH": "/usr/bin:/bin", "REQUEST_METHOD": "GET",
                         "QUERY_STRING": qs, "GATEWAY_INTERFACE": "CGI/1.1"},
                         capture_output=True, check=True).stdout
    lit = "".join(f"\\x{b:02x}" for b in out)
    src = base / "hello.c"
    src.write_text('#include <unistd.h>\nstatic const char out[] = "' + lit + '";\n'
                   "int main(void) { return write(1, out, sizeof out - 1) != sizeof out - 1; }\n")
    static = dirs["static"] / "hello"
    linkage = "static"
    if subprocess.run(["cc", "-O2", "-static", "-o", str(static), str(src)]).returncode != 0:
        linkage = "dynamic"
        subprocess.run(["cc", "-O2", "-o", str(static), str(src)], check=True)
    server = (pathlib.Path(cgihost).parent / "cgihost-py").exists()
    extra = f"""
ScriptAlias /py/ "{dirs['py']}/"
ScriptAlias /static/ "{dirs['static']}/"
<Directory "{base}">
    Require all granted
</Directory>
# cgihost cold: its own Action, whose handler request has CGIHOST_NO_SERVER.
ScriptAlias /cgihost-cold-bin/cgihost "@CGIHOST@"
<Location /cgihost-cold-bin/cgihost>
    SetEnv CGIHOST_NO_SERVER 1
    Require env REDIRECT_STATUS
</Location>
Action cgihost-cold /cgihost-cold-bin/cgihost
Alias /cold/ "{dirs['cold']}/"
<Directory "{dirs['cold']}">
    SetHandler cgihost-cold
</Directory>
"""
    httpd = private.PrivateApache(base / "run", cgihost, dirs["doc"], extra=extra)
    rows = [("python3 (mod_cgi)", "/py/hello.py"), ("cgihost cold", "/cold/hello.py")]
    if server:
        rows.append(("cgihost + server", "/hello.py"))
        # Where the gap to static C goes: the same path with a script that
        # only prints the page, no `import cgi`, no FieldStorage.
        (dirs["doc"] / "bare.py").write_text(
            "import sys\nsys.stdout.buffer.write(%r)\n" % out)
        rows.append(("  same, bare script", "/bare.py"))
    rows.append((f"static C ({linkage})", "/static/hello"))
    body = out.split(b"\r\n\r\n", 1)[1]
    rps = {}
    try:
        httpd.start()
        for name, path in rows:
            url = f"{httpd.url}{path}?{qs}"
            for _ in range(20):  # warm-up; starts cgihost's server
                got = urllib.request.urlopen(url, timeout=30).read()
            if got != body:
                raise SystemExit(f"bench: {name} answers differently: {got[:200]!r}")
        cpu, runs = {}, {}

        def ab(name, path):
            busy0 = _busy_seconds()
            r = subprocess.run(["ab", "-q", "-n", str(n), "-c", str(c), f"{httpd.url}{path}?{qs}"],
                               capture_output=True, text=True, check=True)
            cpu.setdefault(name, []).append((_busy_seconds() - busy0) / n)
            failed = int(next(l.split()[-1] for l in r.stdout.splitlines()
                              if l.startswith("Failed requests")))
            runs.setdefault(name, []).append(float(next(l.split()[3] for l in r.stdout.splitlines()
                                                        if l.startswith("Requests per second"))))
            if failed:
                print(f"bench: {name}: {failed} failed requests")
        # python3 and cold once (100 s and 20 s a run); the fast rows, whose
        # ratio is the goal, in ROUNDS interleaved rounds: a row's figure is
        # its median, the ratio the median of each round's (the machine's
        # speed drifts between rows run minutes apart).
        for name, path in rows[:2]:
            ab(name, path)
        for _ in range(rounds):
            for name, path in rows[2:]:
                ab(name, path)
        rps = {name: _median(v) for name, v in runs.items()}
        cpu = {name: _median(v) for name, v in cpu.items()}
    finally:
        httpd.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"== Apache {httpd.mpm} MPM with mod_{httpd.cgimod}: ab -n {n} -c {c} on hello.py?{qs} "
          f"(the rows after cgihost cold: median of {rounds} interleaved rounds)")
    py = rps[rows[0][0]]
    floor = rps[rows[-1][0]]
    print(f"{'served by':<22}{'requests/s':>12}{'vs python3':>12}{'vs static C':>13}"
          f"{'CPU ms/request':>16}")
    for name, _ in rows:
        print(f"{name:<22}{rps[name]:>12.1f}{rps[name] / py:>11.2f}x{rps[name] / floor:>12.0%}"
              f"{cpu[name] * 1e3:>16.2f}")
    print(f"(CPU: the whole machine's busy time during the row's ab run, /proc/stat, per request: "
          f"Apache, ab, the CGI program and, for cgihost, its server; {os.cpu_count()} CPUs)")
    if server:
        s = rps["cgihost + server"]
        ratios = [a / b for a, b in zip(runs["cgihost + server"], runs[rows[-1][0]])]
        print(f"cgihost + server: {s / py:.1f}x python3 (goal: 8x), "
              f"{_median(ratios):.0%} of static C (goal: 70%; median of the rounds' "
              + ", ".join(f"{r:.0%}" for r in ratios) + ")")
    else:
        print("cgihost + server: not in this build (no cgihost-py next to cgihost)")
    print()


# ---- issue 4: the resident server -------------------------------------------------

def _as_user(argv):
    """Root never uses a server: run as www-data then."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", "--reuid=33", "--regid=33", "--clear-groups", *argv]


def _busy_seconds():
    """The machine's non-idle CPU time so far (/proc/stat), in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")  # user nice system irq softirq


def _tree_cpu(pid):
    """CPU seconds of pid and its reaped children (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


MEM_TAIL = """
import sys as _s
_p = sum(int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.startswith("Private_"))
_s.stderr.write("private_kb %d\\n" % _p)
"""

STATIC_MEM = r"""
#include <stdio.h>
#include <string.h>
int main(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = 0, v;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Private_Clean: %ld", &v) == 1 || sscanf(line, "Private_Dirty: %ld", &v) == 1)
            kb += v;
    fprintf(stderr, "private_kb %ld\n", kb);
    return 0;
}
"""


def server_table(cgihost, runs):
    """Issue 4's table: python3, cgihost cold, cgihost with its server and a
    static C program printing the same bytes, in one hyperfine run; then the
    private memory of one request of each, and where a server request's time
    goes (CGIHOST_TRACE), and whether the pool costs throughput when saturated."""
    import shutil
    cgihost_py = pathlib.Path(cgihost).parent / "cgihost-py"
    if not cgihost_py.exists():
        print("== resident server: skipped (no cgihost-py next to cgihost)\n")
        return
    base = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-bench-srv-"))
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        os.chown(base, 33, 33)
    hello = base / "hello.py"
    hello.write_bytes((ROOT / "scripts" / "hello.py").read_bytes())
    fixed = base / "fixed.py"
    fixed.write_bytes(hello.read_bytes().replace("\u00a0".encode(), b" "))
    (base / "hello-mem.py").write_bytes(hello.read_bytes() + MEM_TAIL.encode())
    (base / "fixed-mem.py").write_bytes(fixed.read_bytes() + MEM_TAIL.encode())
    sock = base / "sock"
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET",
           "QUERY_STRING": "name=Ada&happy=on", "CGIHOST_SOCKET_DIR": str(sock),
           "CGIHOST_NO_AUTOSTART": "1"}
    out = subprocess.run([PYTHON, str(fixed)], env=env, capture_output=True, check=True).stdout
    lit = "".join(f"\\x{b:02x}" for b in out)
    src = base / "hello.c"
    src.write_text('#include <unistd.h>\nstatic const char out[] = "' + lit + '";\n'
                   "int main(void) { return write(1, out, sizeof out - 1) != sizeof out - 1; }\n")
    static = base / "hello-static"
    subprocess.run(["cc", "-O2", "-static", "-o", str(static), str(src)], check=True)
    (base / "mem.c").write_text(STATIC_MEM)
    subprocess.run(["cc", "-O2", "-static", "-o", str(base / "mem-static"), str(base / "mem.c")], check=True)
    for f in base.iterdir():
        os.chmod(f, 0o755)

    def start_server(pool):
        log = open(base / f"server-{pool}.log", "wb")
        p = subprocess.Popen(_as_user([cgihost, "serve", "--socket-dir", str(sock), "--pool", str(pool),
                                       "--idle-exit", "300"]),
                             env={"PATH": "/usr/bin:/bin"}, stdout=log, stderr=log)
        for _ in range(400):
            if (sock / "server.sock").exists():
                break
            time.sleep(0.05)
        return p

    def stop_server(p):
        subprocess.run(_as_user([cgihost, "stop", "--socket-dir", str(sock)]), env={"PATH": "/usr/bin:/bin"},
                       stdout=subprocess.DEVNULL, timeout=60)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    srv = start_server(2)
    try:
        cmds = [("python3", f"{PYTHON} {fixed}"),
                ("cgihost cold", f"{cgihost_py} {hello}"),
                ("cgihost + server", f"{cgihost} {hello}"),
                ("static C", str(static))]
        for name, cmd in cmds:  # the same bytes from each, the server answering
            got = subprocess.run(_as_user(cmd.split()), env=env, capture_output=True)
            if got.stdout != out:
                raise SystemExit(f"bench: {name} answers differently: {got.stdout[:200]!r} {got.stderr!r}")
        for _ in range(20):
            subprocess.run(_as_user([cgihost, str(hello)]), env=env, capture_output=True)
        with tempfile.TemporaryDirectory() as td:
            os.chmod(td, 0o777)
            js = pathlib.Path(td) / "out.json"
            # Output to a pipe hyperfine reads, as a web server's.
            args = ["hyperfine", "-N", "--style", "none", "--output", "pipe", "-w", "20",
                    "-r", str(runs * 5), "--export-json", str(js)]
            for name, cmd in cmds:
                args += ["-n", name, cmd]
            cpu0 = _tree_cpu(srv.pid)
            subprocess.run(_as_user(args), env=env, check=True, stdout=subprocess.DEVNULL)
            cpu1 = _tree_cpu(srv.pid)
            res = json.load(open(js))["results"]
            med = {r["command"]: r["median"] for r in res}
            # CPU of one request: the command's own (user + system, hyperfine's
            # means) and, for the server row, what the server and its children
            # spent over the run (warm-up included), per request.
            cpu = {r["command"]: r["user"] + r["system"] for r in res}
            server_cpu = (cpu1 - cpu0) / (runs * 5 + 20)

        # Private memory of one request (Private_Clean + Private_Dirty, KiB).
        def priv(argv, extra=None):
            r = subprocess.run(_as_user(argv), env={**env, **(extra or {})}, capture_output=True)
            vals = []
            for line in r.stderr.decode().splitlines():
                w = line.split()
                if "private_kb" in w:
                    vals.append(int(w[w.index("private_kb") + 1]))
            return vals
        mem = {
            "python3": _median([priv([PYTHON, str(base / "fixed-mem.py")])[0] for _ in range(5)]),
            "cgihost cold": _median([priv([str(cgihost_py), str(base / "hello-mem.py")])[0] for _ in range(5)]),
            "cgihost + server": _median([sum(priv([cgihost, str(hello)], {"CGIHOST_TRACE": "1"}))
                                         for _ in range(5)]),
            "static C": _median([priv([str(base / "mem-static")])[0] for _ in range(5)]),
        }

        print(f"== hello.py GET, issue 4: hyperfine -N --output pipe -w 20 -r {runs * 5} "
              "(one side-by-side run)")
        py, floor = med["python3"], med["static C"]
        print(f"{'command':<18}{'median ms':>10}{'vs python3':>12}{'vs floor':>10}{'private MiB':>13}")
        for name, _ in cmds:
            print(f"{name:<18}{med[name] * 1e3:>10.3f}{py / med[name]:>11.1f}x{med[name] / floor:>9.2f}x"
                  f"{mem[name] / 1024:>13.2f}")
        s = med["cgihost + server"]
        print(f"cgihost + server: {py / s:.1f}x faster than python3 (goal: 20x), {s / floor:.2f}x the "
              f"static C floor (goal: 2x), {mem['cgihost + server'] / 1024:.2f} MiB private per request "
              "(goal: 3 MiB; client + child)")
        print("cgihost cold runs cgihost-py directly; through the client with CGIHOST_NO_SERVER=1 it "
              "costs one more exec of the static client.")
        print(f"CPU per request (what bounds throughput on a busy server): static C "
              f"{cpu['static C'] * 1e3:.2f} ms; cgihost + server: client {cpu['cgihost + server'] * 1e3:.2f} ms "
              f"+ server and its children {server_cpu * 1e3:.2f} ms (fork, pre-faulting, the script, exit)")
        # Back to back, the pool's refill (a fork and its pre-faulting, about
        # 1 ms of CPU) overlaps the next request on two CPUs. Requests a few
        # ms apart, as on most sites, find the pool refilled and the server
        # idle: the same two rows, 3 ms of sleep before each run.
        with tempfile.TemporaryDirectory() as td:
            os.chmod(td, 0o777)
            js = pathlib.Path(td) / "apart.json"
            args = ["hyperfine", "-N", "--style", "none", "--output", "pipe", "-w", "20",
                    "-r", str(runs * 3), "--prepare", "sleep 0.003", "--export-json", str(js)]
            for name, cmd in cmds[2:]:
                args += ["-n", name, cmd]
            subprocess.run(_as_user(args), env=env, check=True, stdout=subprocess.DEVNULL)
            apart = {r["command"]: r["median"] for r in json.load(open(js))["results"]}
        a, af = apart["cgihost + server"], apart["static C"]
        print(f"requests 3 ms apart (hyperfine --prepare 'sleep 0.003', -r {runs * 3}): cgihost + server "
              f"{a * 1e3:.3f} ms, static C {af * 1e3:.3f} ms: {a / af:.2f}x the floor (back to back: "
              f"{s / floor:.2f}x; static C is slower after a pause too)")
        print()

        # Where a request's time goes: CGIHOST_TRACE=2 timestamps (CLOCK_MONOTONIC) of
        # client and child, as a timeline from the client's main() (without
        # the private-memory readings of CGIHOST_TRACE=1, which take time).
        events = [("client", "connected", "client connected to the server"),
                  ("client", "sent", "client sent the request"),
                  ("child", "dispatched", "server handed it to a pool child"),
                  ("child", "ready", "child read it, sent READY"),
                  ("client", "ready", "client got READY"),
                  ("client", "go", "client sent GO with fds 0-2 and cwd"),
                  ("child", "go", "child got GO"),
                  ("child", "setup", "child became the request (env, fds, stdio)"),
                  ("child", "done", "child ran hello.py and finalized"),
                  ("client", "status", "client got STATUS, exits")]
        at = {e[2]: [] for e in events}
        privs = []
        for _ in range(max(runs, 50)):
            # stdout to /dev/null and stderr to a file: a pipe this process
            # reads would wake it while the request ends, and on 2 CPUs that
            # delayed the client's STATUS by 0.4 ms in the timeline.
            with tempfile.TemporaryFile() as ef:
                subprocess.run(_as_user([cgihost, str(hello)]), env={**env, "CGIHOST_TRACE": "2"},
                               stdout=subprocess.DEVNULL, stderr=ef)
                ef.seek(0)
                err = ef.read()
            d = {}
            for l in err.decode().splitlines():
                w = l.split()
                if w and w[0] == "cgihost-trace":
                    it = iter(w[2:])
                    d[w[1]] = dict(zip(it, map(int, it)))
            if len(d) < 2:
                continue
            t0 = d["client"]["main"]
            for who, what, label in events:
                at[label].append((d[who][what] - t0) / 1e3)
            privs.append((d["client"]["private_kb"], d["child"]["private_kb"],
                          d["child"].get("faults_run", -1)))
        n_ok = len(at[events[0][2]])
        print(f"== where a server request's time goes: median of {n_ok} traced requests, "
              "us since the client's main()")
        prev = 0.0
        for _, _, label in events:
            m = _median(at[label])
            print(f"{label:<46}{m:>8.0f}{m - prev:>+8.0f}")
            prev = m
        total = med["cgihost + server"] * 1e6
        print(f"{'before main() and after exit (exec, exit)':<46}{total - prev:>8.0f}   "
              f"(hyperfine median {total:.0f} us; static C floor {floor * 1e6:.0f} us)")
        print(f"page faults in the script's run: {_median([p[2] for p in privs])} "
              "(the pool child took the rest ahead)")
        # import cgi as a script run by the server sees it: preloaded, as
        # upload() measures it on the cold path.
        probe = base / "imp.py"
        probe.write_text(IMPORT_PROBE)
        os.chmod(probe, 0o644)
        imp, _ = import_probe_ms(_as_user([cgihost, str(probe)]), env)
        print(f"import cgi in a script the server runs: {imp:.4f} ms (cgi is preloaded in the server)")
        print()
    finally:
        stop_server(srv)

    # The pool under saturation: the same burst with and without one.
    n, conc = 400, 8
    loop = f"seq {n} | xargs -P {conc} -I@ {cgihost} {hello}"
    rates = {}
    for pool in (2, 0):
        srv = start_server(pool)
        try:
            for _ in range(10):
                subprocess.run(_as_user([cgihost, str(hello)]), env=env, capture_output=True)
            t = time.monotonic()
            subprocess.run(_as_user(["sh", "-c", loop]), env=env, stdout=subprocess.DEVNULL, check=True)
            rates[pool] = n / (time.monotonic() - t)
        finally:
            stop_server(srv)
    print(f"== the pool under saturation: {n} requests, {conc} at a time")
    print(f"pool 2: {rates[2]:.0f} requests/s; pool 0 (fork per request): {rates[0]:.0f} requests/s")
    print()
    shutil.rmtree(base, ignore_errors=True)


# ---- issue 3: upload -------------------------------------------------------------

UPLOAD_BOUNDARY = b"----WebKitFormBoundaryX3bY9kQp7LmZ2vWc"  # Chromium's shape


def _upload_parts(size):
    """A body of exactly SIZE bytes as (head, file bytes, tail): three text
    fields, then one file part whose data fills the rest."""
    b = UPLOAD_BOUNDARY

    def field(name, value):
        return (b"--" + b + b'\r\nContent-Disposition: form-data; name="' + name +
                b'"\r\n\r\n' + value + b"\r\n")
    head = (field(b"title", b"holiday photos") + field(b"note", "caf\u00e9 ".encode() * 40) +
            field(b"empty", b"") + b"--" + b +
            b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--" + b + b"--\r\n"
    return head, size - len(head) - len(tail), tail


def _upload_block():
    import random
    # Random bytes: CR, LF and '-' at their natural rates, as in a real file.
    return random.Random(3).randbytes(1 << 20)


def _write_upload(fd, size):
    """Writes the SIZE-byte body to fd; returns the file part's SHA-256."""
    import hashlib
    head, n, tail = _upload_parts(size)
    block = memoryview(_upload_block())
    h = hashlib.sha256()

    def put(data):
        data = memoryview(data)
        while data:
            data = data[os.write(fd, data):]
    put(head)
    while n > 0:
        chunk = block[:min(n, len(block))]
        h.update(chunk)
        put(chunk)
        n -= len(chunk)
    put(tail)
    return h.hexdigest()


def _upload_run(argv, env, body=None, size=None, out=None):
    """Runs argv with the body on stdin through a pipe, as Apache delivers it:
    from `cat BODY`, or, without BODY, from a thread generating SIZE bytes (no
    file kept); with SIZE 0, stdin is /dev/null. OUT: argv's stdout goes to
    that file. Returns (wall seconds, peak RSS KiB of argv's process, its
    stdout). The peak comes from GNU time's wait4(): a child of this big
    python process would inherit its high-water mark across exec."""
    import threading
    rssf = tempfile.NamedTemporaryFile(prefix="cgihost-bench-rss-")
    argv = ["/usr/bin/time", "-f", "%M", "-o", rssf.name, *argv]
    t0 = time.perf_counter()
    feeder = thread = None
    r = None
    if size == 0:
        stdin = subprocess.DEVNULL
    elif body is not None:
        feeder = subprocess.Popen(["cat", str(body)], stdout=subprocess.PIPE)
        stdin = feeder.stdout
    else:
        r, w = os.pipe2(os.O_CLOEXEC)
        stdin = r

        def gen():
            try:
                _write_upload(w, size)
            except BrokenPipeError:
                pass
            finally:
                os.close(w)
        thread = threading.Thread(target=gen)
        thread.start()
    sink = open(out, "wb") if out else subprocess.PIPE
    # stderr kept aside (the stdlib's DeprecationWarning), shown on a failure
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=stdin, stdout=sink, stderr=errf, env=env)
    if feeder:
        feeder.stdout.close()
    elif r is not None:
        os.close(r)
    got = p.stdout.read() if not out else b""
    p.wait()
    wall = time.perf_counter() - t0
    if out:
        sink.close()
    if feeder:
        feeder.wait()
    if thread:
        thread.join()
    errf.seek(0)
    err = errf.read()
    errf.close()
    if p.returncode != 0:
        raise SystemExit(f"bench: {argv} exited {p.returncode}: {err.decode(errors='replace')}")
    with rssf:
        kb = int(open(rssf.name).read().split()[-1])
    return wall, kb, got


# The import statement alone, timed inside the script; prints ns and whether
# cgi is a built-in module there.
IMPORT_PROBE = ("import sys, time\nt = time.perf_counter_ns()\nimport cgi\n"
                "print(time.perf_counter_ns() - t, 'cgi' in sys.builtin_module_names)\n")


def import_probe_ms(argv, env):
    """IMPORT_PROBE run by argv 30 times: (median ms, whether cgi is built in)."""
    outs = [subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout.split()
            for _ in range(30)]
    return _median([int(o[0]) for o in outs]) / 1e6, outs[0][1]


def upload(cgihost, mib=256, runs=5):
    """Issue 3: a MIB MiB multipart/form-data body (three text fields, one file
    part) piped to stdin; rows: stdlib FieldStorage under /usr/bin/python3,
    cgihost's (CGIHOST_NO_SERVER=1) and the copy floor `cat BODY > FILE`, all in
    the same TMPDIR, RUNS rounds interleaved, median wall time, largest peak
    RSS. Then cgihost's peak RSS at 64 MiB and 1 GiB (bodies generated into the
    pipe, never stored) and what `import cgi` costs in cgihost."""
    import shutil
    script = ROOT / "tests" / "scripts" / "mp_upload.py"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-bench-upload-"))
    size = mib << 20
    free = shutil.disk_usage(tmp).free
    if free < 3 * size + (1 << 30):
        print(f"== upload: skipped, {free >> 20} MiB free in {tmp.parent}\n")
        shutil.rmtree(tmp, ignore_errors=True)
        return

    def env_for(n):
        return {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": "multipart/form-data; boundary=" + UPLOAD_BOUNDARY.decode(),
                "CONTENT_LENGTH": str(n), "TMPDIR": str(tmp), "CGIHOST_NO_SERVER": "1"}
    engines = [("python3 (stdlib)", [PYTHON, str(script)]), ("cgihost", [cgihost, str(script)])]
    try:
        # Both engines give the file part's exact bytes (1 MiB + a bit).
        small = (1 << 20) + 12345
        for name, argv in engines:
            r, w = os.pipe2(os.O_CLOEXEC)
            p = subprocess.Popen(argv, stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env={**env_for(small), "MP_UPLOAD_HASH": "1"})
            os.close(r)
            want = _write_upload(w, small)
            os.close(w)
            got, err = (x.decode(errors="replace") for x in p.communicate())
            if p.returncode != 0 or f"sha256 {want}" not in got or "title 'holiday photos'" not in got:
                raise SystemExit(f"bench: upload: {name} got it wrong: {got!r} {err}")
        body = tmp / "body"
        with open(body, "wb") as f:
            _write_upload(f.fileno(), size)
        floor_out = tmp / "floor.out"
        # The last row reads the pipe and writes nothing: what any consumer of
        # the piped body pays before it does anything with it.
        rows = engines + [("cat BODY > FILE", None), ("cat BODY | cat > FILE", ["cat"]),
                          ("cat BODY | cat >/dev/null", ["cat", "-"])]
        walls = {n: [] for n, _ in rows}
        rss = {n: 0 for n, _ in rows}
        file_size = _upload_parts(size)[1]
        for _ in range(runs):
            for name, argv in rows:
                os.sync()  # every row starts with no dirty pages left by the one before
                if argv is None:
                    wall, kb, _ = _upload_run(["cat", str(body)], env_for(size), size=0,
                                              out=floor_out)
                elif argv[0] == "cat":
                    wall, kb, _ = _upload_run(argv, env_for(size), body=body,
                                              out=floor_out if argv == ["cat"] else "/dev/null")
                else:
                    wall, kb, got = _upload_run(argv, env_for(size), body=body)
                    if f"size {file_size}\n".encode() not in got:
                        raise SystemExit(f"bench: upload: {name} got {got!r}")
                floor_out.unlink(missing_ok=True)
                walls[name].append(wall)
                rss[name] = max(rss[name], kb)
        body.unlink()
        med = {n: _median(w) for n, w in walls.items()}
        floor = med["cat BODY > FILE"]
        print(f"== upload: {mib} MiB multipart/form-data body piped to stdin, TMPDIR={tmp}, "
              f"median of {runs} interleaved rounds")
        print(f"{'command':<27}{'wall s':>9}{'MB/s':>9}{'peak RSS MiB':>14}{'vs floor':>10}")
        for name, _ in rows:
            print(f"{name:<27}{med[name]:>9.3f}{size / 1e6 / med[name]:>9.0f}{rss[name] / 1024:>14.1f}"
                  f"{med[name] / floor:>9.2f}x")
        c, s = med["cgihost"], med["python3 (stdlib)"]
        print(f"cgihost: {c / floor:.2f}x the copy floor (goal: at most 1.3x), {s / c:.1f}x faster "
              f"than the stdlib (goal: 3x), peak RSS {rss['cgihost'] / 1024:.1f} MiB (goal: under 16)")
        pipe = med["cat BODY | cat >/dev/null"]
        print(f"reading the piped body alone, writing nothing: {pipe / floor:.2f}x the copy floor; "
              f"cgihost is {c / pipe:.2f}x that, {c / med['cat BODY | cat > FILE']:.2f}x a pipe-fed copy")
        # Peak RSS does not grow with the size of the upload.
        sizes = [64 << 20, 1 << 30]
        peaks = []
        for n in sizes:
            if shutil.disk_usage(tmp).free < n + (1 << 30):
                peaks.append(None)
                continue
            _, kb, got = _upload_run(engines[1][1], env_for(n), size=n)
            if f"size {_upload_parts(n)[1]}\n".encode() not in got:
                raise SystemExit(f"bench: upload: cgihost got {got!r} for {n} bytes")
            peaks.append(kb)
        print("cgihost peak RSS: " + ", ".join(
            f"{n >> 20} MiB body: " + (f"{kb / 1024:.1f} MiB" if kb else "skipped (disk)")
            for n, kb in zip(sizes, peaks)) + f", {mib} MiB body: {rss['cgihost'] / 1024:.1f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # import cgi in cgihost: the import statement itself, median of 30 runs.
    probe = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-bench-import-"))
    try:
        (probe / "imp.py").write_text(IMPORT_PROBE)
        env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET",
               "CGIHOST_NO_SERVER": "1"}
        imp, builtin = import_probe_ms([cgihost, str(probe / "imp.py")], env)
        print(f"import cgi in cgihost, cold (CGIHOST_NO_SERVER=1): {imp:.3f} ms (goal: under 0.1 ms; "
              f"built in: {builtin}; with the server it is preloaded, see the server section)")
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cgihost", default=str(ROOT / "build" / "cgihost"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "60")))
    a = ap.parse_args()
    cgihost = str(pathlib.Path(a.cgihost).resolve())
    hello_get(cgihost, a.runs)
    python313_module(a.runs)
    server_table(cgihost, a.runs)
    apache(cgihost)
    upload(cgihost, int(os.environ.get("BENCH_UPLOAD_MIB", "256")))


if __name__ == "__main__":
    sys.exit(main())
