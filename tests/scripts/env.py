# What a script sees of its interpreter: argv, path, names, encodings.
import os
import sys

print("Content-Type: text/plain\n")
print("name", __name__)
print("file", __file__ == os.path.abspath(sys.argv[0]), os.path.isabs(__file__))
print("argv", [os.path.basename(sys.argv[0])] + sys.argv[1:])
print("path0", sys.path[0] == os.path.dirname(os.path.realpath(sys.argv[0])))
print("pythonpath", [p for p in sys.path if "pp-marker" in p])
print("dist-packages", any(p.endswith("dist-packages") for p in sys.path))
print("stdout", sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering)
print("stderr", sys.stderr.encoding, sys.stderr.errors)
print("stdin", sys.stdin.encoding, sys.stdin.errors)
print("fs", sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
print("utf8", sys.flags.utf8_mode)
print("lc_ctype", os.environ.get("LC_CTYPE"))
print("text", "caf\u00e9 \u20ac")
import _pytest  # from Debian's python3-pytest, in /usr/lib/python3/dist-packages
print("debian package", _pytest.__name__)
print("exit builtin", type(exit).__name__)
