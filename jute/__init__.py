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
answers.  Parsing is strict about lengths: a short read, or a buffer or string
length below -1, raises :class:`JuteError` and nothing else, and so do trailing
bytes after a record read with ``parse``.  Where ZooKeeper's Java reader is
lenient we read as it does: a vector count below -1 is an empty vector, and
invalid UTF-8 in a string becomes U+FFFD as Java decodes it (``java_utf8``).
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
    java_utf8,
    read_error,
)
