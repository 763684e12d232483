"""Durability of a real zkwire process: acknowledged writes survive SIGKILL,
sessions survive a restart, and damaged files get the behaviour ZooKeeper has
(a torn tail is dropped, corruption in the middle refuses to start).

ZKWIRE_SLOW=1 runs many more crash rounds.
"""
from __future__ import annotations

import glob
import os
import random
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from servers import ServerProcess, target_kind, wait_until

CRASH_ROUNDS = 200 if os.environ.get("ZKWIRE_SLOW") else 20

pytestmark = pytest.mark.skipif(target_kind() != "zkwire",
                                reason="restarts zkwire's own process and reads its log")


def _client(srv, **kw):
    c = KazooClient(hosts=srv.hosts, timeout=10.0,
                    connection_retry=dict(max_tries=-1, delay=0.05, max_delay=0.2), **kw)
    c.start(timeout=15)
    return c


def _stop(c):
    try:
        c.stop()
        c.close()
    except Exception:
        pass


def _log_files(srv):
    return sorted(glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "log.*")),
                  key=lambda p: int(p.rsplit(".", 1)[1], 16))


@pytest.fixture
def durable():
    srv = ServerProcess("zkwire", cfg={"snapCount": "1000"})
    yield srv
    srv.cleanup()


def test_acknowledged_writes_survive_sigkill(durable):
    """A writer keeps many creates in flight; the server is SIGKILLed at a random
    moment; after each restart every acknowledged create is there."""
    srv = durable.start()
    rng = random.Random(20261125)
    acked = []
    for rnd in range(CRASH_ROUNDS):
        zk = _client(srv)
        zk.ensure_path("/crash")
        stop = threading.Event()
        mine = []

        def writer():
            window = []
            i = 0
            while not stop.is_set():
                window.append(zk.create_async("/crash/r%03d-" % rnd, b"x" * rng.randint(0, 200),
                                              sequence=True))
                i += 1
                if len(window) >= 32:
                    r = window.pop(0)
                    try:
                        mine.append(r.get(timeout=10))
                    except (KazooException, KazooTimeoutError):
                        return
            for r in window:
                try:
                    mine.append(r.get(timeout=10))
                except (KazooException, KazooTimeoutError):
                    pass

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        srv.kill()
        stop.set()
        t.join(30)
        _stop(zk)
        acked.extend(mine)
        srv.start()
    zk = _client(srv)
    try:
        present = {"/crash/" + c for c in zk.get_children("/crash")}
    finally:
        _stop(zk)
    missing = [p for p in acked if p not in present]
    assert acked, "the writer never got an acknowledgement"
    assert not missing, "%d of %d acknowledged writes lost, e.g. %s" % (
        len(missing), len(acked), missing[:5])


def test_sessions_survive_restart_and_expire_after_it(durable):
    durable.cfg["tickTime"] = "200"   # sessions of 400..4000 ms
    srv = durable.start()
    keeper = _client(srv)
    keeper.create("/eph-kept", ephemeral=True)
    sid, passwd = keeper.client_id
    leaver = _client(srv)
    leaver.create("/eph-gone", ephemeral=True)
    srv.kill()
    # Neither client is allowed to reconnect by itself while we restart.
    for c in (keeper, leaver):
        c.hosts = [("127.0.0.1", 1)]
    srv.start()
    observer = _client(srv)
    try:
        # Both sessions were restored with their ephemerals...
        assert observer.exists("/eph-kept") and observer.exists("/eph-gone")
        # ...the one whose client comes back keeps them...
        back = _client(srv, client_id=(sid, passwd))
        assert back.client_id[0] == sid
        # ...and the other expires after its timeout, as it would have without the restart.
        assert wait_until(lambda: observer.exists("/eph-gone") is None, timeout=15)
        assert observer.exists("/eph-kept") is not None
        _stop(back)
    finally:
        _stop(observer)
        _stop(keeper)
        _stop(leaver)


def _write_some(srv, n=30):
    zk = _client(srv)
    try:
        for i in range(n):
            zk.create("/d%02d" % i, b"v%d" % i)
    finally:
        _stop(zk)


def test_torn_tail_is_dropped(durable):
    srv = durable.start()
    zk = _client(srv)
    for i in range(30):
        zk.create("/d%02d" % i, b"v%d" % i)
    srv.kill()  # the client is still connected: the create of /d29 is the last entry
    zk.hosts = [("127.0.0.1", 1)]
    _stop(zk)
    log = _log_files(srv)[-1]
    data = bytearray(open(log, "rb").read())
    # Find the last entry's end marker ('B' followed by preallocated zeros) and
    # cut the record in half, as a crash in the middle of a write leaves it.
    end = len(data.rstrip(b"\0"))
    assert data[end - 1] == 0x42
    cut = end - 10
    data[cut:end] = b"\0" * (end - cut)
    open(log, "wb").write(bytes(data))
    srv.start()
    zk = _client(srv)
    try:
        names = set(zk.get_children("/"))
        assert {"d%02d" % i for i in range(29)} <= names
        assert "d29" not in names  # the torn last write is gone, the rest is intact
    finally:
        _stop(zk)
    assert "torn" in srv.log_text()


def test_corruption_in_the_middle_refuses_to_start(durable):
    srv = durable.start()
    _write_some(srv)
    srv.kill()
    log = _log_files(srv)[-1]
    data = bytearray(open(log, "rb").read())
    # Flip one byte inside an early entry (past the 16-byte file header).
    data[60] ^= 0xFF
    open(log, "wb").write(bytes(data))
    out = srv.run_to_exit()
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert os.path.basename(log) in lines[0] and "offset" in lines[0]


def test_empty_log_file_is_ignored(durable):
    srv = durable.start()
    _write_some(srv, 5)
    srv.kill()
    empty = os.path.join(srv.cfg["dataDir"], "version-2", "log.ffff")
    open(empty, "wb").close()
    srv.start()
    zk = _client(srv)
    try:
        assert {"d%02d" % i for i in range(5)} <= set(zk.get_children("/"))
    finally:
        _stop(zk)


def test_missing_snapshot_replays_the_logs(durable):
    srv = durable.start()
    _write_some(srv, 10)
    srv.kill()
    for snap in glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "snapshot.*")):
        os.unlink(snap)
    srv.start()
    zk = _client(srv)
    try:
        assert zk.get("/d09")[0] == b"v9"
    finally:
        _stop(zk)


def test_snapshot_with_bad_checksum_falls_back_to_the_previous_one(durable):
    srv = durable.start()
    _write_some(srv, 10)
    srv.stop()
    srv.start()          # a restart writes a snapshot of what it loaded
    _write_some(srv, 0)
    srv.stop()
    snaps = sorted(glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "snapshot.*")),
                   key=lambda p: int(p.rsplit(".", 1)[1], 16))
    assert len(snaps) >= 2
    newest = snaps[-1]
    data = bytearray(open(newest, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(newest, "wb").write(bytes(data))
    srv.start()
    zk = _client(srv)
    try:
        assert zk.get("/d09")[0] == b"v9"
    finally:
        _stop(zk)
    assert os.path.basename(newest) in srv.log_text()


def test_dump_and_purge_commands(durable):
    import subprocess
    import sys

    srv = durable.start()
    _write_some(srv, 3)
    srv.stop()
    logs = _log_files(srv)
    out = subprocess.run([sys.executable, "-m", "zkwire", "dump", logs[-1]],
                         capture_output=True, text=True, check=True).stdout
    assert "createSession" in out and "create /d02 data=b'v2'" in out and "closeSession" in out
    snap = sorted(glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "snapshot.*")))[0]
    out = subprocess.run([sys.executable, "-m", "zkwire", "dump", snap],
                         capture_output=True, text=True, check=True).stdout
    assert "ZNode Details" in out and "Session Details" in out
    # Each restart after new writes leaves one more snapshot; purge keeps three.
    for _ in range(4):
        srv.start()
        _write_some(srv, 0)  # a session opened and closed: two more txns
        srv.stop()
    snaps = glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "snapshot.*"))
    assert len(snaps) >= 5
    subprocess.run([sys.executable, "-m", "zkwire", "purge", srv.cfg["dataDir"], "-n", "3"],
                   capture_output=True, text=True, check=True)
    left = glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "snapshot.*"))
    assert len(left) == 3
    srv.start()
    zk = _client(srv)
    try:
        assert zk.get("/d02")[0] == b"v2"
    finally:
        _stop(zk)
