"""form.parse_form's fast path reads only the fields it needs; it must agree with decoding every field."""

from __future__ import annotations

import pytest

from bridge.directory.form import FormError, _all_fields, classify, parse_form
from tests.conftest import FIXTURES

CAPTURED = sorted(p.name for p in (FIXTURES / "xml_curl").glob("*.form"))


def _general(body: bytes) -> object:
    try:
        return classify(_all_fields(body))
    except FormError as exc:
        return (exc.status, exc.code)


def _fast(body: bytes) -> object:
    try:
        return parse_form(body)
    except FormError as exc:
        return (exc.status, exc.code)


@pytest.mark.parametrize("name", CAPTURED)
def test_given_a_captured_form_then_the_fast_parse_equals_decoding_every_field(name: str) -> None:
    body = (FIXTURES / "xml_curl" / name).read_bytes()
    assert _fast(body) == _general(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b"section=directory&action=sip_auth&user=1001&domain=d&user=1002", id="first-occurrence-wins"
        ),
        pytest.param(b"section=directory&action=sip_auth&us%65r=1002&user=1001&domain=d", id="escaped-name"),
        pytest.param(b"section=directory&action=sip_auth&user+=x&user=1001&domain=d", id="plus-in-name"),
        pytest.param(b"section=directory&user=a+b%40c&domain=d&Event-Name=x", id="plus-and-escape-in-value"),
        pytest.param(b"section=directory&user=%C3%A9&domain=d&Event-Name=x", id="utf8-escape"),
        pytest.param(b"section=directory&user=%E9&domain=d&Event-Name=x", id="latin1-escape"),
        pytest.param(
            b"section=directory&sip_user_agent=%FF&user=1001&domain=d&Event-Name=x",
            id="bad-escape-unread-field",
        ),
        pytest.param(b"section=directory&user=1001&domain=d&Event-Name", id="name-without-value"),
        pytest.param(b"section&user=1001&domain=d", id="section-without-value"),
        pytest.param(b"&&section=directory&&domain=d&&", id="empty-fields"),
        pytest.param(b"section=directory&purpose=gateways", id="gateways"),
        pytest.param(b"section=directory&tag_attr_val=xswitch.test&Event-Name=x", id="xml-locate"),
        pytest.param(b"&".join([b"a=b"] * 500) + b"&section=directory", id="over-the-field-limit"),
        pytest.param(
            b"section=directory&" + b"&".join([b"a=b"] * 498) + b"&domain=d", id="at-the-field-limit"
        ),
    ],
)
def test_given_an_unusual_body_then_the_fast_parse_equals_decoding_every_field(body: bytes) -> None:
    assert _fast(body) == _general(body)
