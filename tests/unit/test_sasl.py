"""core/sasl.py: the DIGEST-MD5 server against an independent client, and JAAS files.

The client side is pure-sasl (what kazoo uses), never our own code; the
response-value arithmetic is checked against RFC 2831 §4's worked example.
What ZooKeeper answers (challenge layout, failures, JAAS start-up) is
tests/ZOOKEEPER_FACTS.md §15.
"""
from __future__ import annotations

import re

import pytest

puresasl_client = pytest.importorskip("puresasl.client")

from zkwire.server.core.sasl import (  # noqa: E402
    DigestMD5Server, JaasError, SaslFailure, SaslSettings, parse_jaas, response_value,
    server_credentials,
)
from zkwire.server.edge.config import ConfigError, load  # noqa: E402

USERS = {"super": "super_secret", "bob": "bob_pw", "jaasuser": "jaas_password"}
# §15 sasl-digest-md5-exchange: the challenge ZooKeeper sends.
CHALLENGE = re.compile(rb'realm="zk-sasl-md5",nonce="[A-Za-z0-9+/]{40}",charset=utf-8,'
                       rb'algorithm=md5-sess\Z')
KAZOO_JAAS = """
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};"""


def fixed_random(n):
    return bytes(range(n))


def server(**kw):
    return DigestMD5Server(SaslSettings(kw.pop("users", USERS), fixed_random, **kw))


def client(user, password):
    # kazoo's set-up for DIGEST-MD5 (kazoo/protocol/connection.py).
    return puresasl_client.SASLClient("zk-sasl-md5", service="zookeeper",
                                      mechanism="DIGEST-MD5", username=user, password=password)


def exchange(srv, user, password):
    cli = client(user, password)
    challenge = srv.evaluate(b"")
    return cli, srv.evaluate(cli.process(challenge))


def test_rfc_2831_worked_example():
    # RFC 2831 section 4: chris / secret at elwood.innosoft.com.
    args = dict(qop=b"auth", username="chris", realm="elwood.innosoft.com", password="secret",
                nonce=b"OA6MG9tEQGm2hh", cnonce=b"OA6MHXh6VqTrRk", authzid=None)
    uri = b"imap/elwood.innosoft.com"
    assert response_value("AUTHENTICATE", uri, **args) == b"d388dad90d4bbd760a152321f2143af7"
    assert response_value("", uri, **args) == b"ea40f60335c427b5527b84dbabcdfffd"


def test_pure_sasl_logs_in_and_accepts_rspauth():
    srv = server()
    challenge = srv.evaluate(b"")
    assert CHALLENGE.match(challenge)
    cli = client("bob", "bob_pw")
    answer = srv.evaluate(cli.process(challenge))
    assert answer.startswith(b"rspauth=")
    assert cli.process(answer) is None and cli.complete   # pure-sasl checked rspauth
    assert srv.complete and srv.authorization_id == "bob"


def test_nonce_comes_from_the_injected_source():
    seen = []

    def rnd(n):
        seen.append(n)
        return b"\xff" * n

    srv = DigestMD5Server(SaslSettings(USERS, rnd))
    assert b'nonce="' + b"/" * 40 + b'"' in srv.evaluate(b"")
    assert seen == [30]


def test_a_first_token_is_ignored():
    # §15: a GSSAPI-like first token gets the same challenge.
    assert CHALLENGE.match(server().evaluate(b"\x60\x82 kerberos"))


@pytest.mark.parametrize("user, password", [("bob", "wrong"), ("eve", "x"), ("eve", "bob_pw")])
def test_wrong_credentials_fail(user, password):
    # ("eve", "bob_pw"): 3.9 refuses it; 3.8 has ZOOKEEPER-4839 (§15 sasl-unknown-user-3.8-bug).
    with pytest.raises(SaslFailure):
        exchange(server(), user, password)


def test_every_token_after_success_or_failure_fails():
    srv = server()
    exchange(srv, "bob", "bob_pw")
    with pytest.raises(SaslFailure):
        srv.evaluate(b"")
    srv = server()
    srv.evaluate(b"")
    with pytest.raises(SaslFailure):
        srv.evaluate(b"garbage")
    with pytest.raises(SaslFailure):
        srv.evaluate(b"")


def test_super_password_property_replaces_the_files_password():
    cli, _ = exchange(server(super_password="other"), "super", "other")
    with pytest.raises(SaslFailure):
        exchange(server(super_password="other"), "super", "super_secret")
    # ... but only for a "super" listed in the JAAS file.
    with pytest.raises(SaslFailure):
        exchange(server(users={"bob": "bob_pw"}, super_password="other"), "super", "other")


def _tampered(replace):
    """A server that has sent its challenge, and pure-sasl's answer edited by ``replace``."""
    srv = server()
    cli = client("bob", "bob_pw")
    response = cli.process(srv.evaluate(b""))
    return srv, replace(response)


# The same edits, sent to both servers: tests/integration/test_sasl.py and
# §15 sasl-bad-responses.  (The JDK reads "nonce-count", not RFC 2831's "nc":
# an edited nc alone goes unnoticed there, and here.)
@pytest.mark.parametrize("edit", [
    lambda r: r.replace(b'realm="zk-sasl-md5",', b""),
    lambda r: r.replace(b"zk-sasl-md5", b"other", 1),
    lambda r: r.replace(b'digest-uri="zookeeper/zk-sasl-md5"', b'digest-uri="imap/zk-sasl-md5"'),
    lambda r: re.sub(rb'digest-uri="[^"]*",?', b"", r),
    lambda r: r + b",nonce-count=00000002",
    lambda r: r.replace(b"qop=auth", b"qop=auth-int"),
    lambda r: re.sub(rb'nonce="[^"]*"', b'nonce="x"', r, count=1),
    lambda r: re.sub(rb'cnonce="[^"]*",?', b"", r),
    lambda r: r + b',username="bob"',
    lambda r: r.replace(b"charset=utf-8", b"charset=latin1") if b"charset" in r
    else r + b",charset=latin1",
    lambda r: r + b"," + b"x" * 5000,
])
def test_bad_responses_fail(edit):
    srv, response = _tampered(edit)
    with pytest.raises(SaslFailure):
        srv.evaluate(response)


def test_nc_is_not_read():
    srv, response = _tampered(lambda r: r.replace(b"nc=00000001", b"nc=00000002"))
    assert srv.evaluate(response).startswith(b"rspauth=")


# --------------------------------------------------------------------- JAAS


def test_kazoo_harness_jaas_file():
    sections = parse_jaas(KAZOO_JAAS)
    assert server_credentials(sections["Server"]) == {"super": "super_secret",
                                                      "jaasuser": "jaas_password"}


def test_jaas_comments_quotes_and_properties():
    text = ("// a line\n/* a\nblock */ Server { /* x */\n"
            "  org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED // y\n"
            "  user_bob=\"b\\\"o b\" user_x=\"${pw}\" user_y=plain;\n};\n"
            "'Client' { org.apache.zookeeper.server.auth.DigestLoginModule optional "
            "username=bob password='p';};")
    sections = parse_jaas(text, {"pw": "from-a-property"})
    assert server_credentials(sections["Server"]) == {"bob": 'b"o b', "x": "from-a-property",
                                                      "y": "plain"}
    assert sections["Client"][0].options == {"username": "bob", "password": "p"}


@pytest.mark.parametrize("text, line", [
    ("Server {\n  org.x.Y required\n  a=b\n};\n", 4),          # §15: no ';' after the options
    ("# a comment\nServer {};\n", 1),                           # §15: '#' is no comment
    ("Server {\n  org.x.Y mandatory;\n};\n", 2),
    ("Server {\n  org.x.Y required a=1;\n};\n", 2),            # a number is no value
    ("Server {\n  org.x.Y required a=\"b\n;};\n", 2),
    ("Server {};\nServer {};\n", 2),
    ("Server {\n", 1),
    ("Server { org.x.Y required a=${nope}; };", 1),
])
def test_jaas_syntax_errors_name_the_line(text, line):
    with pytest.raises(JaasError, match="^line %d: " % line):
        parse_jaas(text)


@pytest.mark.parametrize("module", ["com.sun.security.auth.module.Krb5LoginModule",
                                    "org.example.NoSuch"])
def test_server_sections_zkwire_cannot_run(module):
    with pytest.raises(JaasError, match=module):
        server_credentials(parse_jaas("Server { %s required; };" % module)["Server"])


# --------------------------------------------------------------------- config

PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"


def _jaas(tmp_path, text=KAZOO_JAAS):
    p = tmp_path / "jaas.conf"
    p.write_text(text)
    return str(p)


def test_config_reads_the_server_section(tmp_path):
    s = load(None, {"java.security.auth.login.config": _jaas(tmp_path),
                    "zookeeper.authProvider.1": PROVIDER})
    assert s.sasl_users == {"super": "super_secret", "jaasuser": "jaas_password"}
    assert s.sasl_scheme and not s.warnings


def test_config_section_name_property(tmp_path):
    path = _jaas(tmp_path, KAZOO_JAAS.replace("Server", "Other"))
    s = load(None, {"java.security.auth.login.config": path,
                    "zookeeper.sasl.serverconfig": "Other"})
    assert s.sasl_users == {"super": "super_secret", "jaasuser": "jaas_password"}
    # §15 jaas-start-up: no such section, or no file: SASL off, the server starts.
    s = load(None, {"java.security.auth.login.config": path})
    assert s.sasl_users is None and any("no section Server" in w for w in s.warnings)
    s = load(None, {"zookeeper.sasl.serverconfig": "Other"})
    assert s.sasl_users is None and any("serverconfig" in w for w in s.warnings)


@pytest.mark.parametrize("text", [None, "# x\nServer {};\n",
                                  "Server { org.example.NoSuch required; };"])
def test_config_refuses_a_bad_jaas_file(tmp_path, text):
    path = str(tmp_path / "missing.conf") if text is None else _jaas(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(None, {"java.security.auth.login.config": path})
    assert str(info.value).startswith("-Djava.security.auth.login.config=%s: " % path)
    assert "\n" not in str(info.value)


def test_session_require_client_sasl_auth(tmp_path):
    # §15 jaas-start-up: refused without the provider ...
    with pytest.raises(ConfigError, match="SASLAuthenticationProvider"):
        load(None, {"zookeeper.sessionRequireClientSASLAuth": "true"})
    # ... and with it, enforcement of the sasl scheme, whatever enforce.auth says.
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("authProvider.1=%s\n" % PROVIDER)
    s = load(str(cfg), {"zookeeper.sessionRequireClientSASLAuth": "true",
                        "zookeeper.enforce.auth.enabled": "true",
                        "zookeeper.enforce.auth.schemes": "digest"})
    assert s.enforce_auth and s.enforce_auth_schemes == ("sasl",)


def test_super_users_and_lenient_flags(tmp_path):
    s = load(None, {"zookeeper.superUser": "a", "zookeeper.superUser.2": "b",
                    "zookeeper.superUserX": "c", "zookeeper.allowSaslFailedClients": "yes"})
    assert sorted(s.sasl_super_users) == ["a", "b"]
    # Boolean.getBoolean: only "true" allows failed clients.
    assert s.allow_sasl_failed is False


# --------------------------------------------------------------------- the core
# What a connection gets (tests/ZOOKEEPER_FACTS.md §15): replies at once, zxid
# 0; a failure is AUTHFAILED (SESSIONCLOSEDREQUIRESASLAUTH when sasl is
# enforced) with a null token, then the connection closes.

from zkwire import records as r  # noqa: E402
from zkwire.consts import Err, OpCode  # noqa: E402

from tests.unit import CoreHarness, create_req, replies  # noqa: E402


def _harness(**kw):
    kw.setdefault("sasl", SaslSettings(USERS, fixed_random))
    kw.setdefault("sasl_scheme", True)
    return CoreHarness(**kw)


def _login(h, conn, user, password):
    cli = client(user, password)
    [(_, xid, zxid, err, op, (challenge,))] = h.call(conn, 1, OpCode.sasl,
                                                     r.GetSASLRequest.make(b""))
    assert (xid, zxid, err) == (1, 0, 0) and CHALLENGE.match(challenge)
    return h.call(conn, 2, OpCode.sasl, r.GetSASLRequest.make(cli.process(challenge)))


def test_core_login_gives_the_sasl_identity():
    h = _harness(sasl_super_users=("jaasuser",))
    c = h.session()
    [(kind, xid, zxid, err, op, (token,))] = _login(h, c, "bob", "bob_pw")
    assert (xid, zxid, err) == (2, 0, 0) and token.startswith(b"rspauth=")
    assert ("sasl", "bob") in c.ids and ("super", "") not in c.ids
    d = h.session()
    _login(h, d, "jaasuser", "jaas_password")
    assert ("sasl", "jaasuser") in d.ids and ("super", "") in d.ids


def test_core_failed_login_closes():
    h = _harness()
    c = h.session()
    out = _login(h, c, "bob", "wrong")
    assert out[0] == ("reply", 2, 0, Err.AUTHFAILED, OpCode.sasl, (None,))
    assert out[1][0] == "close" and len(out) == 2
    assert [i for i in c.ids if i[0] == "sasl"] == []


def test_core_failed_login_with_sasl_enforced():
    h = _harness(enforce_auth_schemes=("sasl",))
    c = h.session()
    out = _login(h, c, "bob", "wrong")
    assert out[0] == ("reply", 2, 0, Err.SESSIONCLOSEDREQUIRESASLAUTH, OpCode.sasl, (None,))
    d = h.session()
    _login(h, d, "bob", "bob_pw")
    assert [o[3] for o in replies(h.call(d, 3, OpCode.create, create_req("/a")))] == [0]


def test_core_allow_sasl_failed_clients():
    h = _harness(allow_sasl_failed=True)
    c = h.session()
    assert _login(h, c, "bob", "wrong") == [("reply", 2, 0, 0, OpCode.sasl, (None,))]
    assert not c.closing


def test_core_without_sasl_settings_answers_ok_with_no_token():
    # §13 sasl-without-sasl-configured.
    h = CoreHarness()
    c = h.session()
    assert h.call(c, 5, OpCode.sasl, r.GetSASLRequest.make(b"t")) == [
        ("reply", 5, 0, 0, OpCode.sasl, (None,))]
