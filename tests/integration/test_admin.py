"""The AdminServer (JSON over HTTP), against zkwire and Apache ZooKeeper.

Expectations are Apache ZooKeeper 3.8.0's, observed on Debian's package
(3.8.0-11+deb12u2, OpenJDK 17) started by tests/servers.py with
admin.enableServer=true, admin.serverAddress=127.0.0.1 and a free
admin.serverPort (the JVM needs /usr/share/java/servlet-api.jar on its class
path: Debian's zookeeper.jar manifest leaves it out, and without it
ZooKeeper runs with no AdminServer and says nothing).  What 3.9 changed is
taken from the release-3.9.5 source (Commands.java) and marked with
``since_39``: 3.9 registers ``restore`` and ``snapshot``, both behind an
Authorization header and the ALL permission on ``/``.

Observed on 3.8.0 (one kazoo session that created an ephemeral /w and left a
data watch on it):

* ``GET /commands`` (and ``/commands/``): one ``<a href="/commands/N">N</a>``
  line and one ``<br/>`` line per primary name, sorted;
* every command answers ``application/json`` pretty-printed by Jackson
  (``{``, two-space indents, ``"key" : value``, ``[ a, b ]`` arrays, ``[ ]``
  and ``{ }`` when empty, no newline at the end), its own fields first, then
  ``command`` (the primary name, whatever alias was asked) and ``error``;
* an unknown name: 200 and ``"error" : "Unknown command: <name>"``;
* a path outside the command URL: 404;
* the key lists and values asserted below.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from servers import ServerProcess, free_port, since_39, target_kind  # noqa: E402

NAMES_38 = [
    "configuration", "connection_stat_reset", "connections", "dirs", "dump", "environment",
    "get_trace_mask", "hash", "initial_configuration", "is_read_only", "last_snapshot",
    "leader", "monitor", "observer_connection_stat_reset", "observers", "ruok",
    "server_stats", "set_trace_mask", "stat_reset", "stats", "system_properties",
    "voting_view", "watch_summary", "watches", "watches_by_path", "zabstate",
]
NAMES_39 = sorted(NAMES_38 + ["restore", "snapshot"])


def admin_server(cfg=None, sysprops=None):
    port = free_port()
    c = {"admin.enableServer": "true", "admin.serverPort": str(port),
         "admin.serverAddress": "127.0.0.1"}
    c.update(cfg or {})
    srv = ServerProcess(target_kind(), cfg=c, sysprops=sysprops)
    srv.admin_port = port
    return srv.start()


def http(srv, path, headers=None, data=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (srv.admin_port, path),
                                 headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")


def command(srv, name, **kw):
    status, headers, body = http(srv, "/commands/" + name, **kw)
    assert headers.get("Content-Type") == "application/json", (name, headers)
    return status, body, json.loads(body)


@pytest.fixture(scope="module")
def srv():
    from kazoo.client import KazooClient

    s = admin_server()
    zk = KazooClient(hosts=s.hosts)
    zk.start()
    zk.create("/w", b"", ephemeral=True)
    zk.get("/w", watch=lambda e: None)
    s.session_id = zk.client_id[0]
    yield s
    zk.stop()
    zk.close()
    s.cleanup()


def test_command_list(srv):
    names = since_39(NAMES_38, NAMES_39)
    want = "".join('<a href="/commands/%s">%s</a>\n<br/>\n' % (n, n) for n in names)
    for path in ("/commands", "/commands/"):
        status, _, body = http(srv, path)
        assert (status, body) == (200, want)


def test_ruok_is_jackson_pretty_printed(srv):
    status, body, _ = command(srv, "ruok")
    assert status == 200
    assert body == '{\n  "command" : "ruok",\n  "error" : null\n}'


def test_unknown_command_and_other_paths(srv):
    assert command(srv, "nosuch")[:2] == (
        200, '{\n  "command" : "nosuch",\n  "error" : "Unknown command: nosuch"\n}')
    assert http(srv, "/")[0] == 404
    assert http(srv, "/elsewhere/ruok")[0] == 404


@pytest.mark.parametrize("alias, primary", [
    ("crst", "connection_stat_reset"), ("conf", "configuration"), ("config", "configuration"),
    ("cons", "connections"), ("env", "environment"), ("envi", "environment"),
    ("gtmk", "get_trace_mask"), ("icfg", "initial_configuration"), ("isro", "is_read_only"),
    ("lsnp", "last_snapshot"), ("lead", "leader"), ("mntr", "monitor"),
    ("orst", "observer_connection_stat_reset"), ("srvr", "server_stats"), ("stat", "stats"),
    ("srst", "stat_reset"), ("obsr", "observers"), ("sysp", "system_properties"),
    ("wchc", "watches"), ("wchp", "watches_by_path"), ("wchs", "watch_summary"),
])
def test_aliases_answer_with_the_primary_name(srv, alias, primary):
    assert command(srv, alias)[2]["command"] == primary


def keys(d):
    return list(d)


def test_field_names(srv):
    tail = ["command", "error"]
    conf = command(srv, "configuration")[2]
    assert keys(conf) == ["client_port", "data_dir", "data_log_dir", "tick_time",
                          "max_client_cnxns", "min_session_timeout", "max_session_timeout",
                          "server_id", "client_port_listen_backlog"] + tail
    assert (conf["client_port"], conf["tick_time"], conf["max_client_cnxns"],
            conf["min_session_timeout"], conf["max_session_timeout"], conf["server_id"],
            conf["error"]) == (srv.port, 500, 0, 1000, 10000, 0, None)
    assert conf["data_dir"] == os.path.join(srv.cfg["dataDir"], "version-2")
    assert keys(command(srv, "dirs")[2]) == ["datadir_size", "logdir_size"] + tail
    assert command(srv, "get_trace_mask")[2] == {"tracemask": 306, "command": "get_trace_mask",
                                                 "error": None}
    assert command(srv, "hash")[1] == ('{\n  "digests" : [ ],\n  "command" : "hash",\n'
                                       '  "error" : null\n}')
    assert command(srv, "is_read_only")[2]["read_only"] is False
    assert keys(command(srv, "last_snapshot")[2]) == ["zxid", "timestamp"] + tail
    assert command(srv, "leader")[1] == ('{\n  "error" : "server is not initialized",\n'
                                         '  "command" : "leader"\n}')
    assert command(srv, "observers")[2] == {"synced_observers": 0, "observers": [],
                                            "command": "observers", "error": None}
    assert command(srv, "voting_view")[1] == ('{\n  "current_config" : { },\n'
                                              '  "command" : "voting_view",\n  "error" : null\n}')
    assert command(srv, "zabstate")[2] == {"voting": False, "zabstate": "",
                                           "command": "zabstate", "error": None}
    env = command(srv, "environment")[2]
    assert keys(env) == ["zookeeper.version", "host.name", "java.version", "java.vendor",
                         "java.home", "java.class.path", "java.library.path", "java.io.tmpdir",
                         "java.compiler", "os.name", "os.arch", "os.version", "user.name",
                         "user.home", "user.dir", "os.memory.free", "os.memory.max",
                         "os.memory.total"] + tail


def test_server_stats_and_stats(srv):
    s = command(srv, "server_stats")[2]
    assert keys(s) == ["version", "read_only", "server_stats", "client_response", "node_count",
                       "command", "error"]
    assert keys(s["server_stats"]) == [
        "packets_sent", "packets_received", "fsync_threshold_exceed_count",
        "client_response_stats", "data_dir_size", "log_dir_size", "provider_null",
        "server_state", "last_processed_zxid", "outstanding_requests", "avg_latency",
        "max_latency", "min_latency", "num_alive_client_connections", "uptime",
        "auth_failed_count", "non_mtlsremote_conn_count", "non_mtlslocal_conn_count"]
    assert keys(s["client_response"]) == ["last_buffer_size", "min_buffer_size",
                                          "max_buffer_size"]
    assert s["server_stats"]["server_state"] == "standalone"
    assert s["node_count"] == 6      # /, /zookeeper, quota, config, /w ... and ZooKeeper's ""
    st = command(srv, "stats")[2]
    assert keys(st) == ["version", "read_only", "server_stats", "client_response", "node_count",
                        "connections", "secure_connections", "command", "error"]
    assert [keys(c) for c in st["connections"]] == [[
        "remote_socket_address", "interest_ops", "outstanding_requests", "packets_received",
        "packets_sent"]]
    assert st["secure_connections"] == []


def test_connections_and_watches(srv):
    sid = srv.session_id
    cons = command(srv, "connections")[2]
    assert keys(cons) == ["connections", "secure_connections", "command", "error"]
    (c,) = cons["connections"]
    assert keys(c) == ["remote_socket_address", "interest_ops", "outstanding_requests",
                       "packets_received", "packets_sent", "session_id", "last_operation",
                       "established", "session_timeout", "last_cxid", "last_zxid",
                       "last_response_time", "last_latency", "min_latency", "avg_latency",
                       "max_latency"]
    assert c["session_id"] == sid and c["session_timeout"] == 10000
    assert command(srv, "watch_summary")[2] == {
        "num_connections": 1, "num_paths": 1, "num_total_watches": 1,
        "command": "watch_summary", "error": None}
    assert command(srv, "watches")[2]["session_id_to_watched_paths"] == {str(sid): ["/w"]}
    assert command(srv, "watches_by_path")[2]["path_to_session_ids"] == {"/w": [sid]}
    dump = command(srv, "dump")[2]
    assert keys(dump) == ["expiry_time_to_session_ids", "session_id_to_ephemeral_paths",
                          "command", "error"]
    assert list(dump["expiry_time_to_session_ids"].values()) == [[sid]]
    assert dump["session_id_to_ephemeral_paths"] == {str(sid): ["/w"]}


def test_initial_configuration_is_the_file(srv):
    with open(os.path.join(srv.workdir, "zoo.cfg")) as f:
        text = f.read()
    assert command(srv, "initial_configuration")[2]["initial_configuration"] == text


def test_trace_mask(srv):
    assert command(srv, "set_trace_mask")[1] == (
        '{\n  "error" : "setTraceMask requires long traceMask argument",\n'
        '  "command" : "set_trace_mask"\n}')
    assert command(srv, "set_trace_mask?traceMask=x")[2]["error"] == (
        "setTraceMask requires long traceMask argument, got x")
    assert command(srv, "set_trace_mask?traceMask=770")[2]["tracemask"] == 770
    assert command(srv, "get_trace_mask")[2]["tracemask"] == 770
    assert command(srv, "set_trace_mask?traceMask=306")[2]["tracemask"] == 306


def test_monitor_has_mntr_keys(srv):
    m = command(srv, "monitor")[2]
    assert list(m)[:3] == ["version", "server_state", "ephemerals_count"]
    assert m["server_state"] == "standalone" and m["znode_count"] == 6
    assert m["ephemerals_count"] == 1 and m["watch_count"] == 1
    assert list(m)[-2:] == ["command", "error"]


def test_command_url_setting():
    s = admin_server(cfg={"admin.commandURL": "/adm"})
    try:
        status, _, body = http(s, "/adm")
        assert status == 200 and '<a href="/adm/ruok">ruok</a>' in body
        assert http(s, "/commands/ruok")[0] == 404
        assert json.loads(http(s, "/adm/ruok")[2])["command"] == "ruok"
    finally:
        s.cleanup()


def test_snapshot_and_restore_need_auth(srv):
    # 3.8.0 has neither command; 3.9's need "Authorization: <scheme> <auth>"
    # and the ALL permission on "/" (Commands.SnapshotCommand, RestoreCommand).
    st, _, body = command(srv, "snapshot")
    assert (st, body["error"]) == since_39((200, "Unknown command: snapshot"),
                                           (401, "Auth info is missing for the command"))
    st, _, body = command(srv, "snapshot", headers={"Authorization": "nosuchscheme x"})
    assert (st, body["error"]) == since_39((200, "Unknown command: snapshot"),
                                           (401, "Not authenticated"))
    # A POST: 3.8.0's servlet has no doPost (Jetty answers 405 with its HTML
    # page); 3.9 runs restore, which wants auth first.
    st, headers, text = http(srv, "/commands/restore", data=b"x")
    if target_kind() == "zookeeper":
        assert st == 405
    else:
        assert headers.get("Content-Type") == "application/json"
        assert (st, json.loads(text)["error"]) == (401, "Auth info is missing for the command")


def test_snapshot_is_refused_without_the_all_permission():
    from kazoo.client import KazooClient
    from kazoo.security import make_digest_acl

    s = admin_server()
    zk = KazooClient(hosts=s.hosts)
    zk.start()
    try:
        zk.add_auth("digest", "admin:pw")
        zk.set_acls("/", [make_digest_acl("admin", "pw", all=True)])
        st, _, body = command(s, "snapshot", headers={"Authorization": "digest other:pw"})
        assert (st, body["error"]) == since_39((200, "Unknown command: snapshot"),
                                               (403, "Not authorized"))
        st, _, body = command(s, "snapshot", headers={"Authorization": "digest admin:pw"})
        # zkwire answers as 3.9 does with zookeeper.admin.snapshot.enabled=false.
        assert (st, body["error"]) == since_39((200, "Unknown command: snapshot"), (503, None))
    finally:
        zk.stop()
        zk.close()
        s.cleanup()
