"""mntr and the AdminServer on ensemble members: ZooKeeper's key set for each
role, the quorum figures of a fresh ensemble, and the shape of the admin
commands that differ by role.

Against zkwire the ensemble is three zkwire participants and a zkwire
observer; with ZKWIRE_TEST_TARGET=zookeeper, the same layout of Apache
ZooKeeper 3.8.0 members.  The expected key lists are 3.8.0's, observed on
such an ensemble (tests/unit/zookeeper_3_8_0_mntr.txt, which says how);
zkwire adds 3.9's five metrics (metrics.SINCE_39) and does not keep the
leader's per-learner queue sets (``learner_handler_qp_*``), so those keys are
left out of the comparison.  Observed values on 3.8.0, once every member
serves: looking_count 1 on each; the leader counted diff_count 3 (one sync per
learner, none by SNAP) and snap_count 0 (the test checks the sum); election_time has one sample on the
leader and the followers and none on the observer (Observer does not record
it).

AdminServer on the same 3.8.0 layout (observed): ``leader`` answers
is_leader, leader_id (the leader's sid) and leader_ip (127.0.0.1) on every
member; ``voting_view`` lists the participants by sid with server_addresses,
election_addresses, client_address (a member's own only; "" for the others,
whose server lines name none) and learner_type; ``zabstate`` answers myid,
is_leader, quorum_address and election_address (ZooKeeper's MultipleAddresses
as Jackson writes it), client_address, voting (false on the observer),
last_zxid "0x100000000" (one follower still "0x0"), zab_epoch and zab_counter
its halves, zabstate "broadcast".
"""
from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ensemble import Ensemble  # noqa: E402
from servers import target_kind  # noqa: E402

import json  # noqa: E402
import urllib.request  # noqa: E402

from zkwire.server.core import metrics as M  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def observed_keys():
    sections, cur = {}, None
    with open(os.path.join(HERE, "unit", "zookeeper_3_8_0_mntr.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("== "):
                cur = sections.setdefault(line[3:], [])
            else:
                cur.append(line.split("\t", 1)[0])
    return sections


def since_39_keys():
    out = set()
    for name in M.SINCE_39:
        if dict(M.CATALOGUE)[name] == M.COUNTER:
            out.add("zk_" + name)
        else:
            out.update("zk_%s_%s" % (p, name) for p in ("avg", "min", "max", "cnt", "sum"))
    return out


IGNORED = re.compile(r"^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_\d+_learner_handler_qp_")


def test_each_role_prints_zookeepers_keys():
    kind = "z" if target_kind() == "zkwire" else "j"
    want = observed_keys()
    extra = since_39_keys() if target_kind() == "zkwire" else set()
    with Ensemble(kind * 3 + kind.upper(), admin=True) as e:
        e.start_all()
        e.wait_serving()
        got, admin = {}, {}
        for m in e.members.values():
            lines = m.four("mntr").splitlines()
            vals = dict(x.split("\t", 1) for x in lines)
            got[vals["zk_server_state"]] = (lines, vals)
            admin[vals["zk_server_state"]] = (m, {
                c: json.loads(urllib.request.urlopen(
                    "http://127.0.0.1:%d/commands/%s" % (m.admin_port, c), timeout=10).read())
                for c in ("leader", "voting_view", "zabstate")})
        leader_sid = admin["leader"][0].sid
        for role, (m, a) in admin.items():
            assert a["leader"] == {"is_leader": role == "leader", "leader_id": leader_sid,
                                   "leader_ip": "127.0.0.1", "command": "leader", "error": None}
            view = a["voting_view"]["current_config"]
            assert sorted(view) == ["1", "2", "3"], role
            for sid, v in view.items():
                p = e[int(sid)]
                assert v == {"server_addresses": ["127.0.0.1:%d" % p.quorum_port],
                             "election_addresses": ["127.0.0.1:%d" % p.election_port],
                             "client_address": ("127.0.0.1:%d" % p.client_port
                                                if p is m else ""),
                             "learner_type": "participant"}, (role, sid)
            z = a["zabstate"]
            assert list(z) == ["myid", "is_leader", "quorum_address", "election_address",
                               "client_address", "voting", "last_zxid", "zab_epoch",
                               "zab_counter", "zabstate", "command", "error"]
            assert (z["myid"], z["is_leader"], z["voting"], z["zabstate"]) == (
                m.sid, role == "leader", role != "observer", "broadcast")
            # The last processed zxid: 0x0 or 0x100000000 just after the
            # start, depending on timing (3.8.0 showed both); unpadded hex.
            assert z["last_zxid"] in ("0x0", "0x100000000"), z["last_zxid"]
            zxid = int(z["last_zxid"], 16)
            assert (z["zab_epoch"], z["zab_counter"]) == (zxid >> 32, zxid & 0xFFFFFFFF)
            assert z["client_address"] == "127.0.0.1:%d" % m.client_port
            qa = "127.0.0.1:%d" % m.quorum_port
            assert z["quorum_address"] == {
                "empty": False, "all_addresses": [qa], "all_reachable_addresses": [qa],
                "one": qa, "reachable_address": qa,
                "wildcard_addresses": ["0.0.0.0:%d" % m.quorum_port],
                "all_ports": [m.quorum_port], "all_host_strings": ["127.0.0.1"],
                "all_reachable_addresses_or_all": [qa], "reachable_or_one": qa}
    assert sorted(got) == ["follower", "leader", "observer"]
    for role, (lines, vals) in got.items():
        keys = {x.split("\t", 1)[0] for x in lines}
        expected = {k for k in want[role] if not IGNORED.match(k)}
        assert {k for k in keys if not IGNORED.match(k)} == expected | extra, role
        assert vals["zk_looking_count"] == "1", role
        assert vals["zk_cnt_election_time"] == ("0" if role == "observer" else "1"), role
        # One sync per learner on the leader, none counted elsewhere.  (3.8.0
        # synced all three by DIFF; a zkwire leader was seen to SNAP one of
        # them, which is the quorum code's choice, not a metrics matter.)
        syncs = int(vals["zk_diff_count"]) + int(vals["zk_snap_count"])
        assert syncs == (3 if role == "leader" else 0), role
        assert int(vals["zk_cnt_zookeeper_write_per_namespace"]) >= 1, role
