"""Frames and messages: request decoding by opcode, response encoding.

Theory of operation
-------------------
Every message on a ZooKeeper connection is a frame: a 4-byte big-endian length
and that many bytes.  The client's first frame is a ConnectRequest (with or
without the trailing readOnly byte); every later one is a RequestHeader (xid,
opcode) followed by the record for that opcode.  The server's first frame is a
ConnectResponse; later ones are a ReplyHeader (xid, zxid, err) followed, on
success, by the response record for the request's opcode — or a WatcherEvent
when the xid is -1.

:class:`FrameDecoder` splits a byte stream into frames (sans-IO: feed bytes, get
frames).  ``decode_request`` and the ``encode_*`` functions convert between
frames and the server core's plain values.

Bad input, as Apache ZooKeeper treats it (tests/ZOOKEEPER_FACTS.md §11, §13):
a frame that cannot be a frame, a request shorter than its header, a bad
ConnectRequest, auth or SASL packet raises :class:`ProtocolError` (the peer's
fault; the connection closes); nothing else escapes.  Any other request whose
record does not parse decodes to a :class:`Malformed` value, which the core
answers with MARSHALLINGERROR on a connection that stays open.  Bytes after a
complete record are ignored, as ZooKeeper ignores them (a newer client may
append fields).
"""
from __future__ import annotations

import struct

from zkwire import records as r
from zkwire.consts import OpCode, Xid
from zkwire.jute import READ_ERRORS, JuteError, read_error

DEFAULT_MAX_BUFFER = 0xFFFFF

_LEN = struct.Struct(">i")
_HDR = struct.Struct(">ii")


class ProtocolError(Exception):
    """The peer sent something that is not the ZooKeeper protocol."""


class Malformed:
    """The request of a frame whose record did not parse (``reason`` says how).

    Not an error of the connection: the core answers it with MARSHALLINGERROR,
    spending a zxid for a write as ZooKeeper does."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self):
        return "Malformed(%r)" % self.reason


class FrameDecoder:
    """Splits bytes into frames; ``max_frame_bytes`` is jute.maxbuffer."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_BUFFER):
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()

    def peek_first_word(self) -> bytes | None:
        """The first 4 bytes, once they have arrived (used to spot 4lw commands)."""
        return bytes(self._buf[:4]) if len(self._buf) >= 4 else None

    def feed(self, data: bytes) -> list:
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            length = _LEN.unpack_from(buf, pos)[0]
            if length <= 0 or length > self.max_frame_bytes:
                raise ProtocolError(
                    "frame length %d is not positive or above jute.maxbuffer=%d"
                    % (length, self.max_frame_bytes))
            end = pos + 4 + length
            if end > n:
                break
            frames.append(bytes(buf[pos + 4:end]))
            pos = end
        if pos:
            del buf[:pos]
        return frames

    def buffered(self) -> int:
        return len(self._buf)


def frame(payload: bytes) -> bytes:
    return _LEN.pack(len(payload)) + payload


# --- requests ---------------------------------------------------------------------

REQUEST_RECORDS = {
    OpCode.create: r.CreateRequest,
    OpCode.create2: r.CreateRequest,
    OpCode.createContainer: r.CreateRequest,
    OpCode.createTTL: r.CreateTTLRequest,
    OpCode.delete: r.DeleteRequest,
    OpCode.exists: r.ExistsRequest,
    OpCode.getData: r.GetDataRequest,
    OpCode.setData: r.SetDataRequest,
    OpCode.getACL: r.GetACLRequest,
    OpCode.setACL: r.SetACLRequest,
    OpCode.getChildren: r.GetChildrenRequest,
    OpCode.getChildren2: r.GetChildren2Request,
    OpCode.sync: r.SyncRequest,
    OpCode.check: r.CheckVersionRequest,
    OpCode.reconfig: r.ReconfigRequest,
    OpCode.checkWatches: r.CheckWatchesRequest,
    OpCode.removeWatches: r.RemoveWatchesRequest,
    OpCode.auth: r.AuthPacket,
    OpCode.setWatches: r.SetWatches,
    OpCode.setWatches2: r.SetWatches2,
    OpCode.sasl: r.GetSASLRequest,
    OpCode.getEphemerals: r.GetEphemeralsRequest,
    OpCode.getAllChildrenNumber: r.GetAllChildrenNumberRequest,
    OpCode.addWatch: r.AddWatchRequest,
}
#: Opcodes whose request is the header alone.
EMPTY_REQUESTS = frozenset((OpCode.ping, OpCode.closeSession, OpCode.whoAmI))
#: Ops allowed inside multi (14) and multiRead (22).
MULTI_WRITE_OPS = frozenset((OpCode.create, OpCode.create2, OpCode.createTTL,
                             OpCode.createContainer, OpCode.delete, OpCode.setData,
                             OpCode.check))
MULTI_READ_OPS = frozenset((OpCode.getChildren, OpCode.getData))


def decode_connect(payload: bytes):
    """-> (ConnectRequest, has_read_only_byte).

    Like ZooKeeper, the readOnly byte is optional and anything after it is
    ignored (ZooKeeper reads the fields it knows and drops the rest)."""
    try:
        req, pos = r.ConnectRequest.parse_prefix(payload)
    except JuteError as e:
        raise ProtocolError(str(e)) from None
    has_ro = pos < len(payload)
    req.readOnly = has_ro and payload[pos] != 0
    return req, has_ro


#: Requests whose bad record closes the connection instead (ZooKeeper reads
#: them before any request processing, and drops the connection when it cannot).
CLOSE_ON_BAD_RECORD = frozenset((OpCode.auth, OpCode.sasl))


def decode_request(payload: bytes):
    """-> (xid, opcode, request).  ``request`` is a record value, a list of
    ``(opcode, record)`` for multi/multiRead, None for header-only ops, or a
    :class:`Malformed` when the record does not parse.  Unknown opcodes come
    back with ``request`` None; the core answers them.  Bytes after the record
    are ignored."""
    if len(payload) < 8:
        raise ProtocolError("request shorter than its header (%d bytes)" % len(payload))
    xid, op = _HDR.unpack_from(payload)
    rec = REQUEST_RECORDS.get(op)
    try:
        if rec is not None:
            return xid, op, rec.read(payload, 8)[0]
        if op == OpCode.multi or op == OpCode.multiRead:
            return xid, op, _decode_multi(payload, 8, op)
    except READ_ERRORS as e:
        what = rec.name if rec is not None else "multi"
        reason = "opcode %d: %s" % (op, read_error(what, e))
        if op in CLOSE_ON_BAD_RECORD:
            raise ProtocolError(reason) from None
        return xid, op, Malformed(reason)
    return xid, op, None


_read_multi_header = r.MultiHeader.read


def _decode_multi(payload, pos, op):
    # Both kinds of op are decoded in both requests; mixing them is the
    # server's business (ZooKeeper answers MARSHALLINGERROR), not a bad frame.
    # A header with ``done`` set ends the list whatever its type and err;
    # anything after it is ignored.
    allowed = MULTI_WRITE_OPS | MULTI_READ_OPS
    ops = []
    end = len(payload)
    while True:
        h, pos = _read_multi_header(payload, pos)
        if h.done:
            break
        sub_op = h.type
        if sub_op not in allowed:
            raise JuteError("invalid op type %d inside %s" % (sub_op, "multi" if op == OpCode.multi else "multiRead"))
        body, pos = REQUEST_RECORDS[sub_op].read(payload, pos)
        if sub_op == OpCode.create or sub_op == OpCode.create2:
            # As ZooKeeper 3.9's MultiOperationRecord: the create mode picks
            # the op for containers and TTL nodes.
            if body.flags == 4:
                sub_op = OpCode.createContainer
            elif body.flags in (5, 6):
                sub_op = OpCode.createTTL
        ops.append((sub_op, body))
        if pos > end:
            raise JuteError("truncated multi")
    return ops


def encode_request(xid: int, op: int, request=None) -> bytes:
    """Client side (used by tests and the benchmark): header + record, framed."""
    out = _HDR.pack(xid, op)
    if op in (OpCode.multi, OpCode.multiRead):
        parts = [out]
        for sub_op, sub in request:
            parts.append(r.MultiHeader.build(dict(type=sub_op, done=False, err=-1)))
            parts.append(REQUEST_RECORDS[sub_op].build(sub))
        parts.append(r.MultiHeader.build(dict(type=-1, done=True, err=-1)))
        return frame(b"".join(parts))
    if request is not None:
        out += REQUEST_RECORDS[op].build(request)
    return frame(out)


# --- responses --------------------------------------------------------------------

#: The record that follows a successful ReplyHeader, by the request's opcode
#: (opcodes not listed answer with the header alone; multi/multiRead have
#: their own layout).  Used to decode replies: tests, the cross-checker.
RESPONSE_RECORDS = {
    OpCode.create: r.CreateResponse,
    OpCode.create2: r.Create2Response,
    OpCode.createContainer: r.Create2Response,
    OpCode.createTTL: r.Create2Response,
    OpCode.exists: r.ExistsResponse,
    OpCode.getData: r.GetDataResponse,
    OpCode.setData: r.SetDataResponse,
    OpCode.getACL: r.GetACLResponse,
    OpCode.setACL: r.SetACLResponse,
    OpCode.getChildren: r.GetChildrenResponse,
    OpCode.getChildren2: r.GetChildren2Response,
    OpCode.sync: r.SyncResponse,
    OpCode.reconfig: r.GetDataResponse,
    OpCode.getEphemerals: r.GetEphemeralsResponse,
    OpCode.getAllChildrenNumber: r.GetAllChildrenNumberResponse,
    OpCode.whoAmI: r.WhoAmIResponse,
    OpCode.sasl: r.SetSASLResponse,
    OpCode.addWatch: r.ErrorResponse,
}
#: The record after each MultiHeader of a multi/multiRead response, by its type.
MULTI_RESULT_RECORDS = {
    OpCode.create: r.CreateResponse,
    OpCode.create2: r.Create2Response,
    OpCode.createContainer: r.Create2Response,
    OpCode.createTTL: r.Create2Response,
    OpCode.setData: r.SetDataResponse,
    OpCode.getData: r.GetDataResponse,
    OpCode.getChildren: r.GetChildrenResponse,
    OpCode.error: r.ErrorResponse,
}

_STAT_FIELDS = r.Stat.fields

# Replies are built positionally (Record.pack) from the core's plain values:
# Stat tuples in wire order, ACLs as (perms, scheme, id).  No dicts on this path.
# A reply frame's first 20 bytes: the frame length, then the ReplyHeader.
_REPLY_FRAME = struct.Struct(">i" + r.ReplyHeader.fixed.format[1:])
_REPLY_SIZE = r.ReplyHeader.fixed.size


def stat_value(stat: tuple):
    return dict(zip(_STAT_FIELDS, stat))


def encode_connect(timeout_ms, session_id, passwd, read_only, with_read_only_byte) -> bytes:
    if with_read_only_byte:
        return frame(r.ConnectResponseRO.pack(0, timeout_ms, session_id, passwd, read_only))
    return frame(r.ConnectResponse.pack(0, timeout_ms, session_id, passwd))


def encode_event(zxid, event_type, state, path) -> bytes:
    body = r.WatcherEvent.pack(event_type, state, path)
    return _REPLY_FRAME.pack(_REPLY_SIZE + len(body), Xid.NOTIFICATION, zxid, 0) + body


def encode_reply(xid, zxid, err, op, body) -> bytes:
    if err or body is None:
        if body is not None and op == OpCode.sasl:
            # A failed SASL exchange still carries its (null) token.
            payload = r.SetSASLResponse.pack(body[0])
            return _REPLY_FRAME.pack(_REPLY_SIZE + len(payload), xid, zxid, err) + payload
        if body is not None and (op == OpCode.multi or op == OpCode.multiRead):
            # A multiRead refused with MARSHALLINGERROR still carries its
            # (empty) result list, as ZooKeeper sends it.
            payload = (_encode_multi_result if op == OpCode.multi else _encode_multi_read)(body)
            return _REPLY_FRAME.pack(_REPLY_SIZE + len(payload), xid, zxid, err) + payload
        return _REPLY_FRAME.pack(_REPLY_SIZE, xid, zxid, err)
    enc = _ENCODERS.get(op)
    if enc is None:
        return _REPLY_FRAME.pack(_REPLY_SIZE, xid, zxid, err)
    payload = enc(body)
    return _REPLY_FRAME.pack(_REPLY_SIZE + len(payload), xid, zxid, err) + payload


_pack_create = r.CreateResponse.pack
_pack_create2 = r.Create2Response.pack
_pack_stat = r.SetDataResponse.pack
_pack_get_data = r.GetDataResponse.pack
_pack_multi_header = r.MultiHeader.pack
_MULTI_DONE = _pack_multi_header(-1, True, -1)


def _txn_create(rc):
    return _pack_create(rc.path)


def _txn_create2(rc):
    return _pack_create2(rc.path, rc.stat)


def _txn_stat(rc):
    return _pack_stat(rc.stat)


def _error_result(err):
    return _pack_multi_header(-1, False, err) + r.ErrorResponse.pack(err)


def _encode_multi_result(rc) -> bytes:
    parts = []
    for sub in rc.multi:
        t = sub.type
        if t == OpCode.error:
            parts.append(_error_result(sub.err))
            continue
        if t in (OpCode.createTTL, OpCode.createContainer):
            t = OpCode.create2
        parts.append(_pack_multi_header(t, False, 0))
        if t == OpCode.create:
            parts.append(_txn_create(sub))
        elif t == OpCode.create2:
            parts.append(_txn_create2(sub))
        elif t == OpCode.setData:
            parts.append(_txn_stat(sub))
    parts.append(_MULTI_DONE)
    return b"".join(parts)


def _encode_multi_read(results) -> bytes:
    parts = []
    for op, err, body in results:
        if op == OpCode.error:
            parts.append(_error_result(err))
            continue
        parts.append(_pack_multi_header(op, False, 0))
        if op == OpCode.getData:
            parts.append(_pack_get_data(body[0], body[1]))
        else:
            parts.append(r.GetChildrenResponse.pack(body))
    parts.append(_MULTI_DONE)
    return b"".join(parts)


def _acl_items(acl):
    return [(p, (s, i)) for p, s, i in acl]


_ENCODERS = {
    OpCode.getData: lambda b: _pack_get_data(b[0], b[1]),
    OpCode.reconfig: lambda b: _pack_get_data(b[0], b[1]),
    OpCode.exists: r.ExistsResponse.pack,
    OpCode.getChildren: r.GetChildrenResponse.pack,
    OpCode.getChildren2: lambda b: r.GetChildren2Response.pack(b[0], b[1]),
    OpCode.getACL: lambda b: r.GetACLResponse.pack(_acl_items(b[0]), b[1]),
    OpCode.sync: r.SyncResponse.pack,
    OpCode.create: _txn_create,
    OpCode.create2: _txn_create2,
    OpCode.createTTL: _txn_create2,
    OpCode.createContainer: _txn_create2,
    OpCode.setData: _txn_stat,
    OpCode.setACL: lambda rc: r.SetACLResponse.pack(rc.stat),
    OpCode.multi: _encode_multi_result,
    OpCode.multiRead: _encode_multi_read,
    OpCode.getAllChildrenNumber: r.GetAllChildrenNumberResponse.pack,
    OpCode.getEphemerals: r.GetEphemeralsResponse.pack,
    OpCode.whoAmI: r.WhoAmIResponse.pack,
    # ZooKeeper answers addWatch with an ErrorResponse(0) body.
    OpCode.addWatch: r.ErrorResponse.pack,
    # body: (token,), the SASL response token (None without SASL configured)
    OpCode.sasl: lambda b: r.SetSASLResponse.pack(b[0]),
}
