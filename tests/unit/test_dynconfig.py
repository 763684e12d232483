"""The dynamic config files (zkwire.server.edge.dynconfig) and loading them
(``dynamicConfigFile``).

The formats are what Debian's ZooKeeper 3.8.0 wrote in
tests/integration/test_reconfig.py's Java runs (checked there by
``check_files`` on every member): ``zoo.cfg.dynamic.<hex version>`` holds
the ``server.`` lines sorted as strings, no version line; zoo.cfg loses its
``server.``, ``peerType``, ``clientPort``, ``clientPortAddress`` lines (the
last two once the member's own line carries its client address) and gains
``dynamicConfigFile=<absolute path>``; the first zoo.cfg is kept as
``zoo.cfg.bak``.

Bad dynamic configs, observed on 2026-12-03 by starting 3.8.0's
QuorumPeerMain (reconfigEnabled=true) on each: it exits 2 with "Invalid
config" and a ConfigException -- "dynamic file shouldn't have version
inside" (a ``version=`` line in the file), "parameter: server.1 must be in
a separate dynamic config file" (``server.`` lines in zoo.cfg beside
``dynamicConfigFile``), "Unrecognised parameter: clientPort" (a key other
than ``server.`` in the dynamic file).
"""
from __future__ import annotations

import os

import pytest

from zkwire.server.edge import dynconfig
from zkwire.server.edge.config import ConfigError, load
from zkwire.server.quorum.membership import parse_config_text

TEXT = ("server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001\n"
        "server.10=127.0.0.1:2010:3010:participant\n"
        "server.2=127.0.0.1:2002:3002:observer;127.0.0.1:4002\n"
        "version=10000001f")


def test_a_config_in_force_is_written_as_zookeeper_writes_it(tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("tickTime=200\n# a comment\nclientPort=4001\nclientPortAddress=127.0.0.1\n"
                   "dataDir=%s\npeerType=participant\nserver.1=127.0.0.1:2001:3001\n"
                   "reconfigEnabled=true\n" % tmp_path)
    ms = parse_config_text(TEXT)
    files = dynconfig.DynamicConfigFiles(str(cfg), 1)
    files.proposed(ms)
    nxt = str(cfg) + ".dynamic.next"
    assert open(nxt).read().endswith("\nversion=10000001f")
    files.committed(ms)
    dyn = str(cfg) + ".dynamic.10000001f"
    assert open(dyn).read() == "\n".join(sorted(TEXT.splitlines()[:3]))
    assert not os.path.exists(nxt)
    assert open(str(cfg) + ".bak").read().count("server.1=") == 1
    lines = cfg.read_text().splitlines()
    assert lines == ["tickTime=200", "# a comment", "dataDir=%s" % tmp_path,
                     "reconfigEnabled=true", "dynamicConfigFile=%s" % dyn]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_a_member_restarts_from_the_files_it_wrote(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "myid").write_text("2\n")
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("tickTime=200\ndataDir=%s\nclientPort=4002\nreconfigEnabled=true\n"
                   "server.1=127.0.0.1:2001:3001\nserver.2=127.0.0.1:2002:3002\n" % data)
    dynconfig.DynamicConfigFiles(str(cfg), 2).committed(parse_config_text(TEXT))
    s = load(str(cfg))
    assert s.membership.version == 0x10000001F
    assert s.membership.config_text() == parse_config_text(TEXT).config_text()
    assert s.myid == 2 and 2 in s.membership.observers


@pytest.mark.parametrize("dynamic, static, words", [
    ("server.1=127.0.0.1:2001:3001\nversion=1\n", "", "no version inside"),
    ("server.1=127.0.0.1:2001:3001\n", "server.1=127.0.0.1:2001:3001\n", "must be in"),
    ("clientPort=5\n", "", "server.N lines only"),
])
def test_a_bad_dynamic_config_is_one_line_naming_it(tmp_path, dynamic, static, words):
    dyn = tmp_path / "zoo.cfg.dynamic.1"
    dyn.write_text(dynamic)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\n%sdynamicConfigFile=%s\n" % (tmp_path, static, dyn))
    with pytest.raises(ConfigError) as e:
        load(str(cfg))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_version_is_the_hex_after_dynamic():
    assert dynconfig.version_from_file_name("/c/zoo.cfg.dynamic.100000000") == 0x100000000
    assert dynconfig.version_from_file_name("/c/zoo.cfg.dyn") is None
