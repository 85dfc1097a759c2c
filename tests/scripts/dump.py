#!/usr/bin/python3
# Dumps what cgi.FieldStorage made of the request, with the parameters named
# in the environment variable T_ARGS (a Python dict literal), for comparison
# between the stdlib cgi under python3 and cgihost's C cgi.
import cgi
import os
import sys

kwargs = eval(os.environ.get("T_ARGS", "{}"))
print("Content-Type: text/plain")
print()
try:
    form = cgi.FieldStorage(**kwargs)
except Exception as e:
    print("EXC", type(e).__name__, e)
    sys.exit(0)
print("type", repr(form.type), repr(form.type_options))
print("name", repr(form.name), "filename", repr(form.filename), "length", form.length)
print("list", repr(form.list))
print("bool", bool(form) if form.list is not None else None)
if form.list is not None:
    print("keys", sorted(form.keys(), key=repr))
    print("len", len(form))
    for k in sorted(form.keys(), key=repr):
        print("key", repr(k), k in form)
        print("  getvalue", repr(form.getvalue(k)))
        print("  getfirst", repr(form.getfirst(k)))
        print("  getlist", repr(form.getlist(k)))
        item = form[k]
        if isinstance(item, list):
            print("  items", [(type(i).__name__, i.name, i.value) for i in item])
        else:
            print("  item", type(item).__name__, repr(item.name), repr(item.value))
    print("missing", repr(form.getvalue("zz-missing", "dflt")), form.getlist("zz-missing"))
else:
    print("value", repr(form.value))
