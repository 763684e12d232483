"""ZooKeeper's quorum wire vocabulary, sans-IO: what servers of one ensemble
say to each other on the election port and on the quorum port.

Theory of operation
-------------------
Every server listens on two ports besides the client port (``server.N=host:
quorumPort:electionPort``).  Both carry plain TCP streams; this module turns
bytes into values and values into bytes, and nothing else: no sockets, no
clock, no state beyond the bytes of an unfinished message.  What Apache
ZooKeeper 3.8.0 actually sends was captured, see tests/golden/quorum/README.md.

**Election port** (QuorumCnxManager, FastLeaderElection).  The dialer opens
with a handshake: an int64 protocol version (-65536: one ``host:port``;
-65535: ``host:port|host:port...``, sent only with multiAddress enabled), the
int64 sid, an int32 length (1..2048) and the dialer's election address as
text.  The handshake of 3.4 and older is a bare int64 sid (>= 0).  The
listener sends no handshake back.  Only one connection per pair survives:
the one dialed by the larger sid (a listener with the larger sid closes the
dialed connection and dials back).  After the handshake both directions
carry frames, an int32 length (1..512 KiB) and that many bytes;
:class:`ElectionStreamDecoder` splits them and refuses a bad length as soon
as the 4 length bytes arrive.  Fast Leader Election's frames are
:class:`Notification` s: int32 state, int64 proposed leader, int64 zxid,
int64 election epoch, int64 peer epoch, int32 version, int32 config length
and the config text (44 bytes and up, sent by 3.5+).  A receiver also takes
the 28-byte form (up to the election epoch; peer epoch = zxid's epoch) and
the 40-byte form of 3.4 (its last 4 bytes, the version, are ignored).

**Quorum port** (Learner, LearnerHandler).  A learner dials the leader, and
both sides write jute ``QuorumPacket`` records (int type, long zxid, buffer
data, vector<Id> authinfo) back to back, with no framing of their own:
:class:`QuorumStreamDecoder` finds where each one ends.  The one exception to
"packets only": right after a SNAP packet the leader writes the snapshot
itself on the stream (the session table, the ACL cache and the nodes up to
the "/" that closes them, as in a snapshot file but with no file header, no
checksum seal and no digest section), then the string "BenWasHere".  The
decoder of the leader's direction hands that body out as
:class:`SnapshotChunk` s as it arrives, so a big snapshot is never held as
one piece.  The ``data`` of each packet type has its own layout; the helpers
below encode and decode each: LearnerInfo (FOLLOWERINFO, OBSERVERINFO), the
protocol version (LEADERINFO), the current epoch (ACKEPOCH), the forwarded
client request (REQUEST), session touches (PING), REVALIDATE in both
directions, and the txn-log entry (PROPOSAL, INFORM: TxnHeader, txn record,
optional TxnDigest; the codec of :mod:`zkwire.server.storage.txnlog`).

Bad bytes from a peer raise :class:`PacketError` (a
:class:`~zkwire.jute.JuteError`) and nothing else; building a value that
cannot be sent (a frame above the limit, a field out of range) is our own
bug and raises ValueError or TypeError.
"""
from __future__ import annotations

import struct
from typing import List, Optional, Sequence, Tuple

from zkwire import records
from zkwire.jute import JuteError
from zkwire.protocol import FrameDecoder, ProtocolError, frame

from ..storage import txnlog

# --- errors ----------------------------------------------------------------------------


class PacketError(JuteError):
    """Bytes from a peer that are not ZooKeeper's quorum protocol (the peer's fault)."""


_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_I64I32 = struct.Struct(">qi")
_REQUEST_HEAD = struct.Struct(">qii")
_PACKET_HEAD = struct.Struct(">iqi")   # type, zxid, data length
_PACKET_HEAD_NO_LEN = struct.Struct(">iq")
_NOTIFICATION_28 = struct.Struct(">iqqq")
_NOTIFICATION_40 = struct.Struct(">iqqqqi")
_NOTIFICATION_44 = struct.Struct(">iqqqqii")


# ========================================================================================
# Election port
# ========================================================================================

#: Handshake protocol versions (QuorumCnxManager.PROTOCOL_VERSION_V1/_V2).
PROTOCOL_VERSION_V1 = -65536
PROTOCOL_VERSION_V2 = -65535
#: Longest address text a handshake may carry (QuorumCnxManager.maxBuffer).
MAX_HANDSHAKE_ADDRESS_BYTES = 2048
#: Longest election frame (QuorumCnxManager.PACKETMAXSIZE).
MAX_ELECTION_FRAME_BYTES = 512 * 1024
#: A learner that dials with this sid is an observer without an id (QuorumPeer.OBSERVER_ID).
OBSERVER_ID = (1 << 63) - 1

#: Peer states in a notification (QuorumPeer.ServerState's ordinals).
LOOKING = 0
FOLLOWING = 1
LEADING = 2
OBSERVING = 3
PEER_STATE_NAMES = {LOOKING: "LOOKING", FOLLOWING: "FOLLOWING", LEADING: "LEADING",
                    OBSERVING: "OBSERVING"}
#: Notification.CURRENTVERSION: the 44-byte form with the config.
NOTIFICATION_VERSION = 2


class Handshake:
    """The dialer's first bytes on the election port.

    ``protocol_version`` is PROTOCOL_VERSION_V1 or _V2, or None for the old
    form (the bare sid).  ``address`` is the address text as sent ("" for the
    old form); :meth:`addresses` splits it."""

    __slots__ = ("protocol_version", "sid", "address")

    def __init__(self, sid: int, address: str = "",
                 protocol_version: Optional[int] = PROTOCOL_VERSION_V1):
        self.protocol_version = protocol_version
        self.sid = sid
        self.address = address

    def __eq__(self, other):
        return isinstance(other, Handshake) and (
            (self.protocol_version, self.sid, self.address)
            == (other.protocol_version, other.sid, other.address))

    def __repr__(self):
        return "Handshake(sid=%d, address=%r, protocol_version=%r)" % (
            self.sid, self.address, self.protocol_version)

    def addresses(self) -> List[Tuple[str, int]]:
        """The ``(host, port)`` pairs of the address text (V2 separates them by "|")."""
        if self.protocol_version is None:
            return []
        return [split_address(a) for a in self.address.split("|")]

    def encode(self) -> bytes:
        if self.protocol_version is None:
            if self.sid < 0:
                raise ValueError("the old handshake form needs a non-negative sid")
            return _I64.pack(self.sid)
        raw = self.address.encode("utf-8")
        if not 0 < len(raw) <= MAX_HANDSHAKE_ADDRESS_BYTES:
            raise ValueError("handshake address of %d bytes" % len(raw))
        return _I64.pack(self.protocol_version) + _I64.pack(self.sid) + _I32.pack(len(raw)) + raw


def split_address(text: str) -> Tuple[str, int]:
    """``host:port`` or ``[v6host]:port`` -> ``(host, port)``, as ZooKeeper's
    ConfigUtils.getHostAndPort reads a handshake address."""
    if text.startswith("["):
        close = text.find("]")
        if close == -1 or not text[close + 1:].startswith(":"):
            raise PacketError("badly formed address %r" % text)
        host, port = text[1:close], text[close + 2:]
        if ":" in port:
            raise PacketError("badly formed address %r" % text)
    else:
        parts = text.split(":")
        if len(parts) != 2:
            raise PacketError("badly formed address %r" % text)
        host, port = parts
    try:
        value = int(port, 10)
    except ValueError:
        raise PacketError("bad port number in %r" % text) from None
    if not 0 <= value <= 65535:
        raise PacketError("port out of range in %r" % text)
    return host, value


def decode_handshake(data, offset: int = 0) -> Tuple[Optional[Handshake], int]:
    """``(handshake, end)`` if ``data[offset:]`` holds a whole handshake,
    ``(None, bytes_needed_from_offset)`` if not yet."""
    n = len(data) - offset
    if n < 8:
        return None, 8
    version = _I64.unpack_from(data, offset)[0]
    if version >= 0:
        return Handshake(version, "", None), offset + 8
    if version not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        raise PacketError("unrecognized election protocol version %d" % version)
    if n < 20:
        return None, 20
    sid = _I64.unpack_from(data, offset + 8)[0]
    length = _I32.unpack_from(data, offset + 16)[0]
    if not 0 < length <= MAX_HANDSHAKE_ADDRESS_BYTES:
        raise PacketError("unreasonable handshake address length %d" % length)
    if n < 20 + length:
        return None, 20 + length
    raw = bytes(data[offset + 20:offset + 20 + length])
    try:
        address = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PacketError("handshake address is not UTF-8") from None
    hs = Handshake(sid, address, version)
    hs.addresses()  # ZooKeeper closes the connection on a malformed address
    return hs, offset + 20 + length


def frame_election(payload: bytes) -> bytes:
    """One election-port frame: int32 length + payload."""
    if not 0 < len(payload) <= MAX_ELECTION_FRAME_BYTES:
        raise ValueError("election frame of %d bytes" % len(payload))
    return frame(payload)


class ElectionStreamDecoder:
    """One direction of an election connection: ``feed(bytes)`` returns what is
    complete, in order: a :class:`Handshake` first (if ``expect_handshake``,
    i.e. this is what the dialer sends), then each frame's payload as bytes.

    The frames are the client port's framing (int32 length + payload), so
    :class:`zkwire.protocol.FrameDecoder` splits them, bounded by
    ``max_frame_bytes``: at most one frame (plus its length) is ever buffered,
    and a length outside 1..``max_frame_bytes`` raises :class:`PacketError` at
    once.  After an error the decoder is unusable (close the connection)."""

    def __init__(self, expect_handshake: bool, max_frame_bytes: int = MAX_ELECTION_FRAME_BYTES):
        self._want_handshake = expect_handshake
        self.max_frame_bytes = max_frame_bytes
        self._head = bytearray()       # handshake bytes, until it is complete
        self._frames = FrameDecoder(max_frame_bytes)

    def feed(self, data: bytes) -> list:
        out = []
        if self._want_handshake:
            head = self._head
            head += data
            hs, p = decode_handshake(head, 0)
            if hs is None:
                return out
            out.append(hs)
            self._want_handshake = False
            data = bytes(head[p:])
            head.clear()
        try:
            out.extend(self._frames.feed(data))
        except ProtocolError:
            raise PacketError("election frame length outside 1..%d"
                              % self.max_frame_bytes) from None
        return out

    def buffered(self) -> int:
        return len(self._head) + self._frames.buffered()


class Notification:
    """A Fast Leader Election message.

    ``form`` is the layout it came in or goes out as: 28 (state, leader, zxid,
    election epoch; the peer epoch is the zxid's epoch), 40 (plus peer epoch
    and a version that receivers ignore) or 44 (plus version, and, when the
    version is above 1, the config length and text).  ``config`` is the
    quorum config text as bytes (None when the form carries none);
    ``trailing`` keeps bytes after the last field, which receivers ignore."""

    __slots__ = ("state", "leader", "zxid", "election_epoch", "peer_epoch", "version",
                 "config", "form", "trailing")

    def __init__(self, state: int, leader: int, zxid: int, election_epoch: int,
                 peer_epoch: int, config: Optional[bytes] = b"",
                 version: int = NOTIFICATION_VERSION, form: int = 44, trailing: bytes = b""):
        self.state = state
        self.leader = leader
        self.zxid = zxid
        self.election_epoch = election_epoch
        self.peer_epoch = peer_epoch
        self.version = version
        self.config = config
        self.form = form
        self.trailing = trailing

    def _key(self):
        return tuple(getattr(self, a) for a in self.__slots__)

    def __eq__(self, other):
        return isinstance(other, Notification) and self._key() == other._key()

    def __repr__(self):
        return ("Notification(%s, leader=%d, zxid=%#x, election_epoch=%#x, peer_epoch=%#x, "
                "version=%d, form=%d, config=%r)" % (
                    PEER_STATE_NAMES.get(self.state, self.state), self.leader, self.zxid,
                    self.election_epoch, self.peer_epoch, self.version, self.form, self.config))

    @property
    def state_name(self) -> str:
        return PEER_STATE_NAMES.get(self.state, "UNKNOWN(%d)" % self.state)

    def encode(self) -> bytes:
        """The frame payload (without the election frame's length)."""
        if self.form == 28:
            out = _NOTIFICATION_28.pack(self.state, self.leader, self.zxid, self.election_epoch)
        elif self.form == 40:
            out = _NOTIFICATION_40.pack(self.state, self.leader, self.zxid, self.election_epoch,
                                        self.peer_epoch, self.version)
        elif self.form == 44:
            if self.version > 1:
                config = self.config if self.config is not None else b""
                out = _NOTIFICATION_44.pack(self.state, self.leader, self.zxid,
                                            self.election_epoch, self.peer_epoch, self.version,
                                            len(config)) + config
            else:
                out = _NOTIFICATION_40.pack(self.state, self.leader, self.zxid,
                                            self.election_epoch, self.peer_epoch, self.version)
        else:
            raise ValueError("no notification form %r" % (self.form,))
        return out + self.trailing


def decode_notification(payload) -> Notification:
    """A notification from an election frame's payload, read the way
    FastLeaderElection's receiver reads it; anything it would drop as
    partial or malformed raises :class:`PacketError`.  The state is not
    checked (ZooKeeper ignores a message with an unknown state)."""
    n = len(payload)
    if n < 28:
        raise PacketError("notification of %d bytes (at least 28)" % n)
    if n == 28:
        state, leader, zxid, eepoch = _NOTIFICATION_28.unpack_from(payload, 0)
        return Notification(state, leader, zxid, eepoch, zxid >> 32, None, 0, 28)
    if n < 40:
        raise PacketError("partial notification of %d bytes" % n)
    state, leader, zxid, eepoch, pepoch, version = _NOTIFICATION_40.unpack_from(payload, 0)
    if n == 40:
        # 3.4's form: the receiver reads no version from it.
        return Notification(state, leader, zxid, eepoch, pepoch, None, version, 40)
    if version <= 1:
        return Notification(state, leader, zxid, eepoch, pepoch, None, version, 44,
                            bytes(payload[40:]))
    if n < 44:
        raise PacketError("partial notification of %d bytes" % n)
    length = _I32.unpack_from(payload, 40)[0]
    if length < 0 or length > n or 44 + length > n:
        raise PacketError("bad config length %d in a notification of %d bytes" % (length, n))
    return Notification(state, leader, zxid, eepoch, pepoch, bytes(payload[44:44 + length]),
                        version, 44, bytes(payload[44 + length:]))


# ========================================================================================
# Quorum port
# ========================================================================================

REQUEST = 1
PROPOSAL = 2
ACK = 3
COMMIT = 4
PING = 5
REVALIDATE = 6
SYNC = 7
INFORM = 8
COMMITANDACTIVATE = 9
NEWLEADER = 10
FOLLOWERINFO = 11
UPTODATE = 12
DIFF = 13
TRUNC = 14
SNAP = 15
OBSERVERINFO = 16
LEADERINFO = 17
ACKEPOCH = 18
INFORMANDACTIVATE = 19

PACKET_TYPE_NAMES = {
    REQUEST: "REQUEST", PROPOSAL: "PROPOSAL", ACK: "ACK", COMMIT: "COMMIT", PING: "PING",
    REVALIDATE: "REVALIDATE", SYNC: "SYNC", INFORM: "INFORM",
    COMMITANDACTIVATE: "COMMITANDACTIVATE", NEWLEADER: "NEWLEADER",
    FOLLOWERINFO: "FOLLOWERINFO", UPTODATE: "UPTODATE", DIFF: "DIFF", TRUNC: "TRUNC",
    SNAP: "SNAP", OBSERVERINFO: "OBSERVERINFO", LEADERINFO: "LEADERINFO",
    ACKEPOCH: "ACKEPOCH", INFORMANDACTIVATE: "INFORMANDACTIVATE",
}

#: The Zab protocol version a 3.4+ learner and leader announce (LearnerInfo, LEADERINFO).
ZAB_PROTOCOL_VERSION = 0x10000
#: What the leader writes after a snapshot body on the stream.
SNAPSHOT_SIGNATURE = "BenWasHere"
#: The largest buffer or string a QuorumPacket (or snapshot field) may carry:
#: jute.maxbuffer (0xfffff) plus zookeeper.jute.maxbuffer.extrasize (which
#: defaults to jute.maxbuffer), the bound of ZooKeeper's BinaryInputArchive.
DEFAULT_MAX_FIELD_BYTES = 0xFFFFF + 0xFFFFF


def packet_name(ptype: int) -> str:
    return PACKET_TYPE_NAMES.get(ptype, "UNKNOWN(%d)" % ptype)


def make_packet(ptype: int, zxid: int, data: Optional[bytes] = None, authinfo=None):
    """A QuorumPacket value (``authinfo``: None or a list of ``(scheme, id)``
    pairs or Id values)."""
    if authinfo is not None:
        authinfo = [a if isinstance(a, dict) else records.Id.make(*a) for a in authinfo]
    return records.QuorumPacket.make(ptype, zxid, data, authinfo)


_NO_AUTHINFO = _I32.pack(-1)
_NULL_DATA_NO_AUTHINFO = _I32.pack(-1) + _NO_AUTHINFO


def encode_packet(ptype: int, zxid: int, data: Optional[bytes] = None, authinfo=None) -> bytes:
    """One QuorumPacket's bytes, as they go on the stream."""
    if authinfo is None:
        # The broadcast path (PROPOSAL, ACK, COMMIT, PING...): the record's
        # layout by hand, held to the jute record by the golden-bytes tests.
        head = _PACKET_HEAD_NO_LEN.pack(ptype, zxid)
        if data is None:
            return head + _NULL_DATA_NO_AUTHINFO
        return b"".join((head, _I32.pack(len(data)), data, _NO_AUTHINFO))
    return records.QuorumPacket.build(make_packet(ptype, zxid, data, authinfo))


def decode_packet(data):
    """Exactly one QuorumPacket from ``data`` (no bytes left over)."""
    try:
        return records.QuorumPacket.parse(data)
    except JuteError as e:
        raise PacketError(str(e)) from None


class SnapshotChunk:
    """The next piece of the snapshot body that follows a SNAP packet on the
    stream (in order; concatenated they are the body without the signature).
    ``last`` is true on the piece that ends the body; the signature has then
    been read and checked."""

    __slots__ = ("data", "last")

    def __init__(self, data: bytes, last: bool):
        self.data = data
        self.last = last

    def __repr__(self):
        return "SnapshotChunk(%d bytes%s)" % (len(self.data), ", last" if self.last else "")


class _More(Exception):
    """Not enough bytes yet: ``need`` bytes from the unit's start are wanted."""

    def __init__(self, need):
        self.need = need


def _field_length(buf, pos, end, unit_start, limit, what):
    """The length at ``pos`` of a buffer/string (-1 = null reads as 0 bytes)."""
    if pos + 4 > end:
        raise _More(pos + 4 - unit_start)
    n = _I32.unpack_from(buf, pos)[0]
    if n == -1:
        return 0
    if n < 0 or n > limit:
        raise PacketError("unreasonable %s length %d" % (what, n))
    return n


def _scan_packet(buf, pos, end, limit):
    """The end of the QuorumPacket at ``pos`` (raises _More if it is not all there)."""
    start = pos
    if pos + 16 > end:
        raise _More(16)
    n = _I32.unpack_from(buf, pos + 12)[0]
    if n != -1 and (n < 0 or n > limit):
        raise PacketError("unreasonable QuorumPacket data length %d" % n)
    pos += 16 + max(n, 0)
    if pos + 4 > end:
        raise _More(pos + 4 - start)
    count = _I32.unpack_from(buf, pos)[0]
    pos += 4
    for _ in range(max(count, 0)):       # a count below 0 is no items, as Java reads it
        for what in ("Id scheme", "Id id"):
            n = _field_length(buf, pos, end, start, limit, what)
            pos += 4 + n
            if pos > end:
                raise _More(pos - start)
    return pos


# Snapshot body states: what the next unit is.
_S_SESSION_COUNT, _S_SESSIONS, _S_ACL_COUNT, _S_ACL_ENTRY, _S_ACL, _S_NODE, _S_SIGNATURE = range(7)
_NODE_FIXED = 8 + 60   # acl id (long) + StatPersisted


class QuorumStreamDecoder:
    """One direction of a quorum-port connection: ``feed(bytes)`` returns the
    QuorumPacket values (jute values with ``type``, ``zxid``, ``data``,
    ``authinfo``) completed by those bytes, in order.  On the leader's
    direction (``from_leader``) a SNAP packet is followed by
    :class:`SnapshotChunk` items carrying the snapshot body, then packets
    again.

    Memory is bounded by one unit: a packet (each field at most
    ``max_field_bytes``), or one node, ACL or session batch of a snapshot.  An
    unfinished unit is not re-read until enough bytes for it have arrived, so
    feeding a large packet in small pieces costs linear time.  After a
    :class:`PacketError` the decoder is unusable (close the connection)."""

    def __init__(self, from_leader: bool, max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES):
        self.from_leader = from_leader
        self.max_field_bytes = max_field_bytes
        self._buf = bytearray()
        self._need = 16          # bytes the current unit needs before it is worth a look
        self._snap = None        # None, or the snapshot body state
        self._count = 0          # items left in the current snapshot section
        self._acls = 0           # ACLs left in the current ACL cache entry

    @property
    def in_snapshot(self) -> bool:
        return self._snap is not None

    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list:
        buf = self._buf
        buf += data
        out = []
        pos = 0
        end = len(buf)
        body_start = 0
        while end - pos >= self._need:
            if self._snap is None:
                try:
                    stop = _scan_packet(buf, pos, end, self.max_field_bytes)
                except _More as m:
                    self._need = m.need
                    break
                pkt = decode_packet(bytes(buf[pos:stop]))
                out.append(pkt)
                pos = stop
                self._need = 16
                if pkt.type == SNAP and self.from_leader:
                    self._snap = _S_SESSION_COUNT
                    self._need = 4
                    body_start = pos
                continue
            try:
                stop, done = self._scan_snapshot_unit(buf, pos, end)
            except _More as m:
                self._need = m.need
                break
            if done:
                out.append(SnapshotChunk(bytes(buf[body_start:pos]), True))
                self._snap = None
                self._need = 16
                pos = stop
                continue
            pos = stop
        if self._snap is not None and pos > body_start:
            out.append(SnapshotChunk(bytes(buf[body_start:pos]), False))
        if pos:
            del buf[:pos]
        return out

    def _scan_snapshot_unit(self, buf, pos, end):
        """Step over one unit of the snapshot body: ``(new pos, body done)``;
        at the end, ``new pos`` is past the signature."""
        state = self._snap
        limit = self.max_field_bytes
        if state == _S_SESSION_COUNT or state == _S_ACL_COUNT:
            if pos + 4 > end:
                raise _More(4)
            count = _I32.unpack_from(buf, pos)[0]
            self._count = max(count, 0)   # ZooKeeper loops "while (count > 0)"
            if state == _S_SESSION_COUNT:
                self._snap = _S_SESSIONS if self._count else _S_ACL_COUNT
            else:
                self._snap = _S_ACL_ENTRY if self._count else _S_NODE
            self._need = 4
            return pos + 4, False
        if state == _S_SESSIONS:
            # As many whole (id, timeout) pairs as are here, in one step.
            whole = min(self._count, (end - pos) // 12)
            if whole == 0:
                raise _More(12)
            self._count -= whole
            if not self._count:
                self._snap = _S_ACL_COUNT
                self._need = 4
            else:
                self._need = 12
            return pos + 12 * whole, False
        if state == _S_ACL_ENTRY:
            if pos + 12 > end:
                raise _More(12)
            n = _I32.unpack_from(buf, pos + 8)[0]
            if n < 0:
                raise PacketError("snapshot ACL cache entry without an ACL list")
            self._count -= 1
            self._acls = n
            self._snap = _S_ACL if n else (_S_ACL_ENTRY if self._count else _S_NODE)
            self._need = 4
            return pos + 12, False
        if state == _S_ACL:
            start = pos
            p = pos + 4
            if p > end:
                raise _More(4)
            for what in ("ACL scheme", "ACL id"):
                n = _field_length(buf, p, end, start, limit, what)
                p += 4 + n
                if p > end:
                    raise _More(p - start)
            self._acls -= 1
            if not self._acls:
                self._snap = _S_ACL_ENTRY if self._count else _S_NODE
            self._need = 4
            return p, False
        if state == _S_NODE:
            start = pos
            n = _field_length(buf, pos, end, start, limit, "node path")
            if _I32.unpack_from(buf, pos)[0] == -1:
                raise PacketError("snapshot node with a null path")
            p = pos + 4 + n
            if p > end:
                raise _More(p - start)
            if n == 1 and buf[pos + 4] == 0x2F:   # "/" closes the node list
                self._snap = _S_SIGNATURE
                self._need = 4
                return p, False
            n = _field_length(buf, p, end, start, limit, "node data")
            p += 4 + n + _NODE_FIXED
            if p > end:
                raise _More(p - start)
            self._need = 4
            return p, False
        # _S_SIGNATURE
        n = _field_length(buf, pos, end, pos, limit, "snapshot signature")
        if pos + 4 + n > end:
            raise _More(4 + n)
        sig = bytes(buf[pos + 4:pos + 4 + n])
        if _I32.unpack_from(buf, pos)[0] == -1 or sig != SNAPSHOT_SIGNATURE.encode():
            raise PacketError("missing snapshot signature (got %r)" % sig[:32])
        return pos + 4 + n, True


def encode_snapshot_signature() -> bytes:
    raw = SNAPSHOT_SIGNATURE.encode()
    return _I32.pack(len(raw)) + raw


# --- payloads --------------------------------------------------------------------------

def encode_learner_info(serverid: int, config_version: int,
                        protocol_version: int = ZAB_PROTOCOL_VERSION) -> bytes:
    """FOLLOWERINFO / OBSERVERINFO data."""
    return records.LearnerInfo.pack(serverid, protocol_version, config_version)


def decode_learner_info(data: Optional[bytes]):
    """FOLLOWERINFO / OBSERVERINFO data read as the leader reads it: each field
    only if the bytes reach it (``None`` where they do not; null data leaves
    all three None), bytes after the 20 of a LearnerInfo ignored."""
    if data is None:
        return records.LearnerInfo.make(None, None, None)
    n = len(data)
    serverid = _I64.unpack_from(data, 0)[0] if n >= 8 else None
    version = _I32.unpack_from(data, 8)[0] if n >= 12 else None
    config_version = _I64.unpack_from(data, 12)[0] if n >= 20 else None
    return records.LearnerInfo.make(serverid, version, config_version)


def _int_payload(data, what) -> int:
    if data is None or len(data) < 4:
        raise PacketError("%s data of %s bytes (want 4)"
                          % (what, None if data is None else len(data)))
    return _I32.unpack_from(data, 0)[0]


def encode_leader_info(protocol_version: int = ZAB_PROTOCOL_VERSION) -> bytes:
    """LEADERINFO data: the leader's protocol version (the packet's zxid is
    the new epoch << 32)."""
    return _I32.pack(protocol_version)


def decode_leader_info(data) -> int:
    return _int_payload(data, "LEADERINFO")


def encode_ack_epoch(current_epoch: int) -> bytes:
    """ACKEPOCH data: the learner's current epoch, or -1 if it had already
    accepted the proposed epoch (the packet's zxid is its last logged zxid)."""
    return _I32.pack(current_epoch)


def decode_ack_epoch(data) -> int:
    return _int_payload(data, "ACKEPOCH")


class RequestPayload:
    """REQUEST data: a client request a learner forwards to the leader."""

    __slots__ = ("session_id", "cxid", "type", "request")

    def __init__(self, session_id: int, cxid: int, type: int, request: bytes = b""):
        self.session_id = session_id
        self.cxid = cxid
        self.type = type
        self.request = request

    def __eq__(self, other):
        return isinstance(other, RequestPayload) and (
            (self.session_id, self.cxid, self.type, self.request)
            == (other.session_id, other.cxid, other.type, other.request))

    def __repr__(self):
        return "RequestPayload(session=%#x, cxid=%d, type=%d, %d bytes)" % (
            self.session_id, self.cxid, self.type, len(self.request))

    def encode(self) -> bytes:
        return _REQUEST_HEAD.pack(self.session_id, self.cxid, self.type) + self.request


def decode_request(data) -> RequestPayload:
    if data is None or len(data) < 16:
        raise PacketError("REQUEST data of %s bytes (at least 16)"
                          % (None if data is None else len(data)))
    sid, cxid, rtype = _REQUEST_HEAD.unpack_from(data, 0)
    return RequestPayload(sid, cxid, rtype, bytes(data[16:]))


def encode_touches(touches: Sequence[Tuple[int, int]]) -> bytes:
    """A learner's PING data: (session id, timeout ms) for each session it saw."""
    return b"".join(_I64I32.pack(s, t) for s, t in touches)


def decode_touches(data) -> List[Tuple[int, int]]:
    """PING data as pairs; null or empty data is no touches.  A partial pair
    is an error (ZooKeeper's reader hits end of stream and drops the learner)."""
    if not data:
        return []
    if len(data) % 12:
        raise PacketError("PING data of %d bytes is not whole (session, timeout) pairs"
                          % len(data))
    return [_I64I32.unpack_from(data, i) for i in range(0, len(data), 12)]


def encode_revalidate_request(session_id: int, timeout_ms: int) -> bytes:
    """REVALIDATE data from a learner: the session a client re-attached, and its timeout."""
    return _I64I32.pack(session_id, timeout_ms)


def decode_revalidate_request(data) -> Tuple[int, int]:
    if data is None or len(data) < 12:
        raise PacketError("REVALIDATE request data of %s bytes (want 12)"
                          % (None if data is None else len(data)))
    return _I64I32.unpack_from(data, 0)


def encode_revalidate_reply(session_id: int, valid: bool) -> bytes:
    """REVALIDATE data from the leader: the session and whether it is still valid."""
    return _I64.pack(session_id) + (b"\x01" if valid else b"\x00")


def decode_revalidate_reply(data) -> Tuple[int, bool]:
    if data is None or len(data) < 9:
        raise PacketError("REVALIDATE reply data of %s bytes (want 9)"
                          % (None if data is None else len(data)))
    return _I64.unpack_from(data, 0)[0], data[8] != 0


def encode_txn(hdr, txn, digest=None) -> bytes:
    """PROPOSAL / INFORM data: a txn-log entry (TxnHeader, txn, optional TxnDigest)."""
    return txnlog.encode_entry(hdr, txn, digest)


def decode_txn(data):
    """``(hdr, txn, digest or None)`` from PROPOSAL / INFORM data."""
    if data is None:
        raise PacketError("txn packet without data")
    try:
        return txnlog.decode_entry(bytes(data))
    except (JuteError, ValueError) as e:
        raise PacketError("bad txn in packet: %s" % e) from None


def encode_suggested_leader(sid: int, rest: bytes = b"") -> bytes:
    """COMMITANDACTIVATE data (the sid alone) or INFORMANDACTIVATE data (sid + txn entry)."""
    return _I64.pack(sid) + rest


def decode_suggested_leader(data) -> Tuple[int, bytes]:
    """``(suggested leader sid, the bytes after it)``."""
    if data is None or len(data) < 8:
        raise PacketError("reconfig packet data of %s bytes (at least 8)"
                          % (None if data is None else len(data)))
    return _I64.unpack_from(data, 0)[0], bytes(data[8:])
