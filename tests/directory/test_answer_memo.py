"""The rendered-answer memo: same Extension object + same request -> same bytes; anything else re-renders."""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest
from lxml import etree

from bridge.config import DirectoryConfig
from bridge.directory.answers import AnswerMemo, Rendered
from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest, Kind, parse_form
from bridge.directory.handler import DirectoryEndpoint, whole_answers
from bridge.hashes import ha1, ha1b
from bridge.metrics import Metrics
from tests.conftest import AppClient
from tests.directory.helpers import is_not_found, params, post, user_node, variables
from tests.factories import add_extension
from tests.support.captures import PASSWORD, form
from tests.support.client import Client
from tests.support.poll import eventually_value

MEMO = "bridge_directory_answer_cache_requests_total"


def _extension(**values: object) -> Extension:
    row: dict[str, object] = {f.name: None for f in dataclasses.fields(Extension)}
    row.update(deleted_at=None, user_deleted_at=None, id=1, extn="1001", domain="xswitch.test")
    row.update(values)
    return Extension.from_row(row)


def _request(**changes: str) -> DirectoryRequest:
    return dataclasses.replace(parse_form(form("register_1001")), **changes)  # type: ignore[arg-type]


def test_given_the_same_extension_object_then_hit_else_miss() -> None:
    memo = AnswerMemo(10)
    e = _extension(password="pw")
    rendered = Rendered(b"<document/>", True, "found")
    memo.put(_request(), e, rendered)
    assert memo.get(_request(), e) is rendered
    # An equal but new object is what the cache hands out after a change: never a hit.
    assert memo.get(_request(), dataclasses.replace(e)) is None
    assert memo.get(_request(), _extension(password="pw")) is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"user": "1001@xswitch.test"}, id="echoed-user-id"),
        pytest.param({"domain": "other.test"}, id="echoed-domain"),
        pytest.param({"auth_username": "1001@xswitch.test"}, id="ha1b-digest-username"),
        pytest.param({"realm": "other.realm"}, id="realm-mismatch"),
        pytest.param({"kind": Kind.USER_CALL, "action": "user_call"}, id="user-call"),
        pytest.param({"kind": Kind.VOICEMAIL, "action": "voicemail-lookup"}, id="voicemail"),
        pytest.param({"data_type": "var"}, id="user-data-type"),
    ],
)
def test_given_any_request_difference_then_entries_are_not_shared(changes: dict[str, object]) -> None:
    memo = AnswerMemo(10)
    e = _extension(password="pw")
    memo.put(_request(), e, Rendered(b"<a/>", True, "found"))
    assert memo.get(_request(**changes), e) is None  # type: ignore[arg-type]


def test_given_capacity_then_the_oldest_unread_entry_goes_and_a_read_one_gets_a_second_chance() -> None:
    memo = AnswerMemo(2)
    e = _extension(password="pw")
    first, second, third = (_request(user=u, auth_username=u) for u in ("1001", "1002", "1003"))
    for request in (first, second):
        memo.put(request, e, Rendered(request.user.encode(), True, "found"))
    assert memo.get(first, e) is not None  # first read again: a second chance, so second (oldest unread) goes
    memo.put(third, e, Rendered(b"1003", True, "found"))
    assert len(memo) == 2
    assert memo.get(second, e) is None
    assert memo.get(first, e) is not None and memo.get(third, e) is not None


def test_given_capacity_zero_then_nothing_is_kept() -> None:
    memo = AnswerMemo(0)
    e = _extension(password="pw")
    memo.put(_request(), e, Rendered(b"<a/>", True, "found"))
    assert len(memo) == 0 and memo.get(_request(), e) is None


async def _memo_counts(client: Client) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    counts = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith(MEMO + "{"):
            result = line.split('result="')[1].split('"')[0]
            counts[result] = float(line.rsplit(" ", 1)[1])
    return counts


async def test_given_a_repeated_lookup_then_the_memo_answers_with_identical_bytes(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    status, first = await post(client, form("register_1001"))
    assert status == 200 and b"a1-hash" in first
    before = await _memo_counts(client)
    status, again = await post(client, form("register_1001"))
    assert status == 200 and again == first
    after = await _memo_counts(client)
    assert after["hit"] == before["hit"] + 1 and after["miss"] == before["miss"]


class _Unread:
    """A directory store this test never reads."""

    async def get(self, domain: str, extn: str) -> Extension | None:
        raise AssertionError("read")

    async def domain(self, domain: str) -> list[Extension]:
        raise AssertionError("read")

    async def domains(self) -> list[str]:
        raise AssertionError("read")

    async def group_extension_ids(self, domain: str, group: str) -> frozenset[int]:
        raise AssertionError("read")


@pytest.mark.parametrize(("cache_size", "kept"), [(0, 0), (100, 1)])
def test_given_no_extension_cache_then_the_memo_is_off(cache_size: int, kept: int) -> None:
    # Without the cache every lookup reads a new Extension: an entry could never match.
    config = DirectoryConfig(cache_size=cache_size, answer_cache_size=10)
    metrics = Metrics()
    endpoint = DirectoryEndpoint(config, 65536, metrics, _Unread(), whole_answers(config, metrics))
    memo = endpoint.answerer.memo
    memo.put(_request(), _extension(password="pw"), Rendered(b"<a/>", True, "found"))
    assert len(memo) == kept


async def test_given_the_extension_changes_then_the_next_lookup_is_rendered_again(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", cid_name="Alice")
    client = await app_client()

    async def caller_name() -> str:
        status, body = await post(client, form("register_1001"))
        assert status == 200
        return variables(user_node(etree.fromstring(body)))["effective_caller_id_name"]

    assert await caller_name() == "Alice"
    assert await caller_name() == "Alice"  # memoised
    await conn.execute("UPDATE extensions SET cid_name = 'Bob' WHERE extn = '1001'")
    await eventually_value(caller_name, lambda name: name == "Bob", timeout=2.0)


async def test_given_ha1_and_ha1b_digest_usernames_then_each_gets_its_own_hash_in_any_order(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    expected = {
        "register_1001": ha1("1001", "xswitch.test", PASSWORD),
        "register_1001_at_domain_username": ha1b("1001", "xswitch.test", PASSWORD),
    }
    for name in [*expected, *reversed(expected), *expected]:
        status, body = await post(client, form(name))
        assert status == 200
        assert params(user_node(etree.fromstring(body)))["a1-hash"] == expected[name], name


async def test_given_one_extension_number_in_two_domains_then_answers_are_never_shared(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", domain="xswitch.test", password="first-Pw1")
    await add_extension(conn, "1001", domain="other.test", password="second-Pw2")
    client = await app_client()
    bodies = {
        "xswitch.test": form("register_1001"),
        "other.test": form("register_1001").replace(b"xswitch.test", b"other.test"),
    }
    hashes = {
        "xswitch.test": ha1("1001", "xswitch.test", "first-Pw1"),
        "other.test": ha1("1001", "other.test", "second-Pw2"),
    }
    for domain in ["xswitch.test", "other.test", "xswitch.test", "other.test"]:
        status, body = await post(client, bodies[domain])
        assert status == 200
        doc = etree.fromstring(body)
        assert [d.get("name") for d in doc.findall("section/domain")] == [domain]
        assert params(user_node(doc))["a1-hash"] == hashes[domain]


async def test_given_a_memoised_user_when_the_realm_mismatches_then_refused_and_the_match_still_found(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__realm_mismatch="refuse")
    other_realm = form("register_1001").replace(b"sip_auth_realm=xswitch.test", b"sip_auth_realm=other.realm")
    for body, refused in [(form("register_1001"), False), (other_realm, True)] * 2:
        status, answer = await post(client, body)
        assert status == 200
        assert is_not_found(etree.fromstring(answer)) is refused
