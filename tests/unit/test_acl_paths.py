"""zkwire.server.core.acl (AuthPolicy, digest, fixup) and zkwire.server.core.paths
(ZooKeeper's PathUtils.validatePath rules; tests/ZOOKEEPER_FACTS.md §3 and §8)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkwire.consts import Perms
from zkwire.server.core.acl import (
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    AuthPolicy,
    InvalidACL,
    NoAuth,
    digest,
)
from zkwire.server.core.paths import invalid_path_reason, is_special_path

USER = "user:smGaoVKd/cQkjm7b88GyorAUz20="
USER2 = "user2:0RphDIvIZHLcNxLVT/hhi2uckEs="
IP = [("ip", "127.0.0.1")]


# --- digests and authentication ------------------------------------------------------------

def test_digest_matches_zookeeper():
    assert digest("user:pass") == USER
    assert digest("user2:pass2") == USER2
    # only the first ':' splits user from password
    assert digest("a:b:c").startswith("a:")


def test_authenticate_digest():
    pol = AuthPolicy()
    assert pol.authenticate("digest", b"user:pass") == [("digest", USER)]
    # no ':' at all is still a successful addauth (tests/ZOOKEEPER_FACTS.md §8)
    ids = pol.authenticate("digest", b"nocolon")
    assert ids is not None and ids[0][0] == "digest" and ids[0][1].startswith("nocolon:")


@pytest.mark.parametrize("scheme", ["foo", "world", "sasl", "x509", "auth", ""])
def test_authenticate_unknown_schemes_fail(scheme):
    assert AuthPolicy().authenticate(scheme, b"user:pass") is None


def test_super_digest_grants_super():
    pol = AuthPolicy(super_digest=digest("super:secret"))
    ids = pol.authenticate("digest", b"super:secret")
    assert ("super", "") in ids
    assert ("super", "") not in pol.authenticate("digest", b"super:wrong")


# --- checkACL --------------------------------------------------------------------------------

def allowed(pol, acl, perm, ids):
    try:
        pol.check(acl, perm, ids)
        return True
    except NoAuth:
        return False


def test_world_anyone_and_perm_bits():
    pol = AuthPolicy()
    for perm in (Perms.READ, Perms.WRITE, Perms.CREATE, Perms.DELETE, Perms.ADMIN):
        assert allowed(pol, OPEN_ACL_UNSAFE, perm, IP)
    assert allowed(pol, READ_ACL_UNSAFE, Perms.READ, IP)
    assert not allowed(pol, READ_ACL_UNSAFE, Perms.WRITE, IP)
    assert not allowed(pol, ((0, "world", "anyone"),), Perms.READ, IP)


def test_empty_acl_allows_everything():
    assert allowed(AuthPolicy(), (), Perms.ADMIN, IP)


def test_digest_acl():
    pol = AuthPolicy()
    acl = ((Perms.ALL, "digest", USER),)
    assert not allowed(pol, acl, Perms.READ, IP)
    assert allowed(pol, acl, Perms.READ, IP + [("digest", USER)])
    assert not allowed(pol, acl, Perms.READ, IP + [("digest", USER2)])


@pytest.mark.parametrize("acl_id, client, ok", [
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.2", "127.0.0.1", False),
    ("127.0.0.0/8", "127.0.0.1", True),
    ("10.0.0.0/8", "127.0.0.1", False),
    ("10.0.0.0/8", "10.1.2.3", True),
])
def test_ip_acl(acl_id, client, ok):
    assert allowed(AuthPolicy(), ((Perms.READ, "ip", acl_id),), Perms.READ,
                   [("ip", client)]) is ok


def test_super_and_skip_acl_bypass():
    acl = ((Perms.READ, "digest", USER),)
    assert allowed(AuthPolicy(), acl, Perms.ADMIN, IP + [("super", "")])
    assert allowed(AuthPolicy(skip_acl=True), acl, Perms.ADMIN, IP)


def test_unknown_scheme_in_stored_acl_never_matches():
    assert not allowed(AuthPolicy(), ((31, "foo", "bar"),), Perms.READ, [("foo", "bar")])


# --- fixupACL ----------------------------------------------------------------------------------

def test_fixup_valid_lists():
    f = AuthPolicy().fixup
    assert f(((31, "world", "anyone"),), IP) == ((31, "world", "anyone"),)
    assert f(((0, "world", "anyone"),), IP) == ((0, "world", "anyone"),)
    assert f(((31, "ip", "127.0.0.1"), (1, "ip", "10.0.0.0/8")), IP) == (
        (31, "ip", "127.0.0.1"), (1, "ip", "10.0.0.0/8"))
    assert f(((31, "digest", "user:abc"),), IP) == ((31, "digest", "user:abc"),)
    # duplicates are dropped
    assert f(((31, "world", "anyone"), (31, "world", "anyone")), IP) == ((31, "world", "anyone"),)


@pytest.mark.parametrize("acl", [
    None,
    (),
    ((31, "foo", "bar"),),
    ((31, "world", "bob"),),
    ((31, "ip", "notanip"),),
    ((31, "auth", ""),),
    ((31, "digest", "nocolon"),),
    ((31, "world", "anyone"), (31, "world", "bob")),
])
def test_fixup_invalid(acl):
    with pytest.raises(InvalidACL):
        AuthPolicy().fixup(acl, IP)


def test_fixup_auth_expands_authenticated_identities_only():
    # the "auth" id string is ignored; the implicit ip identity is not added
    ids = IP + [("digest", USER)]
    assert AuthPolicy().fixup(((31, "auth", "whatever"),), ids) == ((31, "digest", USER),)
    assert AuthPolicy().fixup(((31, "auth", ""),), ids) == ((31, "digest", USER),)
    both = AuthPolicy().fixup(((31, "auth", ""),), ids + [("digest", USER2)])
    assert sorted(both) == sorted(((31, "digest", USER), (31, "digest", USER2)))


# --- paths ----------------------------------------------------------------------------------------

VALID = ["/", "/a", "/a.b", "/...", "/v/.x", "/v/x.", "/v/..x", "/zookeeper/x", "/a-b_c:d@e",
         "/\u00e9t\u00e9", "/a b", "/a\u00a0b", "/a\uffefb", "/0000000007", "/v/.0000000003",
         "/v/..0000000004", "/a/b/c/d/e"]
INVALID = ["", "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/a/.", "/.", "/..",
           "/a\x00b", "/a\x01b", "/a\x1fb", "/a\x7fb", "/a\x9fb", "/a\ud800b", "/a\uf000b",
           "/a\uf8ffb", "/a\ufff0b", "/a\uffffb", "/\U0001f600", "/seq/", "/v//", "./a"]


@pytest.mark.parametrize("path", VALID)
def test_valid_paths(path):
    assert invalid_path_reason(path) is None


@pytest.mark.parametrize("path", INVALID)
def test_invalid_paths(path):
    assert isinstance(invalid_path_reason(path), str)


def test_null_path():
    assert invalid_path_reason(None) == "Path cannot be null"


def test_reasons_read_like_zookeepers():
    assert invalid_path_reason("") == "Path length must be > 0"
    assert invalid_path_reason("a") == "Path must start with / character"
    assert invalid_path_reason("/a/") == "Path must not end with / character"
    assert "empty node name" in invalid_path_reason("//a")
    assert "relative paths not allowed" in invalid_path_reason("/a/..")
    assert "null character" in invalid_path_reason("/a\x00")
    assert "invalid character" in invalid_path_reason("/a\x01")


def test_special_paths():
    for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        assert is_special_path(p)
    assert not is_special_path("/zookeeper/x")
    assert not is_special_path("")


def reference_reason(path):
    """An independent transcription of PathUtils.validatePath (validity only)."""
    if not path or path[0] != "/":
        return "bad"
    if path == "/":
        return None
    if path.endswith("/"):
        return "bad"
    for part in path[1:].split("/"):
        if part in ("", ".", ".."):
            return "bad"
    for c in path:
        o = ord(c)
        if o == 0 or 0 < o <= 0x1F or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xF8FF or o >= 0xFFF0:
            return "bad"
    return None


PATH_ALPHABET = st.sampled_from(["/", "/", "/", ".", "a", "Z", "0", "-", "\x00", "\x01", "\x7f",
                                 "\x9f", "\xa0", "\u00e9", "\ud7ff", "\uf000", "\uf900",
                                 "\ufff0", "\U0001f600", " "])


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PATH_ALPHABET, max_size=12).map("".join))
def test_paths_agree_with_reference(path):
    assert (invalid_path_reason(path) is None) == (reference_reason(path) is None), repr(path)


@settings(max_examples=2000, deadline=None, database=None)
@given(st.lists(st.sampled_from(["/", ".", "..", "a", "Z9", "-_:", " ", "~", "\x7f", "\x00",
                                 "\x1f", "\u00e9", "\ud7ff", "\ufff0", "\U0001f600", "x.y"]),
                max_size=8).map("".join))
def test_fast_path_check_agrees_with_the_full_scan(path):
    from zkwire.server.core.paths import scan_path

    assert invalid_path_reason(path) == scan_path(path)
