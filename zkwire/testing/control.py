"""The fault-injection API over HTTP (``zkwire serve --control-port N``).

For tests written in any language: what :class:`~zkwire.testing.TestServer`
does in Python, as JSON over HTTP, on loopback unless told otherwise.
Session ids are hex, as ZooKeeper prints them (``0x1a2b...``; Java's
``Long.toHexString(zk.getSessionId())``), with or without the ``0x``.

=======  =======================  ==============================================
POST     /expire/<session id>     expire the session now (its ephemerals are gone
                                  when the answer comes); 404 if no such session
POST     /drop                    cut every client connection (sessions live on)
POST     /drop/<session id>       cut that session's connection
POST     /pause, /resume          stop answering (read, write and accept
                                  nothing; sockets stay open) / carry on
POST     /delay/<ms>              hold every reply back by ms (0: no delay)
POST     /fail-disk[?errno=NAME]  writes to the disk fail (EIO; or e.g. ENOSPC):
                                  the server stops at its next write, as
                                  ZooKeeper does; nothing unsafe is acknowledged
POST     /heal-disk               the disk works again
POST     /restart                 restart on the same port and data (after a
                                  fault stopped it, or any time)
POST     /load                    create the nodes of the seed in the body
                                  (the format of ``zkwire serve --load``)
GET      /sessions                live sessions with their ephemerals
GET      /export[?path=/p]        the tree in the seed format
GET      /status                  port, serving or why it stopped, faults on
=======  =======================  ==============================================

Answers are JSON objects; an error is ``{"error": "..."}`` with status 400
(bad argument), 404 (no such route or session), 405 (wrong method) or 409
(the server is stopped).
"""
from __future__ import annotations

import errno
import json
import logging

from twisted.internet import defer
from twisted.web import resource, server

from . import seed as seedmod
from .service import NoSuchSession, ServerStopped, parse_session_id, session_hex

log = logging.getLogger("zkwire.testing.control")


class _HttpError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class ControlResource(resource.Resource):
    """Every route of the module docstring, over one TestService."""

    isLeaf = True

    def __init__(self, service):
        super().__init__()
        self.service = service

    # --- Twisted's entry points ---------------------------------------------------------------
    def render_GET(self, request):
        return self._answer(request, "GET")

    def render_POST(self, request):
        return self._answer(request, "POST")

    def render(self, request):
        if request.method in (b"GET", b"POST"):
            return super().render(request)
        return self._answer(request, request.method.decode("ascii", "replace"))

    def _answer(self, request, method):
        parts = [p.decode("utf-8", "replace") for p in request.postpath if p]
        try:
            d = defer.maybeDeferred(self._route, method, parts, request)
        except Exception:
            d = defer.fail()
        finished = []
        request.notifyFinish().addBoth(finished.append)

        def ok(body):
            if not finished:
                self._write(request, 200, body)

        def failed(f):
            if finished:
                return
            e = f.value
            if isinstance(e, _HttpError):
                code, message = e.code, str(e)
            elif isinstance(e, NoSuchSession):
                code, message = 404, str(e)
            elif isinstance(e, ServerStopped):
                code, message = 409, str(e)
            elif isinstance(e, (ValueError, TypeError)):
                code, message = 400, str(e)
            else:
                log.error("control request %s %s failed", method, request.path,
                          exc_info=(f.type, f.value, f.getTracebackObject()))
                code, message = 500, "%s: %s" % (type(e).__name__, e)
            self._write(request, code, {"error": message})

        d.addCallbacks(ok, failed)
        return server.NOT_DONE_YET

    @staticmethod
    def _write(request, code, body):
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        request.write(json.dumps(body).encode("utf-8") + b"\n")
        request.finish()

    # --- the routes -------------------------------------------------------------------------------
    def _route(self, method, parts, request):
        svc = self.service
        name = parts[0] if parts else ""
        args = parts[1:]
        routes = {
            "expire": ("POST", 1), "drop": ("POST", None), "pause": ("POST", 0),
            "resume": ("POST", 0), "delay": ("POST", 1), "fail-disk": ("POST", 0),
            "heal-disk": ("POST", 0), "restart": ("POST", 0), "load": ("POST", 0),
            "sessions": ("GET", 0), "export": ("GET", 0), "status": ("GET", 0),
        }
        if name not in routes:
            raise _HttpError(404, "no such route: /%s" % "/".join(parts))
        want, nargs = routes[name]
        if method != want:
            raise _HttpError(405, "/%s takes %s" % (name, want))
        if nargs is not None and len(args) != nargs or nargs is None and len(args) > 1:
            raise _HttpError(404, "no such route: /%s" % "/".join(parts))

        if name == "expire":
            sid = _session(args[0])
            return svc.expire_session(sid).addCallback(lambda _: {"expired": session_hex(sid)})
        if name == "drop":
            sid = _session(args[0]) if args else None
            return {"dropped": svc.drop_connections(sid)}
        if name == "pause":
            svc.pause()
            return {"paused": True}
        if name == "resume":
            svc.resume()
            return {"paused": False}
        if name == "delay":
            try:
                ms = float(args[0])
            except ValueError:
                raise _HttpError(400, "delay takes milliseconds, got %r" % args[0]) from None
            svc.delay(ms)
            return {"delay_ms": ms}
        if name == "fail-disk":
            err = _errno(_query(request, "errno", "EIO"))
            svc.fail_disk(err)
            return {"disk": "failing", "errno": errno.errorcode[err]}
        if name == "heal-disk":
            svc.heal_disk()
            return {"disk": "ok"}
        if name == "restart":
            return svc.restart().addCallback(lambda port: {"port": port, "hosts": svc.hosts})
        if name == "load":
            body = request.content.read() if request.content is not None else b""
            try:
                nodes = seedmod.parse(body)
            except seedmod.SeedError as e:
                raise _HttpError(400, str(e)) from None
            return svc.load(nodes).addCallback(lambda n: {"created": n})
        if name == "sessions":
            return {"sessions": [
                {"session_id": s["session_hex"], "timeout_ms": s["timeout_ms"],
                 "connected": s["connected"], "ephemerals": s["ephemerals"]}
                for s in svc.sessions()]}
        if name == "export":
            return svc.export(_query(request, "path", "/"))
        # status
        return {
            "port": svc.port, "hosts": svc.hosts, "serving": svc.serving,
            "stopped_reason": svc.stopped_reason, "paused": svc.network.paused,
            "delay_ms": svc.network.delay_s * 1000.0,
            "disk": "ok" if svc.disk.broken is None else "failing",
        }


def _session(text: str) -> int:
    try:
        return parse_session_id(text if text.lower().startswith("0x") else "0x" + text)
    except ValueError:
        raise _HttpError(400, "not a hex session id: %r" % text) from None


def _query(request, key: str, default: str) -> str:
    values = request.args.get(key.encode("ascii"))
    return values[0].decode("utf-8", "replace") if values else default


def _errno(name: str) -> int:
    code = getattr(errno, name.upper(), None) if not name.isdigit() else int(name)
    if not isinstance(code, int) or code not in errno.errorcode:
        raise _HttpError(400, "unknown errno %r" % name)
    return code


def listen(service, port: int, host: str = "127.0.0.1"):
    """Serve the control API for ``service`` on ``host:port``; -> the listening port."""
    site = server.Site(ControlResource(service), reactor=service.reactor)
    site.noisy = False
    site.log = lambda request: None     # no access log: zkwire logs through logging
    return service.reactor.listenTCP(port, site, interface=host)
