#!/usr/bin/python3
"""make bench: figures from side-by-side runs on this machine.

Every comparison is one hyperfine invocation, so the commands alternate under
the same load, and the figure reported is the median and the ratio of medians.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

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
    print(f"== hello.py GET, cold start: hyperfine -N -w 5 -r {runs} (one side-by-side run)")
    med = hyperfine(cmds, env, runs)
    base = med["python3"]
    print(f"{'command':<12}{'median ms':>12}{'vs python3':>14}")
    for name, _ in cmds:
        print(f"{name:<12}{med[name] * 1e3:>12.2f}{base / med[name]:>13.2f}x")
    print(f"cgihost is {base / med['cgihost']:.2f}x faster than python3 (goal: 4x)")
    print()


def apache(cgihost, n=3000, c=8):
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
        for name, path in rows:
            r = subprocess.run(["ab", "-q", "-n", str(n), "-c", str(c), f"{httpd.url}{path}?{qs}"],
                               capture_output=True, text=True, check=True)
            failed = int(next(l.split()[-1] for l in r.stdout.splitlines()
                              if l.startswith("Failed requests")))
            rps[name] = float(next(l.split()[3] for l in r.stdout.splitlines()
                                   if l.startswith("Requests per second")))
            if failed:
                print(f"bench: {name}: {failed} failed requests")
    finally:
        httpd.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"== Apache {httpd.mpm} MPM with mod_{httpd.cgimod}: ab -n {n} -c {c} on hello.py?{qs}")
    py = rps[rows[0][0]]
    floor = rps[rows[-1][0]]
    print(f"{'served by':<22}{'requests/s':>12}{'vs python3':>12}{'vs static C':>13}")
    for name, _ in rows:
        print(f"{name:<22}{rps[name]:>12.1f}{rps[name] / py:>11.2f}x{rps[name] / floor:>12.0%}")
    if server:
        s = rps["cgihost + server"]
        print(f"cgihost + server: {s / py:.1f}x python3 (goal: 8x), "
              f"{s / floor:.0%} of static C (goal: 70%)")
    else:
        print("cgihost + server: not in this build (no cgihost-py next to cgihost)")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cgihost", default=str(ROOT / "build" / "cgihost"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "60")))
    a = ap.parse_args()
    cgihost = str(pathlib.Path(a.cgihost).resolve())
    hello_get(cgihost, a.runs)
    apache(cgihost)


if __name__ == "__main__":
    sys.exit(main())
