"""Run integration tests written for a server process against an in-process one.

``tests/standin/test_inprocess_*.py`` each take the tests of one module of
tests/integration and give them, as their ``server`` fixture, a
:class:`zkwire.testing.TestServer` configured as tests/servers.py configures
the server processes.  Tests that start a server process of their own (with
another configuration, or to restart or kill it) are left out: they test that
process, not this server.
"""
from __future__ import annotations

import ast
import inspect

import pytest

from servers import DEFAULT_CFG, four_letter, target_kind
from zkwire.testing import TestServer


class InProcessServer(TestServer):
    """A TestServer with what the integration tests use of a ServerProcess."""

    kind = "zkwire"

    def four_letter(self, word: str, timeout_s: float = 5.0) -> str:
        return four_letter(self.port, word, timeout_s)


@pytest.fixture(scope="module")
def server():
    config = dict(DEFAULT_CFG)
    config["zookeeper.extendedTypesEnabled"] = "true"
    srv = InProcessServer(config=config)
    yield srv
    srv.stop()


def _starts_a_process(node) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "ServerProcess" for n in ast.walk(node))


def copy_tests(module, namespace: dict) -> None:
    """Copy ``module``'s names (tests, fixtures, helpers) into
    ``namespace``, but not the tests that start a server process, nor the
    fixtures that do (or that use one that does)."""
    tree = ast.parse(inspect.getsource(module))
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    own_process = {name for name, f in functions.items() if _starts_a_process(f)}
    grew = True
    while grew:
        grew = False
        for name, f in functions.items():
            if name not in own_process and {a.arg for a in f.args.args} & own_process:
                own_process.add(name)
                grew = True
    for name, value in vars(module).items():
        # Private names too: an autouse fixture may start with "_".
        if not name.startswith("__") and name not in own_process and name != "server":
            namespace.setdefault(name, value)
    # Pointed at Apache ZooKeeper, the module chose ZooKeeper's expectations
    # when it was imported (servers.since_39); this server is zkwire.
    marks = getattr(module, "pytestmark", [])
    namespace["pytestmark"] = (marks if isinstance(marks, list) else [marks]) + [
        pytest.mark.skipif(target_kind() != "zkwire",
                           reason="ZKWIRE_TEST_TARGET=%s: tests/integration runs those" %
                           target_kind())]
