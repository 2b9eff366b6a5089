"""The SIP digest check (RFC 2617 / RFC 7616, MD5): did the phone know the password? (pure)

FreeSWITCH hands bridge the whole digest in every sip_auth lookup (``sip_auth_*`` fields)
and bridge holds the A1 hash it answers with (ha1, or ha1b for a ``user@domain`` digest
username), so bridge reaches the verdict sofia_reg.c reaches, without FreeSWITCH's help:

    HA2      = MD5(method ":" uri)
    response = MD5(A1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   qop=auth
    response = MD5(A1 ":" nonce ":" HA2)                             no qop (RFC 2069)

``auth-int`` (a hash of the body) and algorithms other than MD5 cannot be checked from
the form: they read as "unchecked", never as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Digest:
    """The digest fields of one sip_auth form, as FreeSWITCH sent them."""

    username: str
    realm: str
    nonce: str
    uri: str
    method: str
    response: str
    qop: str = ""
    nc: str = ""
    cnonce: str = ""

    @property
    def checkable(self) -> bool:
        return bool(self.response and self.nonce and self.method) and self.qop in ("", "auth")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def ha2_of(method: str, uri: str) -> str:
    return _md5(f"{method}:{uri}")


def response_of(a1_hash: str, ha2: str, *, nonce: str, nc: str, cnonce: str, qop: str) -> str:
    """The response to a challenge (``nonce``), given A1 and HA2 (qop ``auth`` or none)."""
    if qop == "auth":
        return _md5(f"{a1_hash}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return _md5(f"{a1_hash}:{nonce}:{ha2}")


def expected_response(a1_hash: str, digest: Digest) -> str:
    """What a phone that knows the password sends, given the A1 hash."""
    ha2 = ha2_of(digest.method, digest.uri)
    return response_of(a1_hash, ha2, nonce=digest.nonce, nc=digest.nc, cnonce=digest.cnonce, qop=digest.qop)


def responds(response: str, expected: str) -> bool:
    """Whether a phone's ``response`` is the ``expected`` one (any case, in constant time)."""
    return hmac.compare_digest(expected, response.strip().lower())


def a1_of_password(username: str, realm: str, password: str) -> str:
    """A1 when FreeSWITCH was given the plaintext password: MD5(username:realm:password)."""
    return _md5(f"{username}:{realm}:{password}")


def check(digest: Digest, a1_hash: str) -> bool | None:
    """True: the response matches A1; False: it does not (wrong password); None: cannot tell."""
    if not digest.checkable or not a1_hash:
        return None
    return responds(digest.response, expected_response(a1_hash.lower(), digest))
