# CGI response rules stay Apache's: Status, Location, and stderr to the log.
import os
import sys

how = os.environ.get("QUERY_STRING", "")
if how == "status":
    print("Status: 418 I'm a teapot")
    print("Content-Type: text/plain\n")
    print("short and stout")
elif how == "redirect":
    print("Status: 302 Found")
    print("Location: http://example.invalid/elsewhere\n")
elif how == "local":
    print("Location: /hello.py?name=Local\n")
elif how == "stderr":
    sys.stderr.write("apache-stderr-one\napache-stderr-two\n")
    sys.stderr.flush()
    print("Content-Type: text/plain\n")
    print("logged")
