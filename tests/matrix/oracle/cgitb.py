"""The oracle for cgitb under any interpreter: CPython 3.11's cgitb.py,
/usr/lib/python3.11/cgitb.py, run by this interpreter, so that its reports
embed the same interpreter's tracebacks as the C module's."""
import _oracle311

_oracle311.load("/usr/lib/python3.11/cgitb.py", globals())
del _oracle311
