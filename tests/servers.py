"""Start a real listening server for integration tests: zkwire or Apache ZooKeeper.

Both are started the same way, from one generated ``zoo.cfg``, so a test suite can
run unchanged against either.  ``ZKWIRE_TEST_TARGET=zookeeper`` points the kazoo
integration tests at Apache ZooKeeper (Debian's ``zookeeper`` package): that is how
the expectations in those tests were checked against the real server.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ZK_CLASSPATH = ":".join(
    [
        "/etc/zookeeper/conf",
        "/usr/share/java/zookeeper.jar",
        # Debian's zookeeper.jar manifest omits these; the server wants netty-codec,
        # and its Netty connection factory (the secure port) the other two.
        "/usr/share/java/netty-codec.jar",
        "/usr/share/java/netty-resolver.jar",
        "/usr/share/java/netty-transport-native-unix-common.jar",
        # ... and javax.servlet: without it the AdminServer's Jetty cannot load
        # and ZooKeeper silently runs without one (tests/integration/test_admin.py).
        "/usr/share/java/servlet-api.jar",
    ]
)

DEFAULT_CFG = {
    "tickTime": "500",
    "4lw.commands.whitelist": "*",
    "admin.enableServer": "false",
    "maxClientCnxns": "0",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (for state
    that no event announces, such as a server's view seen from outside)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def four_letter(port: int, word: str, timeout_s: float = 5.0) -> str:
    """A four-letter word's answer from 127.0.0.1:``port`` ("" if none)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def apache_zookeeper_available() -> bool:
    return os.path.exists("/usr/share/java/zookeeper.jar") and shutil.which("java") is not None


class ServerProcess:
    """One server process on 127.0.0.1 with its own temporary dataDir."""

    def __init__(self, kind: str, cfg: dict | None = None, sysprops: dict | None = None,
                 jaas: str | None = None, secure: bool = False):
        """``jaas``: the text of a JAAS login configuration, written into the
        workdir and named by -Djava.security.auth.login.config (both servers
        read it from there).  ``secure``: also open a ``secureClientPort``
        (``self.secure_port``) on 127.0.0.1, with the Netty connection factory
        ZooKeeper needs for it; the ``ssl.*`` keys come in ``cfg``."""
        if kind not in ("zkwire", "zookeeper"):
            raise ValueError(kind)
        self.kind = kind
        self.port = free_port()
        self.secure_port = None
        self.workdir = tempfile.mkdtemp(prefix=f"{kind}-")
        self.cfg = dict(DEFAULT_CFG)
        self.cfg.update(cfg or {})
        self.cfg.update(
            {
                "dataDir": os.path.join(self.workdir, "data"),
                "clientPort": str(self.port),
                "clientPortAddress": "127.0.0.1",
            }
        )
        if secure:
            self.secure_port = free_port()
            self.cfg.setdefault("serverCnxnFactory", "org.apache.zookeeper.server.NettyServerCnxnFactory")
            self.cfg.update({"secureClientPort": str(self.secure_port),
                             "secureClientPortAddress": "127.0.0.1"})
        self.sysprops = {"zookeeper.extendedTypesEnabled": "true"}
        self.sysprops.update(sysprops or {})
        if jaas is not None:
            path = os.path.join(self.workdir, "jaas.conf")
            with open(path, "w") as f:
                f.write(jaas)
            self.sysprops["java.security.auth.login.config"] = path
        self.proc: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_hosts(self) -> str:
        return f"127.0.0.1:{self.secure_port}"

    def write_cfg(self) -> str:
        os.makedirs(self.cfg["dataDir"], exist_ok=True)
        path = os.path.join(self.workdir, "zoo.cfg")
        with open(path, "w") as f:
            for k, v in self.cfg.items():
                f.write(f"{k}={v}\n")
        return path

    def command(self) -> list:
        cfg_path = self.write_cfg()
        props = [f"-D{k}={v}" for k, v in self.sysprops.items()]
        if self.kind == "zookeeper":
            return ["java", "-Xmx2g", *props, "-cp", ZK_CLASSPATH,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg_path]
        return [sys.executable, "-m", "zkwire", "serve", cfg_path, *props]

    def start(self, timeout_s: float = 30.0) -> "ServerProcess":
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log_text()}")
            # ZooKeeper answers ruok before it serves sessions; srvr says when.
            if "Mode:" in self.four_letter("srvr", timeout_s=1.0):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start in {timeout_s}s:\n{self.log_text()}")

    def four_letter(self, word: str, timeout_s: float = 5.0) -> str:
        return four_letter(self.port, word, timeout_s)

    def log_text(self) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush or close anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def run_to_exit(self, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
        """Run the server expecting it to refuse to start; returns its output."""
        return subprocess.run(self.command(), capture_output=True, text=True, timeout=timeout_s,
                              cwd=self.workdir)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def target_kind() -> str:
    return os.environ.get("ZKWIRE_TEST_TARGET", "zkwire")


def since_39(value_38, value_39):
    """Pick the expectation for the server under test where ZooKeeper 3.9 changed
    3.8's behaviour.  zkwire follows 3.9 (checked against the release-3.9.5
    source); the installed Apache ZooKeeper is 3.8, so a run with
    ZKWIRE_TEST_TARGET=zookeeper checks the 3.8 value against the real server."""
    return value_38 if target_kind() == "zookeeper" else value_39
