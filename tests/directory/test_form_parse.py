"""form.parse_form: what each captured form asks for, how odd bodies decode, which values are refused."""

from __future__ import annotations

import pytest

from bridge.directory.form import MAX_FIELDS, MAX_VALUE_CHARS, DirectoryRequest, FormError, Kind, parse_form
from tests.conftest import FIXTURES

CAPTURED = sorted(p.stem for p in (FIXTURES / "xml_curl").glob("*.form"))


def _captured(name: str) -> bytes:
    return (FIXTURES / "xml_curl" / f"{name}.form").read_bytes()


def _with(name: str, field: str, raw: str) -> bytes:
    """The captured form ``name`` with the raw (still escaped) value of ``field`` replaced."""
    parts = _captured(name).decode().split("&")
    done = [f"{field}={raw}" if part.partition("=")[0] == field else part for part in parts]
    assert done != parts, f"{name} has no {field}"
    return "&".join(done).encode()


@pytest.mark.parametrize("name", CAPTURED)
def test_given_a_captured_form_then_it_parses(name: str) -> None:
    request = parse_form(_captured(name))
    assert isinstance(request.kind, Kind)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "register_1001",
            DirectoryRequest(
                Kind.SIP_AUTH, "sip_auth", "xswitch.test", "1001", auth_username="1001", realm="xswitch.test"
            ),
        ),
        ("list_users", DirectoryRequest(Kind.LIST_USERS, "list_users", "", "")),
        ("xml_locate_directory_domain", DirectoryRequest(Kind.XML_LOCATE, "xml_locate", "xswitch.test", "")),
        ("reloadacl_network_list", DirectoryRequest(Kind.NETWORK_LIST, "network-list", "xswitch.test", "")),
        ("user_data_var", DirectoryRequest(Kind.USER, "user_data", "xswitch.test", "1001", data_type="var")),
    ],
)
def test_given_a_captured_form_then_the_request_is_what_freeswitch_asked(
    name: str, expected: DirectoryRequest
) -> None:
    assert parse_form(_captured(name)) == expected


@pytest.mark.parametrize(
    ("body", "user", "domain"),
    [
        pytest.param(
            b"section=directory&action=sip_auth&user=1001&domain=d&user=1002", "1001", "d", id="first-wins"
        ),
        pytest.param(
            b"section=directory&action=sip_auth&us%65r=1002&user=1001&domain=d",
            "1002",
            "d",
            id="escaped-name",
        ),
        pytest.param(
            b"section=directory&user=a+b%40c&domain=d&Event-Name=x", "a b@c", "d", id="plus-and-escape"
        ),
        pytest.param(
            b"section=directory&user=a=b&domain=d%3Dx&Event-Name", "a=b", "d=x", id="equals-in-value"
        ),
        pytest.param(b"section=directory&user=%C3%A9&domain=d&Event-Name=x", "\u00e9", "d", id="utf8-escape"),
        pytest.param(b"section=directory&user=\xc3\xa9&domain=d&Event-Name=x", "\u00e9", "d", id="utf8-byte"),
        pytest.param(b"&&section=directory&&user=1&&domain=d&&Event-Name", "1", "d", id="empty-parts"),
        pytest.param(
            b"section=directory&sip_user_agent=%FF&user=1001&domain=d&Event-Name=x",
            "1001",
            "d",
            id="unread-not-utf8",
        ),
    ],
)
def test_given_an_unusual_but_valid_body_then_it_decodes_as_a_form(
    body: bytes, user: str, domain: str
) -> None:
    request = parse_form(body)
    assert (request.user, request.domain) == (user, domain)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(_with("register_1001", "user", "1001%00"), "bad_value", id="nul-in-user"),
        pytest.param(_with("register_1001", "domain", "xswitch.test%00"), "bad_value", id="nul-in-domain"),
        pytest.param(
            _with("register_1001", "sip_auth_username", "1001%0A"), "bad_value", id="newline-in-username"
        ),
        pytest.param(_with("register_1001", "sip_auth_realm", "x%1Bx"), "bad_value", id="escape-in-realm"),
        pytest.param(_with("register_1001", "user", "1001%7F"), "bad_value", id="del-in-user"),
        pytest.param(_with("register_1001", "user", "1001%C2%85"), "bad_value", id="c1-control-in-user"),
        pytest.param(_with("register_1001", "user", "1" * 400), "value_too_long", id="huge-number"),
        pytest.param(_with("register_1001", "user", "1001%zz"), "bad_escape", id="bad-escape"),
        pytest.param(_with("register_1001", "user", "1001%4"), "bad_escape", id="short-escape"),
        pytest.param(
            _with("register_1001", "sip_user_agent", "x%"), "bad_escape", id="bad-escape-unread-field"
        ),
        pytest.param(_with("register_1001", "user", "%C0%80"), "bad_encoding", id="overlong-utf8-nul"),
        pytest.param(_with("register_1001", "user", "%FF"), "bad_encoding", id="escape-not-utf8"),
        pytest.param(
            _with("reloadacl_network_list", "domain", "xswitch.test%00"), "bad_value", id="nul-network-list"
        ),
        pytest.param(
            _with("xml_locate_directory_domain", "tag_attr_val", "x%00"), "bad_value", id="nul-xml-locate"
        ),
        pytest.param(_with("list_users_domain", "key_value", "%00"), "bad_value", id="nul-list-users"),
        pytest.param(_with("user_data_var", "type", "v%00r"), "bad_value", id="nul-in-type"),
        pytest.param(b"section=directory&user=\xff\xfe", "bad_encoding", id="not-utf8"),
        pytest.param(
            b"&".join([b"a=b"] * MAX_FIELDS) + b"&section=directory", "bad_form", id="too-many-fields"
        ),
    ],
)
def test_given_a_bad_value_then_form_error_names_it(body: bytes, code: str) -> None:
    with pytest.raises(FormError) as raised:
        parse_form(body)
    assert raised.value.status == 400 and raised.value.code == code
    assert "\n" not in raised.value.reason and "\x00" not in raised.value.reason


def test_given_values_at_the_length_limit_then_accepted_one_more_then_refused() -> None:
    assert parse_form(_with("register_1001", "user", "1" * MAX_VALUE_CHARS)).user == "1" * MAX_VALUE_CHARS
    with pytest.raises(FormError):
        parse_form(_with("register_1001", "user", "1" * (MAX_VALUE_CHARS + 1)))
    assert parse_form(_with("register_1001", "user", "1" * 20), max_value_chars=20).user == "1" * 20
    with pytest.raises(FormError):
        parse_form(_with("register_1001", "user", "1" * 21), max_value_chars=20)


def test_given_fields_at_the_field_limit_then_parsed() -> None:
    body = b"section=directory&" + b"&".join([b"a=b"] * (MAX_FIELDS - 3)) + b"&domain=d&Event-Name"
    assert body.count(b"&") + 1 == MAX_FIELDS
    assert parse_form(body).kind is Kind.XML_LOCATE
