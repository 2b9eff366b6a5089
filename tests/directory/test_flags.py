"""Each XUI extension flag becomes what FreeSWITCH or the dialplan acts on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bridge.directory import flags
from tests.conftest import AppClient
from tests.directory.helpers import lookup, params, user_node, variables
from tests.factories import add_extension

DOCS = Path(__file__).resolve().parents[2] / "docs" / "directory.md"

# (row values, form, expected params, expected variables)
CASES: list[Any] = [
    pytest.param({"context": "ctx-9"}, {}, {"user_context": "ctx-9"}, id="context"),
    pytest.param({"cid_name": "Alice"}, {}, {"effective_caller_id_name": "Alice"}, id="cid_name"),
    pytest.param({"cid_number": "8001"}, {}, {"effective_caller_id_number": "8001"}, id="cid_number"),
    pytest.param(
        {"call_authority": 2},
        {},
        {"toll_allow": "emergency,internal,local", "xui_call_authority": "2"},
        id="call_authority",
    ),
    pytest.param({"call_limit": 0}, {}, {"xui_call_limit": "0"}, id="call_limit"),
    pytest.param(
        {"called_limit": 0},
        {"dial-string": "error/CALL_REJECTED"},
        {"xui_called_limit": "0"},
        id="called_limit",
    ),
    pytest.param(
        {"extn_cidr": "10.0.0.0/8"},
        {"auth-acl": "10.0.0.0/8"},
        {"xui_extn_cidr": "10.0.0.0/8"},
        id="extn_cidr",
    ),
    pytest.param({"dtmf_type": 1}, {}, {"dtmf_type": "info"}, id="dtmf_type-info"),
    pytest.param(
        {"dtmf_type": 2},
        {},
        {"dtmf_type": "none", "execute_on_answer_xui_dtmf": "start_dtmf"},
        id="dtmf_type-inband",
    ),
    pytest.param({"dtmf_type": 3}, {}, {"dtmf_type": "rfc2833"}, id="dtmf_type-rfc2833"),
    pytest.param({"enable_srtp": 1}, {}, {"rtp_secure_media": "true"}, id="enable_srtp"),
    pytest.param({"enable_t38": 1}, {}, {"fax_enable_t38": "true", "t38_passthru": "true"}, id="enable_t38"),
    pytest.param({"codec": "PCMA, PCMU"}, {}, {"absolute_codec_string": "PCMA,PCMU"}, id="codec"),
    pytest.param(
        {"auto_record": 1}, {}, {"execute_on_answer_xui_record": flags.RECORD_PATH}, id="auto_record"
    ),
    pytest.param({"voicemail": 1}, {"vm-enabled": "true"}, {"xui_voicemail": "1"}, id="voicemail"),
    pytest.param(
        {"intercept": 1, "group_name": "g1"},
        {},
        {"callgroup": "g1", "xui_intercept": "1"},
        id="intercept-group_name",
    ),
    pytest.param(
        {"intercepted": 2, "intercepted_group_name": "g2"},
        {},
        {"xui_intercepted": "2", "xui_intercepted_group_name": "g2"},
        id="intercepted",
    ),
    pytest.param({"timeout": "25"}, {}, {"call_timeout": "25", "leg_timeout": "25"}, id="timeout"),
    pytest.param(
        {"ringback": "tone_stream://%(1000,4000,450)", "enable_ringback": 1},
        {},
        {"ringback": "tone_stream://%(1000,4000,450)", "transfer_ringback": "tone_stream://%(1000,4000,450)"},
        id="ringback",
    ),
    pytest.param(
        {"force_insert": 1, "force_breakdown": 1, "eavesdrop": 1},
        {},
        {"xui_force_insert": "1", "xui_force_breakdown": "1", "xui_eavesdrop": "1"},
        id="permissions",
    ),
    pytest.param(
        {"forced_insert": 1, "forced_breakdown": 1, "eavesdropped": 1},
        {},
        {"xui_forced_insert": "1", "xui_forced_breakdown": "1", "xui_eavesdropped": "1"},
        id="targets",
    ),
    pytest.param(
        {"call_transfer_type": 2, "enable_cb_onbusy": "1"},
        {},
        {"xui_call_transfer_type": "2", "xui_enable_cb_onbusy": "1"},
        id="transfer",
    ),
    pytest.param(
        {"enable_hotline": 1, "hotline_number": "110", "hotline_type": "x", "hotline_address": "a"},
        {},
        {
            "xui_enable_hotline": "1",
            "xui_hotline_number": "110",
            "xui_hotline_type": "x",
            "xui_hotline_address": "a",
        },
        id="hotline",
    ),
    pytest.param(
        {"boss_extn": True, "secretary_extn": "1009", "priority": "5"},
        {},
        {"xui_boss_extn": "true", "xui_secretary_extn": "1009", "xui_priority": "5"},
        id="boss",
    ),
    pytest.param(
        {"enable_extn_time_recurrences": 1},
        {},
        {"xui_enable_extn_time_recurrences": "1"},
        id="time_recurrences",
    ),
]


@pytest.mark.parametrize(("row", "want_params", "want_vars"), CASES)
async def test_given_flag_when_user_call_then_freeswitch_names_carry_it(
    app_client: AppClient,
    conn: asyncpg.Connection,
    row: dict[str, Any],
    want_params: dict[str, str],
    want_vars: dict[str, str],
) -> None:
    await add_extension(conn, "1002", **row)
    client = await app_client()
    user = user_node(await lookup(client, "invite_1001_to_1002_user_call"))
    assert want_params.items() <= params(user).items()
    assert want_vars.items() <= variables(user).items()


async def test_given_defaults_when_looked_up_then_no_optional_behaviour_is_switched_on(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1002")
    client = await app_client()
    user = user_node(await lookup(client, "invite_1001_to_1002_user_call"))
    got = variables(user)
    for name in (
        "rtp_secure_media",
        "fax_enable_t38",
        "dtmf_type",
        "callgroup",
        "ringback",
        "execute_on_answer_xui_record",
        "origination_privacy",
        "call_timeout",
    ):
        assert name not in got
    assert got["effective_caller_id_number"] == "1002"
    assert params(user)["vm-enabled"] == "false"


async def test_given_caller_display_off_when_user_call_then_caller_is_hidden_on_that_leg(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1002", caller_display=0)
    client = await app_client()
    got = variables(user_node(await lookup(client, "invite_1001_to_1002_user_call")))
    assert got["origination_privacy"] == "hide_name:hide_number"


async def test_given_vm_password_then_only_voicemail_lookups_carry_it(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", vm_password="4321", voicemail=1)
    client = await app_client()
    assert "vm-password" not in params(user_node(await lookup(client, "register_1001")))
    from lxml import etree

    from tests.directory.helpers import post

    body = (
        b"section=directory&tag_name=domain&key_name=name&key_value=xswitch.test&Event-Name=REQUEST_PARAMS"
        b"&action=voicemail-lookup&key=id&user=1001&domain=xswitch.test"
    )
    _, raw = await post(client, body)
    assert params(user_node(etree.fromstring(raw)))["vm-password"] == "4321"


def test_docs_flag_table_is_the_one_flags_py_generates() -> None:
    assert flags.markdown_table() in DOCS.read_text()


def test_every_flag_rule_names_a_real_extension_column() -> None:
    from dataclasses import fields

    from bridge.directory.extension import Extension

    columns = {f.name for f in fields(Extension)}
    assert {rule.column for rule in flags.FLAGS} <= columns
