"""`bridge serve --set section.key=value` (as README shows) and `bridge --set ... serve` both apply."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import fixture_bytes
from tests.factories import add_extension

ROOT = Path(__file__).resolve().parents[1]
FORM = fixture_bytes("xml_curl", "register_1001.form")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _lookup(port: int, proc: subprocess.Popen[bytes], deadline: float) -> str:
    """The answer to the captured REGISTER, once the server listens (polled until the deadline)."""
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request(
                "POST", "/directory", body=FORM, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            response = conn.getresponse()
            body = response.read().decode()
            conn.close()
            assert response.status == 200, body
            return body
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.05)


def _serve(argv: list[str], port: int) -> tuple[str, bytes]:
    """Run ``argv`` (a bridge serve), look the user up once, stop it: (answer, stderr)."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = _lookup(port, proc, time.monotonic() + 30)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    return body, err


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(("serve", "--set"), id="after-serve"),
        pytest.param(("--set", "serve"), id="before-serve"),
        pytest.param(("--set", "serve", "--set"), id="both"),
    ],
)
async def test_given_set_before_or_after_serve_then_the_settings_apply(
    database_url: str, conn: asyncpg.Connection, where: tuple[str, ...]
) -> None:
    await add_extension(conn, "1001")
    port = _free_port()
    settings = iter([f"database.url={database_url}", "directory.fs_cacheable_ms=45000"])
    argv = [sys.executable, "-m", "bridge"]
    for word in where:
        argv += ["serve", "--port", str(port)] if word == "serve" else ["--set", next(settings)]
    for rest in settings:  # one --set position given: both settings go there
        at = argv.index("--set")
        argv[at:at] = ["--set", rest]
    body, err = _serve(argv, port)
    assert b"unrecognized arguments" not in err
    assert '<user id="1001" cacheable="45000">' in body
