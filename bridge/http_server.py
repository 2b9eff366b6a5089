"""bridge's own aiohttp server edge: the one module that relies on aiohttp's private internals.

Below any route, aiohttp's protocol (``web.RequestHandler``) parses each connection's bytes.
Two things happen there that no application code sees, and this module hooks both:

* a request the HTTP parser refuses (raw non-ASCII bytes in the request line, a bad header,
  a line too long, a bad method) gets ``Edge.refused``'s answer instead of aiohttp's
  text/plain 400, and nothing is logged at ERROR (aiohttp logs each with a traceback);
* a connection that aiohttp's keep-alive timer (``http.header_timeout``, set through the
  app's ``handler_args``) cuts is reported to ``Edge.timed_out`` with what it had sent since
  it opened or since its previous response: part of a request head (``partial_head``: a slow
  or stalled client), nothing since a response (``idle``: a kept-alive connection left
  unused), or nothing at all (``no_request``).

``EdgeRunner`` (an ``AppRunner``) serves the app through ``EdgeServer``, whose protocol is
``EdgeHandler``; ``run`` is ``web.run_app`` with that runner; the tests' servers use the
same runner (tests/conftest.py), so every test goes through this edge.

Cost on the request path: ``EdgeHandler.data_received`` copies one float attribute per
chunk received, then calls aiohttp's own; nothing else runs per request. The keep-alive
timer tells the states apart by which timer period a connection's last bytes arrived in:
aiohttp re-arms the timer after every response, body bytes arrive before the response,
so bytes heard in the period that is ending are a request head that never completed.
(One blind spot: a pipelined partial head that came in the same read as the previous
request, and nothing after it, counts as ``idle``.)

Private aiohttp names relied on, verified in aiohttp 3.14.4 and 3.14.5 (pyproject pins
``>=3.14.4,<3.15``; tests/test_http_server.py fails if one of these changes):

* ``web_runner.AppRunner._make_server`` (overridden: returns an ``EdgeServer``);
* ``web_server.Server._kwargs`` and ``Server._loop`` (what ``Server.__call__`` builds each
  protocol from; ``EdgeServer.__call__`` builds an ``EdgeHandler`` from the same);
* ``web_protocol.RequestHandler._process_keepalive`` (the keep-alive timer's callback,
  wrapped), ``._next_keepalive_close_time`` (the end of the current timer period, read),
  ``._force_close`` (set when the timer cuts, read) and ``._request_count`` (read);
* that aiohttp calls ``RequestHandler.handle_error(request, 400, exc)`` with the parser's
  ``HttpProcessingError`` for a request it could not parse (``_make_error_handler``), and
  the text of the C parser's errors, which quote the offending line as a bytes literal
  (read back, best effort, to find the request target: ``refused_target``). The C parser
  is aiohttp's default; with ``AIOHTTP_NO_EXTENSIONS`` its pure-Python parser accepts
  some of these requests and quotes nothing, so a refusal then gets the API's shape;
* in the tests only, ``test_utils.TestServer._make_runner`` (tests/conftest.py overrides it).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)

# What a connection cut by the keep-alive timer had sent since it opened or since its
# previous response.
PARTIAL_HEAD = "partial_head"
IDLE = "idle"
NO_REQUEST = "no_request"
TIMEOUT_STATES = (PARTIAL_HEAD, IDLE, NO_REQUEST)

# Why the parser refused a request: (bounded metric label, one-line reason for the client).
_KINDS: tuple[tuple[type[HttpProcessingError], str, str], ...] = (
    (BadHttpMethod, "bad_method", "bad request method"),  # before BadStatusLine, its base
    (BadStatusLine, "bad_request_line", "bad request line"),
    (InvalidURLError, "bad_target", "bad character in the request target (percent-encode it)"),
    (LineTooLong, "too_long", "request line or header too long"),
    (InvalidHeader, "bad_header", "bad request header"),
)
MALFORMED = ("malformed", "malformed request")
BAD_HEADER = ("bad_header", "bad request header")
REFUSAL_KINDS = (*(kind for _, kind, _ in _KINDS), MALFORMED[0])


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """A request aiohttp's parser refused: nothing of it reached a route."""

    status: int
    kind: str  # one of REFUSAL_KINDS
    reason: str  # safe to send: no byte of the request in it
    target: str | None  # the request target when it could be read back (latin-1), else None
    detail: str  # aiohttp's description of the error, no byte of the request in it
    peer: str | None


class Edge(Protocol):
    """What bridge answers, counts and logs at this level (bridge/http_edge.py)."""

    def refused(self, failure: ParseFailure) -> web.StreamResponse: ...

    def timed_out(self, state: str, peer: str | None) -> None: ...


EDGE: web.AppKey[Edge] = web.AppKey("http_edge")


def classify(exc: HttpProcessingError) -> tuple[str, str]:
    """(kind, reason) of a parser error."""
    for kind_type, kind, reason in _KINDS:
        if isinstance(exc, kind_type):
            return kind, reason
    # llhttp reports header errors as plain BadHttpMessage ("Invalid header token", "Too
    # many headers received", "Invalid header value char").
    return BAD_HEADER if "header" in exc.message.lower() else MALFORMED


# The C parser's message quotes the line it choked on as a bytes literal on a line of its own.
_QUOTED = re.compile(r"""^\s*(b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")\s*$""", re.MULTILINE)


def refused_target(exc: HttpProcessingError) -> str | None:
    """The request target of a refused request, when the error shows it; else None.

    Best effort: a request line with a bad method, target or version is quoted in the
    error; a header error quotes the header line (no target); a request line too long
    carries its first 100 bytes. The target is returned as latin-1 text (every byte kept).
    """
    line: bytes | None = None
    if isinstance(exc, LineTooLong):
        first = exc.args[0] if exc.args else None
        if isinstance(first, bytes | bytearray) and first.startswith(b"/"):
            return bytes(first).decode("latin-1")
        return None
    match = _QUOTED.search(exc.message)
    if match is not None:
        with contextlib.suppress(ValueError, SyntaxError):
            quoted = ast.literal_eval(match.group(1))
            if isinstance(quoted, bytes):
                line = quoted
    if line is None:
        return None
    parts = line.split(b" ")
    if len(parts) >= 2 and parts[1].startswith(b"/"):
        return parts[1].decode("latin-1")
    return None


def _detail(exc: HttpProcessingError) -> str:
    """aiohttp's words for the error, without the quoted bytes ("Invalid char in url path")."""
    return exc.message.partition(":")[0][:100]


_data_received = web.RequestHandler.data_received


class EdgeHandler(web.RequestHandler):
    """aiohttp's protocol, with refusals and keep-alive cuts handed to an ``Edge``."""

    __slots__ = ("_edge", "_heard_in")

    def __init__(self, manager: web.Server, edge: Edge, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._edge = edge
        # The keep-alive period (its end) in which the last bytes arrived; 0: none yet.
        self._heard_in = 0.0

    def data_received(self, data: bytes) -> None:
        self._heard_in = self._next_keepalive_close_time
        _data_received(self, data)

    def _process_keepalive(self) -> None:
        closing, period = self._force_close, self._next_keepalive_close_time
        super()._process_keepalive()
        if self._force_close and not closing:  # the timer cut it: nothing complete arrived in time
            if self._heard_in == period:
                state = PARTIAL_HEAD
            elif self._request_count == 0:
                state = NO_REQUEST
            else:
                state = IDLE
            peer = self.peername
            self._edge.timed_out(state, peer[0] if isinstance(peer, tuple) else peer)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or not isinstance(exc, HttpProcessingError):
            # A handler's own failure (a bug: bridge's edges catch everything else):
            # aiohttp's answer and its logged traceback.
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("response already started, cannot send the error")
        kind, reason = classify(exc)
        failure = ParseFailure(status, kind, reason, refused_target(exc), _detail(exc), request.remote)
        response = self._edge.refused(failure)
        response.force_close()  # the parser's state is lost: the connection cannot go on
        return response


class EdgeServer(web.Server):
    """aiohttp's low-level server, building an ``EdgeHandler`` per connection."""

    def __init__(self, handler: Any, *, edge: Edge, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.edge = edge

    def __call__(self) -> EdgeHandler:
        return EdgeHandler(self, self.edge, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """``AppRunner`` serving through ``EdgeServer``; the edge is ``app[EDGE]``."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # the app's startup, then aiohttp's own Server
        edge = self.app.get(EDGE)
        if edge is None:
            raise RuntimeError("the app has no http_server.EDGE (bridge.app.create_app sets it)")
        return EdgeServer(
            plain.request_handler,
            edge=edge,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )


def serving_runner(
    app: web.Application, *, shutdown_timeout: float, handle_signals: bool = False
) -> EdgeRunner:
    """The runner with ``web.run_app``'s settings, as ``bridge serve`` uses it.

    No handler cancellation (run_app's default: a request whose client left still
    finishes), no access log, run_app's keep-alive default (``http.header_timeout``
    replaces it through the app's ``handler_args``). ``handle_signals``: SIGINT and
    SIGTERM raise ``web.GracefulExit`` in the loop (``run``; never in a test process).
    """
    return EdgeRunner(
        app,
        handle_signals=handle_signals,
        handler_cancellation=False,
        keepalive_timeout=75.0,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
    )


async def _serve(
    app: web.Application, host: str, port: int, shutdown_timeout: float, reuse_port: bool
) -> None:
    runner = serving_runner(app, shutdown_timeout=shutdown_timeout, handle_signals=True)
    # setup() installs the SIGINT/SIGTERM handlers (they raise GracefulExit in the loop),
    # then starts the app (its cleanup_ctx entries, in order).
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        await asyncio.Event().wait()  # until a signal cancels this task
    finally:
        # Stop listening, close idle connections, wait up to shutdown_timeout for requests
        # in flight, then the app's cleanup (cleanup_ctx exits in reverse).
        await runner.cleanup()


def run(
    app: web.Application, *, host: str, port: int, shutdown_timeout: float, reuse_port: bool = False
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT: ``web.run_app``'s steps, through ``EdgeRunner``.

    A fresh event loop; on a signal the serving task is cancelled, so its ``finally``
    shuts down gracefully; then every task left is cancelled, async generators closed
    (a start-up cut short by the signal closes its cleanup_ctx entries so) and the loop
    closed. No banner. ``reuse_port`` for ``--workers`` (SO_REUSEPORT).
    """
    loop = asyncio.new_event_loop()
    main = loop.create_task(_serve(app, host, port, shutdown_timeout, reuse_port))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            asyncio.set_event_loop(None)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            context = {"message": "unhandled exception while stopping", "exception": task.exception()}
            loop.call_exception_handler({**context, "task": task})
