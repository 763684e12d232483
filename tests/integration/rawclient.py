"""A small raw ZooKeeper wire-protocol client for protocol-level tests.

This is deliberately an independent implementation of the jute framing and records
(it does not import zkwire): the tests use it to pin zkwire's bytes on the wire to
what Apache ZooKeeper sends.  It is synchronous and blocking, one socket per
:class:`RawConnection`, and reports the three things a raw test cares about:
a frame arrived (:meth:`RawConnection.read_frame`), nothing arrived in time
(:class:`FrameTimeout`) or the server closed the connection (:class:`ConnectionClosed`).

Wire format reminders: every frame is a big-endian int32 length followed by the
payload.  Requests are ``RequestHeader(xid int, type int) + record``; replies and
notifications are ``ReplyHeader(xid int, zxid long, err int) + record``.  The
first frame on a connection is a ConnectRequest, answered by a ConnectResponse
(no header at all).
"""
from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

# ----------------------------------------------------------------- constants

# Opcodes (org.apache.zookeeper.ZooDefs.OpCode).
NOTIFICATION = 0
CREATE = 1
DELETE = 2
EXISTS = 3
GET_DATA = 4
SET_DATA = 5
GET_ACL = 6
SET_ACL = 7
GET_CHILDREN = 8
SYNC = 9
PING = 11
GET_CHILDREN2 = 12
CHECK = 13
MULTI = 14
CREATE2 = 15
MULTI_READ = 22
AUTH = 100
SET_WATCHES = 101
SET_WATCHES2 = 105
CREATE_SESSION = -10
CLOSE_SESSION = -11

# Special xids.
NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

# Error codes (KeeperException.Code).
OK = 0
RUNTIME_INCONSISTENCY = -2
MARSHALLING_ERROR = -5
UNIMPLEMENTED = -6
BAD_ARGUMENTS = -8
NO_NODE = -101
NO_AUTH = -102
BAD_VERSION = -103
NO_CHILDREN_FOR_EPHEMERALS = -108
NODE_EXISTS = -110
INVALID_ACL = -114
AUTH_FAILED = -115

# Create flags (CreateMode).
PERSISTENT = 0
EPHEMERAL = 1
SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# Watcher event types; state 3 = SyncConnected.
NODE_CREATED = 1
NODE_DELETED = 2
NODE_DATA_CHANGED = 3
NODE_CHILDREN_CHANGED = 4
SYNC_CONNECTED = 3

# Permissions.
PERM_READ = 1
PERM_ALL = 31

Acl = Tuple[int, str, str]
OPEN_ACL: List[Acl] = [(PERM_ALL, "world", "anyone")]

MAX_FRAME = 0xFFFFF  # jute.maxbuffer default

# ----------------------------------------------------------------- encoding


def int32(v: int) -> bytes:
    return struct.pack(">i", v)


def int64(v: int) -> bytes:
    return struct.pack(">q", v)


def boolean(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def buffer(v) -> bytes:
    """A jute buffer or ustring: int32 length + bytes; ``None`` is length -1."""
    if v is None:
        return int32(-1)
    if isinstance(v, str):
        v = v.encode("utf-8")
    return int32(len(v)) + v


string = buffer


def vector(items, encode) -> bytes:
    if items is None:
        return int32(-1)
    items = list(items)
    return int32(len(items)) + b"".join(encode(x) for x in items)


def acl_entry(a: Acl) -> bytes:
    perms, scheme, ident = a
    return int32(perms) + string(scheme) + string(ident)


def acl_list(acls: Optional[Iterable[Acl]]) -> bytes:
    return vector(acls, acl_entry)


def string_list(items: Optional[Iterable[str]]) -> bytes:
    return vector(items, string)


# -- request bodies (the record after the RequestHeader)


def create_req(path, data=b"", acls=OPEN_ACL, flags: int = PERSISTENT) -> bytes:
    return string(path) + buffer(data) + acl_list(acls) + int32(flags)


def path_req(path, watch: bool = False) -> bytes:
    """getData / exists / getChildren / getChildren2 request."""
    return string(path) + boolean(watch)


def path_only_req(path) -> bytes:
    """getACL / sync request."""
    return string(path)


def delete_req(path, version: int = -1) -> bytes:
    return string(path) + int32(version)


def set_data_req(path, data, version: int = -1) -> bytes:
    return string(path) + buffer(data) + int32(version)


def set_acl_req(path, acls, version: int = -1) -> bytes:
    return string(path) + acl_list(acls) + int32(version)


def check_req(path, version: int) -> bytes:
    return string(path) + int32(version)


def auth_req(scheme: str, auth) -> bytes:
    return int32(0) + string(scheme) + buffer(auth)


def set_watches_req(relative_zxid: int, data=(), exist=(), child=()) -> bytes:
    return int64(relative_zxid) + string_list(data) + string_list(exist) + string_list(child)


def multi_header(op: int, done: bool, err: int) -> bytes:
    return int32(op) + boolean(done) + int32(err)


MULTI_END = multi_header(-1, True, -1)


def multi_req(ops: Sequence[Tuple[int, bytes]]) -> bytes:
    """Body of a multi / multiRead: ``ops`` is a list of (opcode, record body)."""
    return b"".join(multi_header(op, False, -1) + body for op, body in ops) + MULTI_END


# ----------------------------------------------------------------- decoding


@dataclass
class Stat:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


STAT_SIZE = 68


class Reader:
    """Sequential decoder over one payload."""

    def __init__(self, data: bytes, offset: int = 0):
        self.data = data
        self.offset = offset

    def _take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise ValueError(f"record truncated: need {n} bytes at {self.offset} of {len(self.data)}")
        v = self.data[self.offset:self.offset + n]
        self.offset += n
        return v

    def int32(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def int64(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def boolean(self) -> bool:
        b = self._take(1)[0]
        if b not in (0, 1):
            raise ValueError(f"bad boolean byte {b}")
        return bool(b)

    def buffer(self) -> Optional[bytes]:
        n = self.int32()
        if n < 0:
            return None
        return self._take(n)

    def string(self) -> Optional[str]:
        v = self.buffer()
        return None if v is None else v.decode("utf-8")

    def stat(self) -> Stat:
        return Stat(self.int64(), self.int64(), self.int64(), self.int64(), self.int32(),
                    self.int32(), self.int32(), self.int64(), self.int32(), self.int32(),
                    self.int64())

    def acl_list(self) -> Optional[List[Acl]]:
        n = self.int32()
        if n < 0:
            return None
        return [(self.int32(), self.string(), self.string()) for _ in range(n)]

    def string_list(self) -> Optional[List[str]]:
        n = self.int32()
        if n < 0:
            return None
        return [self.string() for _ in range(n)]

    def rest(self) -> bytes:
        v = self.data[self.offset:]
        self.offset = len(self.data)
        return v

    def at_end(self) -> bool:
        return self.offset == len(self.data)


@dataclass
class ConnectResponse:
    protocol_version: int
    timeout: int
    session_id: int
    passwd: Optional[bytes]
    read_only: Optional[bool]  # None when the response has no readOnly byte
    raw: bytes


@dataclass
class Event:
    type: int
    state: int
    path: str


@dataclass
class Frame:
    """A server frame after the handshake: a reply or a watch notification."""

    xid: int
    zxid: int
    err: int
    body: bytes
    raw: bytes

    @property
    def is_notification(self) -> bool:
        return self.xid == NOTIFICATION_XID

    def reader(self) -> Reader:
        return Reader(self.body)

    def event(self) -> Event:
        r = self.reader()
        ev = Event(r.int32(), r.int32(), r.string())
        assert r.at_end(), f"trailing bytes in notification: {self.raw.hex()}"
        return ev

    def summary(self) -> tuple:
        """(xid, zxid, err) - handy in assertions."""
        return (self.xid, self.zxid, self.err)


def parse_frame(payload: bytes) -> Frame:
    r = Reader(payload)
    xid, zxid, err = r.int32(), r.int64(), r.int32()
    return Frame(xid, zxid, err, r.rest(), payload)


def parse_connect_response(payload: bytes) -> ConnectResponse:
    r = Reader(payload)
    proto, timeout, sid, passwd = r.int32(), r.int32(), r.int64(), r.buffer()
    read_only = None
    if not r.at_end():
        read_only = r.boolean()
    assert r.at_end(), f"trailing bytes in ConnectResponse: {payload.hex()}"
    return ConnectResponse(proto, timeout, sid, passwd, read_only, payload)


@dataclass
class MultiResult:
    type: int
    done: bool
    err: int
    path: Optional[str] = None
    stat: Optional[Stat] = None
    data: Optional[bytes] = None
    children: Optional[List[str]] = None


def parse_multi_response(body: bytes) -> List[MultiResult]:
    """Decode a multi / multiRead response body (the end marker is checked, not returned)."""
    r = Reader(body)
    out: List[MultiResult] = []
    while True:
        typ, done, err = r.int32(), r.boolean(), r.int32()
        if done:
            assert (typ, err) == (-1, -1), (typ, err)
            break
        res = MultiResult(typ, done, err)
        if typ == CREATE:
            res.path = r.string()
        elif typ == CREATE2:
            res.path = r.string()
            res.stat = r.stat()
        elif typ == SET_DATA:
            res.stat = r.stat()
        elif typ == GET_DATA:
            res.data = r.buffer()
            res.stat = r.stat()
        elif typ == GET_CHILDREN:
            res.children = r.string_list()
        elif typ == -1:
            res.err = r.int32()
            assert res.err == err, (res.err, err)
        elif typ in (DELETE, CHECK):
            pass
        else:
            raise ValueError(f"unexpected multi result type {typ}")
        out.append(res)
    assert r.at_end(), f"trailing bytes after multi end marker: {body.hex()}"
    return out


# ----------------------------------------------------------------- connection


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection."""


class FrameTimeout(Exception):
    """No complete frame arrived within the timeout."""


class RawConnection:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.default_timeout = timeout
        self._buf = b""
        self._eof = False
        self._next_xid = 0
        self.session: Optional[ConnectResponse] = None

    # -- bytes

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:  # reset / broken pipe: the server is gone
            raise ConnectionClosed(str(e)) from e

    def send_frame(self, payload: bytes) -> None:
        self.send_raw(int32(len(payload)) + payload)

    def _fill(self, deadline: float) -> None:
        """Read more bytes into the buffer or raise FrameTimeout / ConnectionClosed."""
        if self._eof:
            raise ConnectionClosed("EOF")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FrameTimeout()
        ready, _, _ = select.select([self.sock], [], [], remaining)
        if not ready:
            raise FrameTimeout()
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self._eof = True
            if self._buf:
                raise ConnectionClosed(f"EOF with partial frame {self._buf[:64].hex()}")
            raise ConnectionClosed("EOF")
        self._buf += data

    def read_payload(self, timeout: Optional[float] = None) -> bytes:
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        while True:
            if len(self._buf) >= 4:
                n = struct.unpack(">i", self._buf[:4])[0]
                if n < 0:
                    raise ValueError(f"server sent a negative frame length {n}")
                if len(self._buf) >= 4 + n:
                    payload = self._buf[4:4 + n]
                    self._buf = self._buf[4 + n:]
                    return payload
            self._fill(deadline)

    def expect_closed(self, timeout: Optional[float] = None) -> None:
        """Assert that the server closes the connection without sending anything."""
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        while True:
            assert not self._buf, f"expected close, got bytes {self._buf[:80].hex()}"
            try:
                self._fill(deadline)
            except ConnectionClosed:
                return
            except FrameTimeout:
                raise AssertionError("connection still open") from None

    def is_open_after(self, seconds: float) -> bool:
        """True if nothing happened (no bytes, no close) for ``seconds``."""
        try:
            self._fill(time.monotonic() + seconds)
        except FrameTimeout:
            return True
        except ConnectionClosed:
            return False
        raise AssertionError(f"unexpected bytes {self._buf[:80].hex()}")

    # -- handshake

    def connect_request(self, timeout_ms: int = 10000, session_id: int = 0,
                        passwd: Optional[bytes] = b"\x00" * 16, last_zxid: int = 0,
                        protocol_version: int = 0, read_only: Optional[bool] = None) -> bytes:
        p = (int32(protocol_version) + int64(last_zxid) + int32(timeout_ms)
             + int64(session_id) + buffer(passwd))
        if read_only is not None:
            p += boolean(read_only)
        return p

    def handshake(self, timeout_ms: int = 10000, session_id: int = 0,
                  passwd: Optional[bytes] = b"\x00" * 16, last_zxid: int = 0,
                  protocol_version: int = 0, read_only: Optional[bool] = None,
                  timeout: Optional[float] = None) -> ConnectResponse:
        self.send_frame(self.connect_request(timeout_ms, session_id, passwd, last_zxid,
                                             protocol_version, read_only))
        resp = parse_connect_response(self.read_payload(timeout))
        if resp.session_id != 0:
            self.session = resp
        return resp

    # -- requests

    def send(self, opcode: int, body: bytes = b"", xid: Optional[int] = None) -> int:
        if xid is None:
            self._next_xid += 1
            xid = self._next_xid
        self.send_frame(int32(xid) + int32(opcode) + body)
        return xid

    def read_frame(self, timeout: Optional[float] = None) -> Frame:
        return parse_frame(self.read_payload(timeout))

    def call(self, opcode: int, body: bytes = b"", xid: Optional[int] = None,
             timeout: Optional[float] = None) -> Frame:
        """Send a request and return its reply; a notification arriving first is an error."""
        sent = self.send(opcode, body, xid)
        frame = self.read_frame(timeout)
        assert frame.xid == sent, f"expected reply to xid {sent}, got {frame.summary()} {frame.raw.hex()}"
        return frame

    def frames_until_reply(self, xid: int, timeout: Optional[float] = None) -> List[Frame]:
        """Read frames up to and including the reply with ``xid``."""
        out = []
        while True:
            f = self.read_frame(timeout)
            out.append(f)
            if f.xid == xid:
                return out

    def barrier(self) -> Tuple[List[Frame], Frame]:
        """Send a sync; return the notification frames that arrive before its reply,
        and the reply.  Everything the server sent this connection before it
        processed the sync comes first."""
        xid = self.send(SYNC, path_only_req("/"))
        frames = self.frames_until_reply(xid)
        for f in frames[:-1]:
            assert f.is_notification, f"unexpected frame {f.summary()}"
        return frames[:-1], frames[-1]

    def last_zxid(self) -> int:
        """The server's last processed zxid, as carried by a sync reply."""
        return self.call(SYNC, path_only_req("/")).zxid

    def close_session(self) -> Frame:
        return self.call(CLOSE_SESSION)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def zero_connect_response(read_only_byte: bool = False) -> bytes:
    """The reply to a reconnect with a bad password / unknown or expired session."""
    return (int32(0) + int32(0) + int64(0) + buffer(b"\x00" * 16)
            + (b"\x00" if read_only_byte else b""))


def four_letter(port: int, word, host: str = "127.0.0.1", timeout: float = 5.0) -> str:
    """Send a four-letter word and return everything the server writes before closing."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode() if isinstance(word, str) else word)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", errors="replace")
