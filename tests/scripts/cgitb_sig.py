# Signatures and docstrings of cgitb's API, for comparison with cgitb.py.
import inspect

import cgitb

for name in ("reset", "small", "strong", "grey", "lookup", "scanvars", "html", "text", "enable",
             "Hook", "handler"):
    f = getattr(cgitb, name)
    print(name, inspect.signature(f), repr(f.__doc__))
print(inspect.signature(cgitb.Hook().handle), repr(cgitb.Hook.handle.__doc__))
print(repr(cgitb.__doc__.split("(cgihost")[0].rstrip()))
