"""Who is in the ensemble: ``server.N`` lines, ``myid``, and majority quorums.

Theory of operation
-------------------
ZooKeeper reads the ensemble from ``server.N=`` lines (in zoo.cfg or a dynamic
config file), each of the form::

    host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]

with an IPv6 host written in brackets.  Participants vote; observers only
follow.  A quorum is a strict majority of the participants (QuorumMaj; the
hierarchical ``group.``/``weight.`` form is refused for now).  Which server
this process is comes from the first line of ``dataDir/myid``.

Whether the process runs an ensemble at all follows ZooKeeper's rule: it is
distributed when there are server lines and either ``standaloneEnabled`` is
false or more than one participant is listed.  A single participant with
``standaloneEnabled=true`` is the "HBase case": ZooKeeper logs an error,
ignores the line and starts standalone, and so do we.

Every function here is pure: text in, records or :class:`MembershipError` out.
"""
from __future__ import annotations

PARTICIPANT = "participant"
OBSERVER = "observer"


class MembershipError(ValueError):
    """A server line, myid or the set of members is not a valid ensemble."""


class Member:
    __slots__ = ("sid", "host", "quorum_port", "election_port", "role", "client_host",
                 "client_port")

    def __init__(self, sid, host, quorum_port, election_port, role=PARTICIPANT,
                 client_host=None, client_port=None):
        self.sid = sid
        self.host = host
        self.quorum_port = quorum_port
        self.election_port = election_port
        self.role = role
        self.client_host = client_host
        self.client_port = client_port

    def __eq__(self, other):
        return isinstance(other, Member) and all(
            getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __repr__(self):
        return "Member(%d, %s:%d:%d:%s, client=%s:%s)" % (
            self.sid, self.host, self.quorum_port, self.election_port, self.role,
            self.client_host, self.client_port)

    def config_line(self) -> str:
        """As ZooKeeper writes the member into its config string (election
        notifications, /zookeeper/config): ``server.N=h:qp:ep:role;ch:cp``."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        line = "server.%d=%s:%d:%d:%s" % (self.sid, host, self.quorum_port, self.election_port,
                                         self.role)
        if self.client_port is not None:
            line += ";%s:%d" % (self.client_host or "0.0.0.0", self.client_port)
        return line


def _host_and_ports(text: str, line: str) -> list:
    """``host:a:b...`` split at colons, an IPv6 host in brackets kept whole."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise MembershipError("%s: %r starts with '[' but has no matching ']'" % (line, text))
        rest = text[end + 1:]
        if not rest.startswith(":") or len(rest) == 1:
            raise MembershipError("%s: %r has no port after the address" % (line, text))
        return [text[1:end]] + rest[1:].split(":")
    return text.split(":")


def _port(value: str, line: str, what: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise MembershipError("%s: %s %r is not a number" % (line, what, value)) from None
    if not 0 <= port <= 65535:
        raise MembershipError("%s: %s %d is out of range" % (line, what, port))
    return port


FORM = ("host:quorumPort:electionPort[:participant|:observer]"
        "[;[clientHost:]clientPort]")


def parse_server(sid: int, value: str) -> Member:
    """One ``server.<sid>=<value>`` line."""
    line = "server.%d=%s" % (sid, value)
    parts = value.strip().split(";")
    if len(parts) > 2 and parts[2].strip():
        raise MembershipError("%s: a secure client port in the server line needs TLS, which "
                              "zkwire does not have yet" % line)
    server = parts[0].strip()
    if "|" in server:
        raise MembershipError("%s: several addresses for one server (multiAddress) are not "
                              "supported" % line)
    fields = _host_and_ports(server, line)
    if not 3 <= len(fields) <= 4:
        raise MembershipError("%s: expected %s" % (line, FORM))
    host = fields[0]
    quorum_port = _port(fields[1], line, "quorum port")
    election_port = _port(fields[2], line, "election port")
    if quorum_port == election_port:
        raise MembershipError("%s: the quorum and election ports must differ" % line)
    role = PARTICIPANT
    if len(fields) == 4:
        role = fields[3].strip().lower()
        if role not in (PARTICIPANT, OBSERVER):
            raise MembershipError("%s: unknown peer type %r" % (line, fields[3]))
    client_host = client_port = None
    if len(parts) > 1 and parts[1].strip():
        client = _host_and_ports(parts[1].strip(), line)
        if len(client) > 2:
            raise MembershipError("%s: expected %s" % (line, FORM))
        client_host = client[0] if len(client) == 2 else "0.0.0.0"
        client_port = _port(client[-1], line, "client port")
    return Member(sid, host, quorum_port, election_port, role, client_host, client_port)


def parse_myid(text: str) -> int:
    """The server id from ``dataDir/myid``: its first line, a decimal number
    (ZooKeeper's Long.parseLong: no spaces, an optional sign)."""
    first = text.split("\n", 1)[0]
    if first.endswith("\r"):
        first = first[:-1]
    digits = first[1:] if first[:1] in "+-" else first
    if not digits.isdigit() or not digits.isascii():
        raise MembershipError("myid: serverid %r is not a number" % first)
    return int(first)


class Membership:
    """The members and the majority rule over the participants."""

    def __init__(self, members, version=0):
        self.members = dict(members)
        self.version = version
        self.voters = {sid: m for sid, m in self.members.items() if m.role == PARTICIPANT}
        self.observers = {sid: m for sid, m in self.members.items() if m.role == OBSERVER}

    def is_quorum(self, sids) -> bool:
        """More than half of the participants are among ``sids``."""
        return sum(1 for s in set(sids) if s in self.voters) * 2 > len(self.voters)

    def config_text(self) -> str:
        """As ZooKeeper's QuorumMaj.toString: one ``server.N=`` line per
        member in its HashMap's order, then ``version=<hex>``."""
        lines = [self.members[sid].config_line() for sid in java_long_order(self.members)]
        lines.append("version=%x" % self.version)
        return "\n".join(lines)

    def with_version(self, version: int) -> "Membership":
        return Membership(self.members, version)

    def same_members(self, other) -> bool:
        return other is not None and self.members == other.members


def java_long_order(sids) -> list:
    """The order a ``java.util.HashMap<Long, ...>`` filled one key at a time
    iterates ``sids`` in: by bucket (Long.hashCode spread as HashMap.hash
    does, masked by a table of 16 doubled past 3/4 full), ties by sid (the
    insertion order of the maps ZooKeeper copies from, for the sids a
    reconfig produces)."""
    sids = list(sids)
    capacity = 16
    while len(sids) > capacity * 3 // 4:
        capacity *= 2

    def bucket(sid):
        v = sid & 0xFFFFFFFFFFFFFFFF
        h = (v ^ (v >> 32)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)
    return sorted(sids, key=lambda s: (bucket(s), s))


def parse_config_text(text: str) -> Membership:
    """A config string as ZooKeeper writes it (/zookeeper/config, a reconfig
    txn, NEWLEADER's data, a dynamic config file): ``server.N=`` lines and
    ``version=<hex>``; blank lines and ``#`` comments are skipped.  Raises
    MembershipError naming the line at fault."""
    servers = {}
    version = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise MembershipError("%r: expected key=value" % line)
        key, value = (x.strip() for x in line.split("=", 1))
        if key == "version":
            try:
                version = int(value, 16)
            except ValueError:
                raise MembershipError("%r: the version is not a hex number" % line) from None
        elif key.startswith("server."):
            try:
                sid = int(key[7:])
            except ValueError:
                raise MembershipError("%r: invalid server id" % line) from None
            servers[sid] = parse_server(sid, value)
        else:
            raise MembershipError("%r: only server.N and version lines belong in a dynamic "
                                  "configuration" % line)
    return Membership(servers, version)


def build(servers: dict, standalone_enabled: bool = True, version: int = 0):
    """``{sid: value}`` of server lines -> (Membership or None, warnings).

    None means "standalone": no server lines, or the single-participant case
    ZooKeeper ignores.  Raises MembershipError where ZooKeeper refuses."""
    warnings = []
    if not servers:
        if not standalone_enabled:
            raise MembershipError("standaloneEnabled=false needs server.N lines with at least "
                                  "one participant")
        return None, warnings
    ms = Membership({sid: parse_server(sid, v) for sid, v in servers.items()}, version)
    voters, observers = len(ms.voters), len(ms.observers)
    if voters == 0:
        if not standalone_enabled:
            raise MembershipError("standaloneEnabled=false needs at least one participant")
        if observers:
            raise MembershipError("observers without participants are not an ensemble")
        return None, warnings
    if voters == 1 and standalone_enabled:
        if observers:
            raise MembershipError("observers without a quorum (one participant, "
                                  "standaloneEnabled=true) are not an ensemble")
        warnings.append("only one server is listed: its server line is ignored and the "
                        "server runs standalone (as ZooKeeper does with standaloneEnabled=true)")
        return None, warnings
    if voters <= 2:
        warnings.append("%d participants tolerate no failure; 3 or more are needed for that"
                        % voters)
    elif voters % 2 == 0:
        warnings.append("%d participants tolerate no more failures than %d"
                        % (voters, voters - 1))
    return ms, warnings
