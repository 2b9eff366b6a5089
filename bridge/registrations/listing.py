"""sofia's own registration listing (``sofia xmlstatus``) -> bindings, for reconciling (pure).

Why this and not ``show registrations``: sofia_reg_handle_register writes its
sip_registrations row with ``sofia_glue_execute_sql_now`` (synchronously, before it fires
``sofia::register``), while the core table behind ``show registrations`` is written
through ``switch_sql_queue_manager_push`` (queued: it lagged 1-3 s in the captures). A
REGISTER whose event fired before our subscription is therefore in this listing; it may
be missing from the core table. The rows are printed by show_reg_callback_xml
(mod_sofia.c): ``user`` is sip_user@sip_host, ``status`` is
``<status>(<rpid>) exp(<local time>) expsecs(<seconds left>)``, contact and agent are
XML-escaped, but call-id, user and host are printed raw.
"""

from __future__ import annotations

import re

from lxml import etree

from bridge.registrations.events import FrameError, contact_uri, network_proto
from bridge.registrations.model import Registration

PROFILES_COMMAND = "sofia xmlstatus"
_DECLARATION = re.compile(r"^<\?xml[^>]*\?>")
_STATUS = re.compile(r"^(?P<status>.*?)\((?P<rpid>[^()]*)\) exp\([^()]*\) expsecs\((?P<left>-?\d+)\)$")
# No entities, no network, no huge documents: the listing is the node's, but its raw
# fields (call-id, user) come from SIP clients.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)


def registrations_command(profile: str) -> str:
    return f"sofia xmlstatus profile {profile} reg"


def _document(body: str) -> etree._Element:
    text = body.strip()
    if not text.startswith("<"):
        raise FrameError(f"sofia listing refused: {text[:80]!r}")
    # The declaration says ISO-8859-1 but FreeSWITCH writes the clients' bytes as they
    # came (UTF-8 in practice, already decoded by the reader): parse the text as is.
    text = _DECLARATION.sub("", text, count=1)
    try:
        return etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FrameError(f"sofia listing is not XML: {exc}") from exc


def parse_profiles(body: str) -> list[str]:
    """``sofia xmlstatus``: the names of the profiles (aliases and gateways left out)."""
    root = _document(body)
    return [
        name
        for entry in root.iter("profile")
        if entry.findtext("type") == "profile" and (name := (entry.findtext("name") or "").strip())
    ]


def parse_registrations(node: str, profile: str, body: str, *, now: float) -> list[Registration]:
    """``sofia xmlstatus profile P reg``: one Registration per binding, expiry = now + expsecs."""
    root = _document(body)
    found = []
    for row in root.iter("registration"):
        user, _, host = (row.findtext("user") or "").rpartition("@")
        call_id = row.findtext("call-id") or ""
        match = _STATUS.match((row.findtext("status") or "").strip())
        if not user or not call_id or match is None:
            raise FrameError("sofia listing row without user, call-id or status")
        contact = row.findtext("contact") or ""
        status = match.group("status")
        found.append(
            Registration(
                url=f"sofia/{profile}/{contact_uri(contact)}",
                expires=str(int(now) + int(match.group("left"))),
                token=call_id,
                reg_user=user,
                network_proto=network_proto(status),
                metadata="",
                hostname=row.findtext("host") or "",
                network_port=row.findtext("network-port") or "",
                realm=host,
                network_ip=row.findtext("network-ip") or "",
                node=node,
                profile=profile,
                user_agent=row.findtext("agent") or "",
                status=status,
                contact=contact,
            )
        )
    return found
