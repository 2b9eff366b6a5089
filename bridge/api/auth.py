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

from bridge.config import ApiConfig
from bridge.db import Database
from bridge.errors import Forbidden, Unauthorized
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
# Compared against when the login does not exist, so both paths do the same work.
_DUMMY_SHA1 = login_sha1("", "", "")


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


_USER_FOR_LOGIN = """
SELECT id, login, sha1, salt, disabled::text AS disabled, is_locked::text AS is_locked
FROM users WHERE login = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1
"""

# '1' is valid input for both spellings of users.is_locked (XUI int, bridge schema boolean).
_LOGIN_FAILED = """
UPDATE users SET login_attempts = COALESCE(login_attempts, 0) + 1,
                 last_login_attempt_at = now(),
                 is_locked = CASE WHEN COALESCE(login_attempts, 0) + 1 >= $2 THEN '1' ELSE is_locked END
WHERE id = $1
RETURNING login_attempts
"""

_LOGIN_SUCCEEDED = """
UPDATE users SET login_attempts = 0, last_login_at = now(), last_login_attempt_at = now() WHERE id = $1
"""

_INSERT_TOKEN = """
INSERT INTO bridge_api_tokens (token_sha256, kind, user_id, key_hint, description)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, user_id, description, created_at, updated_at
"""

_EXPIRE_SESSIONS = """
DELETE FROM bridge_api_tokens
WHERE kind = 'session' AND last_used_at < now() - make_interval(secs => $1)
"""

_PRINCIPAL = """
SELECT t.id AS token_id, t.kind, t.user_id, extract(epoch FROM now() - t.last_used_at) AS idle,
       u.login, u.domain, u.is_super::text AS is_super, u.is_admin::text AS is_admin,
       u.disabled::text AS disabled, u.is_locked::text AS is_locked
FROM bridge_api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_sha256 = $1 AND u.deleted_at IS NULL
  AND (t.kind = 'dev_key' OR t.last_used_at > now() - make_interval(secs => $2))
"""

_TOUCH = "UPDATE bridge_api_tokens SET last_used_at = now() WHERE id = $1"
_REVOKE = "DELETE FROM bridge_api_tokens WHERE id = $1 AND kind = $2 AND user_id = $3"


class Authenticator:
    """Checks passwords, issues tokens and resolves them, against one database."""

    def __init__(self, db: Database, config: ApiConfig, metrics: Metrics) -> None:
        self.db = db
        self.config = config
        self.metrics = metrics

    async def login(self, login: str, password: str) -> int:
        """The user id for a web login, or Forbidden; failures count toward the lock."""
        row = await self.db.fetchrow(_USER_FOR_LOGIN, login)
        if row is None:
            hmac.compare_digest(login_sha1(login, password, ""), _DUMMY_SHA1)
            self._failed(login, "no such user")
            raise Forbidden(WRONG_LOGIN)
        expected = bytes(row["sha1"] or b"")
        matches = hmac.compare_digest(login_sha1(login, password, row["salt"] or ""), expected)
        if flag(row["is_locked"]) or flag(row["disabled"]) or not matches or not expected:
            await self.count_failure(row["id"])
            self._failed(login, "locked" if flag(row["is_locked"]) else "bad password")
            raise Forbidden(WRONG_LOGIN)
        await self.db.execute(_LOGIN_SUCCEEDED, row["id"])
        user_id: int = row["id"]
        return user_id

    async def count_failure(self, user_id: int) -> None:
        attempts = await self.db.fetchval(_LOGIN_FAILED, user_id, self.config.max_login_attempts)
        if attempts is not None and attempts >= self.config.max_login_attempts:
            log.warning("account locked user_id=%s attempts=%s", user_id, attempts)

    def _failed(self, login: str, reason: str) -> None:
        self.metrics.login_failures.inc()
        log.info("login failed user=%s reason=%s", login, reason)

    async def issue(self, user_id: int, kind: str, description: str = "") -> tuple[str, dict[str, Any]]:
        """A new token (returned once, never stored) and its stored row."""
        if kind == "session":
            await self.db.execute(_EXPIRE_SESSIONS, self.config.token_ttl)
        token = str(uuid.uuid4())
        row = await self.db.fetchrow(
            _INSERT_TOKEN, token_sha256(token), kind, user_id, token[:8], description
        )
        assert row is not None  # INSERT ... RETURNING always returns its row
        return token, dict(row)

    async def resolve(self, token: str) -> Principal | None:
        row = await self.db.fetchrow(_PRINCIPAL, token_sha256(token), self.config.token_ttl)
        if row is None or flag(row["is_locked"]) or integer(row["disabled"], 0):
            return None
        if row["kind"] == "session" and float(row["idle"]) > min(_TOUCH_EVERY, self.config.token_ttl / 2):
            await self.db.execute(_TOUCH, row["token_id"])
        return Principal(
            token_id=row["token_id"],
            kind=row["kind"],
            user_id=row["user_id"],
            login=row["login"] or "",
            domain=row["domain"] or "",
            is_super=integer(row["is_super"], 0) == 1,
            is_admin=flag(row["is_admin"]),
        )

    async def revoke(self, token_id: int, kind: str, user_id: int) -> bool:
        status = await self.db.execute(_REVOKE, token_id, kind, user_id)
        return status != "DELETE 0"

    async def dev_keys(self, user_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT id, user_id, key_hint, description, created_at, updated_at FROM bridge_api_tokens"
            " WHERE user_id = $1 AND kind = 'dev_key' ORDER BY id",
            user_id,
        )
        return [dict(row) for row in rows]


# The admin API's login/session/dev-key checker (re-exported by bridge/api/keys.py).
API_AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("api_authenticator", Authenticator)


async def authenticated(request: web.Request) -> Principal:
    """The principal of the presented token, or 401 saying nothing about why."""
    token = presented_token(request)
    principal = None if token is None else await request.config_dict[API_AUTHENTICATOR].resolve(token)
    if principal is None:
        raise Unauthorized("unauthorized")
    return principal


async def admin(request: web.Request) -> Principal:
    """An administrator of a domain, or a super user; anyone else gets 403 "no permission"."""
    principal = await authenticated(request)
    if not (principal.is_super or principal.is_admin):
        raise Forbidden("no permission")
    return principal
