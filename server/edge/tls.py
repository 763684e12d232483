"""TLS on the client port, as ZooKeeper's NettyServerCnxnFactory serves it.

Theory of operation
-------------------
:func:`load` turns the ``ssl.*`` settings into a :class:`ServerTls`: the key
store and trust store are read once, at start (a bad store is a start-up
error naming the key), and one pyOpenSSL context is built from them.
``ServerTls.factory(wrapped)`` wraps the plaintext connection factory in
Twisted's memory-BIO TLS protocol, so the handshake runs inside the reactor
like any other I/O: no thread, no blocking call, and a slow or silent peer
costs only its own connection (the server's ``sessionlessCnxnTimeout``
closes one that never completes the handshake).  OpenSSL takes the bytes
of one ``dataReceived`` at a time, and no application data exists before
the handshake, so nothing piles up in front of it.

What ZooKeeper 3.9 does, and this module with it (tests/ZOOKEEPER_FACTS.md,
"TLS on the client port"):

* ``ssl.clientAuth``: ``need`` (the default: empty or unset), ``want`` or
  ``none``, any case.  A client certificate is checked against the trust
  store during the handshake; a missing one (``need``) or an untrusted one
  fails the handshake.
* ``ssl.enabledProtocols`` (comma-separated), or else ``ssl.protocol`` alone,
  default ``TLSv1.3`` in 3.9 on a JDK that has it (3.8: ``TLSv1.2``).
* ``ssl.ciphersuites``: IANA names, comma-separated; default ZooKeeper's own
  list (ECDHE with AES-GCM, then AES-CBC, then the TLS 1.3 suites).
* A verified client certificate gives the connection the identity
  ``("x509", subject)``, the subject as Java's ``X500Principal.getName()``
  writes it (RFC 2253: :func:`rfc2253`), and ``("super", subject)`` too when
  it equals ``zookeeper.X509AuthenticationProvider.superUser``.
"""
from __future__ import annotations

from ..core.x500 import rfc2253

#: ZooKeeper 3.9's default cipher suites on Java 9+ (X509Util), in order.
DEFAULT_CIPHERS = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
)
TLS13_CIPHERS = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256",
                 "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
                 "TLS_AES_128_CCM_8_SHA256")
DEFAULT_PROTOCOL = "TLSv1.3"
PROTOCOLS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
CLIENT_AUTH = ("NONE", "WANT", "NEED")


class TlsError(Exception):
    """A TLS setting zkwire cannot serve: the message names the key."""


class TlsOptions:
    """The ``ssl.*`` settings, as zoo.cfg / -D give them (strings or None)."""

    def __init__(self, key_store=None, key_store_password="", key_store_type=None,
                 trust_store=None, trust_store_password="", trust_store_type=None,
                 client_auth=None, protocol=None, enabled_protocols=None, ciphersuites=None,
                 super_user=None):
        self.key_store = key_store
        self.key_store_password = key_store_password or ""
        self.key_store_type = key_store_type
        self.trust_store = trust_store
        self.trust_store_password = trust_store_password or ""
        self.trust_store_type = trust_store_type
        self.client_auth = client_auth
        self.protocol = protocol
        self.enabled_protocols = enabled_protocols
        self.ciphersuites = ciphersuites
        self.super_user = super_user


def _openssl_cipher_name(iana: str):
    """An IANA (Java) TLS 1.2 suite name -> OpenSSL's name, or None."""
    if not iana.startswith("TLS_") or "_WITH_" not in iana:
        return None
    kx, _, rest = iana[4:].partition("_WITH_")
    kx_map = {"ECDHE_ECDSA": "ECDHE-ECDSA-", "ECDHE_RSA": "ECDHE-RSA-", "DHE_RSA": "DHE-RSA-",
              "RSA": ""}
    if kx not in kx_map:
        return None
    prefix = kx_map[kx]
    if rest == "CHACHA20_POLY1305_SHA256":
        return prefix + "CHACHA20-POLY1305" if prefix else None
    parts = rest.split("_")
    if len(parts) != 4 or parts[0] != "AES" or parts[1] not in ("128", "256"):
        return None
    bits, mode, mac = parts[1], parts[2], parts[3]
    if mode == "GCM":
        return "%sAES%s-GCM-%s" % (prefix, bits, mac)
    if mode == "CBC":
        if mac == "SHA":
            # OpenSSL: AES128-SHA, DHE-RSA-AES128-SHA, ECDHE-RSA-AES128-SHA
            return "%sAES%s-SHA" % (prefix, bits)
        return "%sAES%s-%s" % (prefix, bits, mac)
    return None


def _client_auth(value):
    v = (value or "").strip().upper()
    if not v:
        return "NEED"
    if v not in CLIENT_AUTH:
        raise TlsError("ssl.clientAuth=%s: expected none, want or need" % value)
    return v


def _protocols(opts):
    if opts.enabled_protocols is not None:
        names = [p.strip() for p in opts.enabled_protocols.split(",") if p.strip()]
        key = "ssl.enabledProtocols"
    else:
        names = [(opts.protocol or DEFAULT_PROTOCOL).strip()]
        key = "ssl.protocol"
    bad = [n for n in names if n not in PROTOCOLS]
    if bad or not names:
        raise TlsError("%s=%s: zkwire serves %s" % (key, ",".join(names), ", ".join(PROTOCOLS)))
    return names


def _read(path, key):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TlsError("%s=%s: %s" % (key, path, e.strerror)) from None


class ServerTls:
    """One server-side TLS configuration: a pyOpenSSL context, and how to
    find a connection's x509 identity once its handshake is done."""

    def __init__(self, context, client_auth: str, protocols, super_user=None):
        self.context = context
        self.client_auth = client_auth
        self.protocols = tuple(protocols)
        self.super_user = super_user

    def factory(self, wrapped):
        from twisted.protocols.tls import TLSMemoryBIOFactory

        return TLSMemoryBIOFactory(_ContextCreator(self.context), False, wrapped)

    def identities(self, transport):
        """-> the auth ids a finished handshake gives (ZooKeeper's
        X509AuthenticationProvider), [] without a client certificate."""
        if self.client_auth == "NONE":
            # ZooKeeper does not look at a certificate it did not ask for.
            return []
        peer = transport.getPeerCertificate()
        if peer is None:
            return []
        from cryptography.hazmat.primitives.serialization import Encoding

        subject = rfc2253(peer.to_cryptography().subject.public_bytes(Encoding.DER))
        ids = []
        if self.super_user is not None and subject == self.super_user:
            ids.append(("super", subject))
        ids.append(("x509", subject))
        return ids


class _ContextCreator:
    """Twisted's IOpenSSLServerConnectionCreator over one ready context."""

    def __init__(self, context):
        self.context = context

    def serverConnectionForTLS(self, protocol):
        from OpenSSL.SSL import Connection

        return Connection(self.context, None)


def _provides_creator():
    from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
    from zope.interface import classImplements

    classImplements(_ContextCreator, IOpenSSLServerConnectionCreator)


def _set_tls13_ciphersuites(ctx, names: bytes) -> None:
    """Context.set_tls13_ciphersuites (pyOpenSSL >= 25.2), or the OpenSSL
    call beneath it on older pyOpenSSL (PyPy 3.9 stops at 25.1)."""
    if hasattr(ctx, "set_tls13_ciphersuites"):
        ctx.set_tls13_ciphersuites(names)
        return
    from OpenSSL.SSL import Error, _lib

    if not hasattr(_lib, "SSL_CTX_set_ciphersuites"):
        raise TlsError("ssl.ciphersuites: this pyOpenSSL cannot set TLS 1.3 cipher suites")
    if _lib.SSL_CTX_set_ciphersuites(ctx._context, names) != 1:
        raise Error([("SSL routines", "", "no TLS 1.3 cipher suite matches %s" % names.decode())])


def available():
    """-> None when TLS can be served, else why not (one line)."""
    try:
        import cryptography  # noqa: F401
        import OpenSSL.SSL  # noqa: F401
        import twisted.protocols.tls  # noqa: F401
    except ImportError as e:
        return ("TLS needs pyOpenSSL and cryptography (pip install 'zkwire[tls]'): %s" % e)
    return None


def load(opts: TlsOptions) -> ServerTls:
    """Read the stores and build the context; TlsError names the bad key."""
    why = available()
    if why is not None:
        raise TlsError(why)
    from OpenSSL import SSL, crypto

    from . import keystore

    _provides_creator()
    if not opts.key_store:
        # ZooKeeper: "Keystore is required for SSL server".
        raise TlsError("ssl.keyStore.location is required for the secure client port")
    try:
        kind = keystore.store_type(opts.key_store_type, opts.key_store)
        key, chain = keystore.load_key_store(_read(opts.key_store, "ssl.keyStore.location"),
                                             opts.key_store_password, kind)
    except keystore.KeyStoreError as e:
        raise TlsError("ssl.keyStore.location=%s: %s" % (opts.key_store, e)) from None
    trusted = None
    if opts.trust_store:
        try:
            kind = keystore.store_type(opts.trust_store_type, opts.trust_store)
            trusted = keystore.load_trust_store(
                _read(opts.trust_store, "ssl.trustStore.location"), opts.trust_store_password, kind)
        except keystore.KeyStoreError as e:
            raise TlsError("ssl.trustStore.location=%s: %s" % (opts.trust_store, e)) from None
    client_auth = _client_auth(opts.client_auth)
    protocols = _protocols(opts)

    ctx = SSL.Context(SSL.TLS_METHOD)
    versions = {"TLSv1": SSL.TLS1_VERSION, "TLSv1.1": SSL.TLS1_1_VERSION,
                "TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}
    # OpenSSL takes a range; ZooKeeper's list is a set.  A list with a gap
    # (TLSv1,TLSv1.2) gets the range of its ends, which only adds versions
    # between two the operator asked for.
    ctx.set_min_proto_version(min(versions[p] for p in protocols))
    ctx.set_max_proto_version(max(versions[p] for p in protocols))
    ctx.set_options(SSL.OP_NO_RENEGOTIATION if hasattr(SSL, "OP_NO_RENEGOTIATION") else 0)
    suites = (list(DEFAULT_CIPHERS) if opts.ciphersuites is None else
              [c.strip() for c in opts.ciphersuites.split(",") if c.strip()])
    tls12, tls13, unknown = [], [], []
    for s in suites:
        if s in TLS13_CIPHERS:
            tls13.append(s)
        else:
            o = _openssl_cipher_name(s)
            (tls12 if o else unknown).append(o or s)
    if unknown:
        raise TlsError("ssl.ciphersuites: zkwire does not know %s" % ", ".join(unknown))
    try:
        if tls12:
            ctx.set_cipher_list(":".join(tls12).encode("ascii"))
        else:
            ctx.set_cipher_list(b"aNULL:!aNULL")  # none below TLS 1.3
        if tls13:
            _set_tls13_ciphersuites(ctx, ":".join(tls13).encode("ascii"))
        elif "TLSv1.3" in protocols:
            # No TLS 1.3 suite enabled: Java then cannot negotiate 1.3 either.
            ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    except SSL.Error as e:
        raise TlsError("ssl.ciphersuites=%s: %s" % (opts.ciphersuites, e)) from None
    def native(call, obj, convert):
        # pyOpenSSL >= 24.3 takes cryptography's objects (and deprecates its
        # own); older releases (PyPy 3.9's) take only its own.
        try:
            call(obj)
        except TypeError:
            call(convert(obj))

    try:
        native(ctx.use_privatekey, key, crypto.PKey.from_cryptography_key)
        native(ctx.use_certificate, chain[0], crypto.X509.from_cryptography)
        for c in chain[1:]:
            ctx.add_extra_chain_cert(crypto.X509.from_cryptography(c))
        ctx.check_privatekey()
    except (SSL.Error, crypto.Error, TypeError, ValueError) as e:
        raise TlsError("ssl.keyStore.location=%s: unusable key or certificate: %s"
                       % (opts.key_store, e)) from None
    if trusted is not None:
        store = ctx.get_cert_store()
        for c in trusted:
            store.add_cert(crypto.X509.from_cryptography(c))
    else:
        # Netty with no trust manager uses the JDK's default trust store.
        ctx.set_default_verify_paths()
    if client_auth == "NEED":
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, None)
    elif client_auth == "WANT":
        ctx.set_verify(SSL.VERIFY_PEER, None)
    else:
        ctx.set_verify(SSL.VERIFY_NONE, None)
    # Session resumption needs an id context when client certificates are asked for.
    ctx.set_session_id(b"zkwire")
    return ServerTls(ctx, client_auth, protocols, super_user=opts.super_user)
