"""Below any route (bridge/http_server.py): what aiohttp's parser refuses gets aiohttp's own 400,
is counted and logged quietly (no traceback, no client byte); connections that send no
complete head within http.header_timeout are cut. Raw bytes at a real socket."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
import pytest

from bridge import http_server
from tests.conftest import AppClient
from tests.factories import add_extension
from tests.support.captures import form
from tests.support.metrics import app_sample


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Answer(int(lines[0].split()[1]), headers, body)


async def _send_until_closed(client: AppClient, raw: bytes) -> Answer:
    """Send ``raw`` on a new connection; what the server sent before it closed it."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(raw)
        await writer.drain()
        return _parse(await asyncio.wait_for(reader.read(), 5))
    finally:
        writer.close()


SECRET = b"s3cr3t-marker"  # must not reach the log
HEADERS = b"Host: x\r\nX-Secret: " + SECRET + b"\r\n"


def _request(line: bytes) -> bytes:
    return line + b"\r\n" + HEADERS + b"\r\n"


REFUSED = [
    pytest.param(_request(b"GET /api/ext\xc3\xa9nsions HTTP/1.1"), "bad_target", id="api-raw-utf8"),
    pytest.param(_request(b"POST /directory\xff HTTP/1.1"), "bad_target", id="directory-raw-byte"),
    pytest.param(_request(b"GET /metrics\x80 HTTP/1.1"), "bad_target", id="other-path"),
    pytest.param(_request(b"POST /directory HTTP/9.1"), "bad_request_line", id="directory-version"),
    pytest.param(_request(b"G\x00T /api/users/list HTTP/1.1"), "bad_method", id="bad-method"),
    pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "bad_method", id="tls-on-http"),
    # A header error quotes the header line, not the request line: the target is unknown.
    pytest.param(
        b"POST /directory HTTP/1.1\r\nHo\x01st: x\r\nX-Secret: " + SECRET + b"\r\n\r\n",
        "bad_header",
        id="bad-header-name",
    ),
    pytest.param(
        b"GET /api/users/list HTTP/1.1\r\nX-Secret: " + SECRET + b"\x7f\r\n\r\n",
        "bad_header",
        id="bad-header-value",
    ),
    pytest.param(
        b"GET /api/users/list HTTP/1.1\r\nHost: " + b"x" * 9000 + b"\r\n\r\n",
        "too_long",
        id="long-header",
    ),
    pytest.param(_request(b"GET /directory/" + b"x" * 9000 + b" HTTP/1.1"), "too_long", id="long-target"),
    pytest.param(
        b"GET /directory HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
        "bad_header",
        id="too-many-headers",
    ),
    pytest.param(
        b"POST /directory HTTP/1.1\r\nHost: x\r\nContent-Length: 1" + SECRET + b"\r\n\r\n",
        "malformed",
        id="bad-content-length",
    ),
]


@pytest.mark.parametrize(("raw", "kind"), REFUSED)
async def test_given_a_request_the_parser_refuses_then_400_counted_and_one_debug_line_no_traceback(
    app_client: AppClient, caplog: pytest.LogCaptureFixture, raw: bytes, kind: str
) -> None:
    # No warm-up: its own warnings (a page timed out on a loaded machine) are not the edge's.
    client = await app_client(directory__warmup="false")
    caplog.set_level(logging.DEBUG)

    answer = await _send_until_closed(client, raw)  # and the server closed the connection

    assert answer.status == 400
    # aiohttp's own answer: text/plain; it may quote the refused line back to its sender.
    assert answer.headers["content-type"].startswith("text/plain")
    assert app_sample(client.app, "bridge_http_refused_total", kind=kind) == 1
    # aiohttp logs what its parser refuses at ERROR with a traceback (aiohttp.server);
    # bridge's filter makes it one DEBUG line.
    loud = [
        r
        for r in caplog.records
        if r.name.startswith(("aiohttp", "bridge")) and (r.levelno >= logging.WARNING or r.exc_info)
    ]
    assert loud == []
    refused = [r for r in caplog.records if r.name == http_server.SERVER_LOGGER]
    assert len(refused) == 1 and refused[0].levelno == logging.DEBUG
    assert f"kind={kind}" in refused[0].getMessage()
    assert all(SECRET.decode() not in r.getMessage() for r in caplog.records)
    # The service goes on answering.
    assert (await client.get("/healthz")).status == 200


async def test_given_debug_off_then_a_refused_request_logs_nothing_and_is_counted(
    app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await app_client(directory__warmup="false")
    caplog.set_level(logging.INFO)

    answer = await _send_until_closed(client, _request(b"GET /api/ext\xc3\xa9nsions HTTP/1.1"))

    assert answer.status == 400
    assert [r for r in caplog.records if r.name == http_server.SERVER_LOGGER] == []
    assert app_sample(client.app, "bridge_http_refused_total", kind="bad_target") == 1


async def test_given_a_handler_that_fails_then_its_traceback_is_still_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The filter rewrites parser refusals only: a bug (a 500) keeps aiohttp's ERROR and traceback.
    from prometheus_client import CollectorRegistry, Counter

    counter = Counter("refused", "test", ["kind"], registry=CollectorRegistry())
    record = logging.LogRecord(
        http_server.SERVER_LOGGER, logging.ERROR, __file__, 1, "Error handling request from %s",
        ("127.0.0.1",), (ValueError, ValueError("bug"), None),
    )  # fmt: skip
    assert http_server.ParserRefusals(counter).filter(record) is True
    assert record.levelno == logging.ERROR and record.exc_info is not None


# ---- connections cut by http.header_timeout (aiohttp's keep-alive timer) ---------------

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


async def _answer_on(reader: asyncio.StreamReader) -> Answer:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    answer = _parse(head)
    answer.body = await reader.readexactly(int(answer.headers.get("content-length", "0")))
    return answer


def _directory_post_in_two_writes() -> tuple[bytes, bytes]:
    body = form("register_1001")
    head = (
        b"POST /directory HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head, body


CUTS = [
    pytest.param([], id="opened-sent-nothing"),
    pytest.param([b"POST /directory HTTP/1.1\r\nHost: x\r\n"], id="partial-head"),
    pytest.param([b"GET /hea"], id="partial-request-line"),
    pytest.param([HEALTHZ, "answer"], id="idle-after-a-response"),
    # Body bytes arrive after the head, before the response: not a partial head.
    pytest.param([*_directory_post_in_two_writes(), "answer"], id="idle-after-a-body-sent-apart"),
    pytest.param([HEALTHZ, "answer", b"GET /healthz HTTP/1.1\r\n"], id="partial-second-head"),
]


@pytest.mark.parametrize("steps", CUTS)
async def test_given_no_complete_head_within_header_timeout_then_the_server_cuts_the_connection(
    app_client: AppClient, conn: asyncpg.Connection, steps: list[bytes | str]
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(http__header_timeout="0.3")
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        for step in steps:
            if step == "answer":
                assert (await _answer_on(reader)).status == 200
            else:
                assert isinstance(step, bytes)
                writer.write(step)
                await writer.drain()
                await asyncio.sleep(0)  # its own read on the server, as a separate packet would be

        assert await asyncio.wait_for(reader.read(), 5) == b""  # cut by the server
    finally:
        writer.close()
