"""zkwire for ``twisted.trial`` tests: a server on the test's own reactor.

::

    from twisted.trial import unittest
    from zkwire.testing.trial import start_server

    class MyTest(unittest.TestCase):
        @defer.inlineCallbacks
        def test_it(self):
            zk = yield start_server(self)      # a TestService, stopped after the test
            ... connect to zk.hosts ...
            yield zk.expire_session(session_id)

or mix :class:`ServerMixin` into the test case and call
``self.start_zookeeper()``.  The server runs on the global reactor that trial
spins, so the test must not block it: use a Twisted client, or run a
blocking one (kazoo) in a thread (``twisted.internet.threads.deferToThread``).
Every connection and timer is gone when the test ends, so trial finds a
clean reactor.
"""
from __future__ import annotations

from .service import TestService


def start_server(testcase, reactor=None, **options):
    """Start a :class:`~zkwire.testing.service.TestService` (options as its
    own) on ``reactor`` (default: the global one trial runs), stopped when
    ``testcase`` ends; -> Deferred that fires with it once it serves."""
    if reactor is None:
        from twisted.internet import reactor
    service = TestService(reactor, **options)
    service.startService()
    testcase.addCleanup(service.stopService)
    return service.ready.addCallback(lambda _: service)


class ServerMixin:
    """For ``twisted.trial.unittest.TestCase`` subclasses: ``start_zookeeper(**options)``."""

    def start_zookeeper(self, **options):
        return start_server(self, **options)
