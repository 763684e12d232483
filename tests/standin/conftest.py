"""Helpers for the stand-in's tests.

The fixtures under test (``zk_server``, ``zk_client``, ``zk_make_client``,
``zk_faults``) come from zkwire's pytest plugin, loaded through its entry
point as in any project that installs zkwire; nothing here redefines them.

``apache_zookeeper``: Apache ZooKeeper (Debian's package) on a free loopback
port, for the tests that hold a fault's effect to what a real ZooKeeper does.
"""
from __future__ import annotations

import threading

import pytest

from servers import ServerProcess, apache_zookeeper_available

WAIT_S = 10.0
#: Reconnect at once after a drop (kazoo's default backs off up to seconds).
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "max_delay": 0.2}


class States:
    """Every KazooState a client goes through, to wait on."""

    def __init__(self, client):
        self.seen = []
        self._cond = threading.Condition()
        client.add_listener(self._on_state)

    def _on_state(self, state):
        with self._cond:
            self.seen.append(state)
            self._cond.notify_all()

    def wait_for(self, states, timeout=WAIT_S) -> list:
        """Wait until ``states`` have appeared in that order (a subsequence)."""

        def found():
            it = iter(self.seen)
            return all(any(s == want for s in it) for want in states)

        with self._cond:
            self._cond.wait_for(found, timeout)
            return list(self.seen)


@pytest.fixture(scope="session")
def apache_zookeeper():
    if not apache_zookeeper_available():
        pytest.skip("Apache ZooKeeper is not installed (tests/run.sh installs it)")
    srv = ServerProcess("zookeeper")
    srv.start()
    yield srv
    srv.cleanup()
