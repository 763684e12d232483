"""twisted.trial tests of zkwire's network edge (zkwire.server.edge.net), run in memory:
a MemoryReactorClock instead of a real reactor, StringTransports instead of sockets.

They run under both pytest and ``python -m twisted.trial tests.trial``.
"""
from __future__ import annotations
