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
frames and the server core's plain values.  Malformed input raises
:class:`ProtocolError` (the peer's fault); nothing else escapes.
"""
from __future__ import annotations

import struct

from zkwire import records as r
from zkwire.consts import OpCode, Xid
from zkwire.jute import JuteError

DEFAULT_MAX_BUFFER = 0xFFFFF

_LEN = struct.Struct(">i")
_HDR = struct.Struct(">ii")


class ProtocolError(Exception):
    """The peer sent something that is not the ZooKeeper protocol."""


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


def decode_request(payload: bytes):
    """-> (xid, opcode, request).  ``request`` is a record value, a list of
    ``(opcode, record)`` for multi/multiRead, or None for header-only ops.
    Unknown opcodes come back with ``request`` None; the core answers them."""
    if len(payload) < 8:
        raise ProtocolError("request shorter than its header (%d bytes)" % len(payload))
    xid, op = _HDR.unpack_from(payload)
    rec = REQUEST_RECORDS.get(op)
    try:
        if rec is not None:
            return xid, op, rec.parse(payload[8:])
        if op == OpCode.multi or op == OpCode.multiRead:
            return xid, op, _decode_multi(payload, 8, op)
    except JuteError as e:
        raise ProtocolError("opcode %d: %s" % (op, e)) from None
    return xid, op, None


def _decode_multi(payload, pos, op):
    # Both kinds of op are decoded in both requests; mixing them is the
    # server's business (ZooKeeper answers MARSHALLINGERROR), not a bad frame.
    allowed = MULTI_WRITE_OPS | MULTI_READ_OPS
    ops = []
    end = len(payload)
    while True:
        h, pos = r.MultiHeader.parse_prefix(payload, pos)
        if h.done:
            break
        if h.type not in allowed:
            raise JuteError("invalid op type %d inside %s" % (h.type, "multi" if op == OpCode.multi else "multiRead"))
        body, pos = REQUEST_RECORDS[h.type].parse_prefix(payload, pos)
        sub_op = h.type
        if sub_op in (OpCode.create, OpCode.create2):
            # As ZooKeeper 3.9's MultiOperationRecord: the create mode picks
            # the op for containers and TTL nodes.
            if body.flags == 4:
                sub_op = OpCode.createContainer
            elif body.flags in (5, 6):
                sub_op = OpCode.createTTL
        ops.append((sub_op, body))
        if pos > end:
            raise JuteError("truncated multi")
    if pos != end:
        raise JuteError("%d trailing bytes after multi" % (end - pos))
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


def stat_value(stat: tuple):
    return dict(zip(_STAT_FIELDS, stat))


def acl_value(acl):
    return [dict(perms=p, id=dict(scheme=s, id=i)) for p, s, i in acl]


def encode_connect(timeout_ms, session_id, passwd, read_only, with_read_only_byte) -> bytes:
    v = dict(protocolVersion=0, timeOut=timeout_ms, sessionId=session_id, passwd=passwd,
             readOnly=read_only)
    rec = r.ConnectResponseRO if with_read_only_byte else r.ConnectResponse
    return frame(rec.build(v))


def encode_event(zxid, event_type, state, path) -> bytes:
    return frame(r.ReplyHeader.build(dict(xid=Xid.NOTIFICATION, zxid=zxid, err=0))
                 + r.WatcherEvent.build(dict(type=event_type, state=state, path=path)))


def encode_reply(xid, zxid, err, op, body) -> bytes:
    head = r.ReplyHeader.build(dict(xid=xid, zxid=zxid, err=err))
    if err or body is None:
        if op == OpCode.multi and body is not None:
            return frame(head + _encode_multi_result(body))
        return frame(head)
    enc = _ENCODERS.get(op)
    if enc is None:
        return frame(head)
    return frame(head + enc(body))


def _txn_create(rc):
    return r.CreateResponse.build(dict(path=rc.path))


def _txn_create2(rc):
    return r.Create2Response.build(dict(path=rc.path, stat=stat_value(rc.stat)))


def _txn_stat(rc):
    return r.SetDataResponse.build(dict(stat=stat_value(rc.stat)))


def _encode_multi_result(rc) -> bytes:
    parts = []
    for sub in rc.multi:
        t = sub.type
        if t == OpCode.error:
            parts.append(r.MultiHeader.build(dict(type=-1, done=False, err=sub.err)))
            parts.append(r.ErrorResponse.build(dict(err=sub.err)))
            continue
        if t in (OpCode.createTTL, OpCode.createContainer):
            t = OpCode.create2
        parts.append(r.MultiHeader.build(dict(type=t, done=False, err=0)))
        if t == OpCode.create:
            parts.append(_txn_create(sub))
        elif t == OpCode.create2:
            parts.append(_txn_create2(sub))
        elif t == OpCode.setData:
            parts.append(_txn_stat(sub))
    parts.append(r.MultiHeader.build(dict(type=-1, done=True, err=-1)))
    return b"".join(parts)


def _encode_multi_read(results) -> bytes:
    parts = []
    for op, err, body in results:
        if op == OpCode.error:
            parts.append(r.MultiHeader.build(dict(type=-1, done=False, err=err)))
            parts.append(r.ErrorResponse.build(dict(err=err)))
            continue
        parts.append(r.MultiHeader.build(dict(type=op, done=False, err=0)))
        if op == OpCode.getData:
            parts.append(r.GetDataResponse.build(dict(data=body[0], stat=stat_value(body[1]))))
        else:
            parts.append(r.GetChildrenResponse.build(dict(children=body)))
    parts.append(r.MultiHeader.build(dict(type=-1, done=True, err=-1)))
    return b"".join(parts)


_ENCODERS = {
    OpCode.getData: lambda b: r.GetDataResponse.build(dict(data=b[0], stat=stat_value(b[1]))),
    OpCode.exists: lambda b: r.ExistsResponse.build(dict(stat=stat_value(b))),
    OpCode.getChildren: lambda b: r.GetChildrenResponse.build(dict(children=b)),
    OpCode.getChildren2: lambda b: r.GetChildren2Response.build(
        dict(children=b[0], stat=stat_value(b[1]))),
    OpCode.getACL: lambda b: r.GetACLResponse.build(dict(acl=acl_value(b[0]), stat=stat_value(b[1]))),
    OpCode.sync: lambda b: r.SyncResponse.build(dict(path=b)),
    OpCode.create: _txn_create,
    OpCode.create2: _txn_create2,
    OpCode.createTTL: _txn_create2,
    OpCode.createContainer: _txn_create2,
    OpCode.setData: _txn_stat,
    OpCode.setACL: lambda rc: r.SetACLResponse.build(dict(stat=stat_value(rc.stat))),
    OpCode.multi: _encode_multi_result,
    OpCode.multiRead: _encode_multi_read,
    OpCode.getAllChildrenNumber: lambda n: r.GetAllChildrenNumberResponse.build(dict(totalNumber=n)),
    OpCode.getEphemerals: lambda paths: r.GetEphemeralsResponse.build(dict(ephemerals=paths)),
    OpCode.whoAmI: lambda ids: r.WhoAmIResponse.build(
        dict(clientInfo=[dict(authScheme=s, user=i) for s, i in ids])),
}
