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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cgihost", default=str(ROOT / "build" / "cgihost"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "60")))
    a = ap.parse_args()
    cgihost = str(pathlib.Path(a.cgihost).resolve())
    hello_get(cgihost, a.runs)


if __name__ == "__main__":
    sys.exit(main())
