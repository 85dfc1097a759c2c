"""tests/test_cgitb.py for the cgitb extension module under any CPython
(run by tests/matrix/run, CGIHOST being the interpreter with the module first
on its path). A report embeds the running interpreter's traceback, whose
format changes between versions, so the oracle is CPython 3.11's cgitb.py run
by the same interpreter (MATRIX_ORACLE, see oracle/cgitb.py); docstrings stay
compared with /usr/bin/python3's, 3.13's compiler dedenting them."""
import os

import pytest

import test_cgitb
from test_cgitb import *  # noqa: F401,F403 (the tests, collected here)
from test_cgitb import _cgihost  # noqa: F401 (autouse fixture)

ORACLE = os.environ.get("MATRIX_ORACLE")


@pytest.fixture(autouse=True)
def _oracle(monkeypatch, request):
    if not ORACLE:
        pytest.skip("run by tests/matrix/run (MATRIX_ORACLE unset)")
    if request.node.name != "test_signatures_and_docstrings":
        monkeypatch.setattr(test_cgitb, "PYTHON", ORACLE)
