"""CPython 3.11's cgi.py, /usr/lib/python3.11/cgi.py, for the cgitb oracle's
scripts that use cgi (3.13 has none), run by this interpreter."""
import _oracle311

_oracle311.load("/usr/lib/python3.11/cgi.py", globals())
del _oracle311
