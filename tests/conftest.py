"""Shared fixtures.

``server``: one listening server for the whole test session, zkwire by default or
Apache ZooKeeper with ``ZKWIRE_TEST_TARGET=zookeeper`` (see tests/servers.py).
``zk``: a connected kazoo client; after each test the tree is wiped back to
``/zookeeper`` so tests do not see each other's nodes.
``make_client``: more kazoo clients, all stopped at teardown.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from servers import ServerProcess, target_kind  # noqa: E402


@pytest.fixture(scope="session")
def server():
    srv = ServerProcess(target_kind())
    srv.start()
    yield srv
    srv.cleanup()


def _wipe(client) -> None:
    for child in client.get_children("/"):
        if child != "zookeeper":
            client.delete("/" + child, recursive=True)


@pytest.fixture
def make_client(server):
    from kazoo.client import KazooClient

    clients = []

    def make(**kwargs):
        kwargs.setdefault("hosts", server.hosts)
        kwargs.setdefault("timeout", 10.0)
        c = KazooClient(**kwargs)
        c.start(timeout=15)
        clients.append(c)
        return c

    yield make
    for c in clients:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


@pytest.fixture
def zk(make_client):
    client = make_client()
    _wipe(client)
    yield client
    if client.connected:
        _wipe(client)
