"""Key stores and trust stores in the formats ZooKeeper reads: JKS, PKCS12, PEM.

Theory of operation
-------------------
ZooKeeper picks a store's format from ``ssl.keyStore.type`` /
``ssl.trustStore.type`` (JKS, PEM, PKCS12, BCFKS; any case), or, when that is
not set, from the file name's extension: ``.jks``, ``.pem``, ``.p12``,
``.bcfks`` and nothing else (``.pfx`` or no extension is an error)
(KeyStoreFileType in ZooKeeper 3.9).  This module does the same and returns
``cryptography`` objects: a key store gives one private key and its
certificate chain, a trust store its certificates.

* PKCS12 and PEM are read by ``cryptography``.  A PEM key store holds the
  private key and the certificate chain in one file; with a non-empty
  password the key is an encrypted PKCS#8 key, as ZooKeeper's PemReader wants.
* JKS is Sun's own format, read here (no third-party package: pyjks is
  unmaintained since 2020 and pulls in C extensions that do not build
  everywhere PyPy runs).  The file's SHA-1 integrity digest is checked with
  the store password, and private keys are unwrapped with Sun's key
  protector (a SHA-1 keystream), as Java's ``KeyStore.getInstance("JKS")``
  does.  Java's "JKS" type reads PKCS12 files too (keytool has written
  PKCS12 by default since Java 9, whatever the file is called), so a ``.jks``
  file that is not JKS is read as PKCS12.  JCEKS and BCFKS are refused.

Everything here is bytes in, objects out: the caller reads the files.  Errors
are :class:`KeyStoreError` with a message that says what is wrong.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

TYPES = ("JKS", "PEM", "PKCS12", "BCFKS")
EXTENSIONS = {".jks": "JKS", ".pem": "PEM", ".p12": "PKCS12", ".bcfks": "BCFKS"}

_JKS_MAGIC = 0xFEEDFEED
_JCEKS_MAGIC = 0xCECECECE
#: Sun's JKS key protection algorithm, 1.3.6.1.4.1.42.2.17.1.1, DER-encoded.
_SUN_KEY_PROTECTOR_OID = bytes.fromhex("2b060104012a021101 01".replace(" ", ""))


class KeyStoreError(Exception):
    pass


def store_type(type_prop, location: str) -> str:
    """ZooKeeper's KeyStoreFileType.fromPropertyValueOrFileName."""
    if type_prop:
        t = type_prop.strip().upper()
        if t not in TYPES:
            raise KeyStoreError("unknown store type %r (ZooKeeper knows JKS, PEM, PKCS12, BCFKS)"
                                % type_prop)
        return t
    i = location.rfind(".")
    t = EXTENSIONS.get(location[i:]) if i >= 0 else None
    if t is None:
        raise KeyStoreError("cannot tell the store type of %s from its name (.jks, .pem, .p12, "
                            ".bcfks); set the type" % location)
    return t


def load_key_store(data: bytes, password: str, kind: str):
    """-> (private key, [certificate, ...]), the leaf certificate first."""
    if kind == "PEM":
        return _pem_key_store(data, password)
    if kind == "PKCS12" or (kind == "JKS" and not _is_jks(data)):
        key, chain = _pkcs12(data, password)
        if key is None:
            raise KeyStoreError("the key store holds no private key")
        return key, chain
    if kind == "JKS":
        keys, _certs = _jks(data, password)
        if not keys:
            raise KeyStoreError("the key store holds no private key")
        # Java's key manager may choose among several per handshake; zkwire
        # serves the first.
        return keys[0]
    raise KeyStoreError("%s stores are not supported by zkwire" % kind)


def load_trust_store(data: bytes, password: str, kind: str) -> list:
    """-> the trusted certificates."""
    if kind == "PEM":
        certs = _pem_certs(data)
    elif kind == "PKCS12" or (kind == "JKS" and not _is_jks(data)):
        _key, certs = _pkcs12(data, password)
    elif kind == "JKS":
        keys, certs = _jks(data, password)
        # A key entry's chain is trusted too, as in Java's trust manager.
        for _key, chain in keys:
            certs.extend(chain)
    else:
        raise KeyStoreError("%s stores are not supported by zkwire" % kind)
    if not certs:
        raise KeyStoreError("the trust store holds no certificates")
    return certs


# --- PEM ------------------------------------------------------------------------------
def _pem_certs(data: bytes) -> list:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as e:
        if b"CERTIFICATE" not in data:
            return []
        raise KeyStoreError("bad PEM certificate: %s" % e) from None


def _pem_key_store(data: bytes, password: str):
    import re

    from cryptography.hazmat.primitives import serialization

    m = re.search(rb"-+BEGIN\s+[^-\r\n]*PRIVATE\s+KEY-+.*?-+END\s+[^-\r\n]*PRIVATE\s+KEY-+",
                  data, re.S)
    if m is None:
        raise KeyStoreError("did not find a private key")
    try:
        key = serialization.load_pem_private_key(m.group(0), password.encode("utf-8") or None)
    except (ValueError, TypeError) as e:
        raise KeyStoreError("cannot read the private key (wrong password?): %s" % e) from None
    chain = _pem_certs(data)
    if not chain:
        raise KeyStoreError("the key store holds no certificate")
    return key, chain


# --- PKCS12 ---------------------------------------------------------------------------
def _pkcs12(data: bytes, password: str):
    from cryptography.hazmat.primitives.serialization import pkcs12

    last = None
    # Java opens a store with an empty password as "no password"; try both.
    for pw in ([password.encode("utf-8")] if password else [b"", None]):
        try:
            p = pkcs12.load_pkcs12(data, pw)
        except (ValueError, TypeError) as e:
            last = e
            continue
        chain = ([p.cert.certificate] if p.cert is not None else [])
        chain += [c.certificate for c in p.additional_certs]
        return p.key, chain
    raise KeyStoreError("cannot read the PKCS12 store (wrong password?): %s" % last)


# --- JKS ------------------------------------------------------------------------------
def _is_jks(data: bytes) -> bool:
    return len(data) >= 4 and struct.unpack(">I", data[:4])[0] in (_JKS_MAGIC, _JCEKS_MAGIC)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise KeyStoreError("truncated JKS store")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def utf(self) -> str:
        return self.take(self.u16()).decode("utf-8", "replace")


def _jks_password_bytes(password: str) -> bytes:
    # Java chars, big-endian: UTF-16BE code units.
    return password.encode("utf-16-be", "surrogatepass")


def _jks(data: bytes, password: str):
    """-> ([(key, chain), ...], [trusted certificate, ...])."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    r = _Reader(data)
    magic = r.u32()
    if magic == _JCEKS_MAGIC:
        raise KeyStoreError("JCEKS stores are not supported; convert to PKCS12 "
                            "(keytool -importkeystore -deststoretype PKCS12)")
    if magic != _JKS_MAGIC:
        raise KeyStoreError("not a JKS store")
    version = r.u32()
    if version not in (1, 2):
        raise KeyStoreError("unknown JKS version %d" % version)
    count = r.u32()
    if count > 100000:
        raise KeyStoreError("implausible JKS entry count %d" % count)
    pw = _jks_password_bytes(password)

    def cert():
        if version == 2:
            ctype = r.utf()
            if ctype != "X.509":
                raise KeyStoreError("unsupported certificate type %r" % ctype)
        der = r.take(r.u32())
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as e:
            raise KeyStoreError("bad certificate in the JKS store: %s" % e) from None

    raw_keys, certs = [], []
    for _ in range(count):
        tag = r.u32()
        r.utf()          # alias
        r.take(8)        # creation time
        if tag == 1:
            protected = r.take(r.u32())
            chain = [cert() for _ in range(r.u32())]
            raw_keys.append((protected, chain))
        elif tag == 2:
            certs.append(cert())
        elif tag == 3:
            raise KeyStoreError("the JKS store holds a secret key entry (JCEKS only)")
        else:
            raise KeyStoreError("unknown JKS entry tag %d" % tag)
    body_end = r.pos
    digest = r.take(20)
    want = hashlib.sha1(pw + b"Mighty Aphrodite" + data[:body_end]).digest()
    if not hmac.compare_digest(digest, want):
        raise KeyStoreError("Keystore was tampered with, or password was incorrect")
    keys = []
    for protected, chain in raw_keys:
        der = _unprotect(protected, pw)
        try:
            key = serialization.load_der_private_key(der, None)
        except (ValueError, TypeError) as e:
            raise KeyStoreError("cannot read a private key of the JKS store: %s" % e) from None
        keys.append((key, chain))
    return keys, certs


def _der(data: bytes, pos: int):
    """One DER TLV at ``pos`` -> (tag, value start, value end)."""
    if pos + 2 > len(data):
        raise KeyStoreError("truncated DER")
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > len(data):
            raise KeyStoreError("bad DER length")
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    if pos + n > len(data):
        raise KeyStoreError("truncated DER")
    return tag, pos, pos + n


def _unprotect(epki: bytes, pw: bytes) -> bytes:
    """Sun's KeyProtector.recover: EncryptedPrivateKeyInfo -> PKCS#8 DER."""
    tag, start, end = _der(epki, 0)
    if tag != 0x30:
        raise KeyStoreError("bad protected key")
    tag, astart, aend = _der(epki, start)          # AlgorithmIdentifier
    otag, ostart, oend = _der(epki, astart)
    if tag != 0x30 or otag != 0x06 or epki[ostart:oend] != _SUN_KEY_PROTECTOR_OID:
        raise KeyStoreError("the JKS key is not protected with Sun's JKS algorithm")
    tag, dstart, dend = _der(epki, aend)           # OCTET STRING
    if tag != 0x04:
        raise KeyStoreError("bad protected key")
    blob = epki[dstart:dend]
    if len(blob) < 40:
        raise KeyStoreError("bad protected key")
    salt, enc, check = blob[:20], blob[20:-20], blob[-20:]
    stream = bytearray()
    d = salt
    while len(stream) < len(enc):
        d = hashlib.sha1(pw + d).digest()
        stream += d
    plain = bytes(a ^ b for a, b in zip(enc, stream))
    if not hmac.compare_digest(hashlib.sha1(pw + plain).digest(), check):
        raise KeyStoreError("Cannot recover key (wrong password)")
    return plain
