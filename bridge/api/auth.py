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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from bridge.api.login_limits import Attempts, Decision
from bridge.config import ApiConfig
from bridge.db import Database
from bridge.errors import Forbidden, RequestError, Unauthorized
from bridge.hashes import login_sha1
from bridge.metrics import Metrics
from bridge.xui_values import flag, integer

log = logging.getLogger(__name__)

HEADER = "X-XTRA-AUTH-ID"
COOKIE = "freeswitch_xtra_session_id"
# A request authenticated by the cookie alone with an unsafe method must carry this header
# with csrf_token(token): a page on another site can make a browser send the cookie but can
# neither read the token nor set this header. XUI clients sending HEADER are not affected.
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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
    # extension (extension_id; None for keys older than sql/040) and never as its owner,
    # unless api.sip_credential_keys = "owner" (XUI's behaviour).
    user_rights: bool = True
    extension_id: int | None = None
    # The extension such a key speaks for (its number and domain), when it still exists.
    extension: ExtensionRef | None = None

    @property
    def domain_scope(self) -> str | None:
        """The one domain this principal may see, or None for every domain (super user); an
        extension's key sees its extension's domain."""
        if not self.user_rights and self.extension is not None:
            return self.extension.domain
        return None if self.is_super else self.domain

    @property
    def administers(self) -> bool:
        """Speaks with the rights of an administrator (of a domain, or super)."""
        return self.user_rights and (self.is_super or self.is_admin)


@dataclass(frozen=True, slots=True)
class ExtensionRef:
    """The extension a key made from SIP credentials speaks for."""

    id: int
    extn: str
    domain: str

    def is_user(self, user: str) -> bool:
        """``user`` (EXTN@DOMAIN, the guard's spelling) names this extension."""
        extn, _, domain = user.partition("@")
        return extn == self.extn and domain.lower() == self.domain.lower()


def token_sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from it, so no state is kept; it reveals nothing
    of the session token (a preimage of SHA-256)."""
    return hashlib.sha256(b"bridge-csrf\0" + token.encode()).hexdigest()


def _csrf_refused(request: web.Request) -> bool:
    """A cookie-only request with an unsafe method and no (or a wrong) CSRF header."""
    if request.method in _SAFE_METHODS or request.headers.get(HEADER):
        return False
    token = (request.cookies.get(COOKIE) or "").strip()
    sent = request.headers.get(CSRF_HEADER, "")
    return not hmac.compare_digest(sent.encode(), csrf_token(token).encode())


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
       u.disabled::text AS disabled, e.extn AS ext_extn, e.domain AS ext_domain
FROM bridge_api_tokens t JOIN users u ON u.id = t.user_id
LEFT JOIN extensions e ON e.id = t.extension_id AND e.deleted_at IS NULL
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

# Any user's keys, for an administrator (bridge/api/user_keys.py).
_KEYS_OF = """
SELECT t.id, t.user_id, t.key_hint, t.description, t.created_at, t.updated_at, t.rights,
       t.extension_id, e.extn
FROM bridge_api_tokens t LEFT JOIN extensions e ON e.id = t.extension_id
WHERE t.user_id = $1 AND t.kind = 'dev_key'
ORDER BY t.id
"""
_REVOKE_KEYS_OF = (
    "DELETE FROM bridge_api_tokens WHERE user_id = $1 AND kind = 'dev_key' AND ($2::int IS NULL OR id = $2)"
)

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

        The password is checked first, then the attempt decided (login_limits.py): a right
        password is refused only by a lock, never answered "wrong" for a race. Known and
        unknown logins cost the same: one read, one hash, one decision. Only a known login
        is ever logged by name: an unknown one is often a password typed into the login field.
        """
        account = await self.attempts.account(login)
        salt, expected = (account.salt, account.sha1) if account else (_DUMMY_SALT, _DUMMY_SHA1)
        matches = hmac.compare_digest(login_sha1(login, password, salt), expected)
        if account is None:
            decision = await self.attempts.decide(None, source, matches=False)
        else:
            matches = matches and bool(account.sha1) and not account.disabled
            decision = await self.attempts.decide(account.user_id, source, matches=matches, sha1=account.sha1)
        if decision.outcome == "source_limited":
            self._refused("source_limited", "", source)
            raise TOO_MANY
        if account is None or not decision.ok:
            self._locked(decision, login, source)
            reason = decision.outcome if decision.outcome.endswith("_locked") else "bad_credentials"
            self._refused(reason, login if account else "", source)
            raise Forbidden(WRONG_LOGIN)
        return account.user_id

    def _locked(self, decision: Decision, login: str, source: str) -> None:
        if not decision.lock_started:
            return
        self.metrics.source_locks.inc()
        if decision.lock_started == "account":
            self.metrics.accounts_locked.inc()
        log.warning(
            "login locked user=%s for=%s source=%s attempts=%s for_seconds=%g",
            login,
            "everyone" if decision.lock_started == "account" else "source",
            source,
            decision.failures,
            self.config.lock_seconds,
        )

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
        extension = None
        if row["extension_id"] is not None and row["ext_extn"] is not None:
            extension = ExtensionRef(row["extension_id"], row["ext_extn"], row["ext_domain"] or "")
        # Decided when the key is used, not when it was made: switching the setting back to
        # "extension" takes the owner's rights from every key at once.
        as_owner = row["kind"] == "dev_key" and self.config.sip_credential_keys == "owner"
        return Principal(
            token_id=row["token_id"],
            kind=row["kind"],
            user_id=row["user_id"],
            login=row["login"] or "",
            domain=row["domain"] or "",
            is_super=integer(row["is_super"], 0) == 1,
            is_admin=flag(row["is_admin"]),
            user_rights=row["rights"] == "user" or as_owner,
            extension_id=row["extension_id"],
            extension=extension,
        )

    async def revoke(self, token_id: int, kind: str, principal: Principal) -> bool:
        status = await self.db.execute(_REVOKE, token_id, kind, principal.user_id, *_scope(principal))
        return status != "DELETE 0"

    async def dev_keys(self, principal: Principal) -> list[dict[str, Any]]:
        rows = await self.db.fetch(_DEV_KEYS, principal.user_id, *_scope(principal))
        return [dict(row) for row in rows]

    async def keys_of(self, user_id: int) -> list[dict[str, Any]]:
        """Every developer key of a user (an administrator's view)."""
        return [dict(row) for row in await self.db.fetch(_KEYS_OF, user_id)]

    async def revoke_keys_of(self, user_id: int, key_id: int | None) -> int:
        """Delete one of a user's keys (``key_id``) or all of them; how many went."""
        status = await self.db.execute(_REVOKE_KEYS_OF, user_id, key_id)
        return int(status.split()[-1])


# The admin API's login/session/dev-key checker (re-exported by bridge/api/keys.py).
API_AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("api_authenticator", Authenticator)


def _scope(principal: Principal) -> tuple[bool, int | None]:
    return principal.user_rights, principal.extension_id


async def keep_presented_token(conn: asyncpg.Connection, request: web.Request) -> None:
    """In a transaction changing the caller's own web password: the token presented (the
    session that gave the old password) survives the change; every other session and
    session-made key of the user ends (sql/066)."""
    token = presented_token(request)
    if token is not None:
        await conn.execute("SELECT set_config('bridge.keep_token', $1, true)", token_sha256(token).hex())


AUTH_REFUSED = Unauthorized("unauthorized")
CSRF_REFUSED = Forbidden("missing or wrong X-CSRF-Token")


async def authenticated(request: web.Request, refusal: RequestError = AUTH_REFUSED) -> Principal:
    """The principal of the presented token, or ``refusal`` saying nothing about why
    (401 "unauthorized"; the dev-key routes answer the document's 403 "Wrong Auth Id")."""
    token = presented_token(request)
    principal = None if token is None else await request.config_dict[API_AUTHENTICATOR].resolve(token)
    if principal is None:
        raise refusal
    if _csrf_refused(request):
        raise CSRF_REFUSED
    return principal


async def admin(request: web.Request) -> Principal:
    """An administrator of a domain, or a super user, speaking with the user's rights; anyone
    else, and every key made from an extension's SIP credentials, gets 403 "no permission"."""
    principal = await authenticated(request)
    if not principal.administers:
        raise Forbidden("no permission")
    return principal


async def reader(request: web.Request, own: Callable[[ExtensionRef], bool]) -> Principal:
    """Who may read one extension's record, registrations and guard attempts: an
    administrator (the handler scopes it to its domains), or a key made from that
    extension's SIP credentials, for which ``own`` says whether the request is about it.
    Anyone else gets 403 "no permission"."""
    principal = await authenticated(request)
    if principal.administers:
        return principal
    if not principal.user_rights and principal.extension is not None and own(principal.extension):
        return principal
    raise Forbidden("no permission")
