"""Runs one of CPython 3.11's stdlib files (cgi.py, cgitb.py) as the module
importing it, under any interpreter: the oracle the matrix compares the C
modules with. 3.11's files call warnings._deprecated(remove=(3, 13)), which
3.9/3.10 lack and 3.13 turns into an error; here it warns as it does under
3.11."""
import warnings


def _deprecated(name, message=None, *, remove, _version=None):
    warnings.warn(f"{name!r} is deprecated and slated for removal in Python "
                  f"{remove[0]}.{remove[1]}", DeprecationWarning, stacklevel=3)


def load(source, namespace):
    saved = getattr(warnings, "_deprecated", None)
    warnings._deprecated = _deprecated
    try:
        with open(source, encoding="utf-8") as f:
            code = compile(f.read(), source, "exec")
        namespace["__file__"] = source
        exec(code, namespace)
    finally:
        if saved is None:
            del warnings._deprecated
        else:
            warnings._deprecated = saved
