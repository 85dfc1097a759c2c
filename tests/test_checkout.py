"""make test and make bench from a checkout that www-data cannot reach.

As root, the tests and the benchmark run servers, clients and Apache's CGIs
as www-data. A new machine's admin clones into /root (mode 0700): there
tests/www-reachable runs the suites in a copy of the checkout that www-data
can read, brings back the build artifacts and removes the copy.
"""
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="www-data's reach is a root run's matter")

# What the command does, in the directory it runs in: says where that is,
# whether www-data can run the program there and whether .git came along,
# leaves a file in the checkout and an artifact, and ends with status 3.
COMMAND = r"""
pwd > ran-here
setpriv --reuid=www-data --regid=www-data --clear-groups -- test -x build/cgihost && echo www-data-runs-it
test -e .git && echo has-git
mkdir -p build/artifacts && echo png > build/artifacts/shot.png
exit 3
"""


def checkout(parent, name="cgihost"):
    co = parent / name
    (co / "tests").mkdir(parents=True)
    (co / "build").mkdir()
    shutil.copy2(ROOT / "tests" / "www-reachable", co / "tests")
    (co / "tests" / "conftest.py").write_text("")
    (co / "build" / "cgihost").write_text("#!/bin/sh\n")
    os.chmod(co / "build" / "cgihost", 0o755)
    (co / ".git").mkdir()
    (co / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return co


def run(co):
    return subprocess.run([str(co / "tests" / "www-reachable"), "build/cgihost", "sh", "-c", COMMAND],
                          cwd=co, capture_output=True, text=True, timeout=60)


def test_a_checkout_under_a_private_directory_runs_in_a_copy_that_www_data_reaches():
    parent = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-private-"))  # 0700, as /root
    try:
        assert stat.S_IMODE(parent.stat().st_mode) == 0o700
        co = checkout(parent)
        r = run(co)
        assert r.returncode == 3, r.stderr
        assert "www-data-runs-it" in r.stdout, r.stdout + r.stderr
        assert "running in a copy" in r.stdout
        copy = pathlib.Path(r.stdout.split("running in a copy, ")[1].split()[0])
        assert copy.parent == pathlib.Path("/tmp") and copy.name.startswith("cgihost-checkout.")
        assert not copy.exists(), "the copy stays"
        assert not (co / "ran-here").exists(), "it ran in the checkout"
        assert "has-git" not in r.stdout
        assert (co / "build" / "artifacts" / "shot.png").read_text() == "png\n"
    finally:
        shutil.rmtree(parent)


def test_a_checkout_www_data_reaches_runs_in_place():
    parent = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-open-"))
    try:
        os.chmod(parent, 0o755)
        co = checkout(parent)
        os.chmod(co, 0o755)
        r = run(co)
        assert r.returncode == 3, r.stderr
        assert "running in a copy" not in r.stdout
        assert "www-data-runs-it" in r.stdout, r.stdout + r.stderr
        assert (co / "ran-here").read_text().strip() == str(co)
    finally:
        shutil.rmtree(parent)


# The test interpreter make test-py is given (TEST_PYTHON): says where it
# runs, with which cgihost, and whether www-data can run that.
FAKE_PYTHON = r"""#!/bin/sh
echo "ran in $PWD with $CGIHOST"
setpriv --reuid=www-data --regid=www-data --clear-groups -- test -x "$CGIHOST" && echo www-data-runs-it
exit 0
"""


@pytest.mark.parametrize("name,absolute", [("cgihost", True), ("my cgihost", False)])
def test_make_test_py_in_a_private_checkout_runs_the_copy_s_cgihost(name, absolute):
    """make test-py BUILD=$PWD/build from a checkout that www-data cannot
    reach: the copy was made, but its suites were given the checkout's
    cgihost by its absolute path, out of www-data's reach still (make bench
    the same). And a checkout path with a space, which make cannot split
    right, runs in the copy, whose path has none."""
    parent = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-private-"))
    try:
        co = checkout(parent, name)
        for f in ("Makefile", "VERSION"):
            shutil.copy2(ROOT / f, co / f)
        fake = parent / "fake-python"
        fake.write_text(FAKE_PYTHON)
        os.chmod(fake, 0o755)
        build = str(co / "build") if absolute else "build"
        prereqs = [f"{build}/{p}" for p in ("cgihost", "cgihost-py", "tests/test_nbsp")]
        argv = ["make", "-s", *(a for p in prereqs for a in ("-o", p)), "test-py", f"BUILD={build}",
                f"TEST_PYTHON={fake}"]
        r = subprocess.run(argv, cwd=co, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "running in a copy" in r.stdout, r.stdout
        ran = [l for l in r.stdout.splitlines() if l.startswith("ran in ")]
        assert len(ran) == 2 and all(str(co) not in l for l in ran), r.stdout
        assert r.stdout.count("www-data-runs-it") == len(ran), r.stdout
    finally:
        shutil.rmtree(parent)


def test_a_checkout_made_under_umask_077_runs_in_a_copy_that_www_data_reaches():
    """A root whose umask is 077 or 027 (a hardened machine's) clones and
    builds files that only root can read: the copy kept their modes, and
    www-data could reach it no better than the checkout."""
    parent = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-private-"))
    try:
        co = checkout(parent)
        for d, dirs, files in os.walk(co):
            for name in dirs + files:
                p = pathlib.Path(d) / name
                p.chmod(stat.S_IMODE(p.stat().st_mode) & 0o700)
        r = run(co)
        assert r.returncode == 3, r.stderr
        assert "running in a copy" in r.stdout
        assert "www-data-runs-it" in r.stdout, r.stdout + r.stderr
    finally:
        shutil.rmtree(parent)


def test_a_program_out_of_reach_even_in_the_copy_is_said():
    """An absolute PROGRAM outside the checkout that www-data cannot reach
    (BUILD=/root/build): a copy of the checkout does not help; say so rather
    than run every test to fail on it."""
    parent = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-private-"))
    try:
        co = checkout(parent)
        (parent / "elsewhere").mkdir()
        shutil.copy2(co / "build" / "cgihost", parent / "elsewhere" / "cgihost")
        r = subprocess.run([str(co / "tests" / "www-reachable"), str(parent / "elsewhere" / "cgihost"),
                            "sh", "-c", COMMAND], cwd=co, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"www-data cannot run {parent}/elsewhere/cgihost" in r.stderr, r.stderr
        copy = pathlib.Path(r.stdout.split("running in a copy, ")[1].split()[0])
        assert not copy.exists(), "the copy stays"
    finally:
        shutil.rmtree(parent)


def default_signals():
    """As at a terminal, whatever the run of the tests ignores (nohup, &)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_copy_interrupted_goes(sig):
    """Ctrl-C, a kill of the job or its terminal closed (SIGHUP, to the whole
    process group) while the command runs in the copy: the copy is removed.
    On SIGHUP it stayed under /tmp."""
    parent = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-private-"))
    copy = p = None
    try:
        co = checkout(parent)
        p = subprocess.Popen([str(co / "tests" / "www-reachable"), "build/cgihost", "sh", "-c",
                              "echo started; exec sleep 30"], cwd=co, stdout=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=default_signals)
        first = p.stdout.readline()
        copy = pathlib.Path(first.split("running in a copy, ")[1].split()[0])
        assert p.stdout.readline() == "started\n"
        assert copy.exists()
        os.killpg(p.pid, sig)
        assert p.wait(10) == 128 + sig
        assert not copy.exists(), "the copy stays"
    finally:
        if p and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if copy:
            shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(parent)
