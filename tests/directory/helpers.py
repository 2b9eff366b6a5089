"""Replaying captured mod_xml_curl forms against the running app, and reading the answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from lxml import etree

from tests.support.captures import form, md5
from tests.support.client import Client

FORM_TYPE = "application/x-www-form-urlencoded"


def fields(name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in parse_qsl(form(name).decode(), keep_blank_values=True):
        out.setdefault(key, value)
    return out


async def post(client: Client, body: bytes, **headers: str) -> tuple[int, bytes]:
    resp = await client.post("/directory", data=body, headers={"Content-Type": FORM_TYPE, **headers})
    return resp.status, await resp.read()


async def lookup(client: Client, name: str) -> etree._Element:
    status, body = await post(client, form(name))
    assert status == 200, body
    return etree.fromstring(body)


def is_not_found(doc: etree._Element) -> bool:
    return doc.find("section[@name='result']/result[@status='not found']") is not None


def user_node(doc: etree._Element) -> etree._Element:
    users = doc.findall("section/domain/users/user")
    assert len(users) == 1, etree.tostring(doc)
    return users[0]


def params(node: etree._Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in node.findall("params/param")}


def variables(node: etree._Element) -> dict[str, str]:
    return {v.get("name", ""): v.get("value", "") for v in node.findall("variables/variable")}


def digest_response(a1_hash: str, f: dict[str, Any]) -> str:
    """RFC 2617 qop=auth: what the phone computed, given the A1 FreeSWITCH was told."""
    ha2 = md5(f"{f['sip_auth_method']}:{f['sip_auth_uri']}")
    return md5(
        f"{a1_hash}:{f['sip_auth_nonce']}:{f['sip_auth_nc']}:{f['sip_auth_cnonce']}:{f['sip_auth_qop']}:{ha2}"
    )
