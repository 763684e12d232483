"""Fast Leader Election between Apache ZooKeeper 3.8.0 and zkwire's election
port: one ensemble of three on 127.0.0.1, two Debian ZooKeeper servers and one
zkwire election peer (ElectionNetwork + ElectionRunner over the sans-IO
Election), every dataDir fresh.

All three are empty (zxid 0, epoch 0), so the highest sid must win
(FastLeaderElection's totalOrderPredicate; tests/golden/quorum/README.md: in
the first election of three empty 3.8.0 servers, 3 leads):

* zkwire as server 1: the Java servers 2 and 3 elect 3, and zkwire decides
  FOLLOWING 3.  The Java servers dial zkwire (smaller sid) and keep those
  connections; zkwire's own dials to them are closed after the handshake.
* zkwire as server 3: zkwire decides LEADING, and the Java servers' logs say
  they follow 3.  Here zkwire has the larger sid: it drops their dials and
  dials back.

The zkwire peer has no quorum port, so after the election the Java followers
fail to reach it as leader (and look again); only the election is under test.

The zkwire peer runs in a child process (this file run as a script) with its
own reactor; it prints one JSON line when it listens and one per decision.
Every process is stopped by its PID.  The test is zkwire's: it skips in the
ZKWIRE_TEST_TARGET=zookeeper pass, and when Debian's ZooKeeper is missing.
"""
from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from servers import apache_zookeeper_available, target_kind  # noqa: E402

pytestmark = [
    pytest.mark.skipif(target_kind() != "zkwire",
                       reason="zkwire's own election port against Apache ZooKeeper"),
    pytest.mark.skipif(not apache_zookeeper_available(),
                       reason="needs Debian's Apache ZooKeeper (/usr/share/java/zookeeper.jar)"),
]

#: Debian's zookeeper.jar names no slf4j binding: slf4j-simple logs to stderr at INFO.
JAVA_CLASSPATH = ":".join([
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/slf4j-simple.jar",
])
TICK_MS = 200
#: How long one election may take, start to decision (Java starts in ~1 s).
DECISION_TIMEOUT_S = 15.0

#: What 3.8.0 logs when its election is over (seen in the server logs of this
#: very setup, slf4j-simple at INFO): "FOLLOWING - LEADER ELECTION TOOK - <n> MS"
#: (Follower.followLeader) or "LEADING - LEADER ELECTION TOOK - <n> MS"
#: (Leader.lead).  The line names no leader; a follower's next lines do, by its
#: quorum address: "Unexpected exception, tries=0, remaining init limit=<ms>,
#: connecting to /127.0.0.1:<leader's quorum port>" while nothing listens there
#: (the zkwire peer), "Successfully connected to leader, using address:
#: /127.0.0.1:<port>" when a Java leader does.  Before that, FastLeaderElection
#: logs each notification it takes: "Notification: my state:LOOKING; n.sid:<sid>,
#: n.state:<STATE>, n.leader:<sid>, ...".
ELECTION_DONE = re.compile(r"(FOLLOWING|LEADING) - LEADER ELECTION TOOK")
NOTIFICATION = re.compile(
    r"Notification: my state:\w+; n\.sid:(-?\d+), n\.state:(\w+), n\.leader:(-?\d+)")


def notification_from(sid):
    """A notification from server ``sid`` in a 3.8.0 log, with our config version."""
    return re.compile(r"n\.sid:%d, n\.state:LOOKING, n\.leader:\d+, n\.round:0x1, "
                      r"n\.peerEpoch:0x0, n\.zxid:0x0, message format version:0x2, "
                      r"n\.config version:0x0" % sid)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# ----------------------------------------------------------------------------------------
# The zkwire election peer (child process)
# ----------------------------------------------------------------------------------------

def peer_main(argv):
    """``test_election_mixed.py peer <myid> <json {sid: server line}>``: run one
    zkwire election peer until SIGTERM, printing JSON events on stdout."""
    import logging
    import signal

    from twisted.internet import reactor

    from zkwire.server.edge.election_net import ElectionNetwork, ElectionRunner
    from zkwire.server.quorum.election import Election
    from zkwire.server.quorum.membership import build
    from zkwire.server.quorum.packets import PEER_STATE_NAMES

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    myid = int(argv[0])
    servers = {int(k): v for k, v in json.loads(argv[1]).items()}
    ms, _ = build(servers)

    def emit(**event):
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    election = Election(myid, ms, last_zxid=0, current_epoch=0,
                        config=ms.config_text().encode())
    net = ElectionNetwork(reactor, myid, ms)
    runner = ElectionRunner(
        reactor, election, net,
        on_decided=lambda state, vote: emit(event="decided", state=PEER_STATE_NAMES[state],
                                            leader=vote.leader, zxid=vote.zxid,
                                            election_epoch=vote.election_epoch,
                                            peer_epoch=vote.peer_epoch))
    def on_term(*_):
        reactor.callFromThread(reactor.stop)
    signal.signal(signal.SIGTERM, on_term)

    def go():
        net.start()
        emit(event="listening", port=net.address[1])
        runner.start()
    reactor.callWhenRunning(go)
    reactor.run(installSignalHandlers=False)


# ----------------------------------------------------------------------------------------
# The ensemble (test side)
# ----------------------------------------------------------------------------------------

class Ensemble:
    """Three members on 127.0.0.1: ``zkwire_sid`` is the zkwire peer, the
    others are Apache ZooKeeper 3.8.0."""

    def __init__(self, zkwire_sid, workdir):
        self.zkwire_sid = zkwire_sid
        self.workdir = workdir
        ports = free_ports(9)
        self.ports = {sid: ports[3 * (sid - 1):3 * sid] for sid in (1, 2, 3)}  # qp, ep, cp
        self.lines = {sid: "127.0.0.1:%d:%d" % (p[0], p[1]) for sid, p in self.ports.items()}
        self.procs = {}
        self.peer_events = queue.Queue()

    def java_sids(self):
        return [sid for sid in (1, 2, 3) if sid != self.zkwire_sid]

    def log_path(self, sid):
        return os.path.join(self.workdir, "zk%d" % sid, "server.log")

    def start_java(self, sid):
        d = os.path.join(self.workdir, "zk%d" % sid)
        data = os.path.join(d, "data")
        os.makedirs(data)
        with open(os.path.join(data, "myid"), "w") as f:
            f.write("%d\n" % sid)
        cfg = [
            "tickTime=%d" % TICK_MS, "initLimit=10", "syncLimit=5",
            "dataDir=%s" % data, "clientPort=%d" % self.ports[sid][2],
            "clientPortAddress=127.0.0.1", "admin.enableServer=false",
            "4lw.commands.whitelist=srvr",
        ] + ["server.%d=%s" % (s, line) for s, line in sorted(self.lines.items())]
        path = os.path.join(d, "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        with open(self.log_path(sid), "wb") as log:
            self.procs[sid] = subprocess.Popen(
                ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false",
                 "-Dorg.slf4j.simpleLogger.showDateTime=true",
                 "-cp", JAVA_CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain", path],
                stdout=log, stderr=subprocess.STDOUT, cwd=d)

    def start_zkwire(self):
        sid = self.zkwire_sid
        d = os.path.join(self.workdir, "zkwire%d" % sid)
        os.makedirs(d)
        self.peer_log = os.path.join(d, "peer.log")
        with open(self.peer_log, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "peer", str(sid),
                 json.dumps(self.lines)],
                stdout=subprocess.PIPE, stderr=log, cwd=d)
        self.procs[sid] = proc

        def read():
            for raw in proc.stdout:
                try:
                    self.peer_events.put(json.loads(raw))
                except ValueError:
                    pass
            self.peer_events.put(None)
        threading.Thread(target=read, daemon=True).start()

    def next_peer_event(self, kind, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.peer_events.get(timeout=max(left, 0.01))
            except queue.Empty:
                event = None
                left = 0
            if event is None:
                raise AssertionError("the zkwire peer sent no %r event (it %s); its log:\n%s"
                                     % (kind, "exited" if left > 0 else "timed out",
                                        self.tail(self.peer_log)))
            if event.get("event") == kind:
                return event

    def wait_log(self, sid, pattern, timeout_s, start=0):
        """The first match of ``pattern`` in server ``sid``'s log from offset
        ``start`` (waits for the line to be written)."""
        deadline = time.monotonic() + timeout_s
        path = self.log_path(sid)
        while True:
            m = pattern.search(self.read(path), start)
            if m:
                return m
            if self.procs[sid].poll() is not None or time.monotonic() > deadline:
                raise AssertionError("server %d logged no %r:\n%s"
                                     % (sid, pattern.pattern, self.tail(path)))
            time.sleep(0.05)

    def java_decision(self, sid, timeout_s):
        """(state, the notifications it took before) once server ``sid`` has
        logged the end of its election."""
        m = self.wait_log(sid, ELECTION_DONE, timeout_s)
        heard = [(int(a), b, int(c)) for a, b, c in NOTIFICATION.findall(m.string[:m.start()])]
        return m.group(1), heard, m.end()

    @staticmethod
    def read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, path, n=4000):
        return self.read(path)[-n:]

    def stop(self):
        for sid, proc in self.procs.items():
            if proc.poll() is None:
                proc.terminate()
        for sid, proc in self.procs.items():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def ensemble_for():
    made = []

    def make(zkwire_sid):
        e = Ensemble(zkwire_sid, tempfile.mkdtemp(prefix="zkwire-election-"))
        made.append(e)
        return e
    yield make
    for e in made:
        e.stop()
        shutil.rmtree(e.workdir, ignore_errors=True)


def test_zkwire_with_the_smallest_sid_follows_the_java_leader(ensemble_for):
    ens = ensemble_for(1)
    ens.start_zkwire()
    ens.next_peer_event("listening", DECISION_TIMEOUT_S)
    for sid in ens.java_sids():
        ens.start_java(sid)
    decided = ens.next_peer_event("decided", DECISION_TIMEOUT_S)
    # Usually 3 (the highest id); 2 when server 3's JVM comes up after 1 and
    # 2 have already made a quorum, as two Java servers would have too.
    # Either way zkwire follows the Java server that leads.
    assert decided["state"] == "FOLLOWING" and decided["leader"] in (2, 3), decided
    assert (decided["zxid"], decided["peer_epoch"]) == (0, 0), decided
    leader = decided["leader"]
    other = 5 - leader
    state_leader, _, _ = ens.java_decision(leader, DECISION_TIMEOUT_S)
    state_other, _, end = ens.java_decision(other, DECISION_TIMEOUT_S)
    assert (state_leader, state_other) == ("LEADING", "FOLLOWING")
    ens.wait_log(other, re.compile(r"connected to leader, using address: /127\.0\.0\.1:%d\b"
                                   % ens.ports[leader][0]), DECISION_TIMEOUT_S, end)
    # zkwire's notifications reached both Java servers.
    for sid in (2, 3):
        ens.wait_log(sid, notification_from(1), DECISION_TIMEOUT_S)


def test_zkwire_with_the_largest_sid_leads_the_java_servers(ensemble_for):
    ens = ensemble_for(3)
    ens.start_zkwire()
    ens.next_peer_event("listening", DECISION_TIMEOUT_S)
    for sid in ens.java_sids():
        ens.start_java(sid)
    decided = ens.next_peer_event("decided", DECISION_TIMEOUT_S)
    assert (decided["state"], decided["leader"]) == ("LEADING", 3), decided
    assert (decided["zxid"], decided["peer_epoch"]) == (0, 0), decided
    for sid in ens.java_sids():
        state, heard, end = ens.java_decision(sid, DECISION_TIMEOUT_S)
        assert state == "FOLLOWING", ens.tail(ens.log_path(sid))
        # Its own last vote was for 3, and zkwire's notifications reached it.
        assert [leader for s, _, leader in heard if s == sid][-1] == 3, heard
        ens.wait_log(sid, notification_from(3), DECISION_TIMEOUT_S)
        # It follows 3: it dials 3's quorum port (where nothing listens).
        ens.wait_log(sid, re.compile(r"connecting to /127\.0\.0\.1:%d\b" % ens.ports[3][0]),
                     DECISION_TIMEOUT_S, end)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "peer":
        peer_main(sys.argv[2:])
    else:
        sys.exit("usage: %s peer <myid> <json server lines>" % sys.argv[0])
