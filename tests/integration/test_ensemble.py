"""Ensembles of real processes: zkwire alone, and mixed with Apache ZooKeeper.

Every test starts its own ensemble on loopback (tests/ensemble.py) and checks
what a ZooKeeper user relies on: a write acknowledged by any member is seen
by every member after ``sync``, an ephemeral goes with its session, members
that come back catch up (DIFF, SNAP), a leader killed with -9 is replaced and
the service goes on, and at the end every member holds the same tree, Stat
fields included (the Java members' own trees are the reference).  The Java
members are Debian's ZooKeeper 3.8.0, started with the very zoo.cfg the
zkwire members get.

These tests start both kinds of server themselves, so they run in the zkwire
pass only (in the pass against Apache ZooKeeper they would repeat the same
processes).
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss

from ensemble import Ensemble, tree_dump, wait_for
from integration.rawclient import CONTAINER, RawConnection, create_req
from servers import apache_zookeeper_available, target_kind

pytestmark = [
    pytest.mark.skipif(target_kind() != "zkwire",
                       reason="starts its own zkwire and ZooKeeper members"),
]
needs_java = pytest.mark.skipif(not apache_zookeeper_available(),
                                reason="Debian's zookeeper package is not installed")


def client(member_or_hosts, timeout=10.0):
    hosts = member_or_hosts if isinstance(member_or_hosts, str) else member_or_hosts.host
    c = KazooClient(hosts=hosts, timeout=timeout)
    c.start(timeout=20)
    return c


def same_trees(ensemble, sids=None):
    """Every running member's tree, read through its own client port after a sync."""
    dumps = {}
    for sid, m in ensemble.members.items():
        if not m.running or (sids and sid not in sids):
            continue
        c = client(m)
        try:
            c.sync("/")
            dumps[sid] = tree_dump(c)
        finally:
            c.stop()
            c.close()
    first = next(iter(dumps.values()))
    diffs = {sid: sorted(set(d.items()) ^ set(first.items()))[:4]
             for sid, d in dumps.items() if d != first}
    assert not diffs, diffs
    return first


def writes_through_every_member(e, prefix):
    clients = [client(m) for m in e.members.values() if m.running]
    try:
        for i, c in enumerate(clients * 5):
            c.create("%s-%d" % (prefix, i), b"v%d" % i, makepath=True)
        for c in clients:
            c.sync("/")
            assert len(c.get_children(os.path.dirname(prefix) or "/")) >= 5 * len(clients)
    finally:
        for c in clients:
            c.stop()
            c.close()


@pytest.fixture
def ensemble_of():
    made = []

    def make(layout, first=None, late=(), **kw):
        """``first``: start that member alone first and wait until it
        answers, so it takes part in the first election (a JVM or PyPy
        that starts slower could otherwise miss it).  ``late``: members
        started only once the others serve, so they join an established
        leader."""
        e = Ensemble(layout, **kw)
        made.append(e)
        if first is not None:
            e[first].start()
            wait_for(lambda: e[first].four("srvr") != "", 60, "member %d to start" % first)
        for m in e.members.values():
            if not m.running and m.sid not in late:
                m.start()
        if late:
            e.wait_serving()
            for sid in late:
                e[sid].start()
        e.wait_serving()
        return e

    yield make
    for e in made:
        e.close()


def test_zkwire_ensemble_serves_from_every_member(ensemble_of):
    e = ensemble_of("zzz")
    modes = sorted(e.modes().values())
    assert modes == ["follower", "follower", "leader"]
    writes_through_every_member(e, "/w/a")
    a, b = client(e[1]), client(e[2])
    try:
        a.create("/eph", b"x", ephemeral=True)
        b.sync("/")
        assert b.exists("/eph").ephemeralOwner == a.client_id[0]
        a.stop()
        b.sync("/")
        assert b.exists("/eph") is None      # closeSession deleted it everywhere
    finally:
        a.close()
        b.stop()
        b.close()
    same_trees(e)


def test_zkwire_leader_killed_the_service_goes_on_and_it_catches_up(ensemble_of):
    e = ensemble_of("zzz")
    writes_through_every_member(e, "/before/x")
    old = e.leader()
    hosts = ",".join(m.host for m in e.members.values() if m is not old)
    survivor = client(hosts)
    try:
        survivor.create("/holder", b"", ephemeral=True)
        old.kill()
        e.wait_serving([s for s, m in e.members.items() if m is not old])
        new = e.leader()
        assert new is not old
        # The member it talks to lost its leader too and dropped the client:
        # ConnectionLoss, then kazoo reconnects the same session (a real
        # ZooKeeper does the same).  Wait for that, then write.
        def holder_seen():
            try:
                return survivor.exists("/holder") is not None
            except ConnectionLoss:
                return False

        wait_for(holder_seen, 30, "the session to reconnect")
        survivor.retry(survivor.create, "/after-kill", b"y")
        assert survivor.exists("/holder") is not None
        old.start()                                      # DIFF from the new leader
        e.wait_serving()
        same_trees(e)
    finally:
        survivor.stop()
        survivor.close()


def test_a_follower_that_lost_its_data_is_synced_by_snapshot(ensemble_of):
    e = ensemble_of("zzz")
    writes_through_every_member(e, "/s/x")
    victim = next(m for m in e.members.values() if m.mode() == "follower")
    victim.stop()
    shutil.rmtree(os.path.join(victim.data_dir, "version-2"))
    writes_through_every_member(e, "/s/y")
    victim.start()
    e.wait_serving()
    assert "synced by SNAP" in victim.log_text().split("===== start =====")[-1]
    same_trees(e)


@needs_java
def test_zkwire_follows_a_java_leader(ensemble_of):
    # A Java server leads: 3 (the highest id), or 2 if 3's JVM comes up
    # after 1 and 2 have made a quorum.
    e = ensemble_of("zjj")
    assert e.modes()[1] == "follower" and e.leader().kind == "zookeeper"
    writes_through_every_member(e, "/zj/a")
    e[1].stop()                                          # zkwire misses some writes
    writes_through_every_member(e, "/zj/b")
    e[1].start()                                         # and gets them by DIFF
    e.wait_serving()
    assert "synced by DIFF" in e[1].log_text().split("===== start =====")[-1]
    writes_through_every_member(e, "/zj/c")
    # A session made on the Java follower moves to zkwire: the Java leader
    # takes its writes from there only if zkwire revalidated it (otherwise
    # SESSIONMOVED: the leader holds the session's owner).
    a = client(e[2])
    try:
        a.create("/zj/mine", b"", ephemeral=True)
        b = KazooClient(hosts=e[1].host, client_id=a.client_id, timeout=10.0)
        b.start(timeout=20)
        try:
            assert b.client_id[0] == a.client_id[0]
            b.create("/zj/moved", b"m")
            b.set("/zj/mine", b"still mine")
        finally:
            b.stop()                                     # closes the session
            b.close()
        c = client(e[3])
        try:
            c.sync("/")
            assert c.exists("/zj/mine") is None and c.get("/zj/moved")[0] == b"m"
        finally:
            c.stop()
            c.close()
    finally:
        a.stop()
        a.close()
    same_trees(e)


@needs_java
def test_zkwire_leads_java_followers(ensemble_of):
    e = ensemble_of("jjz", first=3)          # all empty: the highest id up first leads
    assert e.modes()[3] == "leader"
    writes_through_every_member(e, "/jz/a")
    # A session on a Java follower stays alive through zkwire's expiry clock
    # only if the follower's PING touches reach it: hold it past the longest
    # session timeout (20 ticks) and check its ephemeral.
    c = client(e[1], timeout=4.0)
    try:
        c.create("/jz/held", b"", ephemeral=True)
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            assert c.connected
            time.sleep(0.25)
        c2 = client(e[3])
        try:
            assert c2.exists("/jz/held") is not None
        finally:
            c2.stop()
            c2.close()
    finally:
        c.stop()
        c.close()
    e[2].stop()                                          # a Java follower misses writes
    writes_through_every_member(e, "/jz/b")
    e[2].start()                                         # DIFF from zkwire
    e.wait_serving()
    same_trees(e)


@needs_java
def test_zkwire_observes_a_java_ensemble(ensemble_of):
    e = ensemble_of("jjjZ")
    assert e.modes()[4] == "observer"
    writes_through_every_member(e, "/obs/a")
    same_trees(e)


@needs_java
@pytest.mark.parametrize("layout", ["zzj", "zjz", "jzz", "jjz", "jzj", "zjj"])
def test_every_mix_agrees_through_a_leader_kill(ensemble_of, layout):
    """Server 3 usually leads the first epoch (highest id, all empty; a
    slow JVM can let 1 and 2 elect 2 first); killing the leader moves the
    lead to another member, so across the layouts each kind leads each kind,
    before and after a leader change."""
    e = ensemble_of(layout)
    writes_through_every_member(e, "/m/a")
    old = e.leader()
    old.kill()
    e.wait_serving([s for s, m in e.members.items() if m is not old])
    writes_through_every_member(e, "/m/b")
    old.start()
    e.wait_serving()
    writes_through_every_member(e, "/m/c")
    same_trees(e)


class Writer:
    """A client writing continuously (its own thread), keeping what was acked."""

    def __init__(self, hosts):
        import threading

        self.client = client(hosts, timeout=10.0)
        self.session = self.client.client_id[0]
        self.acked = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        from kazoo.exceptions import NodeExistsError
        n = 0
        while not self._stop.is_set():
            path = "/mig/w-%06d" % n
            try:
                self.client.retry(self._create, path)
                self.acked.append(path)
            except NodeExistsError:
                self.acked.append(path)      # an earlier try went through
            except Exception as e:           # noqa: BLE001 - recorded, the test fails on it
                self.errors.append(repr(e))
                return
            n += 1

    def _create(self, path):
        from kazoo.exceptions import NodeExistsError
        try:
            self.client.create(path, b"x", makepath=True)
        except NodeExistsError:
            pass

    def wait_for_more(self, n=20, timeout_s=30.0):
        start = len(self.acked)
        wait_for(lambda: len(self.acked) >= start + n or self.errors, timeout_s,
                 "the writer to make progress")
        assert not self.errors, self.errors

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        sid = self.client.client_id[0]
        self.client.stop()
        self.client.close()
        return sid


def _replace_one_by_one(e, writer, kind):
    """Swap every member for ``kind`` on the same dataDir and ports:
    followers first, the leader last, waiting for the service each time."""
    order = sorted(e.members.values(), key=lambda m: m.mode() == "leader")
    for m in order:
        m.stop()
        m.kind = kind
        m.start()
        e.wait_serving()
        writer.wait_for_more()


@needs_java
def test_rolling_migration_from_zookeeper_to_zkwire_and_back(ensemble_of):
    """README's migration procedure, under a client that writes throughout:
    no acknowledged write is lost and the client's session survives."""
    e = ensemble_of("jjj")
    writer = Writer(e.hosts)
    try:
        writer.wait_for_more()
        _replace_one_by_one(e, writer, "zkwire")
        assert {m.kind for m in e.members.values()} == {"zkwire"}
        assert e.leader().kind == "zkwire"
        _replace_one_by_one(e, writer, "zookeeper")
        assert {m.kind for m in e.members.values()} == {"zookeeper"}
    finally:
        session = writer.stop()
    assert session == writer.session and not writer.errors
    tree = same_trees(e)
    missing = [p for p in writer.acked if p not in tree]
    assert not missing, missing[:10]


def _since_39_keys():
    from zkwire.server.core import metrics as M

    out = set()
    for name in M.SINCE_39:
        if dict(M.CATALOGUE)[name] == M.COUNTER:
            out.add("zk_" + name)
        else:
            out.update("zk_%s_%s" % (p, name) for p in ("avg", "min", "max", "cnt", "sum"))
    return out


_SINCE_39_KEYS = _since_39_keys()


def _four_letter_view(e):
    """Per role: srvr's lines by key, conf's ensemble lines, mntr's keys in
    order with the values that do not depend on timing or the process."""
    view = {}
    for m in e.members.values():
        role = m.mode()
        srvr = dict(line.split(": ", 1) for line in m.four("srvr").splitlines() if ": " in line)
        conf = m.four("conf").splitlines()
        at = conf.index("serverId=%d" % m.sid)
        mntr = [line.split("\t", 1) for line in m.four("mntr").splitlines() if "\t" in line]
        fixed = ("zk_server_state", "zk_peer_state", "zk_observer_master_id",
                 "zk_synced_followers",
                 "zk_synced_non_voting_followers", "zk_synced_observers", "zk_pending_syncs",
                 "zk_learners", "zk_quorum_size", "zk_min_proposal_size",
                 "zk_max_proposal_size", "zk_last_proposal_size")
        view[role] = dict(
            srvr={k: srvr.get(k) for k in ("Mode", "Zxid", "Proposal sizes last/min/max")},
            conf=[line.split("=")[0] for line in conf[at:at + 7]] + conf[at + 7:at + 8],
            mntr_keys=[k for k, _ in mntr],
            mntr={k: v for k, v in mntr if k in fixed})
    return view


@needs_java
def test_srvr_conf_and_mntr_report_the_role_as_zookeeper_does(ensemble_of):
    """The observer starts once the participants serve.  Observed on Debian's
    3.8.0: a learner that syncs before the leader has its quorum reports
    "Zxid: 0x0" (an empty DIFF); one that syncs after it reports
    "Zxid: 0x100000000", because the leader's last processed zxid became
    epoch << 32 at the start of its epoch ("starting up and setting last
    processed zxid: 0x100000000" in its log) and the late learner is sent a
    SNAP at that zxid ("Getting a snapshot from leader 0x100000000").  Started
    with the others, the observer lands on either side by chance."""
    java = _four_letter_view(ensemble_of("jjJ", late=(3,)))
    ours = _four_letter_view(ensemble_of("zzZ", late=(3,)))
    assert sorted(ours) == sorted(java) == ["follower", "leader", "observer"]
    assert java["observer"]["srvr"]["Zxid"] == "0x100000000"
    for role in java:
        assert ours[role]["srvr"] == java[role]["srvr"], (role, ours[role], java[role])
        assert ours[role]["conf"] == java[role]["conf"], role
        assert ours[role]["mntr"] == java[role]["mntr"], (role, ours[role], java[role])
        # zkwire lists ZooKeeper's keys (their order is held to 3.8.0's in
        # tests/unit/test_metrics.py), plus 3.9's five metrics and without the
        # leader's per-learner queue sets (tests/integration/test_mntr_ensemble.py).
        qp = re.compile(r"^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_\d+_learner_handler_qp_")
        since_39 = {k for k in ours[role]["mntr_keys"] if k not in java[role]["mntr_keys"]}
        assert since_39 <= _SINCE_39_KEYS, (role, since_39 - _SINCE_39_KEYS)
        missing = {k for k in java[role]["mntr_keys"] if k not in ours[role]["mntr_keys"]}
        assert all(qp.match(k) for k in missing), (role, missing)


@pytest.mark.parametrize("layout", ["zzz", pytest.param("jjz", marks=needs_java),
                                    pytest.param("zzj", marks=needs_java)])
def test_a_member_ahead_of_the_ensemble_is_truncated(ensemble_of, layout):
    """As in tests/golden/quorum/trunc.json: a follower is stopped, run
    standalone on its own dataDir and written to, then restarted in the
    ensemble: its log is ahead of the leader's last zxid, and the leader cuts
    it back (TRUNC).  In "jjz" the zkwire leader truncates a Java follower,
    in "zzj" the Java leader a zkwire one."""
    e = ensemble_of(layout)
    writes_through_every_member(e, "/t/before")
    victim = e[1] if layout != "zzj" else e[3]
    if victim.mode() == "leader":
        victim = e[2]
    victim.stop()
    victim.start(standalone=True)
    wait_for(lambda: victim.mode() == "standalone", 30, "the standalone run")
    c = client(victim)
    try:
        for i in range(4):
            c.create("/t/standalone-%d" % i, b"", makepath=True)
    finally:
        c.stop()
        c.close()
    victim.stop()
    victim.start()
    e.wait_serving()
    last_run = victim.log_text().split("===== start =====")[-1]
    if victim.kind == "zkwire":
        assert "synced by TRUNC" in last_run
    else:
        assert "Truncating log to get in sync with the leader" in last_run
    tree = same_trees(e)
    assert not [p for p in tree if "standalone" in p]
    writes_through_every_member(e, "/t/after")
    same_trees(e)


def test_five_zkwire_members_serve_the_java_client_and_lose_two(ensemble_of, tmp_path):
    """The Java client's smoke transcript (tests/java/ZkSmoke.java, observed
    on a standalone Apache ZooKeeper) is the same through a follower of a
    5-member zkwire ensemble; the ensemble then loses two members, the leader
    among them, and goes on with the three left."""
    from .test_java_client import run_smoke

    e = ensemble_of("zzzzz")
    follower = next(m for m in e.members.values() if m.mode() == "follower")
    run_smoke(follower.host, tmp_path)
    writes_through_every_member(e, "/five/a")
    leader = e.leader()
    other = next(m for m in e.members.values() if m is not leader and m is not follower)
    leader.kill()
    other.kill()
    e.wait_serving([s for s, m in e.members.items() if m.running])
    writes_through_every_member(e, "/five/b")
    leader.start()
    other.start()
    e.wait_serving()
    same_trees(e)


@pytest.mark.parametrize("layout", ["zzz", pytest.param("jjj", marks=needs_java),
                                    pytest.param("zjj", marks=needs_java)])
def test_read_only_mode_serves_reads_while_the_quorum_is_gone(ensemble_of, layout):
    """-Dreadonlymode.enabled=true, as kazoo's TestReadOnlyMode runs it
    (its harness also sets localSessionsEnabled: without it a Java member
    cannot open a session in read-only mode; zkwire opens a session local
    to itself either way).  Observed on Debian's 3.8.0 ("jjj"): about 2 s
    after losing its quorum member 1 says "Mode: read-only" and isro "ro";
    a read-only client connects (CONNECTED_RO) and reads, its writes and
    syncs get NOTREADONLY, a client that does not allow read-only is
    refused; once the quorum is back it serves normally again."""
    from kazoo.exceptions import NotReadOnlyCallError

    e = ensemble_of(layout, sysprops={"readonlymode.enabled": "true"},
                    extra_cfg={"localSessionsEnabled": "true",
                               "localSessionsUpgradingEnabled": "true"})
    c = client(e.hosts)
    try:
        c.create("/ro", b"x")
        c.sync("/")
    finally:
        c.stop()
        c.close()
    wait_for(lambda: e[1].zxid() >= e[2].zxid() and e[1].zxid() >= e[3].zxid(), 10,
             "member 1 to have every write")
    e[2].stop()
    e[3].stop()
    wait_for(lambda: e[1].mode() == "read-only", 30, "read-only mode")
    assert e[1].four("isro") == "ro"
    assert "READ-ONLY mode; serving only read-only clients" in e[1].four("srvr")
    ro = KazooClient(hosts=e[1].host, read_only=True, timeout=10.0)
    ro.start(timeout=20)
    try:
        assert ro.client_state == "CONNECTED_RO"
        assert ro.get("/ro")[0] == b"x"
        with pytest.raises(NotReadOnlyCallError):
            ro.create("/w")
        with pytest.raises(NotReadOnlyCallError):
            ro.sync("/")
        rw = KazooClient(hosts=e[1].host, timeout=10.0,
                         connection_retry=dict(max_tries=2, delay=0.1))
        with pytest.raises(Exception):
            rw.start(timeout=3)
        rw.stop()
        rw.close()
        e[2].start()
        e[3].start()
        wait_for(lambda: e[1].mode() in ("leader", "follower"), 60, "the quorum")
        assert e[1].four("isro") == "rw"
    finally:
        ro.stop()
        ro.close()


CREATE_CONTAINER = 19


@needs_java
@pytest.mark.parametrize("layout", ["jjz", "zzj"])
def test_the_leader_reaps_an_emptied_container_on_every_member(ensemble_of, layout):
    # ContainerManager runs on the leader only; its deleteContainer txn is
    # applied by every follower, Java and zkwire alike.
    e = ensemble_of(layout, first=3, sysprops={"znode.container.checkIntervalMs": "200"})
    assert e.modes()[3] == "leader"
    raw = RawConnection(e[1].client_port)     # kazoo has no API for containers
    raw.handshake()
    f = raw.call(CREATE_CONTAINER, create_req("/ct", flags=CONTAINER))
    assert f.err == 0, f.summary()
    raw.close_session()
    raw.close()
    writer, watcher = client(e[1]), client(e[2])
    try:
        writer.create("/ct/kid", b"")
        gone = threading.Event()
        watcher.sync("/")
        assert watcher.exists("/ct", watch=lambda ev: gone.set()) is not None
        writer.delete("/ct/kid")
        assert gone.wait(30), "the emptied container was not deleted"
        for c in (writer, watcher):
            c.sync("/")
            assert c.exists("/ct") is None
    finally:
        for c in (writer, watcher):
            c.stop()
            c.close()
    same_trees(e)
