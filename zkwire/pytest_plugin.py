"""zkwire's pytest plugin: a real ZooKeeper for your tests, in-process, no Java.

pytest loads it by itself once zkwire is installed (the ``pytest11`` entry
point); ``-p no:zkwire`` turns it off.  Nothing starts until a test asks for
a fixture:

``zk_server``
    one :class:`zkwire.testing.TestServer` for the whole test session
    (``.hosts`` is its connect string).  To configure it, define your own
    ``zk_server`` fixture (session scope) in a conftest.py, returning a
    ``TestServer(config={"tickTime": 500}, load="tree.json")``.
``zk_client``
    a connected kazoo client, chrooted to a fresh path for this test (so
    tests do not see each other's nodes); stopped, and the path deleted, when
    the test ends.  ``zk_client.chroot`` (kazoo's own attribute) is the path.
``zk_make_client``
    makes more clients in the same chroot (``zk_make_client(timeout=4)``),
    all stopped at the end; ``zk_client`` is the first of them.
``zk_faults``
    the server-side faults for this test: ``expire_session(zk_client)``,
    ``drop_connections()``, ``pause()``/``resume()``, ``delay(ms)``,
    ``fail_disk()``/``heal_disk()``, ``sessions()``, ``restart()``.  When the
    test ends they are undone: resumed, no delay, disk healed, and the server
    restarted if a fault stopped it.
"""
from __future__ import annotations

import itertools
import re

import pytest

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def zk_server():
    from zkwire.testing import TestServer

    server = TestServer()
    yield server
    server.stop()


@pytest.fixture
def zk_faults(zk_server):
    faults = zk_server.faults
    yield faults
    zk_server.clear_faults()


def _chroot_for(request) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_.")[:60] or "test"
    return "/%s-%d" % (name, next(_counter))


@pytest.fixture
def zk_make_client(zk_server, request):
    from kazoo.client import KazooClient

    chroot = _chroot_for(request)
    zk_server.ensure_path(chroot)
    clients = []

    def make(**options):
        client = KazooClient(hosts=zk_server.hosts + chroot, **options)
        clients.append(client)
        client.start()
        return client

    make.chroot = chroot
    yield make
    # A fault left on (a test that used the server itself, not zk_faults)
    # must not hang the clients' goodbyes.
    zk_server.clear_faults()
    for client in clients:
        try:
            client.stop()
            client.close()
        except Exception:
            pass
    zk_server.delete_path(chroot)


@pytest.fixture
def zk_client(zk_make_client):
    return zk_make_client()
