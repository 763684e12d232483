"""Jute, ZooKeeper's serialization format, as construct schemas.

Theory of operation
-------------------
Jute encodes a record as its fields in order, big-endian, with no framing of its
own: ``int`` is 4 bytes, ``long`` 8, ``boolean`` 1, ``buffer`` and ``ustring`` a
4-byte length followed by the bytes (length -1 means null), ``vector`` a 4-byte
count followed by the items (count -1 means null).  Nested records are written
inline.

Every primitive here is a construct that knows how to *compile* itself
(``_emitparse``/``_emitbuild``), so a :class:`Record` compiles into plain Python
code once, at import.  Parsing is strict: a short read, a negative length other
than -1, a length above the buffer limit, invalid UTF-8 or trailing bytes all
raise :class:`JuteError` and nothing else.
"""
from __future__ import annotations

from .core import (  # noqa: F401
    Bool,
    Buffer,
    Int,
    JuteError,
    Long,
    Record,
    UString,
    Vector,
)
