"""SASL (DIGEST-MD5) against a server with a JAAS file: kazoo, the raw wire, ACLs.

Every expectation is what Apache ZooKeeper 3.8.0 does (tests/ZOOKEEPER_FACTS.md
§15); ``ZKWIRE_TEST_TARGET=zookeeper`` runs these tests against it.  Each
server here is started with tests/servers.py's ``jaas=`` (the file both
servers read through -Djava.security.auth.login.config) and stopped by its
PID when the module is done.
"""
from __future__ import annotations

import os
import re
import sys
import threading
import warnings

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError
from kazoo.protocol.states import KazooState
from kazoo.security import make_acl

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import ServerProcess, since_39, target_kind  # noqa: E402
from rawclient import (  # noqa: E402
    AUTH, AUTH_FAILED, AUTH_XID, CLOSE_SESSION, CREATE, DELETE, EXISTS, GET_DATA, INVALID_ACL, NO_AUTH, OK,
    PERM_ALL, RawConnection, auth_req, buffer, create_req, delete_req, int32, int64, path_req,
)

pytest.importorskip("puresasl")
import puresasl.client  # noqa: E402

SASL = 102
WHO_AM_I = 107
SESSION_CLOSED_REQUIRE_SASL_AUTH = -124
JAAS = """\
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_bob="bob_pw"
    user_jaasuser="jaas_password";
};
"""
SASL_PROVIDER = {"authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"}
CHALLENGE = re.compile(rb'realm="zk-sasl-md5",nonce="[A-Za-z0-9+/]{40}",charset=utf-8,'
                       rb'algorithm=md5-sess\Z')


def _server(cfg, sysprops=None):
    srv = ServerProcess(target_kind(), cfg=cfg, sysprops=sysprops, jaas=JAAS)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def sasl_server():
    srv = _server(SASL_PROVIDER, {"zookeeper.superUser": "jaasuser"})
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def required_server():
    srv = _server(SASL_PROVIDER, {"zookeeper.sessionRequireClientSASLAuth": "true"})
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def lenient_server():
    srv = _server(SASL_PROVIDER, {"zookeeper.allowSaslFailedClients": "true"})
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def providerless_server():
    srv = _server({})
    yield srv
    srv.cleanup()


@pytest.fixture
def kazoo(request):
    clients = []

    def make(srv, **kw):
        c = KazooClient(hosts=srv.hosts, timeout=10.0, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.stop()
        c.close()


@pytest.fixture
def raw():
    conns = []

    def make(srv, handshake=True):
        c = RawConnection(srv.port)
        conns.append(c)
        if handshake:
            c.handshake()
        return c

    yield make
    for c in conns:
        c.close()


# pure-sasl's digest-response, edited (label, pattern, replacement); each must fail but
# the one marked: the JDK reads "nonce-count", never RFC 2831's "nc".
EDITED_RESPONSES = [
    ("no realm", rb'realm="zk-sasl-md5",', b"", AUTH_FAILED),
    ("another realm", rb'realm="zk-sasl-md5"', b'realm="other"', AUTH_FAILED),
    ("another digest-uri", rb'digest-uri="zookeeper/', b'digest-uri="imap/', AUTH_FAILED),
    ("no digest-uri", rb'digest-uri="[^"]*",?', b"", AUTH_FAILED),
    ("nc=00000002", rb"nc=00000001", b"nc=00000002", OK),
    ("nonce-count=00000002", rb"\Z", b",nonce-count=00000002", AUTH_FAILED),
    ("qop=auth-int", rb"qop=auth", b"qop=auth-int", AUTH_FAILED),
    ("another nonce", rb'(?<!c)nonce="[^"]*"', b'nonce="x"', AUTH_FAILED),
    ("no cnonce", rb'cnonce="[^"]*",?', b"", AUTH_FAILED),
    ("username twice", rb"\Z", b',username="bob"', AUTH_FAILED),
    ("charset=latin1", rb"\Z", b",charset=latin1", AUTH_FAILED),
    ("5000 more bytes", rb"\Z", b"," + b"x" * 5000, AUTH_FAILED),
]


def digest_client(user, password):
    # As kazoo sets pure-sasl up for DIGEST-MD5.
    return puresasl.client.SASLClient("zk-sasl-md5", service="zookeeper", mechanism="DIGEST-MD5",
                                      username=user, password=password)


def sasl(c, token, xid):
    return c.call(SASL, buffer(token), xid=xid)


def login(c, user, password):
    """-> the reply to the digest-response (and checks the challenge on the way)."""
    cli = digest_client(user, password)
    f = sasl(c, b"", 1)
    assert f.summary() == (1, 0, OK)
    challenge = f.reader().buffer()
    assert CHALLENGE.match(challenge), challenge
    return sasl(c, cli.process(challenge), 2), cli


def who_am_i(c):
    r = c.call(WHO_AM_I).reader()
    return sorted((r.string(), r.string()) for _ in range(r.int32()))


def failure(xid, err):
    """A failed exchange's reply: RH(xid, 0, err) + a null token (§15 sasl-failures-close)."""
    return int32(xid) + int64(0) + int32(err) + int32(-1)


# --------------------------------------------------------------------- the wire


def test_digest_md5_exchange(sasl_server, raw):
    c = raw(sasl_server)
    zxid = c.last_zxid()
    f, cli = login(c, "bob", "bob_pw")
    assert f.summary() == (2, 0, OK)
    token = f.reader().buffer()
    assert re.match(rb"rspauth=[0-9a-f]{32}\Z", token), token
    assert cli.process(token) is None and cli.complete   # the server proved it knows the password
    assert who_am_i(c) == [("ip", "127.0.0.1"), ("sasl", "bob")]
    assert c.last_zxid() == zxid                          # no zxid spent


def test_a_non_empty_first_token_gets_the_challenge(sasl_server, raw):
    # What a GSSAPI client's Kerberos token gets from a DIGEST-MD5 server.
    f = sasl(raw(sasl_server), b"\x60\x82 a GSSAPI-like first token", 1)
    assert f.err == OK and CHALLENGE.match(f.reader().buffer())


@pytest.mark.parametrize("user, password", [("bob", "wrong"), ("eve", "x")])
def test_failed_login_is_authfailed_then_closed(sasl_server, raw, user, password):
    c = raw(sasl_server)
    f, _ = login(c, user, password)
    assert f.raw == failure(2, AUTH_FAILED)
    c.expect_closed(5)
    again = raw(sasl_server, handshake=False)
    assert again.handshake(session_id=c.session.session_id,
                           passwd=c.session.passwd).session_id == c.session.session_id


def test_unknown_user_does_not_get_the_last_users_password(sasl_server, raw):
    # ZooKeeper 3.8 shares one callback handler among connections: an unknown
    # user is checked against the password of the last known user named
    # (ZOOKEEPER-4839, fixed in 3.9; §15 sasl-unknown-user-3.8-bug).
    assert login(raw(sasl_server), "bob", "bob_pw")[0].err == OK
    f, _ = login(raw(sasl_server), "eve", "bob_pw")
    assert f.err == since_39(OK, AUTH_FAILED)


def test_garbage_response_and_token_after_success_fail(sasl_server, raw):
    c = raw(sasl_server)
    sasl(c, b"", 1)
    assert sasl(c, b'username="bob",,=', 2).raw == failure(2, AUTH_FAILED)
    c.expect_closed(5)
    c = raw(sasl_server)
    assert login(c, "bob", "bob_pw")[0].err == OK
    assert sasl(c, b"", 3).raw == failure(3, AUTH_FAILED)
    c.expect_closed(5)


def test_addauth_sasl_is_authfailed(sasl_server, raw):
    c = raw(sasl_server)
    assert c.call(AUTH, auth_req("sasl", b"bob:bob_pw"), xid=AUTH_XID).err == AUTH_FAILED
    c.expect_closed(5)


@pytest.mark.parametrize("label, pattern, replacement, err", EDITED_RESPONSES,
                         ids=[e[0] for e in EDITED_RESPONSES])
def test_edited_responses(sasl_server, raw, label, pattern, replacement, err):
    c = raw(sasl_server)
    cli = digest_client("bob", "bob_pw")
    response = cli.process(sasl(c, b"", 1).reader().buffer())
    edited = re.sub(pattern, replacement, response, count=1)
    assert edited != response
    assert sasl(c, edited, 2).err == err


# --------------------------------------------------------------------- ACLs


def test_sasl_acls_and_super_users(sasl_server, raw):
    bob = raw(sasl_server)
    assert login(bob, "bob", "bob_pw")[0].err == OK
    anon = raw(sasl_server)
    assert bob.call(CREATE, create_req("/sasl-acl", b"x", [(PERM_ALL, "sasl", "bob")])).err == OK
    try:
        assert anon.call(GET_DATA, path_req("/sasl-acl")).err == NO_AUTH
        assert bob.call(GET_DATA, path_req("/sasl-acl")).err == OK
        # The SASL user named "super" matches every sasl entry ...
        sup = raw(sasl_server)
        assert login(sup, "super", "super_secret")[0].err == OK
        assert sup.call(GET_DATA, path_req("/sasl-acl")).err == OK
        assert who_am_i(sup) == [("ip", "127.0.0.1"), ("sasl", "super")]
        # ... and zookeeper.superUser makes its user a super user.
        su = raw(sasl_server)
        assert login(su, "jaasuser", "jaas_password")[0].err == OK
        assert who_am_i(su) == [("ip", "127.0.0.1"), ("sasl", "jaasuser"), ("super", "")]
    finally:
        anon.call(DELETE, delete_req("/sasl-acl"))   # the root lets anyone delete it


@pytest.mark.parametrize("ident, err", [("anything", OK), ("a/b", OK), ("svc/host@REALM", OK),
                                        ("x@", OK), ("a@b@c", INVALID_ACL), ("a/b/c@R", INVALID_ACL)])
def test_sasl_ids_are_kerberos_names(sasl_server, raw, ident, err):
    c = raw(sasl_server)
    assert c.call(CREATE, create_req("/sasl-id", b"", [(PERM_ALL, "sasl", ident)])).err == err
    if err == OK:
        c.call(DELETE, delete_req("/sasl-id"))


def test_without_the_provider_sasl_is_no_acl_scheme(providerless_server, raw):
    c = raw(providerless_server)
    assert login(c, "bob", "bob_pw")[0].err == OK
    assert who_am_i(c) == [("ip", "127.0.0.1"), ("sasl", "")]
    assert c.call(CREATE, create_req("/x", b"", [(PERM_ALL, "sasl", "bob")])).err == INVALID_ACL
    assert c.call(CREATE, create_req("/x", b"", [(PERM_ALL, "auth", "")])).err == INVALID_ACL


NAMES_JAAS = """\
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    "user_svc/host@"="p1"
    "user_bob@EX.COM"="p2"
    "user_a/b"="p3";
};
"""


@pytest.mark.parametrize("remove", [False, True])
def test_user_names_with_host_and_realm(raw, remove):
    # §15 sasl-kerberos-style-user-names: the kerberos.remove* properties only
    # change a name with the empty realm.
    flag = "true" if remove else "false"
    srv = ServerProcess(target_kind(), cfg=SASL_PROVIDER, jaas=NAMES_JAAS, sysprops={
        "zookeeper.kerberos.removeHostFromPrincipal": flag,
        "zookeeper.kerberos.removeRealmFromPrincipal": flag})
    srv.start()
    try:
        got = {}
        for user, password in (("svc/host@", "p1"), ("bob@EX.COM", "p2"), ("a/b", "p3")):
            c = raw(srv)
            assert login(c, user, password)[0].err == OK
            got[user] = [i for s, i in who_am_i(c) if s == "sasl"]
        assert got == {"svc/host@": ["svc" if remove else "svc/host@"],
                       "bob@EX.COM": ["bob@EX.COM"], "a/b": ["a/b"]}
    finally:
        srv.cleanup()


# --------------------------------------------------------------------- enforcement


def test_session_require_client_sasl_auth(required_server, raw):
    c = raw(required_server)
    assert c.call(EXISTS, path_req("/"), xid=5).raw == int32(5) + int64(0) + int32(
        SESSION_CLOSED_REQUIRE_SASL_AUTH)
    c.expect_closed(5)
    c = raw(required_server)
    assert login(c, "bob", "wrong")[0].raw == failure(2, SESSION_CLOSED_REQUIRE_SASL_AUTH)
    c.expect_closed(5)
    c = raw(required_server)
    assert login(c, "bob", "bob_pw")[0].err == OK
    assert c.call(EXISTS, path_req("/")).err == OK
    assert c.call(CLOSE_SESSION).err == OK


def test_allow_sasl_failed_clients(lenient_server, raw):
    c = raw(lenient_server)
    assert login(c, "bob", "wrong")[0].raw == int32(2) + int64(0) + int32(OK) + int32(-1)
    assert who_am_i(c) == [("ip", "127.0.0.1")]
    assert c.call(EXISTS, path_req("/")).err == OK


# --------------------------------------------------------------------- kazoo


def test_kazoo_sasl_options(sasl_server, kazoo):
    bob = kazoo(sasl_server, sasl_options={"mechanism": "DIGEST-MD5", "username": "bob",
                                           "password": "bob_pw"})
    bob.start(timeout=15)
    anon = kazoo(sasl_server)
    anon.start(timeout=15)
    bob.create("/kz-sasl", b"v", acl=[make_acl("sasl", "bob", all=True)])
    try:
        with pytest.raises(NoAuthError):
            anon.get("/kz-sasl")
        assert bob.get("/kz-sasl")[0] == b"v"
    finally:
        bob.delete("/kz-sasl")


def test_kazoo_legacy_sasl_auth_data(sasl_server, kazoo):
    # kazoo turns ("sasl", "user:password") into the same DIGEST-MD5 exchange.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        c = kazoo(sasl_server, auth_data=[("sasl", "jaasuser:jaas_password")])
    c.start(timeout=15)
    c.create("/kz-legacy", acl=[make_acl("sasl", "jaasuser", all=True)])
    c.delete("/kz-legacy")


def test_kazoo_wrong_password(sasl_server, kazoo):
    c = kazoo(sasl_server, sasl_options={"mechanism": "DIGEST-MD5", "username": "bob",
                                         "password": "wrong"})
    lost = threading.Event()
    c.add_listener(lambda state: state == KazooState.LOST and lost.set())
    try:
        c.start(timeout=15)
    except c.handler.timeout_exception:
        # kazoo reports CONNECTED before its SASL exchange, and start() then
        # checks "connected": the failure may come first.
        assert lost.is_set()
    else:
        with pytest.raises(AuthFailedError):   # what kazoo's test_invalid_sasl_auth sees
            c.exists("/")
    assert lost.wait(15)


def test_kazoo_sasl_acl_on_a_server_without_the_provider(providerless_server, kazoo):
    c = kazoo(providerless_server, sasl_options={"mechanism": "DIGEST-MD5", "username": "bob",
                                                 "password": "bob_pw"})
    c.start(timeout=15)
    with pytest.raises(InvalidACLError):
        c.create("/kz-x", acl=[make_acl("sasl", "bob", all=True)])
