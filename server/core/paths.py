"""Path rules, as ZooKeeper's PathUtils.validatePath applies them."""
from __future__ import annotations

SPECIAL_PATHS = frozenset(("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"))


def is_special_path(path: str) -> bool:
    return path in SPECIAL_PATHS


def _bad_char(c: str) -> bool:
    o = ord(c)
    # Java checks UTF-16 code units: anything outside the BMP is a surrogate pair,
    # which falls in the forbidden \\ud800-\\uf8ff range.
    return (
        0 < o <= 0x1F
        or 0x7F <= o <= 0x9F
        or 0xD800 <= o <= 0xF8FF
        or 0xFFF0 <= o
    )


def invalid_path_reason(path) -> str | None:
    """None if ``path`` is a valid znode path, else ZooKeeper's reason."""
    # Most real paths are printable ASCII: accept those without the scan when
    # nothing in them can be wrong (no empty name, no name starting with ".").
    if (path and path[0] == "/" and path.isascii() and path.isprintable()
            and (len(path) == 1 or (path[-1] != "/" and "//" not in path and "/." not in path))):
        return None
    return scan_path(path)


def scan_path(path) -> str | None:
    """The full check, character by character, as PathUtils.validatePath."""
    if path is None:
        return "Path cannot be null"
    if not path:
        return "Path length must be > 0"
    if path[0] != "/":
        return "Path must start with / character"
    n = len(path)
    if n == 1:
        return None
    if path[-1] == "/":
        return "Path must not end with / character"
    last = "/"
    for i in range(1, n):
        c = path[i]
        if c == "\0":
            return "null character not allowed @%d" % i
        if c == "/" and last == "/":
            return "empty node name specified @%d" % i
        if c == "." and last == ".":
            if path[i - 2] == "/" and (i + 1 == n or path[i + 1] == "/"):
                return "relative paths not allowed @%d" % i
        elif c == ".":
            if path[i - 1] == "/" and (i + 1 == n or path[i + 1] == "/"):
                return "relative paths not allowed @%d" % i
        elif _bad_char(c):
            return "invalid character @%d" % i
        last = c
    return None
