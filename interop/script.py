"""The scenario script format (interop/scenarios/*.zks).

Theory of operation
-------------------
A scenario file holds the scenarios of one area.  A scenario starts with a
``== title`` line; every following non-blank, non-comment line is one *step*::

    == a data watch fires once
    c1 create /a "v0"
    c1 get /a watch
    c2 set /a "v1"
    c1 events                      # -> [NodeDataChanged /a]
    c2 set /a "v2"
    c1 events                      # -> []  (watches are one-shot)

A step is ``ACTOR OP ARGS...``.  Tokens are separated by blanks; a token may be
double-quoted (``"two words"``, with ``\\"`` and ``\\\\`` escapes).  ``#`` starts a
comment outside quotes.  Actors are ``c1``..``c9`` (the client under test: kazoo,
the Java client, the C client or node-zookeeper-client, whichever is running the
scenario) and ``r1``..``r9`` (a raw wire-protocol session driven by the runner
itself: it sends exactly the bytes a step asks for, and can stop pinging to let
its session expire).  An actor connects on first use, with a chroot at the
scenario's own root node, so ``/a`` in one scenario never meets ``/a`` in
another; ``connect nochroot`` reaches the real root (``$ROOT`` expands to the
scenario's root path there, ``$CLIENT`` the name of the client under test).

Each step's reply, error code and Stat is recorded; ``events`` records the watch
events an actor has received so far (after a round trip, so every event the
server sent before it is in), ``expect-event [SECONDS]`` waits for the next one.
The runner runs the same scenario against Apache ZooKeeper and zkwire and
compares the two transcripts step by step.

Directives (lines starting with ``!``, before the first step):

``!xfail REASON``  the scenario needs a feature zkwire has not built yet: it is
                   a strict expected failure (it must fail today, and fails the
                   suite the day the feature lands and the marker stays).
``!config KEY=VALUE``  run on a separate pair of servers whose zoo.cfg also
                   has this line (started once per distinct configuration).
``!needs FEATURE``  a client feature beyond the ops the steps use (e.g.
                   ``error.QUOTAEXCEEDED``: a client that cannot even represent
                   that error code does not run the scenario).

Step suffix ``!diff ID`` marks one step where zkwire is expected to differ from
ZooKeeper 3.8 for a reason documented under ``ID`` in interop/DIFFERENCES.rst;
the runner applies only that entry's rule to that step.

The full list of ops and their arguments is in :data:`OPS`.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO_DIR = os.path.join(HERE, "scenarios")

#: op -> one-line usage.  ``PATH`` is a znode path (relative to the scenario
#: root unless the actor connected ``nochroot``), ``DATA`` a quoted string (or
#: ``null``), ``VERSION`` an int (default -1), ``ACL`` a comma-separated list of
#: ``scheme:id:perms`` (perms from ``cdrwa``) or ``open``/``read``/``creator``,
#: ``MODE`` any of ``persistent ephemeral sequential container`` plus ``ttl=MS``.
OPS = {
    "connect": "connect [timeout=MS] [nochroot]",
    "close": "close",
    "create": "create PATH [DATA] [MODE...] [acl=ACL] [ttl=MS]",
    "create2": "create2 PATH [DATA] [MODE...] [acl=ACL] [ttl=MS]   (create returning the Stat)",
    "delete": "delete PATH [VERSION]",
    "exists": "exists PATH [watch]",
    "get": "get PATH [watch]",
    "set": "set PATH DATA [VERSION]",
    "children": "children PATH [watch]",
    "children2": "children2 PATH [watch]   (getChildren2: children and the parent's Stat)",
    "getacl": "getacl PATH",
    "setacl": "setacl PATH ACL [VERSION]",
    "sync": "sync PATH",
    "multi": "multi OP ; OP ; ...   (OP: create/create2/delete/set/check with their arguments)",
    "multiread": "multiread OP ; OP ; ...   (OP: get/children)",
    "check": "check PATH VERSION   (raw actors only outside a multi)",
    "auth": "auth SCHEME CREDENTIAL",
    "whoami": "whoami",
    "ephemerals": "ephemerals [PREFIX]",
    "count": "count PATH   (getAllChildrenNumber)",
    "addwatch": "addwatch PATH persistent|recursive",
    "removewatches": "removewatches PATH child|data|any|persistent|recursive   (the last two: raw actors)",
    "reconfig": "reconfig JOINING LEAVING MEMBERS [CONFIG_ID]   (use - for none)",
    "4lw": "4lw WORD   (the output's shape: keys, not values)",
    "events": "events   (watch events received so far, after a round trip)",
    "expect-event": "expect-event [SECONDS]   (wait for the next watch event)",
    # raw actors only
    "freeze": "freeze   (raw: stop pinging, so the session expires)",
    "expect-closed": "expect-closed [SECONDS]   (raw: wait until the server closes the connection)",
    "send": "send HEX   (raw: one frame with this payload, reply recorded)",
    "resume": "resume rN [timeout=MS]   (raw: connect with rN's session id and password)",
}
RAW_ONLY = frozenset(("freeze", "expect-closed", "send", "resume"))
MULTI_SUB_OPS = frozenset(("create", "create2", "delete", "set", "check"))
MULTIREAD_SUB_OPS = frozenset(("get", "children"))

ACTOR_RE = re.compile(r"^[cr][1-9]$")


class ScriptError(ValueError):
    pass


def tokenize(line: str) -> list:
    """Split a step into tokens (quotes kept off, escapes resolved); drops a
    trailing ``# comment``.  Quoted tokens come back as :class:`Quoted` so an
    empty string survives and ``null`` can be told from ``"null"``."""
    out = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            break
        if ch == '"':
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise ScriptError("unterminated quote")
                ch = line[i]
                if ch == "\\" and i + 1 < n:
                    buf.append(line[i + 1])
                    i += 2
                    continue
                if ch == '"':
                    i += 1
                    break
                buf.append(ch)
                i += 1
            out.append(Quoted("".join(buf)))
            continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        out.append(line[i:j])
        i = j
    return out


class Quoted(str):
    """A token that was written in quotes."""


def quote(token: str) -> str:
    if isinstance(token, Quoted) or token == "" or any(c.isspace() or c in '"#\\' for c in token):
        return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return token


class Step:
    """One line of a scenario."""

    def __init__(self, actor, op, args, lineno, source, diff=None):
        self.actor = actor
        self.op = op
        self.args = args          # tokens after the op (Quoted for quoted ones)
        self.lineno = lineno
        self.source = source      # the line as written (for reports)
        self.diff = diff          # DIFFERENCES.rst entry expected on this step

    def text(self, root: str | None = None) -> str:
        """The step as a canonical line for a driver: ``$ROOT`` and
        ``$DIGEST(user:password)`` expanded, tokens re-quoted."""
        toks = [self.actor, self.op] + [quote(Quoted(expand(a, root))) if isinstance(a, Quoted)
                                        else expand(a, root) for a in self.args]
        return " ".join(toks)

    def sub_ops(self) -> list:
        """For multi/multiread: the ops between ``;`` separators."""
        ops, cur = [], []
        for a in self.args:
            if a == ";" and not isinstance(a, Quoted):
                ops.append(cur)
                cur = []
            else:
                cur.append(a)
        if cur:
            ops.append(cur)
        return ops

    def __repr__(self):
        return "<Step %d %s>" % (self.lineno, self.source)


def expand(token: str, root: str | None) -> str:
    """``$ROOT``: the scenario's root path; ``$CLIENT``: the client running it
    (the root's parent is ``/interop/$CLIENT``); ``$DIGEST(user:password)``."""
    if root is not None:
        token = token.replace("$ROOT", root)
        parts = root.split("/")
        if len(parts) > 2:
            token = token.replace("$CLIENT", parts[2])
    return re.sub(r"\$DIGEST\(([^)]*)\)", lambda m: digest_id(m.group(1)), token)


def digest_id(user_password: str) -> str:
    """ZooKeeper's digest ACL id for ``user:password``: ``user:base64(sha1)``."""
    user = user_password.split(":", 1)[0]
    h = base64.b64encode(hashlib.sha1(user_password.encode()).digest()).decode()
    return "%s:%s" % (user, h)


class Scenario:
    def __init__(self, area, title, lineno, path):
        self.area = area
        self.title = title
        self.lineno = lineno
        self.path = path
        self.xfail = None
        self.needs = set()       # client features beyond the ops (!needs ...)
        self.config = {}         # zoo.cfg lines for a server pair of its own (!config ...)
        self.steps = []

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return "%s:%s" % (self.area, slug)

    def actors(self) -> list:
        seen = []
        for s in self.steps:
            if s.actor not in seen:
                seen.append(s.actor)
        return seen

    def client_ops(self) -> set:
        """The ops the client under test (actors c*) must support."""
        ops = set(self.needs)
        for s in self.steps:
            if s.actor.startswith("c"):
                ops.add(s.op)
                if s.op in ("multi", "multiread"):
                    ops.update("%s.%s" % (s.op, sub[0]) for sub in s.sub_ops() if sub)
                ops.update(_step_features(s))
        return ops

    def __repr__(self):
        return "<Scenario %s>" % self.id


def _step_features(step) -> set:
    """Finer-grained needs than the op name (a client may support ``create``
    but not containers)."""
    feats = set()
    words = [a for a in step.args if not isinstance(a, Quoted)]
    if step.op in ("create", "create2", "multi"):
        for w in words:
            if w == "container":
                feats.add("mode.container")
            elif w.startswith("ttl="):
                feats.add("mode.ttl")
    if step.op == "connect" and "nochroot" in words:
        feats.add("connect.nochroot")
    if step.op == "create" and any(isinstance(a, str) and a == "null" and not isinstance(a, Quoted)
                                   for a in step.args[1:2]):
        feats.add("data.null")
    return feats


def parse_file(path: str) -> list:
    area = os.path.splitext(os.path.basename(path))[0]
    scenarios = []
    cur = None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            where = "%s:%d" % (os.path.basename(path), lineno)
            if stripped.startswith("=="):
                cur = Scenario(area, stripped[2:].strip(), lineno, path)
                scenarios.append(cur)
                continue
            if cur is None:
                raise ScriptError("%s: step before the first '== title'" % where)
            if stripped.startswith("!"):
                word, _, rest = stripped[1:].partition(" ")
                if word == "xfail" and rest.strip():
                    if cur.steps:
                        raise ScriptError("%s: !xfail must come before the steps" % where)
                    cur.xfail = rest.strip()
                    continue
                if word == "config" and "=" in rest:
                    key, _, value = rest.strip().partition("=")
                    cur.config[key.strip()] = value.strip()
                    continue
                if word == "needs" and rest.strip():
                    cur.needs.update(rest.split())
                    continue
                raise ScriptError("%s: unknown directive %r" % (where, stripped))
            body, diff = stripped, None
            m = re.search(r"\s!diff\s+(\S+)\s*$", body)
            if m:
                body, diff = body[:m.start()], m.group(1)
            try:
                toks = tokenize(body)
            except ScriptError as e:
                raise ScriptError("%s: %s" % (where, e)) from None
            if len(toks) < 2 or not ACTOR_RE.match(toks[0]):
                raise ScriptError("%s: expected 'ACTOR OP ...', got %r" % (where, stripped))
            actor, op, args = toks[0], toks[1], toks[2:]
            if op not in OPS:
                raise ScriptError("%s: unknown op %r" % (where, op))
            if op in RAW_ONLY and not actor.startswith("r"):
                raise ScriptError("%s: %s is for raw actors (r1..r9)" % (where, op))
            step = Step(actor, op, args, lineno, stripped, diff)
            if op in ("multi", "multiread"):
                allowed = MULTI_SUB_OPS if op == "multi" else MULTIREAD_SUB_OPS
                for sub in step.sub_ops():
                    if not sub or sub[0] not in allowed:
                        raise ScriptError("%s: bad %s sub-op %r" % (where, op, sub))
            cur.steps.append(step)
    for s in scenarios:
        if not s.steps:
            raise ScriptError("%s:%d: scenario %r has no steps" % (path, s.lineno, s.title))
    return scenarios


def load_all(directory: str = SCENARIO_DIR) -> list:
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".zks"):
            out.extend(parse_file(os.path.join(directory, name)))
    ids = [s.id for s in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ScriptError("duplicate scenario titles: %s" % ", ".join(sorted(dup)))
    return out


# --- argument helpers shared by the Python drivers ------------------------------

PERM_LETTERS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}
NAMED_ACLS = {
    "open": [(31, "world", "anyone")],
    "read": [(1, "world", "anyone")],
    "creator": [(31, "auth", "")],
}


def parse_acl(spec: str) -> list:
    """``world:anyone:cdrwa,digest:bob:HASH:r`` -> [(perms, scheme, id)]."""
    if spec in NAMED_ACLS:
        return list(NAMED_ACLS[spec])
    if spec == "empty":
        return []
    out = []
    for entry in spec.split(","):
        scheme, _, rest = entry.partition(":")
        ident, _, perms = rest.rpartition(":")
        bits = 0
        for ch in perms:
            if ch not in PERM_LETTERS:
                raise ScriptError("bad permission letter %r in %r" % (ch, entry))
            bits |= PERM_LETTERS[ch]
        out.append((bits, scheme, ident))
    return out


def perms_text(bits: int) -> str:
    s = "".join(ch for ch in "cdrwa" if bits & PERM_LETTERS[ch])
    extra = bits & ~31
    return s + ("+%d" % extra if extra else "") if (s or extra) else "-"


class CreateArgs:
    """Arguments of create/create2 parsed once, for every Python driver."""

    def __init__(self, args):
        if not args:
            raise ScriptError("create needs a path")
        self.path = args[0]
        self.data = b""
        self.ephemeral = self.sequential = self.container = False
        self.ttl = None
        self.acl = NAMED_ACLS["open"]
        rest = list(args[1:])
        if rest and (isinstance(rest[0], Quoted) or rest[0] == "null"):
            d = rest.pop(0)
            self.data = None if (d == "null" and not isinstance(d, Quoted)) else d.encode()
        for w in rest:
            if w == "persistent":
                pass
            elif w == "ephemeral":
                self.ephemeral = True
            elif w == "sequential":
                self.sequential = True
            elif w == "container":
                self.container = True
            elif w.startswith("ttl="):
                self.ttl = int(w[4:])
            elif w.startswith("acl="):
                self.acl = parse_acl(w[4:])
            else:
                raise ScriptError("bad create argument %r" % w)

    @property
    def flags(self) -> int:
        if self.container:
            return 4
        if self.ttl is not None:
            return 6 if self.sequential else 5
        return (1 if self.ephemeral else 0) | (2 if self.sequential else 0)


def data_arg(tok) -> bytes | None:
    if tok == "null" and not isinstance(tok, Quoted):
        return None
    return tok.encode()


def version_arg(args, i, default=-1) -> int:
    return int(args[i]) if len(args) > i else default
