"""The dynamic configuration files of a reconfigEnabled ensemble member.

As ZooKeeper's QuorumPeer.setQuorumVerifier / setLastSeenQuorumVerifier and
QuorumPeerConfig.writeDynamicConfig / editStaticConfig do it:

* a config in force is written to ``<zoo.cfg>.dynamic.<version in hex>``: its
  ``server.N=`` lines sorted as strings, no version line (the version is in
  the name), no newline at the end;
* the static file is rewritten without its ``server.N``, ``group``,
  ``weight``, ``dynamicConfigFile`` and ``peerType`` lines (and without
  ``clientPort``/``clientPortAddress`` once this server's client address is
  in the dynamic file), with ``dynamicConfigFile=<absolute path>`` at the end;
* the static file as it was before its first rewrite is kept as
  ``<zoo.cfg>.bak``;
* a config proposed and not yet in force goes to ``<zoo.cfg>.dynamic.next``,
  version line kept; it is removed once that version is in force.

Every file is written to a temporary name in the same directory, flushed
to disk and renamed over the old one (ZooKeeper's AtomicFileWritingIdiom), so
a crash leaves the old file or the new one, never half of one.  Unlike
ZooKeeper (which reloads the static file as Java Properties and writes them
back in hash order, comments dropped), the static file keeps its other lines
in their order, comments included.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger("zkwire.dynconfig")

NEXT_SUFFIX = ".dynamic.next"

_ENSEMBLE_KEYS = ("server.", "group", "weight", "dynamicConfigFile", "peerType")
_CLIENT_KEYS = ("clientPort", "clientPortAddress")


def dynamic_file_name(cfg_path: str, version: int) -> str:
    return "%s.dynamic.%x" % (cfg_path, version)


def version_from_file_name(path: str):
    """QuorumPeerConfig.getVersionFromFilename: the hex after the last
    ``.dynamic.``, or None when the name has none."""
    marker = ".dynamic."
    i = path.rfind(marker)
    if i < 0:
        return None
    tail = path[i + len(marker):]
    try:
        return int(tail, 16)
    except ValueError:
        return None


def dynamic_text(ms, keep_version: bool) -> str:
    lines = [ln for ln in ms.config_text().splitlines()
             if keep_version or not ln.startswith("version")]
    return "\n".join(sorted(lines))


def write_atomically(path: str, text: str) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def static_text(old_text: str, dynamic_path: str, erase_client: bool) -> str:
    out = []
    for line in old_text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line else ""
        if key.startswith(_ENSEMBLE_KEYS):
            continue
        if erase_client and key.startswith(_CLIENT_KEYS):
            continue
        out.append(line)
    out.append("dynamicConfigFile=" + os.path.abspath(dynamic_path))
    return "\n".join(out) + "\n"


class DynamicConfigFiles:
    """Writes the files for one member whose static config is ``cfg_path``."""

    def __init__(self, cfg_path: str, myid: int):
        self.cfg_path = cfg_path
        self.myid = myid

    def committed(self, ms) -> None:
        path = dynamic_file_name(self.cfg_path, ms.version)
        try:
            write_atomically(path, dynamic_text(ms, keep_version=False))
            with open(self.cfg_path, encoding="utf-8") as f:
                old = f.read()
            if any(ln.strip().startswith("server.") for ln in old.splitlines()):
                # The first rewrite of a static file with server lines keeps
                # the original as <zoo.cfg>.bak (QuorumPeerConfig.backupOldConfig).
                write_atomically(self.cfg_path + ".bak", old)
            me = ms.members.get(self.myid)
            erase = me is not None and me.client_port is not None
            write_atomically(self.cfg_path, static_text(old, path, erase))
            nxt = self.cfg_path + NEXT_SUFFIX
            if os.path.exists(nxt):
                os.remove(nxt)
        except OSError as e:
            # As ZooKeeper: logged, the config is in force all the same.
            log.error("cannot write the dynamic config %s: %s", path, e)
            return
        log.info("configuration version %#x written to %s", ms.version, path)

    def proposed(self, ms) -> None:
        path = self.cfg_path + NEXT_SUFFIX
        try:
            write_atomically(path, dynamic_text(ms, keep_version=True))
        except OSError as e:
            log.error("cannot write %s: %s", path, e)
