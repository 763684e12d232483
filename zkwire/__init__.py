"""zkwire: a ZooKeeper server in Python that speaks ZooKeeper's wire protocol."""
from __future__ import annotations

__version__ = "0.1.0"
