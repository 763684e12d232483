"""ACLs and authentication, as ZooKeeper's checkACL/fixupACL and its providers.

An ACL inside the server is a tuple of ``(perms, scheme, id)`` triples; an
authenticated identity is a ``(scheme, id)`` pair.  Every connection starts with
``("ip", its address)``; ``addauth digest user:password`` adds
``("digest", "user:" + base64(sha1("user:password")))``, or ``("super", "")``
when it matches the configured super digest.  A successful SASL login adds
``("sasl", its authorization id)`` (core/sasl.py); the ``sasl`` scheme is an ACL
scheme only on a server with ZooKeeper's SASLAuthenticationProvider configured
(``authProvider.N``), as in ZooKeeper, whose ProviderRegistry knows only ip
and digest otherwise.

The ``x509`` scheme exists when the server has a secure client port (or an
``authProvider`` names ZooKeeper's X509AuthenticationProvider), as ZooKeeper
registers it only then: the edge gives a connection ``("x509", subject)``
after a TLS handshake with a verified client certificate (see
``x500.rfc2253``).  An ACL id is valid when it parses as an X.500 name; it
matches an identity equal to it, and -- ZooKeeper's X509AuthenticationProvider
.matches -- any x509 ACL matches the identity named by
``zookeeper.X509AuthenticationProvider.superUser``.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import re

from zkwire.consts import Perms

OPEN_ACL_UNSAFE = ((Perms.ALL, "world", "anyone"),)
READ_ACL_UNSAFE = ((Perms.READ, "world", "anyone"),)


class NoAuth(Exception):
    pass


class InvalidACL(Exception):
    pass


def digest(user_password: str) -> str:
    """``user:password`` -> ``user:base64(sha1(user:password))``."""
    user = user_password.split(":", 1)[0]
    sha = hashlib.sha1(user_password.encode("utf-8")).digest()
    return user + ":" + base64.b64encode(sha).decode("ascii")


def _ip_matches(client: str, acl_id: str) -> bool:
    try:
        if "/" in acl_id:
            return ipaddress.ip_address(client) in ipaddress.ip_network(acl_id, strict=False)
        return ipaddress.ip_address(client) == ipaddress.ip_address(acl_id)
    except ValueError:
        return False


def _ip_valid(acl_id: str) -> bool:
    try:
        if "/" in acl_id:
            ipaddress.ip_network(acl_id, strict=False)
        else:
            ipaddress.ip_address(acl_id)
        return True
    except ValueError:
        return False


def _digest_valid(acl_id: str) -> bool:
    # Java's split(":") drops trailing empty strings; "a:b" is the only valid shape.
    parts = acl_id.split(":")
    while parts and parts[-1] == "":
        parts.pop()
    return len(parts) == 2


def _equal(a, b):
    return a == b


#: scheme -> (is_authenticated, is_valid(id), matches(auth_id, acl_id))
PROVIDERS = {
    "digest": (True, _digest_valid, lambda a, b: a == b),
    "ip": (False, _ip_valid, _ip_matches),
}


_KERBEROS_NAME = re.compile(r"([^/@]*)(/([^/@]*))?@([^/@]*)\Z")


def _sasl_valid(acl_id: str) -> bool:
    # SASLAuthenticationProvider.isValid: what ZooKeeper's KerberosName
    # accepts -- a name without "@", or name[/host]@realm.
    return "@" not in acl_id or _KERBEROS_NAME.match(acl_id) is not None


def sasl_provider(let_any_user_do_x: str | None = None):
    """SASLAuthenticationProvider: an identity matches its own name, and the
    identity "super" matches every sasl entry; with
    zookeeper.letAnySaslUserDoX, every identity matches the entry that names
    that value."""
    def matches(auth_id, acl_id):
        return (auth_id == "super" or auth_id == acl_id
                or (let_any_user_do_x is not None and acl_id == let_any_user_do_x))
    return (True, _sasl_valid, matches)


class AuthPolicy:
    """Server-wide authentication settings (super digest, skipACL, the sasl
    provider, x509)."""

    def __init__(self, super_digest: str | None = None, skip_acl: bool = False,
                 sasl=None, x509: bool = False, x509_super_user: str | None = None):
        self.super_digest = super_digest
        self.skip_acl = skip_acl
        #: scheme -> provider; ``sasl``: a provider from sasl_provider(), or
        #: None when no SASLAuthenticationProvider is configured.
        self.providers = dict(PROVIDERS)
        if sasl is not None:
            self.providers["sasl"] = sasl
        if x509:
            from .x500 import is_valid

            su = x509_super_user
            if su is None:
                matches = _equal
            else:
                def matches(auth_id, acl_id):
                    return auth_id == su or auth_id == acl_id
            self.providers["x509"] = (True, is_valid, matches)

    def authenticate(self, scheme: str, auth: bytes, peer_ip: str = ""):
        """Return the identities an auth packet grants, or None if it fails."""
        if scheme == "ip":
            # ZooKeeper's IP provider ignores the payload and vouches for the address.
            return [("ip", peer_ip)]
        if scheme != "digest":
            return None
        try:
            text = auth.decode("utf-8")
        except (UnicodeDecodeError, AttributeError):
            return None
        d = digest(text)
        if self.super_digest and d == self.super_digest:
            return [("super", ""), ("digest", d)]
        return [("digest", d)]

    def check(self, acl, perm: int, ids) -> None:
        """Raise NoAuth unless ``ids`` may do ``perm`` under ``acl``."""
        if not acl:
            return
        # The common case, answered before anything else is looked at: a
        # first entry that grants ``perm`` to world:anyone.
        perms, scheme, aid = acl[0]
        if perms & perm and scheme == "world" and aid == "anyone":
            return
        if self.skip_acl:
            return
        for scheme, _ in ids:
            if scheme == "super":
                return
        for perms, scheme, aid in acl:
            if perms & perm:
                if scheme == "world" and aid == "anyone":
                    return
                provider = self.providers.get(scheme)
                if provider is None:
                    continue
                matches = provider[2]
                for ascheme, auth_id in ids:
                    if ascheme == scheme and matches(auth_id, aid):
                        return
        raise NoAuth()

    def fixup(self, acl, ids):
        """ZooKeeper's fixupACL: validate, expand ``auth``, drop duplicates
        (with this server's providers)."""
        return AuthPolicy._fixup(acl, ids, self.providers)

    @staticmethod
    def _fixup(acl, ids, providers):
        if not acl:
            raise InvalidACL()
        uniq = []
        for entry in acl:
            if entry not in uniq:
                uniq.append(entry)
        out = []
        for perms, scheme, aid in uniq:
            if scheme is None:
                raise InvalidACL()
            if scheme == "world" and aid == "anyone":
                out.append((perms, scheme, aid))
            elif scheme == "auth":
                from .javaorder import auth_ids_order

                found = False
                for ascheme, auth_id in auth_ids_order(ids):
                    p = providers.get(ascheme)
                    if p is not None and p[0]:
                        found = True
                        out.append((perms, ascheme, auth_id))
                if not found:
                    raise InvalidACL()
            else:
                p = providers.get(scheme)
                if p is None or aid is None or not p[1](aid):
                    raise InvalidACL()
                out.append((perms, scheme, aid))
        return tuple(out)
