"""Kazoo clients that record a history for the checker (zkwire.sim.linear).

Theory of operation
-------------------
Each :class:`Client` is one kazoo client connected to ONE member through that
member's client link, running in its own thread, one operation at a time:

* ``read`` of a register /reg/K -> the value read;
* ``write`` of a unique value ("p3-17": process 3's 17th operation);
* ``cas``: a get (recorded as a read) for value and version, then
  ``set(new, version=v)``, recorded as cas [expected, new]; values are unique,
  so the version read names the value read; BadVersion is a ``fail``;
* ``create_seq`` under /seq -> the sequence number ZooKeeper gave.

Every event is appended to one :class:`History` under its lock, with
``time.monotonic_ns()`` taken under that lock: an invocation is recorded
before its request is sent, a completion after its reply came, so the list's
order is real time.  A timeout, ConnectionLoss, SessionExpired, or anything
else but the two definite failures (BadVersion for cas, NoNode) is ``info``:
the operation may still happen, so the client goes on as a NEW process
(Jepsen's convention; process ids are ``index + k * clients``).  A client
also takes a new process id when its session was suspended or lost between
operations: its next session may be served by a member that saw less.
While kazoo has no connection the client waits for one (an event), so a
partition does not fill kazoo's queue with operations that time out.
"""
from __future__ import annotations

import json
import random
import threading
import time

REGISTERS = 3
INITIAL = "init"
SEQ_PARENT = "/seq"
OP_TIMEOUT_S = 5.0
SESSION_TIMEOUT_S = 4.0
#: the mix of operations (weights)
MIX = (("read", 35), ("cas", 35), ("write", 10), ("create_seq", 20))


def register_paths():
    return ["/reg/%d" % i for i in range(REGISTERS)]


def initial_values() -> dict:
    return {p: INITIAL for p in register_paths()}


def create_registers(hosts: str):
    from kazoo.client import KazooClient

    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=30)
    try:
        c.ensure_path("/reg")
        for p in register_paths():
            c.create(p, INITIAL.encode())
        c.create(SEQ_PARENT)
    finally:
        c.stop()
        c.close()


class History:
    def __init__(self):
        self.events = []
        self._lock = threading.Lock()

    def record(self, process, type_, f, key, value):
        with self._lock:
            ev = {"process": process, "type": type_, "f": f, "key": key, "value": value,
                  "time_ns": time.monotonic_ns()}
            self.events.append(ev)
            return ev

    def write(self, path):
        with self._lock, open(path, "w") as f:
            for ev in self.events:
                f.write(json.dumps(ev) + "\n")

    def counts(self) -> dict:
        """Completions by f and type, e.g. {"cas": {"ok": 3, "fail": 1}}."""
        out = {}
        with self._lock:
            for ev in self.events:
                if ev["type"] != "invoke":
                    d = out.setdefault(ev["f"], {})
                    d[ev["type"]] = d.get(ev["type"], 0) + 1
        return out


class Client:
    def __init__(self, index, n_clients, hosts, history: History, seed):
        self.index = index
        self.n_clients = n_clients
        self.hosts = hosts
        self.history = history
        self.random = random.Random(seed * 1000 + index)
        self.process = index
        self.op_count = 0
        self._connected = threading.Event()
        self._interrupted = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="client-%d" % index, daemon=True)
        self.kazoo = None

    def start(self):
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        # A short reconnect backoff: kazoo's default grows to a minute, which
        # would keep a client away long after a partition heals.
        self.kazoo = KazooClient(
            hosts=self.hosts, timeout=SESSION_TIMEOUT_S,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0))
        self.kazoo.add_listener(self._state)
        self.kazoo.start_async()
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(OP_TIMEOUT_S + 5)
        if self.kazoo is not None:
            self.kazoo.stop()
            self.kazoo.close()

    def _state(self, state):
        from kazoo.protocol.states import KazooState

        if state == KazooState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
            self._interrupted = True

    def _new_process(self):
        self.process += self.n_clients

    def _run(self):
        ops = [f for f, w in MIX for _ in range(w)]
        while not self._stop.is_set():
            if not self._connected.wait(0.5):
                continue
            if self._interrupted:
                self._interrupted = False
                self._new_process()
            f = self.random.choice(ops)
            key = self.random.choice(register_paths())
            if f == "read":
                self._read(key)
            elif f == "write":
                self._write(key)
            elif f == "cas":
                self._cas(key)
            else:
                self._create_seq()

    def _value(self):
        self.op_count += 1
        return "p%d-%d" % (self.process, self.op_count)

    def _do(self, f, key, value, call, ok_value=lambda r: None):
        """Invoke, run ``call``, record the completion -> (type, result)."""
        from kazoo.exceptions import BadVersionError, NoNodeError

        self.history.record(self.process, "invoke", f, key, value)
        try:
            result = call().get(timeout=OP_TIMEOUT_S)
        except (BadVersionError, NoNodeError):
            self.history.record(self.process, "fail", f, key, value)
            return "fail", None
        except Exception:
            self.history.record(self.process, "info", f, key, value)
            self._new_process()
            return "info", None
        ok = ok_value(result)
        self.history.record(self.process, "ok", f, key, value if ok is None else ok)
        return "ok", result

    def _read(self, key):
        return self._do("read", key, None, lambda: self.kazoo.get_async(key),
                        lambda r: r[0].decode())

    def _write(self, key):
        value = self._value()
        self._do("write", key, value, lambda: self.kazoo.set_async(key, value.encode()))

    def _cas(self, key):
        typ, result = self._read(key)
        if typ != "ok":
            return
        data, stat = result
        expected, new = data.decode(), self._value()
        self._do("cas", key, [expected, new],
                 lambda: self.kazoo.set_async(key, new.encode(), version=stat.version))

    def _create_seq(self):
        self._do("create_seq", SEQ_PARENT, None,
                 lambda: self.kazoo.create_async(SEQ_PARENT + "/n-", b"", sequence=True),
                 lambda path: int(path[-10:]))


class Workload:
    def __init__(self, ensemble, history: History, n_clients=5, seed=0):
        sids = sorted(ensemble.members)
        self.clients = [Client(i, n_clients, ensemble.client_hosts(sids[i % len(sids)]),
                               history, seed) for i in range(n_clients)]

    def start(self):
        for c in self.clients:
            c.start()

    def stop(self):
        for c in self.clients:
            c._stop.set()
        for c in self.clients:
            c.stop()
