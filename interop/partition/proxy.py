"""TCP proxies on loopback that cut, half-cut and slow the links they carry.

Theory of operation
-------------------
A :class:`Proxy` owns any number of :class:`Link` s and one background thread
that runs a ``selectors`` loop over all of them.  A link listens on an
ephemeral 127.0.0.1 port and forwards every accepted connection to one target
port; the harness puts one link in front of every peer link (per ordered pair
of members and per port kind) and every client port.

Each forwarded connection is a *pair*: the accepted socket (``down``, the
dialer's side) and the socket we dialed (``up``, the target's side), and two
directions, ``up`` (dialer -> target) and ``down`` (target -> dialer), each
with a FIFO of ``(due time, bytes)`` bounded by ``buffer_bytes``: a side is
read only while the direction it feeds has room, so a slow reader slows the
writer down as TCP would, and memory stays bounded.

A link's mode (:meth:`Proxy.set_mode`, which returns once the loop has applied
it):

* ``PASS``: bytes are forwarded as they come.
* ``CUT``: a partition.  Every connection of the link is closed, and new ones
  are *blackholed*: accepted and held, never forwarded (what they send is read
  and thrown away, so a held socket costs no buffer).  We chose blackholing
  over refusing because it is what a real partition looks like to the dialer:
  the connect "succeeds" and then nothing answers, so the servers' read
  timeouts (syncLimit, the election's connect and handshake timeouts) are
  what detect it, not a fast ECONNREFUSED.  Leaving ``CUT`` closes the held
  connections, so the dialers notice and dial again.
* ``DROP_UP`` / ``DROP_DOWN``: a one-way cut.  Connections stay open, and bytes
  in that direction are read and discarded (the other direction passes).
* ``DELAY``: every chunk is written ``delay_ms`` after it was read.

A link may carry a ``rewrite`` of the dialer's first bytes (the harness uses
it for the election handshake, which names the dialer's own address): the
dialer's bytes wait, at most ``MAX_HEADER_BYTES`` of them, until
``rewrite(data)`` returns the bytes to send in their place.

A pair closes when either side errs; an EOF is passed on as a half-close
(``shutdown(SHUT_WR)``) once that direction's buffer is written, and the pair
closes when both directions are done.  At most ``max_conns`` connections per
link are open or held; more are accepted and closed at once.
:meth:`Proxy.stop` closes every socket and joins the thread.
"""
from __future__ import annotations

import collections
import errno
import queue
import selectors
import socket
import threading
import time

PASS = "pass"
CUT = "cut"
DROP_UP = "drop-up"
DROP_DOWN = "drop-down"
DELAY = "delay"
MODES = (PASS, CUT, DROP_UP, DROP_DOWN, DELAY)

BUFFER_BYTES = 256 * 1024
MAX_CONNS = 128
CHUNK_BYTES = 64 * 1024
MAX_HEADER_BYTES = 4096


class Link:
    """One listening port forwarding to ``target_port``; its state belongs to
    the loop thread (read ``mode`` from elsewhere only for display)."""

    def __init__(self, name: str, target_port: int, rewrite=None, port: int = 0):
        self.name = name
        self.target_port = target_port
        self.rewrite = rewrite      # bytes -> bytes to send instead, or None: wait for more
        self.mode = PASS
        self.delay_ms = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.pairs = set()
        self.held = set()           # blackholed sockets
        self.accepted = 0           # connections accepted, for the report

    def __repr__(self):
        return "<Link %s :%d -> :%d %s>" % (self.name, self.port, self.target_port, self.mode)


class _Direction:
    def __init__(self):
        self.chunks = collections.deque()   # (due_s, bytes)
        self.size = 0
        self.eof = False                    # the source said EOF
        self.shut = False                   # ... and we passed it on

    def push(self, due_s, data):
        self.chunks.append((due_s, data))
        self.size += len(data)

    def clear(self):
        self.chunks.clear()
        self.size = 0


class _Pair:
    def __init__(self, link, down, up):
        self.link = link
        self.down = down
        self.up = up
        self.connecting = True
        self.to_up = _Direction()
        self.to_down = _Direction()
        self.closed = False
        self.header = b"" if link.rewrite is not None else None   # waiting to be rewritten


class Proxy:
    def __init__(self, buffer_bytes: int = BUFFER_BYTES, max_conns: int = MAX_CONNS):
        self.buffer_bytes = buffer_bytes
        self.max_conns = max_conns
        self.links = {}
        self._sel = selectors.DefaultSelector()
        self._commands = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread = None
        self._stopping = False
        self.error = None           # an exception that stopped the loop (our bug)

    # -- the API (any thread) ------------------------------------------------

    def add_link(self, name: str, target_port: int, rewrite=None, port: int = 0) -> Link:
        assert self._thread is None, "add links before start()"
        link = Link(name, target_port, rewrite, port)
        self.links[name] = link
        self._sel.register(link.listener, selectors.EVENT_READ, ("accept", link))
        return link

    def start(self):
        self._thread = threading.Thread(target=self._run, name="partition-proxy", daemon=True)
        self._thread.start()

    def set_mode(self, name: str, mode: str, delay_ms: int = 0, timeout_s: float = 10.0):
        """Switch link ``name`` to ``mode``; returns once the loop applied it."""
        if mode not in MODES:
            raise ValueError(mode)
        self._call(self._apply_mode, self.links[name], mode, delay_ms, timeout_s=timeout_s)

    def heal_all(self):
        for name in self.links:
            self.set_mode(name, PASS)

    def stop(self):
        if self._thread is not None:
            self._stopping = True
            self._wake()
            self._thread.join(10.0)
            self._thread = None
        self._close_everything()

    def connection_counts(self) -> dict:
        return {name: link.accepted for name, link in self.links.items()}

    def _call(self, fn, *args, timeout_s=10.0):
        done = threading.Event()
        box = []

        def run():
            try:
                box.append(fn(*args))
            finally:
                done.set()

        self._commands.put(run)
        self._wake()
        if not done.wait(timeout_s):
            raise RuntimeError("proxy loop did not answer (error: %r)" % (self.error,))
        return box[0] if box else None

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass                    # the pipe is full: a wake-up is pending anyway

    # -- the loop (its own thread) ------------------------------------------

    def _run(self):
        try:
            while not self._stopping:
                timeout = self._next_due_in()
                for key, events in self._sel.select(timeout):
                    kind, obj = key.data
                    if kind == "wake":
                        self._drain_wake()
                    elif kind == "accept":
                        self._accept(obj)
                    elif kind == "held":
                        self._read_held(obj, key.fileobj)
                    else:
                        self._service(obj, key.fileobj, events)
                while True:
                    try:
                        cmd = self._commands.get_nowait()
                    except queue.Empty:
                        break
                    cmd()
                self._flush_due()
        except BaseException as e:      # our bug: say so, callers see it via _call
            self.error = e
            raise

    def _drain_wake(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _next_due_in(self):
        now = time.monotonic()
        due = None
        for link in self.links.values():
            for p in link.pairs:
                for d in (p.to_up, p.to_down):
                    # A chunk due already waits for EVENT_WRITE, not a timer.
                    if d.chunks and d.chunks[0][0] > now:
                        t = d.chunks[0][0]
                        due = t if due is None else min(due, t)
        return None if due is None else max(0.0, due - now)

    def _accept(self, link):
        try:
            sock, _ = link.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        link.accepted += 1
        if len(link.pairs) + len(link.held) >= self.max_conns:
            sock.close()
            return
        sock.setblocking(False)
        if link.mode == CUT:
            link.held.add(sock)
            self._sel.register(sock, selectors.EVENT_READ, ("held", link))
            return
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.setblocking(False)
        err = up.connect_ex(("127.0.0.1", link.target_port))
        if err not in (0, errno.EINPROGRESS):
            up.close()
            sock.close()            # the target is down: the dialer sees a close
            return
        pair = _Pair(link, sock, up)
        link.pairs.add(pair)
        self._update(pair)

    def _read_held(self, link, sock):
        try:
            data = sock.recv(CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            link.held.discard(sock)
            self._unregister_close(sock)

    def _service(self, pair, sock, events):
        if pair.closed:
            return
        if sock is pair.up and pair.connecting:
            if events & selectors.EVENT_WRITE:
                err = pair.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._close_pair(pair)
                    return
                pair.connecting = False
            self._update(pair)
            return
        if events & selectors.EVENT_READ:
            direction = pair.to_up if sock is pair.down else pair.to_down
            try:
                data = sock.recv(CHUNK_BYTES)
            except BlockingIOError:
                data = None
            except OSError:
                self._close_pair(pair)
                return
            if data == b"":
                direction.eof = True
            elif data:
                self._take(pair, direction, data)
        if events & selectors.EVENT_WRITE and not pair.closed:
            self._write(pair, pair.to_up if sock is pair.up else pair.to_down)
        if not pair.closed:
            self._update(pair)

    def _take(self, pair, direction, data):
        mode = pair.link.mode
        if (mode == DROP_UP and direction is pair.to_up) or (
                mode == DROP_DOWN and direction is pair.to_down):
            return                  # a one-way cut: read and thrown away
        if direction is pair.to_up and pair.header is not None:
            pair.header += data
            out = pair.link.rewrite(pair.header)
            if out is None:
                if len(pair.header) > MAX_HEADER_BYTES:
                    self._close_pair(pair)
                return
            pair.header, data = None, out
        delay_s = pair.link.delay_ms / 1000.0 if mode == DELAY else 0.0
        direction.push(time.monotonic() + delay_s, data)

    def _write(self, pair, direction):
        dest = pair.up if direction is pair.to_up else pair.down
        now = time.monotonic()
        while direction.chunks and direction.chunks[0][0] <= now:
            due, data = direction.chunks[0]
            try:
                n = dest.send(data)
            except BlockingIOError:
                return
            except OSError:
                self._close_pair(pair)
                return
            direction.size -= n
            if n < len(data):
                direction.chunks[0] = (due, data[n:])
                return
            direction.chunks.popleft()

    def _flush_due(self):
        for link in list(self.links.values()):
            for pair in list(link.pairs):
                if pair.closed or pair.connecting:
                    continue
                for d in (pair.to_up, pair.to_down):
                    if d.chunks and not pair.closed:
                        self._write(pair, d)
                if not pair.closed:
                    self._update(pair)

    def _update(self, pair):
        """Register each side for what it can do now; pass EOFs on; close a
        pair that is done both ways."""
        if pair.connecting:
            self._want(pair.down, selectors.EVENT_READ
                       if pair.to_up.size < self.buffer_bytes else 0, pair)
            self._want(pair.up, selectors.EVENT_WRITE, pair)
            return
        now = time.monotonic()
        for d, dest in ((pair.to_up, pair.up), (pair.to_down, pair.down)):
            if d.eof and not d.chunks and not d.shut:
                try:
                    dest.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                d.shut = True
        if pair.to_up.shut and pair.to_down.shut:
            self._close_pair(pair)
            return
        for sock, inbound, outbound in ((pair.down, pair.to_up, pair.to_down),
                                        (pair.up, pair.to_down, pair.to_up)):
            ev = 0
            if not inbound.eof and inbound.size < self.buffer_bytes:
                ev |= selectors.EVENT_READ
            if outbound.chunks and outbound.chunks[0][0] <= now:
                ev |= selectors.EVENT_WRITE
            self._want(sock, ev, pair)

    def _want(self, sock, events, pair):
        """selectors cannot hold an empty event set: unregister instead."""
        try:
            key = self._sel.get_key(sock)
        except KeyError:
            key = None
        if not events:
            if key is not None:
                self._sel.unregister(sock)
        elif key is None:
            self._sel.register(sock, events, ("pair", pair))
        elif key.events != events:
            self._sel.modify(sock, events, ("pair", pair))

    def _apply_mode(self, link, mode, delay_ms):
        was = link.mode
        link.mode, link.delay_ms = mode, delay_ms
        if mode == CUT:
            for pair in list(link.pairs):
                self._close_pair(pair)
        elif was == CUT:
            for sock in list(link.held):
                self._unregister_close(sock)
            link.held.clear()
        if mode == DROP_UP:
            for pair in link.pairs:
                pair.to_up.clear()
        elif mode == DROP_DOWN:
            for pair in link.pairs:
                pair.to_down.clear()

    def _close_pair(self, pair):
        if pair.closed:
            return
        pair.closed = True
        pair.link.pairs.discard(pair)
        self._unregister_close(pair.down)
        self._unregister_close(pair.up)

    def _unregister_close(self, sock):
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _close_everything(self):
        for link in self.links.values():
            for pair in list(link.pairs):
                self._close_pair(pair)
            for sock in list(link.held):
                self._unregister_close(sock)
            link.held.clear()
            self._unregister_close(link.listener)
        self._unregister_close(self._wake_r)
        try:
            self._wake_w.close()
        except OSError:
            pass
        self._sel.close()
