"""tests/integration/test_watches.py against the in-process server (see inprocess.py)."""
from tests.integration import test_watches as _module

from .inprocess import server, copy_tests  # noqa: F401  (server: the fixture they get)

copy_tests(_module, globals())
