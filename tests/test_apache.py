"""cgihost behind a real Apache (Debian's apache2, started here on a free
loopback port with host/apache/private.conf.in and the shipped snippet
host/apache/cgihost.conf): responses against the cold path and the stdlib,
the script's environment against mod_cgi running it directly, force-redirect
and traversal attempts, limits, load, the browser flow and the demo.

Also, without Apache, cgihost's own CGI-mode checks (host/cgienv.c).
"""
import hashlib
import http.client
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import CGIHOST, PYTHON, ROOT, fixed_copy, run

sys.path.insert(0, str(ROOT / "host" / "apache"))
import private  # noqa: E402

HELLO = ROOT / "scripts" / "hello.py"
SCRIPTS = ROOT / "tests" / "scripts"
ARTIFACTS = pathlib.Path(os.environ.get("CGIHOST_ARTIFACTS", CGIHOST.parent / "artifacts"))

UNPRIVILEGED_PORT_START = int(pathlib.Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())

needs_apache = pytest.mark.skipif(not os.path.exists(private.APACHE),
                                  reason="apache2 is not installed (make test installs it)")

MARKER = """\
import os
with open(os.path.join({dir!r}, {name!r} + "." + str(os.getpid())), "w") as f:
    f.write("ran")
print("Content-Type: text/plain\\n")
print("ran")
"""


# ---- the server ------------------------------------------------------------------

class Site:
    """The directories the test Apache serves, in a world-readable temp dir."""

    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-test-apache-"))
        os.chmod(self.base, 0o755)
        b = self.base
        self.doc, self.direct, self.shebang = b / "doc", b / "direct", b / "shebang"
        self.aliased, self.outside, self.markers = b / "aliased", b / "outside", b / "markers"
        for d in (self.doc, self.doc / "sub", self.doc / "limits", self.doc / "app",
                  self.doc / "deny", self.doc / "idx", self.doc / "idxcode",
                  self.doc / "dsub", self.doc / "dsub" / "inner", self.doc / "dlink",
                  self.doc / "dabs", self.direct,
                  self.direct / "sub", self.direct / "deny",
                  self.shebang, self.aliased, self.outside, self.markers):
            d.mkdir()
            os.chmod(d, 0o755)
        os.chmod(self.markers, 0o777)

        # Through the handler: the acceptance script as it is, and test scripts.
        shutil.copyfile(HELLO, self.doc / "hello.py")
        os.symlink("hello.py", self.doc / "hello2.py")
        for name in ("env", "upload", "response"):
            shutil.copyfile(SCRIPTS / f"apache_{name}.py", self.doc / f"{name}.py")
        shutil.copyfile(SCRIPTS / "apache_env.py", self.doc / "sub" / "env.py")
        shutil.copyfile(SCRIPTS / "apache_env.py", self.doc / "deny" / "x.py")
        shutil.copyfile(SCRIPTS / "apache_env.py", self.aliased / "env.py")
        shutil.copyfile(SCRIPTS / "apache_loop.py", self.doc / "limits" / "loop.py")
        for where, name in ((self.doc, "marker.py"), (self.doc / "sub", "marker.py"),
                            (self.doc, "marker.py.txt"), (self.doc, "marker.py~"),
                            (self.doc, "marker.PY.txt"), (self.doc, "marker.Py~"),
                            (self.doc / "sub", "upper.PY"),
                            (self.outside, "marker.py"), (self.doc / "app", "marker"),
                            (self.doc / "idx", "hello.py"), (self.doc / "idxcode", "hello.py"),
                            (self.doc / "dsub" / "inner", "index.py")):
            (where / name).write_text(MARKER.format(dir=str(self.markers), name=name))
        # A module's compiled copy, as an import writes it where it may.
        (self.doc / "__pycache__").mkdir()
        (self.doc / "__pycache__" / "config.cpython-311.pyc").write_bytes(b"\xa7\r\r\nsecret")
        # A directory whose index is a link to a script elsewhere (same owner).
        os.symlink("../sub/marker.py", self.doc / "dlink" / "hello.py")
        # Not scripts, whatever the snippet does: sent as they are.
        (self.doc / "pic.PYRAMID.png").write_bytes(b"not a script\n")
        # A link out of the document root, to a file someone else owns: as
        # root, the marker given to nobody; otherwise, where no file can be
        # given away, the stdlib's this.py (root's), whose run would answer
        # 500 (it prints no header).
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.outside / "marker.py", nobody.pw_uid, nobody.pw_gid)
            os.symlink(self.outside / "marker.py", self.doc / "link-out.py")
        else:
            os.symlink(pathlib.Path(os.__file__).with_name("this.py"), self.doc / "link-out.py")

        # Run directly by mod_cgi with /usr/bin/python3: the reference.
        for name, src in (("env.py", SCRIPTS / "apache_env.py"),
                          ("sub/env.py", SCRIPTS / "apache_env.py"),
                          ("deny/x.py", SCRIPTS / "apache_env.py"),
                          ("upload.py", SCRIPTS / "apache_upload.py"),
                          ("response.py", SCRIPTS / "apache_response.py")):
            self.write_exec(self.direct / name, "#!/usr/bin/python3\n" + src.read_text())
        fixed = fixed_copy(HELLO, self.direct)
        os.chmod(fixed, 0o755)

    @staticmethod
    def write_exec(path, text):
        path.write_text(text)
        os.chmod(path, 0o755)

    def markers_left(self):
        return sorted(p.name for p in self.markers.iterdir())

    def config(self):
        d = self
        return f"""
SetEnv GLOBALVAR g1
<Directory "{d.doc}/sub">
    SetEnv DIRVAR d1
</Directory>
<Directory "{d.direct}/sub">
    SetEnv DIRVAR d1
</Directory>

# mod_cgi running scripts directly, and cgihost by its shebang line.
ScriptAlias /direct/ "{d.direct}/"
ScriptAlias /shebang/ "{d.shebang}/"
<Directory "{d.direct}">
    Require all granted
</Directory>
<Directory "{d.shebang}">
    Require all granted
</Directory>

# The handler for an Alias outside the document root, as the snippet does it.
Alias /aliased "{d.aliased}"
<Directory "{d.aliased}">
    Require all granted
    <FilesMatch "\\.py$">
        SetHandler cgihost-script
    </FilesMatch>
</Directory>

# AliasMatch and ScriptAliasMatch leave Apache's default context ("" and
# DOCUMENT_ROOT), as does a rewrite to a file name.
AliasMatch ^/amatch/(.*)$ "{d.doc}/sub/$1"
ScriptAliasMatch ^/amatch-direct/(.*)$ "{d.direct}/sub/$1"

# A rewrite idiom: the rule maps /app/NAME to a script, but the handler's
# sub-request for PATH_TRANSLATED skips it (REDIRECT_STATUS is set there) and
# finds the file app/NAME, which the snippet never routed to cgihost.
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
RewriteEngine On
RewriteCond %{{ENV:REDIRECT_STATUS}} ^$
RewriteRule ^/app/(\\w+)$ "{d.doc}/hello.py"
# The same for a directory: /idx/ is served from idxcode/, whose index
# (DirectoryIndex hello.py) mod_dir finds in a sub-request; the handler's
# finds idx/hello.py, which the snippet never routed to cgihost.
RewriteCond %{{ENV:REDIRECT_STATUS}} ^$
RewriteRule ^/idx/(.*)$ "{d.doc}/idxcode/$1"

# Indexes DirectoryIndex finds below the directory, and by a URL elsewhere.
<Directory "{d.doc}/dsub">
    DirectoryIndex inner/index.py
</Directory>
<Directory "{d.doc}/dabs">
    DirectoryIndex /sub/marker.py
</Directory>

# cgihost reachable without the snippet's Require env REDIRECT_STATUS, to
# show that cgihost itself refuses.
ScriptAlias /raw-bin/cgihost "@CGIHOST@"
<Location /raw-bin/cgihost>
    Require all granted
</Location>

# ErrorDocuments: one aimed at the handler URL, one at a script.
<Location /errdoc/>
    ErrorDocument 404 /cgihost-bin/cgihost/marker.py
</Location>
<Location /errdoc2/>
    ErrorDocument 404 /env.py
</Location>
<Location /errdoc3/>
    ErrorDocument 404 /direct/env.py
</Location>
# Refused where the handler runs (and the same for mod_cgi), answered by a script.
<Location /cgihost-bin/cgihost/deny/>
    Require all denied
    ErrorDocument 403 /env.py/e?z=1
</Location>
<Location /direct/deny/>
    Require all denied
    ErrorDocument 403 /direct/env.py/e?z=1
</Location>

# Limits for scripts run through the handler apply where the handler runs.
<Location /cgihost-bin/cgihost/limits/>
    RLimitCPU 2 3
    <IfModule cgid_module>
        CGIDScriptTimeout 3
    </IfModule>
    <IfModule cgi_module>
        CGIScriptTimeout 3
    </IfModule>
</Location>
"""


@pytest.fixture(scope="module")
def site():
    s = Site()
    yield s
    shutil.rmtree(s.base, ignore_errors=True)


@pytest.fixture(scope="module")
def httpd(site, cgihost):
    if not os.path.exists(private.APACHE):
        pytest.skip("apache2 is not installed (make test installs it)")
    server = private.PrivateApache(site.base / "run", cgihost, site.doc, extra=site.config())
    server.start()
    # Shebang scripts name the cgihost Apache's children can run.
    head = f"#!{server.cgihost}\n"
    site.write_exec(site.shebang / "hello.py",
                    head + HELLO.read_bytes().decode().split("\n", 1)[1])
    site.write_exec(site.shebang / "env.py", head + (SCRIPTS / "apache_env.py").read_text())
    site.write_exec(site.shebang / "nph-raw.py", head + (
        "import sys\n"
        "sys.stdout.write('HTTP/1.1 299 Raw\\r\\nX-Nph: yes\\r\\nContent-Length: 4\\r\\n\\r\\nraw!')\n"))
    yield server
    server.stop()


def request(httpd, method, target, body=None, headers=None, timeout=60):
    """One request on a fresh connection; returns (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=timeout)
    try:
        c.putrequest(method, target, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            c.putheader(k, v)
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def cgi_body(out):
    """The body of a CGI response printed by a script."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = out.find(sep)
        if i >= 0:
            return out[i + len(sep):]
    raise AssertionError(f"no end of headers in {out[:200]!r}")


# ---- the acceptance script ----------------------------------------------------------

def cold_and_reference(tmp_path, env, stdin=b""):
    """hello.py through cgihost on the command line and through python3 + stdlib."""
    cold = run([CGIHOST, HELLO], dict(env, CGIHOST_NO_SERVER="1"), stdin=stdin)
    ref = run([PYTHON, fixed_copy(HELLO, tmp_path)], env, stdin=stdin)
    assert cold.returncode == 0 and ref.returncode == 0, (cold.stderr, ref.stderr)
    return cgi_body(cold.stdout), cgi_body(ref.stdout)


@needs_apache
@pytest.mark.parametrize("qs", ["name=Ada&happy=on", "", "name=Jos%C3%A9+%E2%82%AC&sad=on"])
def test_get_hello_matches_cold_path_and_stdlib(httpd, tmp_path, qs):
    status, headers, body = request(httpd, "GET", "/hello.py" + ("?" + qs if qs else ""))
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    cold, ref = cold_and_reference(tmp_path, {"REQUEST_METHOD": "GET", "QUERY_STRING": qs})
    assert body == cold == ref
    assert b"<h1> Hello Program! </h1>" in body


@needs_apache
def test_post_hello2_matches_cold_path_and_stdlib(httpd, tmp_path):
    form = b"name=Grace&happy=on&sad=on"
    status, headers, body = request(httpd, "POST", "/hello2.py", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    cold, ref = cold_and_reference(tmp_path, {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(form)), "QUERY_STRING": ""}, stdin=form)
    assert body == cold == ref
    assert b"HelloGrace!" in body and b"happy too" in body and b"Why are you sad" in body


@needs_apache
def test_directory_index_and_served_through_python3_directly(httpd):
    # "/" is hello.py (DirectoryIndex), and mod_cgi + python3 gives the same page.
    _, _, index = request(httpd, "GET", "/?name=Ada")
    _, _, via = request(httpd, "GET", "/hello.py?name=Ada")
    status, _, direct = request(httpd, "GET", "/direct/hello.py?name=Ada")
    assert status == 200
    assert index == via == direct


# ---- the script's environment -------------------------------------------------------

def env_dump(httpd, target, **kw):
    status, _, body = request(httpd, "GET", target, **kw)
    assert status == 200, body
    lines = body.decode().splitlines()
    return {k: v for k, _, v in (line.partition("=") if "=" in line and not line.startswith("ARGV")
                                 else (line.split(" ", 1)[0], "", line.split(" ", 1)[1])
                                 for line in lines if line)}


# Variables that differ between any two requests.
VOLATILE = {"REMOTE_PORT", "UNIQUE_ID"}


@needs_apache
@pytest.mark.parametrize("path", [
    "/env.py", "/env.py?a=1&b=2", "/env.py/extra/p?a=1", "/env.py/", "/env.py/x%20y/z",
    "/env.py?x+-s+--help", "/env.py?%2Fetc%2Fpasswd", "/sub/env.py/more?q=1",
])
def test_environment_is_what_mod_cgi_gives_a_directly_run_script(httpd, site, path):
    got, expect = env_and_mod_cgis(httpd, site, path)
    if path == "/env.py/":
        # mod_cgi looks "/" up as a URL, which DirectoryIndex turns into
        # hello.py; cgihost says DOCUMENT_ROOT + PATH_INFO (cgienv.c).
        assert expect["PATH_TRANSLATED"] == str(site.doc / "hello.py")
        expect["PATH_TRANSLATED"] = str(site.doc) + "/"
    assert got == expect
    assert not any(k.startswith("REDIRECT_") for k in got)
    assert got["CWD"] == str(site.doc / ("sub" if "/sub/" in path else ""))


@needs_apache
def test_runs_of_slashes_in_the_url_as_mod_cgi_keeps_them(cgihost, site):
    """MergeSlashes Off: Apache merges the runs of '/' in the PATH_INFO it
    gives the Action, not in the URL it redirected; cgihost answered 403
    ("PATH_INFO is not the redirected URL") where mod_cgi ran the script, and
    keeps the runs in SCRIPT_NAME, merges them in PATH_INFO, as mod_cgi does."""
    extra = "MergeSlashes Off\n" + site.config()
    with private.PrivateApache(site.base / "run-unmerged", cgihost, site.doc,
                               extra=extra) as server:
        for path in ("/env.py//a//b?q=1", "/sub//env.py/x", "/sub/env.py///x/", "/sub///env.py"):
            got, expect = env_and_mod_cgis(server, site, path)
            assert got == expect, path
            assert got["SCRIPT_NAME"] == path.split("?")[0].split("env.py")[0] + "env.py"


def env_and_mod_cgis(httpd, site, path):
    """The environment path's script gets through the handler, and what
    mod_cgi gives the /direct copy, made the same where it differs only
    because the copy lives in another directory."""
    via = env_dump(httpd, path)
    direct = env_dump(httpd, "/direct" + path)
    expect = {}
    for k, v in direct.items():
        if k in VOLATILE:
            continue
        v = v.replace(str(site.direct), str(site.doc))
        if k in ("SCRIPT_NAME", "REQUEST_URI", "SCRIPT_URL"):  # SCRIPT_UR*: mod_rewrite's
            v = v[len("/direct"):]
        if k == "SCRIPT_URI":
            v = v.replace("/direct/", "/", 1)
        expect[k] = v
    # Under the document root, a directly run script has this context.
    expect["CONTEXT_PREFIX"] = ""
    expect["CONTEXT_DOCUMENT_ROOT"] = str(site.doc)
    return {k: v for k, v in via.items() if k not in VOLATILE}, expect


@needs_apache
def test_environment_under_an_alias(httpd, site):
    env = env_dump(httpd, "/aliased/env.py/x?k=v")
    assert env["SCRIPT_NAME"] == "/aliased/env.py"
    assert env["SCRIPT_FILENAME"] == str(site.aliased / "env.py")
    assert env["PATH_INFO"] == "/x"
    assert env["PATH_TRANSLATED"] == str(site.doc) + "/x"
    assert env["CONTEXT_PREFIX"] == "/aliased"
    assert env["CONTEXT_DOCUMENT_ROOT"] == str(site.aliased)
    assert env["CWD"] == str(site.aliased)
    assert env["ARGV0"] == str(site.aliased / "env.py")
    assert not any(k.startswith("REDIRECT_") for k in env)


@needs_apache
def test_context_is_the_requests_own_after_an_aliasmatch(httpd, site):
    # Apache sets CONTEXT_PREFIX and CONTEXT_DOCUMENT_ROOT for an Alias, not
    # for an AliasMatch; the snippet passes the request's own to cgihost.
    via = env_dump(httpd, "/amatch/env.py/x?k=v")
    direct = env_dump(httpd, "/amatch-direct/env.py/x?k=v")
    expect = {k: v.replace(str(site.direct), str(site.doc)).replace("/amatch-direct/", "/amatch/")
              for k, v in direct.items() if k not in VOLATILE}
    assert {k: v for k, v in via.items() if k not in VOLATILE} == expect
    assert (via["CONTEXT_PREFIX"], via["CONTEXT_DOCUMENT_ROOT"]) == ("", str(site.doc))
    assert via["SCRIPT_FILENAME"] == str(site.doc / "sub" / "env.py")


@needs_apache
@pytest.mark.parametrize("path", ["/missing", "/missing?q=1&r=%20", "/a%20b/c?", "/x//y"])
def test_environment_of_a_script_used_as_error_document(httpd, site, path):
    # The same error page, once through the handler, once run by mod_cgi.
    def env_of(prefix):
        status, _, body = request(httpd, "GET", prefix + path)
        assert status == 404
        return {k: v for k, v in (line.split("=", 1) for line in body.decode().splitlines()
                                  if "=" in line and not line.startswith("ARGV"))
                if k not in VOLATILE}
    via, direct = env_of("/errdoc2"), env_of("/errdoc3")
    direct = {k: v.replace(str(site.direct), str(site.doc)).replace("/errdoc3", "/errdoc2")
              for k, v in direct.items()}
    direct["SCRIPT_NAME"] = "/env.py"
    direct["CONTEXT_PREFIX"], direct["CONTEXT_DOCUMENT_ROOT"] = "", str(site.doc)
    if path == "/x//y":
        # "//" merged by Apache: REQUEST_URI no longer tells the URL exactly.
        assert direct.pop("REDIRECT_URL") == "/errdoc2/x/y"
    assert via == direct
    assert via["REDIRECT_STATUS"] == "404"


def levels(env):
    """{(level, NAME): value}, level being the count of REDIRECT_ prefixes."""
    out = {}
    for k, v in env.items():
        n = 0
        while k.startswith("REDIRECT_") and len(k) > 9:
            k, n = k[9:], n + 1
        out[n, k] = v
    return out


def env_levels(httpd, target, status=200):
    """The levels of what env.py printed at the end of target's chain."""
    got, _, body = request(httpd, "GET", target)
    assert got == status, body
    lines = body.decode().splitlines()
    return {key: v for key, v in levels(dict(
        line.partition("=")[::2] if "=" in line and not line.startswith("ARGV")
        else line.split(" ", 1) for line in lines if line)).items() if key[1] not in VOLATILE}


def through_handler(ref, site, at=None, first_direct=False):
    """What the handler gives where mod_cgi ran the /direct copies: the
    reference's levels (those in at, or all) without the copies' directory
    and URL prefix; with first_direct, the chain began at /direct too."""
    expect = {}
    for (level, k), v in ref.items():
        if at is None or level in at:
            v = v.replace(str(site.direct), str(site.doc))
            if k in ("SCRIPT_NAME", "URL") or (not first_direct and k in (
                    "REQUEST_URI", "SCRIPT_URL", "SCRIPT_URI")):
                v = v.replace("/direct/", "/", 1)
            if k == "CONTEXT_PREFIX":
                v = ""
            if k == "CONTEXT_DOCUMENT_ROOT":
                v = str(site.doc)
        expect[level, k] = v
    return expect


def assert_same_levels(got, expect):
    extra = {k: v for k, v in got.items() if expect.get(k) != v}
    missing = {k: v for k, v in expect.items() if got.get(k) != v}
    assert (extra, missing) == ({}, {})


@needs_apache
@pytest.mark.parametrize("query, scripts", [("env", 2), ("hop", 3), ("docenv", 2), ("hopdoc", 3)])
def test_environment_after_a_local_redirect(httpd, site, query, scripts):
    # A script's "Location: /local/path" makes Apache run the target with the
    # first script's variables renamed REDIRECT_NAME (RFC 3875 6.2.2), and
    # REDIRECT_URL its URL. Through the handler, each level says what it
    # would have said with every script run directly. In env and hop, every
    # script runs through the handler; in docenv and hopdoc, only the last
    # (the others are run directly by mod_cgi, and give their own levels).
    mixed = "doc" in query
    via = env_levels(httpd, ("/direct" if mixed else "") + "/response.py/ex?" + query)
    ref = env_levels(httpd, "/direct/response.py/ex?" + query.replace("doc", ""))
    if mixed:  # what differs only by the query's name
        via = {key: v.replace("hopdoc", "hop").replace("docenv", "env") for key, v in via.items()}
    assert_same_levels(via, through_handler(ref, site, {0} if mixed else None, first_direct=mixed))
    assert max(level for level, _ in via) == scripts - 1
    assert via[scripts - 1, "SCRIPT_NAME"] == ("/direct" if mixed else "") + "/response.py"


@needs_apache
def test_environment_of_an_error_document_for_a_request_refused_in_the_handler(httpd, site):
    # <Location /cgihost-bin/cgihost/deny/> refuses the Action's request
    # before anything runs; its ErrorDocument sees the request as refused
    # directly (<Location /direct/deny/>): one level, its URL and query.
    via = env_levels(httpd, "/deny/x.py/p?q=1", 403)
    ref = env_levels(httpd, "/direct/deny/x.py/p?q=1", 403)
    # The script's request passed its own checks and fixups (SetEnv) before
    # the Action's was refused; refused where it is, a directly run script's
    # request never got that far.
    assert (via.pop((1, "GLOBALVAR")), via.pop((1, "CGIHOST_SOCKET_DIR"))) == (
        "g1", ref[0, "CGIHOST_SOCKET_DIR"])
    assert_same_levels(via, through_handler(ref, site))
    assert (via[1, "URL"], via[1, "QUERY_STRING"], via[1, "STATUS"]) == ("/deny/x.py/p", "q=1", "403")
    assert max(level for level, _ in via) == 1


@needs_apache
def test_environment_of_an_error_document_after_a_local_redirect(httpd, site):
    # A script redirects to a missing URL, whose ErrorDocument is a script.
    via = env_levels(httpd, "/response.py?go=/errdoc2/missing%3Fq=1", 404)
    ref = env_levels(httpd, "/direct/response.py?go=/errdoc3/missing%3Fq=1", 404)
    ref = {key: v.replace("/errdoc3/", "/errdoc2/") for key, v in ref.items()}
    # The failed request's URL is not in the environment Apache gives, as it
    # ran nothing: neither in cgihost's, nor in REQUEST_URI (the script's).
    assert (ref.pop((1, "URL")), ref.pop((1, "QUERY_STRING"))) == ("/errdoc2/missing", "q=1")
    assert_same_levels(via, through_handler(ref, site))
    assert via[2, "SCRIPT_NAME"] == "/response.py" and (2, "URL") not in via


@needs_apache
def test_shebang_mode(httpd, tmp_path, site):
    status, _, body = request(httpd, "GET", "/shebang/hello.py?name=Ada&happy=on")
    assert status == 200
    cold, _ = cold_and_reference(tmp_path, {"REQUEST_METHOD": "GET",
                                            "QUERY_STRING": "name=Ada&happy=on"})
    assert body == cold
    env = env_dump(httpd, "/shebang/env.py/p?x+-s")
    assert env["SCRIPT_NAME"] == "/shebang/env.py"
    assert env["SCRIPT_FILENAME"] == str(site.shebang / "env.py")
    assert env["PATH_INFO"] == "/p"
    assert env["ARGV"] == "['env.py', 'x', '-s']"
    # nph- scripts speak HTTP themselves: Apache passes their bytes through.
    status, headers, body = request(httpd, "GET", "/shebang/nph-raw.py")
    assert (status, headers["X-Nph"], body) == (299, "yes", b"raw!")



@needs_apache
@pytest.mark.parametrize("name,head,eol", [
    ("crlf", b"#!/usr/bin/python3", b"\r\n"),
    ("crlf-env", b"#!/usr/bin/env python3", b"\r\n"),
    ("crlf-u", b"#!/usr/bin/python3 -u", b"\r\n"),
    ("bom", b"\xef\xbb\xbf#!/usr/bin/python3", b"\n"),
    ("bom-crlf", b"\xef\xbb\xbf#!/usr/bin/python3", b"\r\n"),
])
def test_a_script_from_windows_runs_through_the_handler(httpd, site, name, head, eol):
    """CRLF line ends (the #! line's too) or a UTF-8 BOM: the kernel cannot
    start such a script, so mod_cgi answers 500; through the handler it
    runs, as the README says, with python3's output for it."""
    text = (b"\n".join([head, b"import cgi", b"form = cgi.FieldStorage()",
                        b'print("Content-Type: text/plain")', b"print()",
                        b'print("name", form.getfirst("name"))', b""]))
    script = text.replace(b"\n", eol)
    for d in (site.doc, site.direct):
        (d / f"win-{name}.py").write_bytes(script)
        os.chmod(d / f"win-{name}.py", 0o755)
    assert request(httpd, "GET", f"/win-{name}.py?name=Ada")[::2] == (200, b"name Ada\n")
    assert request(httpd, "GET", f"/direct/win-{name}.py?name=Ada")[0] == 500
    ref = run([PYTHON, site.doc / f"win-{name}.py"],
              {"REQUEST_METHOD": "GET", "QUERY_STRING": "name=Ada"})
    assert cgi_body(ref.stdout) == b"name Ada\n"

# ---- CGI response rules, stderr ------------------------------------------------------------

@needs_apache
def test_status_location_and_stderr_stay_apaches(httpd):
    status, _, body = request(httpd, "GET", "/response.py?status")
    assert (status, body) == (418, b"short and stout\n")
    status, headers, _ = request(httpd, "GET", "/response.py?redirect")
    assert status == 302 and headers["Location"] == "http://example.invalid/elsewhere"
    status, _, body = request(httpd, "GET", "/response.py?local")
    assert status == 200 and b"HelloLocal!" in body
    status, _, body = request(httpd, "GET", "/response.py?stderr")
    assert status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = httpd.error_log()
        if "apache-stderr-two" in log:
            break
        time.sleep(0.1)
    lines = [line for line in log.splitlines() if "apache-stderr-" in line]
    assert len(lines) == 2, log[-2000:]
    assert lines[0].endswith("apache-stderr-one") and lines[1].endswith("apache-stderr-two")


IGNORES_BODY = "print('Content-Type: text/plain')\nprint()\nprint('the body stays unread')\n"


@needs_apache
@pytest.mark.parametrize("size", [7, 200 * 1024])
def test_a_post_to_a_script_that_never_reads_its_body_is_answered(httpd, site, size):
    """mod_cgid (the event MPM's CGI module) gives a CGI one Unix socket as
    stdin and stdout. Closed with request body unread in it, the kernel
    resets Apache's end, and Apache lost the response the script had
    written (AH00574): a browser saw "connection reset" for a form posted
    to a script that ignores it, the more often the faster the script
    ended, in-process or served. cgihost reads and drops what it left."""
    path = site.doc / "ignores.py"
    path.write_text(IGNORES_BODY)
    os.chmod(path, 0o644)
    body = b"a=" + b"x" * (size - 2)
    lost = []
    for i in range(12):
        try:
            status, _, got = request(httpd, "POST", "/ignores.py", body=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"},
                                     timeout=30)
            if (status, got) != (200, b"the body stays unread\n"):
                lost.append((i, status, got[:80]))
        except (OSError, http.client.HTTPException) as e:
            lost.append((i, repr(e)))
    assert not lost, lost


@needs_apache
def test_a_chunked_post_to_a_script_that_never_reads_it_is_answered(httpd, site):
    """A chunked request body has no CONTENT_LENGTH; mod_cgid passes it on
    as it comes and shuts its end down after it (HTTP_TRANSFER_ENCODING says
    it is there): drained to that end, the response is not lost."""
    path = site.doc / "ignores.py"
    path.write_text(IGNORES_BODY)
    os.chmod(path, 0o644)
    lost = []
    for i in range(6):
        c = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=30)
        try:
            c.request("POST", "/ignores.py", body=iter([b"a=" + b"x" * 65536] * 16),
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      encode_chunked=True)
            r = c.getresponse()
            got = (r.status, r.read())
            if got != (200, b"the body stays unread\n"):
                lost.append((i, got[0], got[1][:80]))
        except (OSError, http.client.HTTPException) as e:
            lost.append((i, repr(e)))
        finally:
            c.close()
    assert not lost, lost


UNBUFFERED = """#!/usr/bin/python3 -u
import os, sys
print("Content-Type: text/plain")
print()
os.system("echo from a subprocess")  # after the header only when stdout is unbuffered
print("write_through", sys.stdout.write_through)
"""


@needs_apache
def test_a_unbuffered_shebang_script_answers_as_run_directly(httpd, site):
    # Buffered, the subprocess's line would reach Apache before the header:
    # a malformed header, status 500.
    site.write_exec(site.doc / "unbuffered.py", UNBUFFERED)
    site.write_exec(site.direct / "unbuffered.py", UNBUFFERED)
    via = request(httpd, "GET", "/unbuffered.py")
    direct = request(httpd, "GET", "/direct/unbuffered.py")
    assert (via[0], via[2]) == (direct[0], direct[2]) == (200, b"from a subprocess\nwrite_through True\n")


OPTIMIZED = """#!/usr/bin/python3 -O
import os, sys
print("Content-Type: text/plain")
print()
print(__debug__, sys.flags.optimize, 'cgi' in sys.modules)
for k in ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD"):
    print(k, os.environ.get(k))
print(sys.stdin.read())
print("ppid", os.getppid())
"""


def resident_server_pid(httpd):
    """The pid of the resident server Apache's requests started (they run
    cold until it is up, so ask until it is)."""
    deadline = time.monotonic() + 30
    while not (httpd.cgihost_sockets / "server.sock").exists():
        assert time.monotonic() < deadline, "no resident server"
        assert request(httpd, "GET", "/hello.py")[0] == 200
        time.sleep(0.2)
    # (Apache's children run as www-data when started as root, else as us)
    as_apache = (["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups"]
                 if os.geteuid() == 0 else [])
    st = subprocess.run([*as_apache, str(httpd.cgihost), "status"], stdout=subprocess.PIPE, timeout=30,
                        env={"PATH": "/usr/bin:/bin", "CGIHOST_SOCKET_DIR": str(httpd.cgihost_sockets)})
    return int(re.search(rb"server (\d+) ", st.stdout).group(1))


@needs_apache
def test_a_shebang_option_that_needs_a_fresh_start_through_the_handler(httpd, site):
    # -O: the server's child execs a fresh interpreter, which must see the
    # request as the handler rewrote it (a script run directly by mod_cgi is
    # the reference).
    site.write_exec(site.doc / "optimized.py", OPTIMIZED)
    site.write_exec(site.direct / "optimized.py", OPTIMIZED)
    pid = resident_server_pid(httpd)
    via = request(httpd, "POST", "/optimized.py/more?q=1", b"the body")
    direct = request(httpd, "POST", "/direct/optimized.py/more?q=1", b"the body")
    assert via[0] == direct[0] == 200
    assert via[2].endswith(f"ppid {pid}\n".encode()), via[2]  # the server's child
    assert via[2].rsplit(b"ppid", 1)[0] == direct[2].replace(b"/direct/", b"/").rsplit(b"ppid", 1)[0]
    assert via[2].startswith(b"False 1 False\nSCRIPT_NAME /optimized.py\nPATH_INFO /more\n"), via[2]


# ---- multipart --------------------------------------------------------------------

def multipart(data, boundary="----cgihostTestBoundary7MA4YWxkTrZu0gW"):
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
            "hello upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    return f"multipart/form-data; boundary={boundary}", head + data + f"\r\n--{boundary}--\r\n".encode()


@needs_apache
def test_multipart_upload_of_10_mib(httpd):
    data = (hashlib.sha256(b"seed").digest() * (10 * 1024 * 1024 // 32 + 1))[:10 * 1024 * 1024]
    data = data[:5000] + b"\r\n--not-the-boundary\r\n" + data[5022:]
    ctype, body = multipart(data)
    status, _, out = request(httpd, "POST", "/upload.py", body, {"Content-Type": ctype},
                             timeout=120)
    assert status == 200, out
    want = (f"filename big.bin\ntype application/octet-stream\nsize {len(data)}\n"
            f"sha256 {hashlib.sha256(data).hexdigest()}\nnote hello upload\n").encode()
    assert out == want
    # And the stdlib under mod_cgi says the same.
    status, _, ref = request(httpd, "POST", "/direct/upload.py", body, {"Content-Type": ctype},
                             timeout=120)
    assert (status, ref) == (200, want)


# ---- force-redirect and traversal ----------------------------------------------------

ATTEMPTS = [
    # the handler's URL from outside: Apache's Require, and cgihost's own check
    ("GET", "/cgihost-bin/cgihost/marker.py", {}),
    ("GET", "/cgihost-bin/cgihost/sub/marker.py?a=1", {}),
    ("POST", "/cgihost-bin/cgihost/marker.py", {}),
    ("GET", "/cgihost-bin/cgihost", {}),
    ("GET", "/cgihost-bin/cgihost/../marker.py", {}),
    ("GET", "/raw-bin/cgihost/marker.py", {}),
    ("GET", "/raw-bin/cgihost/marker.py", {"Redirect-Status": "200"}),
    ("GET", "/raw-bin/cgihost?{doc}/marker.py", {}),
    ("GET", "/raw-bin/cgihost/marker.py?{doc}/marker.py", {}),
    ("GET", "/raw-bin/cgihost", {}),
    # an ErrorDocument aimed at the handler URL
    ("GET", "/errdoc/missing", {}),
    # a CGI program's local redirect to the handler URL of its own file
    ("GET", "/direct/response.py?go=/cgihost-bin/cgihost/direct/response.py%3Fstatus", {}),
    # traversal
    ("GET", "/sub/../../outside/marker.py", {}),
    ("GET", "/%2e%2e/outside/marker.py", {}),
    ("GET", "/sub%2fmarker.py", {}),
    ("GET", "/sub/..%2fmarker.py", {}),
    ("GET", "/hello.py/../../outside/marker.py", {}),
    # not scripts
    ("GET", "/marker.py.txt", {}),
    ("GET", "/marker.py~", {}),
    ("GET", "/marker.PY.txt", {}),
    ("GET", "/marker.Py~", {}),
    ("GET", "/__pycache__/config.cpython-311.pyc", {}),
    ("GET", "/missing.py", {}),
    ("GET", "/missing.py/extra", {}),
    ("GET", "/link-out.py", {}),
    # another file than the one the request resolved to
    ("GET", "/app/marker", {}),
    ("GET", "/idx/", {}),
    ("GET", "/idx/hello.py", {}),
    # an index named below the directory or by a URL outside it (documented:
    # link it in)
    ("GET", "/dsub/", {}),
    ("GET", "/dabs/", {}),
]


@needs_apache
@pytest.mark.parametrize("method,target,headers", ATTEMPTS,
                         ids=[f"{m} {t}" for m, t, _ in ATTEMPTS])
def test_attempts_are_refused_and_run_nothing(httpd, site, method, target, headers):
    target = target.replace("{doc}", str(site.doc))
    body = b"" if method == "POST" else None
    status, _, out = request(httpd, method, target, body, headers)
    assert status in (400, 403, 404), (status, out)
    assert b"ran" not in out
    assert site.markers_left() == []


def assert_marker_runs(httpd, site, target, name):
    """TARGET runs the marker script NAME, once; its marker is then removed."""
    status, _, out = request(httpd, "GET", target)
    assert (status, out) == (200, b"ran\n")
    left = site.markers_left()
    assert len(left) == 1 and left[0].startswith(name + "."), left
    for p in site.markers.iterdir():
        p.unlink()


@needs_apache
def test_marker_script_does_run_when_asked_properly(httpd, site):
    # The proof above is only worth something if the marker works.
    assert_marker_runs(httpd, site, "/sub/marker.py", "marker.py")


@needs_apache
def test_an_index_linked_into_its_directory_runs(httpd, site):
    # an index that is a link to a script elsewhere, what the docs say to
    # do for "DirectoryIndex sub/index.py" (refused: see ATTEMPTS)
    assert_marker_runs(httpd, site, "/dlink/", "marker.py")


@needs_apache
def test_a_script_named_in_capitals_runs_and_is_not_sent_as_text(httpd, site):
    # mod_mime's extensions match in any case: under "AddHandler cgi-script
    # .py", X.PY runs; the snippet must not send its source as text instead
    assert_marker_runs(httpd, site, "/sub/upper.PY", "upper.PY")


# ---- limits --------------------------------------------------------------------------

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


@needs_apache
@pytest.mark.parametrize("kind", ["cpu", "sleep"])
def test_runaway_script_is_stopped_and_server_recovers(httpd, site, kind):
    pidfile = site.markers / f"loop-{kind}.pid"
    t0 = time.monotonic()
    status, _, _ = request(httpd, "GET", f"/limits/loop.py?t={kind}&pidfile={pidfile}",
                           timeout=60)
    took = time.monotonic() - t0
    assert status in (500, 503, 504)
    assert took < 20
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), f"the {kind} loop (pid {pid}) is still running"
    pidfile.unlink()
    for _ in range(5):
        assert request(httpd, "GET", "/hello.py?name=After")[0] == 200


# ---- load --------------------------------------------------------------------------

def descendants(pid):
    """(pid, state, comm) of every process below pid."""
    procs = {}
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        procs[int(p.name)] = (int(fields[1]), fields[0], comm)
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, state, comm) in procs.items():
            if ppid == parent:
                out.append((child, state, comm))
                todo.append(child)
    return out


@needs_apache
def test_load_ab_5000_c16_no_failures_no_zombies(httpd):
    if shutil.which("ab") is None:
        pytest.skip("ab (apache2-utils) is not installed")
    r = subprocess.run(["ab", "-q", "-n", "5000", "-c", "16", f"{httpd.url}/hello.py?name=Ab"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^Complete requests:\s+5000$", r.stdout, re.M), r.stdout
    assert re.search(r"^Failed requests:\s+0$", r.stdout, re.M), r.stdout
    assert "Non-2xx" not in r.stdout, r.stdout
    time.sleep(1)
    left = [p for p in descendants(httpd.proc.pid) if p[2] != "apache2"]
    assert left == [], left
    assert not [p for p in descendants(httpd.proc.pid) if p[1] == "Z"]


@needs_apache
def test_prefork_with_mod_cgi(cgihost, site, tmp_path):
    # Debian's other pairing: the prefork MPM runs CGI with mod_cgi itself.
    server = private.PrivateApache(site.base / "run-prefork", cgihost, site.doc,
                                   extra=site.config(), mpm="prefork")
    assert server.cgimod == "cgi"
    with server:
        status, _, body = request(server, "GET", "/hello2.py?name=Pre&happy=on")
        assert status == 200
        cold, ref = cold_and_reference(tmp_path, {"REQUEST_METHOD": "GET",
                                                  "QUERY_STRING": "name=Pre&happy=on"})
        assert body == cold == ref
        env = env_dump(server, "/sub/env.py/x?a+b")
        assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["ARGV"], env["DIRVAR"]) == \
            ("/sub/env.py", "/x", "['env.py', 'a', 'b']", "d1")
        assert request(server, "GET", "/raw-bin/cgihost/marker.py")[0] == 403
        assert request(server, "GET", "/cgihost-bin/cgihost/marker.py")[0] == 403
        assert site.markers_left() == []
        status, _, _ = request(server, "GET", f"/limits/loop.py?pidfile={site.markers}/pf.pid")
        assert status in (500, 503, 504)
        pid = int((site.markers / "pf.pid").read_text())
        (site.markers / "pf.pid").unlink()
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid)


@needs_apache
@pytest.mark.parametrize("missing", ["actions", "alias", "cgid"])
def test_without_a_module_it_needs_the_snippet_refuses_the_scripts(cgihost, site, missing):
    """Without mod_actions, mod_alias or a CGI module, scripts are refused
    with 403, never sent as text: without mod_alias, hello.py's source was
    sent with 200."""
    server = private.PrivateApache(site.base / f"run-without-{missing}", cgihost, site.doc,
                                   without=[missing])
    with server:
        conf = (server.run / "httpd.conf").read_text()
        assert f"\n#LoadModule {missing}_module " in conf
        for target in ("/hello.py", "/hello.py?name=Ada", "/sub/env.py/x", "/", "/sub/upper.PY",
                       "/marker.py.txt", "/marker.Py~"):
            status, _, body = request(server, "GET", target)
            assert status == 403 and b"import" not in body and b"ELF" not in body, (target, body)
        # a name with ".py" inside it is not a script's
        assert request(server, "GET", "/pic.PYRAMID.png")[::2] == (200, b"not a script\n")
        status, _, body = request(server, "GET", "/cgihost-bin/cgihost/hello.py")
        assert status in (403, 404) and b"ELF" not in body and b"import" not in body


WHICH = """\
import cgi
print("Content-Type: text/plain\\n")
print("python3" if hasattr(cgi, "__file__") else "cgihost")
"""


@needs_apache
def test_the_snippet_included_again_adds_a_directory_such_as_cgi_bin(cgihost, site):
    """An admin with scripts in /usr/lib/cgi-bin (Debian's ScriptAlias) and
    under ~user/public_html as well as in the document root includes the
    snippet once per directory, as the README says: the scripts of each run
    through cgihost, and .cgi scripts stay with mod_cgi."""
    base = site.base / "again"
    cgi_bin, homes = base / "cgi-bin", base / "home"
    user_dir = homes / "ann" / "public_html"
    for d in (base, cgi_bin, homes, homes / "ann", user_dir):
        d.mkdir()
        os.chmod(d, 0o755)
    for d in (cgi_bin, user_dir):
        site.write_exec(d / "which.py", "#!/usr/bin/python3\n" + WHICH)
        site.write_exec(d / "which.cgi", "#!/usr/bin/python3\n" + WHICH)
    extra = f"""
LoadModule userdir_module /usr/lib/apache2/modules/mod_userdir.so
ScriptAlias /cgi-bin/ "{cgi_bin}/"
<Directory "{cgi_bin}">
    Options +ExecCGI
    Require all granted
</Directory>
UserDir "{homes}/*/public_html"
<Directory "{homes}/*/public_html">
    Require all granted
</Directory>
Define CGIHOST_SCRIPTS "{cgi_bin}"
Include "{private.SNIPPET}"
Define CGIHOST_SCRIPTS "{homes}/*/public_html"
Include "{private.SNIPPET}"
"""
    server = private.PrivateApache(base / "run", cgihost, site.doc, extra=extra)
    with server:
        for target, ran in (("/cgi-bin/which.py", b"cgihost"), ("/~ann/which.py", b"cgihost"),
                            ("/hello.py", None),
                            # not a .py: mod_cgi runs it with python3, as before
                            ("/cgi-bin/which.cgi", b"python3")):
            status, _, body = request(server, "GET", target)
            assert status == 200, (target, body)
            if ran:
                assert body.strip() == ran, target


@needs_apache
def test_a_front_controller_rewrite_needs_redirect_status_at_server_level(cgihost, site):
    """Every URL to one script (/app.py/PATH): in .htaccess it works as under
    mod_cgi; at server level the rule rewrites the Action's own URL too, and
    every request ends in 500 (AH00124) unless the rule is conditioned on
    REDIRECT_STATUS, as the README says."""
    base = site.base / "front"
    doc = base / "doc"
    for d in (base, doc, doc / "ht"):
        d.mkdir()
        os.chmod(d, 0o755)
    for d in (doc, doc / "ht"):
        (d / "app.py").write_text(
            "import os\nprint('Content-Type: text/plain\\n')\n"
            "print(os.environ['SCRIPT_NAME'], os.environ.get('PATH_INFO'))\n")
    (doc / "ht" / ".htaccess").write_text(
        "RewriteEngine On\nRewriteCond %{REQUEST_FILENAME} !-f\n"
        "RewriteRule ^(.*)$ /ht/app.py/$1 [L]\n")
    rule = ("RewriteCond %{REQUEST_URI} !^/ht/\n"
            "RewriteCond %{DOCUMENT_ROOT}%{REQUEST_URI} !-f\n"
            "RewriteRule ^/(.*)$ /app.py/$1 [L,PT]\n")
    status = "RewriteCond %{ENV:REDIRECT_STATUS} ^$\n"
    # without [PT]: 404, as the README says, where mod_cgi ran the script;
    # with the leading slash captured, "/app.py//some/page": run, with
    # PATH_INFO's "//" merged, as mod_cgi does
    no_pt = rule.replace("[L,PT]", "[L]")
    slash = rule.replace("^/(.*)$", "^(.*)$")
    for n, cond in enumerate((None, "", status, status + no_pt, status + slash)):
        extra = (f"LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"
                 f'<Directory "{doc}/ht">\n    AllowOverride FileInfo\n</Directory>\n')
        if cond is not None:
            extra += f"RewriteEngine On\n{cond}" + ("" if cond.endswith("]\n") else rule)
        with private.PrivateApache(base / f"run{n}", cgihost, doc, extra=extra) as server:
            got = request(server, "GET", "/some/page")
            if cond is None:
                assert got[0] == 404
            elif cond in (status, status + slash):
                assert got[::2] == (200, b"/app.py /some/page\n"), cond
            elif cond:
                assert got[0] == 404, cond
            else:
                assert got[0] == 500 and "AH00124" in server.error_log()
                continue
            assert request(server, "GET", "/ht/some/page")[::2] == \
                (200, b"/ht/app.py /some/page\n")


@needs_apache
def test_which_handler_runs_a_script_that_htaccess_gives_to_cgi_script(cgihost, site):
    """A tutorial's .htaccess in a directory of the snippet's: its AddHandler
    or SetHandler cgi-script loses to the snippet, a SetHandler in a <Files>
    wins and the script runs with python3, as the README says; the access
    log's %f tells which. So does one meant to show the source."""
    base = site.base / "htaccess"
    doc = base / "doc"
    htaccess = {
        "add": "AddHandler cgi-script .py .cgi\n",
        "set": "SetHandler cgi-script\n",
        "files": '<Files "*.py">\n    SetHandler cgi-script\n</Files>\n',
        "filesmatch": '<FilesMatch "\\.py$">\n    SetHandler cgi-script\n</FilesMatch>\n',
        "cgihost": '<Files "*.py">\n    SetHandler cgihost-script\n</Files>\n',
        # meant to show the source: it runs, but for a <Files>
        "none": "SetHandler None\n",
        "remove": "RemoveHandler .py\n",
        "files-none": '<Files "*.py">\n    SetHandler None\n</Files>\n',
    }
    for d in [base, doc] + [doc / name for name in htaccess]:
        d.mkdir()
        os.chmod(d, 0o755)
    extra = 'CustomLog "@RUN@/files.log" "%U %f"\n'
    for name, lines in htaccess.items():
        (doc / name / ".htaccess").write_text("Options +ExecCGI\n" + lines)
        site.write_exec(doc / name / "which.py", "#!/usr/bin/python3\n" + WHICH)
        extra += f'<Directory "{doc / name}">\n    AllowOverride FileInfo Options\n</Directory>\n'
    want = {"add": "cgihost", "set": "cgihost", "files": "python3", "filesmatch": "python3",
            "cgihost": "cgihost", "none": "cgihost", "remove": "cgihost", "files-none": None}
    with private.PrivateApache(base / "run", cgihost, doc, extra=extra) as server:
        for name, ran in want.items():
            body = (ran + "\n") if ran else "#!/usr/bin/python3\n" + WHICH
            assert request(server, "GET", f"/{name}/which.py")[::2] == \
                (200, body.encode()), name
        time.sleep(0.2)
        files = dict(line.split(" ", 1) for line in
                     (server.run / "files.log").read_text().splitlines())
    for name, ran in want.items():
        assert files[f"/{name}/which.py"] == \
            (str(server.cgihost) if ran == "cgihost" else str(doc / name / "which.py"))


def processes_with_env(entry):
    found = []
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if entry.encode() in (p / "environ").read_bytes().split(b"\0"):
                    found.append(int(p.name))
            except OSError:
                pass
    return found


@needs_apache
def test_stop_leaves_nothing_running(cgihost, tmp_path):
    base = pathlib.Path(tempfile.mkdtemp(prefix="cgihost-test-stop-"))
    os.chmod(base, 0o755)
    server = private.PrivateApache(base / "run", cgihost, ROOT / "scripts")
    try:
        server.start()
        pid = server.proc.pid
        for _ in range(10):
            assert request(server, "GET", "/hello.py?name=Stop")[0] == 200
        mine = f"CGIHOST_SOCKET_DIR={server.cgihost_sockets}"
        if (server.cgihost.parent / "cgihost-py").exists():
            # The resident server these requests started (in the background,
            # while the first ones ran cold) is there to stop.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                    (server.cgihost_sockets / "server.sock").exists() and processes_with_env(mine)):
                assert request(server, "GET", "/hello.py?name=Stop")[0] == 200
                time.sleep(0.2)
            assert (server.cgihost_sockets / "server.sock").exists()
            assert processes_with_env(mine) != []
        server.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (processes_with_env(mine) or alive(pid)):
            time.sleep(0.1)
        assert not alive(pid)
        assert processes_with_env(mine) == []
        assert not (server.cgihost_sockets / "server.sock").exists()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---- the browser ----------------------------------------------------------------------

@needs_apache
def test_browser_flow_in_headless_chromium(httpd, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="python3-selenium is not installed")
    from selenium.webdriver.common.by import By
    if not shutil.which("chromedriver") or not shutil.which("chromium"):
        pytest.skip("chromium and chromium-driver are not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    from selenium.webdriver.chrome.service import Service
    service = Service(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        driver.set_page_load_timeout(60)
        driver.get(f"{httpd.url}/hello.py")
        assert "Hello Program!" in driver.find_element(By.TAG_NAME, "h1").text
        driver.find_element(By.NAME, "name").send_keys("Ada Lovelace")
        driver.find_element(By.NAME, "happy").click()
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        for _ in range(100):
            if driver.current_url.endswith("/hello2.py"):
                break
            time.sleep(0.1)
        assert driver.current_url == f"{httpd.url}/hello2.py"
        text = driver.find_element(By.TAG_NAME, "body").text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "browser-hello2.png"))
        assert "HelloAda Lovelace! Thanks for using my script!" in text
        assert "Yayy! I'm happy too!" in text
        assert "Why are you sad?" not in text
    finally:
        driver.quit()
    assert (ARTIFACTS / "browser-hello2.png").stat().st_size > 1000


# ---- the demo ---------------------------------------------------------------------------

@needs_apache
def test_demo_oneshot(cgihost, tmp_path):
    port = private.free_port()
    r = subprocess.run([PYTHON, ROOT / "host" / "demo", "--cgihost", cgihost, "--port", str(port),
                        "--run-dir", tmp_path / "demo"],
                       env={"PATH": "/usr/bin:/bin", "DEMO_ONESHOT": "1"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"GET http://127.0.0.1:{port}/hello.py?name=Ada&happy=on: 200" in r.stdout
    assert "HelloAda! Thanks for using my script!" in r.stdout
    assert not (tmp_path / "demo" / "httpd.pid").exists()


@needs_apache
def test_demo_on_a_port_in_use_says_so_and_fails(cgihost, tmp_path):
    """Another program listening on the port: the demo must not claim to
    serve (Apache cannot bind it, and a connect would reach that program)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(4)
        port = other.getsockname()[1]
        r = subprocess.run([PYTHON, ROOT / "host" / "demo", "--cgihost", cgihost, "--port", str(port),
                            "--run-dir", tmp_path / "demo"],
                           env={"PATH": "/usr/bin:/bin", "DEMO_ONESHOT": "1"},
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"port {port} on 127.0.0.1 is in use" in r.stderr
    assert "another port: make demo PORT=N" in r.stderr
    assert "hello.py" not in r.stdout


@needs_apache
@pytest.mark.skipif(os.geteuid() == 0 or UNPRIVILEGED_PORT_START < 2, reason="any port is ours to listen on")
def test_demo_on_a_port_that_needs_root_says_so_and_fails(cgihost, tmp_path):
    """make demo PORT=80 by a user who may not listen there: not "in use by
    another program", which sends them looking for one."""
    port = UNPRIVILEGED_PORT_START - 1
    r = subprocess.run([PYTHON, ROOT / "host" / "demo", "--cgihost", cgihost, "--port", str(port),
                        "--run-dir", tmp_path / "demo"],
                       env={"PATH": "/usr/bin:/bin", "DEMO_ONESHOT": "1"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "in use" not in r.stderr
    assert (f"cannot listen on 127.0.0.1:{port}: Permission denied (a port below {port + 1} "
            "needs root); another port: make demo PORT=N") in r.stderr
    assert "hello.py" not in r.stdout


@needs_apache
@pytest.mark.parametrize("how", ["demo-stop", "sigint"])
def test_demo_in_the_foreground_and_its_stop(cgihost, tmp_path, how):
    port = private.free_port()
    demo = [PYTHON, ROOT / "host" / "demo", "--cgihost", cgihost, "--port", str(port),
            "--run-dir", tmp_path / "demo"]
    p = subprocess.Popen(demo, env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/hello.py"
        for line in p.stdout:
            if line.strip() == url:
                break
        else:
            pytest.fail("the demo printed no URL: " + p.stderr.read())
        with urllib.request.urlopen(url + "?name=Fg", timeout=30) as r:
            assert b"HelloFg!" in r.read()
        pid = int((tmp_path / "demo" / "httpd.pid").read_text())
        if how == "sigint":
            p.send_signal(signal.SIGINT)
        else:
            r = subprocess.run(demo + ["--stop"], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and "stopped" in r.stdout, r.stderr
        assert p.wait(timeout=60) == 0
        assert not alive(pid)
        assert not (tmp_path / "demo" / "httpd.pid").exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


FAKE_APACHE = """#!/bin/sh
# apache2 -t says @CONFIGTEST@; started, it never listens (a slow start), so
# that the demo is interrupted while it waits for it.
if [ "$1" = -t ]; then
    [ @CONFIGTEST@ = ok ] && exit 0
    echo "AH00526: Syntax error" >&2; exit 1
fi
touch "@STARTED@"
exec sleep 60
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the copy for www-data is made only as root")
@pytest.mark.parametrize("how", ["sigint", "configtest"])
def test_demo_interrupted_or_failing_while_apache_starts_leaves_nothing(cgihost, tmp_path, how):
    """Ctrl-C before Apache listens (a user who notices the wrong port at
    once), or an apache2 -t that fails: the demo stops what it started, the
    copy it made under /tmp for www-data included, and says so, not with a
    traceback."""
    fake = tmp_path / "apache2"
    started = tmp_path / "started"
    fake.write_text(FAKE_APACHE.replace("@STARTED@", str(started))
                    .replace("@CONFIGTEST@", "ok" if how == "sigint" else "fails"))
    fake.chmod(0o755)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # cgihost where www-data cannot reach it (tmp_path is root's, 0700):
    # the demo copies it to a directory of its own under TMPDIR.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy2(cgihost, bindir / "cgihost")
    wrapper = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); import private; "
               "private.APACHE = sys.argv[2]; sys.argv = sys.argv[3:]; "
               "runpy.run_path(sys.argv[0], run_name='__main__')")
    demo = [PYTHON, "-B", "-c", wrapper, ROOT / "host" / "apache", fake, ROOT / "host" / "demo",
            "--cgihost", bindir / "cgihost", "--port", str(private.free_port()),
            "--run-dir", tmp_path / "demo"]
    p = subprocess.Popen(demo, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmpdir)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if how == "sigint":
            deadline = time.monotonic() + 30
            while not started.exists():
                assert p.poll() is None and time.monotonic() < deadline, p.communicate()
                time.sleep(0.02)
            assert os.listdir(tmpdir), "no copy made for www-data: the test tests nothing"
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "Traceback" not in err, err
    if how == "sigint":
        assert p.returncode == 0 and "stopping" in out
    else:
        assert p.returncode == 1 and "AH00526: Syntax error" in err
        assert not started.exists()
    assert os.listdir(tmpdir) == []
    assert not (tmp_path / "demo" / "httpd.pid").exists()


# ---- make install ----------------------------------------------------------------------

def test_make_install_and_uninstall(cgihost, tmp_path):
    dest = tmp_path / "dest"
    # -o all: install what the suite runs on, never rebuild it here.
    make = ["make", "-s", "-o", "all", "-C", str(ROOT), f"BUILD={cgihost.parent}",
            f"DESTDIR={dest}", "PREFIX=/opt/cgih"]
    built = {p.name: p.stat().st_mtime_ns for p in cgihost.parent.iterdir()}
    r = subprocess.run(make + ["install"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # Nothing written in the build directory, which an installer may not
    # own (review Z14: the snippet and units were made there first).
    assert {p.name: p.stat().st_mtime_ns for p in cgihost.parent.iterdir()} == built
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    want = ["etc/apache2/conf-available/cgihost.conf", "opt/cgih/bin/cgihost"]
    if (cgihost.parent / "cgihost-py").exists():
        want.append("opt/cgih/bin/cgihost-py")
    for unit in ("cgihost.service", "cgihost.socket"):
        if (ROOT / "host" / unit).exists():
            want.append(f"opt/cgih/lib/systemd/system/{unit}")
    if (ROOT / "host" / "cgihost.1").exists():
        want.append("opt/cgih/share/man/man1/cgihost.1")
    want.append("opt/cgih/lib/tmpfiles.d/cgihost.conf")
    assert files == sorted(want)
    tmpfiles = (dest / "opt/cgih/lib/tmpfiles.d/cgihost.conf").read_text()
    assert "\nd /run/cgihost 0700 www-data www-data -\n" in tmpfiles
    assert (dest / "opt/cgih/bin/cgihost").read_bytes() == cgihost.read_bytes()
    assert os.access(dest / "opt/cgih/bin/cgihost", os.X_OK)
    conf = (dest / "etc/apache2/conf-available/cgihost.conf").read_text()
    assert "Define CGIHOST_BIN /opt/cgih/bin/cgihost\n" in conf
    assert "/usr/local/bin" not in conf
    if os.path.exists(private.APACHE):
        # It loads into an Apache as a2enconf would include it.
        (tmp_path / "t.conf").write_text(
            f'ServerRoot "{tmp_path}"\nServerName 127.0.0.1\nErrorLog "{tmp_path}/error.log"\n'
            f"Listen 127.0.0.1:{private.free_port()}\n"
            "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
            "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n"
            "LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n"
            "LoadModule actions_module /usr/lib/apache2/modules/mod_actions.so\n"
            "LoadModule cgid_module /usr/lib/apache2/modules/mod_cgid.so\n"
            f'Include "{dest}/etc/apache2/conf-available/cgihost.conf"\n')
        t = subprocess.run([private.APACHE, "-t", "-f", str(tmp_path / "t.conf")],
                           capture_output=True, text=True)
        assert t.returncode == 0, t.stderr
    r = subprocess.run(make + ["uninstall"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def test_make_install_over_running_programs_never_leaves_them_missing(cgihost, tmp_path):
    """An upgrade while the web server runs requests: each program is
    renamed over the old one, so every exec finds either the old file or the
    new one, whole and executable (install(1) alone removes the old one and
    makes the new one executable only once written: Apache answered 404 or
    500, the client 127)."""
    if not (cgihost.parent / "cgihost-py").exists():
        pytest.skip("no cgihost-py in this build")
    dest = tmp_path / "dest"
    make = ["make", "-s", "-o", "all", "-C", str(ROOT), f"BUILD={cgihost.parent}",
            f"DESTDIR={dest}", "PREFIX=/opt/cgih"]
    subprocess.run(make + ["install"], check=True, capture_output=True, timeout=600)
    done = threading.Event()
    failed = []

    def run(name):
        while not done.is_set():
            try:
                r = subprocess.run([str(dest / "opt/cgih/bin" / name), "--version"],
                                   capture_output=True, timeout=60)
                if r.returncode != 0:
                    failed.append((name, r.returncode, r.stderr[-200:]))
            except OSError as e:
                failed.append((name, repr(e)))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("cgihost", "cgihost-py")]
    for t in threads:
        t.start()
    try:
        for _ in range(8):
            subprocess.run(make + ["install"], check=True, capture_output=True, timeout=600)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert failed == [], failed[:5]
    assert sorted(p.name for p in (dest / "opt/cgih/bin").iterdir()) == ["cgihost", "cgihost-py"]


# ---- cgihost's own checks, without Apache --------------------------------------------------

def as_handler(doc, path_info, extra=None):
    """The variables Apache gives cgihost behind the Action for path_info."""
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "DOCUMENT_ROOT": str(doc),
           "SCRIPT_NAME": "/cgihost-bin/cgihost", "SCRIPT_FILENAME": str(CGIHOST),
           "PATH_INFO": path_info, "PATH_TRANSLATED": str(doc) + path_info,
           "REDIRECT_STATUS": "200", "REDIRECT_URL": path_info, "REQUEST_URI": path_info,
           "REDIRECT_HANDLER": "cgihost-script"}
    env.update(extra or {})
    return {k: v for k, v in env.items() if v is not None}


def assert_refused(r, status):
    text = {403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}[status]
    assert r.stdout == (f"Status: {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        f"\r\n{status} {text}\n").encode()
    assert r.stderr.count(b"\n") == 1 and r.stderr.startswith(f"cgihost: {status}".encode())


@pytest.fixture
def doc(tmp_path):
    d = tmp_path / "doc"
    d.mkdir()
    (d / "sub").mkdir()
    (d / "ok.py").write_text(MARKER.format(dir=str(tmp_path), name="ok"))
    (d / "env.py").write_text((SCRIPTS / "apache_env.py").read_text())
    return d


def ran(tmp_path):
    return [p.name for p in tmp_path.iterdir() if p.name.startswith("ok.")]


@pytest.mark.parametrize("query", ["hello", "a+b", "%2Fetc%2Fpasswd", "-s", "x=1"])
def test_a_cgi_environment_made_by_hand_runs_the_script(cgihost, tmp_path, query):
    # GATEWAY_INTERFACE and a query string set by hand, no web server (no
    # SCRIPT_NAME): `cgihost script.py` runs the script, as python3 would,
    # whatever the query string looks like.
    script = tmp_path / "isi.py"
    script.write_text("import cgi, sys\nprint(sys.argv[1:], cgi.FieldStorage(keep_blank_values=1).list)\n")
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "QUERY_STRING": query}
    ours, theirs = run([cgihost, script], env), run([PYTHON, script], env)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout and ours.stdout.startswith(b"[] [MiniFieldStorage(")


@pytest.mark.parametrize("case,extra,argv,status", [
    ("no REDIRECT_STATUS", {"REDIRECT_STATUS": None}, [], 403),
    ("empty REDIRECT_STATUS", {"REDIRECT_STATUS": ""}, [], 403),
    ("REDIRECT_URL differs", {"REDIRECT_URL": "/other"}, [], 403),
    ("no REDIRECT_URL", {"REDIRECT_URL": None}, [], 403),
    ("no REDIRECT_HANDLER", {"REDIRECT_HANDLER": None}, [], 403),
    ("a CGI program's local redirect", {"REDIRECT_HANDLER": None,
                                         "REDIRECT_GATEWAY_INTERFACE": "CGI/1.1"}, [], 403),
    ("no PATH_TRANSLATED", {"PATH_TRANSLATED": None}, [], 500),
    ("no PATH_INFO", {"PATH_INFO": None}, [], 404),
    ("relative PATH_TRANSLATED", {"PATH_TRANSLATED": "ok.py"}, [], 404),
    ("dot-dot in PATH_TRANSLATED", {"PATH_TRANSLATED": "/{doc}/sub/../ok.py"}, [], 403),
    ("query words as a script", {"REDIRECT_STATUS": None, "QUERY_STRING": "{doc}/ok.py",
                                 "PATH_INFO": None}, ["{doc}/ok.py"], 403),
    ("query words as options", {"REDIRECT_STATUS": None, "QUERY_STRING": "--version",
                                "PATH_INFO": None}, ["--version"], 403),
    ("another file routed", {"REDIRECT_CGIHOST_FILE": "{doc}/env.py"}, [], 403),
    ("query word naming SCRIPT_FILENAME", {"REDIRECT_STATUS": None, "QUERY_STRING": "{cgihost}",
                                           "PATH_INFO": None}, ["{cgihost}"], 403),
    # a gateway that drops SCRIPT_NAME: still a request, not a command line
    ("query words as a script, no SCRIPT_NAME", {"SCRIPT_NAME": None, "REDIRECT_STATUS": None,
                                                 "QUERY_STRING": "{doc}/ok.py"}, ["{doc}/ok.py"], 403),
    ("query words as a script, only REQUEST_URI", {
        "SCRIPT_NAME": None, "REDIRECT_STATUS": None, "PATH_INFO": None, "PATH_TRANSLATED": None,
        "REDIRECT_URL": None, "REDIRECT_HANDLER": None, "QUERY_STRING": "{doc}/ok.py"},
     ["{doc}/ok.py"], 403),
])
def test_cgihost_refuses_without_running(cgihost, doc, tmp_path, case, extra, argv, status):
    extra = {k: v.replace("/{doc}", str(doc)).replace("{doc}", str(doc)).replace("{cgihost}", str(cgihost))
             if v else v for k, v in extra.items()}
    argv = [a.replace("{doc}", str(doc)).replace("{cgihost}", str(cgihost)) for a in argv]
    r = run([cgihost] + argv, as_handler(doc, "/ok.py", extra))
    assert_refused(r, status)
    assert ran(tmp_path) == []


@pytest.mark.parametrize("uri,said", [
    ("/ok.py?a\x01", b"cgihost: 403 Forbidden for /ok.py?a?: not reached"),
    (None, b"cgihost: 403 Forbidden (no REQUEST_URI): not reached")])
def test_a_refusal_names_the_request_in_the_log(cgihost, doc, tmp_path, uri, said):
    # one line for the error log, naming what was asked (control bytes as
    # '?'), or saying that nothing names it (a CGI environment made by hand)
    r = run([cgihost], as_handler(doc, "/ok.py", {"REDIRECT_STATUS": None, "REQUEST_URI": uri}))
    assert_refused(r, 403)
    assert r.stderr.startswith(said), r.stderr
    assert ran(tmp_path) == []


@pytest.mark.parametrize("path_info,status", [
    ("/missing.py", 404), ("/missing.py/x", 404), ("/sub", 403), ("/sub/", 403),
    ("/ok.py/x", None), ("/ok.py", None)])
def test_cgihost_finds_the_script_apache_resolved(cgihost, doc, tmp_path, path_info, status):
    r = run([cgihost], as_handler(doc, path_info))
    if status is None:
        assert r.returncode == 0 and r.stdout.endswith(b"ran\n"), r.stderr
        assert len(ran(tmp_path)) == 1
    else:
        assert_refused(r, status)
        assert ran(tmp_path) == []


def test_an_nph_script_is_refused_through_the_action(cgihost, doc, tmp_path):
    """Apache takes nph from the name of the program it runs (cgihost), so an
    nph- script's status line would be a malformed header (a 500 after the
    script ran): cgihost answers 500 without running it; its #! line runs it
    as nph (test_shebang_mode)."""
    (doc / "nph-ok.py").write_text(MARKER.format(dir=str(tmp_path), name="ok"))
    r = run([cgihost], as_handler(doc, "/nph-ok.py"))
    assert_refused(r, 500)
    assert b"#! line" in r.stderr
    assert ran(tmp_path) == []


def test_a_query_word_naming_the_handlers_program_is_a_query(cgihost, doc, tmp_path):
    """/ok.py?/usr/local/bin/cgihost behind the Action: the word equals
    SCRIPT_FILENAME, as a #! line's script would, but it is cgihost, a
    program, which no #! line runs: ok.py runs with it in sys.argv, as
    mod_cgi would run it (review Z12: 403)."""
    r = run([cgihost, str(cgihost)], as_handler(doc, "/ok.py", {"QUERY_STRING": str(cgihost)}))
    assert r.returncode == 0 and r.stdout.endswith(b"ran\n"), r
    assert len(ran(tmp_path)) == 1


def test_cgihost_is_not_its_own_script(cgihost, tmp_path):
    d = cgihost.parent
    r = run([cgihost], as_handler(d, "/" + cgihost.name))
    assert_refused(r, 403)
    # Nor through a query word equal to its own path (shebang look-alike).
    r = run([cgihost, str(cgihost)], {"QUERY_STRING": "", "SCRIPT_FILENAME": str(cgihost)})
    assert_refused(r, 403)


def test_cgihost_rewrites_the_environment(cgihost, doc):
    r = run([cgihost, "w1", "-x"], as_handler(doc, "/env.py/a/b", {
        "QUERY_STRING": "w1+-x", "REDIRECT_QUERY_STRING": "w1+-x",
        "REDIRECT_HANDLER": "cgihost-script", "REDIRECT_DIRVAR": "d1",
        "GLOBALVAR": "handler", "REDIRECT_GLOBALVAR": "first",
        "REDIRECT_REDIRECT_STATUS": "404", "REDIRECT_REDIRECT_URL": "/missing",
        "CONTEXT_PREFIX": "/cgihost-bin/cgihost", "CONTEXT_DOCUMENT_ROOT": str(cgihost),
        "HTTP_REDIRECT_STATUS": "999", "REDIRECT_CGIHOST_FILE": str(doc / "env.py")}))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("ARGV"))
    assert lines[2:5] == ["ARGV ['env.py', 'w1', '-x']", f"ARGV0 {doc / 'env.py'}", f"CWD {doc}"]
    assert env["SCRIPT_NAME"] == "/env.py"
    assert env["SCRIPT_FILENAME"] == str(doc / "env.py")
    assert env["PATH_INFO"] == "/a/b"
    assert env["PATH_TRANSLATED"] == f"{doc}/a/b"
    assert env["CONTEXT_PREFIX"] == "" and env["CONTEXT_DOCUMENT_ROOT"] == str(doc)
    assert env["DIRVAR"] == "d1" and env["GLOBALVAR"] == "first"
    assert env["REDIRECT_STATUS"] == "404" and env["REDIRECT_URL"] == "/missing"
    assert env["HTTP_REDIRECT_STATUS"] == "999"
    assert "REDIRECT_HANDLER" not in env and "REDIRECT_QUERY_STRING" not in env
    assert "HANDLER" not in env
    assert "CGIHOST_FILE" not in env and "REDIRECT_CGIHOST_FILE" not in env  # the snippet's, for cgihost


def test_command_line_with_gateway_interface_still_runs_the_named_script(cgihost, doc, tmp_path):
    # How the other tests and a shebang line call it: the script is argv[1].
    r = run([cgihost, doc / "ok.py", "arg"], {"QUERY_STRING": "a=1"})
    assert r.returncode == 0 and len(ran(tmp_path)) == 1
    # A query string without '=' accounts for the trailing words only.
    r = run([cgihost, doc / "ok.py", "w"], {"QUERY_STRING": "w"})
    assert r.returncode == 0 and len(ran(tmp_path)) == 2
    # A server that passes no query words (fcgiwrap, lighttpd) names the
    # script in SCRIPT_FILENAME, which is argv[1].
    r = run([cgihost, doc / "ok.py"], {"QUERY_STRING": "w", "SCRIPT_FILENAME": str(doc / "ok.py")})
    assert r.returncode == 0 and len(ran(tmp_path)) == 3
    # From a web server (SCRIPT_NAME set), a lone argv word the query string
    # accounts for is the query's: `cgihost ok.py` may be `/cgihost?ok.py`.
    r = run([cgihost, doc / "ok.py"], {"QUERY_STRING": "w", "SCRIPT_NAME": "/cgi-bin/cgihost"})
    assert_refused(r, 403)
    assert len(ran(tmp_path)) == 3
    # Without one, the environment was made by hand: it is a command line.
    r = run([cgihost, doc / "ok.py"], {"QUERY_STRING": "w"})
    assert r.returncode == 0 and len(ran(tmp_path)) == 4
