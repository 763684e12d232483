"""kazoo-style tests on zkwire's drop-in harness: the import is the only change."""
from __future__ import annotations

import threading

from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import DataWatch

from zkwire.testing import KazooTestCase, KazooTestHarness


class ExpiryTests(KazooTestCase):
    def test_expire_session_is_a_real_expiry(self):
        self.client.create("/eph", b"", ephemeral=True)
        other = self._get_client()
        other.start()
        gone = threading.Event()
        other.exists("/eph", watch=lambda event: gone.set())
        sid = self.client.client_id[0]

        self.expire_session(threading.Event)

        # Unlike kazoo's own harness (it fakes the expiry in the client), the
        # server expired the session: the ephemeral is gone, watchers were told.
        assert gone.wait(10)
        assert self.client.client_id[0] != sid
        assert self.client.exists("/eph") is None

    def test_lose_connection_keeps_the_session(self):
        self.client.create("/eph", b"", ephemeral=True)
        sid = self.client.client_id[0]
        self.lose_connection(threading.Event)
        assert self.client.client_id[0] == sid
        assert self.client.exists("/eph") is not None

    def test_data_watch_recipe_follows_changes_across_a_lost_connection(self):
        self.client.create("/w", b"1")
        seen = []
        changed = threading.Event()

        @DataWatch(self.client, "/w")
        def on_change(data, stat):
            seen.append(data)
            if data == b"2":
                changed.set()

        self.lose_connection(threading.Event)
        self.client.set("/w", b"2")
        assert changed.wait(10)
        assert seen[0] == b"1" and seen[-1] == b"2"


class ClusterTests(KazooTestHarness):
    def setUp(self):
        self.setup_zookeeper(timeout=5)

    def tearDown(self):
        self.teardown_zookeeper()

    def test_hosts_is_a_chroot_of_servers(self):
        assert self.hosts.startswith(self.servers + "/kazootests")
        outside = self._get_nonchroot_client()
        outside.start()
        assert outside.exists(self.hosts[len(self.servers):]) is not None

    def test_cluster_stop_and_run_keep_the_data(self):
        self.client.create("/kept", b"yes")
        server = self.cluster[0]
        assert server.running and server.address == self.servers
        server.stop()
        assert not server.running
        server.run()
        assert self.client.retry(self.client.get, "/kept")[0] == b"yes"

    def test_a_namespace_per_setup(self):
        first = self.hosts
        self.teardown_zookeeper()
        self.setup_zookeeper()
        assert self.hosts != first
        try:
            self.client.get("/kept")
        except NoNodeError:
            pass
        else:
            raise AssertionError("a fresh namespace holds nothing")
