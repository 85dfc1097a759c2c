# A CGI script that crashes in the middle of its headers. With
# QUERY_STRING=crash=partial it dies half-way through a header line.
import cgitb
import os
import sys

cgitb.enable()
print("Status: 200 OK")
print("Content-Type: text/plain")
if os.environ.get("QUERY_STRING") == "crash=partial":
    sys.stdout.write("X-Half-Writ")
divisor = 0
print("X-Ratio:", 10 / divisor)
print()
