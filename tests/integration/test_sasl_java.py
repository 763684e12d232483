"""SASL with the official ZooKeeper Java client: its JAAS ``Client`` section.

tests/java/ZkSasl.java is compiled into tmp_path and run with
-Djava.security.auth.login.config naming a Client section (DigestLoginModule,
username/password), against a server with test_sasl.py's JAAS Server section
and SASLAuthenticationProvider.  Its transcript must be what it printed
against Apache ZooKeeper 3.8.0 (ZKWIRE_TEST_TARGET=zookeeper runs it there).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import ServerProcess, apache_zookeeper_available, target_kind  # noqa: E402
from test_java_client import CLASSPATH  # noqa: E402
from test_sasl import JAAS, SASL_PROVIDER  # noqa: E402

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "java",
                      "ZkSasl.java")
CLIENT_JAAS = """\
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="bob"
    password="%s";
};
"""

# Observed against Apache ZooKeeper 3.8.0 (the Java client of Debian's 3.8.0).
EXPECTED = {
    "good": ["event -> SyncConnected", "event -> SaslAuthenticated",
             "create sasl:bob -> /jsasl", "getData -> v",
             "whoAmI -> [ip:127.0.0.1, sasl:bob]", "delete -> ok", "closed"],
    "bad": ["event -> SyncConnected", "event -> AuthFailed", "exists -> AUTHFAILED", "closed"],
}

pytestmark = pytest.mark.skipif(not apache_zookeeper_available(), reason="needs java")


@pytest.fixture(scope="module")
def sasl_server():
    srv = ServerProcess(target_kind(), cfg=SASL_PROVIDER, jaas=JAAS)
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    build = tmp_path_factory.mktemp("zksasl")
    compiled = subprocess.run(["javac", "-cp", ":".join(CLASSPATH), "-d", str(build), SOURCE],
                              capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    return build


@pytest.mark.parametrize("mode, password", [("good", "bob_pw"), ("bad", "wrong")])
def test_java_client_sasl(sasl_server, classes, tmp_path, mode, password):
    jaas = tmp_path / "client-jaas.conf"
    jaas.write_text(CLIENT_JAAS % password)
    run = subprocess.run(["java", "-Djava.security.auth.login.config=%s" % jaas,
                          "-cp", "%s:%s" % (classes, ":".join(CLASSPATH)), "ZkSasl",
                          sasl_server.hosts, mode],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.stdout.splitlines() == EXPECTED[mode], run.stderr
