"""Corpus for the multipart differential test (test_multipart_diff.py).

cases() returns a list of Case: a request body, the CGI environment it comes
with, and how tests/scripts/mp_dump.py is to parse it (T_MODE, T_ARGS, T_FP,
T_PDICT). Hand-written cases cover the shapes browsers and curl send and the
corners of cgi.py; a seeded random generator adds many more on top.
"""
import random
from dataclasses import dataclass, field

CRLF = b"\r\n"


@dataclass
class Case:
    id: str
    body: bytes
    env: dict = field(default_factory=dict)
    mode: str = "fs"
    args: str = "{}"
    fp: str = "stdin"
    pdict: str = "{}"

    def environ(self):
        e = dict(self.env)
        e["T_MODE"] = self.mode
        e["T_ARGS"] = self.args
        e["T_FP"] = self.fp
        e["T_PDICT"] = self.pdict
        return e


def post_env(boundary, body_len, ctype="multipart/form-data", qs=None,
             clen=None, extra_ct=""):
    env = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "%s; boundary=%s%s" % (ctype, boundary, extra_ct),
        "CONTENT_LENGTH": str(body_len if clen is None else clen),
    }
    if qs is not None:
        env["QUERY_STRING"] = qs
    return env


def part(name, data, filename=None, ctype=None, extra=(), nl=CRLF, disp="form-data"):
    """One part's headers and data (without the delimiter lines)."""
    h = b'Content-Disposition: %s; name="%s"' % (disp.encode(), name.encode())
    if filename is not None:
        h += b'; filename="%s"' % filename.encode("utf-8")
    lines = [h]
    if ctype is not None:
        lines.append(b"Content-Type: " + ctype.encode())
    lines.extend(extra)
    return nl.join(lines) + nl + nl + data


def body_of(boundary, parts, nl=CRLF, preamble=b"", epilogue=b"", final=True):
    b = boundary.encode() if isinstance(boundary, str) else boundary
    out = preamble
    for p in parts:
        out += b"--" + b + nl + p + nl
    if final:
        out += b"--" + b + b"--" + nl
    return out + epilogue


def mk(cid, boundary, parts, nl=CRLF, qs=None, clen=None, mode="fs", args="{}",
       fp="stdin", preamble=b"", epilogue=b"", final=True, ctype="multipart/form-data",
       extra_ct="", body=None):
    if body is None:
        body = body_of(boundary, parts, nl, preamble, epilogue, final)
    env = post_env(boundary, len(body), ctype, qs, clen, extra_ct)
    return Case(cid, body, env, mode, args, fp)


BIN = bytes(range(256)) + b"\r\n\r\r\n\n\rX\r\n--\n--\r--"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(0, 256, 3)) + b"\r\n\n\r"


def chromium_boundary(rng):
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "----WebKitFormBoundary" + "".join(rng.choice(alnum) for _ in range(16))


def firefox_boundary(rng, new=True):
    if new:
        return "----geckoformboundary" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
    return "-" * 27 + "".join(rng.choice("0123456789") for _ in range(29))


def curl_boundary(rng, new=True):
    if new:
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "-" * 22 + "".join(rng.choice(alnum) for _ in range(22))
    return "-" * 24 + "".join(rng.choice("0123456789abcdef") for _ in range(16))


def hand_cases():
    rng = random.Random(1)
    C = []
    # --- browsers ---------------------------------------------------------
    cb = chromium_boundary(rng)
    C.append(mk("chromium-form", cb, [
        part("user", b"ada"), part("comment", "h\u00e9llo\r\nworld".encode()),
        part("avatar", PNG, "me.png", "image/png"),
        part("empty_file", b"", "", "application/octet-stream"),
        part("q%22uote", b"v"), part("multi", b"1"), part("multi", b"2")]))
    C.append(mk("chromium-utf8-filename", cb, [
        part("f", b"data\r\n", "r\u00e9sum\u00e9 %22x%22.txt", "text/plain")]))
    fb = firefox_boundary(rng)
    C.append(mk("firefox-new", fb, [
        part("a", b"1"), part("file", BIN, "bin.dat", "application/octet-stream"),
        part("blank", b"")]))
    fbo = firefox_boundary(rng, new=False)
    C.append(mk("firefox-old", fbo, [
        part("text", b"line1\r\nline2\r\n"), part("up", b"", "", "application/octet-stream")]))
    C.append(mk("firefox-old-kbv", fbo, [part("blank", b""), part("x", b"")],
                args="{'keep_blank_values': 1}"))
    # --- curl -F ----------------------------------------------------------
    c1 = curl_boundary(rng)
    C.append(mk("curl-new", c1, [
        part("name", b"value"), part("file", b"hello\n", "hello.txt", "text/plain")]))
    c2 = curl_boundary(rng, new=False)
    C.append(mk("curl-old-escaped-quote", c2, [], body=(
        b"--" + c2.encode() + CRLF +
        b'Content-Disposition: form-data; name="f"; filename="a\\"b.txt"' + CRLF +
        b"Content-Type: text/plain" + CRLF + CRLF + b"x" + CRLF +
        b"--" + c2.encode() + b"--" + CRLF)))
    C.append(mk("curl-type-override", c1, [
        part("j", b'{"a": 1}', None, "application/json"),
        part("h", b"<b>", "x.html", "text/html; charset=utf-8")]))
    C.append(mk("curl-headers", c1, [
        part("x", b"v", extra=[b"X-Extra: 1", b"X-Extra: 2", b"content-type: text/plain"])]))
    # --- nested multipart/mixed -------------------------------------------
    inner = "BbC04y"
    mixed = body_of(inner, [
        part("", b"... contents of file1.txt ...", "file1.txt", "text/plain", disp="file"),
        part("", b"...contents of file2.gif...\r\n", "file2.gif", "image/gif", disp="file")])
    C.append(mk("nested-mixed", "AaB03x", [
        part("submit-name", b"Larry"),
        part("files", mixed, None, "multipart/mixed; boundary=" + inner)]))
    C.append(mk("nested-mixed-maxnum2", "AaB03x", [
        part("submit-name", b"Larry"),
        part("files", mixed, None, "multipart/mixed; boundary=" + inner)],
        args="{'max_num_fields': 2}"))
    C.append(mk("nested-mixed-maxnum3", "AaB03x", [
        part("submit-name", b"Larry"),
        part("files", mixed, None, "multipart/mixed; boundary=" + inner)],
        args="{'max_num_fields': 3}"))
    C.append(mk("nested-mixed-maxnum4", "AaB03x", [
        part("submit-name", b"Larry"),
        part("files", mixed, None, "multipart/mixed; boundary=" + inner)],
        args="{'max_num_fields': 4}"))
    C.append(mk("nested-mixed-sub", "AaB03x", [
        part("submit-name", b"Larry"),
        part("files", mixed, None, "multipart/mixed; boundary=" + inner)], mode="sub"))
    C.append(mk("nested-invalid-inner-boundary", "AaB03x", [
        part("files", b"--a b\r\nx\r\n--a b--", None, 'multipart/mixed; boundary="a b\x01"')]))
    C.append(mk("nested-bad-inner-no-boundary", "AaB03x", [
        part("files", b"xx", None, "multipart/mixed")]))
    # --- binary, line ends -------------------------------------------------
    for nm, data in [("crlf", b"a\r\nb\r\n"), ("bare-cr", b"a\rb\r"), ("bare-lf", b"a\nb\n"),
                     ("mixed-ends", b"\r\n\n\r\r\n\r"), ("ends-cr", b"x\r"),
                     ("ends-crlf", b"x\r\n"), ("ends-lf", b"x\n"), ("all-bytes", BIN)]:
        C.append(mk("binary-" + nm, "xyz", [part("f", data, "b.bin", "application/octet-stream"),
                                             part("t", data)]))
    C.append(mk("bare-lf-body", "lfb", [part("a", b"1", nl=b"\n"),
                                        part("f", b"x\ny\n", "f.txt", "text/plain", nl=b"\n")],
                nl=b"\n"))
    C.append(mk("bare-lf-body-crlf-data", "lfb", [part("a", b"1\r\n2", nl=b"\n")], nl=b"\n"))
    # --- huge and empty ----------------------------------------------------
    big = bytes(rng.getrandbits(8) for _ in range(1 << 16)) * 24  # 1.5 MiB
    C.append(mk("huge-binary-file", "hb", [part("f", big, "big.bin", "application/octet-stream"),
                                           part("after", b"ok")]))
    C.append(mk("huge-text-field", "ht", [part("t", b"abc\r\n" * 400000)]))
    C.append(mk("huge-one-line", "hl", [part("t", b"z" * (3 << 20))]))
    C.append(mk("huge-one-line-file", "hl", [part("t", b"z" * (1 << 20) + b"\r\n",
                                                   "z.txt", "text/plain")]))
    # cgi.py reads lines with readline(1 << 16): a character cut there
    C.append(mk("text-64k-cut-char", "tf", [part("t", b"a" * 65535 + "\u00e9".encode() + b"z")]))
    C.append(mk("text-64k-cut-crlf", "tf", [part("t", b"a" * 65535 + b"\r\nz"),
                                             part("f", b"a" * 65535 + b"\r\nz", "f")]))
    C.append(mk("text-64k-cut-boundary", "tf", [], body=b"--tf\r\n" + part("t", b"a" * 65534) +
                b"\r\n--tf--\r\n"))
    C.append(mk("text-1001", "tf", [part("t", b"x" * 1001)]))
    C.append(mk("text-1000", "tf", [part("t", b"x" * 1000)]))
    C.append(mk("text-spill-lines", "tf", [part("t", b"line\r\n" * 300)]))
    C.append(mk("text-spill-sub", "tf", [part("t", b"line\r\n" * 300),
                                          part("f", b"q" * 2000, "q.txt")], mode="sub"))
    C.append(mk("empty-fields", "ef", [part("a", b""), part("b", b"", ""), part("c", b"", "c")]))
    C.append(mk("empty-fields-kbv", "ef", [part("a", b""), part("b", b"", "")],
                args="{'keep_blank_values': True}"))
    C.append(mk("no-parts", "np", []))
    C.append(mk("empty-body", "eb", [], body=b""))
    # --- boundaries inside data --------------------------------------------
    bd = "bnd"
    for nm, data in [
        ("no-line-end", b"x--bnd y"), ("no-dashes-line-start", b"a\r\nbnd\r\nc"),
        ("lf-before", b"a\n--bnd\nb"), ("cr-before", b"a\r--bnd\r\nb"),
        ("prefix", b"a\r\n--bn\r\nb"), ("longer", b"a\r\n--bndX\r\nb"),
        ("trailing-space", b"a\r\n--bnd \r\nb"), ("trailing-tab-final", b"a\r\n--bnd--\t\r\nb"),
        ("final-inside", b"a\r\n--bnd--x\r\nb"), ("dash-dash-only", b"a\r\n--\r\n----\r\nb"),
    ]:
        C.append(mk("recur-" + nm, bd, [part("f", data, "f"), part("t", data)]))
    # --- preamble / epilogue / whitespace ----------------------------------
    C.append(mk("preamble", "pb", [part("a", b"1")], preamble=b"This is a preamble\r\n"))
    C.append(mk("preamble-with-boundary-like", "pb", [part("a", b"1")],
                preamble=b"--pbx\r\n--pb \r\nstuff\r\n"))
    C.append(mk("epilogue", "pb", [part("a", b"1")], epilogue=b"epilogue\r\n--pb\r\nmore"))
    C.append(mk("leading-whitespace", "ws", [part("a", b"1")], preamble=b"  \r\n\t\r\n"))
    C.append(mk("leading-crlf", "ws", [part("a", b"1")], preamble=b"\r\n\r\n"))
    C.append(mk("final-trailing-ws", "ws", [], body=b"--ws\r\n" + part("a", b"1") +
                b"\r\n--ws--  \r\n"))
    C.append(mk("delim-trailing-ws", "ws", [], body=b"--ws  \r\n" + part("a", b"1") +
                b"\r\n--ws \t\r\n" + part("b", b"2") + b"\r\n--ws--\r\n"))
    # --- truncated, missing final, lying Content-Length -------------------
    full = body_of("tr", [part("a", b"1"), part("f", b"abc\r\ndef", "f.txt", "text/plain")])
    for cut in (5, 20, 40, 60, len(full) - 12, len(full) - 8, len(full) - 3):
        C.append(mk("truncated-%d" % cut, "tr", [], body=full[:cut]))
    C.append(mk("missing-final", "tr", [part("a", b"1"), part("b", b"2")], final=False))
    C.append(mk("missing-final-no-nl", "tr", [], body=b"--tr\r\n" + part("a", b"1")))
    for delta in (-30, -10, -1, 1, 100, 10 ** 6):
        C.append(mk("clen-lies-%+d" % delta, "tr", [], body=full,
                    clen=len(full) + delta))
    C.append(mk("clen-zero", "tr", [], body=full, clen=0))
    C.append(mk("clen-negative", "tr", [], body=full, clen=-1))
    C.append(mk("clen-garbage", "tr", [], body=full, clen="abc"))
    C.append(mk("clen-lies-bytesio", "tr", [], body=full, clen=len(full) + 50, fp="bytesio"))
    # --- invalid boundaries ------------------------------------------------
    for nm, b in [("space-end", "abc "), ("too-long", "x" * 71), ("ctrl", "a\x01b"),
                  ("empty", ""), ("max-len", "y" * 70), ("specials", "'()+_,-./:=? ")]:
        body = body_of(b, [part("a", b"1")])
        C.append(Case("boundary-" + nm, body, {
            "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": 'multipart/form-data; boundary="%s"' % b}))
    C.append(Case("boundary-missing", body_of("zz", [part("a", b"1")]), {
        "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "40",
        "CONTENT_TYPE": "multipart/form-data"}))
    # --- query string prepended --------------------------------------------
    C.append(mk("qs-post", "qs", [part("a", b"1"), part("b", b"2")], qs="x=1&y=2&a=0"))
    C.append(mk("qs-post-blank", "qs", [part("a", b"1")], qs="x=&y"))
    C.append(mk("qs-post-blank-kbv", "qs", [part("a", b"1")], qs="x=&y",
                args="{'keep_blank_values': 1}"))
    C.append(mk("qs-post-strict", "qs", [part("a", b"1")], qs="x=&y",
                args="{'keep_blank_values': 1, 'strict_parsing': 1}"))
    C.append(mk("qs-post-maxnum", "qs", [part("a", b"1"), part("b", b"2")], qs="x=1&y=2",
                args="{'max_num_fields': 3}"))
    C.append(mk("qs-post-maxnum-ok", "qs", [part("a", b"1"), part("b", b"2")], qs="x=1&y=2",
                args="{'max_num_fields': 4}"))
    C.append(mk("qs-post-separator", "qs", [part("a", b"1")], qs="x=1;y=2",
                args="{'separator': ';'}"))
    # --- encodings and errors ----------------------------------------------
    bad = b"caf\xc3\xa9 \xff\xfe bad"
    for args in ["{}", "{'encoding': 'latin-1'}", "{'errors': 'strict'}",
                 "{'errors': 'ignore'}", "{'encoding': 'latin-1', 'errors': 'strict'}",
                 "{'errors': 'surrogateescape'}", "{'encoding': 'ascii', 'errors': 'strict'}"]:
        C.append(mk("enc-" + args, "en", [
            part("t", bad), part("n\xe9".encode("latin-1").decode("latin-1"), b"v"),
            part("f", bad, "f\xe9.txt")], args=args))
    C.append(mk("enc-header-bytes", "en", [], body=(
        b'--en\r\nContent-Disposition: form-data; name="caf\xc3\xa9"; filename="\xff.txt"\r\n\r\n'
        b"x\r\n--en--\r\n"), args="{'encoding': 'latin-1'}"))
    # cgi.py decodes a part's whole header block (hdr_text) before parsing it
    for nm, hdr in [("value", b"X-A: \xff"), ("name", b"X-\xff: 1"), ("non-header", b"\xff"),
                    ("after-stop", b"not a header\r\nX-B: \xff"), ("folded", b"X-A: a\r\n \xff")]:
        for args in ("{'errors': 'strict'}", "{}", "{'encoding': 'latin-1', 'errors': 'strict'}"):
            C.append(mk("enc-hdr-%s-%s" % (nm, args), "eh", [], body=(
                b'--eh\r\nContent-Disposition: form-data; name="a"\r\n' + hdr +
                b"\r\n\r\nv\r\n--eh--\r\n"), args=args))
    # --- urlencoded inside multipart ---------------------------------------
    C.append(mk("urlencoded-part", "ue", [
        part("form", b"a=1&b=2&b=3&c=", None, "application/x-www-form-urlencoded"),
        part("z", b"9")]))
    C.append(mk("urlencoded-part-clen", "ue", [
        part("form", b"a=1&b=2", None, "application/x-www-form-urlencoded",
             extra=[b"Content-Length: 7"])]))
    C.append(mk("urlencoded-part-kbv", "ue", [
        part("form", b"a=1&c=&d", None, "application/x-www-form-urlencoded")],
        args="{'keep_blank_values': 1, 'max_num_fields': 5}"))
    C.append(mk("urlencoded-part-strict", "ue", [
        part("form", b"a=1&d", None, "application/x-www-form-urlencoded")],
        args="{'strict_parsing': 1}"))
    # --- per-part Content-Length quirk -------------------------------------
    C.append(mk("part-clen", "pl", [part("a", b"12345", extra=[b"Content-Length: 5"]),
                                    part("b", b"x")]))
    C.append(mk("part-clen-short", "pl", [part("a", b"12345", extra=[b"Content-Length: 2"]),
                                          part("b", b"x")]))
    C.append(mk("part-clen-long", "pl", [part("a", b"12345", extra=[b"Content-Length: 50"]),
                                         part("b", b"x")]))
    C.append(mk("part-clen-file", "pl", [part("a", b"1234\r\n", "a.bin", extra=[b"Content-Length: 6"])]))
    # --- parameters, parse_multipart, parse, subclass ----------------------
    C.append(mk("limit-arg", "lm", [part("a", b"1"), part("f", b"abcdef", "f")],
                args="{'limit': 30}"))
    hb = body_of("hb", [part("a", b"1"), part("f", BIN, "f.bin")])
    for nm, args in [
        ("dict", "{'headers': {'content-type': 'multipart/form-data; boundary=hb', "
                 "'content-length': '%d'}, 'environ': {'REQUEST_METHOD': 'POST'}}" % len(hb)),
        ("no-clen", "{'headers': {'content-type': 'multipart/form-data; boundary=hb'}, "
                    "'environ': {'REQUEST_METHOD': 'POST'}}"),
        ("short-clen", "{'headers': {'content-type': 'multipart/form-data; boundary=hb', "
                       "'content-length': '40'}, 'environ': {'REQUEST_METHOD': 'POST'}}"),
        ("env-qs", "{'environ': {'REQUEST_METHOD': 'POST', 'QUERY_STRING': 'e=1', "
                   "'CONTENT_TYPE': 'multipart/form-data; boundary=hb', 'CONTENT_LENGTH': '%d'}}"
                   % len(hb)),
        ("maxnum-0", "{'max_num_fields': 0}"),
        ("limit-small", "{'limit': 10}"),
        ("limit-huge", "{'limit': 10 ** 9}"),
    ]:
        C.append(Case("args-" + nm, hb, post_env("hb", len(hb)), "fs", args, "buffer"))
    C.append(mk("fp-buffer", "fb", [part("a", b"1")], fp="buffer"))
    C.append(mk("fp-text", "fb", [part("a", b"1")], fp="text"))
    C.append(mk("fp-bytesio", "fb", [part("a", b"1"), part("f", BIN, "f")], fp="bytesio"))
    C.append(mk("sub-files", "sf", [part("a", b"1"), part("f", BIN, "f.bin"),
                                    part("g", b"", "g")], mode="sub"))
    C.append(mk("sub-bare-lf", "sf", [part("f", b"a\nb", "f.bin", nl=b"\n")], nl=b"\n", mode="sub"))
    pmb = body_of("pmb", [part("a", b"1"), part("a", b"2"), part("f", BIN, "f.bin"),
                          part("e", b"")])
    for nm, pd, args in [
        ("bytes", "{'boundary': b'pmb'}", "{}"),
        ("clen", "{'boundary': b'pmb', 'CONTENT-LENGTH': %d}" % len(pmb), "{}"),
        ("clen-str", "{'boundary': b'pmb', 'CONTENT-LENGTH': '%d'}" % len(pmb), "{}"),
        ("clen-short", "{'boundary': b'pmb', 'CONTENT-LENGTH': 30}", "{}"),
        ("str-boundary", "{'boundary': 'pmb'}", "{}"),
        ("no-boundary", "{}", "{}"),
        ("latin1", "{'boundary': b'pmb'}", "{'encoding': 'latin-1', 'errors': 'strict'}"),
        ("separator", "{'boundary': b'pmb'}", "{'separator': ';'}"),
        ("bad-boundary", "{'boundary': b'p m b '}", "{}"),
    ]:
        C.append(Case("pm-" + nm, pmb, {"REQUEST_METHOD": "POST"}, "pm", args, "buffer", pd))
    for nm, args, env_extra in [
        ("plain", "{}", {}), ("qs", "{}", {"QUERY_STRING": "x=1"}),
        ("kbv", "{'keep_blank_values': 1}", {}),
        ("bytesio", "{}", {})]:
        env = post_env("pmb", len(pmb))
        env.update(env_extra)
        C.append(Case("parse-" + nm, pmb, env, "parse", args,
                      "bytesio" if nm == "bytesio" else "stdin"))
    # --- found by a randomized differential run against cgi.py --------------
    # A byte that does not decode, in a part header's name or value: the
    # errors handler decides what email's parser sees (ignore drops it, so
    # the name is a header; surrogateescape makes a value an email Header).
    bad_name = b'Content-Dispo\xffsition: form-data; name="a"\r\n\r\nv'
    bad_value = b'Content-Disposition: form-data; name="\xff"\r\nX-A: \xfe\r\n\r\nx'
    bad_other = b'Content-Disposition: form-data; name="b"\r\nX-A: \xfe\r\n\r\ny'
    for errors in ("ignore", "backslashreplace", "replace", "strict", "surrogateescape"):
        for nm, raw in (("name", bad_name), ("value", bad_value), ("other", bad_other)):
            C.append(mk("hdr-bad-%s-%s" % (nm, errors), "hb", [raw, part("z", b"1")],
                        args="{'errors': %r}" % errors))
    C.append(Case("pm-hdr-bad-name-ignore", body_of("pmb", [bad_name]), {"REQUEST_METHOD": "POST"},
                  "pm", "{'errors': 'ignore'}", "buffer", "{'boundary': b'pmb'}"))
    # cgi.py's read_urlencoded reads a part to EOF and counts none of it in
    # bytes_read, at any depth of nesting.
    urlenc = part("u", b"a=1&b=2", ctype="application/x-www-form-urlencoded")

    def mixed(bd, parts, name="m"):
        return part(name, body_of(bd, parts)[:-2], ctype="multipart/mixed; boundary=" + bd)
    for nm, parts in [
        ("last", [mixed("C", [urlenc])]),
        ("first", [mixed("C", [urlenc, part("t", b"text")])]),
        ("after-text", [mixed("C", [part("t", b"text"), urlenc]), part("after", b"x")]),
        ("deep", [part("x", b"1"), mixed("C", [mixed("D", [urlenc], "n")])]),
        ("deep-sibling", [mixed("C", [mixed("D", [part("t", b"t")], "n"), urlenc])]),
    ]:
        C.append(mk("nested-urlencoded-" + nm, "B", parts))
    # Counts past 64 bits, and a max_num_fields that is not an int.
    C.append(mk("clen-2-63", "cb", [part("a", b"1")], clen=2 ** 63))
    C.append(mk("clen-10-30", "cb", [part("a", b"1"), part("f", BIN, "f")], clen=10 ** 30))
    C.append(mk("limit-2-64", "cb", [part("a", b"1")], args="{'limit': 2 ** 64}"))
    C.append(mk("limit-minus-2-64", "cb", [part("a", b"1")], args="{'limit': -2 ** 64}"))
    C.append(mk("maxnum-str", "cb", [part("a", b"1")], args="{'max_num_fields': '3'}"))
    # --- misc headers -------------------------------------------------------
    C.append(mk("ctype-params", "cp", [part("a", b"1")], extra_ct='; charset="utf-8"'))
    C.append(mk("ctype-quoted-boundary", "cp", [], body=body_of("c p", [part("a", b"1")]),
                extra_ct=""))
    C[-1].env["CONTENT_TYPE"] = 'multipart/form-data; boundary="c p"'
    C.append(mk("ctype-upper", "cp", [part("a", b"1")], ctype="Multipart/Form-Data"))
    C.append(mk("part-no-disposition", "nd", [], body=b"--nd\r\nContent-Type: text/plain\r\n\r\n"
                b"x\r\n--nd\r\n\r\ny\r\n--nd--\r\n"))
    C.append(mk("part-folded-header", "fh", [], body=b'--fh\r\nContent-Disposition: form-data;\r\n'
                b' name="a"\r\n\r\nx\r\n--fh--\r\n'))
    C.append(mk("part-bad-header-line", "fh", [], body=b'--fh\r\nContent-Disposition: form-data; '
                b'name="a"\r\nnot a header\r\n\r\nx\r\n--fh--\r\n'))
    C.append(mk("part-name-escapes", "ne", [], body=b'--ne\r\nContent-Disposition: form-data; '
                b'name="a\\"b\\\\c"; filename="C:\\\\dir\\\\x.txt"\r\n\r\nx\r\n--ne--\r\n'))
    C.append(mk("part-name-semicolon", "ne", [], body=b'--ne\r\nContent-Disposition: form-data; '
                b'name="a;b"; filename=f.txt\r\n\r\nx\r\n--ne--\r\n'))
    C.append(mk("part-filename-star", "ne", [], body=b'--ne\r\nContent-Disposition: form-data; '
                b"name=\"a\"; filename*=UTF-8''%e2%82%ac.txt\r\n\r\nx\r\n--ne--\r\n"))
    C.append(mk("part-header-only-lf", "hx", [], body=b'--hx\r\nContent-Disposition: form-data; '
                b'name="a"\n\nx\r\n--hx--\r\n'))
    C.append(mk("part-long-header", "lh", [part("a", b"1", extra=[b"X-Long: " + b"h" * 70000])]))
    C.append(mk("many-parts", "mp", [part("p%d" % i, b"%d" % i) for i in range(300)]))
    C.append(mk("many-parts-maxnum", "mp", [part("p%d" % i, b"%d" % i) for i in range(30)],
                args="{'max_num_fields': 29}"))
    return C


def random_case(rng, i):
    """One random request: browser/curl-like parts with nasty data, then maybe
    a mutation (truncation, lying Content-Length, line-end swap)."""
    kind = rng.choice(["chromium", "firefox", "curl", "plain"])
    b = {"chromium": chromium_boundary, "firefox": firefox_boundary,
         "curl": curl_boundary, "plain": lambda r: "b%d" % r.randrange(1000)}[kind](rng)
    nl = rng.choice([CRLF] * 4 + [b"\n"])
    atoms = [b"a", b"\r\n", b"\n", b"\r", b"--", b"--" + b.encode(), b.encode(),
             b"\r\n--" + b.encode()[:-1], b" ", b"\x00", b"\xff", "\u00e9".encode(),
             b"--" + b.encode() + b"x", b"\r\n--" + b.encode() + b"-"]
    parts = []
    for j in range(rng.randrange(0, 6)):
        n = rng.choice([0, 1, 3, 10, 50, 300, 1200])
        data = b"".join(rng.choice(atoms) for _ in range(n))
        if rng.random() < 0.1:
            data += bytes(rng.getrandbits(8) for _ in range(rng.choice([100, 5000, 70000])))
        name = rng.choice(["a", "b", "f", "x y", "\u00e9", ""])
        fn = rng.choice([None, None, "f.bin", "", "d\u00e9j\u00e0.txt"])
        ct = rng.choice([None, None, "text/plain", "application/octet-stream",
                         "application/x-www-form-urlencoded"])
        if ct == "application/x-www-form-urlencoded":
            data = rng.choice([b"a=1&b=2", b"x=&y", b"q=%41%zz", b""])
        parts.append(part(name, data, fn, ct, nl=nl))
    body = body_of(b, parts, nl, preamble=rng.choice([b"", b"", b"\r\n", b"  pre\r\n"]),
                   epilogue=rng.choice([b"", b"", b"epi\r\n"]), final=rng.random() > 0.1)
    clen = None
    mut = rng.random()
    if mut < 0.1 and body:
        body = body[:rng.randrange(len(body))]
    elif mut < 0.2:
        clen = max(0, len(body) + rng.randrange(-40, 40))
    qs = rng.choice([None, None, None, "q=1&r=", "a=x"])
    args = {}
    if rng.random() < 0.3:
        args["keep_blank_values"] = 1
    if rng.random() < 0.1:
        args["strict_parsing"] = 1
    if rng.random() < 0.15:
        args["max_num_fields"] = rng.randrange(0, 6)
    if rng.random() < 0.2:
        args["encoding"] = rng.choice(["latin-1", "utf-8", "ascii"])
    if rng.random() < 0.2:
        args["errors"] = rng.choice(["strict", "ignore", "replace"])
    mode = rng.choice(["fs"] * 5 + ["sub"])
    fp = rng.choice(["stdin"] * 4 + ["bytesio", "buffer"])
    env = post_env(b, len(body), qs=qs, clen=clen)
    return Case("random-%03d-%s" % (i, kind), body, env, mode, repr(args), fp)


def random_nested_case(rng, i):
    """A random form with nested multipart/mixed parts (up to three deep),
    part-level Content-Length headers and a max_num_fields counted across them."""
    def form(depth):
        b = "n%d%s" % (depth, "".join(rng.choice("abcXYZ09'()+_,-./:=?") for _ in range(rng.randrange(1, 12))))
        nl = rng.choice([CRLF, CRLF, b"\n"])
        parts = []
        for j in range(rng.randrange(0 if depth else 1, 4)):
            r = rng.random()
            if r < 0.5 and depth < 3:
                inner, ib = form(depth + 1)
                parts.append(part("m%d" % j, inner, None, 'multipart/mixed; boundary="%s"' % ib, nl=nl))
            else:
                data = rng.choice([b"", b"v", b"a\r\nb", b"x" * 1200, b"--" + b.encode(),
                                   b"\r\n--" + b.encode() + b"x", bytes(range(256))])
                extra = [b"Content-Length: %d" % rng.choice([len(data), 0, 3, 5000])] \
                    if rng.random() < 0.15 else []
                parts.append(part(rng.choice(["a", "b", "f"]), data,
                                  rng.choice([None, "f.txt", ""]), None, extra, nl=nl))
        return body_of(b, parts, nl, final=rng.random() > 0.05), b
    body, b = form(0)
    env = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
           "CONTENT_TYPE": 'multipart/form-data; boundary="%s"' % b}
    args = {}
    if rng.random() < 0.5:
        args["max_num_fields"] = rng.randrange(0, 8)
    if rng.random() < 0.3:
        args["keep_blank_values"] = 1
    return Case("nested-%03d" % i, body, env, rng.choice(["fs", "fs", "sub"]), repr(args),
                rng.choice(["stdin", "bytesio"]))


def cases(n_random=160, n_nested=60, seed=20261125):
    rng = random.Random(seed)
    rng2 = random.Random(seed + 1)
    return (hand_cases() + [random_case(rng, i) for i in range(n_random)] +
            [random_nested_case(rng2, i) for i in range(n_nested)])


if __name__ == "__main__":
    cs = cases()
    print(len(cs), "cases,", sum(len(c.body) for c in cs), "bytes")
