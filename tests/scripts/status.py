# Exits as T_EXIT says: a number, a message, an exception, or normally.
import os
import sys

how = os.environ.get("T_EXIT", "")
print("Content-Type: text/plain\n")
print("before")
if how == "raise":
    raise KeyError("boom")
if how == "msg":
    sys.exit("bye now")
if how == "none":
    sys.exit()
if how == "builtin":
    exit(4)
if how:
    sys.exit(int(how))
print("after")
