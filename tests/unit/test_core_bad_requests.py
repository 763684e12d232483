"""The sans-IO core's answers to bad requests and under zookeeper.enforce.auth.

Every expectation is Apache ZooKeeper 3.8.0's observed behaviour, written down in
tests/ZOOKEEPER_FACTS.md §13 (bad requests) and §14 (enforce.auth).
"""
from __future__ import annotations

import pytest

from zkwire import records as r
from zkwire.consts import Err, OpCode, Xid
from zkwire.protocol import Malformed, decode_request, encode_reply

from . import CoreHarness, create_req, kinds, replies

BAD = Malformed("test: truncated")


@pytest.fixture
def h():
    return CoreHarness()


def txns(h):
    return [(hdr.zxid, hdr.cxid, hdr.type, getattr(txn, "err", None)) for hdr, txn in h.log.entries]


def test_malformed_read_answers_marshalling_error_without_a_txn(h):
    c = h.session()
    z = h.core.tree.last_zxid
    n = len(h.log.entries)
    for op in (OpCode.exists, OpCode.getData, OpCode.sync, OpCode.setWatches, OpCode.multiRead):
        assert h.call(c, 7, op, BAD) == [("reply", 7, z, Err.MARSHALLINGERROR, op, None)]
    assert len(h.log.entries) == n and not c.closing


@pytest.mark.parametrize("op", [OpCode.create, OpCode.setData, OpCode.check, OpCode.multi,
                                OpCode.createTTL, OpCode.setACL])
def test_malformed_write_is_an_error_txn(h, op):
    # §13 truncated-write-bodies-log-error-txns: RH(xid, z+1, -5); error txn at z+1.
    c = h.session()
    z = h.core.tree.last_zxid
    out = h.call(c, 8, op, BAD)
    assert [o[1:4] for o in replies(out)] == [(8, z + 1, Err.MARSHALLINGERROR)]
    assert replies(out)[0][5] is None
    assert txns(h)[-1] == (z + 1, 8, OpCode.error, Err.MARSHALLINGERROR)


def test_malformed_write_keeps_its_place_in_the_fifo(h):
    c = h.session()
    z = h.core.tree.last_zxid
    h.req(c, 1, OpCode.create, create_req("/a"), flush=False)
    h.req(c, 2, OpCode.create, BAD, flush=False)
    h.req(c, 3, OpCode.exists, BAD, flush=False)
    h.flush()
    assert [o[1:4] for o in replies(h.take(c))] == [
        (1, z + 1, 0), (2, z + 2, Err.MARSHALLINGERROR), (3, z + 2, Err.MARSHALLINGERROR)]


def test_malformed_reconfig_spends_no_zxid(h):
    c = h.session()
    z = h.core.tree.last_zxid
    n = len(h.log.entries)
    assert replies(h.call(c, 7, OpCode.reconfig, BAD)) == [
        ("reply", 7, z, Err.MARSHALLINGERROR, OpCode.reconfig, None)]
    assert len(h.log.entries) == n


@pytest.mark.parametrize("enabled, err", [(False, Err.RECONFIGDISABLED), (True, Err.UNIMPLEMENTED)])
def test_reconfig_on_a_standalone_server(enabled, err):
    h = CoreHarness(reconfig_enabled=enabled)
    c = h.session()
    z = h.core.tree.last_zxid
    req = r.ReconfigRequest.make("", "", "", -1)
    assert [o[1:4] for o in replies(h.call(c, 7, OpCode.reconfig, req))] == [(7, z + 1, err)]
    assert txns(h)[-1] == (z + 1, 7, OpCode.error, err)


def test_delete_container_from_a_client_is_bad_arguments(h):
    c = h.session()
    h.create(c, "/t")
    z = h.core.tree.last_zxid
    assert [o[1:4] for o in replies(h.call(c, 8, OpCode.deleteContainer))] == [
        (8, z + 1, Err.BADARGUMENTS)]
    assert txns(h)[-1] == (z + 1, 8, OpCode.error, Err.BADARGUMENTS)
    assert "/t" in h.core.tree.nodes


def test_multi_read_of_a_write_carries_an_empty_result_list(h):
    c = h.session()
    z = h.core.tree.last_zxid
    [rep] = replies(h.call(c, 2, OpCode.multiRead, [(OpCode.create, create_req("/x"))]))
    assert rep == ("reply", 2, z, Err.MARSHALLINGERROR, OpCode.multiRead, [])
    assert encode_reply(*rep[1:])[4 + 16:] == bytes.fromhex("ffffffff01ffffffff")


def test_sasl_packet_answered_ok_with_a_null_token(h):
    c = h.session()
    [rep] = replies(h.call(c, 5, OpCode.sasl, r.GetSASLRequest.make(b"tok")))
    assert encode_reply(*rep[1:]) == bytes.fromhex("00000014" "00000005" "0000000000000000"
                                                   "00000000" "ffffffff")


def test_sasl_packet_with_a_null_token_closes(h):
    c = h.session()
    assert kinds(h.call(c, 5, OpCode.sasl, r.GetSASLRequest.make(None))) == ["close"]


def test_unknown_opcode_closes_and_nothing_after_it_runs(h):
    c = h.session()
    z = h.core.tree.last_zxid
    h.req(c, 1, 99, None, flush=False)
    h.req(c, 2, OpCode.create, create_req("/u"), flush=False)
    h.flush()
    out = h.take(c)
    assert out[0] == ("reply", 1, -1, Err.UNIMPLEMENTED, 99, None)
    assert kinds(out) == ["reply", "close"]
    assert h.core.tree.last_zxid == z and "/u" not in h.core.tree.nodes


def test_decoded_truncated_frame_reaches_the_core_as_malformed(h):
    c = h.session()
    xid, op, req = decode_request(bytes.fromhex("00000001" "00000003"))   # exists, no body
    assert isinstance(req, Malformed)
    assert replies(h.call(c, xid, op, req))[0][3] == Err.MARSHALLINGERROR


# --- zookeeper.enforce.auth ----------------------------------------------------------------

@pytest.fixture
def enforcing():
    return CoreHarness(enforce_auth_schemes=("digest",))


@pytest.mark.parametrize("op, req", [
    (OpCode.exists, r.ExistsRequest.make("/", False)), (OpCode.create, create_req("/a")),
    (OpCode.ping, None), (OpCode.closeSession, None), (99, None), (OpCode.exists, BAD),
    (OpCode.multi, [(OpCode.create, create_req("/a"))]), (OpCode.createSession, None),
])
def test_enforce_auth_refuses_and_closes(enforcing, op, req):
    h = enforcing
    c = h.session()
    z = h.core.tree.last_zxid
    h.req(c, 3, op, req, flush=False)
    h.req(c, 4, OpCode.create, create_req("/b"), flush=False)   # read no more after the close
    h.flush()
    out = h.take(c)
    assert out == [("reply", 3, 0, Err.SESSIONCLOSEDREQUIRESASLAUTH, op, None), out[1]]
    assert out[1][0] == "close"
    assert h.core.tree.last_zxid == z and not ({"/a", "/b"} & set(h.core.tree.nodes))
    assert c.session_id in h.core.sessions.sessions             # the session lives on


def test_enforce_auth_digest_counts_ip_does_not(enforcing):
    h = enforcing
    c = h.session()
    assert replies(h.call(c, Xid.AUTH, OpCode.auth, r.AuthPacket.make(0, "ip", b"")))[0][3] == 0
    assert kinds(h.call(c, 1, OpCode.exists, r.ExistsRequest.make("/", False))) == ["reply", "close"]
    d = h.session()
    assert replies(h.call(d, 5, OpCode.sasl, r.GetSASLRequest.make(b"t")))[0][3] == 0
    assert replies(h.call(d, Xid.AUTH, OpCode.auth, r.AuthPacket.make(0, "digest", b"u:p")))[0][3] == 0
    assert [o[3] for o in replies(h.call(d, 2, OpCode.create, create_req("/a")))] == [0]


def test_enforce_auth_with_the_ip_scheme_lets_every_connection_in():
    h = CoreHarness(enforce_auth_schemes=("ip",))
    c = h.session()
    assert [o[3] for o in replies(h.call(c, 2, OpCode.create, create_req("/a")))] == [0]
