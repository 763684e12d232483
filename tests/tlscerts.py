"""Test certificates, made at test time (no key material is ever committed).

``make_pki(dirpath)`` writes a CA, a server certificate for ``localhost`` /
127.0.0.1 and two client certificates into ``dirpath``, in the store formats
ZooKeeper reads: PEM (key and chain in one file, as ZooKeeper's PEMFileLoader
wants it), PKCS12 and, when ``keytool`` is installed, JKS made by ``keytool``
itself (so a JKS file is what Java writes, not what our reader expects).
Everything is signed with the CA; ``rogue`` is a CA nobody trusts.
"""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PASSWORD = "testpass"

#: The client certificate's subject, in certificate (DER) order.  It has a
#: comma inside a value and an attribute without an RFC 2253 keyword
#: (emailAddress), the two places where string forms of a DN disagree.
CLIENT_SUBJECT = [
    (NameOID.COUNTRY_NAME, "DE"),
    (NameOID.ORGANIZATION_NAME, "Acme, Inc."),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "zk"),
    (NameOID.COMMON_NAME, "client"),
    (NameOID.EMAIL_ADDRESS, "c@example.org"),
]
ADMIN_SUBJECT = [(NameOID.COMMON_NAME, "admin")]


class Pki:
    """Paths of what :func:`make_pki` wrote."""

    def __init__(self, d):
        self.dir = d

    def path(self, name):
        return os.path.join(self.dir, name)


def _name(attrs):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def _cert(subject, issuer, key, issuer_key, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=2)))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True, crl_sign=True,
                                          encipher_only=False, decipher_only=False), critical=True)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem_store(path, key, chain, password):
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
        for c in chain:
            f.write(c.public_bytes(serialization.Encoding.PEM))


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def keytool_available() -> bool:
    return shutil.which("keytool") is not None


def make_pki(d) -> Pki:
    import ipaddress

    os.makedirs(d, exist_ok=True)
    curve = ec.SECP256R1()
    ca_key = ec.generate_private_key(curve)
    ca_name = _name([(NameOID.COMMON_NAME, "zkwire test CA")])
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    rogue_key = ec.generate_private_key(curve)
    rogue_name = _name([(NameOID.COMMON_NAME, "rogue CA")])
    rogue = _cert(rogue_name, rogue_name, rogue_key, rogue_key, ca=True)

    server_key = ec.generate_private_key(curve)
    server = _cert(_name([(NameOID.COMMON_NAME, "localhost")]), ca_name, server_key, ca_key,
                   san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    entities = {"server": (server_key, server, ca)}
    for who, subject, issuer_cert, issuer_key in (
            ("client", CLIENT_SUBJECT, ca, ca_key), ("admin", ADMIN_SUBJECT, ca, ca_key),
            ("stranger", [(NameOID.COMMON_NAME, "stranger")], rogue, rogue_key)):
        k = ec.generate_private_key(curve)
        c = _cert(_name(subject), issuer_cert.subject, k, issuer_key)
        entities[who] = (k, c, issuer_cert)

    _write(os.path.join(d, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))
    for who, (key, cert, issuer) in entities.items():
        # For clients (kazoo, Python's ssl): key and certificate apart.
        _write(os.path.join(d, who + "-key.pem"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        _write(os.path.join(d, who + "-cert.pem"), cert.public_bytes(serialization.Encoding.PEM))
        # ZooKeeper's PEM key store: key and chain in one file.  Unencrypted,
        # to be used with no store password: ZooKeeper 3.8.0 on JDK 17 cannot
        # read a PBES2-encrypted key, the only kind cryptography writes
        # ("PBES2 SecretKeyFactory not available"; ZOOKEEPER_FACTS.md).
        _pem_store(os.path.join(d, who + "-keystore.pem"), key, [cert], None)
        _write(os.path.join(d, who + "-keystore.p12"), pkcs12.serialize_key_and_certificates(
            who.encode(), key, cert, None,
            serialization.BestAvailableEncryption(PASSWORD.encode())))
    # ZooKeeper's PEM trust store: certificates only.
    _write(os.path.join(d, "truststore.pem"), ca.public_bytes(serialization.Encoding.PEM))
    if keytool_available():
        for who in entities:
            _keytool("-importkeystore", "-srckeystore", os.path.join(d, who + "-keystore.p12"),
                     "-srcstoretype", "PKCS12", "-srcstorepass", PASSWORD,
                     "-destkeystore", os.path.join(d, who + "-keystore.jks"),
                     "-deststoretype", "JKS", "-deststorepass", PASSWORD)
        for kind, ext in (("JKS", "jks"), ("PKCS12", "p12")):
            _keytool("-importcert", "-noprompt", "-alias", "ca", "-file",
                     os.path.join(d, "ca.pem"), "-keystore",
                     os.path.join(d, "truststore." + ext), "-storetype", kind,
                     "-storepass", PASSWORD)
    return Pki(d)


def _keytool(*args):
    run = subprocess.run(["keytool", *args], capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise RuntimeError("keytool %s failed: %s%s" % (args[0], run.stdout, run.stderr))
