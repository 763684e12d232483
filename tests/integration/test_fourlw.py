"""Four-letter words, pinned to Apache ZooKeeper's output.

The text of a 4lw is written raw (no length prefix) on a fresh connection and the
server then closes it.  Outputs are compared by shape (line structure, the set and
order of lines / keys, formats of values) and, where the scenario makes them
deterministic, by value.  Version strings and counters that legitimately differ
between servers (latencies, packet totals, sizes, times) are only matched by format.

Servers here are private to this module (watch and connection listings must not
see other tests' clients).
"""
from __future__ import annotations

import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import ServerProcess, target_kind  # noqa: E402

from rawclient import (  # noqa: E402
    AUTH, AUTH_XID, CLOSE_SESSION, CREATE, CREATE2, DELETE, EPHEMERAL, EXISTS, GET_ACL,
    GET_CHILDREN, GET_CHILDREN2, GET_DATA, MULTI, MULTI_READ, NODE_CHILDREN_CHANGED, OK,
    OPEN_ACL, PING, PING_XID, SET_ACL, SET_DATA, SET_WATCHES, SET_WATCHES_XID, SYNC,
    RawConnection, auth_req, create_req, delete_req, four_letter, multi_req,
    path_only_req, path_req, set_acl_req, set_data_req, set_watches_req,
)

VERSION_LINE = r"Zookeeper version: \d+\.\d+\.\d+-[^\n]*, built on [^\n]+"
HEX = r"0x[0-9a-f]+"
# " /127.0.0.1:PORT[1](queued=0,recved=5,sent=6)" - [0] for a 4lw connection
CLIENT_LINE = r" /127\.0\.0\.1:(\d+)\[([01])\]\(queued=(\d+),recved=(\d+),sent=(\d+)\)"
CONS_LINE = re.compile(
    r" /127\.0\.0\.1:(?P<port>\d+)\[1\]\(queued=(?P<queued>\d+),recved=(?P<recved>\d+),"
    r"sent=(?P<sent>\d+),sid=(?P<sid>0x[0-9a-f]+),lop=(?P<lop>[A-Z]+),est=(?P<est>\d+),"
    r"to=(?P<to>\d+),(?:lcxid=(?P<lcxid>0x[0-9a-f]+),)?lzxid=(?P<lzxid>0x[0-9a-f]+),"
    r"lresp=(?P<lresp>\d+),llat=(?P<llat>\d+),minlat=(?P<minlat>\d+),avglat=(?P<avglat>\d+),"
    r"maxlat=(?P<maxlat>\d+)\)")
FOURLW_CONS_LINE = re.compile(r" /127\.0\.0\.1:\d+\[0\]\(queued=0,recved=1,sent=0\)")
JAVA_DATE = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} [A-Z]+ \d{4}"


def srvr_tail(connections, zxid, node_count):
    """Regexes of the lines srvr and stat share, from the latency line on."""
    return [
        r"Latency min/avg/max: \d+/\d+(\.\d+)?/\d+",
        r"Received: \d+",
        r"Sent: \d+",
        f"Connections: {connections}",
        r"Outstanding: 0",
        f"Zxid: 0x{zxid:x}" if zxid is not None else r"Zxid: 0x[0-9a-f]+",
        r"Mode: standalone",
        f"Node count: {node_count}",
    ]


def match_lines(text: str, patterns) -> list:
    """``text`` must be exactly these lines (each ending in \\n); returns the matches."""
    assert text.endswith("\n"), repr(text)
    lines = text[:-1].split("\n")
    assert len(lines) == len(patterns), f"{len(lines)} lines, want {len(patterns)}:\n{text}"
    out = []
    for line, pat in zip(lines, patterns):
        m = re.fullmatch(pat, line)
        assert m, f"line {line!r} does not match {pat!r}\n{text}"
        out.append(m)
    return out


def hexid(n: int) -> str:
    return f"0x{n:x}"


# ------------------------------------------------------------------ scenario


class Scenario:
    """Two sessions with watches, like the report's setup:

    A: create /fw; getData /fw watch; exists /fwx watch; getChildren / watch.
    B: getData /fw watch; create /fe ephemeral (fires and removes A's child watch on /).
    """

    def __init__(self, srv: ServerProcess):
        self.srv = srv
        self.port = srv.port
        self.t0_ms = int(time.time() * 1000)
        self.a = RawConnection(self.port)
        self.a.handshake()
        self.b = RawConnection(self.port)
        self.b.handshake()
        a, b = self.a, self.b
        assert a.call(CREATE, create_req("/fw")).err == OK
        assert a.call(GET_DATA, path_req("/fw", True)).err == OK
        a.call(EXISTS, path_req("/fwx", True))
        self.a_last = a.call(GET_CHILDREN, path_req("/", True))
        assert b.call(GET_DATA, path_req("/fw", True)).err == OK
        self.b_last = b.call(CREATE, create_req("/fe", flags=EPHEMERAL))
        assert self.b_last.err == OK
        n = a.read_frame()
        assert n.is_notification and n.event().type == NODE_CHILDREN_CHANGED
        self.zxid = self.b_last.zxid
        self.sid_a = a.session.session_id
        self.sid_b = b.session.session_id
        self.port_a = a.sock.getsockname()[1]
        self.port_b = b.sock.getsockname()[1]

    def close(self):
        for c in (self.a, self.b):
            c.close()


@pytest.fixture(scope="module")
def scenario():
    srv = ServerProcess(target_kind()).start()
    sc = Scenario(srv)
    yield sc
    sc.close()
    srv.cleanup()


@pytest.fixture
def own_server():
    srv = ServerProcess(target_kind()).start()
    yield srv
    srv.cleanup()


# ------------------------------------------------------------------ simple words


def test_ruok(scenario):
    assert four_letter(scenario.port, "ruok") == "imok"  # no newline


def test_ruok_ignores_what_follows(scenario):
    assert four_letter(scenario.port, "ruokruok") == "imok"


def test_isro(scenario):
    assert four_letter(scenario.port, "isro") == "rw"


@pytest.mark.parametrize("word", ["abcd", "RUOK"])
def test_unknown_word_gets_nothing(scenario, word):
    # Not a command: the 4 bytes are taken as a frame length; the server closes.
    assert four_letter(scenario.port, word) == ""


def test_dirs(scenario):
    assert re.fullmatch(r"datadir_size: \d+\nlogdir_size: \d+\n", four_letter(scenario.port, "dirs"))


# ------------------------------------------------------------------ fresh server


def test_fresh_server(own_server):
    port = own_server.port
    out = four_letter(port, "srvr")
    match_lines(out, [VERSION_LINE] + srvr_tail(1, 0, 5))
    # ZooKeeper counts the root twice ("" and "/"): 4 visible nodes, count 5.
    assert "\nLatency min/avg/max: 0/0.0/0\n" in out
    mntr = dict(line.split("\t", 1) for line in four_letter(port, "mntr").splitlines())
    assert mntr["zk_znode_count"] == "5"
    assert mntr["zk_watch_count"] == "0"
    assert mntr["zk_ephemerals_count"] == "0"
    assert mntr["zk_global_sessions"] == "0"
    assert four_letter(port, "wchs") == "0 connections watching 0 paths\nTotal watches:0\n"
    assert four_letter(port, "wchc") == "\n"
    assert four_letter(port, "wchp") == "\n"
    assert re.fullmatch(r" /127\.0\.0\.1:\d+\[0\]\(queued=0,recved=1,sent=0\)\n\n",
                        four_letter(port, "cons"))


# ------------------------------------------------------------------ srvr / stat / cons


def test_srvr(scenario):
    match_lines(four_letter(scenario.port, "srvr"),
                [VERSION_LINE] + srvr_tail(3, scenario.zxid, 7))


def test_stat(scenario):
    out = four_letter(scenario.port, "stat")
    ms = match_lines(out, [VERSION_LINE, "Clients:", CLIENT_LINE, CLIENT_LINE, CLIENT_LINE, ""]
                     + srvr_tail(3, scenario.zxid, 7))
    clients = {int(m.group(1)): m.groups()[1:] for m in ms[2:5]}
    # A: connect + 4 requests received; 4 replies + ConnectResponse + 1 notification sent.
    assert clients.pop(scenario.port_a) == ("1", "0", "5", "6")
    assert clients.pop(scenario.port_b) == ("1", "0", "3", "3")
    assert list(clients.values()) == [("0", "0", "1", "0")]  # this 4lw connection


def test_cons(scenario):
    out = four_letter(scenario.port, "cons")
    assert out.endswith("\n\n")
    lines = out[:-2].split("\n")
    assert len(lines) == 3, out
    assert sum(1 for ln in lines if FOURLW_CONS_LINE.fullmatch(ln)) == 1, out
    found = {}
    now_ms = int(time.time() * 1000)
    for ln in lines:
        if FOURLW_CONS_LINE.fullmatch(ln):
            continue
        m = CONS_LINE.fullmatch(ln)
        assert m, ln
        found[int(m["port"])] = m
        assert scenario.t0_ms - 1000 <= int(m["est"]) <= now_ms + 1000, ln
        assert m["to"] == "10000" and m["queued"] == "0"
        assert int(m["minlat"]) <= int(m["avglat"]) <= int(m["maxlat"])
    a, b = found[scenario.port_a], found[scenario.port_b]
    assert (a["sid"], a["lop"], a["lcxid"], a["lzxid"], a["recved"], a["sent"]) == (
        hexid(scenario.sid_a), "GETC", "0x4", hexid(scenario.a_last.zxid), "5", "6")
    assert (b["sid"], b["lop"], b["lcxid"], b["lzxid"], b["recved"], b["sent"]) == (
        hexid(scenario.sid_b), "CREA", "0x2", hexid(scenario.zxid), "3", "3")


def test_cons_last_operation_names(own_server):
    c = RawConnection(own_server.port)
    c.handshake()

    def lop_and_cxid() -> tuple:
        for ln in four_letter(own_server.port, "cons").splitlines():
            m = CONS_LINE.fullmatch(ln)
            if m and m["sid"] == hexid(c.session.session_id):
                return m["lop"], m["lcxid"]
        raise AssertionError("session not listed")

    assert lop_and_cxid() == ("SESS", "0x0")
    steps = [
        (CREATE, create_req("/n"), None, "CREA"),
        (CREATE2, create_req("/n2"), None, "CREA"),
        (EXISTS, path_req("/n"), None, "EXIS"),
        (GET_DATA, path_req("/n"), None, "GETD"),
        (SET_DATA, set_data_req("/n", b"x"), None, "SETD"),
        (GET_CHILDREN, path_req("/"), None, "GETC"),
        (GET_CHILDREN2, path_req("/"), None, "GETC"),
        (GET_ACL, path_only_req("/n"), None, "GETA"),
        (SET_ACL, set_acl_req("/n", OPEN_ACL), None, "SETA"),
        (SYNC, path_only_req("/"), None, "SYNC"),
        (MULTI, multi_req([]), None, "MULT"),
        (MULTI_READ, multi_req([]), None, "MLTR"),
        (SET_WATCHES, set_watches_req(0), SET_WATCHES_XID, "SETW"),
        (PING, b"", PING_XID, "PING"),
        (DELETE, delete_req("/n2"), None, "DELE"),
        (DELETE, delete_req("/nonexist"), None, "NA"),  # a failed write (error txn)
    ]
    for op, body, xid, lop in steps:
        f = c.call(op, body, xid=xid)
        assert lop_and_cxid()[0] == lop, (op, f.summary())
    assert lop_and_cxid()[1] == hex(14)  # xids 1..14 went to the non-special requests
    # addauth is not a "last operation": the previous one stays.
    c.call(AUTH, auth_req("digest", "u:p"), xid=AUTH_XID)
    assert lop_and_cxid()[0] == "NA"
    c.call(CLOSE_SESSION)
    c.close()


# ------------------------------------------------------------------ watches


def _parse_blocks(text: str, head: str, item: str) -> dict:
    """wchc / wchp bodies: header lines followed by tab-indented items; ends with a blank line."""
    assert re.fullmatch(rf"(?:{head}\n(?:\t{item}\n)+)*\n", text), repr(text)
    out: dict = {}
    key = None
    for ln in text[:-1].splitlines():
        if ln.startswith("\t"):
            assert ln[1:] not in out[key], f"duplicate {ln!r}"
            out[key].add(ln[1:])
        else:
            key = ln
            assert key not in out
            out[key] = set()
    return out


def test_wchs(scenario):
    assert four_letter(scenario.port, "wchs") == "2 connections watching 2 paths\nTotal watches:3\n"


def test_wchc(scenario):
    got = _parse_blocks(four_letter(scenario.port, "wchc"), HEX, r"/[^\n]*")
    # A's child watch on / fired when B created /fe, so it is gone.
    assert got == {hexid(scenario.sid_a): {"/fw", "/fwx"}, hexid(scenario.sid_b): {"/fw"}}


def test_wchp(scenario):
    got = _parse_blocks(four_letter(scenario.port, "wchp"), r"/[^\n]*", HEX)
    assert got == {"/fw": {hexid(scenario.sid_a), hexid(scenario.sid_b)},
                   "/fwx": {hexid(scenario.sid_a)}}


# ------------------------------------------------------------------ dump


def test_dump(scenario):
    out = four_letter(scenario.port, "dump")
    m = re.fullmatch(
        r"SessionTracker dump:\n"
        r"Session Sets \(\d+\)/\(2\):\n"
        rf"(?P<sessions>(?:\d+ expire at {JAVA_DATE}:\n(?:\t0x[0-9a-f]+\n)*)+)"
        r"ephemeral nodes dump:\n"
        r"Sessions with Ephemerals \(1\):\n"
        r"(?P<eph>0x[0-9a-f]+):\n\t/fe\n"
        r"Connections dump:\n"
        r"Connections Sets \(\d+\)/\(3\):\n"
        rf"(?P<conns>(?:\d+ expire at {JAVA_DATE}:\n"
        r"(?:\tip: /127\.0\.0\.1:\d+ sessionId: 0x[0-9a-f]+\n)*)+)",
        out)
    assert m, out
    assert set(re.findall(r"\t(0x[0-9a-f]+)\n", m["sessions"])) == {
        hexid(scenario.sid_a), hexid(scenario.sid_b)}
    assert m["eph"] == hexid(scenario.sid_b)
    conns = re.findall(r"\tip: /127\.0\.0\.1:(\d+) sessionId: (0x[0-9a-f]+)\n", m["conns"])
    assert sorted(sid for _, sid in conns) == sorted(
        [hexid(scenario.sid_a), hexid(scenario.sid_b), "0x0"])
    assert (str(scenario.port_a), hexid(scenario.sid_a)) in conns
    # "N expire at" counts the entries listed under it.
    for block in re.finditer(r"(\d+) expire at [^\n]*:\n((?:\t[^\n]*\n)*)", out):
        assert int(block[1]) == block[2].count("\n"), block[0]


# ------------------------------------------------------------------ conf / envi / mntr


CONF_KEYS = ["clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir",
             "dataLogSize", "tickTime", "maxClientCnxns", "minSessionTimeout",
             "maxSessionTimeout", "clientPortListenBacklog", "serverId"]


def test_conf(scenario):
    out = four_letter(scenario.port, "conf")
    assert out.endswith("\n")
    pairs = [ln.split("=", 1) for ln in out[:-1].split("\n")]
    assert [k for k, _ in pairs] == CONF_KEYS
    conf = dict(pairs)
    data_dir = os.path.join(scenario.srv.cfg["dataDir"], "version-2")
    assert conf == {
        "clientPort": str(scenario.port),
        "secureClientPort": "-1",
        "dataDir": data_dir,
        "dataDirSize": conf["dataDirSize"],
        "dataLogDir": data_dir,
        "dataLogSize": conf["dataLogSize"],
        "tickTime": "500",
        "maxClientCnxns": "0",
        "minSessionTimeout": "1000",
        "maxSessionTimeout": "10000",
        "clientPortListenBacklog": "-1",
        "serverId": "0",
    }
    assert conf["dataDirSize"].isdigit() and conf["dataLogSize"].isdigit()


ENVI_KEYS = ["zookeeper.version", "host.name", "java.version", "java.vendor", "java.home",
             "java.class.path", "java.library.path", "java.io.tmpdir", "java.compiler",
             "os.name", "os.arch", "os.version", "user.name", "user.home", "user.dir",
             "os.memory.free", "os.memory.max", "os.memory.total"]


def test_envi(scenario):
    out = four_letter(scenario.port, "envi")
    assert out.endswith("\n")
    lines = out[:-1].split("\n")
    assert lines[0] == "Environment:"
    pairs = [ln.split("=", 1) for ln in lines[1:]]
    assert all(len(p) == 2 for p in pairs), out
    assert [k for k, _ in pairs] == ENVI_KEYS
    env = dict(pairs)
    assert re.fullmatch(r"\d+\.\d+\.\d+-[^\n]*, built on [^\n]+", env["zookeeper.version"])
    for k in ("os.memory.free", "os.memory.max", "os.memory.total"):
        assert re.fullmatch(r"\d+MB", env[k]), (k, env[k])


def test_envi_version_is_what_kazoo_parses(own_server):
    from kazoo.client import KazooClient

    srvr = four_letter(own_server.port, "srvr")
    expected = tuple(int(x) for x in re.match(r"Zookeeper version: (\d+)\.(\d+)\.(\d+)-",
                                              srvr).groups())
    client = KazooClient(hosts=own_server.hosts, timeout=10.0)
    client.start(timeout=15)
    try:
        assert client.server_version() == expected
    finally:
        client.stop()
        client.close()


MNTR_FIRST_KEYS = [
    "zk_version", "zk_server_state", "zk_ephemerals_count", "zk_num_alive_connections",
    "zk_avg_latency", "zk_outstanding_requests", "zk_znode_count", "zk_global_sessions",
    "zk_non_mtls_remote_conn_count", "zk_last_client_response_size", "zk_packets_sent",
    "zk_packets_received", "zk_max_client_response_size", "zk_connection_drop_probability",
    "zk_watch_count", "zk_auth_failed_count", "zk_min_latency",
    "zk_max_file_descriptor_count", "zk_approximate_data_size",
    "zk_open_file_descriptor_count", "zk_local_sessions", "zk_uptime", "zk_max_latency",
]


def test_mntr(scenario):
    out = four_letter(scenario.port, "mntr")
    assert out.endswith("\n")
    lines = out[:-1].split("\n")
    for ln in lines:
        assert re.fullmatch(r"zk_[A-Za-z0-9_]+\t[^\t\n]*", ln), repr(ln)
    keys = [ln.split("\t", 1)[0] for ln in lines]
    assert len(keys) == len(set(keys))
    assert keys[:len(MNTR_FIRST_KEYS)] == MNTR_FIRST_KEYS
    m = dict(ln.split("\t", 1) for ln in lines)
    assert re.fullmatch(r"\d+\.\d+\.\d+-[^\n]*, built on [^\n]+", m["zk_version"])
    assert m["zk_server_state"] == "standalone"
    assert m["zk_ephemerals_count"] == "1"
    assert m["zk_num_alive_connections"] == "3"  # A, B and this one
    assert m["zk_outstanding_requests"] == "0"
    assert m["zk_znode_count"] == "7"  # same count as srvr's Node count
    assert m["zk_global_sessions"] == "2"
    assert m["zk_watch_count"] == "3"
    assert m["zk_local_sessions"] == "0"
    assert re.fullmatch(r"\d+(\.\d+)?", m["zk_avg_latency"])
    for k in ("zk_min_latency", "zk_max_latency", "zk_uptime", "zk_packets_sent",
              "zk_packets_received", "zk_approximate_data_size"):
        assert m[k].isdigit(), (k, m[k])


# ------------------------------------------------------------------ crst / srst


def test_crst_and_srst(own_server):
    port = own_server.port
    c = RawConnection(port)
    c.handshake()
    c.call(CREATE, create_req("/x"))
    c.call(GET_DATA, path_req("/x"))
    sid = hexid(c.session.session_id)

    assert four_letter(port, "crst") == "Connection stats reset.\n"
    lines = four_letter(port, "cons").splitlines()
    mine = [ln for ln in lines if f"sid={sid}," in ln]
    assert len(mine) == 1
    m = CONS_LINE.fullmatch(mine[0])
    assert m, mine[0]
    # After a reset there is no lcxid and lzxid is -1.
    assert (m["recved"], m["sent"], m["lop"], m["lcxid"], m["lzxid"], m["lresp"], m["llat"],
            m["minlat"], m["avglat"], m["maxlat"]) == (
        "0", "0", "NA", None, "0xffffffffffffffff", "0", "0", "0", "0", "0")
    stat = four_letter(port, "stat")
    assert re.search(r"\n /127\.0\.0\.1:%d\[1\]\(queued=0,recved=0,sent=0\)\n"
                     % c.sock.getsockname()[1], stat), stat

    assert four_letter(port, "srst") == "Server stats reset.\n"
    out = four_letter(port, "srvr")
    match_lines(out, [VERSION_LINE] + srvr_tail(2, None, 6))
    # Only this srvr request counted since the reset.
    assert "\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 1\n" in out
    c.call(CLOSE_SESSION)
    c.close()


# ------------------------------------------------------------------ whitelist


@pytest.fixture(scope="module")
def whitelisted():
    srv = ServerProcess(target_kind(), cfg={"4lw.commands.whitelist": "srvr,ruok"}).start()
    yield srv
    srv.cleanup()


@pytest.mark.parametrize("word", ["envi", "stat", "mntr", "isro", "conf", "cons", "wchs",
                                  "dump", "crst"])
def test_word_not_in_whitelist(whitelisted, word):
    assert four_letter(whitelisted.port, word) == (
        f"{word} is not executed because it is not in the whitelist.\n")


def test_whitelisted_words_work(whitelisted):
    assert four_letter(whitelisted.port, "ruok") == "imok"
    match_lines(four_letter(whitelisted.port, "srvr"), [VERSION_LINE] + srvr_tail(1, None, 5))
    assert four_letter(whitelisted.port, "abcd") == ""


# ------------------------------------------------------------------ gtmk / stmk / hash
#
# Observed on Apache ZooKeeper 3.8.0 (Debian), standalone, tests/servers.py's
# zoo.cfg: gtmk answers "306" (ZooTrace's default text trace mask, printed
# without a newline); stmk followed by an 8-byte big-endian mask in the same
# write answers that mask in decimal and gtmk then answers it too; a bare stmk
# is closed with nothing written; hash on a server that has logged fewer than
# 128 zxids answers nothing (its digest log is empty).


def test_trace_mask_words(own_server):
    import struct

    port = own_server.port
    assert four_letter(port, "gtmk") == "306"
    assert four_letter(port, b"stmk" + struct.pack(">q", 0x1234)) == "4660"
    assert four_letter(port, "gtmk") == "4660"
    assert four_letter(port, b"stmk" + struct.pack(">q", 770)) == "770"
    assert four_letter(port, "gtmk") == "770"
    assert four_letter(port, "stmk") == ""
    assert four_letter(port, "gtmk") == "770"


def test_hash_on_a_young_server(own_server):
    assert four_letter(own_server.port, "hash") == ""


def test_isro_is_enabled_by_readonlymode():
    # FourLetterCommands.isEnabled adds isro when readonlymode.enabled=true,
    # whatever 4lw.commands.whitelist says (as it always adds srvr).
    srv = ServerProcess(target_kind(), cfg={"4lw.commands.whitelist": "ruok"},
                        sysprops={"readonlymode.enabled": "true"}).start()
    try:
        assert four_letter(srv.port, "isro") == "rw"
        assert four_letter(srv.port, "conf") == (
            "conf is not executed because it is not in the whitelist.\n")
    finally:
        srv.cleanup()
