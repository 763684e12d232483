"""``zkwire serve`` fails loudly: every start-up failure is one line on stderr
and a non-zero exit, promptly; a fatal error while serving exits non-zero.

These are zkwire's own rules (design notes, "Bad input"), so they run against
zkwire only.  A module that fails to import is simulated with a
``sitecustomize`` on PYTHONPATH that refuses the modules named in
ZKWIRE_TEST_FAIL_IMPORTS -- nothing extra is installed.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest

from .test_config import ENV, Serve, serving_cfg, write_cfg

#: Generous: a start-up failure must end the process, not within a precise time.
EXIT_DEADLINE_S = 20

SITECUSTOMIZE = textwrap.dedent('''
    import os, sys

    _FAIL = set(filter(None, os.environ.get("ZKWIRE_TEST_FAIL_IMPORTS", "").split(",")))

    class _Refuse:
        def find_spec(self, name, path=None, target=None):
            if name in _FAIL:
                raise ModuleNotFoundError("No module named %r (refused by the test)" % name,
                                          name=name)
            return None

    sys.meta_path.insert(0, _Refuse())
''')


def _env_failing(tmp_path, modules):
    d = tmp_path / "stub"
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(ENV)
    env["PYTHONPATH"] = str(d) + os.pathsep + env.get("PYTHONPATH", "")
    env["ZKWIRE_TEST_FAIL_IMPORTS"] = ",".join(modules)
    return env


def _run(args, tmp_path, env=None):
    return subprocess.run([sys.executable, "-m", "zkwire", "serve"] + args, capture_output=True,
                          text=True, timeout=EXIT_DEADLINE_S, cwd=str(tmp_path),
                          env=env or ENV)


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (DEBUG|INFO|WARNING) ")


def _one_line(stderr):
    """The failure: the one stderr line that is not an ordinary log line
    (the dataDir's recovery is logged at INFO before the failure)."""
    assert "Traceback" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.strip() and not _LOG_LINE.match(x)]
    assert len(lines) == 1, stderr
    return lines[0]


def test_plaintext_serving_needs_no_tls_modules(tmp_path):
    # pyOpenSSL without service_identity used to make the endpoint import
    # fail inside a reactor trigger: the process ran on, listening nowhere.
    env = _env_failing(tmp_path, ["twisted.internet.ssl", "twisted.internet.endpoints",
                                  "OpenSSL", "service_identity"])
    s = Serve([serving_cfg(tmp_path)], str(tmp_path), env=env)
    try:
        s.wait_ready()
    finally:
        s.kill()


@pytest.mark.parametrize("module", ["zkwire.server.edge.gcpolicy", "twisted.internet.task",
                                    "zkwire.server.edge.net"])
def test_a_module_that_fails_to_import_is_one_line_and_nonzero(tmp_path, module):
    p = _run([serving_cfg(tmp_path)], tmp_path, _env_failing(tmp_path, [module]))
    assert p.returncode != 0
    line = _one_line(p.stderr)
    assert module in line


def test_port_in_use_is_one_line_and_nonzero(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cfg = write_cfg(tmp_path, "tickTime=500\nclientPortAddress=127.0.0.1\nclientPort=%d\n"
                        "dataDir=%s\n" % (port, tmp_path / "data"))
        p = _run([cfg], tmp_path)
    assert p.returncode != 0
    assert str(port) in _one_line(p.stderr)


def test_unusable_data_dir_is_one_line_and_nonzero(tmp_path):
    (tmp_path / "data").write_text("a file where the dataDir should be")
    p = _run([serving_cfg(tmp_path)], tmp_path)
    assert p.returncode != 0
    assert "dataDir" in _one_line(p.stderr)


def _limit_file_size():
    # Files may not grow past 256 KiB: a write beyond fails with EFBIG (CPython
    # ignores SIGXFSZ), as it would on a full disk.
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))


def test_a_log_that_cannot_be_written_stops_the_server_nonzero(tmp_path):
    from kazoo.client import KazooClient

    cfg = serving_cfg(tmp_path, "preAllocSize=16\n")
    s = Serve([cfg], str(tmp_path), preexec_fn=_limit_file_size)
    zk = None
    try:
        port = s.wait_ready()
        zk = KazooClient(hosts="127.0.0.1:%d" % port, timeout=5, connection_retry=None)
        zk.start(timeout=10)
        zk.create("/small", b"fits")
        # This write cannot be made durable: it must not be acknowledged, and
        # the server must stop with a non-zero status.
        with pytest.raises(Exception) as info:
            zk.create_async("/big", b"x" * (400 << 10)).get(timeout=10)
        assert "NodeExists" not in repr(info.value)
        rc = s.proc.wait(timeout=EXIT_DEADLINE_S)
        assert rc != 0
        s.wait_for(r"cannot write the transaction log")
    finally:
        if zk is not None:
            zk.stop()
            zk.close()
        s.kill()
