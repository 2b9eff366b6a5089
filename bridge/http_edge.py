"""Below any route: what a request aiohttp's parser refused gets, and what is counted and logged
for it and for a connection ``http.header_timeout`` cut (the hooks: bridge/http_server.py).

A refused request gets the error shape of the endpoint it was aimed at, when its target
can be read back from the parser's error: ``/directory...`` the directory's one-line text
reason (bridge/directory/handler.py), anything else, or a target that cannot be read
(a request line cut short, an error in a header), the admin API's XUI error JSON
(bridge/api/edge.py). Both are logged at DEBUG without a traceback and counted, so a
hostile client cannot fill the log; no byte of the request is logged or sent back.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bridge.api.edge import error_response
from bridge.directory.handler import text_refusal
from bridge.http_server import REFUSAL_KINDS, TIMEOUT_STATES, ParseFailure
from bridge.logs import escape
from bridge.metrics import Metrics

log = logging.getLogger(__name__)

DIRECTORY_PREFIX = "/directory"


class HttpEdge:
    def __init__(self, metrics: Metrics) -> None:
        self._refused = {kind: metrics.http_refused.labels(kind) for kind in REFUSAL_KINDS}
        self._timeouts = {state: metrics.http_header_timeouts.labels(state) for state in TIMEOUT_STATES}

    def refused(self, failure: ParseFailure) -> web.StreamResponse:
        self._refused[failure.kind].inc()
        directory = failure.target is not None and failure.target.startswith(DIRECTORY_PREFIX)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "http request refused status=%d kind=%s endpoint=%s peer=%s detail=%s",
                failure.status,
                failure.kind,
                "directory" if directory else "api",
                escape(failure.peer or "-"),
                escape(failure.detail),
            )
        if directory:
            return text_refusal(failure.status, failure.reason)
        return error_response(failure.status, failure.reason)

    def timed_out(self, state: str, peer: str | None) -> None:
        self._timeouts[state].inc()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("connection closed by http.header_timeout state=%s peer=%s", state, escape(peer or "-"))
