"""SASL for client connections, as Apache ZooKeeper does it: DIGEST-MD5 with
the users of a JAAS file.

Theory of operation
-------------------
This module is sans-IO: it reads no file, no clock and no randomness.  The
edge reads the JAAS file and hands its text to :func:`parse_jaas`;
:func:`server_credentials` picks the users out of the server's section; the
core keeps one :class:`DigestMD5Server` per connection that sends a SASL
packet (opcode 102), fed with the nonce source the edge injects.

What ZooKeeper does (its ZooKeeperSaslServer over the JDK's DIGEST-MD5
server, with no SASL properties; tests/ZOOKEEPER_FACTS.md §15):

* Any first token, empty or not, is answered with the challenge
  ``realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess``:
  realm and server name are fixed to ``zk-sasl-md5``, the service is
  ``zookeeper``, only ``qop=auth`` is possible (no integrity or privacy
  layer), and a client's initial response is ignored.  A GSSAPI client's
  Kerberos token is such a first token: it gets the same challenge.
* The second token is the client's digest-response (RFC 2831 §2.1.2).  It
  must name a user of the JAAS file, the realm ``zk-sasl-md5``, our nonce, a
  cnonce, nonce-count 1 (if sent), qop ``auth`` (if sent) and the digest-uri
  ``zookeeper/zk-sasl-md5`` (case-insensitively); its response value must be
  the one its password gives.  Then the answer is ``rspauth=<hex>`` and the
  exchange is complete.
* Every token after that, and any token after a failure, fails.

The authorization id (the ``sasl:<id>`` the connection then holds) is the
user name, canonicalized as ZooKeeper's SaslServerCallbackHandler does with
a Kerberos-style name: a name without ``@`` is kept as it is; ``svc/host@``
(empty realm, which is the default realm when no krb5.conf says otherwise)
loses ``/host`` with zookeeper.kerberos.removeHostFromPrincipal=true and
``@`` with removeRealmFromPrincipal=true; a name with any other realm maps
to no short name and falls back to the client's authzid (or the user name);
a name with ``@`` that is not of the form ``name[/host]@realm`` fails.

Failures are :class:`SaslFailure` (the peer's fault); the core decides what
the connection gets.  :class:`JaasError` is a JAAS file that does not parse.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

#: The realm, server name and digest-uri ZooKeeper's server uses for DIGEST-MD5.
REALM = "zk-sasl-md5"
SERVICE = "zookeeper"
DIGEST_URI = SERVICE + "/" + REALM

#: The JDK refuses longer tokens (DigestMD5Base.MAX_RESPONSE_LENGTH).
MAX_TOKEN_BYTES = 4096
#: 30 random bytes make the 40-character base64 nonce the JDK sends.
NONCE_RANDOM_BYTES = 30

#: Login modules a ``Server`` section may name: the DIGEST-MD5 one.
DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
#: Kerberos: ZooKeeper would run GSSAPI with it; zkwire does not.
KERBEROS_LOGIN_MODULES = ("com.sun.security.auth.module.Krb5LoginModule",)
USER_PREFIX = "user_"
SUPER_USER = "super"


class SaslFailure(Exception):
    """The client's SASL token does not authenticate it (the peer's fault)."""


class JaasError(Exception):
    """A JAAS login configuration that does not parse."""


# --------------------------------------------------------------------- JAAS


class JaasEntry:
    __slots__ = ("module", "flag", "options", "line")

    def __init__(self, module, flag, options, line):
        self.module = module
        self.flag = flag
        self.options = options
        self.line = line


_FLAGS = ("required", "requisite", "sufficient", "optional")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _word_start(ch: str) -> bool:
    # java.io.StreamTokenizer's word characters as the JDK's ConfigFile sets
    # them: letters, chars from U+00A0 on, and $ _ - *; but '-' (like digits
    # and '.') first starts a number, which no JAAS token may be.
    return "a" <= ch <= "z" or "A" <= ch <= "Z" or ord(ch) >= 0xA0 or ch in "$_*"


def _word_part(ch: str) -> bool:
    return _word_start(ch) or "0" <= ch <= "9" or ch in ".-"


def _tokens(text: str):
    """(kind, value, line): kind is "word", "quoted", "number", or the
    character itself for punctuation."""
    i, n, line = 0, len(text), 1
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch <= " ":
            i += 1
        elif ch == "/":
            if text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise JaasError("line %d: unterminated /* comment" % line)
                line += text.count("\n", i, end)
                i = end + 2
            else:
                # "//" -- and, in StreamTokenizer, a lone "/" too -- comments
                # out the rest of the line.
                end = text.find("\n", i)
                i = n if end < 0 else end
        elif ch in "\"'":
            out = []
            j = i + 1
            while True:
                if j >= n or text[j] in "\r\n":
                    raise JaasError("line %d: unterminated quoted string" % line)
                c = text[j]
                if c == ch:
                    break
                if c == "\\" and j + 1 < n:
                    j += 1
                    e = text[j]
                    if e in "01234567":
                        m = re.match(r"[0-7]{1,3}", text[j:j + 3])
                        digits = m.group(0)
                        if len(digits) == 3 and digits[0] > "3":
                            digits = digits[:2]
                        out.append(chr(int(digits, 8)))
                        j += len(digits)
                        continue
                    out.append(_ESCAPES.get(e, e))
                else:
                    out.append(c)
                j += 1
            yield "quoted", "".join(out), line
            i = j + 1
        elif _word_start(ch):
            j = i + 1
            while j < n and _word_part(text[j]):
                j += 1
            yield "word", text[i:j], line
            i = j
        elif "0" <= ch <= "9" or ch in ".-":
            j = i + 1
            while j < n and ("0" <= text[j] <= "9" or text[j] == "."):
                j += 1
            yield "number", text[i:j], line
            i = j
        else:
            yield ch, ch, line
            i += 1


def _expand(value: str, props: dict, line: int) -> str:
    """``${name}`` -> the system property, as the JDK expands option values."""
    if "${" not in value:
        return value

    def sub(m):
        name = m.group(1)
        if name == "/":
            return "/"
        if name not in props:
            raise JaasError("line %d: cannot expand ${%s}: no such system property" % (line, name))
        return props[name]

    out = re.sub(r"\$\{([^}]*)\}", sub, value)
    if not out:
        raise JaasError("line %d: %r expands to an empty value" % (line, value))
    return out


def parse_jaas(text: str, props: dict | None = None) -> dict:
    """A JAAS login configuration -> {section name: [JaasEntry, ...]}.

    The syntax is the JDK's ConfigFile: ``Name { module flag key=value ...; ... };``
    with ``//`` and ``/* */`` comments, values as words or quoted strings.
    Raises JaasError naming the line."""
    props = props or {}
    toks = list(_tokens(text))
    pos = 0
    sections = {}

    def peek():
        return toks[pos] if pos < len(toks) else ("eof", None, toks[-1][2] if toks else 1)

    def take(what, kinds):
        nonlocal pos
        kind, value, line = peek()
        if kind not in kinds:
            found = "end of file" if kind == "eof" else repr(value)
            raise JaasError("line %d: expected %s, found %s" % (line, what, found))
        pos += 1
        return value, line

    while pos < len(toks):
        name, name_line = take("a section name", ("word", "quoted"))
        take("'{'", ("{",))
        entries = []
        while peek()[0] != "}":
            module, line = take("a login module class name", ("word", "quoted"))
            flag, fline = take("a control flag", ("word", "quoted"))
            if flag.lower() not in _FLAGS:
                raise JaasError("line %d: invalid control flag %r (expected required, requisite, "
                                "sufficient or optional)" % (fline, flag))
            options = {}
            while peek()[0] != ";":
                key, _ = take("an option name or ';'", ("word", "quoted"))
                take("'=' after %s" % key, ("=",))
                value, vline = take("a value for %s" % key, ("word", "quoted"))
                options[key] = _expand(value, props, vline)
            take("';'", (";",))
            entries.append(JaasEntry(module, flag.lower(), options, line))
        take("'}'", ("}",))
        take("';' after '}'", (";",))
        if name in sections:
            raise JaasError("line %d: section %s is defined twice" % (name_line, name))
        sections[name] = entries
    return sections


def server_credentials(entries) -> dict:
    """The DIGEST-MD5 users of a server section: every ``user_<name>`` option
    of every entry, as ZooKeeper's ServerCnxnFactory collects them.  Raises
    JaasError for a login module zkwire cannot run (Kerberos, or any class
    other than DigestLoginModule: ZooKeeper would load and run it)."""
    users = {}
    for e in entries:
        if e.module in KERBEROS_LOGIN_MODULES:
            raise JaasError("line %d: %s: Kerberos (GSSAPI) is not supported by zkwire; "
                            "use %s" % (e.line, e.module, DIGEST_LOGIN_MODULE))
        if e.module != DIGEST_LOGIN_MODULE:
            raise JaasError("line %d: login module %s is not supported by zkwire (it has %s)"
                            % (e.line, e.module, DIGEST_LOGIN_MODULE))
        for key, value in e.options.items():
            if key.startswith(USER_PREFIX):
                users[key[len(USER_PREFIX):]] = value
    return users


# --------------------------------------------------------------- DIGEST-MD5


class SaslSettings:
    """What a server needs to run SASL (the edge builds it from the config)."""

    def __init__(self, users: dict, random_bytes, super_password: str | None = None,
                 remove_host: bool = False, remove_realm: bool = False):
        self.users = dict(users)
        #: random_bytes(n) -> n bytes, for nonces (injected: the core reads no randomness).
        self.random_bytes = random_bytes
        #: zookeeper.SASLAuthenticationProvider.superPassword: the password of
        #: the user "super" (who must still be listed in the JAAS file).
        self.super_password = super_password
        self.remove_host = remove_host
        self.remove_realm = remove_realm


_KERBEROS_NAME = re.compile(r"([^/@]*)(/([^/@]*))?@([^/@]*)\Z")


def authorized_id(username: str, authzid: str | None, remove_host: bool = False,
                  remove_realm: bool = False) -> str:
    """The id a successful DIGEST-MD5 login gets (see the module docstring)."""
    m = _KERBEROS_NAME.match(username)
    if m is None:
        if "@" in username:
            # ZooKeeper's KerberosName rejects it (an exception escapes its
            # callback handler): no login.
            raise SaslFailure("%r is not a valid principal name" % username)
        return username
    service, host, realm = m.group(1), m.group(3), m.group(4)
    if realm != "":
        # Only the default realm (empty without a krb5.conf) has a rule.
        return authzid if authzid is not None else username
    name = service
    if host is not None and not remove_host:
        name += "/" + host
    if not remove_realm:
        name += "@" + realm
    return name


def _latin1_or_utf8(s: str) -> bytes:
    # The JDK hashes names and passwords as ISO-8859-1 unless a character
    # is beyond it; then as UTF-8.
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _md5(b: bytes) -> bytes:
    return hashlib.md5(b).digest()


def response_value(method: str, uri: bytes, qop: bytes, username: str, realm: str,
                   password: str, nonce: bytes, cnonce: bytes, authzid: bytes | None) -> bytes:
    """RFC 2831's response-value (lower-case hex): ``method`` is
    "AUTHENTICATE" for the client's response, "" for the server's rspauth."""
    ha2 = _md5(method.encode() + b":" + uri).hex().encode()
    a1 = (_md5(_latin1_or_utf8(username) + b":" + _latin1_or_utf8(realm) + b":"
               + _latin1_or_utf8(password)) + b":" + nonce + b":" + cnonce)
    if authzid is not None:
        a1 += b":" + authzid
    ha1 = _md5(a1).hex().encode()
    return _md5(ha1 + b":" + nonce + b":00000001:" + cnonce + b":" + qop + b":" + ha2).hex().encode()


_DIRECTIVES = ("username", "realm", "nonce", "cnonce", "nonce-count", "qop", "digest-uri",
               "response", "maxbuf", "charset", "cipher", "authzid", "auth-param")
_LWS = b" \t\r\n"


def parse_directives(buf: bytes) -> dict:
    """A digest-response's ``key=value,...`` list -> {known key: bytes}, as
    strictly as the JDK parses it (a known key twice is an error; unknown
    keys are dropped)."""
    out = {}
    n = len(buf)

    def skip(i):
        while i < n and buf[i] in _LWS:
            i += 1
        return i

    def put(key, value):
        k = key.decode("latin-1").lower()
        if k in _DIRECTIVES:
            if k in out:
                raise SaslFailure("more than one %s directive" % k)
            out[k] = bytes(value)

    key, value = bytearray(), bytearray()
    getting_key, quoted, expect_sep = True, False, False
    i = skip(0)
    while i < n:
        b = buf[i]
        if getting_key:
            if b == 0x2C:  # ','
                if key:
                    raise SaslFailure("directive key contains a ','")
                i = skip(i + 1)
            elif b == 0x3D:  # '='
                if not key:
                    raise SaslFailure("empty directive key")
                getting_key = False
                i = skip(i + 1)
                if i >= n:
                    raise SaslFailure("valueless directive %s" % key.decode("latin-1"))
                if buf[i] == 0x22:
                    quoted = True
                    i += 1
            elif b in _LWS:
                i = skip(i + 1)
                if i >= n or buf[i] != 0x3D:
                    raise SaslFailure("'=' expected after key %s" % key.decode("latin-1"))
            else:
                key.append(b)
                i += 1
        elif quoted:
            if b == 0x5C:  # '\\'
                i += 1
                if i >= n:
                    raise SaslFailure("unmatched quote")
                value.append(buf[i])
                i += 1
            elif b == 0x22:
                i += 1
                quoted, expect_sep = False, True
            else:
                value.append(b)
                i += 1
        elif b in _LWS or b == 0x2C:
            put(key, value)
            key, value = bytearray(), bytearray()
            getting_key, quoted, expect_sep = True, False, False
            i = skip(i + 1)
        elif expect_sep:
            raise SaslFailure("expecting a comma after a quoted string")
        else:
            value.append(b)
            i += 1
    if quoted:
        raise SaslFailure("unmatched quote")
    if key:
        put(key, value)
    return out


class DigestMD5Server:
    """One connection's DIGEST-MD5 exchange, server side."""

    def __init__(self, settings: SaslSettings):
        self.settings = settings
        self.step = 1
        self.complete = False
        self.authorization_id = None
        self.nonce = None

    def evaluate(self, token: bytes) -> bytes:
        """The client's token -> the server's answer; SaslFailure if it fails
        (then every later token fails too)."""
        if len(token) > MAX_TOKEN_BYTES:
            self.step = 0
            raise SaslFailure("token of %d bytes, more than %d" % (len(token), MAX_TOKEN_BYTES))
        if self.step == 1:
            self.step = 3
            raw = self.settings.random_bytes(NONCE_RANDOM_BYTES)
            if len(raw) != NONCE_RANDOM_BYTES:
                raise AssertionError("random_bytes returned %d bytes" % len(raw))
            self.nonce = base64.b64encode(raw)
            return (b'realm="' + REALM.encode() + b'",nonce="' + self.nonce
                    + b'",charset=utf-8,algorithm=md5-sess')
        if self.step == 3:
            self.step = 0
            answer = self._verify(parse_directives(token))
            self.complete = True
            return answer
        raise SaslFailure("no more tokens expected in this DIGEST-MD5 exchange")

    def _verify(self, d: dict) -> bytes:
        def text(key):
            try:
                return d[key].decode("utf-8")
            except UnicodeDecodeError:
                raise SaslFailure("%s is not UTF-8" % key) from None

        if "charset" in d and d["charset"] != b"utf-8":
            raise SaslFailure("incompatible charset %r" % d["charset"])
        if "maxbuf" in d:
            try:
                int(d["maxbuf"].decode("ascii"), 10)
            except (UnicodeDecodeError, ValueError):
                raise SaslFailure("maxbuf is not a number") from None
        if "username" not in d:
            raise SaslFailure("missing username")
        username = text("username")
        realm = text("realm") if "realm" in d else ""
        if realm != REALM:
            raise SaslFailure("realm %r is not %s" % (realm, REALM))
        if d.get("nonce") != self.nonce:
            raise SaslFailure("missing or mismatched nonce")
        cnonce = d.get("cnonce")
        if cnonce is None:
            raise SaslFailure("missing cnonce")
        if "nonce-count" in d:
            try:
                nc = int(d["nonce-count"].decode("ascii"), 16)
            except (UnicodeDecodeError, ValueError):
                raise SaslFailure("nonce-count is not a hex number") from None
            if nc != 1:
                raise SaslFailure("nonce-count %d is not 1" % nc)
        qop = d.get("qop", b"auth")
        if qop != b"auth":
            # auth-int and auth-conf are not offered: ZooKeeper sets no
            # javax.security.sasl.qop, so only authentication is possible.
            raise SaslFailure("qop %r not offered (only auth)" % qop)
        uri = d.get("digest-uri")
        if uri is None or uri.decode("utf-8", "replace").lower() != DIGEST_URI.lower():
            raise SaslFailure("digest-uri %r is not %s" % (uri, DIGEST_URI))
        given = d.get("response")
        if given is None:
            raise SaslFailure("missing response")
        authzid = d.get("authzid")
        password = self._password(username)
        expected = response_value("AUTHENTICATE", uri, qop, username, realm, password,
                                  self.nonce, cnonce, authzid)
        if not hmac.compare_digest(given, expected):
            raise SaslFailure("wrong password for %r" % username)
        s = self.settings
        self.authorization_id = authorized_id(
            username, authzid.decode("utf-8", "replace") if authzid is not None else None,
            s.remove_host, s.remove_realm)
        return b"rspauth=" + response_value("", uri, qop, username, realm, password,
                                            self.nonce, cnonce, authzid)

    def _password(self, username: str) -> str:
        s = self.settings
        if username not in s.users:
            raise SaslFailure("no user %r" % username)
        if username == SUPER_USER and s.super_password is not None:
            return s.super_password
        return s.users[username]
