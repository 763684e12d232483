"""secureClientPort and ssl.* in zoo.cfg, the stores, and the x509 scheme's ACL rules.

What ZooKeeper does is in tests/ZOOKEEPER_FACTS.md §16 (observed there by
tests/integration/test_tls.py against Apache ZooKeeper); the store-type rules
are ZooKeeper's KeyStoreFileType (the extension alone: .jks .pem .p12
.bcfks; the type property, any case, wins).
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tlscerts import CLIENT_SUBJECT, PASSWORD, make_pki  # noqa: E402
from zkwire.consts import Perms  # noqa: E402
from zkwire.server.core.acl import AuthPolicy, InvalidACL, NoAuth  # noqa: E402
from zkwire.server.core.x500 import is_valid, rfc2253  # noqa: E402
from zkwire.server.edge import config, keystore, tls  # noqa: E402

NETTY = "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


def cfg(tmp_path, *lines):
    p = tmp_path / "zoo.cfg"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def test_secure_port_needs_the_netty_factory(tmp_path):
    # §16 tls-needs-netty: ZooKeeper's NIO factory refuses, the server exits.
    with pytest.raises(config.ConfigError, match="serverCnxnFactory"):
        config.load(cfg(tmp_path, "clientPort=2181", "secureClientPort=2281"))


def test_secure_port_alone_opens_no_plain_port(tmp_path):
    s = config.load(cfg(tmp_path, "secureClientPort=2281", NETTY))
    assert s.client_port is None and s.secure_client_port == 2281
    s = config.load(cfg(tmp_path, "clientPort=2181", "secureClientPort=2281", NETTY))
    assert s.client_port == 2181
    assert not [w for w in s.warnings if "serverCnxnFactory" in w]


def test_secure_address_without_secure_port(tmp_path):
    with pytest.raises(config.ConfigError, match="secureClientPortAddress"):
        config.load(cfg(tmp_path, "secureClientPortAddress=127.0.0.1"))


def test_ssl_keys_in_zoo_cfg_and_as_properties(tmp_path):
    s = config.load(cfg(tmp_path, "secureClientPort=2281", NETTY, "ssl.clientAuth=want",
                        "ssl.keyStore.location=/k.p12"),
                    {"zookeeper.ssl.trustStore.location": "/t.pem",
                     "zookeeper.X509AuthenticationProvider.superUser": "CN=admin"})
    o = config.tls_options(s)
    assert (o.client_auth, o.key_store, o.trust_store, o.super_user) == (
        "want", "/k.p12", "/t.pem", "CN=admin")


@pytest.mark.parametrize("line", ["ssl.crl=true", "ssl.ocsp=true",
                                  "ssl.clientHostnameVerification=true",
                                  "ssl.authProvider=other",
                                  "ssl.context.supplier.class=a.B"])
def test_settings_zkwire_cannot_honour_refuse_to_start(tmp_path, line):
    with pytest.raises(config.ConfigError, match=line.split("=")[0]):
        config.load(cfg(tmp_path, "secureClientPort=2281", NETTY, line))


def test_without_the_tls_extra_a_secure_port_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tls, "available", lambda: "TLS needs pyOpenSSL (pip install 'zkwire[tls]')")
    with pytest.raises(config.ConfigError) as e:
        config.load(cfg(tmp_path, "secureClientPort=2281", NETTY))
    assert "zkwire[tls]" in str(e.value) and "\n" not in str(e.value)


def test_password_path_drops_one_line_end(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    s = config.load(cfg(tmp_path, "secureClientPort=2281", NETTY,
                        "ssl.keyStore.passwordPath=%s" % secret))
    assert s.ssl_key_store_password == "s3cret"


# --- stores ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,prop,kind", [
    ("a.jks", None, "JKS"), ("a.p12", None, "PKCS12"), ("a.pem", None, "PEM"),
    ("a.bcfks", None, "BCFKS"), ("a.bin", "pkcs12", "PKCS12"), ("a.jks", "PEM", "PEM")])
def test_store_type(name, prop, kind):
    assert keystore.store_type(prop, name) == kind


@pytest.mark.parametrize("name,prop", [("a.pfx", None), ("noext", None), ("a.jks", "JCEKS")])
def test_store_type_errors(name, prop):
    with pytest.raises(keystore.KeyStoreError):
        keystore.store_type(prop, name)


@pytest.mark.parametrize("fmt", ["jks", "p12", "pem"])
def test_key_stores_read(pki, fmt):
    data = open(pki.path("server-keystore." + fmt), "rb").read()
    key, chain = keystore.load_key_store(data, "" if fmt == "pem" else PASSWORD,
                                         keystore.store_type(None, "x." + fmt))
    assert chain[0].subject.rfc4514_string() == "CN=localhost"
    assert key.public_key().public_numbers() == chain[0].public_key().public_numbers()


def test_jks_wrong_password_and_tampering(pki):
    data = open(pki.path("server-keystore.jks"), "rb").read()
    with pytest.raises(keystore.KeyStoreError, match="password"):
        keystore.load_key_store(data, "wrong", "JKS")
    bad = bytearray(data)
    bad[40] ^= 1
    with pytest.raises(keystore.KeyStoreError):
        keystore.load_key_store(bytes(bad), PASSWORD, "JKS")
    with pytest.raises(keystore.KeyStoreError):
        keystore.load_key_store(data[:30], PASSWORD, "JKS")


def test_jks_type_reads_a_pkcs12_file(pki):
    # Java's "JKS" key store type reads PKCS12 too (keytool's default since 9).
    data = open(pki.path("server-keystore.p12"), "rb").read()
    key, chain = keystore.load_key_store(data, PASSWORD, "JKS")
    assert chain[0].subject.rfc4514_string() == "CN=localhost"


def test_tls_load_names_the_bad_key(pki, tmp_path):
    with pytest.raises(tls.TlsError, match="ssl.keyStore.location is required"):
        tls.load(tls.TlsOptions())
    with pytest.raises(tls.TlsError, match="ssl.keyStore.location"):
        tls.load(tls.TlsOptions(key_store=str(tmp_path / "missing.jks")))
    ok = dict(key_store=pki.path("server-keystore.jks"), key_store_password=PASSWORD)
    with pytest.raises(tls.TlsError, match="ssl.clientAuth"):
        tls.load(tls.TlsOptions(client_auth="maybe", **ok))
    with pytest.raises(tls.TlsError, match="ssl.enabledProtocols"):
        tls.load(tls.TlsOptions(enabled_protocols="SSLv3", **ok))
    with pytest.raises(tls.TlsError, match="ssl.ciphersuites"):
        tls.load(tls.TlsOptions(ciphersuites="TLS_NOT_A_SUITE", **ok))
    assert tls.load(tls.TlsOptions(**ok)).client_auth == "NEED"   # §16 tls-client-auth


# --- the x509 scheme -------------------------------------------------------------------------
def test_rfc2253_of_the_test_client(pki):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(open(pki.path("client-cert.pem"), "rb").read())
    assert len(cert.subject) == len(CLIENT_SUBJECT)
    # §16 tls-x509-id, as Apache ZooKeeper 3.8.0 named this subject.
    assert rfc2253(cert.subject.public_bytes(Encoding.DER)) == (
        "1.2.840.113549.1.9.1=#160d63406578616d706c652e6f7267,CN=client,OU=zk,O=Acme\\, Inc.,C=DE")


def test_x509_scheme_only_when_registered():
    acl = ((Perms.ALL, "x509", "CN=a"),)
    with pytest.raises(InvalidACL):
        AuthPolicy().fixup(acl, [])
    assert AuthPolicy(x509=True).fixup(acl, []) == acl
    with pytest.raises(InvalidACL):
        AuthPolicy(x509=True).fixup(((Perms.ALL, "x509", "no equals"),), [])


def test_x509_matching_and_super_user():
    acl = ((Perms.READ, "x509", "CN=a"),)
    AuthPolicy(x509=True).check(acl, Perms.READ, [("x509", "CN=a")])
    with pytest.raises(NoAuth):
        AuthPolicy(x509=True).check(acl, Perms.READ, [("x509", "CN=b")])
    # X509AuthenticationProvider.matches: the super user's id matches any x509 ACL.
    AuthPolicy(x509=True, x509_super_user="CN=b").check(acl, Perms.READ, [("x509", "CN=b")])


# ZOOKEEPER_FACTS.md §16 tls-x509-acl-ids: OpenJDK 17's X500Principal on each.
@pytest.mark.parametrize("name,valid", [
    ("CN=a", True), ("CN=a,O=b\\, c", True), ("", True), ("2.5.4.3=#0c0161", True),
    ("oid.2.5.4.3=x", True), ("CN=a;O=b", True), ("CN=a+OU=b", True), ('CN="x,y"', True),
    ("CN=", True), ("nope", False), ("XYZ=a", False), ("CN=a\\", False), (" ", False),
    ("2.5.4.3=#0c01", False)])
def test_x500_name_validity(name, valid):
    assert is_valid(name) is valid
