"""Seed data: a tree as a JSON file, loaded at start and dumped back.

The format is one flat JSON object, absolute path -> the node's data::

    {
      "/app": "",
      "/app/config": "v1",
      "/app/flags": {"base64": "AAEC/w=="},
      "/app/empty": null
    }

* A string is the data as UTF-8 text; ``{"base64": "..."}`` is any bytes
  (``export`` writes it for data that is not printable UTF-8 text: control
  characters other than tab and newlines, or not UTF-8); ``null`` is a node with
  no data (a null buffer, as a client that creates with ``null`` makes).
* Parents that are not listed are created with empty data, so
  ``{"/a/b/c": "x"}`` alone is a valid file.  Order does not matter: parents
  are created before their children.
* Every node is created persistent, with ZooKeeper's open ACL
  (world:anyone, all permissions).  ``export`` leaves out ephemeral nodes
  (they die with their session) and ``/zookeeper`` (the server's own); it
  writes sequential nodes under their full names, so a loaded tree has the
  same paths (a parent's next sequence number then starts at its child
  count, not where the original's was).
* Loading never changes a node that exists: restarting a server on its
  dataDir with the same file is harmless.

YAML is not read: zkwire depends on no YAML package.
"""
from __future__ import annotations

import base64
import json

from zkwire.server.core.paths import invalid_path_reason

#: What ``export`` never writes and ``load`` refuses: the server's own subtree.
RESERVED = "/zookeeper"


class SeedError(ValueError):
    """A seed file or tree that is not in the format above."""


class Nodes(list):
    """A parsed seed: ``(path, data bytes or None)``, parents first."""


def parse(nodes) -> Nodes:
    """A seed (a mapping, or a JSON text) -> ``[(path, data bytes or None)]``
    with every missing parent added, parents first."""
    if isinstance(nodes, (str, bytes)):
        try:
            nodes = json.loads(nodes)
        except ValueError as e:
            raise SeedError("not JSON: %s" % e) from None
    if not isinstance(nodes, dict):
        raise SeedError("a seed is a JSON object of path -> data, got %s" % type(nodes).__name__)
    out = {}
    for path, value in nodes.items():
        if not isinstance(path, str):
            raise SeedError("path %r is not a string" % (path,))
        if path == "/":
            if value not in (None, "", {"base64": ""}):
                raise SeedError("/ cannot carry data in a seed")
            continue
        why = invalid_path_reason(path)
        if why is not None:
            raise SeedError("invalid path %r: %s" % (path, why))
        if path == RESERVED or path.startswith(RESERVED + "/"):
            raise SeedError("%s belongs to the server: %r cannot be seeded" % (RESERVED, path))
        out[path] = decode_data(path, value)
    for path in list(out):
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in out:
            out[parent] = b""
            parent = parent.rsplit("/", 1)[0]
    return Nodes(sorted(out.items(), key=lambda item: item[0].split("/")))


def decode_data(path: str, value):
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except ValueError:
            raise SeedError("%s: bad base64 data" % path) from None
    raise SeedError("%s: data must be a string, null or {\"base64\": ...}, got %r" % (path, value))


def encode_data(data):
    if data is None:
        return None
    data = bytes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and (text.isprintable() or all(c.isprintable() or c in "\t\n\r"
                                                        for c in text)):
        return text
    return {"base64": base64.b64encode(data).decode("ascii")}


def nodes_of(seed) -> list:
    """What the API takes as a seed -- a mapping, a JSON file's path, or
    what :func:`parse` returns -- as :class:`Nodes`."""
    if isinstance(seed, Nodes):
        return seed
    if isinstance(seed, (str, bytes)) or hasattr(seed, "__fspath__"):
        return read_file(seed)
    return parse(seed)


def read_file(path: str) -> list:
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise SeedError("cannot read %s: %s" % (path, e.strerror)) from None
    try:
        return parse(text)
    except SeedError as e:
        raise SeedError("%s: %s" % (path, e)) from None


def dumps(tree: dict) -> str:
    """The exported mapping as the JSON text ``load`` reads (tree order)."""
    return json.dumps(tree, indent=2, ensure_ascii=False) + "\n"


def _included(path: str, root: str) -> bool:
    if path in ("", "/") or path == RESERVED or path.startswith(RESERVED + "/"):
        return False
    return root == "/" or path == root or path.startswith(root + "/")


def export_tree(tree, root: str = "/") -> dict:
    """A server's :class:`~zkwire.server.core.tree.DataTree` -> the seed mapping."""
    root = root.rstrip("/") or "/"
    out = {}
    for path in sorted((p for p in tree.nodes if _included(p, root)), key=lambda p: p.split("/")):
        node = tree.nodes[path]
        if node.stat()[7] != 0:        # ephemeralOwner, as clients see it
            continue
        out[path] = encode_data(node.data)
    return out


def export_kazoo(client, root: str = "/") -> dict:
    """The same mapping, read through a connected kazoo client (any server)."""
    from kazoo.exceptions import NoNodeError

    root = root.rstrip("/") or "/"
    out = {}

    def walk(path):
        try:
            data, stat = client.get(path)
        except NoNodeError:
            if path == root:
                raise
            return                     # deleted while we walked
        if path != "/" and _included(path, root):
            if stat.ephemeralOwner:
                return
            out[path] = encode_data(data)
        try:
            children = client.get_children(path)
        except NoNodeError:
            return
        for child in sorted(children):
            full = (path.rstrip("/") or "") + "/" + child
            if full == RESERVED:
                continue
            walk(full)

    try:
        walk(root)
    except NoNodeError:
        raise SeedError("%s does not exist" % root) from None
    return dict(sorted(out.items(), key=lambda item: item[0].split("/")))
