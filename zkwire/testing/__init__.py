"""zkwire as a stand-in for ZooKeeper in test suites.

* :class:`TestServer` -- a real ZooKeeper server in this process, on a free
  loopback port, started in a few milliseconds, with server-side faults:
  ``expire_session``, ``drop_connections``, ``pause``/``resume``, ``delay``,
  ``fail_disk``/``heal_disk``, and ``sessions()``.  ``serve()`` is the
  context manager.
* :class:`TestService` -- the same server as a Twisted service on your
  reactor, for Twisted programs; :mod:`zkwire.testing.trial` for
  twisted.trial tests.
* :class:`Ensemble` -- a replicated ensemble in this process (``Ensemble(3)``),
  with ``kill``, ``restart``, ``partition``/``heal`` and ``leader``.
* :class:`KazooTestHarness` / :class:`KazooTestCase` -- drop-ins for
  ``kazoo.testing``'s, with no Java.
* The pytest fixtures ``zk_server``, ``zk_client`` and ``zk_faults`` come
  with zkwire's pytest plugin (``zkwire.pytest_plugin``), which pytest loads
  by itself once zkwire is installed.
* Seed data: ``TestServer(load=...)`` and ``zkwire serve --load``; the
  format is in :mod:`zkwire.testing.seed`.

Names load on first use, so importing this package costs nothing.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "TestServer": "server",
    "Faults": "server",
    "serve": "server",
    "Ensemble": "ensemble",
    "TestService": "service",
    "ServerStopped": "service",
    "NoSuchSession": "service",
    "KazooTestHarness": "harness",
    "KazooTestCase": "harness",
    "SeedError": "seed",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
