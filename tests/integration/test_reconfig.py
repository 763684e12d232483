"""Dynamic reconfiguration (ZooKeeper 3.5+) through kazoo's ``reconfig``, on
real ensembles: Apache ZooKeeper (Debian's 3.8.0), zkwire, and mixes of both,
with the same expectations for every layout.

What is expected is what the Java ensemble ("jjjJ") does; README.rst's
"Dynamic reconfiguration" section and interop/DIFFERENCES.rst record how it
was observed.  In short (3.8.0, 3 participants, reconfigEnabled=true, a
super digest; kazoo 2.x):

* /zookeeper/config of a fresh ensemble lists the three participants as
  ``server.N=127.0.0.1:qp:ep:participant`` and ends in
  ``version=100000000`` (the first zxid of epoch 1, ZOOKEEPER-1783); its Stat
  has version -1 and mzxid equal to the config version.
* A server whose own zoo.cfg lists the ensemble and itself as an observer,
  started before the reconfig, reports ``Mode: follower`` (it is outside the
  config: a non-voting participant).  After ``joining`` it is an observer.
* The reply of a reconfig is the new config text, ``version=`` the hex zxid
  of the reconfig txn (the Stat's mzxid); every member shows that text.
* Errors: ``from_config`` other than the current version -> BADVERSION; a new
  config without a synced quorum -> NEWCONFIGNOQUORUM; ``leaving="x"`` ->
  MARSHALLINGERROR; a new config of one voter, or of none -> BADARGUMENTS;
  no super user -> NOAUTH.
* A new participant started with a zoo.cfg listing the ensemble and itself
  follows outside the config until ``joining`` makes it a voter.
* A removed participant and a removed observer both go on as
  ``Mode: follower``; a removed server is absent from everyone's config.
* Every member writes ``zoo.cfg.dynamic.<version>`` next to its zoo.cfg (its
  ``server.`` lines sorted, no version line), keeps the first zoo.cfg as
  ``zoo.cfg.bak``, and rewrites zoo.cfg without server lines and with
  ``dynamicConfigFile=<that file>``; restarted with that zoo.cfg it is
  back in the same configuration.
"""
from __future__ import annotations

import base64
import hashlib
import os

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadArgumentsError, ConnectionLoss, BadVersionError, MarshallingError, NewConfigNoQuorumError, NoAuthError,
)

from ensemble import Ensemble, wait_for
from servers import apache_zookeeper_available, target_kind

pytestmark = [
    pytest.mark.skipif(target_kind() != "zkwire",
                       reason="starts its own zkwire and ZooKeeper members"),
]

SUPER = "super:pw"
_DIGEST = base64.b64encode(hashlib.sha1(SUPER.encode()).digest()).decode()
SYSPROPS = {"zookeeper.DigestAuthenticationProvider.superDigest": "super:" + _DIGEST}
EXTRA_CFG = {"reconfigEnabled": "true"}


def _layouts(*layouts):
    out = []
    for layout in layouts:
        marks = []
        if "j" in layout.lower() and not apache_zookeeper_available():
            marks.append(pytest.mark.skip(reason="Debian's zookeeper package is not installed"))
        out.append(pytest.param(layout, marks=marks, id=layout))
    return out


@pytest.fixture
def reconfig_ensemble(request):
    made = []

    def make(layout, unlisted=()):
        e = Ensemble(layout, extra_cfg=EXTRA_CFG, sysprops=SYSPROPS, unlisted=unlisted)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def client(member, auth=True):
    c = KazooClient(hosts=member.host, timeout=10.0,
                    auth_data=[("digest", SUPER)] if auth else None)
    c.start(timeout=20)
    return c


def config_of(member):
    c = client(member, auth=False)
    try:
        c.sync("/zookeeper/config")
        data, st = c.get("/zookeeper/config")
        return data.decode(), st
    finally:
        c.stop()
        c.close()


def line(member, client_addr=False, role=None):
    spec = member.server_spec(client=client_addr, role=role or (
        "observer" if member.observer else "participant"))
    return "server.%d=%s" % (member.sid, spec)


def config_text(lines, version):
    return "\n".join(lines + ["version=%x" % version])


def wait_config(ensemble, sids, text):
    seen = {}

    def same():
        for s in sids:
            try:
                seen[s] = config_of(ensemble[s])[0]
            except Exception as e:      # not serving (yet): kazoo's timeout
                seen[s] = e
        return all(v == text for v in seen.values())
    try:
        wait_for(same, 30, "every member of %s to show\n%s" % (sids, text))
    except AssertionError as e:
        raise AssertionError("%s\nthey show %s\n%s" % (e, seen, "\n".join(
            "--- %r\n%s" % (ensemble[s], ensemble[s].log_text()[-4000:])
            for s in sids if seen.get(s) != text))) from None


def wait_mode(member, mode):
    wait_for(lambda: member.mode() == mode, 30, "%r in mode %s (it is %s)"
             % (member, mode, member.mode()))


def check_files(member, version, lines):
    """The dynamic config file of ``version`` and the rewritten zoo.cfg."""
    path = os.path.join(member.dir, "zoo.cfg.dynamic.%x" % version)
    wait_for(lambda: os.path.exists(path), 10, path)
    with open(path) as f:
        assert f.read().rstrip("\n") == "\n".join(sorted(lines))
    with open(os.path.join(member.dir, "zoo.cfg")) as f:
        cfg = f.read().splitlines()
    assert "dynamicConfigFile=%s" % path in cfg
    assert not [x for x in cfg if x.startswith("server.")]
    assert os.path.exists(os.path.join(member.dir, "zoo.cfg.bak"))


@pytest.mark.parametrize("layout", _layouts("jjjJ", "zzzZ", "zjjZ", "jjzJ"))
def test_an_observer_joins_and_leaves(reconfig_ensemble, layout):
    e = reconfig_ensemble(layout, unlisted=(4,))
    for s in (1, 2, 3):
        e[s].start()
    e.wait_serving([1, 2, 3])
    voters = [line(e[s]) for s in (1, 2, 3)]
    first = config_text(voters, 0x100000000)
    wait_config(e, (1, 2, 3), first)
    _, st = config_of(e[1])
    assert (st.version, st.mzxid) == (-1, 0x100000000)

    e[4].start()
    e.wait_serving([4])
    wait_mode(e[4], "follower")        # outside the config: a non-voting participant

    c = client(e[1])
    try:
        joining = line(e[4], client_addr=True)
        data, st = c.reconfig(joining=joining, leaving=None, new_members=None)
        joined = config_text(voters + [joining], st.mzxid)
        assert data.decode() == joined
        assert st.version == -1
        wait_config(e, (1, 2, 3, 4), joined)
        wait_mode(e[4], "observer")
        for s in (1, 2, 3, 4):
            check_files(e[s], st.mzxid, voters + [joining])

        with pytest.raises(BadVersionError):
            c.reconfig(joining=None, leaving="4", new_members=None, from_config=st.mzxid + 1)
        with pytest.raises(NewConfigNoQuorumError):
            c.reconfig(joining="server.8=127.0.0.1:1:2;3", leaving="2,3", new_members=None)
        with pytest.raises(MarshallingError):
            c.reconfig(joining=None, leaving="x", new_members=None)
        with pytest.raises(BadArgumentsError):
            c.reconfig(joining=None, leaving=None, new_members="server.9=127.0.0.1:1:2;3")
        with pytest.raises(BadArgumentsError):
            c.reconfig(joining=None, leaving="1,2,3", new_members=None)
        plain = client(e[2], auth=False)
        try:
            with pytest.raises(NoAuthError):
                plain.reconfig(joining=None, leaving="4", new_members=None)
        finally:
            plain.stop()
            plain.close()

        data, st = c.reconfig(joining=None, leaving="4", new_members=None,
                              from_config=st.mzxid)
        left = config_text(voters, st.mzxid)
        assert data.decode() == left
        wait_config(e, (1, 2, 3, 4), left)
        wait_mode(e[4], "follower")
        c.create("/after", b"x")
        c.sync("/after")
        for s in (1, 2, 3, 4):
            other = client(e[s], auth=False)
            try:
                other.sync("/after")
                assert other.get("/after")[0] == b"x"
            finally:
                other.stop()
                other.close()
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("layout", _layouts("jjj", "zzz", "zjj", "jjz"))
def test_a_participant_leaves_comes_back_and_a_restart_keeps_the_config(reconfig_ensemble,
                                                                        layout):
    e = reconfig_ensemble(layout)
    e.start_all()
    e.wait_serving()
    leader = e.leader()
    gone = next(m for m in e.members.values() if m is not leader)
    stay = [s for s in (1, 2, 3) if s != gone.sid]
    c = client(leader)
    try:
        data, st = c.reconfig(joining=None, leaving=str(gone.sid), new_members=None)
        two = config_text([line(e[s]) for s in stay], st.mzxid)
        assert data.decode() == two
        wait_config(e, (1, 2, 3), two)
        wait_mode(gone, "follower")           # non-voting, still serving
        c.create("/two", b"2")

        back = line(gone, client_addr=True)
        data, st = c.reconfig(joining=back, leaving=None, new_members=None)
        lines = {s: line(e[s]) for s in stay}
        lines[gone.sid] = back
        three = config_text([lines[s] for s in (1, 2, 3)], st.mzxid)
        assert data.decode() == three
        wait_config(e, (1, 2, 3), three)

        # Non-incremental: the whole new member list, commas for newlines.
        members = [line(e[s], client_addr=True) for s in (1, 2, 3)]
        data, st = c.reconfig(joining=None, leaving=None, new_members=",".join(members))
        final = config_text(members, st.mzxid)
        assert data.decode() == final
        wait_config(e, (1, 2, 3), final)
        for s in (1, 2, 3):
            check_files(e[s], st.mzxid, members)
    finally:
        c.stop()
        c.close()

    # Restarted with the zoo.cfg it rewrote, a member is back in that config.
    gone.stop()
    gone.start(keep_cfg=True)
    e.wait_serving([gone.sid])
    wait_config(e, (gone.sid,), final)
    c = client(gone, auth=False)
    try:
        c.sync("/two")
        assert c.get("/two")[0] == b"2"
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("layout", _layouts("jjj", "zzz", "zjj", "jjz"))
def test_the_leader_leaves_and_hands_over_to_the_designated_leader(reconfig_ensemble, layout):
    """3.8.0 (the jjj run): a reconfig removing the leader names the
    lowest-sid voter of the new config that acked it; that server leads
    at once (no election), the other follows it, the old leader follows too,
    as a non-voting participant."""
    e = reconfig_ensemble(layout)
    e.start_all()
    e.wait_serving()
    old = e.leader()
    first, second = sorted(s for s in (1, 2, 3) if s != old.sid)
    c = client(e[second])
    try:
        c.create("/before", b"b")
        try:
            data, _ = c.reconfig(joining=None, leaving=str(old.sid), new_members=None)
        except ConnectionLoss:
            # Every server changes role on the COMMITANDACTIVATE; the one the
            # client is on may close its connection before the reply (Java
            # does, now and then): the config then says what happened.
            data = None
        wait_mode(e[first], "leader")
        wait_mode(e[second], "follower")
        wait_mode(old, "follower")
        text, st = config_of(e[first])
        two = config_text([line(e[first]), line(e[second])], st.mzxid)
        assert text == two
        if data is not None:
            assert data.decode() == two
        wait_config(e, (1, 2, 3), two)
        c.create("/after", b"a")
        for s in (1, 2, 3):
            other = client(e[s], auth=False)
            try:
                other.sync("/after")
                assert other.get("/after")[0] == b"a"
            finally:
                other.stop()
                other.close()
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("layout", _layouts("jjjj", "zzzz", "zzzj", "jjjz"))
def test_a_new_participant_joins_and_votes(reconfig_ensemble, layout):
    """3.8.0 (the jjjj run): a fourth server started with a zoo.cfg listing
    the three and itself follows, outside the config; ``joining`` it makes the
    config four participants.  That it votes: once one original follower has
    left too and the other is stopped, the leader and the new server (two of
    the three voters) still commit writes."""
    e = reconfig_ensemble(layout, unlisted=(4,))
    for s in (1, 2, 3):
        e[s].start()
    e.wait_serving([1, 2, 3])
    e[4].start()
    e.wait_serving([4])
    wait_mode(e[4], "follower")
    leader = e.leader()
    f1, f2 = [e[s] for s in (1, 2, 3) if s != leader.sid]
    c = client(leader)
    try:
        joining = line(e[4], client_addr=True)
        data, st = c.reconfig(joining=joining, leaving=None, new_members=None)
        four = config_text([line(e[s]) for s in (1, 2, 3)] + [joining], st.mzxid)
        assert data.decode() == four
        wait_config(e, (1, 2, 3, 4), four)
        data, st = c.reconfig(joining=None, leaving=str(f1.sid), new_members=None)
        three = config_text([line(e[s]) for s in (1, 2, 3) if s != f1.sid] + [joining],
                            st.mzxid)
        assert data.decode() == three
        wait_config(e, (1, 2, 3, 4), three)
    finally:
        c.stop()
        c.close()
    f2.stop()
    c = client(e[4])
    try:
        c.create("/with-four", b"4")
        c.sync("/with-four")
        assert c.get("/with-four")[0] == b"4"
    finally:
        c.stop()
        c.close()
    assert leader.mode() == "leader"
