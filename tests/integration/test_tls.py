"""TLS on the client port (secureClientPort), against zkwire and Apache ZooKeeper.

Every server here is started by tests/servers.py from the same zoo.cfg for
either target (``ZKWIRE_TEST_TARGET=zookeeper``), with certificates made at
test time (tests/tlscerts.py).  The expectations are what Apache ZooKeeper
3.8.0 does; tests/ZOOKEEPER_FACTS.md "TLS on the client port" has the
observations, and the one place 3.8 and 3.9 differ (the default protocol)
uses ``since_39``.
"""
from __future__ import annotations

import socket
import ssl
import struct
import threading

import pytest

from servers import ServerProcess, since_39, target_kind
from tlscerts import CLIENT_SUBJECT, PASSWORD, keytool_available, make_pki

kazoo = pytest.importorskip("kazoo")
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import InvalidACLError, NoAuthError  # noqa: E402
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402
from kazoo.security import ACL, Id, Permissions  # noqa: E402

#: The client certificate's subject as ZooKeeper's x509 provider names it:
#: Java's X500Principal.getName() (RFC 2253), read back from an ``auth`` ACL
#: on Apache ZooKeeper 3.8.0.  CLIENT_SUBJECT lists the same attributes in
#: certificate order.
CLIENT_ID = ("1.2.840.113549.1.9.1=#160d63406578616d706c652e6f7267,"
             "CN=client,OU=zk,O=Acme\\, Inc.,C=DE")
assert len(CLIENT_SUBJECT) == 5


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


class _Servers:
    """Servers by configuration, started on first use, stopped (by PID) at
    the end of the module."""

    def __init__(self, pki):
        self.pki = pki
        self.running = {}

    def get(self, fmt="jks", **extra):
        key = (fmt, tuple(sorted(extra.items())))
        srv = self.running.get(key)
        if srv is None:
            srv = self.start(fmt, **extra)
            self.running[key] = srv
        return srv

    def config(self, fmt, **extra):
        p = self.pki.path
        trust = {"jks": "truststore.jks", "p12": "truststore.p12", "pem": "truststore.pem"}[fmt]
        cfg = {
            "ssl.keyStore.location": p("server-keystore." + fmt),
            "ssl.keyStore.password": PASSWORD,
            "ssl.trustStore.location": p(trust),
            "ssl.trustStore.password": PASSWORD,
        }
        if fmt == "pem":
            del cfg["ssl.keyStore.password"]   # see tlscerts: an unencrypted key
        props = {}
        for k, v in extra.items():
            k = k.replace("__", ".")
            if k.startswith("D_"):
                props[k[2:]] = v
            else:
                cfg[k] = v
        return cfg, props

    def start(self, fmt, **extra):
        cfg, props = self.config(fmt, **extra)
        srv = ServerProcess(target_kind(), cfg=cfg, sysprops=props, secure=True)
        try:
            srv.start()
        except Exception:
            srv.cleanup()
            raise
        return srv

    def stop_all(self):
        for srv in self.running.values():
            srv.cleanup()
        self.running.clear()


@pytest.fixture(scope="module")
def servers(pki):
    if not keytool_available():
        pytest.fail("keytool (a JDK) is needed to write the JKS stores")
    s = _Servers(pki)
    yield s
    s.stop_all()


@pytest.fixture
def clients():
    made = []

    def make(hosts, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=hosts, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def tls_kw(pki, who="client"):
    kw = {"use_ssl": True, "ca": pki.path("ca.pem")}
    if who is not None:
        kw.update(certfile=pki.path(who + "-cert.pem"), keyfile=pki.path(who + "-key.pem"))
    return kw


def started(client, timeout=15):
    client.start(timeout=timeout)
    return client


def refused(client, timeout=3):
    """The client cannot get a session: every handshake is refused."""
    with pytest.raises(KazooTimeoutError):
        client.start(timeout=timeout)
    client.stop()
    return True


AUTH_ACL = [ACL(Permissions.ALL, Id("auth", ""))]


def auth_ids(client, path):
    """The connection's authenticated identities, as an ``auth`` ACL expands
    them on the server (kazoo has no whoAmI)."""
    client.create(path, acl=AUTH_ACL)
    acl, _ = client.get_acls(path)
    return [(a.id.scheme, a.id.id) for a in acl]


def handshake(port, pki, who="client", **ctx_opts):
    """One TLS handshake with Python's ssl module -> (version, cipher name)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.path("ca.pem"))
    ctx.check_hostname = False
    if who:
        ctx.load_cert_chain(pki.path(who + "-cert.pem"), pki.path(who + "-key.pem"))
    for k, v in ctx_opts.items():
        setattr(ctx, k, v)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.version(), s.cipher()[0]


CONNECT_REQUEST = (struct.pack(">i", 45) + struct.pack(">iqiq", 0, 0, 30000, 0)
                   + struct.pack(">i", 16) + b"\0" * 16 + b"\0")


# --- the secure port and the plain port, one server --------------------------------------------
def test_tls_client_and_plain_client_share_the_tree_and_watches(servers, pki, clients):
    srv = servers.get()
    tls = started(clients(srv.secure_hosts, **tls_kw(pki)))
    plain = started(clients(srv.hosts))
    fired = threading.Event()
    plain.ensure_path("/tls-shared")
    plain.get_children("/tls-shared", watch=lambda e: fired.set())
    assert tls.create("/tls-shared/a", b"over tls") == "/tls-shared/a"
    assert fired.wait(10)
    assert plain.get("/tls-shared/a")[0] == b"over tls"
    tls.set("/tls-shared/a", b"again")
    assert plain.get("/tls-shared/a")[0] == b"again"
    plain.delete("/tls-shared", recursive=True)


def test_x509_identity_is_the_subject_in_rfc2253(servers, pki, clients):
    srv = servers.get()
    c = started(clients(srv.secure_hosts, **tls_kw(pki)))
    assert auth_ids(c, "/tls-id") == [("x509", CLIENT_ID)]
    c.delete("/tls-id")


def test_x509_acl_admits_its_subject_only(servers, pki, clients):
    srv = servers.get()
    owner = started(clients(srv.secure_hosts, **tls_kw(pki)))
    other = started(clients(srv.secure_hosts, **tls_kw(pki, "admin")))
    plain = started(clients(srv.hosts))
    owner.create("/tls-acl", b"secret", acl=[ACL(Permissions.ALL, Id("x509", CLIENT_ID))])
    try:
        assert owner.get("/tls-acl")[0] == b"secret"
        with pytest.raises(NoAuthError):
            other.get("/tls-acl")
        with pytest.raises(NoAuthError):
            plain.get("/tls-acl")
        # An x509 ACL id must parse as an X.500 name.
        with pytest.raises(InvalidACLError):
            owner.create("/tls-bad-acl", acl=[ACL(Permissions.ALL, Id("x509", "no equals"))])
    finally:
        owner.delete("/tls-acl")


def test_x509_super_user(servers, pki, clients):
    srv = servers.get(D_zookeeper__X509AuthenticationProvider__superUser="CN=admin")
    owner = started(clients(srv.secure_hosts, **tls_kw(pki)))
    admin = started(clients(srv.secure_hosts, **tls_kw(pki, "admin")))
    owner.create("/tls-su", b"mine", acl=[ACL(Permissions.READ, Id("x509", CLIENT_ID))])
    assert admin.get("/tls-su")[0] == b"mine"
    admin.delete("/tls-su")   # only super may: the ACL grants READ alone
    # The super user's x509 identity is still its own subject.
    assert auth_ids(admin, "/tls-su-id") == [("x509", "CN=admin")]
    admin.delete("/tls-su-id")


# --- clientAuth ------------------------------------------------------------------------------
def test_client_auth_need_is_the_default_and_refuses_without_a_certificate(servers, pki, clients):
    srv = servers.get()
    assert refused(clients(srv.secure_hosts, **tls_kw(pki, None)))
    # A certificate from a CA the trust store does not hold is refused too.
    assert refused(clients(srv.secure_hosts, **tls_kw(pki, "stranger")))
    assert started(clients(srv.secure_hosts, **tls_kw(pki))).exists("/") is not None


def test_client_auth_want_admits_a_client_without_a_certificate(servers, pki, clients):
    srv = servers.get(**{"ssl.clientAuth": "want"})
    anon = started(clients(srv.secure_hosts, **tls_kw(pki, None)))
    with pytest.raises(InvalidACLError):   # no authenticated identity to expand
        anon.create("/tls-want", acl=AUTH_ACL)
    named = started(clients(srv.secure_hosts, **tls_kw(pki)))
    assert auth_ids(named, "/tls-want") == [("x509", CLIENT_ID)]
    named.delete("/tls-want")
    assert refused(clients(srv.secure_hosts, **tls_kw(pki, "stranger")))


def test_client_auth_none_ignores_the_certificate(servers, pki, clients):
    srv = servers.get(**{"ssl.clientAuth": "none"})
    c = started(clients(srv.secure_hosts, **tls_kw(pki)))
    with pytest.raises(InvalidACLError):
        c.create("/tls-none", acl=AUTH_ACL)
    assert started(clients(srv.secure_hosts, **tls_kw(pki, "stranger"))).exists("/") is not None


# --- store formats -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["p12", "pem"])
def test_key_and_trust_store_formats(servers, pki, clients, fmt):
    # jks is every other test's; the type comes from the extension.
    srv = servers.get(fmt)
    c = started(clients(srv.secure_hosts, **tls_kw(pki)))
    assert auth_ids(c, "/tls-" + fmt) == [("x509", CLIENT_ID)]
    c.delete("/tls-" + fmt)


def test_store_type_given_explicitly(servers, pki, clients, tmp_path):
    # A PKCS12 key store under a name that says nothing, with its type set.
    import shutil

    odd = tmp_path / "server-keys.bin"
    shutil.copy(pki.path("server-keystore.p12"), odd)
    srv = servers.get(**{"ssl.keyStore.location": str(odd), "ssl.keyStore.type": "pkcs12"})
    assert started(clients(srv.secure_hosts, **tls_kw(pki))).exists("/") is not None


# --- protocols and cipher suites ------------------------------------------------------------
def test_default_protocol(servers, pki):
    srv = servers.get()
    version, _ = handshake(srv.secure_port, pki)
    # ZooKeeper 3.9 on Java 11+: TLSv1.3 only; 3.8: TLSv1.2 only.
    assert version == since_39("TLSv1.2", "TLSv1.3")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        other = since_39(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2)
        handshake(srv.secure_port, pki, minimum_version=other, maximum_version=other)


def test_enabled_protocols_and_cipher_suites(servers, pki):
    srv = servers.get(**{"ssl.enabledProtocols": "TLSv1.2",
                         "ssl.ciphersuites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"})
    assert handshake(srv.secure_port, pki) == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(srv.secure_port, pki, minimum_version=ssl.TLSVersion.TLSv1_3)


# --- the wrong kind of client on each port ---------------------------------------------------
def test_plain_client_on_the_secure_port_is_closed(servers, pki, clients):
    srv = servers.get()
    with socket.create_connection(("127.0.0.1", srv.secure_port), timeout=10) as s:
        s.sendall(CONNECT_REQUEST)
        assert s.recv(100) == b""        # closed, nothing said in the clear
    assert started(clients(srv.secure_hosts, **tls_kw(pki))).exists("/") is not None


def test_tls_client_on_the_plain_port_is_closed(servers, pki, clients):
    srv = servers.get()
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert started(clients(srv.hosts)).exists("/") is not None


# --- refusing to start ----------------------------------------------------------------------
def test_secure_port_without_the_netty_factory_refuses_to_start(pki):
    srv = ServerProcess(target_kind(), cfg=_Servers(pki).config("jks")[0], secure=True)
    del srv.cfg["serverCnxnFactory"]
    try:
        run = srv.run_to_exit(timeout_s=60)
    finally:
        srv.cleanup()
    assert run.returncode != 0
    if target_kind() == "zkwire":
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "serverCnxnFactory" in lines[0], run.stderr


# --- the Java client ---------------------------------------------------------------------------
#: What ClientCnxnSocketNetty needs beside the plain client's jars (Debian
#: puts each Netty module in its own jar).
NETTY_JARS = ["/usr/share/java/netty-%s.jar" % m for m in (
    "buffer", "codec", "common", "handler", "resolver", "transport",
    "transport-native-epoll", "transport-native-unix-common")]


def test_java_client_over_tls(servers, pki, tmp_path):
    """tests/java/ZkSmoke.java, unchanged, through the secure port with the
    Java client's Netty socket and its ssl.* properties: the same transcript
    as over the plain port (tests/integration/test_java_client.py)."""
    import subprocess

    from tests.integration.test_java_client import CLASSPATH, EXPECTED, SOURCE

    # The 3.8 Java client offers TLSv1.2 only (its default ssl.protocol), a
    # 3.9 server accepts TLSv1.3 only by default: enable both on the server.
    srv = servers.get(**{"ssl.enabledProtocols": "TLSv1.2,TLSv1.3"})
    plain = KazooClient(hosts=srv.hosts)
    plain.start(timeout=15)
    try:
        if plain.exists("/zksmoke"):
            plain.delete("/zksmoke", recursive=True)
        build = tmp_path / "classes"
        build.mkdir()
        cp = ":".join(CLASSPATH + NETTY_JARS)
        compiled = subprocess.run(["javac", "-cp", cp, "-d", str(build), SOURCE],
                                  capture_output=True, text=True, timeout=120)
        assert compiled.returncode == 0, compiled.stderr
        props = {
            "zookeeper.client.secure": "true",
            "zookeeper.clientCnxnSocket": "org.apache.zookeeper.ClientCnxnSocketNetty",
            "zookeeper.ssl.keyStore.location": pki.path("client-keystore.jks"),
            "zookeeper.ssl.keyStore.password": PASSWORD,
            "zookeeper.ssl.trustStore.location": pki.path("truststore.jks"),
            "zookeeper.ssl.trustStore.password": PASSWORD,
        }
        run = subprocess.run(["java", *("-D%s=%s" % kv for kv in props.items()),
                              "-cp", "%s:%s" % (build, cp), "ZkSmoke", srv.secure_hosts],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (run.stdout, run.stderr)
        assert run.stdout.splitlines() == EXPECTED, run.stderr
        # Its session was the x509 client's, and it is closed: /zksmoke is left.
        assert plain.get("/zksmoke")[0] == b"root-3"
        plain.delete("/zksmoke", recursive=True)
    finally:
        plain.stop()
        plain.close()
