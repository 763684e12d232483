"""``zkwire xcheck``: a cross-checking proxy between a client and two servers.

    zkwire xcheck --oracle HOST:PORT --candidate HOST:PORT --listen PORT
                  [--host ADDR] [--log FILE] [--show-known]

Theory of operation
-------------------
Every client connection accepted on ``--listen`` is paired with one connection
to the *oracle* (normally Apache ZooKeeper) and one to the *candidate* (normally
zkwire).  Each frame the client sends goes to both; the client hears only the
oracle.  The candidate's frames are decoded and compared with the oracle's:

* replies are paired by xid (and by occurrence, for the fixed xids of pings,
  auth and SetWatches) and compared header and body: error code, zxid, every
  Stat field, data, children, ACLs, multi results;
* watch notifications are compared in the order each server sent them on that
  connection.

Values that legitimately differ between two servers are normalized first, each
rule named after its entry in interop/DIFFERENCES.rst: zxids are compared
relative to the first reply both servers gave to the same request
(``zxid-relative``); ctime/mtime need only lie within ``--time-slack-ms`` of
each other (``times``); session ids and passwords are mapped oracle<->candidate
(``session-ids``): the client only ever sees the oracle's, and the proxy
rewrites them, and the zxids it reports back, for the candidate; children lists
are sorted (``children-order``).  Documented protocol differences
(``ZOOKEEPER-4655``, ``ZOOKEEPER-2590``, ``ZOOKEEPER-4026``, ``lone-check``)
are not reported as mismatches; ``--show-known`` logs
them as ``KNOWN`` lines.

Each mismatch is one ``MISMATCH`` line on stderr (and in ``--log``).  When a
client connection ends, one ``CLOSED`` line sums it up (replies and events
compared, mismatches).

Library code here never imports the global reactor: :func:`listen` takes it.
The wire decoding (:func:`decode_reply`, :func:`plain`) is shared with the
interop suite's raw-protocol actor.
"""
from __future__ import annotations

import argparse
import logging
import struct
import sys
import time

from twisted.internet.protocol import Factory, Protocol

from zkwire import protocol, records as r
from zkwire.consts import ERR_NAMES, OPCODE_NAMES, OpCode, Xid
from zkwire.jute import JuteError
from zkwire.protocol import FrameDecoder, Malformed, ProtocolError, decode_request, frame

log = logging.getLogger("zkwire.xcheck")

FOUR_LETTER_WORDS = frozenset(w.encode() for w in (
    "ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp",
    "dump", "isro", "crst", "srst", "dirs", "gtmk", "stmk", "hash"))

EVENT_NAMES = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
               4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved",
               7: "PersistentWatchRemoved"}
STATE_NAMES = {0: "Disconnected", 3: "SyncConnected", 4: "AuthFailed", 5: "ConnectedReadOnly",
               6: "SaslAuthenticated", -112: "Expired", 7: "Closed"}

STAT_FIELDS = r.Stat.fields
_HDR = struct.Struct(">ii")
_REPLY_HDR = struct.Struct(">iqi")

# --- decoding: wire bytes -> plain, comparable values ------------------------------

REPLY_RECORDS = protocol.RESPONSE_RECORDS
MULTI_RESULT_RECORDS = protocol.MULTI_RESULT_RECORDS
PERM_LETTERS = (("c", 4), ("d", 8), ("r", 1), ("w", 2), ("a", 16))


def perms_text(bits: int) -> str:
    s = "".join(ch for ch, b in PERM_LETTERS if bits & b)
    extra = bits & ~31
    if extra:
        s += "+%d" % extra
    return s or "-"


def data_value(b):
    """Bytes as text when they are UTF-8, else ``{"hex": ...}``; None stays None."""
    if b is None:
        return None
    try:
        return bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": bytes(b).hex()}


def plain(value, key=None):
    """A construct Container (from our jute records) as plain dicts and lists,
    with data as text, ACLs as ``scheme:id=perms`` and names for codes."""
    if isinstance(value, dict):
        if set(value) - {"_io"} == {"perms", "id"}:
            return "%s:%s=%s" % (value["id"]["scheme"], value["id"]["id"], perms_text(value["perms"]))
        if "czxid" in value and "pzxid" in value:
            return {f: value[f] for f in STAT_FIELDS}
        return {k: plain(v, k) for k, v in value.items() if k != "_io"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return data_value(value)
    return value


def decode_multi(payload: bytes, pos: int) -> list:
    results = []
    while True:
        h, pos = r.MultiHeader.parse_prefix(payload, pos)
        if h.done:
            break
        rec = MULTI_RESULT_RECORDS.get(h.type)
        item = {"type": OPCODE_NAMES.get(h.type, str(h.type)) if h.type != -1 else "error"}
        if rec is not None:
            body, pos = rec.parse_prefix(payload, pos)
            body = plain(body)
            if h.type == OpCode.error:
                item["err"] = ERR_NAMES.get(body["err"], body["err"])
            else:
                item.update(body)
        results.append(item)
    if pos != len(payload):
        raise JuteError("%d trailing bytes after multi results" % (len(payload) - pos))
    return results


def decode_reply(op, payload: bytes) -> dict:
    """A reply or notification frame -> ``{"xid", "zxid", "err", ...body}``.
    ``op`` is the request's opcode (None for notifications).  A body that does
    not decode is kept as ``{"undecodable": hex}``."""
    if len(payload) < _REPLY_HDR.size:
        return {"undecodable": payload.hex()}
    xid, zxid, err = _REPLY_HDR.unpack_from(payload)
    out = {"xid": xid, "zxid": zxid, "err": ERR_NAMES.get(err, err)}
    body = payload[_REPLY_HDR.size:]
    try:
        if xid == Xid.NOTIFICATION:
            ev = r.WatcherEvent.parse(body)
            out["event"] = {"type": EVENT_NAMES.get(ev.type, ev.type),
                            "state": STATE_NAMES.get(ev.state, ev.state), "path": ev.path}
            return out
        if op in (OpCode.multi, OpCode.multiRead) and body:
            out["results"] = decode_multi(payload, _REPLY_HDR.size)
            return out
        if err != 0 or not body:
            if body:
                out["trailing"] = body.hex()
            return out
        rec = REPLY_RECORDS.get(op)
        if rec is None:
            out["trailing"] = body.hex()
            return out
        out.update(plain(rec.parse(body)))
    except JuteError as e:
        out["undecodable"] = "%s (%s)" % (body.hex(), e)
    return out


def decode_connect_response(payload: bytes) -> dict:
    try:
        rec, pos = r.ConnectResponse.parse_prefix(payload)
    except JuteError:
        return {"undecodable": payload.hex()}
    out = {"timeOut": rec.timeOut, "sessionId": rec.sessionId, "passwd": bytes(rec.passwd or b""),
           "protocolVersion": rec.protocolVersion}
    if pos < len(payload):
        out["readOnly"] = payload[pos] != 0
    return out


# --- normalization -----------------------------------------------------------------

class Normalizer:
    """Turns one server's decoded values into comparable ones.  ``zxid_base``
    is that server's zxid at the pairing point, ``session_names`` maps that
    server's session ids to names shared by both sides."""

    def __init__(self, time_slack_ms=10_000):
        self.zxid_base = None
        self.session_names = {}
        self.time_slack_ms = time_slack_ms

    def zxid(self, v):
        if not isinstance(v, int) or v <= 0 or self.zxid_base is None:
            return v if (not isinstance(v, int) or v <= 0) else "?"
        return "%+d" % (v - self.zxid_base)

    def owner(self, v):
        if v in self.session_names:
            return self.session_names[v]
        return v if (v == 0 or v < 0 or (v >> 56) == 0xFF) else "session(?%x)" % v

    def stat(self, st):
        out = dict(st)
        for f in ("czxid", "mzxid", "pzxid"):
            out[f] = self.zxid(st[f])
        out["ephemeralOwner"] = self.owner(st["ephemeralOwner"])
        return out

    def value(self, v, key=None):
        if isinstance(v, dict):
            if "czxid" in v and "pzxid" in v:
                return self.stat(v)
            return {k: self.value(x, k) for k, x in v.items()}
        if isinstance(v, list):
            items = [self.value(x) for x in v]
            if key in ("children", "ephemerals"):
                return sorted(items)           # children-order
            return items
        if key == "zxid":
            return self.zxid(v)
        return v


def times_close(o, c, slack_ms) -> bool:
    return isinstance(o, int) and isinstance(c, int) and (o == c or (o and c and abs(o - c) <= slack_ms))


def diff_values(o, c, slack_ms, prefix="") -> list:
    """[(field, oracle, candidate)] where two normalized values differ; ctime
    and mtime only when further apart than ``slack_ms`` (rule ``times``)."""
    if isinstance(o, dict) and isinstance(c, dict):
        out = []
        for k in list(o) + [k for k in c if k not in o]:
            p = "%s.%s" % (prefix, k) if prefix else k
            if k in ("ctime", "mtime") and times_close(o.get(k), c.get(k), slack_ms):
                continue
            if k not in o or k not in c:
                out.append((p, o.get(k, "<absent>"), c.get(k, "<absent>")))
            else:
                out.extend(diff_values(o[k], c[k], slack_ms, p))
        return out
    if isinstance(o, list) and isinstance(c, list) and len(o) == len(c):
        out = []
        for i, (a, b) in enumerate(zip(o, c)):
            out.extend(diff_values(a, b, slack_ms, "%s[%d]" % (prefix, i)))
        return out
    return [] if o == c else [(prefix or "value", o, c)]


def known_difference(op, o, c):
    """The DIFFERENCES.rst ID that explains why reply ``c`` differs from ``o``
    for opcode ``op``, or None."""
    if op == OpCode.exists and o.get("err") == "OK" and c.get("err") == "NOAUTH":
        return "ZOOKEEPER-2590"
    if op == OpCode.multi and o.get("err") == c.get("err") and "results" in o and "results" in c:
        ro, rc = o["results"], c["results"]
        if len(ro) == len(rc):
            ok = True
            for a, b in zip(ro, rc):
                if a == b:
                    continue
                if (a.get("type") == "create" and b.get("type") == "create2"
                        and a.get("path") == b.get("path") and set(b) - set(a) == {"stat"}):
                    continue
                ok = False
            if ok:
                return "ZOOKEEPER-4026"
    return None


# --- the proxy ---------------------------------------------------------------------

def _fmt(v) -> str:
    if isinstance(v, str):
        return repr(v)
    return str(v)


class CrossCheck:
    """State shared by all proxied connections: the session table, the zxid
    bases and the reporter."""

    def __init__(self, report, show_known=False, time_slack_ms=10_000):
        self.report = report            # callable(line)
        self.show_known = show_known
        self.time_slack_ms = time_slack_ms
        self.oracle_norm = Normalizer(time_slack_ms)
        self.candidate_norm = Normalizer(time_slack_ms)
        self.sessions = {}              # oracle session id -> (candidate id, candidate passwd)
        self.next_conn = 1
        self.next_session = 1
        self.mismatches = 0

    # zxids the client saw (oracle's) -> the candidate's
    def to_candidate_zxid(self, z: int) -> int:
        ob, cb = self.oracle_norm.zxid_base, self.candidate_norm.zxid_base
        if z <= 0 or ob is None or cb is None:
            return z
        return z - ob + cb

    def pair_sessions(self, o_sid, c_sid, c_passwd):
        if o_sid == 0 or c_sid == 0:
            return
        if o_sid not in self.sessions:
            name = "session#%d" % self.next_session
            self.next_session += 1
            self.oracle_norm.session_names[o_sid] = name
            self.candidate_norm.session_names[c_sid] = name
        self.sessions[o_sid] = (c_sid, c_passwd)

    def mismatch(self, conn_id, what, detail):
        self.mismatches += 1
        self.report("MISMATCH conn=%d %s: %s" % (conn_id, what, detail))

    def known(self, conn_id, what, diff_id):
        if self.show_known:
            self.report("KNOWN conn=%d %s: documented difference %s" % (conn_id, what, diff_id))


class _Upstream(Protocol):
    """Our connection to the oracle or the candidate."""

    def __init__(self, conn, side):
        self.conn = conn
        self.side = side
        self.decoder = FrameDecoder(0x7FFFFFFF)
        self.pending = []

    def connectionMade(self):
        self.conn.upstream_ready(self)

    def dataReceived(self, data):
        if self.conn.fourlw is not None:
            self.conn.fourlw_data(self.side, data)
            return
        try:
            frames = self.decoder.feed(data)
        except ProtocolError as e:
            self.conn.upstream_garbage(self.side, str(e))
            return
        for f in frames:
            self.conn.upstream_frame(self.side, f)

    def connectionLost(self, reason=None):
        self.conn.upstream_lost(self.side)


class ProxyConnection(Protocol):
    """One client connection and its two upstream connections."""

    def __init__(self, check: CrossCheck, reactor, oracle, candidate):
        self.check = check
        self.reactor = reactor
        self.addrs = {"oracle": oracle, "candidate": candidate}
        self.up = {}                     # side -> _Upstream once connected
        self.queued = {"oracle": [], "candidate": []}
        self.decoder = FrameDecoder(0x7FFFFFFF)
        self.handshake = None            # the client's ConnectRequest, once seen
        self.handshakes = {}              # side -> decoded ConnectResponse
        self.ops = {"oracle": [], "candidate": []}   # (xid, op, path) in request order
        self.replies = {"oracle": {}, "candidate": {}}  # (xid, n) -> (op, path, decoded)
        self.seen = {"oracle": {}, "candidate": {}}     # xid -> count
        self.events = {"oracle": [], "candidate": []}
        self.fourlw = None
        self.fourlw_out = {"oracle": b"", "candidate": b""}
        self.closed = {"oracle": False, "candidate": False}
        self.candidate_gone = None
        self.malformed = False
        self.client_gone = False
        self.compared_replies = 0
        self.compared_events = 0
        self.mismatches = 0
        self.done = False

    # --- client side ---------------------------------------------------------------
    def connectionMade(self):
        self.id = self.check.next_conn
        self.check.next_conn += 1
        from twisted.internet.protocol import ClientCreator

        for side, (host, port) in self.addrs.items():
            d = ClientCreator(self.reactor, _Upstream, self, side).connectTCP(host, port)
            d.addErrback(self._connect_failed, side)

    def _connect_failed(self, failure, side):
        self._report("connect", "cannot connect to the %s: %s" % (side, failure.getErrorMessage()))
        if side == "oracle":
            self.transport.loseConnection()
        else:
            self.closed["candidate"] = True
            self.candidate_gone = "unreachable"

    def dataReceived(self, data):
        if self.handshake is None and self.fourlw is None and self.decoder.buffered() == 0 \
                and data[:4] in FOUR_LETTER_WORDS:
            self.fourlw = data[:4].decode()
            self._send("oracle", data)
            self._send("candidate", data)
            return
        if self.fourlw is not None:
            return
        try:
            frames = self.decoder.feed(data)
        except ProtocolError as e:
            # Same bytes to both; they decide what a bad frame means.
            self.malformed = True
            self._send("oracle", data)
            self._send("candidate", data)
            log.info("conn=%d: client sent a bad frame (%s)", self.id, e)
            return
        for f in frames:
            self._client_frame(f)

    def _client_frame(self, f):
        if self.handshake is None:
            try:
                req, pos = r.ConnectRequest.parse_prefix(f)
            except JuteError:
                self.malformed = True
                self._send("oracle", frame(f))
                self._send("candidate", frame(f))
                return
            self.handshake = req
            self._send("oracle", frame(f))
            self._send("candidate", frame(self._candidate_connect(f, req, pos)))
            return
        xid, op = _HDR.unpack_from(f) if len(f) >= 8 else (None, None)
        path = None
        cand = f
        try:
            _, _, body = decode_request(f)
            if isinstance(body, Malformed):
                body = None   # both servers answer MARSHALLINGERROR: compared as usual
            path = getattr(body, "path", None) if body is not None and not isinstance(body, list) else None
            if op in (OpCode.setWatches, OpCode.setWatches2) and body is not None:
                body.relativeZxid = self.check.to_candidate_zxid(body.relativeZxid)
                rec = r.SetWatches if op == OpCode.setWatches else r.SetWatches2
                cand = f[:8] + rec.build(body)
        except ProtocolError:
            self.malformed = True
        if xid is not None:
            self.ops["oracle"].append((xid, op, path))
            self.ops["candidate"].append((xid, op, path))
        self._send("oracle", frame(f))
        self._send("candidate", frame(cand))

    def _candidate_connect(self, f, req, pos):
        """The client's ConnectRequest with the oracle's session id, password
        and zxid replaced by the candidate's."""
        sid, passwd = req.sessionId, req.passwd
        if sid and sid in self.check.sessions:
            sid, passwd = self.check.sessions[sid]
        rec = dict(protocolVersion=req.protocolVersion,
                   lastZxidSeen=self.check.to_candidate_zxid(req.lastZxidSeen),
                   timeOut=req.timeOut, sessionId=sid, passwd=passwd)
        return r.ConnectRequest.build(rec) + f[pos:]

    def connectionLost(self, reason=None):
        # The client is gone, but the candidate may still owe replies (the
        # client hangs up as soon as the oracle answers its closeSession).
        self.client_gone = True
        self._drain(time.monotonic() + self.DRAIN_S)

    DRAIN_S = 3.0

    def _drain(self, deadline):
        owed = self.ops["candidate"] and not self.closed["candidate"]
        if owed and time.monotonic() < deadline:
            self.reactor.callLater(0.02, self._drain, deadline)
            return
        for up in self.up.values():
            if up.transport is not None:
                up.transport.loseConnection()
        self.reactor.callLater(0.1, self._finish)

    # --- upstream side ---------------------------------------------------------------
    def _send(self, side, data):
        if self.client_gone:
            return
        up = self.up.get(side)
        if up is None:
            self.queued[side].append(data)
        elif not self.closed[side]:
            up.transport.write(data)

    def upstream_ready(self, up):
        self.up[up.side] = up
        for data in self.queued[up.side]:
            up.transport.write(data)
        self.queued[up.side] = []

    def upstream_garbage(self, side, reason):
        self._report("frame", "%s sent an unreadable frame: %s" % (side, reason))
        self.up[side].transport.loseConnection()

    def fourlw_data(self, side, data):
        self.fourlw_out[side] += data
        if side == "oracle":
            self.transport.write(data)

    def upstream_lost(self, side):
        self.closed[side] = True
        if self.fourlw is not None:
            if side == "oracle":
                self.transport.loseConnection()
            if all(self.closed.values()):
                self._compare_fourlw()
            return
        if side == "oracle":
            if not self.client_gone:
                self.transport.loseConnection()
        elif not self.closed["oracle"] and self.candidate_gone is None and not self.client_gone:
            self.candidate_gone = "closed"
            self.reactor.callLater(0.5, self._candidate_closed_early)

    def _candidate_closed_early(self):
        if self.closed["oracle"] or self.done:
            return        # both went (session end): nothing to say
        self._report("connection", "candidate closed the connection, oracle kept it open")

    def upstream_frame(self, side, f):
        if side not in self.handshakes:
            resp = decode_connect_response(f)
            self.handshakes[side] = resp
            if side == "oracle":
                self.transport.write(frame(f))
            if len(self.handshakes) == 2:
                self._compare_connect()
            return
        xid = struct.unpack_from(">i", f)[0] if len(f) >= 4 else None
        if side == "oracle" and not self.client_gone:
            self.transport.write(frame(f))
        if xid == Xid.NOTIFICATION:
            self.events[side].append(decode_reply(None, f))
            self._compare_events()
            return
        op, path = self._take_op(side, xid)
        n = self.seen[side].get(xid, 0)
        self.seen[side][xid] = n + 1
        self.replies[side][(xid, n)] = (op, path, decode_reply(op, f))
        self._compare_reply((xid, n))

    def _take_op(self, side, xid):
        ops = self.ops[side]
        for i, (x, op, path) in enumerate(ops):
            if x == xid:
                del ops[i]
                return op, path
        return None, None

    # --- comparison ------------------------------------------------------------------
    def _report(self, what, detail):
        self.mismatches += 1
        self.check.mismatch(self.id, what, detail)

    def _compare_connect(self):
        o, c = self.handshakes["oracle"], self.handshakes["candidate"]
        self.check.pair_sessions(o.get("sessionId", 0), c.get("sessionId", 0), c.get("passwd", b""))
        for k in ("protocolVersion", "timeOut", "readOnly"):
            if o.get(k) != c.get(k):
                self._report("connect", "%s: oracle %s candidate %s" % (k, _fmt(o.get(k)), _fmt(c.get(k))))
        if (o.get("sessionId") == 0) != (c.get("sessionId") == 0):
            self._report("connect", "session refused by one side only: oracle %s candidate %s"
                         % (hex(o.get("sessionId", 0)), hex(c.get("sessionId", 0))))

    def _compare_reply(self, key):
        if key not in self.replies["oracle"] or key not in self.replies["candidate"]:
            return
        op, path, o = self.replies["oracle"].pop(key)
        _, _, c = self.replies["candidate"].pop(key)
        check = self.check
        if check.oracle_norm.zxid_base is None and o.get("zxid", 0) > 0 and c.get("zxid", 0) > 0:
            check.oracle_norm.zxid_base = o["zxid"]
            check.candidate_norm.zxid_base = c["zxid"]
        self.compared_replies += 1
        if op == OpCode.ping:
            return            # a ping's zxid is whatever the server last did
        on, cn = check.oracle_norm.value(o), check.candidate_norm.value(c)
        diffs = diff_values(on, cn, check.time_slack_ms)
        if not diffs:
            return
        what = "xid=%s %s%s" % (key[0], OPCODE_NAMES.get(op, op), " " + path if path else "")
        known = known_difference(op, on, cn)
        if known:
            check.known(self.id, what, known)
            return
        self._report(what, "; ".join("%s: oracle %s candidate %s" % (f, _fmt(a), _fmt(b))
                                     for f, a, b in diffs))

    def _compare_events(self):
        eo, ec = self.events["oracle"], self.events["candidate"]
        check = self.check
        while eo and ec:
            o, c = eo.pop(0), ec.pop(0)
            self.compared_events += 1
            on, cn = check.oracle_norm.value(o), check.candidate_norm.value(c)
            if on.get("zxid") == -1:
                # ZOOKEEPER-4655: 3.8 sends -1, 3.9 the zxid of the change.
                on.pop("zxid")
                if cn.pop("zxid", None) != -1:
                    ev = o.get("event", {})
                    check.known(self.id, "event %s %s" % (ev.get("type"), ev.get("path")), "ZOOKEEPER-4655")
            diffs = diff_values(on, cn, check.time_slack_ms)
            if diffs:
                ev = o.get("event", {})
                self._report("event %s %s" % (ev.get("type"), ev.get("path")),
                             "; ".join("%s: oracle %s candidate %s" % (f, _fmt(a), _fmt(b))
                                       for f, a, b in diffs))

    def _compare_fourlw(self):
        o = self.fourlw_out["oracle"].decode(errors="replace")
        c = self.fourlw_out["candidate"].decode(errors="replace")
        ko, kc = _fourlw_keys(o), _fourlw_keys(c)
        if ko != kc:
            self._report("4lw %s" % self.fourlw, "keys: oracle %s candidate %s" % (ko, kc))
        self._summary()

    def _finish(self):
        if self.done or self.fourlw is not None:
            return
        self.done = True
        # Whatever one side answered and the other never did.
        for key, (op, path, o) in sorted(self.replies["oracle"].items()):
            self._report("xid=%s %s%s" % (key[0], OPCODE_NAMES.get(op, op), " " + path if path else ""),
                         "oracle replied (%s), candidate did not" % o.get("err"))
        for key, (op, path, c) in sorted(self.replies["candidate"].items()):
            if op == OpCode.check:
                self.check.known(self.id, "xid=%s check" % key[0], "lone-check")
                continue
            self._report("xid=%s %s%s" % (key[0], OPCODE_NAMES.get(op, op), " " + path if path else ""),
                         "candidate replied (%s), oracle did not" % c.get("err"))
        for side, other in (("oracle", "candidate"), ("candidate", "oracle")):
            for ev in self.events[side]:
                e = ev.get("event", {})
                self._report("event %s %s" % (e.get("type"), e.get("path")),
                             "%s sent it, %s did not" % (side, other))
        self._summary()

    def _summary(self):
        self.check.report("CLOSED conn=%d replies=%d events=%d mismatches=%d"
                          % (self.id, self.compared_replies, self.compared_events, self.mismatches))


def _fourlw_keys(text):
    keys = []
    for line in text.splitlines():
        for sep in ("\t", "=", ": "):
            if sep in line:
                keys.append(line.split(sep, 1)[0].strip())
                break
    return keys


class CrossCheckFactory(Factory):
    def __init__(self, check, reactor, oracle, candidate):
        self.check = check
        self.reactor = reactor
        self.oracle = oracle
        self.candidate = candidate

    def buildProtocol(self, addr):
        return ProxyConnection(self.check, self.reactor, self.oracle, self.candidate)


def parse_hostport(s: str):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % s)
    return host, int(port)


def listen(reactor, port, oracle, candidate, report, host="127.0.0.1", show_known=False,
           time_slack_ms=10_000):
    """Start the proxy on ``host:port``; returns (CrossCheck, Deferred of the
    listening port)."""
    from twisted.internet.endpoints import TCP4ServerEndpoint

    check = CrossCheck(report, show_known=show_known, time_slack_ms=time_slack_ms)
    ep = TCP4ServerEndpoint(reactor, port, interface=host)
    return check, ep.listen(CrossCheckFactory(check, reactor, oracle, candidate))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="zkwire xcheck",
        description="Proxy each client connection to two ZooKeeper servers, answer from the "
                    "oracle and report every reply or watch event where the candidate differs.")
    p.add_argument("--oracle", required=True, type=parse_hostport, help="HOST:PORT of the reference server")
    p.add_argument("--candidate", required=True, type=parse_hostport, help="HOST:PORT of the server under test")
    p.add_argument("--listen", required=True, type=int, help="port the clients connect to")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--log", help="also append every report line to this file")
    p.add_argument("--show-known", action="store_true",
                   help="also report differences documented in interop/DIFFERENCES.rst")
    p.add_argument("--time-slack-ms", type=int, default=10_000,
                   help="ctime/mtime may differ by this much (default 10000)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logf = open(args.log, "a", buffering=1) if args.log else None

    def report(line):
        stamp = time.strftime("%H:%M:%S")
        print("%s xcheck %s" % (stamp, line), file=sys.stderr, flush=True)
        if logf is not None:
            logf.write(line + "\n")

    from twisted.internet import reactor

    failed = []

    def listening(port):
        report("LISTENING %s:%d oracle=%s:%d candidate=%s:%d" % (
            args.host, port.getHost().port, args.oracle[0], args.oracle[1],
            args.candidate[0], args.candidate[1]))

    def cannot_listen(f):
        failed.append(f)
        print("zkwire xcheck: cannot listen on %s:%d: %s" % (args.host, args.listen, f.getErrorMessage()),
              file=sys.stderr)
        reactor.stop()

    def start():
        _, d = listen(reactor, args.listen, args.oracle, args.candidate, report, host=args.host,
                      show_known=args.show_known, time_slack_ms=args.time_slack_ms)
        d.addCallbacks(listening, cannot_listen)

    reactor.callWhenRunning(start)
    reactor.run()
    if logf is not None:
        logf.close()
    return 1 if failed else 0
