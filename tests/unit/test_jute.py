"""zkwire.jute: primitives, strictness, property round trips and fuzzing."""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkwire import records as r
from zkwire.jute import Bool, Buffer, Int, JuteError, Long, Record, UString, Vector, java_utf8

from zkwire.jute.core import _VectorConstruct

from . import INT32, INT64, TEXT, is_bool, record_strategy

FAST = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

I = Record("I", ("v", Int))
L = Record("L", ("v", Long))
B = Record("B", ("v", Bool))
BUF = Record("BUF", ("v", Buffer))
S = Record("S", ("v", UString))
VI = Record("VI", ("v", Vector(Int)))
VS = Record("VS", ("v", Vector(UString)))
VR = Record("VR", ("v", Vector(r.ACL)))
NESTED = Record("NESTED", ("a", r.Id), ("b", Vector(Vector(Long))), ("c", Bool))


def be32(n):
    return struct.pack(">i", n)


# --- primitives ------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, -1, 255, 2 ** 31 - 1, -(2 ** 31)])
def test_int_round_trip(n):
    data = I.build(dict(v=n))
    assert data == struct.pack(">i", n)
    assert I.parse(data).v == n


@pytest.mark.parametrize("n", [0, 1, -1, 2 ** 63 - 1, -(2 ** 63), 0x0100000771F80000])
def test_long_round_trip(n):
    data = L.build(dict(v=n))
    assert data == struct.pack(">q", n)
    assert L.parse(data).v == n


def test_missing_bool_byte_is_truncation_not_true():
    # DataInput.readBoolean() at EOF throws; ZooKeeper answers MARSHALLINGERROR.
    with pytest.raises(JuteError):
        B.parse(b"")
    with pytest.raises(JuteError):
        r.ExistsRequest.parse(S.build(dict(v="/")))
    v, pos = r.GetChildrenRequest.parse_prefix(S.build(dict(v="/")) + b"\x00", 0)
    assert v.watch is False and pos == 6
    with pytest.raises(JuteError):
        r.GetChildrenRequest.parse_prefix(S.build(dict(v="/")), 0)


def test_bool_round_trip_and_java_leniency():
    assert B.build(dict(v=True)) == b"\x01"
    assert B.build(dict(v=False)) == b"\x00"
    assert B.parse(b"\x00").v is False
    assert B.parse(b"\x01").v is True
    # Java's DataInput.readBoolean: any non-zero byte is true.
    assert B.parse(b"\x02").v is True
    assert B.parse(b"\xff").v is True


@pytest.mark.parametrize("value, wire", [
    (b"", "00000000"),
    (b"abc", "00000003616263"),
    (b"\x00\xff", "0000000200ff"),
    (None, "ffffffff"),
])
def test_buffer_round_trip(value, wire):
    assert BUF.build(dict(v=value)).hex() == wire
    assert BUF.parse(bytes.fromhex(wire)).v == value


@pytest.mark.parametrize("value, wire", [
    ("", "00000000"),
    ("/a", "000000022f61"),
    ("h\u00e9\u20ac\U0001f600", "0000000a68c3a9e282acf09f9880"),
    (None, "ffffffff"),
])
def test_ustring_round_trip(value, wire):
    assert S.build(dict(v=value)).hex() == wire
    assert S.parse(bytes.fromhex(wire)).v == value


@pytest.mark.parametrize("rec, value, wire", [
    (VI, [], "00000000"),
    (VI, None, "ffffffff"),
    (VI, [1, -1], "0000000200000001ffffffff"),
    (VS, ["a", "", None], "00000003000000016100000000ffffffff"),
    (VS, None, "ffffffff"),
    (VR, [dict(perms=31, id=dict(scheme="world", id="anyone"))],
     "000000010000001f00000005776f726c6400000006616e796f6e65"),
])
def test_vector_round_trip(rec, value, wire):
    assert rec.build(dict(v=value)).hex() == wire
    parsed = rec.parse(bytes.fromhex(wire)).v
    if value is None:
        assert parsed is None
    else:
        assert rec.build(dict(v=parsed)).hex() == wire
        assert len(parsed) == len(value)


def test_record_fields_and_make():
    assert r.Stat.fields == ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
                             "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")
    c = r.Id.make("world", "anyone")
    assert c.scheme == "world" and c.id == "anyone"
    assert r.Id.build(c) == r.Id.build(dict(scheme="world", id="anyone"))


def test_stat_is_68_bytes():
    stat = dict(zip(r.Stat.fields, range(1, 12)))
    data = r.Stat.build(stat)
    assert len(data) == 68
    assert dict(r.Stat.parse(data)) == stat


def test_nested_records_inline():
    value = dict(a=dict(scheme="s", id=None), b=[[1], [], None], c=True)
    data = NESTED.build(value)
    assert data.hex() == ("0000000173ffffffff" "00000003" "000000010000000000000001"
                          "00000000" "ffffffff" "01")
    back = NESTED.parse(data)
    assert back.a.scheme == "s" and back.a.id is None
    assert back.b == [[1], [], None] and back.c is True


def test_parse_prefix_offsets():
    data = I.build(dict(v=7)) + S.build(dict(v="xy")) + b"tail"
    v, pos = I.parse_prefix(data, 0)
    assert v.v == 7 and pos == 4
    v, pos = S.parse_prefix(data, pos)
    assert v.v == "xy" and pos == 10
    assert data[pos:] == b"tail"
    with pytest.raises(JuteError):
        I.parse_prefix(data, len(data) - 2)


# --- strictness ------------------------------------------------------------------------

@pytest.mark.parametrize("rec, data", [
    (I, b""),
    (I, b"\x00\x00\x00"),
    (L, b"\x00" * 7),
    (B, b""),
    (BUF, b"\x00\x00"),                      # truncated length
    (BUF, be32(5) + b"abcd"),                # truncated data
    (BUF, be32(0x7FFFFFFF) + b"x"),          # absurd length, few bytes
    (S, be32(3) + b"ab"),
    (VI, be32(2) + be32(1)),                 # one item short
    (VI, be32(0x7FFFFFFF)),                  # huge count, no items
    (VS, be32(1) + be32(4) + b"ab"),
    (r.Stat, b"\x00" * 67),
    (r.CreateRequest, bytes.fromhex("000000022f61")),  # path only
    (r.GetDataRequest, bytes.fromhex("000000022f61")),  # no watch byte
    (r.ConnectRequestRO, bytes(24) + be32(0)),          # no readOnly byte
], ids=lambda x: getattr(x, "name", None) or (x.hex() or "empty"))
def test_truncated_input_raises_jute_error(rec, data):
    with pytest.raises(JuteError):
        rec.parse(data)


@pytest.mark.parametrize("rec", [BUF, S])
@pytest.mark.parametrize("n", [-2, -100, -(2 ** 31)])
def test_negative_lengths_other_than_minus_one_rejected(rec, n):
    # ZOOKEEPER_FACTS.md §13 bad-lengths-and-counts: a string length -2 -> MARSHALLINGERROR.
    with pytest.raises(JuteError):
        rec.parse(be32(n) + b"\x00" * 16)


@pytest.mark.parametrize("rec", [VI, VS, VR])
@pytest.mark.parametrize("n", [-2, -100, -(2 ** 31)])
def test_negative_vector_counts_below_minus_one_are_empty(rec, n):
    # ZOOKEEPER_FACTS.md §13 bad-lengths-and-counts: ZooKeeper reads such a vector as
    # holding no items (an ACL count of -2 is INVALIDACL like an empty ACL,
    # setWatches with counts -2 is answered OK).
    assert rec.parse(be32(n)).v == []
    assert rec.struct.parse(be32(n)).v == []                  # construct's side too
    value, pos = rec.parse_prefix(be32(n) + b"\x00" * 16)
    assert (value.v, pos) == ([], 4)


@pytest.mark.parametrize("rec, good", [
    (I, be32(1)),
    (BUF, be32(0)),
    (BUF, be32(-1)),
    (S, be32(1) + b"a"),
    (VI, be32(-1)),
    (r.Id, be32(0) + be32(0)),
])
def test_trailing_bytes_rejected(rec, good):
    rec.parse(good)
    with pytest.raises(JuteError):
        rec.parse(good + b"\x00")


# ZOOKEEPER_FACTS.md §13 invalid-utf8-becomes-replacement-characters: what ZooKeeper's
# sync echoed for "/" + these bytes (after the "/"), as hex of the UTF-8 it sent back
# (the valid sequences of that table are left out: they decode as before).
JAVA_UTF8 = [
    ("ff", "efbfbd"), ("c328", "efbfbd28"), ("eda080", "efbfbd"), ("f09080", "efbfbd"),
    ("e282", "efbfbd"), ("c0af", "efbfbdefbfbd"), ("f888808080", "efbfbd" * 5),
    ("f4908080", "efbfbd" * 4), ("61808062", "61efbfbdefbfbd62"), ("e228a1", "efbfbd28efbfbd"),
    ("eda0", "efbfbd"), ("eda041", "efbfbd41"), ("edbfbf", "efbfbd"), ("e08080", "efbfbd" * 3), ("e09fbf", "efbfbd" * 3),
    ("f0808080", "efbfbd" * 4), ("eda080edb080", "efbfbd" * 2), ("eda0c3a9", "efbfbdc3a9"),
    ("ed", "efbfbd"), ("ed41", "efbfbd41"), ("eda0808080", "efbfbd" * 3), ("f48f", "efbfbd"),
    ("c1bf", "efbfbd" * 2), ("f08f8080", "efbfbd" * 4),
    ("eda08041", "efbfbd41"), ("ede0", "efbfbd" * 2), ("edc0", "efbfbd" * 2), ("ff41", "efbfbd41"),
    ("eda0c0", "efbfbd" * 2),
]


@pytest.mark.parametrize("raw, java", JAVA_UTF8, ids=[x for x, _ in JAVA_UTF8])
def test_invalid_utf8_decodes_as_java_does(raw, java):
    raw, want = bytes.fromhex(raw), bytes.fromhex(java).decode("utf-8")
    assert java_utf8(raw) == want
    assert S.parse(be32(len(raw)) + raw).v == want
    assert S.struct.parse(be32(len(raw)) + raw).v == want     # construct's side too
    assert VS.parse(be32(1) + be32(len(raw)) + raw).v == [want]
    assert r.GetDataRequest.parse(be32(len(raw)) + raw + b"\x00").path == want


def test_jute_error_is_a_value_error_with_record_name():
    with pytest.raises(JuteError) as info:
        r.Stat.parse(b"")
    assert isinstance(info.value, ValueError)
    assert "Stat" in str(info.value)


def test_parse_accepts_bytearray_and_memoryview():
    data = r.Id.build(dict(scheme="a", id="b"))
    for d in (bytearray(data), memoryview(data)):
        try:
            v = r.Id.parse(d)
        except JuteError:  # acceptable: refusing is fine, crashing is not
            continue
        assert v.scheme == "a" and v.id == "b"


# --- property tests: build(parse(x)) == x ----------------------------------------------

ALL_RECORDS = [v for k, v in sorted(vars(r).items()) if isinstance(v, Record)]


def test_every_record_module_attribute_is_covered():
    assert len(ALL_RECORDS) > 40


@pytest.mark.parametrize("rec", ALL_RECORDS, ids=lambda rec: rec.name)
@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_build_parse_round_trip_every_record(rec, data):
    value = data.draw(record_strategy(rec))
    wire = rec.build(value)
    parsed = rec.parse(wire)
    assert rec.build(parsed) == wire
    v2, pos = rec.parse_prefix(wire + b"junk", 0)
    assert pos == len(wire)
    assert rec.build(v2) == wire


@FAST
@given(record_strategy(r.CreateRequest))
def test_create_request_round_trip(value):
    wire = r.CreateRequest.build(value)
    back = r.CreateRequest.parse(wire)
    assert back.path == value["path"] and back.data == value["data"]
    assert back.flags == value["flags"]
    assert r.CreateRequest.build(back) == wire


@FAST
@given(record_strategy(r.SetWatches2))
def test_set_watches2_round_trip(value):
    wire = r.SetWatches2.build(value)
    back = r.SetWatches2.parse(wire)
    for k, v in value.items():
        assert back[k] == v
    assert r.SetWatches2.build(back) == wire


@FAST
@given(INT32, INT64, TEXT, st.binary(max_size=40))
def test_mixed_primitives(i, q, s, b):
    rec = Record("M", ("i", Int), ("q", Long), ("s", UString), ("b", Buffer))
    wire = rec.build(dict(i=i, q=q, s=s, b=b))
    assert len(wire) == 4 + 8 + 4 + len(s.encode()) + 4 + len(b)
    back = rec.parse(wire)
    assert (back.i, back.q, back.s, back.b) == (i, q, s, b)


# --- fuzzing: only JuteError may escape ------------------------------------------------

FUZZ_RECORDS = [r.ConnectRequest, r.ConnectRequestRO, r.RequestHeader, r.CreateRequest,
                r.CreateTTLRequest, r.SetDataRequest, r.SetACLRequest, r.SetWatches,
                r.SetWatches2, r.AuthPacket, r.GetDataResponse, r.GetACLResponse,
                r.GetChildren2Response, r.MultiTxn, r.CloseSessionTxn, r.WhoAmIResponse]

# Records without Bool fields re-encode byte for byte (a Bool accepts any non-zero byte).
def _has_bool(con):
    from construct import Renamed, Struct

    if isinstance(con, Renamed):
        return _has_bool(con.subcon)
    if is_bool(con):
        return True
    if isinstance(con, Struct):
        return any(_has_bool(sc) for sc in con.subcons)
    sub = getattr(con, "subcon", None)
    return sub is not None and _has_bool(sub)


def _has_con(con, pred):
    from construct import Renamed, Struct

    if isinstance(con, Renamed):
        return _has_con(con.subcon, pred)
    if pred(con):
        return True
    if isinstance(con, Struct):
        return any(_has_con(sc, pred) for sc in con.subcons)
    sub = getattr(con, "subcon", None)
    return sub is not None and _has_con(sub, pred)


def _has_vector(con):
    return _has_con(con, lambda c: isinstance(c, _VectorConstruct))


def _has_string(con):
    return _has_con(con, lambda c: c is UString)


def _check_parse(rec, data):
    try:
        value = rec.parse(data)
    except JuteError:
        return
    # Whatever parses must build again, and to the same bytes unless the input was
    # not canonical: a Bool byte other than 0/1, a vector count below -1 (read as
    # empty), invalid UTF-8 (read as U+FFFD).  A canonical encoding is a fixed point.
    again = rec.build(value)
    assert rec.build(rec.parse(again)) == again
    if again != data:
        assert _has_bool(rec.struct) or _has_vector(rec.struct) or _has_string(rec.struct)


@FAST
@given(st.sampled_from(FUZZ_RECORDS), st.binary(max_size=96))
def test_fuzz_random_bytes(rec, data):
    _check_parse(rec, data)


@st.composite
def mutated(draw, rec):
    """A valid encoding of ``rec``, then mutated a few times."""
    wire = bytearray(rec.build(draw(record_strategy(rec))))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "len"]))
        if kind == "truncate" and wire:
            del wire[draw(st.integers(0, len(wire) - 1)):]
        elif kind == "flip" and wire:
            i = draw(st.integers(0, len(wire) - 1))
            wire[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and wire:
            wire[draw(st.integers(0, len(wire) - 1))] = draw(st.integers(0, 255))
        elif kind == "insert":
            i = draw(st.integers(0, len(wire)))
            wire[i:i] = draw(st.binary(min_size=1, max_size=5))
        elif kind == "delete" and wire:
            i = draw(st.integers(0, len(wire) - 1))
            del wire[i:i + draw(st.integers(1, 4))]
        elif kind == "len" and len(wire) >= 4:
            i = draw(st.integers(0, len(wire) - 4))
            n = draw(st.sampled_from([-1, -2, 0, 1, 0x7FFFFFFF, -(2 ** 31), 0x10000]))
            wire[i:i + 4] = be32(n)
    return bytes(wire)


@FAST
@given(data=st.data())
def test_fuzz_mutated_encodings(data):
    rec = data.draw(st.sampled_from(FUZZ_RECORDS))
    _check_parse(rec, data.draw(mutated(rec)))
    # parse_prefix at any offset: value + offset, or JuteError
    wire = data.draw(mutated(rec))
    off = data.draw(st.integers(0, len(wire)))
    try:
        _, pos = rec.parse_prefix(wire, off)
    except JuteError:
        return
    assert off <= pos <= len(wire)


# --- the compiled code against construct's own reading of the same schema ----------------

def _plain(con, value, records=dict):
    """A parsed value as plain lists and, for each record, ``records``: dicts
    (to compare construct's Containers with ours) or tuples in field order
    (what Record.pack takes)."""
    from construct import Renamed, Struct

    if isinstance(con, Renamed):
        con = con.subcon
    if value is None:
        return None
    if isinstance(con, Struct):
        fields = [(sc.name, _plain(sc.subcon, value[sc.name], records)) for sc in con.subcons]
        return dict(fields) if records is dict else tuple(v for _, v in fields)
    if isinstance(con, _VectorConstruct):
        return [_plain(con.subcon, v, records) for v in value]
    return value


def _fields_of(con, value):
    return _plain(con, value, dict)


def _positional(con, value):
    return _plain(con, value, tuple)


@pytest.mark.parametrize("rec", ALL_RECORDS + [NESTED], ids=lambda rec: rec.name)
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_code_agrees_with_construct(rec, data):
    value = data.draw(record_strategy(rec))
    wire = rec.struct.build(value)            # construct's interpreter
    assert rec.build(value) == wire           # our compiled builder
    assert rec.pack(*_positional(rec.struct, value)) == wire
    ours = rec.parse(wire)
    assert _fields_of(rec.struct, ours) == _fields_of(rec.struct, rec.struct.parse(wire))
    if rec.fixed is not None:
        assert rec.fixed.size == len(wire)


@FAST
@given(st.sampled_from(FUZZ_RECORDS), st.binary(max_size=96))
def test_compiled_parser_refuses_what_construct_refuses(rec, data):
    """Any bytes: both readings succeed with the same value, or both fail."""
    from construct import ConstructError

    try:
        theirs = rec.struct.parse(data)
        # construct ignores trailing bytes; ours refuses them.
        n = len(rec.struct.build(theirs))
    except (ConstructError, UnicodeDecodeError):
        theirs = None
    try:
        ours = rec.parse(data)
    except JuteError:
        ours = None
    if theirs is None or n != len(data):
        assert ours is None
    else:
        assert _fields_of(rec.struct, ours) == _fields_of(rec.struct, theirs)
