"""The digest check agrees with what FreeSWITCH decided on the captured REGISTERs."""

from __future__ import annotations

import pytest

from bridge.directory.form import UNREADABLE, read_fields, request_of
from bridge.guard import digest
from bridge.guard.attempt import FIELDS
from tests.guard.helpers import DOMAIN, derive, read_form
from tests.support.captures import PASSWORD, form, md5

HA1 = md5(f"1001:{DOMAIN}:{PASSWORD}")
HA1B = md5(f"1001@{DOMAIN}:{DOMAIN}:{PASSWORD}")


def checked(name: str, a1: str) -> bool | None:
    attempt = read_form(form(name))
    assert attempt is not None
    return digest.check(attempt.digest, a1)


@pytest.mark.parametrize(
    "name",
    [
        "register_1001",  # FreeSWITCH: 200
        "unregister_1001",
        "invite_1001_to_1002_sip_auth",
        "subscribe_1001_sip_auth",
        "subscribe_1001_sip_auth_second",
    ],
)
def test_accepted_captures_check_as_right_with_ha1(name: str) -> None:
    assert checked(name, HA1) is True


def test_wrong_password_capture_checks_as_wrong() -> None:
    # FreeSWITCH answered this REGISTER 403 with the right a1-hash in the answer.
    assert checked("register_1001_wrong_password", HA1) is False


def test_at_domain_username_is_right_with_ha1b_and_wrong_with_ha1() -> None:
    assert checked("register_1001_at_domain_username", HA1B) is True
    # The capture where the answer carried ha1 instead: FreeSWITCH sent 403.
    assert checked("register_1001_at_domain_username_answer_ha1_not_ha1b", HA1) is False


def test_a_changed_response_is_wrong() -> None:
    body = derive(form("register_1001"), sip_auth_response="0" * 32)
    attempt = read_form(body)
    assert attempt is not None and digest.check(attempt.digest, HA1) is False


def test_no_qop_uses_rfc_2069() -> None:
    attempt = read_form(form("register_1001"))
    assert attempt is not None
    d = attempt.digest
    ha2 = md5(f"{d.method}:{d.uri}")
    plain = digest.Digest(d.username, d.realm, d.nonce, d.uri, d.method, md5(f"{HA1}:{d.nonce}:{ha2}"))
    assert digest.check(plain, HA1) is True
    assert digest.check(plain, md5(f"1001:{DOMAIN}:other")) is False


def test_auth_int_and_missing_response_cannot_be_checked() -> None:
    attempt = read_form(derive(form("register_1001"), sip_auth_qop="auth-int"))
    assert attempt is not None and digest.check(attempt.digest, HA1) is None
    attempt = read_form(derive(form("register_1001"), sip_auth_response=""))
    assert attempt is not None and digest.check(attempt.digest, HA1) is None


def test_form_reading_takes_source_and_node() -> None:
    attempt = read_form(form("register_1001_wrong_password"))
    assert attempt is not None
    assert (attempt.ip, attempt.port, attempt.node, attempt.user, attempt.domain) == (
        "127.0.0.1", "5091", "vm", "1001", DOMAIN,
    )  # fmt: skip
    assert attempt.user_agent == "baresip v1.0.0 (x86_64/linux)"
    assert read_form(form("register_1001")).ip == "127.0.0.1"  # type: ignore[union-attr]
    assert read_form(derive(form("register_1001"), ip="2001:db8::7")).ip == "2001:db8::7"  # type: ignore[union-attr]
    assert read_form(form("invite_1001_to_1002_user_call")) is None  # not a sip_auth


def test_the_form_reader_takes_the_first_of_a_repeated_field_and_reads_escaped_names() -> None:
    body = form("register_1001")
    assert read_form(body + b"&ip=203.0.113.9").ip == "127.0.0.1"  # type: ignore[union-attr]
    escaped = body.replace(b"&sip_user_agent=", b"&sip%5Fuser%5Fagent=")
    assert escaped != body
    assert read_form(escaped).user_agent == "baresip v1.0.0 (x86_64/linux)"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(form("register_1001").replace(b"user=1001&", b"user=%FF&"), id="bad-utf8-escape"),
        pytest.param(form("register_1001") + b"&x=1" * 1000, id="too-many-fields"),
        pytest.param(form("register_1001").replace(b"=sip_auth&", b"=user_call&"), id="not-sip-auth"),
    ],
)
def test_the_form_reader_refuses_what_it_cannot_read(body: bytes) -> None:
    assert read_form(body) is None


def test_a_guard_field_that_is_not_utf8_leaves_the_lookup_answerable_and_the_attempt_unread() -> None:
    agent = derive(form("register_1001"), sip_user_agent="x")
    body = agent.replace(b"sip_user_agent=x", b"sip_user_agent=%FF")

    fields = read_fields(body, FIELDS)

    assert request_of(fields).user == "1001"  # the lookup reads no user agent: answered
    assert fields[UNREADABLE] == "sip_user_agent"
    assert read_form(body) is None
    assert read_form(form("register_1001")) is not None
