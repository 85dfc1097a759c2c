"""setup.py, as pip runs it from a checkout: pip builds in the tree, so
build/lib.* and build/temp.* of an earlier install are reused; a header's
change must rebuild the modules, not reinstall the old ones."""
import shutil
import subprocess

from conftest import PYTHON, ROOT


def build(tree):
    return subprocess.run([PYTHON, "setup.py", "-q", "build_ext", "--build-lib", "L",
                           "--build-temp", "T"], cwd=tree, capture_output=True)


def test_a_changed_header_rebuilds_the_modules(tmp_path):
    for f in ("setup.py", "setup.cfg", "VERSION", "README.md", "MANIFEST.in"):
        shutil.copy(ROOT / f, tmp_path)
    shutil.copytree(ROOT / "shim", tmp_path / "shim")
    first = build(tmp_path)
    assert first.returncode == 0, first.stderr.decode()
    headers = sorted(p for p in (tmp_path / "shim").rglob("*.h"))
    assert headers
    for h in headers:  # each header, cgi's and cgitb's: a build that reads it fails
        text = h.read_text()
        h.write_text(text + "\n#error header-changed\n")
        r = build(tmp_path)
        h.write_text(text)
        assert r.returncode != 0 and b"header-changed" in r.stderr, (h.name, r.stderr.decode())
