"""X.500 names as ZooKeeper's ``x509`` auth scheme spells them.

ZooKeeper's X509AuthenticationProvider names a client by its certificate's
subject, ``X509Certificate.getSubjectX500Principal().getName()``: Java's RFC
2253 form.  :func:`rfc2253` writes a DER-encoded Name the same way:

* the RDNs last to first (most specific first), joined by ``,``; the
  attributes of a multi-valued RDN joined by ``+``;
* the RFC 2253 keywords CN, C, L, ST, O, OU, STREET, DC, UID; any other
  attribute type as its dotted OID with the value as ``#`` and the hex of its
  DER encoding (so emailAddress is ``1.2.840.113549.1.9.1=#16...``);
* a string value (Printable, T61, IA5, General, UTF8, BMP) with
  ``, = + < > # ; " \\`` escaped by a backslash, a NUL as ``\\00``, and
  leading and trailing spaces escaped; other value types as ``#`` hex.

Observed on Apache ZooKeeper 3.8.0 through an ``auth`` ACL
(tests/ZOOKEEPER_FACTS.md, "TLS on the client port").

:func:`is_valid` is the ACL-side check (``new X500Principal(id)`` must
parse): comma- or semicolon-separated ``type=value`` pairs, the type a
keyword Java knows or a dotted OID, a ``#`` value one whole DER value; the
empty name is valid, a blank one is not (checked against OpenJDK 17's
X500Principal, tests/ZOOKEEPER_FACTS.md §16 ``tls-x509-acl-ids``).
"""
from __future__ import annotations

_KEYWORDS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
#: Tags of the string types Java writes as text: Printable, T61, IA5,
#: General, UTF8, BMP.
_STRING_TAGS = {0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1B: "latin-1",
                0x0C: "utf-8", 0x1E: "utf-16-be"}
_ESCAPEES = ',=+<>#;"\\'
#: Keywords java.security X500Principal accepts when parsing (RFC 1779, 2253
#: and Java's own additions), upper case.
_PARSE_KEYWORDS = {"CN", "C", "L", "S", "ST", "O", "OU", "T", "IP", "STREET", "DC",
                   "DNQUALIFIER", "DNQ", "SURNAME", "GIVENNAME", "INITIALS", "GENERATION",
                   "EMAIL", "EMAILADDRESS", "UID", "SERIALNUMBER"}


class BadName(ValueError):
    pass


def _tlv(data: bytes, pos: int):
    if pos + 2 > len(data):
        raise BadName("truncated DER")
    tag = data[pos]
    n = data[pos + 1]
    p = pos + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or p + k > len(data):
            raise BadName("bad DER length")
        n = int.from_bytes(data[p:p + k], "big")
        p += k
    if p + n > len(data):
        raise BadName("truncated DER")
    return tag, p, p + n


def _oid(b: bytes) -> str:
    if not b:
        raise BadName("empty OID")
    first = b[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    v = 0
    for byte in b[1:]:
        v = (v << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(v)
            v = 0
    return ".".join(str(a) for a in arcs)


def _escape(s: str) -> str:
    out = []
    for c in s:
        if c in _ESCAPEES:
            out.append("\\" + c)
        elif c == "\x00":
            out.append("\\00")
        else:
            out.append(c)
    chars = "".join(out)
    lead = 0
    while lead < len(chars) and chars[lead] in " \r":
        lead += 1
    trail = len(chars) - 1
    while trail >= 0 and chars[trail] in " \r":
        trail -= 1
    return "".join(("\\" + c) if (i < lead or i > trail) else c for i, c in enumerate(chars))


def rfc2253(name_der: bytes) -> str:
    tag, start, end = _tlv(name_der, 0)
    if tag != 0x30:
        raise BadName("a Name is a SEQUENCE")
    rdns = []
    pos = start
    while pos < end:
        tag, s_start, s_end = _tlv(name_der, pos)
        if tag != 0x31:
            raise BadName("an RDN is a SET")
        avas = []
        p = s_start
        while p < s_end:
            tag, a_start, a_end = _tlv(name_der, p)
            if tag != 0x30:
                raise BadName("an AVA is a SEQUENCE")
            otag, o_start, o_end = _tlv(name_der, a_start)
            if otag != 0x06:
                raise BadName("an AVA starts with an OID")
            oid = _oid(name_der[o_start:o_end])
            vtag, v_start, v_end = _tlv(name_der, o_end)
            keyword = _KEYWORDS.get(oid)
            codec = _STRING_TAGS.get(vtag)
            if keyword is not None and codec is not None:
                text = name_der[v_start:v_end].decode(codec, "replace")
                avas.append("%s=%s" % (keyword, _escape(text)))
            else:
                avas.append("%s=#%s" % (keyword or oid, name_der[o_end:v_end].hex()))
            p = a_end
        rdns.append("+".join(avas))
        pos = s_end
    return ",".join(reversed(rdns))


def _split(s: str, seps: str):
    """Split on unescaped, unquoted separators."""
    parts, cur, i, quoted = [], [], 0, False
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise BadName("trailing backslash")
            cur.append(s[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in seps and not quoted:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if quoted:
        raise BadName("unterminated quote")
    parts.append("".join(cur))
    return parts


def is_valid(name: str) -> bool:
    """Would ``new javax.security.auth.x500.X500Principal(name)`` accept it?"""
    if name == "":
        return True
    try:
        for rdn in _split(name, ",;"):
            for ava in _split(rdn, "+"):
                if "=" not in ava:
                    return False
                kind, value = ava.split("=", 1)
                kind = kind.strip()
                if kind.upper().startswith("OID."):
                    kind = kind[4:]
                if kind.upper() in _PARSE_KEYWORDS:
                    pass
                elif kind and all(x.isdigit() for x in kind.split(".")) and "." in kind:
                    pass
                else:
                    return False
                v = value.strip()
                if v.startswith("#"):
                    h = v[1:]
                    if not h or len(h) % 2 or any(c not in "0123456789abcdefABCDEF" for c in h):
                        return False
                    der = bytes.fromhex(h)
                    if _tlv(der, 0)[2] != len(der):   # one whole DER value
                        return False
    except BadName:
        return False
    return True
