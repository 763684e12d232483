"""Jute, ZooKeeper's serialization format, as construct schemas.

Theory of operation
-------------------
Jute encodes a record as its fields in order, big-endian, with no framing of its
own: ``int`` is 4 bytes, ``long`` 8, ``boolean`` 1, ``buffer`` and ``ustring`` a
4-byte length followed by the bytes (length -1 means null), ``vector`` a 4-byte
count followed by the items (count -1 means null).  Nested records are written
inline.

The schema of every record is a construct ``Struct`` of these primitives.
A :class:`Record` compiles that schema once, at import, into plain Python
functions that parse straight from a frame's bytes by offset and build from a
dict or from positional values (see :mod:`zkwire.jute.core`); construct's own
interpreter reads the same schema, and the tests hold the two to the same
answers.  Parsing is strict: a short read, a negative length other than -1,
invalid UTF-8 or trailing bytes all raise :class:`JuteError` and nothing else.
"""
from __future__ import annotations

from .core import (  # noqa: F401
    Bool,
    Buffer,
    Int,
    JuteError,
    Long,
    READ_ERRORS,
    Record,
    UString,
    Vector,
    read_error,
)
