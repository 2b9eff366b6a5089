"""Captured sip_auth forms and their derived variants (another ip, user, realm, a wrong response)."""

from __future__ import annotations

from urllib.parse import quote

from bridge.directory.form import FormError, read_fields
from bridge.guard.attempt import FIELDS, FormAttempt, attempt_of
from tests.support.captures import form

DOMAIN = "xswitch.test"


def derive(body: bytes, **fields: str) -> bytes:
    """The captured body with the named fields' values replaced (each must be present)."""
    parts = body.split(b"&")
    done = set()
    for index, part in enumerate(parts):
        name, _, _ = part.partition(b"=")
        key = name.decode()
        if key in fields and key not in done:
            parts[index] = name + b"=" + quote(fields[key], safe="").encode()
            done.add(key)
    missing = set(fields) - done
    assert not missing, missing
    return b"&".join(parts)


def from_ip(body: bytes, ip: str, port: str = "5060") -> bytes:
    return derive(body, ip=ip, client_port=port)


def unknown_user(ip: str, n: int) -> bytes:
    """The captured REGISTER of unknown 1009, as user 9NNN from ``ip`` (what a scan sends)."""
    user = f"9{n:03d}"
    return derive(
        form("register_unknown_user_1009"),
        ip=ip,
        user=user,
        sip_auth_username=user,
        sip_from_user=user,
        sip_to_user=user,
    )


def wrong_password(ip: str, user: str = "1001", port: str = "5060") -> bytes:
    """The captured wrong-password REGISTER of 1001 (optionally as another user) from ``ip``."""
    body = derive(form("register_1001_wrong_password"), ip=ip, client_port=port)
    if user != "1001":
        body = derive(body, user=user, sip_auth_username=user, sip_from_user=user, sip_to_user=user)
    return body


def read_form(body: bytes) -> FormAttempt | None:
    """The attempt a form body describes, read as the directory endpoint reads it for the guard;
    None when it is not one (or not readable)."""
    try:
        fields = read_fields(body, FIELDS)
    except FormError:
        return None
    return attempt_of(fields)
