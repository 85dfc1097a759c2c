"""cgi.parse_header on the pure-C core (shim/parsers/header.c) against the
stdlib: hand-picked quoting and escaping cases and seeded random strings over
the characters that matter (quotes, backslashes, separators, Unicode spaces)."""
from conftest import PYTHON, run

DRIVER = r'''
import cgi, random, sys
cases = [
    'text/plain', 'form-data; name="a"; filename="b.txt"', 'x; a="b;c"; d=e',
    'x; a="q\\"uote"; b="back\\\\slash"', 'x; a="unterminated; b=c', 'x;;; a = 1 ;',
    'x; A=1; a=2', 'x; =v; k=', 'x; k="\u00e9"', '\u00a0x\u2000; a=\u3000b\u3000',
    'x; a="\\\\\\""; b=1', 'x; filename="C:\\\\dir\\\\f.txt"', '', ';', 'x; a="";b=""""',
]
random.seed(int(sys.argv[1]))
alpha = ['a', '=', '"', '\\', ';', ' ', '\t', '\xa0', '\u2000', '\u00e9', 'x', 'name', '\udcff']
cases += [''.join(random.choice(alpha) for _ in range(random.randint(0, 16)))
          for _ in range(2000)]
for c in cases:
    try:
        r = repr(cgi.parse_header(c))
    except Exception as e:
        r = type(e).__name__ + ': ' + str(e)
    sys.stdout.write(ascii(r) + '\n')
'''


def test_parse_header_matches_the_stdlib(cgihost, tmp_path):
    script = tmp_path / "ph.py"
    script.write_text(DRIVER)
    for seed in ("1", "2"):
        ours = run([cgihost, script, seed])
        ref = run([PYTHON, "-W", "ignore", script, seed])
        assert ours.returncode == ref.returncode == 0, ours.stderr
        assert ours.stdout.count(b"\n") > 2000
        assert ours.stdout == ref.stdout
