# A multipart upload: the size and SHA-256 of the file field, the other
# fields, as cgi.FieldStorage reads them.
import cgi
import hashlib
import sys

print("Content-Type: text/plain\n")
try:
    form = cgi.FieldStorage()
except NotImplementedError as e:
    # Read the body anyway: Apache resets a client whose body the script
    # left unread.
    while sys.stdin.buffer.read(1 << 16):
        pass
    print("NotImplementedError", e)
    sys.exit(0)
f = form["file"]
data = f.file.read() if f.file is not None else f.value
if isinstance(data, str):
    data = data.encode("latin-1")
print("filename", f.filename)
print("type", f.type)
print("size", len(data))
print("sha256", hashlib.sha256(data).hexdigest())
print("note", form.getvalue("note"))
