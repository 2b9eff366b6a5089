"""form.parse_form's fast path reads only the fields it needs; it must agree with decoding every field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.directory import form
from bridge.directory.form import MAX_FIELDS, FormError, _all_fields, classify, parse_form
from tests.conftest import FIXTURES

CAPTURED = sorted(p.name for p in (FIXTURES / "xml_curl").glob("*.form"))


def _general(body: bytes) -> object:
    try:
        return classify(_all_fields(body))
    except FormError as exc:
        return (exc.status, exc.code, exc.reason)


def _fast(body: bytes) -> object:
    try:
        return parse_form(body)
    except FormError as exc:
        return (exc.status, exc.code, exc.reason)


@pytest.mark.parametrize("name", CAPTURED)
def test_given_a_captured_form_then_the_fast_parse_equals_decoding_every_field(name: str) -> None:
    body = (FIXTURES / "xml_curl" / name).read_bytes()
    assert _fast(body) == _general(body)


@pytest.mark.parametrize("name", CAPTURED)
def test_given_a_captured_form_then_it_is_parsed_without_decoding_every_field(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (FIXTURES / "xml_curl" / name).read_bytes()
    expected = _general(body)

    def decode_every_field(body: bytes) -> dict[str, str]:
        raise AssertionError("a captured form took the general path")

    monkeypatch.setattr(form, "_all_fields", decode_every_field)
    assert _fast(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b"section=directory&action=sip_auth&user=1001&domain=d&user=1002", id="first-occurrence-wins"
        ),
        pytest.param(b"section=directory&action=sip_auth&us%65r=1002&user=1001&domain=d", id="escaped-name"),
        pytest.param(b"section=directory&action=sip_auth&user+=x&user=1001&domain=d", id="plus-in-name"),
        pytest.param(b"%73ection=directory&section=x&user=1001&domain=d&Event-Name", id="escaped-first-name"),
        pytest.param(b"section=directory&us%2=x&user=1001&domain=d&Event-Name", id="bad-escape-in-name"),
        pytest.param(b"section=directory&user_x=a&users=b&use=c&domain=d&Event-Name", id="near-names"),
        pytest.param(b"section=directory&action=group_call&group_name&group=g&domain=d", id="name-prefix"),
        pytest.param(b"section=directory&user=a=b&domain=d%3Dx&Event-Name", id="equals-in-value"),
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
        pytest.param(b"", id="empty-body"),
        pytest.param(b"section=directory&user=\xc3\xa9&domain=d&Event-Name=x", id="utf8-byte"),
        pytest.param(b"section=directory&user=\xe9&domain=d&Event-Name=x", id="latin1-byte"),
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


_SPELLINGS = {"plain": "{0}", "upper": "%{1:02X}", "lower": "%{1:02x}", "plus": "+{0}"}


def _spelled(name: str, ways: list[str]) -> str:
    """``name`` with each character kept, percent-escaped (in either hex case) or after a ``+``."""
    return "".join(_SPELLINGS[way].format(char, ord(char)) for char, way in zip(name, ways, strict=False))


# Names the fast path reads as they are: the wanted ones, others, and near misses (prefixes,
# longer names, the empty name).
OTHER_NAMES = ["hostname", "key_name", "key", "sip_user_agent", "users", "use", "user_x", "Event", ""]
plain_names = st.sampled_from(form._WANTED + tuple(OTHER_NAMES)).map(str.encode)
# Names that decode to something else: wanted names escaped (which decode to a wanted name)
# or with a "+" (which decode to a name with a space in it), and odd escapes.
escaped_names = st.one_of(
    st.builds(
        _spelled,
        st.sampled_from(form._WANTED),
        st.lists(st.sampled_from(["plain", "plain", "upper", "lower"]), min_size=20),
    ),
    st.builds(
        _spelled,
        st.sampled_from(form._WANTED),
        st.lists(st.sampled_from(["plain", "plain", "plain", "upper", "plus"]), min_size=20),
    ),
    st.sampled_from(["user+", "+user", "us%2", "%zzuser", "a%40b", "user%3D", "user%26x", "sec%74ion", "%"]),
).map(str.encode)

# Values classify() tells apart, and what decoding cares about in ASCII: "+", escapes of
# ASCII bytes, invalid escapes, "=".
WORDS = ["directory", "sip_auth", "user_call", "group_call", "message-count", "voicemail-lookup"]
WORDS += ["reverse-auth-lookup", "jsonrpc-authenticate", "user_exists", "gateways", "network-list"]
WORDS += ["domain", "var", "param", "attr", "1001", "xswitch.test", "REQUEST_PARAMS"]
WORDS += ["+", "a+b", "+%40", "%", "%2", "%zz", "%40", "%2B", "%3D", "%26", "%25", "%7F", "%7f", "="]
ascii_values = st.lists(st.sampled_from(WORDS), max_size=3).map("".join).map(str.encode)
# Values that may not decode: escapes of high bytes (UTF-8 or not) and raw non-ASCII bytes.
HIGH = [b"%C3%A9", b"%c3%a9", b"%E9", b"%FF", b"%80", b"\xc3\xa9", b"\xe9", b"\xff"]
high_values = st.lists(
    st.one_of(st.sampled_from(WORDS).map(str.encode), st.sampled_from(HIGH)), max_size=3
).map(b"".join)


def _parts(names: st.SearchStrategy[bytes], values: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A part of the body: "name=value", "name" (no "=") or "" (two "&" in a row)."""
    return st.one_of(st.builds(lambda name, value: name + b"=" + value, names, values), names, st.just(b""))


plain_parts = _parts(plain_names, ascii_values)
# What takes (or may take) the general path: one of these in a body is rare on purpose.
odd_parts = st.one_of(_parts(escaped_names, ascii_values), _parts(plain_names, high_values))
CAPTURED_FIELDS = [(FIXTURES / "xml_curl" / name).read_bytes().split(b"&") for name in CAPTURED]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A made-up body, or a captured one with parts dropped, rewritten, repeated or added."""
    if draw(st.booleans()):
        fields = draw(st.lists(plain_parts, max_size=12))
        if draw(st.booleans()):
            fields.insert(0, b"section=directory")
    else:
        fields = list(draw(st.sampled_from(CAPTURED_FIELDS)))
        for _ in range(draw(st.integers(0, 3))):
            del fields[draw(st.integers(0, len(fields) - 1))]
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(fields) - 1))
            fields[at] = fields[at].partition(b"=")[0] + b"=" + draw(ascii_values)
        for added in draw(st.lists(st.one_of(plain_parts, st.sampled_from(fields)), max_size=3)):
            fields.insert(draw(st.integers(0, len(fields))), added)
    for odd in draw(st.lists(odd_parts, max_size=2)):
        # First is worth trying on its own: that name has no "&" before it.
        fields.insert(draw(st.one_of(st.just(0), st.integers(0, len(fields)))), odd)
    body = draw(st.sampled_from([b"", b"&"])) + b"&".join(fields) + draw(st.sampled_from([b"", b"&", b"&&"]))
    if draw(st.integers(0, 4)) == 0:
        # At the field limit, or one off: the fast path must count fields as parse_qsl does.
        fields_wanted = draw(st.sampled_from([MAX_FIELDS, MAX_FIELDS + 1, MAX_FIELDS - 1]))
        body += b"&a=b" * (fields_wanted - 1 - body.count(b"&"))
    return body


@settings(max_examples=1000, deadline=None, database=None)
@given(bodies())
def test_given_any_body_then_the_fast_parse_equals_decoding_every_field(body: bytes) -> None:
    assert _fast(body) == _general(body)
