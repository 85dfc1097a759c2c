# The upload benchmark's script (bench/bench.py upload()): cgi.FieldStorage
# reads the whole multipart body from stdin; prints the size of the file part
# and the text fields, and with MP_UPLOAD_HASH=1 the file's SHA-256.
import os
import sys

import cgi

form = cgi.FieldStorage()
f = form["file"]
size = f.file.seek(0, 2)
out = ["Content-Type: text/plain", "", "size %d" % size, "filename %s" % f.filename]
for k in ("title", "note", "empty"):
    out.append("%s %r" % (k, form.getfirst(k)))
if os.environ.get("MP_UPLOAD_HASH") == "1":
    import hashlib
    f.file.seek(0)
    h = hashlib.sha256()
    for block in iter(lambda: f.file.read(1 << 20), b""):
        h.update(block)
    out.append("sha256 %s" % h.hexdigest())
sys.stdout.write("\n".join(out) + "\n")
