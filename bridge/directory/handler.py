"""POST /directory: the edge. Who may ask, how much, parse, one store call, decide, render.

    POST /directory -> handler.py -> form.py -> store (cache | db) -> lookup.py -> render.py

A client's mistake is a 4xx with a one-line text reason. A database that cannot answer
is a 503: mod_xml_curl treats any non-200 as "this binding failed" and tries the next
binding (or the static XML), whereas a not-found would be final (the phone gets 403).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import time

from aiohttp import web

from bridge.config import DirectoryConfig
from bridge.directory import lookup, render
from bridge.directory.form import DirectoryRequest, Kind, parse_form
from bridge.directory.store import DirectoryStore
from bridge.errors import DatabaseUnavailable, Forbidden, RequestError, Unauthorized
from bridge.keys import CONFIG, DIRECTORY_STORE, METRICS
from bridge.metrics import LOOKUP_ACTIONS, Metrics

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded"
XML_TYPE = "text/xml"


class DirectoryEndpoint:
    def __init__(self, config: DirectoryConfig, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes
        self._networks = tuple(ipaddress.ip_network(c, strict=False) for c in config.allow_from)
        self._credentials = (
            f"{config.username}:{config.password}".encode() if config.username or config.password else b""
        )
        self._policy = lookup.Policy(config.send_password, config.realm_mismatch)

    async def handle(self, request: web.Request) -> web.Response:
        metrics = request.app[METRICS]
        started = time.perf_counter()
        try:
            self._admit(request)
            form = parse_form(await self._body(request))
        except RequestError as exc:
            metrics.lookups.labels("other", "rejected").inc()
            log.info(
                "directory request refused status=%d code=%s reason=%s", exc.status, exc.code, exc.reason
            )
            headers = {"WWW-Authenticate": 'Basic realm="bridge"'} if exc.status == 401 else None
            return web.Response(status=exc.status, text=exc.reason + "\n", headers=headers)
        action = form.action if form.action in LOOKUP_ACTIONS else "other"
        try:
            answer = await decide(request.app[DIRECTORY_STORE], form, self._policy)
        except DatabaseUnavailable as exc:
            metrics.lookups.labels(action, "error").inc()
            log.warning(
                "directory lookup failed action=%s user=%s domain=%s error=%s",
                action,
                form.user,
                form.domain,
                exc,
            )
            return web.Response(status=503, text="database unavailable\n")
        body = render.render(answer)
        _count(metrics, action, answer, time.perf_counter() - started)
        log.info(
            "directory lookup action=%s user=%s domain=%s result=%s",
            action,
            form.user or form.group,
            form.domain,
            answer.reason,
        )
        return web.Response(body=body, content_type=XML_TYPE, charset="utf-8")

    def _admit(self, request: web.Request) -> None:
        if self._networks:
            try:
                address = ipaddress.ip_address((request.remote or "").split("%")[0])
            except ValueError as exc:
                raise Forbidden("source address not allowed") from exc
            if not any(address in network for network in self._networks):
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
        if request.content_length is not None and request.content_length > self._max_body:
            raise RequestError("body too large", status=413, code="too_large")

    async def _body(self, request: web.Request) -> bytes:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise RequestError("body too large", status=413, code="too_large") from exc


async def decide(store: DirectoryStore, form: DirectoryRequest, policy: lookup.Policy) -> lookup.Answer:
    """One store call per lookup (list_users over every domain is the one exception)."""
    if form.kind in lookup.PER_USER:
        if form.user_domain and form.user_domain != form.domain:
            return lookup.not_found("unknown")
        return lookup.answer_user(form, await store.get(form.domain, form.extn), policy)
    if form.kind is Kind.GROUP_CALL:
        return lookup.answer_group(form, await store.domain(form.domain))
    if form.kind is Kind.NETWORK_LIST:
        return lookup.answer_network_list(form, await store.domain(form.domain))
    if form.kind is Kind.XML_LOCATE:
        return lookup.answer_locate(form, await store.domains())
    if form.kind is Kind.GATEWAYS:
        return lookup.answer_gateways(await store.domains())
    # list_users: FreeSWITCH filters the whole domain (or directory) itself.
    names = [form.domain] if form.domain else list(await store.domains())
    found = [lookup.answer_domain_users(name, await store.domain(name)) for name in names]
    return lookup.answer_list_users([d for d in found if d is not None])


def _count(metrics: Metrics, action: str, answer: lookup.Answer, seconds: float) -> None:
    metrics.lookups.labels(action, "found" if answer.found else "not_found").inc()
    metrics.lookup_seconds.labels(action).observe(seconds)
    if answer.realm_mismatch:
        metrics.realm_mismatches.labels(answer.realm_mismatch).inc()


def setup(app: web.Application) -> None:
    config = app[CONFIG]
    endpoint = DirectoryEndpoint(config.directory, config.http.max_body_bytes)
    app.router.add_post("/directory", endpoint.handle)
