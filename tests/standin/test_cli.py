"""``zkwire serve --ephemeral-port --print-port --control-port --load`` and
``zkwire export``, as a script in another language would drive them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.states import KazooState

from .conftest import FAST_RETRY, WAIT_S, States


class Serve:
    """``zkwire serve`` in a subprocess; the ports it printed."""

    def __init__(self, *args, cwd=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zkwire", "serve", "--host", "127.0.0.1", "--ephemeral-port",
             "--print-port", "--log-level", "WARNING", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        # The first line is the client port, once it is bound; the process
        # exiting instead ends the read with "".
        self.port = int(self.proc.stdout.readline())
        self.control = int(self.proc.stdout.readline()) if "--control-port" in args else None

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        """-> (status, decoded JSON) of a control API call."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path),
                                     data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=WAIT_S) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        out, err = self.proc.communicate(timeout=WAIT_S)
        return self.proc.returncode, err


@pytest.fixture
def serve():
    started = []

    def start(*args, **kw):
        s = Serve(*args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


@pytest.fixture
def client():
    made = []

    def make(hosts, **options):
        c = KazooClient(hosts=hosts, **options)
        c.start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
        c.close()


def test_print_port_then_serve_until_sigterm(serve, client):
    s = serve()
    c = client(s.hosts)
    c.create("/hello", b"world")
    assert c.get("/hello")[0] == b"world"
    code, err = s.stop()
    assert code == 0, err


def test_control_api_drives_the_faults(serve, client):
    s = serve("--control-port", "0")
    c = client(s.hosts, timeout=4.0, connection_retry=FAST_RETRY)
    c.create("/eph", b"", ephemeral=True)
    sid = c.client_id[0]
    hex_sid = "0x%x" % sid

    status, body = s.call("GET", "/sessions")
    assert status == 200
    assert body["sessions"] == [{"session_id": hex_sid, "timeout_ms": 4000,
                                 "connected": True, "ephemerals": ["/eph"]}]

    states = States(c)
    assert s.call("POST", "/drop/" + hex_sid[2:]) == (200, {"dropped": 1})
    assert states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])[:2] == [
        KazooState.SUSPENDED, KazooState.CONNECTED]
    assert c.client_id[0] == sid

    states = States(c)
    assert s.call("POST", "/pause") == (200, {"paused": True})
    try:
        assert KazooState.SUSPENDED in states.wait_for([KazooState.SUSPENDED])
    finally:
        assert s.call("POST", "/resume") == (200, {"paused": False})
    assert KazooState.CONNECTED in states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])

    states = States(c)
    assert s.call("POST", "/expire/" + hex_sid) == (200, {"expired": hex_sid})
    assert states.wait_for([KazooState.LOST, KazooState.CONNECTED])[-1] == KazooState.CONNECTED
    assert c.exists("/eph") is None
    assert s.call("POST", "/expire/" + hex_sid)[0] == 404

    assert s.call("POST", "/delay/50") == (200, {"delay_ms": 50.0})
    assert s.call("POST", "/delay/0") == (200, {"delay_ms": 0.0})
    assert s.call("GET", "/pause")[0] == 405
    assert s.call("POST", "/nowhere")[0] == 404
    assert s.call("POST", "/delay/soon")[0] == 400

    c.create("/kept", b"1")
    assert s.call("POST", "/fail-disk?errno=ENOSPC") == (200, {"disk": "failing",
                                                               "errno": "ENOSPC"})
    with pytest.raises(ConnectionLoss):
        c.create("/lost", b"2")
    status, body = s.call("GET", "/status")
    assert body["serving"] is False and "No space left" in body["stopped_reason"]
    assert s.call("POST", "/expire/" + hex_sid)[0] == 409
    assert s.call("POST", "/heal-disk") == (200, {"disk": "ok"})
    assert s.call("POST", "/restart") == (200, {"port": s.port, "hosts": s.hosts})
    assert c.retry(c.get, "/kept")[0] == b"1"
    assert c.exists("/lost") is None
    assert s.call("POST", "/load", json.dumps({"/via/http": "x"}).encode()) == (200,
                                                                             {"created": 2})
    assert s.call("GET", "/export?path=/via") == (200, {"/via": "", "/via/http": "x"})
    code, err = s.stop()
    assert code == 0, err


def test_load_then_export_round_trip(serve, tmp_path):
    seed = {"/svc/a": "1", "/svc/b": {"base64": "AAE="}, "/other": None}
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    s = serve("--load", str(path))
    out = subprocess.run([sys.executable, "-m", "zkwire", "export", "--hosts", s.hosts],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"/other": None, "/svc": "", "/svc/a": "1",
                                      "/svc/b": {"base64": "AAE="}}
    sub = subprocess.run([sys.executable, "-m", "zkwire", "export", "--hosts", s.hosts,
                          "--path", "/svc", "-o", str(tmp_path / "svc.json")],
                         capture_output=True, text=True, timeout=30)
    assert sub.returncode == 0, sub.stderr
    assert json.loads((tmp_path / "svc.json").read_text(encoding="utf-8")) == {
        "/svc": "", "/svc/a": "1", "/svc/b": {"base64": "AAE="}}
    assert s.stop()[0] == 0


def test_a_bad_seed_file_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"no-slash": "x"}', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "zkwire", "serve", "--ephemeral-port",
                          "--load", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "zkwire: cannot load the seed: %s: invalid path 'no-slash': "
        "Path must start with / character" % path]
