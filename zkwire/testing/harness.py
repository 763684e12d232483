"""Drop-ins for kazoo's test harness (``kazoo.testing``) that run on zkwire.

A project that uses kazoo's harness switches with one import::

    from kazoo.testing import KazooTestCase        # before: a Java ZooKeeper cluster
    from zkwire.testing import KazooTestCase       # after: zkwire, in-process

The names, signatures and behaviour are kazoo's (kazoo/testing/harness.py,
kazoo 2.x): ``setup_zookeeper(**client_options)`` makes a client chrooted to
``/kazootests<uuid>`` (``self.client``, ``self.hosts``),
``teardown_zookeeper()`` stops every client made, ``expire_session`` and
``lose_connection`` take an event factory (``threading.Event``) and return
once the client has lost its session (connection) and reconnected;
``cluster`` is the servers, ``servers`` their connect string.

What differs, on purpose: kazoo *simulates* both faults inside the client (it
feeds its own connection a fake "session expired" or "connection dropped").
Here the server does them: ``expire_session`` expires the session on the
server (a closeSession txn: ephemerals deleted, other clients' watches
fired), ``lose_connection`` cuts the client's connection on the server.  The
cluster is one zkwire server per process (kazoo's default is three ZooKeeper
servers; an ensemble comes with zkwire's replication), started on the first
``setup_zookeeper`` and left running until the process ends.
"""
from __future__ import annotations

import logging
import threading
import unittest
import uuid

log = logging.getLogger(__name__)

CLUSTER = None
_cluster_lock = threading.Lock()


class ManagedServer:
    """One server of the cluster, with the methods tests call on kazoo's
    ManagedZooKeeper: ``address``, ``running``, ``client_port``, ``run()``,
    ``stop()``, ``reset()``, ``destroy()``."""

    def __init__(self):
        self._server = None
        self._port = 0

    @property
    def server(self):
        """The :class:`zkwire.testing.TestServer` (started by ``run()``)."""
        return self._server

    def run(self):
        from .server import TestServer

        if self._server is None:
            self._server = TestServer(self._port)
            self._port = self._server.port
        elif not self._server.running:
            self._server.clear_faults()      # restarts it, data kept, same port

    start = run

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def client_port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return "127.0.0.1:%d" % self._port

    def stop(self):
        """Stop serving; the data stays for ``run()``."""
        if self._server is not None and self._server.service.server is not None:
            self._server.stop()

    def destroy(self):
        """Stop and forget the data (the port is kept)."""
        if self._server is not None:
            self._server.stop()
        self._server = None

    def reset(self):
        self.destroy()

    def get_logs(self, num_lines=100):
        return []


class ZookeeperCluster:
    """The servers, as kazoo's ZookeeperCluster: iterable, indexable,
    ``start()``, ``stop()``, ``terminate()``, ``reset()``."""

    def __init__(self, size: int = 1):
        if size != 1:
            raise ValueError("zkwire's harness runs one server until replication lands")
        self._servers = [ManagedServer() for _ in range(size)]

    def __getitem__(self, k):
        return self._servers[k]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self):
        return len(self._servers)

    def start(self):
        for s in self._servers:
            s.run()

    def stop(self):
        for s in self._servers:
            s.stop()

    def terminate(self):
        for s in self._servers:
            s.destroy()

    def reset(self):
        for s in self._servers:
            s.reset()

    def get_logs(self):
        return []


def get_global_cluster() -> ZookeeperCluster:
    global CLUSTER
    with _cluster_lock:
        if CLUSTER is None:
            CLUSTER = ZookeeperCluster()
        return CLUSTER


class KazooTestHarness(unittest.TestCase):
    """Harness for testing code that uses kazoo, on zkwire (see the module
    docstring).  Use it as a base class or a mixin::

        class MyTestCase(KazooTestHarness):
            def setUp(self):
                self.setup_zookeeper()

            def tearDown(self):
                self.teardown_zookeeper()

            def test_something(self):
                something_that_needs_a_kazoo_client(self.client)
    """

    DEFAULT_CLIENT_TIMEOUT = 15

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.client = None
        self._clients = []

    @property
    def cluster(self) -> ZookeeperCluster:
        return get_global_cluster()

    def log(self, level, msg, *args, **kwargs):
        log.log(level, msg, *args, **kwargs)

    @property
    def servers(self) -> str:
        return ",".join(s.address for s in self.cluster)

    @property
    def server(self):
        """The zkwire server under the cluster (for its other faults:
        ``pause``, ``delay``, ``fail_disk``, ``sessions`` ...)."""
        return self.cluster[0].server

    def _get_nonchroot_client(self):
        from kazoo.client import KazooClient

        c = KazooClient(self.servers)
        self._clients.append(c)
        return c

    def _get_client(self, **client_options):
        from kazoo.client import KazooClient

        if "timeout" not in client_options:
            client_options["timeout"] = self.DEFAULT_CLIENT_TIMEOUT
        c = KazooClient(self.hosts, **client_options)
        self._clients.append(c)
        return c

    def lose_connection(self, event_factory):
        """Cut the client's connection on the server; returns once the client
        has seen SUSPENDED and then CONNECTED again (same session)."""
        from kazoo.protocol.states import KazooState

        self.__break_connection(KazooState.SUSPENDED, event_factory,
                                lambda sid: self.server.drop_connections(sid))

    def expire_session(self, event_factory):
        """Expire the client's session on the server; returns once the client
        has seen LOST and then CONNECTED with a new session."""
        from kazoo.protocol.states import KazooState

        self.__break_connection(KazooState.LOST, event_factory,
                                lambda sid: self.server.expire_session(sid))

    def setup_zookeeper(self, **client_options):
        """Start the server (on first use) and a client chrooted to a fresh namespace."""
        if not all(s.running for s in self.cluster):
            self.cluster.start()
        namespace = "/kazootests" + uuid.uuid4().hex
        self.hosts = self.servers + namespace
        self.server.ensure_path(namespace)
        self.client = self._get_client(**client_options)
        self.client.start()
        self.client.ensure_path("/")

    def teardown_zookeeper(self):
        """Stop and close every client the harness made."""
        from kazoo.exceptions import KazooException

        while self._clients:
            c = self._clients.pop()
            try:
                c.stop()
            except KazooException:
                log.exception("Failed stopping client %s", c)
            finally:
                c.close()
        self.client = None

    def __break_connection(self, expected_state, event_factory, fault):
        from kazoo.protocol.states import KazooState

        lost = event_factory()
        safe = event_factory()

        def watch_loss(state):
            if state == expected_state:
                lost.set()
            elif lost.is_set() and state == KazooState.CONNECTED:
                safe.set()
                return True

        self.client.add_listener(watch_loss)
        fault(self.client.client_id[0])

        lost.wait(5)
        if not lost.is_set():
            raise Exception("Failed to get notified of broken connection.")

        safe.wait(15)
        if not safe.is_set():
            raise Exception("Failed to see client reconnect.")

        self.client.retry(self.client.get_async, "/")


class KazooTestCase(KazooTestHarness):
    def setUp(self):
        self.setup_zookeeper()

    def tearDown(self):
        self.teardown_zookeeper()

    @classmethod
    def tearDownClass(cls):
        # kazoo terminates its cluster here (and starts a new one for the
        # next class); a zkwire server starts in milliseconds, so do the same.
        cluster = get_global_cluster()
        if cluster is not None:
            cluster.terminate()
