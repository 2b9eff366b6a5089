"""The captured phones, once: their mod_xml_curl forms, their password, the digest's MD5."""

from __future__ import annotations

import hashlib

from tests.conftest import fixture_bytes

# The SIP password of the captured phones (1001, 1002: tests/fixtures/freeswitch/).
PASSWORD = "Test1234pw"


def form(name: str) -> bytes:
    """A captured mod_xml_curl form body (tests/fixtures/freeswitch/xml_curl/NAME.form)."""
    return fixture_bytes("xml_curl", f"{name}.form")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()
