"""`bridge why` shows what a REGISTER claimed (user agent, address, node) with control
characters escaped as the logs escape them: no terminal sequence, no forged report line."""

from __future__ import annotations

import asyncio
import contextlib
import io

from bridge import cli
from bridge.guard.history import key_of
from tests.api.helpers import login
from tests.directory.helpers import post
from tests.guard.conftest import StartGuarded, guard_of
from tests.guard.helpers import DOMAIN, derive, form
from tests.support.poll import eventually

# Clear the screen, set the window title, then a carriage return and a line of our own.
HOSTILE_AGENT = "\x1b[2J\x1b[H\x1b]0;pwned\x07phone\r\nOK: 1001@xswitch.test: registered\x9b31m"


async def test_given_a_user_agent_with_escape_sequences_when_why_then_they_are_printed_escaped(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded()
    body = derive(form("register_1001_wrong_password"), sip_user_agent=HOSTILE_AGENT, hostname="fs\x1b[1m1")
    assert (await post(client, body))[0] == 200
    guard = guard_of(client)
    await eventually(lambda: len(guard.history.of(key_of("1001", DOMAIN))) == 1)
    token = await login(client)

    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(
                ["why", "1001@xswitch.test", "--url", str(client.make_url("/")), "--token", token]
            )
        return code, out.getvalue()

    code, text = await asyncio.to_thread(run)
    assert code == 3
    assert not any(ch in text for ch in "\x1b\x07\r\x9b"), repr(text)
    lines = text.splitlines()
    assert lines[0].startswith("FAILING: ")
    assert not any(line.startswith("OK:") for line in lines), lines
    assert "\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07phone\\r\\nOK: 1001@xswitch.test" in lines[0]
    assert "node=fs\\x1b[1m1" in text and "\\x9b31m" in text
