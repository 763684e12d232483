"""Jute primitives, the :class:`Record` wrapper and the record compiler.

Theory of operation
-------------------
A record is declared once, as a construct ``Struct`` of named jute fields
(``Int``, ``Long``, ``Bool``, ``Buffer``, ``UString``, ``Vector`` and other
records).  That Struct is the schema: construct itself can parse and build
with it (``record.struct.parse(data)``), and the tests hold our compiled code
to construct's answers.

At import, each Record compiles its schema into three plain Python functions,
generated from the field list and ``exec``'d once:

* ``parse(data, pos) -> (value, pos)``: offset-based, straight off the frame's
  bytes (no stream object, no per-field calls, nested records inline); runs of
  fixed-width fields are read with one ``struct.unpack_from``;
* ``build(value) -> bytes`` from a dict of fields (nested records as dicts);
* ``pack(*fields) -> bytes`` from positional values in field order (nested
  records as tuples in *their* field order, vectors as lists): the hot replies
  use it with the server's Stat tuples, so no dict is made for them.

construct's own compiler reads from a stream one field at a time; the offset
form does the same work in well under half the time, which is what the
request path needs.  Parsed values are :class:`JuteValue` dicts, with one
subclass per record whose fields also read as attributes (``req.path``)
through C-level getters.
"""
from __future__ import annotations

import struct
from operator import itemgetter

from construct import Construct, FormatField, Int32sb, Int64sb, Renamed, StreamError, Struct

# Lengths need no bound of their own: a record is parsed from an in-memory
# frame that jute.maxbuffer already bounds, and a length longer than what is
# left is a truncation error, never an allocation.
#
# Two readings follow ZooKeeper's Java reader rather than strictness (observed
# on Apache ZooKeeper, tests/ZOOKEEPER_FACTS.md §13): a vector count below -1
# reads as an empty vector (a buffer or string length below -1 is an error),
# and a string that is not valid UTF-8 is decoded the way Java's
# ``new String(bytes, UTF_8)`` decodes it, with U+FFFD replacements
# (:func:`java_utf8`).


class JuteError(ValueError):
    """Malformed jute input (the peer's fault, never ours)."""


Int = Int32sb
Long = Int64sb

_I32 = struct.Struct(">i")
_NULL = b"\xff\xff\xff\xff"


# --- construct's side: how each primitive parses and builds as a construct ----------------

def _read_length(io, what):
    raw = io.read(4)
    if len(raw) != 4:
        raise StreamError("truncated %s length" % what)
    n = _I32.unpack(raw)[0]
    if n < -1:
        raise StreamError("negative %s length %d" % (what, n))
    return n


def _read_count(io):
    """A vector's count: -1 is null, and below that no items (as Java reads it)."""
    raw = io.read(4)
    if len(raw) != 4:
        raise StreamError("truncated vector length")
    n = _I32.unpack(raw)[0]
    return n if n >= -1 else 0


def java_utf8(raw: bytes) -> str:
    """``raw`` decoded as Java's ``new String(raw, UTF_8)`` decodes it.

    Valid UTF-8 decodes as usual.  Each malformed sequence becomes one U+FFFD,
    where Java and Python's ``errors="replace"`` agree on what one sequence is
    (the longest valid prefix, at least one byte), except for an encoded UTF-16
    surrogate: Java replaces ED A0..BF together with a following continuation
    byte by a single U+FFFD, Python each byte.  Observed on Apache ZooKeeper
    through sync's echoed path (tests/ZOOKEEPER_FACTS.md §13)."""
    out = []
    pos = 0
    n = len(raw)
    while True:
        try:
            out.append(raw[pos:].decode("utf-8"))
            return "".join(out)
        except UnicodeDecodeError as e:
            bad = pos + e.start
            out.append(raw[pos:bad].decode("utf-8"))
            out.append("\ufffd")
            if raw[bad] == 0xED and bad + 1 < n and 0xA0 <= raw[bad + 1] <= 0xBF:
                pos = bad + (3 if bad + 2 < n and 0x80 <= raw[bad + 2] <= 0xBF else 2)
            else:
                pos = pos + e.end


def _read_exact(io, n, what):
    data = io.read(n)
    if len(data) != n:
        raise StreamError("truncated %s: wanted %d bytes, got %d" % (what, n, len(data)))
    return data


class _BoolConstruct(Construct):
    """``boolean``: one byte; any non-zero byte is true (Java's readBoolean)."""

    def _parse(self, stream, context, path):
        b = stream.read(1)
        if len(b) != 1:
            raise StreamError("truncated boolean")
        return b != b"\x00"

    def _build(self, obj, stream, context, path):
        stream.write(b"\x01" if obj else b"\x00")
        return obj

    def _sizeof(self, context, path):
        return 1


class _BufferConstruct(Construct):
    """``buffer``: int length (-1 = null) + bytes; value is ``bytes`` or ``None``."""

    flagbuildnone = True

    def _parse(self, stream, context, path):
        n = _read_length(stream, "buffer")
        return None if n == -1 else _read_exact(stream, n, "buffer")

    def _build(self, obj, stream, context, path):
        if obj is None:
            stream.write(_NULL)
        else:
            stream.write(_I32.pack(len(obj)))
            stream.write(obj)
        return obj


class _UStringConstruct(Construct):
    """``ustring``: like buffer, decoded as UTF-8; value is ``str`` or ``None``."""

    flagbuildnone = True

    def _parse(self, stream, context, path):
        n = _read_length(stream, "string")
        if n == -1:
            return None
        raw = _read_exact(stream, n, "string")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return java_utf8(raw)

    def _build(self, obj, stream, context, path):
        if obj is None:
            stream.write(_NULL)
        else:
            raw = obj.encode("utf-8")
            stream.write(_I32.pack(len(raw)))
            stream.write(raw)
        return obj


class _VectorConstruct(Construct):
    """``vector<T>``: int count (-1 = null) + items; value is a list or ``None``."""

    flagbuildnone = True

    def __init__(self, subcon):
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream, context, path):
        n = _read_count(stream)
        if n == -1:
            return None
        return [self.subcon._parsereport(stream, context, path) for _ in range(n)]

    def _build(self, obj, stream, context, path):
        if obj is None:
            stream.write(_NULL)
            return obj
        stream.write(_I32.pack(len(obj)))
        for item in obj:
            self.subcon._build(item, stream, context, path)
        return obj


Bool = _BoolConstruct()
Buffer = _BufferConstruct()
UString = _UStringConstruct()


class _RecordStruct(Struct):
    """A Struct of named jute fields; ``record`` is the Record it belongs to."""

    record = None


def Vector(subcon):
    """``vector<subcon>``; ``subcon`` may be a primitive or a record's ``struct``."""
    if isinstance(subcon, Record):
        subcon = subcon.struct
    return _VectorConstruct(subcon)


class JuteValue(dict):
    """A parsed record: a dict whose fields also read as attributes
    (``req.path``).  Each Record has its own subclass with a C-level getter per
    field; other names fall back to ``__getattr__``."""

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


# --- the record compiler ----------------------------------------------------------------------

_FIXED_CODES = {">i": "i", ">l": "i", ">q": "q"}


def _fixed_code(con):
    """The struct code of a fixed-width field ('' for variable-width ones)."""
    if isinstance(con, Renamed):
        con = con.subcon
    if isinstance(con, FormatField):
        code = _FIXED_CODES.get(con.fmtstr)
        if code is None:
            raise TypeError("jute has no field of struct format %r" % con.fmtstr)
        return code
    if isinstance(con, _RecordStruct) and con.record.fixed is not None:
        return con.record.fixed.format[1:]
    return ""


def _length_lines(pad, target, what, vector=False):
    """Read a length into ``n``; -1 makes ``target`` None, other negatives
    are an error (for a vector: no items); the caller's lines go under the
    ``else:`` that ends these."""
    lines = [
        pad + "n = _unpack_i32(data, pos)[0]",
        pad + "pos += 4",
    ]
    if vector:
        lines.append(pad + "if n < -1: n = 0")
    return lines + [
        pad + "if n < 0:",
        pad + "    if n != -1: raise JuteError('negative %s %%d' %% n)" % what,
        pad + "    %s = None" % target,
        pad + "else:",
    ]


class _Emitter:
    """Source text for one record's functions, and the names that text uses."""

    def __init__(self, record):
        self.record = record
        self.env = {"JuteError": JuteError, "_I32": _I32, "_unpack_i32": _I32.unpack_from,
                    "_NULL": _NULL, "_java_utf8": java_utf8}
        self._n = 0

    def name(self, prefix, value):
        self._n += 1
        key = "%s%d" % (prefix, self._n)
        self.env[key] = value
        return key

    def struct(self, fmt):
        return self.name("_S", struct.Struct(">" + fmt))

    # --- parse: the generated code's locals are `data`, `pos` and `end` -------------------
    def parse_field(self, con, target, indent, what):
        """Lines that read one field at ``pos`` into the local ``target``."""
        pad = " " * indent
        out = []
        if isinstance(con, _BoolConstruct):
            out.append(pad + "if pos >= end: raise JuteError('truncated boolean %s')" % what)
            out.append(pad + "%s = data[pos] != 0" % target)
            out.append(pad + "pos += 1")
        elif isinstance(con, (_BufferConstruct, _UStringConstruct)):
            kind = "string" if isinstance(con, _UStringConstruct) else "buffer"
            out.extend(_length_lines(pad, target, "%s length" % what))
            out.append(pad + "    e = pos + n")
            out.append(pad + "    if e > end: raise JuteError('truncated %s %s: %%d bytes wanted, %%d left'"
                       " %% (n, end - pos))" % (kind, what))
            if kind == "string":
                out.append(pad + "    try: %s = data[pos:e].decode('utf-8')" % target)
                out.append(pad + "    except UnicodeDecodeError: %s = _java_utf8(data[pos:e])" % target)
            else:
                out.append(pad + "    %s = data[pos:e]" % target)
            out.append(pad + "    pos = e")
        elif isinstance(con, _VectorConstruct):
            item = "v%d" % indent
            out.extend(_length_lines(pad, target, "vector length in %s" % what, vector=True))
            out.append(pad + "    %s = []" % target)
            # range(n) is evaluated once, so nested fields may reuse `n`.
            out.append(pad + "    for _ in range(n):")
            out.extend(self.parse_field(con.subcon, item, indent + 8, what))
            out.append(pad + "        %s.append(%s)" % (target, item))
        elif isinstance(con, _RecordStruct):
            # Nested records are read inline: no call, no intermediate tuple.
            out.extend(self.parse_fields(con.record, target, indent))
        elif isinstance(con, FormatField):
            s = self.struct(_fixed_code(con))
            out.append(pad + "%s = %s.unpack_from(data, pos)[0]" % (target, s))
            out.append(pad + "pos += %d" % con.length)
        else:
            raise TypeError("not a jute field: %r" % (con,))
        return out

    def parse_fields(self, rec, target, indent):
        """Lines that read every field of ``rec`` and make its value ``target``."""
        pad = " " * indent
        lines = []
        locals_ = []
        fields = rec.struct.subcons
        i = 0
        while i < len(fields):
            # A run of fixed-width fields: one unpack_from.
            j = i
            while j < len(fields) and isinstance(fields[j].subcon, FormatField):
                j += 1
            if j - i >= 2:
                fmt = "".join(_fixed_code(f.subcon) for f in fields[i:j])
                s = self.struct(fmt)
                names = ["%s_%s" % (target, f.name) for f in fields[i:j]]
                lines.append(pad + "%s = %s.unpack_from(data, pos)" % (", ".join(names), s))
                lines.append(pad + "pos += %d" % struct.calcsize(">" + fmt))
                locals_.extend(zip((f.name for f in fields[i:j]), names))
                i = j
                continue
            sc = fields[i]
            local = "%s_%s" % (target, sc.name)
            lines.extend(self.parse_field(sc.subcon, local, indent, sc.name))
            locals_.append((sc.name, local))
            i += 1
        cls = self.name("_Value", rec.value_class)
        lines.append(pad + "%s = %s(%s)" % (target, cls, ", ".join("%s=%s" % kv for kv in locals_)))
        return lines

    def parse_function(self):
        lines = ["def parse(data, pos):", "    end = len(data)"]
        lines.extend(self.parse_fields(self.record, "r", 4))
        lines.append("    return r, pos")
        return lines

    # --- build: parts appended to the list `out` ---------------------------------------
    def build_field(self, con, expr, indent, positional):
        pad = " " * indent
        out = []
        if isinstance(con, _BoolConstruct):
            out.append(pad + "out.append(b'\\x01' if %s else b'\\x00')" % expr)
        elif isinstance(con, _BufferConstruct):
            out.append(pad + "v = %s" % expr)
            out.append(pad + "if v is None: out.append(_NULL)")
            out.append(pad + "else: out.append(_I32.pack(len(v))); out.append(v)")
        elif isinstance(con, _UStringConstruct):
            out.append(pad + "v = %s" % expr)
            out.append(pad + "if v is None: out.append(_NULL)")
            out.append(pad + "else: v = v.encode('utf-8'); out.append(_I32.pack(len(v))); out.append(v)")
        elif isinstance(con, _VectorConstruct):
            item = "i%d" % indent
            out.append(pad + "items = %s" % expr)
            out.append(pad + "if items is None: out.append(_NULL)")
            out.append(pad + "else:")
            out.append(pad + "    out.append(_I32.pack(len(items)))")
            out.append(pad + "    for %s in items:" % item)
            out.extend(self.build_field(con.subcon, item, indent + 8, positional))
        elif isinstance(con, _RecordStruct):
            sub = con.record
            if positional:
                fn = self.name("_pack_", sub.pack)
                out.append(pad + "out.append(%s(*%s))" % (fn, expr))
            else:
                fn = self.name("_build_", sub._build_into)
                out.append(pad + "%s(%s, out)" % (fn, expr))
        elif isinstance(con, FormatField):
            s = self.struct(_fixed_code(con))
            out.append(pad + "out.append(%s.pack(%s))" % (s, expr))
        else:
            raise TypeError("not a jute field: %r" % (con,))
        return out

    def build_function(self, positional):
        """``positional``: ``pack(*fields) -> bytes``; else ``build_into(obj, out)``."""
        fields = self.record.struct.subcons
        if positional:
            lines = ["def pack(%s):" % ", ".join("a_%s" % f.name for f in fields), "    out = []"]
            expr = {f.name: "a_%s" % f.name for f in fields}
        else:
            lines = ["def build_into(obj, out):"]
            expr = {f.name: "obj[%r]" % f.name for f in fields}
        i = 0
        while i < len(fields):
            # A run of fixed-width fields (fixed nested records included): one pack.
            j = i
            while j < len(fields) and _fixed_code(fields[j].subcon):
                j += 1
            if j > i and (j - i >= 2 or isinstance(fields[i].subcon, _RecordStruct)):
                s = self.struct("".join(_fixed_code(f.subcon) for f in fields[i:j]))
                vals = []
                for f in fields[i:j]:
                    if not isinstance(f.subcon, _RecordStruct):
                        vals.append(expr[f.name])
                    elif positional:
                        vals.append("*" + expr[f.name])
                    else:
                        vals.extend("%s[%r]" % (expr[f.name], n) for n in f.subcon.record.fields)
                lines.append("    out.append(%s.pack(%s))" % (s, ", ".join(vals)))
                i = j
                continue
            lines.extend(self.build_field(fields[i].subcon, expr[fields[i].name], 4, positional))
            i += 1
        lines.append("    return b''.join(out)" if positional else "    return out")
        return lines

    def compile(self, lines, name):
        src = "\n".join(lines) + "\n"
        code = compile(src, "<jute record %s: %s>" % (self.record.name, name), "exec")
        ns = dict(self.env)
        exec(code, ns)
        return ns[name], src


class Record:
    """A jute record: named fields in order, compiled once, usable both ways.

    ``parse(data)`` demands that the record fills ``data`` exactly;
    ``parse_prefix(data, offset)`` reads one record starting at ``offset`` and
    returns ``(value, new_offset)``; ``build(value)`` accepts a dict (or a
    construct Container) and returns bytes; ``pack(*fields)`` builds from
    positional values.  ``fixed`` is a ``struct.Struct`` of the whole record
    when every field has a fixed width (else None).  Fields may be primitives,
    other Records, or Vectors.
    """

    def __init__(self, name: str, *fields):
        self.name = name
        subcons = []
        for key, sub in fields:
            if isinstance(sub, Record):
                sub = sub.struct
            subcons.append(key / sub)
        self.fields = tuple(f[0] for f in fields)
        self.struct = _RecordStruct(*subcons)
        self.struct.record = self
        codes = [_fixed_code(sc.subcon) for sc in subcons]
        self.fixed = struct.Struct(">" + "".join(codes)) if all(codes) else None
        attrs = {f: property(itemgetter(f)) for f in self.fields}
        attrs["__slots__"] = ()
        self.value_class = type(name, (JuteValue,), attrs)
        em = _Emitter(self)
        self._parse_at, self.parse_source = em.compile(em.parse_function(), "parse")
        self._build_into, self.build_source = em.compile(em.build_function(False), "build_into")
        self.pack, self.pack_source = em.compile(em.build_function(True), "pack")

    def __repr__(self):
        return "<jute record %s>" % self.name

    def parse(self, data):
        if type(data) is not bytes:
            data = bytes(data)
        try:
            value, pos = self._parse_at(data, 0)
        except Exception as e:  # struct, index and codec errors alike
            raise _parse_error(self.name, e) from None
        if pos != len(data):
            raise JuteError("bad %s: %d trailing bytes" % (self.name, len(data) - pos))
        return value

    def read(self, data: bytes, offset: int):
        """``(value, new_offset)``, unchecked: the compiled parser itself, for
        hot callers that catch :data:`READ_ERRORS` and convert them with
        :func:`read_error`.  ``data`` must be ``bytes``."""
        return self._parse_at(data, offset)

    def parse_prefix(self, data, offset: int = 0):
        if type(data) is not bytes:
            data = bytes(data)
        if offset < 0 or offset > len(data):
            raise JuteError("bad %s: offset %d outside %d bytes" % (self.name, offset, len(data)))
        try:
            return self._parse_at(data, offset)
        except Exception as e:
            raise _parse_error(self.name, e) from None

    def build(self, value) -> bytes:
        try:
            return b"".join(self._build_into(value, []))
        except Exception as e:
            # Building is our side: a failure here is a bug, not bad input.
            raise TypeError("cannot build %s from %r: %s" % (self.name, value, e)) from None

    def make(self, *args, **kwargs):
        """A value with this record's fields, positionally or by name."""
        v = self.value_class(zip(self.fields, args))
        v.update(kwargs)
        return v


#: What a compiled parser raises on bad input (JuteError, struct.error,
#: UnicodeDecodeError: all but struct.error are ValueErrors).
READ_ERRORS = (ValueError, struct.error, IndexError)


def read_error(name: str, e: Exception) -> JuteError:
    """A :data:`READ_ERRORS` exception from reading record ``name`` as JuteError."""
    return _parse_error(name, e)


def _parse_error(name: str, e: Exception) -> JuteError:
    if isinstance(e, JuteError):
        text = str(e)
    elif isinstance(e, UnicodeDecodeError):
        text = "invalid UTF-8 in string"
    elif isinstance(e, (struct.error, IndexError)):
        text = "truncated"
    else:
        msg = str(e).strip().splitlines()
        text = (msg[-1] if msg else e.__class__.__name__)[:200]
    return JuteError("bad %s: %s" % (name, text))
