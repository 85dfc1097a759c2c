"""The multipart parser's limits are configurable from the environment, and a
request over one gets a ValueError naming the limit and the byte offset."""
from conftest import run

SCRIPT = "import cgi\nform = cgi.FieldStorage()\nprint(form.getvalue('a'))\n"


def body(header_len):
    return (b'--B\r\nContent-Disposition: form-data; name="a"\r\nX-Long: ' + b"x" * header_len +
            b"\r\n\r\nvalue\r\n--B--\r\n")


def request(cgihost, tmp_path, data, **env):
    script = tmp_path / "lim.py"
    script.write_text(SCRIPT)
    e = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=B",
         "CONTENT_LENGTH": str(len(data))}
    e.update(env)
    return run([cgihost, script], e, data)


def test_default_header_line_limit_admits_ordinary_headers(cgihost, tmp_path):
    r = request(cgihost, tmp_path, body(300))
    assert r.returncode == 0 and r.stdout == b"value\n"


def test_header_line_limit_is_configurable(cgihost, tmp_path):
    r = request(cgihost, tmp_path, body(300), CGIHOST_MAX_HEADER_LINE="100")
    assert r.returncode == 1
    assert b"ValueError: multipart body: header line too long (max_header_line) at byte" in r.stderr


def test_parts_limit_is_configurable(cgihost, tmp_path):
    data = b"".join(b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n'
                    for _ in range(5)) + b"--B--\r\n"
    assert request(cgihost, tmp_path, data).returncode == 0
    r = request(cgihost, tmp_path, data, CGIHOST_MAX_PARTS="3")
    assert r.returncode == 1 and b"ValueError: multipart body:" in r.stderr
