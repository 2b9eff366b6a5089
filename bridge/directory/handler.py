"""POST /directory: the edge. Who may ask, how much, parse, answer, count, log.

    POST /directory -> handler.py -> form.py -> answers.py (store: cache | db; memo)
                    -> lookup.py -> render.py

A client's mistake is a 4xx with a one-line text reason. A database that cannot answer
is a 503: mod_xml_curl treats any non-200 as "this binding failed" and tries the next
binding (or the static XML), whereas a not-found would be final (the phone gets 403).
Anything unexpected is logged once with its traceback and answered 500, one line, so no
traceback reaches the wire. No app has a middleware (aiohttp would run the chain for
every lookup), so this handler is its own edge; it tags its log lines with a request id only when it logs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hmac
import ipaddress
import logging
import time

from aiohttp import web

from bridge.addresses import address_of
from bridge.config import DirectoryConfig
from bridge.directory import lookup
from bridge.directory.answers import Answerer, Rendered
from bridge.directory.form import LOOKUP_ACTIONS, Kind, read_fields, request_of
from bridge.directory.guarded import LookupGuard
from bridge.directory.store.protocol import DirectoryStore
from bridge.directory.whole import Busy, WholeAnswers
from bridge.errors import DatabaseUnavailable, Forbidden, RequestError, SlowBody, Unauthorized
from bridge.logs import id_for, request_id
from bridge.metrics import Metrics, bound

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded"
XML_TYPE = "text/xml"


class DirectoryEndpoint:
    """POST /directory, complete when constructed: ``store`` is what lookups read (the cache
    in front of PostgreSQL); ``guard`` the registration guard when it is on (asked on every
    sip_auth lookup)."""

    def __init__(
        self,
        config: DirectoryConfig,
        max_body_bytes: int,
        metrics: Metrics,
        store: DirectoryStore,
        whole: WholeAnswers,
        *,
        guard: LookupGuard | None = None,
        body_timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._max_body = max_body_bytes
        self._body_timeout = body_timeout
        self._max_value_chars = config.max_value_chars
        self._refused = metrics.refused
        self._disconnects = metrics.disconnects
        self._credentials = (
            f"{config.username}:{config.password}".encode() if config.username or config.password else b""
        )
        networks = tuple(ipaddress.ip_network(c, strict=False) for c in config.allow_from)
        # Neither allow_from nor credentials: loopback only (the local FreeSWITCH).
        self._networks = networks or (() if self._credentials else LOOPBACK)
        # Parsing the peer's address costs ~3 µs a lookup, and FreeSWITCH asks from the same
        # few addresses: the answer is remembered per address (bounded: a scan only evicts).
        self._admitted = functools.lru_cache(maxsize=_PEERS_REMEMBERED)(
            functools.partial(admitted, networks=self._networks)
        )
        # What a form claims (its ip, user agent, digest) is evidence for the guard only when
        # the gate says who sent it: a network short of "anyone", or the credentials.
        self._evidence = bool(self._credentials) or not any(n.prefixlen == 0 for n in networks)
        if not self._evidence:
            log.warning(
                "directory.allow_from admits any address without credentials: the guard ignores"
                " what lookups claim (set directory.username/password to have it judge them)"
            )
        self._metrics = _LookupMetrics(metrics)
        memo = {r: metrics.answer_cache_requests.labels(r) for r in ("hit", "miss")}
        # Without the extension cache every lookup reads a new Extension object, which a
        # memo entry can never match: keeping entries would only cost each miss.
        memo_size = config.answer_cache_size if config.cache_size > 0 else 0
        self.answerer = Answerer(policy_of(config), memo_size, lambda result: memo[result].inc(), whole)
        self.guard = guard
        # The fields the guard reads, decoded with the endpoint's own (form.read_fields).
        self._also = guard.fields if guard is not None else _NONE

    async def handle(self, request: web.Request) -> web.Response:
        try:
            return await self._handle(request)
        except ConnectionError:
            # The client went away mid-request (aiohttp raises a ConnectionResetError):
            # nothing to answer and nothing wrong here, so no traceback, not a lookup error.
            self._disconnects.inc()
            if log.isEnabledFor(logging.DEBUG):
                _tag(request)
                log.debug("directory request abandoned: client disconnected")
            # Nobody reads it; aiohttp drops the write to a closed connection quietly.
            return web.Response(status=400, text="client disconnected\n")
        except Exception:
            _tag(request)
            log.exception("directory request failed: unexpected error")
            self._metrics.error("other")
            return web.Response(status=500, text="internal error\n")

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            self._admit(request)
            body = await self._body(request)
            fields = read_fields(body, self._also)
            form = request_of(fields, max_value_chars=self._max_value_chars)
        except RequestError as exc:
            self._metrics.rejected.inc()
            self._refused.labels(exc.code).inc()
            _tag(request)
            log.info(
                "directory request refused status=%d code=%s reason=%s", exc.status, exc.code, exc.reason
            )
            headers = {"WWW-Authenticate": 'Basic realm="bridge"'} if exc.status == 401 else None
            response = text_refusal(exc.status, exc.reason, headers)
            if exc.status == 408:
                response.force_close()  # the rest of a dripped body is never read: cut
            return response
        action = form.action if form.action in LOOKUP_ACTIONS else "other"
        # Only a request that passed the gate (_admit) gets here: its fields are evidence.
        guard = self.guard if form.kind is Kind.SIP_AUTH and self._evidence else None
        if guard is not None and (refusal := guard.refused(fields, form)) is not None:
            guard.observe(fields, form, refusal, "")
            self._metrics.count(action, _REFUSED, time.perf_counter() - started)
            return web.Response(body=_REFUSED.body, headers=_XML_HEADERS)
        try:
            answer = await self.answerer.answer(self._store, form)
        except DatabaseUnavailable as exc:
            self._metrics.error(action)
            _tag(request)
            log.warning(
                "directory lookup failed action=%s user=%s domain=%s error=%s",
                action,
                form.user,
                form.domain,
                exc,
            )
            return web.Response(status=503, text="database unavailable\n")
        except Busy as exc:
            self._refused.labels(exc.code).inc()
            _tag(request)
            log.warning(
                "directory lookup refused action=%s domain=%s reason=%s", action, form.domain, exc.reason
            )
            return web.Response(status=exc.status, text=exc.reason + "\n")
        self._metrics.count(action, answer, time.perf_counter() - started)
        if guard is not None:
            guard.observe(fields, form, answer.reason, answer.realm_mismatch, answer.extension)
        # One line per lookup at debug: FreeSWITCH asks on every REGISTER, INVITE and
        # SUBSCRIBE, and at info the line costs more than the answer (redaction included).
        if log.isEnabledFor(logging.DEBUG):
            _tag(request)
            log.debug(
                "directory lookup action=%s user=%s domain=%s result=%s",
                action,
                form.user or form.group,
                form.domain,
                answer.reason,
            )
        return web.Response(body=answer.body, headers=_XML_HEADERS)

    def _admit(self, request: web.Request) -> None:
        if self._networks and not self._admitted(request.remote):
            raise Forbidden("source address not allowed")
        if self._credentials:
            offered = b""
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "basic":
                try:
                    offered = base64.b64decode(token.strip(), validate=True)
                except (binascii.Error, ValueError):
                    offered = b""
            if not hmac.compare_digest(offered, self._credentials):
                raise Unauthorized("credentials required")
        if request.content_type != FORM_TYPE:
            raise RequestError(f"content type must be {FORM_TYPE}", status=415, code="bad_content_type")
        length = request.content_length
        if length is not None and length > self._max_body:
            raise RequestError("body too large", status=413, code="too_large")

    async def _body(self, request: web.Request) -> bytes:
        try:
            if request.content.is_eof():
                # The whole body has arrived (mod_xml_curl sends it with the head): nothing
                # to wait for, so no timer to arm and cancel (~4 µs of every lookup).
                return await request.read()
            async with asyncio.timeout(self._body_timeout):
                return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise RequestError("body too large", status=413, code="too_large") from exc
        except TimeoutError:
            # A client dripping its body holds a connection and a task: cut it.
            raise SlowBody(self._body_timeout) from None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def admitted(remote: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether the peer address is inside one of ``networks``; an IPv4 client of a dual-stack
    socket (``::ffff:10.0.0.5``) is compared as the IPv4 address it is."""
    address = address_of(remote or "")
    return address is not None and any(address in network for network in networks)


def policy_of(config: DirectoryConfig) -> lookup.Policy:
    """What the answers may carry, from the directory's settings."""
    return lookup.Policy(
        config.send_password,
        config.realm_mismatch,
        cacheable_ms=config.fs_cacheable_ms,
        trust_extn_cidr=config.trust_extn_cidr,
    )


def whole_answers(config: DirectoryConfig, metrics: Metrics) -> WholeAnswers:
    """The whole-directory answers (whole.py) an endpoint and its cache share."""
    return WholeAnswers(
        policy_of(config),
        max_building=config.whole_max_building,
        max_waiting=config.whole_max_waiting,
        slice_users=config.whole_slice_users,
        count=lambda result: metrics.whole_answers.labels(result).inc(),
    )


def text_refusal(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    """The directory's answer to a refused request: the status and a one-line text reason."""
    return web.Response(status=status, text=reason + "\n", headers=headers)


_NONE: frozenset[str] = frozenset()
_PEERS_REMEMBERED = 1024  # peer addresses whose admission (directory.allow_from) is kept
_XML_HEADERS = {"Content-Type": f"{XML_TYPE}; charset=utf-8"}
# A banned source's lookup: not found at once (FreeSWITCH then answers 403).
_REFUSED = Rendered.of(lookup.not_found("banned"))


def _tag(request: web.Request) -> None:
    """Give the request's log lines an id: the caller's X-Request-Id, or a fresh one.

    Only called before a line is logged, so a lookup that logs nothing pays nothing. No
    reset needed: aiohttp runs each request in its own task, i.e. its own context copy.
    """
    if request_id.get() == "-":
        request_id.set(id_for(request.headers))


class _LookupMetrics:
    """The lookup's counter and histogram, each child bound on its first use and kept
    (``labels()`` takes a lock and builds a key on every call; a series still appears only
    once it is counted). Labels are bounded: every action is one of LOOKUP_ACTIONS."""

    def __init__(self, metrics: Metrics) -> None:
        self.rejected = metrics.lookups.labels("other", "rejected")
        self._lookups = metrics.lookups
        self._answered = bound(metrics.lookups)
        self._timed = bound(metrics.lookup_seconds)
        self._realm_mismatches = metrics.realm_mismatches

    def error(self, action: str) -> None:
        self._lookups.labels(action, "error").inc()

    def count(self, action: str, answer: Rendered, seconds: float) -> None:
        self._answered(action, "found" if answer.found else "not_found").inc()
        self._timed(action).observe(seconds)
        if answer.realm_mismatch:
            self._realm_mismatches.labels(answer.realm_mismatch).inc()
