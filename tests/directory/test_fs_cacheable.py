"""directory.fs_cacheable_ms: ``cacheable`` on every per-user answer, and a user complete for every use.

FreeSWITCH keeps the merged ``<user>`` under (key, user id as asked, domain) and reuses it
for every later lookup of that id, whatever kind asked first (switch_xml.c,
switch_xml_locate_user_merged). So with the attribute on, the answers for one id are the
same document whichever captured form asked.
"""

from __future__ import annotations

import asyncpg
import pytest
from lxml import etree

from tests.conftest import AppClient
from tests.directory.helpers import digest_response, fields, is_not_found, params, post, user_node, variables
from tests.factories import add_extension
from tests.support.captures import PASSWORD, form, md5

DOMAIN = "xswitch.test"

# Every per-user lookup FreeSWITCH sent in the captures, plus the two kinds the captures
# lack, derived from the REGISTER form by its action (voicemail, verto).
PER_USER = {
    "register": form("register_1001"),
    "register-at-domain": form("register_1001_at_domain_username"),
    "unregister": form("unregister_1001"),
    "invite-sip-auth": form("invite_1001_to_1002_sip_auth"),
    "subscribe-sip-auth": form("subscribe_1001_sip_auth"),
    "invite-user-call": form("invite_1001_to_1002_user_call"),
    "originate-user-call": form("originate_user_1002_user_call"),
    "user-exists": form("user_exists"),
    "find-user-xml": form("find_user_xml"),
    "user-data-var": form("user_data_var"),
    "user-data-param": form("user_data_param"),
    "user-data-attr": form("user_data_attr"),
    "voicemail": form("register_1001").replace(b"action=sip_auth", b"action=voicemail-lookup"),
    "verto": form("register_1001").replace(b"action=sip_auth", b"action=jsonrpc-authenticate"),
}


@pytest.fixture
async def phones(conn: asyncpg.Connection) -> None:
    # vm_password and caller_display=0 are what voicemail and user/ calls add to a user.
    await add_extension(conn, "1001", vm_password="4321", caller_display=0)
    await add_extension(conn, "1002", vm_password="8765", caller_display=0)


pytestmark = pytest.mark.usefixtures("phones")


async def _user(client: object, body: bytes) -> etree._Element:
    status, answer = await post(client, body)  # type: ignore[arg-type]
    assert status == 200, answer
    doc = etree.fromstring(answer)
    assert not is_not_found(doc), answer
    return user_node(doc)


@pytest.mark.parametrize("name", PER_USER)
async def test_given_fs_cacheable_when_any_per_user_lookup_then_the_user_is_cacheable(
    app_client: AppClient, name: str
) -> None:
    client = await app_client(directory__fs_cacheable_ms="60000")
    assert (await _user(client, PER_USER[name])).get("cacheable") == "60000"


@pytest.mark.parametrize("name", PER_USER)
async def test_given_fs_cacheable_off_when_any_per_user_lookup_then_no_cacheable_attribute(
    app_client: AppClient, name: str
) -> None:
    client = await app_client()
    assert "cacheable" not in (await _user(client, PER_USER[name])).attrib


async def test_given_fs_cacheable_then_every_kind_answers_user_1001_with_the_same_document(
    app_client: AppClient,
) -> None:
    client = await app_client(directory__fs_cacheable_ms="60000")
    same_id = [
        "register",
        "unregister",
        "invite-sip-auth",
        "subscribe-sip-auth",
        "user-exists",
        "find-user-xml",
        "user-data-var",
        "voicemail",
        "verto",
    ]
    documents = {name: etree.tostring(await _user(client, PER_USER[name])) for name in same_id}

    assert len(set(documents.values())) == 1, documents
    user = await _user(client, PER_USER["register"])
    # What voicemail and a user/ call add, present whichever kind asked first.
    assert params(user)["vm-password"] == "4321"
    assert variables(user)["origination_privacy"] == "hide_name:hide_number"
    assert "dial-string" in params(user)


async def test_given_fs_cacheable_when_user_call_then_the_callee_document_is_its_register_document(
    app_client: AppClient,
) -> None:
    client = await app_client(directory__fs_cacheable_ms="60000")
    called = await _user(client, PER_USER["originate-user-call"])
    registered = await _user(client, form("register_1002"))

    assert etree.tostring(called) == etree.tostring(registered)


async def test_given_fs_cacheable_when_at_domain_digest_then_the_cached_credential_is_ha1b(
    app_client: AppClient,
) -> None:
    # Cached under "id" + "1001@xswitch.test" + domain: only lookups of that id reuse it,
    # and each of them digests with the user@domain username, so ha1b is right for all.
    client = await app_client(directory__fs_cacheable_ms="60000")
    user = await _user(client, PER_USER["register-at-domain"])

    a1 = params(user)["a1-hash"]
    assert a1 == md5(f"1001@{DOMAIN}:{DOMAIN}:{PASSWORD}")
    f = fields("register_1001_at_domain_username")
    assert digest_response(a1, f) == f["sip_auth_response"]
    plain = params(await _user(client, PER_USER["user-exists"]))["a1-hash"]
    assert plain == md5(f"1001:{DOMAIN}:{PASSWORD}")


async def test_given_fs_cacheable_off_then_voicemail_and_call_extras_stay_with_their_kind(
    app_client: AppClient,
) -> None:
    client = await app_client()
    registered = await _user(client, PER_USER["register"])

    assert "vm-password" not in params(registered)
    assert "origination_privacy" not in variables(registered)
    assert params(await _user(client, PER_USER["voicemail"]))["vm-password"] == "4321"
