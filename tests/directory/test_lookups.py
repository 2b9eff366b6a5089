"""Every other lookup FreeSWITCH makes, replayed from the captured forms."""

from __future__ import annotations

import asyncpg
import pytest
from lxml import etree

from bridge.directory import flags
from tests.conftest import AppClient
from tests.directory.helpers import is_not_found, lookup, params, post, user_node, variables
from tests.factories import add_extension


@pytest.fixture
async def phones(conn: asyncpg.Connection) -> None:
    await add_extension(conn, "1001", extn_cidr="10.1.0.0/24", group_name="sales", intercept=1)
    await add_extension(conn, "1002", type="WebRTC", group_name="sales")
    await add_extension(conn, "1003", disabled=1, group_name="sales", extn_cidr="10.3.0.0/24")
    await add_extension(conn, "2001", domain="other.test")


pytestmark = pytest.mark.usefixtures("phones")


@pytest.mark.parametrize(
    ("name", "dial"),
    [
        pytest.param("invite_1001_to_1002_user_call", flags.WEBRTC_DIAL, id="bridge-to-webrtc"),
        pytest.param("originate_user_1002_user_call", flags.WEBRTC_DIAL, id="originate-webrtc"),
    ],
)
async def test_given_user_call_when_looked_up_then_dial_string_fits_the_extension_type(
    app_client: AppClient, name: str, dial: str
) -> None:
    client = await app_client()
    user = user_node(await lookup(client, name))
    assert user.get("id") == "1002"
    assert params(user)["dial-string"] == dial
    assert "${verto_contact(${dialed_user}@${dialed_domain})}" in dial


async def test_given_sip_extension_when_user_call_then_only_the_sofia_contact_is_dialed(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await conn.execute("UPDATE extensions SET type = 'SIP' WHERE extn = '1002'")
    client = await app_client()
    dial = params(user_node(await lookup(client, "invite_1001_to_1002_user_call")))["dial-string"]
    assert dial == flags.SOFIA_DIAL
    assert "verto" not in dial


@pytest.mark.parametrize(
    "name", ["user_exists", "find_user_xml", "user_data_var", "user_data_param", "user_data_attr"]
)
async def test_given_known_user_when_api_lookup_then_only_that_user_with_credentials(
    app_client: AppClient, name: str
) -> None:
    client = await app_client()
    doc = await lookup(client, name)
    assert [d.get("name") for d in doc.findall("section/domain")] == ["xswitch.test"]
    user = user_node(doc)
    assert user.get("id") == "1001"
    assert user.get("type") is None
    assert params(user)["a1-hash"]
    assert variables(user)["user_context"] == "default"


async def test_given_unknown_user_when_user_exists_then_not_found(app_client: AppClient) -> None:
    client = await app_client()
    assert is_not_found(await lookup(client, "user_exists_unknown_1009"))


async def test_given_known_domain_when_xml_locate_then_domain_echoed_without_users(
    app_client: AppClient,
) -> None:
    client = await app_client()
    doc = await lookup(client, "xml_locate_directory_domain")
    domains = doc.findall("section/domain")
    assert [d.get("name") for d in domains] == ["xswitch.test"]
    assert doc.find("section/domain/users") is None


async def test_given_list_users_for_a_domain_then_every_enabled_user_of_that_domain(
    app_client: AppClient,
) -> None:
    client = await app_client()
    doc = await lookup(client, "list_users_domain")
    assert [d.get("name") for d in doc.findall("section/domain")] == ["xswitch.test"]
    assert [u.get("id") for u in doc.findall("section/domain/users/user")] == ["1001", "1002"]


async def test_given_list_users_without_domain_then_every_domain(app_client: AppClient) -> None:
    client = await app_client()
    doc = await lookup(client, "list_users")
    found = {
        (d.get("name"), u.get("id")) for d in doc.findall("section/domain") for u in d.findall("users/user")
    }
    assert found == {("xswitch.test", "1001"), ("xswitch.test", "1002"), ("other.test", "2001")}


@pytest.mark.parametrize("name", ["startup_profile_gateways", "gateways_rescan"])
async def test_given_gateways_purpose_then_every_domain_is_listed_for_the_all_profile(
    app_client: AppClient, name: str
) -> None:
    client = await app_client()
    doc = await lookup(client, name)
    assert sorted(d.get("name") for d in doc.findall("section/domain")) == ["other.test", "xswitch.test"]
    assert doc.find(".//user") is None


@pytest.mark.parametrize("name", ["startup_acl_network_list", "reloadacl_network_list"])
async def test_given_network_list_by_default_then_no_user_cidr_is_granted(
    app_client: AppClient, name: str
) -> None:
    # issue 13 item 15: a <user cidr> in this answer lands in the "domains" ACL, which a
    # profile's apply-inbound-acl trusts without a password. extn_cidr must restrict only.
    client = await app_client()
    doc = await lookup(client, name)
    assert [d.get("name") for d in doc.findall("section/domain")] == ["xswitch.test"]
    assert doc.findall(".//user") == []
    assert b"10.1.0.0/24" not in etree.tostring(doc)


@pytest.mark.parametrize("name", ["startup_acl_network_list", "reloadacl_network_list"])
async def test_given_trust_extn_cidr_opted_in_then_each_enabled_user_with_a_cidr_carries_it_as_attribute(
    app_client: AppClient, name: str
) -> None:
    client = await app_client(directory__trust_extn_cidr="true")
    doc = await lookup(client, name)
    users = doc.findall("section/domain/users/user")
    assert [(u.get("id"), u.get("cidr")) for u in users] == [("1001", "10.1.0.0/24")]
    assert params(users[0])["a1-hash"]


@pytest.mark.parametrize("trust", ["false", "true"])
async def test_given_extn_cidr_then_sip_auth_restricts_the_phone_to_it_with_auth_acl(
    app_client: AppClient, trust: str
) -> None:
    # sofia_reg.c: a user param auth-acl refuses (403) a REGISTER/INVITE from elsewhere;
    # the digest is still asked for from inside (trust or not, sip_auth carries the hash).
    client = await app_client(directory__trust_extn_cidr=trust)
    user = user_node(await lookup(client, "register_1001"))
    assert params(user)["auth-acl"] == "10.1.0.0/24"
    assert params(user)["a1-hash"]


def _group_call_form() -> bytes:
    # mod_commands.c group_call: switch_xml_locate_group adds group_name and domain.
    return (
        b"hostname=vm&section=directory&tag_name=domain&key_name=name&key_value=xswitch.test"
        b"&Event-Name=REQUEST_PARAMS&group=sales&domain=xswitch.test&action=group_call&group_name=sales"
    )


async def test_given_group_call_then_enabled_members_of_the_group_with_dial_strings(
    app_client: AppClient,
) -> None:
    client = await app_client()
    status, body = await post(client, _group_call_form())
    assert status == 200
    from lxml import etree

    doc = etree.fromstring(body)
    members = doc.findall("section/domain/groups/group[@name='sales']/users/user")
    assert [u.get("id") for u in members] == ["1001", "1002"]
    assert all(params(u)["dial-string"] for u in members)


@pytest.mark.parametrize(
    ("action", "found"),
    [
        pytest.param("message-count", True, id="message-count"),
        pytest.param("voicemail-lookup", True, id="voicemail-lookup"),
        pytest.param("jsonrpc-authenticate", True, id="verto"),
        pytest.param("reverse-auth-lookup", False, id="reverse-auth-off-by-default"),
    ],
)
async def test_given_other_actions_then_answered_or_refused_on_purpose(
    app_client: AppClient, action: str, found: bool
) -> None:
    client = await app_client()
    body = (
        b"hostname=vm&section=directory&tag_name=domain&key_name=name&key_value=xswitch.test"
        b"&Event-Name=REQUEST_PARAMS&action=" + action.encode() + b"&key=id&user=1001&domain=xswitch.test"
    )
    from lxml import etree

    status, raw = await post(client, body)
    assert status == 200
    doc = etree.fromstring(raw)
    assert is_not_found(doc) is not found
    if action == "jsonrpc-authenticate":
        from tests.support.captures import PASSWORD, md5

        assert params(user_node(doc))["a1-hash"] == md5(f"1001:xswitch.test:{PASSWORD}")
