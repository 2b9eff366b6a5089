"""render.py writes exactly the golden bytes (tests/fixtures/golden/render/, written once from
the renderer while it still equalled the lxml renderer it replaced), and what it writes
parses back to the values it was given."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from bridge.directory import flags, lookup, render
from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest, Kind, parse_form
from bridge.directory.store import sql
from tests.factories import add_extension
from tests.support.captures import form
from tests.support.golden import assert_golden

DOMAIN = "xswitch.test"
OTHER = "other.test"
# Text a phone owner or an admin could type into XUI: everything the escaping and clean()
# handle, in one value.
TRICKY = "A&B <\"q\"> 'a' $${default_password} tab\tnl\ncr\r 中文 😀 ]]> \x01\x1f\x7f\ufffe end"

# Row values that switch each flags.py rule on, by XUI column (the README table's order).
FLAG_ROWS: dict[str, dict[str, Any]] = {
    "context": {"context": "ctx-<9>&"},
    "cid_name": {"cid_name": TRICKY},
    "cid_number": {"cid_number": "+86 (10) 8001"},
    "call_authority": {"call_authority": 0},
    "call_limit": {"call_limit": 0},
    "called_limit": {"called_limit": 0},
    "extn_cidr": {"extn_cidr": "10.0.0.0/8, 192.168.1.0/24"},
    "dtmf_type": {"dtmf_type": 2},
    "enable_srtp": {"enable_srtp": 1},
    "enable_t38": {"enable_t38": 1},
    "codec": {"codec": "PCMA, PCMU, G722"},
    "auto_record": {"auto_record": 1},
    "voicemail": {"voicemail": 1, "vm_password": "12&34"},
    "vm_password": {"vm_password": TRICKY},
    "caller_display": {"caller_display": 0},
    "intercept": {"intercept": 2, "group_name": "sales"},
    "group_name": {"group_name": 'sales, <support> & "ops"'},
    "intercepted": {"intercepted": 1},
    "intercepted_group_name": {"intercepted": 2, "intercepted_group_name": TRICKY},
    "timeout": {"timeout": " 25 "},
    "ringback": {"ringback": "tone_stream://%(1000,4000,450);loops=-1", "enable_ringback": 1},
    "enable_ringback": {"enable_ringback": 1},
    "force_insert": {"force_insert": 1},
    "force_breakdown": {"force_breakdown": 1},
    "eavesdrop": {"eavesdrop": 1},
    "forced_insert": {"forced_insert": 1},
    "forced_breakdown": {"forced_breakdown": 1},
    "eavesdropped": {"eavesdropped": 1},
    "call_transfer_type": {"call_transfer_type": 3},
    "enable_cb_onbusy": {"enable_cb_onbusy": "1"},
    "enable_hotline": {"enable_hotline": 1},
    "hotline_number": {"hotline_number": "9\t001"},
    "hotline_type": {"hotline_type": "$${default_password}"},
    "hotline_address": {"hotline_address": "sip:9001@10.0.0.9;transport=tcp?x=1&y=<2>"},
    "boss_extn": {"boss_extn": True},
    "secretary_extn": {"secretary_extn": "1002"},
    "priority": {"priority": "1"},
    "enable_extn_time_recurrences": {"enable_extn_time_recurrences": 1},
    "type": {"type": "WebRTC"},
}


def _request(name: str, **changes: Any) -> DirectoryRequest:
    return dataclasses.replace(parse_form(form(name)), **changes)


def every_answer(es: list[Extension], others: list[Extension]) -> dict[str, lookup.Answer]:
    """Every kind of answer lookup.py gives, for extension 1001, its domain and one more."""
    e = next(e for e in es if e.extn == "1001")
    listed = [lookup.answer_domain_users(DOMAIN, es), lookup.answer_domain_users(OTHER, others)]
    plain, send = lookup.Policy(), lookup.Policy(send_password=True)
    sip_auth = _request("register_1001")
    group = e.group_name.split(",")[0].strip() or "sales"
    return {
        "sip_auth": lookup.answer_user(sip_auth, e, plain),
        "sip_auth-ha1b": lookup.answer_user(_request("register_1001_at_domain_username"), e, plain),
        "sip_auth-send-password": lookup.answer_user(sip_auth, e, send),
        "sip_auth-realm-mismatch-password": lookup.answer_user(
            dataclasses.replace(sip_auth, realm="other.realm"),
            e,
            lookup.Policy(realm_mismatch="password"),
        ),
        "user_call": lookup.answer_user(_request("originate_user_1002_user_call", user="1001"), e, plain),
        "voicemail": lookup.answer_user(
            dataclasses.replace(sip_auth, kind=Kind.VOICEMAIL, action="voicemail-lookup"), e, plain
        ),
        "reverse_auth": lookup.answer_user(
            dataclasses.replace(sip_auth, kind=Kind.REVERSE_AUTH, action="reverse-auth-lookup"), e, send
        ),
        "verto_auth": lookup.answer_user(
            dataclasses.replace(sip_auth, kind=Kind.VERTO_AUTH, action="jsonrpc-authenticate"), e, plain
        ),
        "user_exists": lookup.answer_user(_request("user_exists"), e, plain),
        "sip_auth-fs-cacheable": lookup.answer_user(sip_auth, e, lookup.Policy(cacheable_ms=60000)),
        "group_call": lookup.answer_group(
            DirectoryRequest(Kind.GROUP_CALL, "group_call", DOMAIN, "", group=group), es
        ),
        "network_list": lookup.answer_network_list(_request("reloadacl_network_list"), es, trust_cidr=True),
        "list_users": lookup.answer_list_users([d for d in listed if d is not None]),
        "xml_locate": lookup.answer_locate(_request("xml_locate_directory_domain"), [DOMAIN]),
        "gateways": lookup.answer_gateways([DOMAIN, OTHER]),
    }


def test_every_flag_column_has_a_render_case() -> None:
    assert list(FLAG_ROWS) == [rule.column for rule in flags.FLAGS]


@pytest.mark.parametrize("column", FLAG_ROWS)
async def test_given_extension_with_flag_when_each_answer_kind_rendered_then_bytes_equal_golden(
    conn: asyncpg.Connection, column: str
) -> None:
    await add_extension(conn, "1001", **{"group_name": "sales", **FLAG_ROWS[column]})
    await add_extension(conn, "1002", group_name="sales", extn_cidr="10.1.0.0/24", cid_name="Bob & Co")
    await add_extension(conn, "1003", group_name="sales", disabled=1)
    await add_extension(conn, "2001", domain=OTHER, cid_name="Zoë")
    answers = every_answer(await _extensions(conn, DOMAIN), await _extensions(conn, OTHER))
    assert all(answer.found for answer in answers.values()), {k: a.reason for k, a in answers.items()}
    for kind, answer in answers.items():
        assert_golden(f"render/{column}/{kind}.xml", render.render(answer))


async def _extensions(conn: asyncpg.Connection, domain: str) -> list[Extension]:
    # The rows as the directory store reads them (bridge/directory/sql.py).
    return [Extension.from_row(row) for row in await conn.fetch(sql.EXTENSIONS_OF_DOMAIN, domain)]


def test_given_not_found_then_the_constant_document() -> None:
    answer = lookup.not_found("unknown")
    assert_golden("render/not_found.xml", render.render(answer))


def _one_value_answer(value: str) -> lookup.Answer:
    user = lookup.User("1001", (("a1-hash", "0" * 32),), (("xui_hotline_address", value),))
    return lookup.Answer((lookup.Domain(DOMAIN, lookup.DOMAIN_PARAMS, (user,)),), "found")


# Every code point where the rules change (ASCII and Latin-1 whole, the edges of the
# surrogates, the non-characters U+FFFE/U+FFFF and the astral planes), each alone in its
# block so the one-scan fast path must spot it by itself.
EDGE_CODE_POINTS = [
    *range(0x100),
    *(0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x10FFFF),
]


def test_given_any_single_character_value_then_bytes_equal_golden() -> None:
    # One line per code point: its hex, then the answer's one param line.
    lines = []
    for code_point in EDGE_CODE_POINTS:
        body = render.render(_one_value_answer(chr(code_point)))
        (param,) = [line for line in body.splitlines() if b"xui_hotline_address" in line]
        lines.append(b"%x %s\n" % (code_point, param.strip()))
    assert_golden("render/single_characters.txt", b"".join(lines))


def test_given_a_global_variable_reference_alone_then_it_is_broken_as_lxml_render_broke_it() -> None:
    # Nothing here needs escaping: only the "$${" half of the one-scan fast path sees it.
    answer = _one_value_answer("$${default_password}")
    body = render.render(answer)
    assert b'value="$$ {default_password}"' in body


def test_given_a_reference_hidden_by_a_character_xml_cannot_carry_then_it_is_still_broken() -> None:
    # Dropping the control character first is what makes "$$\x01{" inert.
    body = render.render(_one_value_answer("$$\x01{default_password}"))
    assert b'value="$$ {default_password}"' in body


def test_given_a_value_with_every_code_point_then_bytes_equal_golden() -> None:
    # The answer is 4 MB: its SHA-256 is the golden file.
    answer = _one_value_answer("".join(map(chr, range(0x110000))))
    assert_golden(
        "render/every_code_point.sha256", hashlib.sha256(render.render(answer)).hexdigest().encode()
    )


def test_given_a_name_with_unsafe_characters_then_it_is_cleaned_and_escaped_like_a_value() -> None:
    # lxml refused such a name (ValueError) or kept "$${"; names come from code, so no
    # answer ever had one, and render treats a name like any value rather than fail.
    user = lookup.User("1001", (('a"\t$${x}\x00', "v"),))
    answer = lookup.Answer((lookup.Domain(DOMAIN, (), (user,)),), "found")
    assert b'<param name="a&quot;&#9;$$ {x}" value="v"/>' in render.render(answer)


# Values as hypothesis draws them: any text without lone surrogates (no UTF-8 text has
# them), salted with the fragments the escaping and clean() care about.
FRAGMENTS = ["$${", "$$", "${", "{", "&", "&amp;", "<", ">", '"', "'", "\t", "\n", "\r", "\r\n", "]]>"]
FRAGMENTS += ["\x00", "\x0b", "\x7f", "\x85", "\ufffe", "\uffff", "\u2028", "😀", "\U0010ffff", "中"]
values = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=["Cs"])), st.sampled_from(FRAGMENTS)), max_size=8
).map("".join)


def _is_xml_char(c: str) -> bool:
    return c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"


# Names come from code; lxml took only XML characters in them and did not clean them.
names = st.one_of(
    st.sampled_from(["dial-string", "a1-hash", "xui_hotline_address"]),
    st.lists(
        st.one_of(st.text(st.characters().filter(_is_xml_char)), st.sampled_from(FRAGMENTS[3:15])),
        max_size=4,
    )
    .map("".join)
    .filter(lambda name: "$${" not in name),
)
pairs = st.lists(st.tuples(names, values), max_size=4).map(tuple)
users = st.builds(lookup.User, values, pairs, pairs, st.one_of(st.just(""), values))
groups = st.builds(lookup.Group, values, st.lists(users, max_size=2).map(tuple))
domains = st.builds(
    lookup.Domain,
    values,
    pairs,
    st.lists(users, max_size=2).map(tuple),
    st.lists(groups, max_size=2).map(tuple),
)
answers = st.builds(lookup.Answer, st.lists(domains, max_size=3).map(tuple), st.just("found"))


@settings(max_examples=200, deadline=None, database=None)
@given(answers)
def test_given_arbitrary_text_when_rendered_then_it_parses_back_to_the_cleaned_values(
    answer: lookup.Answer,
) -> None:
    body = render.render(answer)
    document = etree.fromstring(body)
    read = [(node.get("name"), node.get("value")) for node in document.iter("param", "variable")]
    written = [
        (name, render.clean(value))
        for domain in answer.domains
        for pairs_of in _all_pairs(domain)
        for name, value in pairs_of
    ]
    assert read == written


def _all_pairs(domain: lookup.Domain) -> list[lookup.Pairs]:
    """Every params/variables block of a domain, in document order."""
    listed = [*domain.users, *(user for group in domain.groups for user in group.users)]
    return [domain.params, *(block for user in listed for block in (user.params, user.variables))]
