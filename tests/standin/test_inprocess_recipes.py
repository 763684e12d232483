"""tests/integration/test_recipes.py against the in-process server (see inprocess.py)."""
from tests.integration import test_recipes as _module

from .inprocess import server, copy_tests  # noqa: F401  (server: the fixture they get)

copy_tests(_module, globals())
