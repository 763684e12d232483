"""Jute primitives and the :class:`Record` wrapper (see the package docstring)."""
from __future__ import annotations

import io as _io
import struct

from construct import (
    Construct,
    Int32sb,
    Int64sb,
    StreamError,
    Struct,
)

# Lengths need no bound of their own: a record is parsed from an in-memory
# frame that jute.maxbuffer already bounds, and a length longer than what is
# left is a truncation error, never an allocation.


class JuteError(ValueError):
    """Malformed jute input (the peer's fault, never ours)."""


Int = Int32sb
Long = Int64sb

_I32 = struct.Struct(">i")


def _read_length(io, what):
    raw = io.read(4)
    if len(raw) != 4:
        raise StreamError("truncated %s length" % what)
    n = _I32.unpack(raw)[0]
    if n < -1:
        raise StreamError("negative %s length %d" % (what, n))
    return n


def _read_exact(io, n, what):
    data = io.read(n)
    if len(data) != n:
        raise StreamError("truncated %s: wanted %d bytes, got %d" % (what, n, len(data)))
    return data


def _parse_bool(io):
    b = io.read(1)
    if len(b) != 1:
        raise StreamError("truncated boolean")
    # Java's DataInput.readBoolean(): any non-zero byte is true.
    return b != b"\x00"


def _build_bool(obj, io):
    io.write(b"\x01" if obj else b"\x00")
    return obj


def _parse_buffer(io):
    n = _read_length(io, "buffer")
    if n == -1:
        return None
    return _read_exact(io, n, "buffer")


def _build_buffer(obj, io):
    if obj is None:
        io.write(b"\xff\xff\xff\xff")
        return obj
    io.write(_I32.pack(len(obj)))
    io.write(obj)
    return obj


def _parse_ustring(io):
    n = _read_length(io, "string")
    if n == -1:
        return None
    return _read_exact(io, n, "string").decode("utf-8")


def _build_ustring(obj, io):
    if obj is None:
        io.write(b"\xff\xff\xff\xff")
        return obj
    raw = obj.encode("utf-8")
    io.write(_I32.pack(len(raw)))
    io.write(raw)
    return obj


class JuteValue(dict):
    """A parsed record: a dict whose fields also read as attributes
    (``req.path``).  Lighter than construct's Container, which matters on the
    request path."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __repr__(self):
        return "JuteValue(%s)" % ", ".join("%s=%r" % kv for kv in self.items())


# Helper functions are injected into construct's generated module by name, so the
# compiled parsers call them directly instead of going through a slow fallback.
_HELPERS = {
    "JuteValue": JuteValue,
    "jute_parse_bool": _parse_bool,
    "jute_build_bool": _build_bool,
    "jute_read_length": _read_length,
    "jute_read_exact": _read_exact,
    "jute_parse_buffer": _parse_buffer,
    "jute_build_buffer": _build_buffer,
    "jute_parse_ustring": _parse_ustring,
    "jute_build_ustring": _build_ustring,
    "jute_I32": _I32,
}


class _Helpers:
    """Emits a line that pulls our helpers into the generated module."""

    @staticmethod
    def emit(code):
        code.append(
            "from zkwire.jute.core import _HELPERS as jute_helpers\n"
            "globals().update(jute_helpers)\n"
        )


class _BoolConstruct(Construct):
    """``boolean``: one byte; value is ``bool``."""

    def _parse(self, stream, context, path):
        return _parse_bool(stream)

    def _build(self, obj, stream, context, path):
        return _build_bool(obj, stream)

    def _sizeof(self, context, path):
        return 1

    def _emitparse(self, code):
        _Helpers.emit(code)
        return "jute_parse_bool(io)"

    def _emitbuild(self, code):
        _Helpers.emit(code)
        return "jute_build_bool(obj, io)"


class _BufferConstruct(Construct):
    """``buffer``: int length (-1 = null) + bytes; value is ``bytes`` or ``None``."""

    flagbuildnone = True

    def _parse(self, stream, context, path):
        return _parse_buffer(stream)

    def _build(self, obj, stream, context, path):
        return _build_buffer(obj, stream)

    def _emitparse(self, code):
        _Helpers.emit(code)
        return "jute_parse_buffer(io)"

    def _emitbuild(self, code):
        _Helpers.emit(code)
        return "jute_build_buffer(obj, io)"


class _UStringConstruct(Construct):
    """``ustring``: like buffer, decoded as UTF-8; value is ``str`` or ``None``."""

    flagbuildnone = True

    def _parse(self, stream, context, path):
        return _parse_ustring(stream)

    def _build(self, obj, stream, context, path):
        return _build_ustring(obj, stream)

    def _emitparse(self, code):
        _Helpers.emit(code)
        return "jute_parse_ustring(io)"

    def _emitbuild(self, code):
        _Helpers.emit(code)
        return "jute_build_ustring(obj, io)"


class _VectorConstruct(Construct):
    """``vector<T>``: int count (-1 = null) + items; value is a list or ``None``."""

    flagbuildnone = True

    def __init__(self, subcon):
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream, context, path):
        n = _read_length(stream, "vector")
        if n == -1:
            return None
        return [self.subcon._parsereport(stream, context, path) for _ in range(n)]

    def _build(self, obj, stream, context, path):
        if obj is None:
            stream.write(b"\xff\xff\xff\xff")
            return obj
        stream.write(_I32.pack(len(obj)))
        for item in obj:
            self.subcon._build(item, stream, context, path)
        return obj

    def _emitparse(self, code):
        _Helpers.emit(code)
        fname = "parse_jute_vector_%d" % code.allocateId()
        code.append(
            f"""
            def {fname}(io, this):
                n = jute_read_length(io, "vector")
                if n == -1:
                    return None
                return [{self.subcon._compileparse(code)} for _ in range(n)]
            """
        )
        return f"{fname}(io, this)"

    def _emitbuild(self, code):
        _Helpers.emit(code)
        fname = "build_jute_vector_%d" % code.allocateId()
        code.append(
            f"""
            def {fname}(items, io, this):
                if items is None:
                    io.write(b"\\xff\\xff\\xff\\xff")
                    return items
                io.write(jute_I32.pack(len(items)))
                for obj in items:
                    {self.subcon._compilebuild(code)}
                return items
            """
        )
        return f"{fname}(obj, io, this)"


Bool = _BoolConstruct()
Buffer = _BufferConstruct()
UString = _UStringConstruct()


class _RecordStruct(Struct):
    """A Struct of named jute fields whose compiled code is lean: parsing calls
    each field's parser in order and returns a :class:`JuteValue`; building
    reads each field by name.  No per-record context objects are created
    (jute fields never refer to each other, so they need none)."""

    def _emitparse(self, code):
        _Helpers.emit(code)
        fname = "parse_record_%d" % code.allocateId()
        args = ", ".join("%s=%s" % (sc.name, sc.subcon._compileparse(code)) for sc in self.subcons)
        code.append(
            f"""
            def {fname}(io, this):
                return JuteValue({args})
            """
        )
        return f"{fname}(io, this)"

    def _emitbuild(self, code):
        _Helpers.emit(code)
        fname = "build_record_%d" % code.allocateId()
        lines = [f"def {fname}(objdict, io, this):"]
        for sc in self.subcons:
            lines.append(f"    obj = objdict[{sc.name!r}]")
            lines.append(f"    {sc.subcon._compilebuild(code)}")
        lines.append("    return objdict")
        code.append("\n".join(lines) + "\n")
        return f"{fname}(obj, io, this)"


def Vector(subcon):
    """``vector<subcon>``; ``subcon`` may be a primitive or a record's ``struct``."""
    if isinstance(subcon, Record):
        subcon = subcon.struct
    return _VectorConstruct(subcon)


class Record:
    """A jute record: named fields in order, compiled once, usable both ways.

    ``parse(data)`` demands that the record fills ``data`` exactly;
    ``parse_prefix(data, offset)`` reads one record starting at ``offset`` and
    returns ``(value, new_offset)``; ``build(value)`` accepts a dict or a
    construct Container and returns bytes.  Fields may be primitives, other
    Records, or Vectors.
    """

    def __init__(self, name: str, *fields):
        self.name = name
        subcons = []
        for f in fields:
            key, sub = f
            if isinstance(sub, Record):
                sub = sub.struct
            subcons.append(key / sub)
        self.fields = tuple(f[0] for f in fields)
        self.struct = _RecordStruct(*subcons)
        compiled = self.struct.compile()
        self._parse_fn = compiled.parsefunc
        self._build_fn = compiled.buildfunc

    def __repr__(self):
        return "<jute record %s>" % self.name

    def parse(self, data: bytes):
        stream = _io.BytesIO(data)
        try:
            value = self._parse_fn(stream, None)
        except Exception as e:  # construct, struct and codec errors alike
            raise JuteError("bad %s: %s" % (self.name, _describe(e))) from None
        if stream.tell() != len(data):
            raise JuteError("bad %s: %d trailing bytes" % (self.name, len(data) - stream.tell()))
        return value

    def parse_prefix(self, data: bytes, offset: int = 0):
        stream = _io.BytesIO(data)
        stream.seek(offset)
        try:
            value = self._parse_fn(stream, None)
        except Exception as e:
            raise JuteError("bad %s: %s" % (self.name, _describe(e))) from None
        return value, stream.tell()

    def build(self, value) -> bytes:
        stream = _io.BytesIO()
        try:
            self._build_fn(value, stream, None)
        except Exception as e:
            # Building is our side: a failure here is a bug, not bad input.
            raise TypeError("cannot build %s from %r: %s" % (self.name, value, e)) from None
        return stream.getvalue()

    def make(self, *args, **kwargs):
        """A value with this record's fields, positionally or by name."""
        v = JuteValue(zip(self.fields, args))
        v.update(kwargs)
        return v


def _describe(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return "invalid UTF-8 in string"
    msg = str(e).strip().splitlines()
    text = msg[-1] if msg else e.__class__.__name__
    return text[:200]
