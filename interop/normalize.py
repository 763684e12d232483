"""Normalization of recorded results, and the rules for documented differences.

Theory of operation
-------------------
A driver records each step's outcome as plain JSON-like data (see
interop/README.rst, "Clients", for the shapes).  Two runs of the same scenario, one
against Apache ZooKeeper and one against zkwire, can only be compared after the
values that legitimately differ between two servers are made symbolic:

* zxids become relative to the scenario's first zxid (the czxid of the
  scenario's root node), written ``+N``;
* ctime/mtime become ``T`` when they lie within the run's wall-clock window;
* session ids become the actor that owns them (``c1``, ``r2``);
* children lists are sorted (and nothing else is);
* 4lw outputs are reduced to their shape (keys and value kinds).

Every such rule, and every per-step expected difference (``!diff ID`` in a
scenario), is keyed by an entry of interop/DIFFERENCES.rst: :data:`RULES` is
checked against that file by test_meta.py, so nothing is forgiven silently.
"""
from __future__ import annotations

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFERENCES_RST = os.path.join(HERE, "DIFFERENCES.rst")

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")
ZXID_FIELDS = ("czxid", "mzxid", "pzxid")
TIME_FIELDS = ("ctime", "mtime")
CONTAINER_OWNER = -0x8000000000000000
TTL_TAG = 0xFF00000000000000


def documented_ids(path: str = DIFFERENCES_RST) -> set:
    """IDs of DIFFERENCES.rst: each entry's title line is ``ID: summary``
    followed by an underline."""
    ids = set()
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines[:-1]):
        under = lines[i + 1]
        if (under and set(under) == {"~"} and len(under) >= len(line.rstrip())
                and ":" in line):
            ids.add(line.split(":", 1)[0].strip().strip("`"))
    return ids


class Context:
    """What one run against one server knows: the zxid base, who owns which
    session, the wall-clock window and the scenario's root path."""

    def __init__(self, base_zxid: int, root: str, t0_ms: int, t1_ms: int | None = None):
        self.base_zxid = base_zxid
        self.root = root
        self.t0_ms = t0_ms
        self.t1_ms = t1_ms
        self.sessions = {}   # session id -> actor name

    # --- values -------------------------------------------------------------
    def zxid(self, v):
        if not isinstance(v, int) or v <= 0:
            return v
        return "%+d" % (v - self.base_zxid)

    def time(self, v):
        if not isinstance(v, int) or v == 0:
            return v
        lo = self.t0_ms - 60_000
        hi = (self.t1_ms or self.t0_ms + 3_600_000) + 60_000
        return "T" if lo <= v <= hi else v

    def owner(self, v):
        if not isinstance(v, int) or v == 0:
            return v
        if v in self.sessions:
            return "session(%s)" % self.sessions[v]
        if v == CONTAINER_OWNER:
            return "container"
        if (v & 0xFFFFFFFFFFFFFFFF) & TTL_TAG == TTL_TAG:
            return "ttl(%d)" % ((v & 0xFFFFFFFFFFFFFFFF) & ~TTL_TAG)
        return "session(?%x)" % (v & 0xFFFFFFFFFFFFFFFF)

    def path(self, v):
        if isinstance(v, str) and self.root and (v == self.root or v.startswith(self.root + "/")):
            return "$ROOT" + v[len(self.root):]
        return v

    def text(self, s: str) -> str:
        """Session ids inside free text (4lw output) -> actor names."""
        for sid, name in self.sessions.items():
            s = s.replace("0x%x" % (sid & 0xFFFFFFFFFFFFFFFF), "<%s>" % name)
        if self.root:
            s = s.replace(self.root, "$ROOT")
        return s

    # --- records ------------------------------------------------------------
    def stat(self, st):
        if not isinstance(st, dict):
            return st
        out = {}
        for k in STAT_FIELDS:
            v = st.get(k)
            if k in ZXID_FIELDS:
                v = self.zxid(v)
            elif k in TIME_FIELDS:
                v = self.time(v)
            elif k == "ephemeralOwner":
                v = self.owner(v)
            out[k] = v
        return out

    def event(self, ev):
        if not isinstance(ev, dict):
            return ev
        out = dict(ev)
        if "path" in out:
            out["path"] = self.path(out["path"])
        if "zxid" in out:
            out["zxid"] = self.zxid(out["zxid"])
        return out

    def result(self, res):
        """Normalize one step's result (a dict); returns a new dict."""
        return self._roots(self._result(res))

    def _roots(self, v):
        if isinstance(v, dict):
            return {k: self._roots(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self._roots(x) for x in v]
        return self.path(v)

    def _result(self, res):
        if not isinstance(res, dict):
            return res
        out = {}
        for k, v in res.items():
            if k.startswith("_"):
                continue
            if k == "stat":
                v = self.stat(v)
            elif k == "children":
                v = sorted(v) if isinstance(v, list) else v   # children-order
            elif k == "path":
                v = self.path(v)
            elif k in ("zxid",):
                v = self.zxid(v)
            elif k == "session":
                v = self.sessions.get(v, "?") if isinstance(v, int) else v
            elif k == "events":
                v = [self.event(e) for e in v]
            elif k == "event":
                v = self.event(v)
            elif k in ("results", "reply"):
                v = [self._result(x) for x in v] if isinstance(v, list) else self._result(v)
            elif k == "text":
                v = fourlw_shape(res.get("word", ""), self.text(v))
            out[k] = v
        return out


# --- 4lw output shapes --------------------------------------------------------
#
# Rule ``fourlw-values``: counters, latencies, sizes, ports, dates and paths on
# disk change with load and machine, so a 4lw answer is compared by its shape:
# its keys in order and the kind of each value.  Where the content is a pure
# function of the tree and the sessions (wchs, wchc, wchp, the ephemeral part
# of dump) it is compared as is, with session ids named.

_NUM = re.compile(r"^-?\d+(\.\d+)?$")
_VERSION_LINE = re.compile(r"^(Zookeeper version: |zookeeper\.version=|zk_version\t)")


def _kind(value: str) -> str:
    value = value.strip()
    if _NUM.match(value):
        return "<num>"
    if re.match(r"^-?\d+(\.\d+)?/-?\d+(\.\d+)?/-?\d+(\.\d+)?$", value):
        return "<min/avg/max>"
    if re.match(r"^0x[0-9a-f]+$", value):
        return "<hex>"
    return "<text>"


def _key_lines(lines, seps=("\t", "=", ": ")):
    out = []
    for line in lines:
        if not line.strip():
            continue
        m = _VERSION_LINE.match(line)
        if m:
            out.append(m.group(1).strip() + " <version>")   # rule version-string
            continue
        for sep in seps:
            if sep in line:
                key, _, value = line.partition(sep)
                out.append("%s%s%s" % (key.strip(), sep.strip() or "\\t", _kind(value)))
                break
        else:
            out.append(line.strip())
    return out


def _connection_shape(line: str) -> str:
    """`` /127.0.0.1:PORT[1](queued=0,recved=4,...)`` -> ``[1](queued,recved,...)``."""
    m = re.match(r"^\s*/?[\d.:]+\[(\d+)\]\((.*)\)\s*$", line)
    if not m:
        return "<unparsed: %s>" % line.strip()
    keys = [kv.split("=", 1)[0] for kv in m.group(2).split(",")]
    return "[%s](%s)" % (m.group(1), ",".join(keys))


def _stat_shape(text):
    lines = text.splitlines()
    out, conns, in_clients = [], [], False
    for line in lines:
        if line.startswith("Clients:"):
            in_clients = True
            out.append("Clients:")
            continue
        if in_clients:
            if line.strip():
                conns.append(_connection_shape(line))
                continue
            in_clients = False
            out.extend(sorted(set(conns)))
            continue
        out.extend(_key_lines([line], seps=(": ",)))
    return out


def _dump_shape(text):
    """Section headers, and the ephemeral nodes per (named) session."""
    out, section = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.endswith("dump:"):
            section = line
            out.append(line)
            continue
        if section == "ephemeral nodes dump:":
            out.append(line.rstrip())
    return out


def _listing_shape(text):
    """wchc/wchp: ``key`` lines each followed by tab-indented values, dumped
    from a hash map -> the sorted ``key -> value`` pairs."""
    pairs, key = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("\t"):
            pairs.append("%s -> %s" % (key, line.strip()))
        else:
            key = line.strip()
    return sorted(pairs)


_LEARNER_QUEUE_KEY = re.compile(r"^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_\d+_learner_handler_qp_")


def _mntr_shape(text):
    """Rule mntr-39: the five 3.9-only metrics are left out, and the counter
    lines (printed in a hash map's order, which their number changes) are
    sorted where the first of them stands."""
    from zkwire.server.core import metrics as M

    dropped = set()
    for name in M.SINCE_39:
        kind = dict(M.CATALOGUE)[name]
        if kind == M.COUNTER:
            dropped.add("zk_" + name)
        else:
            dropped.update("zk_%s_%s" % (p, name) for p in ("avg", "min", "max", "cnt", "sum"))
    counters = {"zk_" + n for n, k in M.CATALOGUE if k == M.COUNTER}
    # Rule mntr-learner-queues: a leader's per-learner queue sets.
    lines = [x for x in text.splitlines() if x.partition("\t")[0] not in dropped
             and not _LEARNER_QUEUE_KEY.match(x)]
    shape = _key_lines(lines, seps=("\t",))
    keys = [x.partition("\t")[0] for x in lines if x.strip()]
    at = [i for i, k in enumerate(keys) if k in counters]
    if at:
        block = sorted(shape[i] for i in at)
        rest = [s for i, s in enumerate(shape) if keys[i] not in counters]
        first = at[0] - sum(1 for i in range(at[0]) if keys[i] in counters)
        shape = rest[:first] + block + rest[first:]
    return shape


def fourlw_shape(word: str, text: str):
    if word in ("ruok", "isro", "crst", "srst", "wchs") or not text:
        return text
    if word in ("wchc", "wchp"):
        return _listing_shape(text)
    if word == "stat":
        return _stat_shape(text)
    if word == "cons":
        # How many connections are listed depends on timing (a client that
        # just closed may linger for a moment); which kinds are listed does not.
        return sorted({_connection_shape(x) for x in text.splitlines() if x.strip()})
    if word == "dump":
        return _dump_shape(text)
    if word in ("conf", "envi"):
        return _key_lines(text.splitlines(), seps=("=",))
    if word == "mntr":
        return _mntr_shape(text)
    return _key_lines(text.splitlines(), seps=(": ",))


# --- rules for documented per-step differences -------------------------------
#
# Each takes (oracle, candidate), both normalized, and says whether the
# candidate differs from the oracle exactly as the entry documents.

def _exists_read_check(o, c):
    # ZOOKEEPER-2590: 3.8 answers exists on an unreadable node with its Stat,
    # 3.9 (and zkwire) with NOAUTH.
    return isinstance(o.get("stat"), dict) and c == {"err": "NOAUTH"}


def _multi_create2(o, c):
    # ZOOKEEPER-4026: a create2 inside a multi gets a Create2 result (path and
    # Stat) in 3.9; 3.8 answers it with a plain create result (path only).
    ro, rc = o.get("reply", {}), c.get("reply", {})
    if set(o) != set(c) or ro.get("err") != rc.get("err"):
        return False
    so, sc = ro.get("results") or [], rc.get("results") or []
    if len(so) != len(sc):
        return False
    differed = False
    for a, b in zip(so, sc):
        if a == b:
            continue
        if a.get("type") == "create" and b.get("type") == "create2" and a.get("path") == b.get("path") \
                and "stat" in b and "stat" not in a:
            differed = True
            continue
        return False
    return differed


def _lone_check(o, c):
    # lone-check: ZooKeeper 3.8 never answers a check outside a multi; zkwire
    # answers it with an empty success reply.
    return o == {"noreply": True} and c.get("reply", {}).get("err") == "OK"


def _watch_modes(o, c):
    # ZOOKEEPER-4466: 3.8 keeps one watch mode per path and watcher and knows
    # no removeWatches types 4 and 5; 3.9 (and zkwire) keep every mode.
    if "events" in o and "events" in c:
        eo, ec = o["events"], c["events"]
        if not len(eo) < len(ec):
            return False
        if any(a != b for a, b in (notification_zxid(x, y) for x, y in zip(eo, ec))):
            return False
        seen = {e.get("path") for e in eo}
        return all(e.get("path") in seen for e in ec[len(eo):])
    ro, rc = o.get("reply"), c.get("reply")
    if not (isinstance(ro, dict) and isinstance(rc, dict)) or set(o) != set(c):
        return False
    if ro.get("zxid") != rc.get("zxid"):
        return False
    return ((ro.get("err"), rc.get("err")) == ("OK", "NOWATCHER")
            or (ro.get("err") == "MARSHALLINGERROR" and rc.get("err") in ("OK", "NOWATCHER")))


STEP_RULES = {
    "ZOOKEEPER-4466": _watch_modes,
    "ZOOKEEPER-2590": _exists_read_check,
    "ZOOKEEPER-4026": _multi_create2,
    "lone-check": _lone_check,
}

#: Everything the normalizer forgives, by DIFFERENCES.rst ID.  The value says
#: where the rule lives: "normalize" (applied to every result) or "step" (only
#: on steps marked ``!diff ID``), or "xcheck" (the wire-level cross-checker).
RULES = {
    "zxid-relative": "normalize",
    "times": "normalize",
    "session-ids": "normalize",
    "children-order": "normalize",
    "fourlw-values": "normalize",
    "mntr-39": "normalize",
    "mntr-learner-queues": "normalize",
    "version-string": "normalize",
    "ZOOKEEPER-4655": "normalize",
    "ZOOKEEPER-2590": "step",
    "ZOOKEEPER-4026": "step",
    "ZOOKEEPER-4466": "step",
    "lone-check": "step",
}


def notification_zxid(o_ev, c_ev):
    """ZOOKEEPER-4655: 3.8 sends -1 as the zxid of a notification's reply
    header, 3.9 (and zkwire) the zxid of the change.  Forgiven only in that
    direction: the oracle says -1, the candidate a real (relative) zxid."""
    if isinstance(o_ev, dict) and isinstance(c_ev, dict) and o_ev.get("zxid") == -1 \
            and isinstance(c_ev.get("zxid"), str):
        o_ev = dict(o_ev)
        c_ev = dict(c_ev)
        o_ev.pop("zxid")
        c_ev.pop("zxid")
    return o_ev, c_ev


def forgive_notification_zxids(o, c):
    """Apply ZOOKEEPER-4655 to raw-actor events inside two normalized results."""
    if not (isinstance(o, dict) and isinstance(c, dict)):
        return o, c
    if "events" in o and "events" in c and len(o["events"]) == len(c["events"]):
        pairs = [notification_zxid(a, b) for a, b in zip(o["events"], c["events"])]
        o = dict(o, events=[p[0] for p in pairs])
        c = dict(c, events=[p[1] for p in pairs])
    if "event" in o and "event" in c:
        a, b = notification_zxid(o["event"], c["event"])
        o = dict(o, event=a)
        c = dict(c, event=b)
    return o, c


def compare_step(step, o, c):
    """-> None when the two normalized results agree (or differ exactly as the
    step's ``!diff`` entry documents), else a short reason."""
    o, c = forgive_notification_zxids(o, c)
    if step.diff:
        rule = STEP_RULES.get(step.diff)
        if rule is None:
            return "step marked !diff %s, which has no rule" % step.diff
        if rule(o, c):
            return None
        return "expected difference %s not observed" % step.diff
    return None if o == c else "results differ"


# --- rendering ------------------------------------------------------------------

def flatten(value, prefix="") -> list:
    """[(key, scalar)] for a side-by-side field diff."""
    out = []
    if isinstance(value, dict):
        if not value and prefix:
            out.append((prefix, "{}"))
        for k, v in value.items():
            out.extend(flatten(v, "%s.%s" % (prefix, k) if prefix else k))
    elif isinstance(value, list):
        if not value:
            out.append((prefix, "[]"))
        for i, v in enumerate(value):
            out.extend(flatten(v, "%s[%d]" % (prefix, i)))
    else:
        out.append((prefix, value))
    return out


def render(value) -> str:
    """A compact one-line form of a normalized result."""
    if isinstance(value, dict):
        if set(value) == {"err"}:
            return "error %s" % value["err"]
        if set(value) == {"ok"}:
            return "ok"
        parts = []
        for k, v in value.items():
            if k == "stat" and isinstance(v, dict):
                parts.append("stat{%s}" % " ".join("%s=%s" % (f, render(x)) for f, x in v.items()))
            else:
                parts.append("%s=%s" % (k, render(v)))
        return " ".join(parts)
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value) if (not value or " " in value) else value
    return repr(value) if value is None else str(value)
