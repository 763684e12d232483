"""Java's hash-container iteration orders, where ZooKeeper lets them show.

A few of ZooKeeper's answers list the members of a java.util.HashSet or a
ConcurrentHashMap-backed set: the identities of a connection (whoAmI, and the
expansion of an ``auth`` ACL), a session's ephemerals (getEphemerals, and the
order in which a closed session's ephemerals are deleted, which orders the
watch events).  That order is deterministic -- bucket by bucket of the hash
table, insertion order within a bucket -- so zkwire reproduces it instead of
inventing its own.
"""
from __future__ import annotations


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def string_hash(s: str) -> int:
    """java.lang.String.hashCode over UTF-16 code units."""
    h = 0
    raw = s.encode("utf-16-be")
    for i in range(0, len(raw), 2):
        h = (31 * h + (raw[i] << 8 | raw[i + 1])) & 0xFFFFFFFF
    return _int32(h)


def id_hash(scheme: str, ident: str) -> int:
    """The jute-generated hashCode of org.apache.zookeeper.data.Id."""
    result = 17
    result = _int32(37 * result + string_hash(scheme))
    return _int32(37 * result + string_hash(ident))


def _spread(h: int) -> int:
    h &= 0xFFFFFFFF
    return h ^ (h >> 16)


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


def hash_order(items, hashes, capacity: int) -> list:
    """``items`` (in insertion order) as a hash table of ``capacity`` iterates them."""
    mask = capacity - 1
    keyed = [(_spread(h) & mask, i, item) for i, (item, h) in enumerate(zip(items, hashes))]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]


def hashset_order(strings, capacity: int) -> list:
    strings = list(strings)
    return hash_order(strings, [string_hash(s) for s in strings], capacity)


def ephemerals_clone_order(paths_in_insertion_order, max_size: int) -> list:
    """Order of DataTree.getEphemerals(sid): a clone of the session's HashSet."""
    original = hashset_order(paths_in_insertion_order, table_capacity(max_size))
    return hashset_order(original, clone_capacity(len(original)))


def auth_ids_order(ids) -> list:
    """Order of a connection's authInfo (a ConcurrentHashMap-backed set, 16 bins)."""
    ids = list(ids)
    cap = table_capacity(len(ids))
    # ConcurrentHashMap.spread also clears the sign bit; the bin index is the same.
    return hash_order(ids, [id_hash(s, i) for s, i in ids], cap)
