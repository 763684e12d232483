"""ACLs and authentication through unmodified kazoo.

Expected values were observed on Apache ZooKeeper 3.8.0.  Facts pinned down here:

* Permission needed per op: getData/getChildren -> READ on the node; setData ->
  WRITE; create -> CREATE on the parent; delete -> DELETE on the parent; setACL ->
  ADMIN; getACL -> READ or ADMIN; multi check -> READ; exists and sync -> nothing.
* The permission check comes before the existence / version checks of the target
  (create of an existing child, delete of a missing child, set or setACL with a bad
  version all answer NoAuth), but an unreadable parent does not hide NoNode of a
  missing child for get.
* getACL by a client without ADMIN on the node (READ only) masks digest ids as
  ``user:x``.
* Duplicate ACL entries are collapsed on create; an "auth" ACL is expanded into one
  entry per authenticated identity of the session (the id given with "auth" is
  ignored); "auth" with no authenticated identity, an unknown scheme, a malformed
  ip/digest id, world with an id other than "anyone", or an empty list -> InvalidACL.
* add_auth with an unknown scheme -> AuthFailed and the server drops the session.
"""
from __future__ import annotations

import base64
import hashlib

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
)
from kazoo.protocol.states import KazooState
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_digest_acl,
    make_digest_acl_credential,
)

from servers import ServerProcess, since_39, target_kind

USER_DIGEST = "user:smGaoVKd/cQkjm7b88GyorAUz20="  # user:pass
WORLD = Id("world", "anyone")


def digest_of(user: str, password: str) -> str:
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(raw).decode()}"


def _nuke(client, path: str) -> None:
    try:
        children = client.get_children(path)
    except NoAuthError:
        children = []
    except NoNodeError:
        return
    for child in children:
        _nuke(client, path.rstrip("/") + "/" + child)
    try:
        client.delete(path)
    except NoNodeError:
        pass


@pytest.fixture
def authed(make_client):
    """A client authenticated as user:pass (every protected node here grants it ALL)."""
    return make_client(auth_data=[("digest", "user:pass")])


@pytest.fixture(autouse=True)
def _acl_cleanup(zk, make_client):
    yield
    cleaner = make_client(auth_data=[("digest", "user:pass")])
    for child in cleaner.get_children("/"):
        if child != "zookeeper":
            _nuke(cleaner, "/" + child)


# ---------------------------------------------------------------------------
# get_acls / set_acls
# ---------------------------------------------------------------------------


def test_default_acl_is_open(zk):
    path, created = zk.create("/n", b"d", include_data=True)
    acls, stat = zk.get_acls("/n")
    assert acls == OPEN_ACL_UNSAFE
    assert acls == [ACL(31, WORLD)]
    assert stat.aversion == 0
    assert stat.czxid == created.czxid
    assert stat.dataLength == 1


def test_set_acls_bumps_aversion(zk):
    _, created = zk.create("/n", b"d", include_data=True)
    st = zk.set_acls("/n", READ_ACL_UNSAFE + [ACL(Permissions.ALL, Id("digest", USER_DIGEST))])
    assert st.aversion == 1
    assert (st.version, st.cversion, st.mzxid, st.czxid) == (0, 0, created.mzxid, created.czxid)
    acls, st2 = zk.get_acls("/n")
    assert st2.aversion == 1
    # this client has READ only: the digest is masked
    assert acls == [ACL(Permissions.READ, WORLD), ACL(Permissions.ALL, Id("digest", "user:x"))]


def test_set_acls_same_acl_still_bumps_and_returns_stat(zk):
    zk.create("/n")
    st1 = zk.set_acls("/n", OPEN_ACL_UNSAFE)
    st2 = zk.set_acls("/n", OPEN_ACL_UNSAFE, version=1)
    assert (st1.aversion, st2.aversion) == (1, 2)
    assert zk.get_acls("/n")[1].aversion == 2


def test_set_acls_zxid(zk):
    # setACL is a write: it consumes a zxid but leaves mzxid alone
    _, a = zk.create("/a", include_data=True)
    zk.set_acls("/a", OPEN_ACL_UNSAFE)
    _, b = zk.create("/b", include_data=True)
    assert b.czxid == a.czxid + 2
    assert zk.exists("/a").mzxid == a.mzxid


def test_set_acls_bad_version(zk):
    zk.create("/n")
    with pytest.raises(BadVersionError):
        zk.set_acls("/n", OPEN_ACL_UNSAFE, version=7)
    zk.set_acls("/n", OPEN_ACL_UNSAFE, version=0)
    with pytest.raises(BadVersionError):
        zk.set_acls("/n", OPEN_ACL_UNSAFE, version=0)
    assert zk.exists("/n").aversion == 1


def test_set_acls_empty_list_invalid(zk):
    zk.create("/n")
    with pytest.raises(InvalidACLError):
        zk.set_acls("/n", [])
    assert zk.exists("/n").aversion == 0


def test_create_with_empty_acl_invalid(zk):
    # KazooClient.create() replaces [] by the default ACL; create_async sends it as is
    with pytest.raises(InvalidACLError):
        zk.create_async("/n", acl=[]).get(timeout=10)
    assert zk.exists("/n") is None


def test_acl_ops_on_missing_node(zk):
    with pytest.raises(NoNodeError):
        zk.get_acls("/missing")
    with pytest.raises(NoNodeError):
        zk.set_acls("/missing", OPEN_ACL_UNSAFE)


@pytest.mark.parametrize(
    "acl",
    [
        ACL(Permissions.ALL, Id("nosuch", "x")),
        ACL(Permissions.ALL, Id("ip", "notanip")),
        ACL(Permissions.ALL, Id("digest", "nocolon")),
        ACL(Permissions.ALL, Id("world", "someone")),
    ],
    ids=["unknown-scheme", "bad-ip", "digest-no-colon", "world-not-anyone"],
)
def test_invalid_acl_ids(zk, acl):
    with pytest.raises(InvalidACLError):
        zk.create("/bad", acl=[acl])
    assert zk.exists("/bad") is None
    zk.create("/ok")
    with pytest.raises(InvalidACLError):
        zk.set_acls("/ok", [acl])


def test_duplicate_acl_entries_collapsed(zk):
    dacl = make_digest_acl("user", "pass", all=True)
    zk.create("/dup", acl=[dacl, dacl, ACL(1, WORLD), ACL(1, WORLD)])
    acls = zk.get_acls("/dup")[0]
    # READ for world -> digest masked
    assert acls == [ACL(31, Id("digest", "user:x")), ACL(1, WORLD)]


def test_odd_permission_values_kept(zk):
    zk.create("/bp", acl=[ACL(0xFF, WORLD)])
    assert zk.get_acls("/bp")[0] == [ACL(255, WORLD)]
    zk.create("/zero", acl=[ACL(0, WORLD)])
    with pytest.raises(NoAuthError):
        zk.get("/zero")
    with pytest.raises(NoAuthError):
        zk.get_acls("/zero")
    # ZOOKEEPER-2590 (3.9): exists needs READ too; 3.8 answered it for anyone.
    if since_39(True, False):
        assert zk.exists("/zero") is not None
    else:
        with pytest.raises(NoAuthError):
            zk.exists("/zero")
    zk.delete("/zero")  # DELETE on the open parent is enough


# ---------------------------------------------------------------------------
# digest / auth schemes
# ---------------------------------------------------------------------------


def test_make_digest_acl_value():
    acl = make_digest_acl("user", "pass", all=True)
    assert acl == ACL(31, Id("digest", USER_DIGEST))
    assert make_digest_acl_credential("user", "pass") == USER_DIGEST == digest_of("user", "pass")


def test_digest_acl_requires_auth(zk, authed, make_client):
    # creating a node readable only by user:pass needs no authentication
    zk.create("/sec", b"secret", acl=[make_digest_acl("user", "pass", all=True)])
    with pytest.raises(NoAuthError):
        zk.get("/sec")
    with pytest.raises(NoAuthError):
        zk.get_acls("/sec")
    assert authed.get("/sec")[0] == b"secret"
    assert authed.get_acls("/sec")[0] == [ACL(31, Id("digest", USER_DIGEST))]
    wrong = make_client(auth_data=[("digest", "user:wrong")])
    assert wrong.connected
    with pytest.raises(NoAuthError):
        wrong.get("/sec")
    zk.add_auth("digest", "user:pass")
    assert zk.get("/sec")[0] == b"secret"
    assert zk.set("/sec", b"new").version == 1


def test_auth_scheme_expands_to_session_identity(authed):
    authed.create("/a", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    assert authed.get_acls("/a")[0] == [ACL(31, Id("digest", USER_DIGEST))]
    # the id given with "auth" is ignored
    authed.create("/b", acl=[ACL(Permissions.ALL, Id("auth", "whatever"))])
    assert authed.get_acls("/b")[0] == [ACL(31, Id("digest", USER_DIGEST))]


def test_auth_scheme_without_identity_invalid(zk):
    with pytest.raises(InvalidACLError):
        zk.create("/a", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    assert zk.exists("/a") is None
    zk.create("/a")
    with pytest.raises(InvalidACLError):
        zk.set_acls("/a", [ACL(Permissions.ALL, Id("auth", ""))])
    # ACL validation happens before the existence check
    with pytest.raises(InvalidACLError):
        zk.create("/a", acl=[ACL(Permissions.ALL, Id("auth", ""))])


def test_auth_scheme_with_two_identities(authed):
    authed.add_auth("digest", "second:pw")
    authed.create(
        "/mx", acl=[ACL(Permissions.READ, WORLD), ACL(Permissions.ALL, Id("auth", ""))]
    )
    acls = authed.get_acls("/mx")[0]
    assert acls[0] == ACL(Permissions.READ, WORLD)
    assert sorted(acls[1:], key=lambda a: a.id.id) == [
        ACL(31, Id("digest", digest_of("second", "pw"))),
        ACL(31, Id("digest", USER_DIGEST)),
    ]


def test_ip_scheme(zk):
    zk.create("/ip", b"v", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.1"))])
    assert zk.get("/ip")[0] == b"v"
    zk.create("/ipnet", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.0/8"))])
    assert zk.get("/ipnet")[0] == b""
    zk.create("/other", acl=[ACL(Permissions.ALL, Id("ip", "10.1.2.3"))])
    with pytest.raises(NoAuthError):
        zk.get("/other")


# ---------------------------------------------------------------------------
# permission needed per operation
# ---------------------------------------------------------------------------

OPS = ["check", "get", "exists", "get_children", "get_acls", "sync",
       "set", "create_child", "delete_child", "set_acls"]

# ZOOKEEPER-2590 (3.9): exists checks READ; in 3.8 it needed no permission.
ALWAYS = since_39({"exists", "sync"}, {"sync"})
NEEDED = {
    Permissions.READ: since_39({"check", "get", "get_children", "get_acls"},
                               {"check", "get", "get_children", "get_acls", "exists"}),
    Permissions.WRITE: {"set"},
    Permissions.CREATE: {"create_child"},
    Permissions.DELETE: {"delete_child"},
    Permissions.ADMIN: {"get_acls", "set_acls"},
}


@pytest.mark.parametrize(
    "perm", list(NEEDED), ids=["READ", "WRITE", "CREATE", "DELETE", "ADMIN"]
)
def test_permission_needed_per_op(zk, authed, perm):
    p = "/perm"
    acl = [ACL(perm, WORLD), make_digest_acl("user", "pass", all=True)]
    authed.create(p, b"x", acl=acl)
    authed.create(p + "/child", b"c")

    def check():
        tx = zk.transaction()
        tx.check(p, 0)
        res = tx.commit()
        if isinstance(res[0], Exception):
            raise res[0]

    calls = {
        "check": check,
        "get": lambda: zk.get(p),
        "exists": lambda: zk.exists(p),
        "get_children": lambda: zk.get_children(p),
        "get_acls": lambda: zk.get_acls(p),
        "sync": lambda: zk.sync(p),
        "set": lambda: zk.set(p, b"y"),
        "create_child": lambda: zk.create(p + "/new"),
        "delete_child": lambda: zk.delete(p + "/child"),
        "set_acls": lambda: zk.set_acls(p, acl),
    }
    outcome = {}
    for name in OPS:
        try:
            calls[name]()
            outcome[name] = "ok"
        except NoAuthError:
            outcome[name] = "NoAuth"
    expected = {
        name: "ok" if name in ALWAYS or name in NEEDED[perm] else "NoAuth" for name in OPS
    }
    assert outcome == expected


def test_get_acls_masking_depends_on_admin(zk, authed):
    dacl = make_digest_acl("user", "pass", all=True)
    authed.create("/r", acl=[ACL(Permissions.READ, WORLD), dacl])
    authed.create("/a", acl=[ACL(Permissions.ADMIN, WORLD), dacl])
    assert zk.get_acls("/r")[0] == [
        ACL(Permissions.READ, WORLD), ACL(31, Id("digest", "user:x")),
    ]
    assert zk.get_acls("/a")[0] == [
        ACL(Permissions.ADMIN, WORLD), ACL(31, Id("digest", USER_DIGEST)),
    ]
    # the owner (ALL, hence ADMIN) sees the real digest
    assert authed.get_acls("/r")[0][1] == ACL(31, Id("digest", USER_DIGEST))


def test_read_only_identity_gets_masked_acl(authed):
    authed.create("/ro", acl=[ACL(Permissions.READ, Id("auth", ""))])
    assert authed.get_acls("/ro")[0] == [ACL(Permissions.READ, Id("digest", "user:x"))]
    with pytest.raises(NoAuthError):
        authed.set("/ro", b"x")


def test_permission_checked_before_existence_and_version(zk, authed):
    dacl = make_digest_acl("user", "pass", all=True)
    authed.create("/ro", b"x", acl=[ACL(Permissions.READ, WORLD), dacl])
    authed.create("/ro/c")
    authed.create("/hidden", acl=[dacl])
    with pytest.raises(NoAuthError):
        zk.create("/ro/c")  # exists, but CREATE is missing
    with pytest.raises(NoAuthError):
        zk.delete("/ro/zz")  # missing, but DELETE is missing
    with pytest.raises(NoAuthError):
        zk.delete("/ro/c", version=9)
    with pytest.raises(NoAuthError):
        zk.set("/ro", b"", version=9)
    with pytest.raises(NoAuthError):
        zk.set_acls("/ro", OPEN_ACL_UNSAFE, version=9)
    with pytest.raises(NoAuthError):
        zk.create("/ro/e", ephemeral=True)
    # a missing node is reported as missing even under an unreadable parent
    with pytest.raises(NoNodeError):
        zk.get("/hidden/x")
    with pytest.raises(NoNodeError):
        zk.create("/hidden/x/y")
    with pytest.raises(NoNodeError):
        zk.get_children("/hidden/x")
    assert zk.exists("/hidden/x") is None
    # authorised: the ordinary errors come back
    with pytest.raises(NodeExistsError):
        authed.create("/ro/c")
    with pytest.raises(BadVersionError):
        authed.set("/ro", b"", version=9)


def test_acl_checks_in_multi(zk, authed):
    dacl = make_digest_acl("user", "pass", all=True)
    authed.create("/ro", acl=[ACL(Permissions.READ, WORLD), dacl])
    tx = zk.transaction()
    tx.check("/ro", 0)
    tx.create("/ro/x")
    res = tx.commit()
    assert [type(r) for r in res] == [RolledBackError, NoAuthError]
    tx = authed.transaction()
    tx.check("/ro", 0)
    tx.create("/ro/x")
    assert tx.commit() == [True, "/ro/x"]


def test_set_acls_opens_node(zk, authed):
    authed.create("/locked", b"v", acl=[make_digest_acl("user", "pass", all=True)])
    with pytest.raises(NoAuthError):
        zk.get("/locked")
    st = authed.set_acls("/locked", OPEN_ACL_UNSAFE)
    assert st.aversion == 1
    assert zk.get("/locked")[0] == b"v"
    assert zk.get_acls("/locked")[0] == OPEN_ACL_UNSAFE


# ---------------------------------------------------------------------------
# separate servers
# ---------------------------------------------------------------------------


def test_add_auth_unknown_scheme_fails_session(make_client):
    srv = ServerProcess(target_kind())
    srv.start()
    try:
        c = make_client(hosts=srv.hosts)
        assert c.connected
        with pytest.raises(AuthFailedError):
            c.add_auth("nosuch", "x")
        assert not c.connected
        assert c.state == KazooState.LOST
        c.stop()
    finally:
        srv.cleanup()


SUPER_PASSWORD = "secret"


@pytest.fixture(scope="module")
def super_server():
    srv = ServerProcess(
        target_kind(),
        sysprops={
            "zookeeper.DigestAuthenticationProvider.superDigest": digest_of("super", SUPER_PASSWORD)
        },
    )
    srv.start()
    yield srv
    srv.cleanup()


def test_super_digest_bypasses_acls(super_server, make_client):
    hosts = super_server.hosts
    user = make_client(hosts=hosts, auth_data=[("digest", "user:pass")])
    anon = make_client(hosts=hosts)
    su = make_client(hosts=hosts, auth_data=[("digest", "super:" + SUPER_PASSWORD)])
    user.create("/locked", b"sec", acl=[make_digest_acl("user", "pass", all=True)])
    user.create("/locked/c", b"c")
    user.create("/zero", acl=[ACL(0, WORLD)])
    with pytest.raises(NoAuthError):
        anon.get("/locked")
    assert su.get("/locked")[0] == b"sec"
    # super sees the unmasked digest
    assert su.get_acls("/locked")[0] == [ACL(31, Id("digest", USER_DIGEST))]
    assert su.set("/locked", b"n").version == 1
    assert su.create("/locked/d") == "/locked/d"
    assert sorted(su.get_children("/locked")) == ["c", "d"]
    assert su.get("/zero")[0] == b""
    assert su.get_acls("/zero")[0] == [ACL(0, WORLD)]
    # "auth" for the super user expands to the super digest
    su.create("/mine", acl=[ACL(31, Id("auth", ""))])
    assert su.get_acls("/mine")[0] == [
        ACL(31, Id("digest", digest_of("super", SUPER_PASSWORD)))
    ]
    with pytest.raises(NoAuthError):
        user.get("/mine")
    # a wrong super password is just another identity
    fake = make_client(hosts=hosts, auth_data=[("digest", "super:wrong")])
    with pytest.raises(NoAuthError):
        fake.get("/locked")
    su.delete("/locked", recursive=True)
    su.delete("/mine")
    su.delete("/zero")
    assert sorted(su.get_children("/")) == ["zookeeper"]
