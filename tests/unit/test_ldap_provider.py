"""The LDAP provider against a real OpenLDAP slapd: binds, user and group searches, admin groups."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from berth.auth.ldap import LdapError, LdapGroup, authenticate, is_admin, ping, search_groups, search_users
from tests.ldap_server import LdapServer, ldap_server  # noqa: F401  (the session's slapd)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- ping ---


def test_ping_binds_with_the_search_dn(ldap_server: LdapServer) -> None:
    ping(ldap_server.config())


def test_ping_binds_anonymously_without_a_search_dn(ldap_server: LdapServer) -> None:
    ping(ldap_server.config(search_dn="", search_password=""))


def test_ping_with_a_wrong_bind_password_says_the_credentials_are_invalid(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="cn=admin,dc=berth,dc=test: invalidCredentials"):
        ping(ldap_server.config(search_password="wrong"))


def test_ping_with_an_empty_search_password_is_refused_not_bound_anonymously(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="search password is empty"):
        ping(ldap_server.config(search_password=""))


def test_ping_to_a_closed_port_fails_at_once(ldap_server: LdapServer) -> None:
    started = time.monotonic()
    with pytest.raises(LdapError, match="cannot reach LDAP server .*refused"):
        ping(ldap_server.config(url=f"ldap://127.0.0.1:{closed_port()}"))
    assert time.monotonic() - started < 1


def test_ping_to_a_server_that_never_answers_gives_up_after_the_timeout(
    ldap_server: LdapServer, silent_port: int
) -> None:
    started = time.monotonic()
    with pytest.raises(LdapError, match="timed out"):
        ping(ldap_server.config(url=f"ldap://127.0.0.1:{silent_port}", timeout=1))
    assert time.monotonic() - started < 3


def test_a_bare_host_and_port_means_plain_ldap(ldap_server: LdapServer) -> None:
    ping(ldap_server.config(url=ldap_server.url.removeprefix("ldap://")))


def test_a_url_with_another_scheme_is_a_configuration_error(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="invalid LDAP URL"):
        ping(ldap_server.config(url="http://127.0.0.1:389"))


def test_ldaps_refuses_a_self_signed_certificate_when_verifying(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="certificate verify failed"):
        ping(ldap_server.config(url=ldap_server.ldaps_url))


def test_ldaps_without_verification_logs_in(ldap_server: LdapServer) -> None:
    config = ldap_server.config(url=ldap_server.ldaps_url, verify_cert=False)
    user = authenticate(config, "carol", ldap_server.passwords["carol"])
    assert user is not None and user.username == "carol"


# --- authenticate ---


def test_login_returns_the_users_names_mail_dn_and_groups(ldap_server: LdapServer) -> None:
    user = authenticate(ldap_server.config(), "alice", ldap_server.passwords["alice"])
    assert user is not None
    assert (user.username, user.realname, user.email) == ("alice", "Alice Liddell", "alice@berth.test")
    assert user.dn == ldap_server.user_dn("alice")
    assert user.group_dns == (ldap_server.group_dn("developers"),)


def test_real_name_falls_back_to_cn_without_a_display_name(ldap_server: LdapServer) -> None:
    user = authenticate(ldap_server.config(), "bob", ldap_server.passwords["bob"])
    assert user is not None and user.realname == "Bob Builder"


def test_login_with_a_wrong_password_is_refused(ldap_server: LdapServer) -> None:
    assert authenticate(ldap_server.config(), "alice", ldap_server.passwords["bob"]) is None


def test_login_as_an_unknown_user_is_refused(ldap_server: LdapServer) -> None:
    assert authenticate(ldap_server.config(), "mallory", "Mallory-Passw0rd") is None


@pytest.mark.parametrize("search_dn", ["cn=admin,dc=berth,dc=test", ""])
def test_login_with_an_empty_password_is_refused_not_bound_anonymously(
    ldap_server: LdapServer, search_dn: str
) -> None:
    config = ldap_server.config(search_dn=search_dn, search_password=ldap_server.bind_password if search_dn else "")
    assert authenticate(config, "alice", "") is None


def test_login_with_a_blank_user_name_is_refused(ldap_server: LdapServer) -> None:
    assert authenticate(ldap_server.config(), "  ", ldap_server.passwords["alice"]) is None


@pytest.mark.parametrize("username", ["*", "ali*", "alice)(uid=*", "*)(|(uid=*", "alice)(|(objectClass=*", "alice\\"])
def test_filter_syntax_in_a_user_name_matches_nobody(ldap_server: LdapServer, username: str) -> None:
    assert authenticate(ldap_server.config(), username, ldap_server.passwords["alice"]) is None
    assert search_users(ldap_server.config(), username) == []


def test_login_is_refused_when_several_entries_match(ldap_server: LdapServer) -> None:
    # every seeded person has objectClass inetOrgPerson, so "uid" objectClass matches three entries
    config = ldap_server.config(uid="objectClass")
    assert authenticate(config, "inetOrgPerson", ldap_server.passwords["alice"]) is None


@pytest.mark.parametrize("extra", ["(mail=bob@berth.test)", "mail=bob@berth.test"])
def test_the_configured_filter_limits_who_may_log_in(ldap_server: LdapServer, extra: str) -> None:
    config = ldap_server.config(filter=extra)
    assert authenticate(config, "alice", ldap_server.passwords["alice"]) is None
    assert authenticate(config, "bob", ldap_server.passwords["bob"]) is not None


def test_passwords_never_reach_the_logs(ldap_server: LdapServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    authenticate(ldap_server.config(), "alice", ldap_server.passwords["alice"])
    authenticate(ldap_server.config(), "alice", "Not-Alices-Passw0rd")
    ping(ldap_server.config())
    assert ldap_server.passwords["alice"] not in caplog.text
    assert "Not-Alices-Passw0rd" not in caplog.text
    assert ldap_server.bind_password not in caplog.text


def test_groups_come_from_member_search_when_the_server_has_no_membership_attribute(
    ldap_server: LdapServer,
) -> None:
    config = ldap_server.config(group_membership_attribute="berthNoSuchAttribute")
    alice = authenticate(config, "alice", ldap_server.passwords["alice"])
    carol = authenticate(config, "carol", ldap_server.passwords["carol"])
    assert alice is not None and alice.group_dns == (ldap_server.group_dn("developers"),)
    assert carol is not None and is_admin(config, carol)


# --- search_users ---


def test_searching_without_a_name_lists_every_user(ldap_server: LdapServer) -> None:
    users = search_users(ldap_server.config())
    assert sorted(user.username for user in users) == ["alice", "bob", "carol"]


def test_searching_by_name_matches_exactly(ldap_server: LdapServer) -> None:
    assert [user.username for user in search_users(ldap_server.config(), "alice")] == ["alice"]
    assert search_users(ldap_server.config(), "ali") == []


def test_the_search_scope_is_honoured(ldap_server: LdapServer) -> None:
    # the users live one level below ou=people, two below the suffix
    assert search_users(ldap_server.config(scope=1)) == []
    assert len(search_users(ldap_server.config(scope=1, base_dn=ldap_server.people_dn))) == 3


def test_a_base_dn_that_does_not_exist_is_a_configuration_error(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="ou=nowhere,dc=berth,dc=test.* does not exist"):
        search_users(ldap_server.config(base_dn="ou=nowhere,dc=berth,dc=test"))


def test_a_malformed_filter_is_a_configuration_error(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="invalid LDAP filter"):
        search_users(ldap_server.config(filter="(objectClass=person"))


# --- search_groups ---


def test_groups_are_found_by_name(ldap_server: LdapServer) -> None:
    groups = search_groups(ldap_server.config(), name="developers")
    assert groups == [LdapGroup(name="developers", dn=ldap_server.group_dn("developers"))]


def test_searching_groups_without_a_name_lists_them_all(ldap_server: LdapServer) -> None:
    assert sorted(group.name for group in search_groups(ldap_server.config())) == ["developers", "harbor-admins"]


def test_a_group_name_with_filter_syntax_matches_nothing(ldap_server: LdapServer) -> None:
    assert search_groups(ldap_server.config(), name="*") == []
    assert search_groups(ldap_server.config(), name="developers)(cn=*") == []


def test_groups_are_found_by_dn_however_it_is_spelled(ldap_server: LdapServer) -> None:
    groups = search_groups(ldap_server.config(), dn="CN=Harbor-Admins, OU=Groups, DC=berth, DC=test")
    assert groups == [LdapGroup(name="harbor-admins", dn=ldap_server.admin_group_dn)]


def test_a_group_dn_that_does_not_exist_finds_nothing(ldap_server: LdapServer) -> None:
    assert search_groups(ldap_server.config(), dn=ldap_server.group_dn("nobody")) == []


def test_a_dn_outside_the_group_base_is_not_a_group(ldap_server: LdapServer) -> None:
    assert search_groups(ldap_server.config(), dn=ldap_server.user_dn("alice")) == []


def test_a_malformed_group_dn_is_an_error(ldap_server: LdapServer) -> None:
    with pytest.raises(LdapError, match="invalid group DN"):
        search_groups(ldap_server.config(), dn="not a dn")


# --- is_admin ---


def test_members_of_the_admin_group_are_admins(ldap_server: LdapServer) -> None:
    config = ldap_server.config()
    carol = authenticate(config, "carol", ldap_server.passwords["carol"])
    alice = authenticate(config, "alice", ldap_server.passwords["alice"])
    assert carol is not None and is_admin(config, carol)
    assert alice is not None and not is_admin(config, alice)


def test_the_admin_group_dn_compares_without_regard_to_case_or_spacing(ldap_server: LdapServer) -> None:
    config = ldap_server.config(group_admin_dn="CN=Harbor-Admins, OU=Groups, DC=Berth, DC=Test")
    carol = authenticate(config, "carol", ldap_server.passwords["carol"])
    assert carol is not None and is_admin(config, carol)


def test_nobody_is_an_admin_without_an_admin_group(ldap_server: LdapServer) -> None:
    config = ldap_server.config(group_admin_dn="")
    carol = authenticate(config, "carol", ldap_server.passwords["carol"])
    assert carol is not None and not is_admin(config, carol)
