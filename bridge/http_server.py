"""How bridge serves an app: aiohttp's own ``web.AppRunner`` and ``web.TCPSite``, public settings only.

What the operator needs below any route is served by aiohttp's public API:

* slow clients are cut by aiohttp's keep-alive timer, ``keepalive_timeout`` in the app's
  ``handler_args`` (``http.header_timeout``, bridge/app.py); a body read after an early
  answer by ``lingering_time`` (``http.body_timeout``);
* a request aiohttp's parser refuses (raw non-ASCII bytes in the request line, a bad
  header, a line too long, a bad method) gets aiohttp's own 400 (text/plain, empty body,
  connection closed); aiohttp logs each at ERROR with a traceback on ``aiohttp.server``,
  so ``ParserRefusals``, a ``logging.Filter`` on that logger, turns each into one DEBUG
  line without a traceback and no client byte, and counts it by kind. (A bad method in a
  connection's first request aiohttp logs at DEBUG itself: below that level no record
  is made, so it is not counted.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)
from prometheus_client import Counter

from bridge.logs import escape

# aiohttp's RequestHandler logs here (aiohttp.log.server_logger).
SERVER_LOGGER = "aiohttp.server"

# Why the parser refused a request: a bounded metric label.
_KINDS: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (BadHttpMethod, "bad_method"),  # before BadStatusLine, its base
    (BadStatusLine, "bad_request_line"),
    (InvalidURLError, "bad_target"),
    (LineTooLong, "too_long"),
    (InvalidHeader, "bad_header"),
)
REFUSAL_KINDS = ("bad_method", "bad_request_line", "bad_target", "too_long", "bad_header", "malformed")


def classify(exc: HttpProcessingError) -> str:
    """The kind of a parser error (a label of ``bridge_http_refused_total``)."""
    for kind_type, kind in _KINDS:
        if isinstance(exc, kind_type):
            return kind
    # llhttp reports header errors as plain BadHttpMessage ("Invalid header token", "Too
    # many headers received", "Invalid header value char").
    return "bad_header" if "header" in exc.message.lower() else "malformed"


def _detail(exc: HttpProcessingError) -> str:
    """aiohttp's words for the error, without the bytes it quotes ("Invalid char in url path")."""
    return exc.message.partition(":")[0][:100]


class ParserRefusals(logging.Filter):
    """On ``aiohttp.server``: a request its parser refused becomes one DEBUG line, counted.

    aiohttp logs each with the parser's exception (whose text quotes the request's bytes).
    The record is rewritten in place: the kind, the peer and aiohttp's description of the
    error, no traceback; it is dropped unless ``aiohttp.server`` logs DEBUG (its level
    was checked at ERROR already). Any other record passes unchanged: a handler's own
    failure (a 500) keeps its traceback.
    """

    def __init__(self, refused: Counter) -> None:
        super().__init__()
        self._refused = {kind: refused.labels(kind) for kind in REFUSAL_KINDS}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError) or not 400 <= exc.code < 500:
            return True
        kind = classify(exc)
        self._refused[kind].inc()
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.msg = "http request refused status=%d kind=%s peer=%s detail=%s"
        record.args = (exc.code, kind, escape(str(peer or "-")), escape(_detail(exc)))
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


@contextlib.asynccontextmanager
async def quiet_parser_refusals(refused: Counter) -> AsyncIterator[None]:
    """``ParserRefusals`` on aiohttp's server logger while the app runs (one app per process:
    with several, the first one's filter counts every refusal)."""
    server_log = logging.getLogger(SERVER_LOGGER)
    refusals = ParserRefusals(refused)
    server_log.addFilter(refusals)
    try:
        yield
    finally:
        server_log.removeFilter(refusals)


def serving_runner(
    app: web.Application, *, shutdown_timeout: float, handle_signals: bool = False
) -> web.AppRunner:
    """aiohttp's runner with ``web.run_app``'s settings, as ``bridge serve`` uses it.

    No handler cancellation (run_app's default: a request whose client left still
    finishes), no access log, run_app's keep-alive default (``http.header_timeout``
    replaces it through the app's ``handler_args``). ``handle_signals``: SIGINT and
    SIGTERM raise ``web.GracefulExit`` in the loop (``run``; never in a test process).
    """
    return web.AppRunner(
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
    """Serve ``app`` until SIGTERM or SIGINT: ``web.run_app``'s steps, through ``serving_runner``.

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
