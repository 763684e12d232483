"""zkwire.testing.TestServer itself: several in a process, restarts, seed data."""
from __future__ import annotations

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from zkwire.testing import SeedError, TestServer, serve

from .conftest import FAST_RETRY, WAIT_S, States


@pytest.fixture
def client_of():
    made = []

    def make(server, **options):
        c = KazooClient(hosts=server.hosts, **options)
        c.start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
        c.close()


def test_two_servers_in_one_process_are_independent(client_of):
    with serve() as a, serve() as b:
        assert a.port != b.port
        assert a.reactor is b.reactor       # one reactor thread for all of them
        ca, cb = client_of(a), client_of(b)
        ca.create("/only-on-a", b"a")
        cb.create("/only-on-b", b"b")
        assert ca.exists("/only-on-b") is None
        assert cb.exists("/only-on-a") is None
        a.expire_session(ca)
        assert [s["session_id"] for s in b.sessions()] == [cb.client_id[0]]
    assert not a.running and not b.running


def test_restart_keeps_data_sessions_and_port(client_of):
    with TestServer() as zk:
        client = client_of(zk, connection_retry=FAST_RETRY)
        client.create("/data", b"kept")
        client.create("/eph", b"", ephemeral=True)
        sid = client.client_id[0]
        port = zk.port
        states = States(client)
        assert zk.restart() == port
        assert states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])[:2] == [
            KazooState.SUSPENDED, KazooState.CONNECTED]
        # The session came back with the data (recovered from the server's
        # log and snapshot), so the client resumed it: its ephemeral is still there.
        assert client.client_id[0] == sid
        assert client.get("/data")[0] == b"kept"
        assert client.exists("/eph") is not None


def test_data_dir_outlives_the_server_object(tmp_path, client_of):
    with TestServer(data_dir=str(tmp_path)) as zk:
        client = client_of(zk)
        client.create("/on-disk", b"1")
        client.stop()
    assert (tmp_path / "version-2").is_dir()
    with TestServer(data_dir=str(tmp_path)) as zk:
        c = client_of(zk)
        assert c.get("/on-disk")[0] == b"1"


def test_stopped_server_can_be_started_again(client_of):
    zk = TestServer(start=False)
    assert not zk.running
    port = zk.start()
    client_of(zk).create("/x", b"")
    zk.stop()
    assert zk.start() == port
    assert client_of(zk).exists("/x") is not None
    zk.stop()


def test_config_takes_zoo_cfg_keys():
    with TestServer(config={"tickTime": 200, "maxSessionTimeout": 3000}) as zk:
        client = KazooClient(hosts=zk.hosts, timeout=30.0)
        client.start()
        try:
            sid = client.client_id[0]
            timeouts = {s["session_id"]: s["timeout_ms"] for s in zk.sessions()}
            assert timeouts[sid] == 3000    # clamped to maxSessionTimeout
        finally:
            client.stop()
            client.close()


SEED = {
    "/app/config": "v1",
    "/app/bin": {"base64": "AP8B"},
    "/app/empty": None,
    "/ünï/cöde": "ß",
}
#: SEED as the server holds it: the parents are there too, empty.
SEEDED = {
    "/app": "",
    "/app/bin": {"base64": "AP8B"},
    "/app/config": "v1",
    "/app/empty": None,
    "/ünï": "",
    "/ünï/cöde": "ß",
}


def test_seed_loads_and_exports_in_the_same_format(client_of, tmp_path):
    with TestServer(load=SEED) as zk:
        assert zk.export() == SEEDED
        client = client_of(zk)
        assert client.get("/app/bin")[0] == b"\x00\xff\x01"
        # null data reads back as null (tests/ZOOKEEPER_FACTS.md §3, null-data)
        assert client.get("/app/empty")[0] is None
        client.create("/app/eph", b"", ephemeral=True)   # ephemerals are not exported
        assert zk.export() == SEEDED
        assert zk.export("/app") == {k: v for k, v in SEEDED.items() if k.startswith("/app")}
        # What export wrote, a new server loads to the same tree.
        import json

        path = tmp_path / "tree.json"
        path.write_text(json.dumps(zk.export()), encoding="utf-8")
    with TestServer(load=str(path)) as again:
        assert again.export() == SEEDED


def test_seed_is_loaded_once_and_never_changes_existing_nodes(client_of):
    with TestServer(load={"/a": "seed"}) as zk:
        client = client_of(zk)
        client.set("/a", b"changed")
        zk.restart()
        assert client.retry(client.get, "/a")[0] == b"changed"
        assert zk.load({"/a": "again", "/b": "new"}) == 1
        assert zk.export() == {"/a": "changed", "/b": "new"}


@pytest.mark.parametrize("bad", [
    {"relative": "x"},
    {"/zookeeper/mine": "x"},
    {"/a//b": "x"},
    {"/a": 3},
    {"/a": {"base64": "not base64!"}},
    ["/a"],
])
def test_bad_seeds_are_refused(bad):
    with pytest.raises(SeedError):
        TestServer(load=bad, start=False)
