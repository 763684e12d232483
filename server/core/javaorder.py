"""Java's hash-container iteration orders, where ZooKeeper lets them show.

A few of ZooKeeper's answers list the members of a java.util.HashSet or a
ConcurrentHashMap-backed set: the identities of a connection (whoAmI, and the
expansion of an ``auth`` ACL), a session's ephemerals (getEphemerals, and the
order in which a closed session's ephemerals are deleted, which orders the
watch events).  That order is deterministic -- bucket by bucket of the hash
table, insertion order within a bucket -- so zkwire reproduces it instead of
inventing its own.

Cost.  A session may own tens of thousands of ephemerals with long names, and
listing them happens on the event loop, so two things are kept cheap: ordering
is one stable sort by bucket index (no per-element tuples), and
``String.hashCode`` is not a per-character Python loop on CPython (see
:func:`string_hash`).  The data tree also computes each ephemeral's hash once,
when the node is created, as Java caches it in the String.
"""
from __future__ import annotations

import sys
from array import array
from operator import mul

_M32 = 0xFFFFFFFF
_B32 = 1 << 32


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def _hash_by_code_unit(s: str) -> int:
    """java.lang.String.hashCode, one UTF-16 code unit at a time (the definition)."""
    h = 0
    raw = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(raw), 2):
        h = (31 * h + (raw[i] << 8 | raw[i + 1])) & 0xFFFFFFFF
    return _int32(h)


# --- String.hashCode on CPython ----------------------------------------------------------
#
# hashCode = sum(u[i] * 31**(n-1-i)) mod 2**32 over the UTF-16 code units u.  A
# Python loop costs ~100 ns a unit on CPython, so the sum is done in C instead:
#
# * short strings: sum(map(mul, units reversed, powers of 31 mod 2**32));
# * long strings: the units, last first, go into 32-bit slots of one big int
#   X = sum(u[n-1-j] * 2**(32*j)).  Multiplying X by Q = sum(31**j * 2**(32*(K-1-j)))
#   leaves in slot K*b+K-1 the exact hash of block b (units K*b .. K*b+K-1,
#   counting from the end), because no slot overflows: 127 * (31**6-1)/30 and
#   65535 * (31**4-1)/30 are both below 2**32 (K = 6 for ASCII, 4 otherwise).
#   The blocks are then summed with weights 31**(K*b) as above: K times fewer
#   Python-level elements.
#
# PyPy's JIT runs the plain loop faster than any of this, so PyPy keeps it.

_CHUNK_BLOCKS = 1024     # blocks per big-int pass; longer strings go chunk by chunk
_SHORT = 64              # below this many units the map/sum form is faster


def _powers(base: int, count: int) -> list:
    out = [1]
    for _ in range(count - 1):
        out.append(out[-1] * base & _M32)
    return out


_POW31 = _powers(31, _SHORT)
_K_ASCII, _K_WIDE = 6, 4
_Q_ASCII = sum(31 ** j << (32 * (_K_ASCII - 1 - j)) for j in range(_K_ASCII))
_Q_WIDE = sum(31 ** j << (32 * (_K_WIDE - 1 - j)) for j in range(_K_WIDE))
_POW_ASCII = _powers(pow(31, _K_ASCII, _B32), _CHUNK_BLOCKS)
_POW_WIDE = _powers(pow(31, _K_WIDE, _B32), _CHUNK_BLOCKS)
# Reversed big-endian UTF-16 is little-endian code units, last unit first.
_UTF16_REVERSED = "utf-16-be" if sys.byteorder == "little" else "utf-16-le"


def _blocks_hash(rev: bytes, width: int) -> int:
    """Hash (mod 2**32) of the code units in ``rev`` (little-endian, ``width``
    bytes each, last unit first)."""
    if width == 1:
        k, q, weights = _K_ASCII, _Q_ASCII, _POW_ASCII
    else:
        k, q, weights = _K_WIDE, _Q_WIDE, _POW_WIDE
    n = len(rev) // width
    chunk = k * _CHUNK_BLOCKS
    h = 0
    # Chunks from the end of ``rev`` (the front of the string) backwards.
    for start in range(((n - 1) // chunk) * chunk, -1, -chunk):
        part = rev[start * width:(start + chunk) * width]
        m = len(part) // width
        slots = bytearray(4 * m)
        slots[0::4] = part[0::width]
        if width == 2:
            slots[1::4] = part[1::2]
        blocks = (m + k - 1) // k
        p = int.from_bytes(slots, "little") * q
        words = memoryview(p.to_bytes(4 * k * (blocks + 1), "little")).cast("I")
        part_h = sum(map(mul, words[k - 1::k], weights)) & _M32
        h = (h * pow(31, m, _B32) + part_h) & _M32
    return h


def _string_hash_c(s: str) -> int:
    if s.isascii():
        raw = s.encode("ascii")[::-1]
        if len(raw) < _SHORT:
            h = sum(map(mul, raw, _POW31)) & _M32
        else:
            h = _blocks_hash(raw, 1)
    else:
        raw = s.encode(_UTF16_REVERSED, "surrogatepass")[::-1]
        if len(raw) < 2 * _SHORT:
            h = sum(map(mul, memoryview(raw).cast("H"), _POW31)) & _M32
        else:
            h = _blocks_hash(raw, 2)
    return h - _B32 if h & 0x80000000 else h


if (sys.implementation.name == "cpython" and sys.byteorder == "little"
        and array("I").itemsize == 4 and array("H").itemsize == 2):
    string_hash = _string_hash_c
else:
    string_hash = _hash_by_code_unit
string_hash.__doc__ = "java.lang.String.hashCode over UTF-16 code units (a signed int)."


def id_hash(scheme: str, ident: str) -> int:
    """The jute-generated hashCode of org.apache.zookeeper.data.Id."""
    result = 17
    result = _int32(37 * result + string_hash(scheme))
    return _int32(37 * result + string_hash(ident))


def table_capacity(max_size: int, initial: int = 16) -> int:
    """HashMap capacity after holding at most ``max_size`` entries (it never shrinks)."""
    cap = initial
    while max_size > cap * 3 // 4:
        cap *= 2
    return cap


def clone_capacity(size: int) -> int:
    """Capacity of HashSet.clone() of a set of ``size`` (HashMap.putMapEntries)."""
    t = int(size / 0.75 + 1.0)
    cap = 1
    while cap < t:
        cap *= 2
    return cap


def order_indices(hashes, capacity: int) -> list:
    """Indices of ``hashes`` (of items in insertion order) in the order a hash
    table of ``capacity`` iterates them: by bucket (HashMap.hash spreads the
    high half into the low one), insertion order within a bucket (the sort is
    stable)."""
    mask = capacity - 1
    buckets = [((h & _M32) ^ ((h & _M32) >> 16)) & mask for h in hashes]
    return sorted(range(len(buckets)), key=buckets.__getitem__)


def hash_order(items, hashes, capacity: int) -> list:
    """``items`` (in insertion order) as a hash table of ``capacity`` iterates them."""
    items = list(items)
    return [items[i] for i in order_indices(hashes, capacity)]


def hashset_order(strings, capacity: int) -> list:
    strings = list(strings)
    return hash_order(strings, [string_hash(s) for s in strings], capacity)


def clone_order_indices(hashes, max_size: int) -> list:
    """Indices, in the order DataTree.getEphemerals(sid) lists a session's
    ephemerals (a clone of its HashSet), of ``hashes`` in insertion order;
    ``max_size``: the most the set ever held (its capacity follows that)."""
    first = order_indices(hashes, table_capacity(max_size))
    second = order_indices([hashes[i] for i in first], clone_capacity(len(first)))
    return [first[i] for i in second]


def ephemerals_clone_order(paths_in_insertion_order, max_size: int, hashes=None) -> list:
    """Order of DataTree.getEphemerals(sid): a clone of the session's HashSet."""
    paths = list(paths_in_insertion_order)
    if hashes is None:
        hashes = [string_hash(p) for p in paths]
    return [paths[i] for i in clone_order_indices(hashes, max_size)]


def auth_ids_order(ids) -> list:
    """Order of a connection's authInfo (a ConcurrentHashMap-backed set, 16 bins)."""
    ids = list(ids)
    cap = table_capacity(len(ids))
    # ConcurrentHashMap.spread also clears the sign bit; the bin index is the same.
    return hash_order(ids, [id_hash(s, i) for s, i in ids], cap)


def chm_order(keys_in_insertion_order) -> list:
    """The iteration order of a ``java.util.concurrent.ConcurrentHashMap``
    (default constructor) into which these String keys were put, in this
    order, with no removals.

    Unlike HashMap, a ConcurrentHashMap's resize does not keep the order
    within a bin: ``transfer`` finds the bin's last run of nodes bound for
    the same half, keeps it, and puts each node before it at the *front* of
    its half.  So the order is simulated put by put rather than sorted.
    (Bins long enough to become trees, 8 nodes, do not occur with these
    key counts; they are not modelled.)"""
    n = 16
    table = [[] for _ in range(n)]
    size_ctl = n - (n >> 2)
    size = 0
    for key in keys_in_insertion_order:
        h = string_hash(key) & _M32
        h = (h ^ (h >> 16)) & 0x7FFFFFFF
        bin_ = table[h & (n - 1)]
        if any(k == key for _, k in bin_):
            continue
        bin_.append((h, key))
        size += 1
        while size >= size_ctl:
            new = [None] * (2 * n)
            for i, nodes in enumerate(table):
                lo, hi = [], []
                if nodes:
                    run_bit = nodes[0][0] & n
                    last_run = 0
                    for j in range(1, len(nodes)):
                        b = nodes[j][0] & n
                        if b != run_bit:
                            run_bit, last_run = b, j
                    tail = nodes[last_run:]
                    if run_bit == 0:
                        lo = list(tail)
                    else:
                        hi = list(tail)
                    for node in nodes[:last_run]:
                        (lo if node[0] & n == 0 else hi).insert(0, node)
                new[i], new[i + n] = lo, hi
            table = new
            n *= 2
            size_ctl = n - (n >> 1 >> 1)
    return [k for nodes in table for _, k in nodes]
