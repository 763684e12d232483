"""Record Apache ZooKeeper's quorum traffic during dynamic reconfiguration.

Regenerate (as root, like quorum_capture.py, whose capture and stream cutting
this reuses), from the repository root::

    .venv/bin/python tests/golden/reconfig_capture.py        # rewrites quorum/reconfig.json
    .venv/bin/python tests/golden/reconfig_capture.py --keep /tmp/rc

Three Apache ZooKeeper 3.8.0 servers with ``reconfigEnabled=true`` and a super
digest (user ``super:pw``) start on 127.0.0.1; a 4th server, whose own zoo.cfg
lists the three and itself as an observer (the others' do not list it),
starts once they serve.  One window, ``reconfig``, then records, through a
kazoo client authenticated as the super user on the leader:

1. ``reconfig(joining="server.4=...:observer;127.0.0.1:<cp>")``: the
   reconfig PROPOSAL (a txn of type reconfig, 16, whose SetDataTxn holds the
   new config text), the followers' ACKs, COMMITANDACTIVATE to the followers
   and INFORMANDACTIVATE to the observer-to-be;
2. ``reconfig(leaving="4")``;
3. ``reconfig(leaving=<a follower>)`` and ``reconfig(joining=<it again>)``.

The notes give the zxid and text of each new config as the client got it.
The file has the format of tests/golden/quorum/*.json (quorum_capture.py).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import quorum_capture as qc

SUPER = "super:pw"
DIGEST = base64.b64encode(hashlib.sha1(SUPER.encode()).digest()).decode()


class ReconfigServer(qc.Server):
    def write_cfg(self, members, standalone=False):
        path = super().write_cfg(members, standalone)
        with open(path, "a") as f:
            f.write("reconfigEnabled=true\n")
        return path

    def start(self, members, standalone=False):
        cfg = self.write_cfg(members, standalone)
        log = open(self.log_path, "ab")
        log.write(b"\n===== start ensemble =====\n")
        log.flush()
        cmd = ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false",
               "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:" + DIGEST,
               "-Dorg.slf4j.simpleLogger.showDateTime=true",
               "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
               "-cp", qc.ZK_CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()


class ReconfigRun(qc.Run):
    def __init__(self, workdir):
        self.workdir = workdir
        self.servers = {}
        for sid in (1, 2, 3, 4):
            self.servers[sid] = ReconfigServer(sid, workdir,
                                               (qc.free_port(), qc.free_port(), qc.free_port()),
                                               observer=(sid == 4))
        self.members = list(self.servers.values())
        ports = []
        for s in self.members:
            ports += [s.qp, s.ep]
        self.capture = qc.Capture(workdir, ports)
        self.windows = []
        self._t0 = None
        self._notes = None

    def super_client(self, sid):
        from kazoo.client import KazooClient
        c = KazooClient(hosts="127.0.0.1:%d" % self.servers[sid].cp, timeout=10.0,
                        auth_data=[("digest", SUPER)])
        c.start(timeout=20)
        return c

    def reconfig(self):
        three = [self.servers[s] for s in (1, 2, 3)]
        for s in three:
            s.start(three)
        for sid in (1, 2, 3):
            self.wait_mode(sid)
        self.servers[4].start(self.members)
        self.wait_mode(4, ("follower", "observer"))
        self.begin("reconfig", "Incremental reconfigs on a 3.8.0 ensemble with "
                   "reconfigEnabled=true: an observer (server 4, running, outside the config) "
                   "joins and leaves, then a follower leaves and joins again.")
        leader = self.leader()
        self.note("roles %s, server 4: %s" % (self.roles(), self.servers[4].mode()))
        c = self.super_client(leader)
        o = self.servers[4]
        joining = "server.4=127.0.0.1:%d:%d:observer;127.0.0.1:%d" % (o.qp, o.ep, o.cp)
        data, st = c.reconfig(joining=joining, leaving=None, new_members=None)
        self.note("reconfig joining %r -> zxid %#x, config %r" % (joining, st.mzxid, data.decode()))
        qc.wait_until(lambda: o.mode() == "observer", 30, "server 4 to observe")
        self.note("server 4: %s" % o.mode())
        data, st = c.reconfig(joining=None, leaving="4", new_members=None)
        self.note("reconfig leaving '4' -> zxid %#x, config %r" % (st.mzxid, data.decode()))
        f = min(s for s in (1, 2, 3) if s != leader)
        data, st = c.reconfig(joining=None, leaving=str(f), new_members=None)
        self.note("reconfig leaving %r -> zxid %#x, config %r" % (str(f), st.mzxid,
                                                                  data.decode()))
        m = self.servers[f]
        back = "server.%d=127.0.0.1:%d:%d:participant;127.0.0.1:%d" % (f, m.qp, m.ep, m.cp)
        data, st = c.reconfig(joining=back, leaving=None, new_members=None)
        self.note("reconfig joining %r -> zxid %#x, config %r" % (back, st.mzxid, data.decode()))
        c.stop()
        c.close()
        time.sleep(1.0)
        self.note("roles %s, server 4: %s" % (self.roles(), o.mode()))
        self.end()

    def run(self):
        self.capture.start()
        try:
            self.reconfig()
        finally:
            for s in self.members:
                s.stop()
            self.capture.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep pcap, logs, dataDirs")
    ap.add_argument("--out", default=qc.OUT_DIR)
    args = ap.parse_args(argv)
    if args.keep:
        if os.path.exists(args.keep):
            shutil.rmtree(args.keep)
        os.makedirs(args.keep)
        workdir = args.keep
    else:
        workdir = tempfile.mkdtemp(prefix="zk-reconfig-capture-")
    try:
        run = ReconfigRun(workdir)
        run.run()
        run.write_files(args.out)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(qc.HERE))
    sys.exit(main())
