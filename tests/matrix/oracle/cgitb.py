"""The oracle for cgitb under any interpreter: CPython 3.11's cgitb.py,
/usr/lib/python3.11/cgitb.py, run by this interpreter, so that its reports
embed the same interpreter's tracebacks as the C module's. 3.11's file calls
warnings._deprecated(remove=(3, 13)), which 3.9/3.10 lack and 3.13 turns into
an error; here it warns as it does under 3.11."""
import warnings

SOURCE = "/usr/lib/python3.11/cgitb.py"


def _deprecated(name, message=None, *, remove, _version=None):
    warnings.warn(f"{name!r} is deprecated and slated for removal in Python "
                  f"{remove[0]}.{remove[1]}", DeprecationWarning, stacklevel=3)


_saved = getattr(warnings, "_deprecated", None)
warnings._deprecated = _deprecated
try:
    with open(SOURCE, encoding="utf-8") as f:
        code = compile(f.read(), SOURCE, "exec")
    __file__ = SOURCE
    exec(code, globals())
finally:
    if _saved is None:
        del warnings._deprecated
    else:
        warnings._deprecated = _saved
del _saved, _deprecated, f, code
