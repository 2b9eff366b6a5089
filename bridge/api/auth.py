"""XUI authentication: login sessions and permanent developer keys, stored as SHA-256 in PostgreSQL.

A token reaches bridge in the ``X-XTRA-AUTH-ID`` header or the ``freeswitch_xtra_session_id``
cookie (xui-auth-api.zh.txt). Only its SHA-256 is stored and looked up, so the lookup is an
index probe on a hash, never a comparison of secrets; the password checks use
``hmac.compare_digest``. Every failure a client can cause answers the same few words.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bridge.api.attempts import Attempts
from bridge.config import ApiConfig
from bridge.db import Database
from bridge.errors import Forbidden, RequestError, Unauthorized
from bridge.hashes import login_sha1
from bridge.metrics import Metrics
from bridge.xui_values import flag, integer

log = logging.getLogger(__name__)

HEADER = "X-XTRA-AUTH-ID"
COOKIE = "freeswitch_xtra_session_id"
WRONG_LOGIN = "Wrong username or password"
# A token is a UUID (36 characters); anything much longer is not one of ours.
_MAX_TOKEN = 128
# A session's last_used_at is refreshed at most this often (seconds), not on every request.
_TOUCH_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for."""

    token_id: int
    kind: str  # "session" or "dev_key"
    user_id: int
    login: str
    domain: str
    is_super: bool
    is_admin: bool
    # False for a dev key made from an extension's SIP credentials: it speaks for that
    # extension (extension_id; None for keys older than sql/040) and never as its owner.
    user_rights: bool = True
    extension_id: int | None = None

    @property
    def domain_scope(self) -> str | None:
        """The one domain this principal may see, or None for every domain (super user)."""
        return None if self.is_super else self.domain


def token_sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def presented_token(request: web.Request) -> str | None:
    token = request.headers.get(HEADER) or request.cookies.get(COOKIE) or ""
    token = token.strip()
    if not token or len(token) > _MAX_TOKEN:
        return None
    return token


_INSERT_TOKEN = """
INSERT INTO bridge_api_tokens
    (token_sha256, kind, user_id, key_hint, description, ttl_seconds, rights, extension_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, user_id, description, created_at, updated_at
"""

# Each session by its own lifetime (ttl_seconds, sql/040), not by this instance's api.token_ttl.
_EXPIRE_SESSIONS = """
DELETE FROM bridge_api_tokens
WHERE kind = 'session' AND last_used_at < now() - make_interval(secs => ttl_seconds)
"""

# users.is_locked is not read here: a lock refuses logins only, so anonymous failures
# cannot end sessions and keys already issued (docs/admin-api-security.md).
_PRINCIPAL = """
SELECT t.id AS token_id, t.kind, t.user_id, t.rights, t.extension_id, t.ttl_seconds,
       extract(epoch FROM now() - t.last_used_at) AS idle,
       u.login, u.domain, u.is_super::text AS is_super, u.is_admin::text AS is_admin,
       u.disabled::text AS disabled
FROM bridge_api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_sha256 = $1 AND u.deleted_at IS NULL
  AND (t.kind = 'dev_key' OR t.last_used_at > now() - make_interval(secs => t.ttl_seconds))
"""

_TOUCH = "UPDATE bridge_api_tokens SET last_used_at = now() WHERE id = $1"


def _in_scope(everything: str, extension: str) -> str:
    """Rows a principal may see: every key of the user (``everything`` true: user rights), or
    only those made from the extension it speaks for (``extension``)."""
    return f"({everything}::bool OR extension_id IS NOT DISTINCT FROM {extension}::int)"


_REVOKE = (
    f"DELETE FROM bridge_api_tokens WHERE id = $1 AND kind = $2 AND user_id = $3 AND {_in_scope('$4', '$5')}"
)
_DEV_KEYS = f"""
SELECT id, user_id, key_hint, description, created_at, updated_at FROM bridge_api_tokens
WHERE user_id = $1 AND kind = 'dev_key' AND {_in_scope("$2", "$3")}
ORDER BY id
"""

# The salt shape XUI writes ("$1$" and 8 characters): the dummy hash costs a real one.
_DUMMY_SALT = "$1$00000000"
_DUMMY_SHA1 = login_sha1("", "", _DUMMY_SALT)
TOO_MANY = RequestError("too many failed attempts from this address", status=429, code="too_many_attempts")


class Authenticator:
    """Checks passwords, issues tokens and resolves them, against one database."""

    def __init__(self, db: Database, config: ApiConfig, metrics: Metrics) -> None:
        self.db = db
        self.config = config
        self.metrics = metrics
        self.attempts = Attempts(db, config)

    async def login(self, login: str, password: str, source: str) -> int:
        """The user id for a web login, or Forbidden (429 when the source is over its limit).

        Known and unknown logins cost the same: one statement (attempts.py) and one hash.
        Only a known login is ever logged by name: an unknown one is often a password typed
        into the login field.
        """
        attempt = await self.attempts.login(login, source)
        if attempt.source_limited:
            self._refused("source_limited", "", source)
            raise TOO_MANY
        known = attempt.user_id is not None
        computed = login_sha1(login, password, attempt.salt if known else _DUMMY_SALT)
        matches = hmac.compare_digest(computed, attempt.sha1 if known else _DUMMY_SHA1)
        if attempt.user_id is None:
            self._refused("bad_credentials", "", source)
            raise Forbidden(WRONG_LOGIN)
        if attempt.locked or attempt.disabled or not attempt.sha1 or not matches:
            if self.attempts.locks(attempt):
                self.metrics.accounts_locked.inc()
                log.warning(
                    "account locked user=%s attempts=%s for_seconds=%g",
                    login,
                    attempt.attempts,
                    self.config.lock_seconds,
                )
            self._refused("account_locked" if attempt.locked else "bad_credentials", login, source)
            raise Forbidden(WRONG_LOGIN)
        await self.attempts.succeeded(attempt.user_id, source)
        return attempt.user_id

    def _refused(self, reason: str, login: str, source: str) -> None:
        self.metrics.login_failures.inc()
        self.metrics.login_refusals.labels(reason).inc()
        log.info("login failed user=%s source=%s reason=%s", login or "<unknown>", source, reason)

    async def issue(
        self, user_id: int, kind: str, description: str = "", *, extension_id: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        """A new token (returned once, never stored) and its stored row. With ``extension_id``
        it speaks only for that extension; otherwise with the user's rights."""
        ttl = None
        if kind == "session":
            await self.db.execute(_EXPIRE_SESSIONS)
            ttl = self.config.token_ttl
        rights = "user" if extension_id is None else "extension"
        token = str(uuid.uuid4())
        row = await self.db.fetchrow(
            _INSERT_TOKEN,
            token_sha256(token),
            kind,
            user_id,
            token[:8],
            description,
            ttl,
            rights,
            extension_id,
        )
        assert row is not None  # INSERT ... RETURNING always returns its row
        return token, dict(row)

    async def resolve(self, token: str) -> Principal | None:
        row = await self.db.fetchrow(_PRINCIPAL, token_sha256(token))
        if row is None or integer(row["disabled"], 0):
            return None
        ttl = row["ttl_seconds"]
        if row["kind"] == "session" and ttl is not None and float(row["idle"]) > min(_TOUCH_EVERY, ttl / 2):
            await self.db.execute(_TOUCH, row["token_id"])
        return Principal(
            token_id=row["token_id"],
            kind=row["kind"],
            user_id=row["user_id"],
            login=row["login"] or "",
            domain=row["domain"] or "",
            is_super=integer(row["is_super"], 0) == 1,
            is_admin=flag(row["is_admin"]),
            user_rights=row["rights"] == "user",
            extension_id=row["extension_id"],
        )

    async def revoke(self, token_id: int, kind: str, principal: Principal) -> bool:
        status = await self.db.execute(_REVOKE, token_id, kind, principal.user_id, *_scope(principal))
        return status != "DELETE 0"

    async def dev_keys(self, principal: Principal) -> list[dict[str, Any]]:
        rows = await self.db.fetch(_DEV_KEYS, principal.user_id, *_scope(principal))
        return [dict(row) for row in rows]


# The admin API's login/session/dev-key checker (re-exported by bridge/api/keys.py).
API_AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("api_authenticator", Authenticator)


def _scope(principal: Principal) -> tuple[bool, int | None]:
    return principal.user_rights, principal.extension_id


AUTH_REFUSED = Unauthorized("unauthorized")


async def authenticated(request: web.Request, refusal: RequestError = AUTH_REFUSED) -> Principal:
    """The principal of the presented token, or ``refusal`` saying nothing about why
    (401 "unauthorized"; the dev-key routes answer the document's 403 "Wrong Auth Id")."""
    token = presented_token(request)
    principal = None if token is None else await request.config_dict[API_AUTHENTICATOR].resolve(token)
    if principal is None:
        raise refusal
    return principal


async def admin(request: web.Request) -> Principal:
    """An administrator of a domain, or a super user, speaking with the user's rights; anyone
    else, and every key made from an extension's SIP credentials, gets 403 "no permission"."""
    principal = await authenticated(request)
    if not principal.user_rights or not (principal.is_super or principal.is_admin):
        raise Forbidden("no permission")
    return principal
