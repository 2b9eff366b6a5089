"""The console end to end in headless chromium: log in, live registrations from the fake Event
Socket, a wrong password's attempt and why view, a scanner's ban lifted, a domain
administrator's scope, and values from the network shown as text."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from bridge.app import create_app
from bridge.config import Config
from bridge.guard.setup import GUARD
from bridge.registrations.events import NodeChanged
from bridge.registrations.keys import REGISTRATION_CLOCK, REGISTRATIONS
from bridge.registrations.model import Delta, NodeState
from bridge.registrations.state import RegistrationState
from tests.api.helpers import ADMIN_PASSWORD, add_admin
from tests.console.browser import Page
from tests.console.helpers import registered
from tests.directory.helpers import post
from tests.factories import add_extension
from tests.fakes.esl_server import FakeEslServer
from tests.guard.helpers import derive, unknown_user, wrong_password
from tests.registrations import frames
from tests.support.client import Client
from tests.support.poll import eventually

DOMAIN = "xswitch.test"
CAPTURE_TIME = 1795393500.0  # the captured bindings expire at 1795397081
FAST = {
    "freeswitch__lease_ttl": "1",
    "freeswitch__sync_interval": "0.05",
    "freeswitch__reconnect_initial": "0.02",
    "freeswitch__reconnect_max": "0.1",
    "guard__poll_seconds": "0.05",
}
# The console reflects a change within this long of the change reaching bridge (issue 23).
WITHIN = 1.0
HOSTILE_AGENT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture
def start(
    make_config: Callable[..., Config], aiohttp_client: Callable[..., Awaitable[Client]]
) -> Callable[..., Awaitable[Client]]:
    async def run(**overrides: str) -> Client:
        app = create_app(make_config(**{**FAST, **overrides}))
        app[REGISTRATION_CLOCK] = lambda: CAPTURE_TIME
        return await aiohttp_client(app)

    return run


@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer().start()
    yield server
    await server.close()


def state_of(client: Client) -> RegistrationState:
    state = client.server.app[REGISTRATIONS]
    assert isinstance(state, RegistrationState)
    return state


async def watch_rows(page: Page, needle: str) -> None:
    """Record in the page when the registrations table starts and stops showing ``needle``."""
    await page.js(
        """
        const [needle] = arguments;
        window.__rows = [];
        const body = document.querySelector('#registrations tbody');
        new MutationObserver(() => window.__rows.push([Date.now(), body.textContent.includes(needle)]))
            .observe(body, {childList: true, subtree: true, characterData: true});
        """,
        needle,
    )


async def shown_at(page: Page, present: bool, after: float) -> float:
    """When (epoch seconds) the table first showed (or stopped showing) the needle after ``after``."""
    found = await page.until(
        "return (window.__rows || []).find(([at, has]) => at >= arguments[1] * 1000 && has === arguments[0])",
        present,
        after,
        what=f"row {'shown' if present else 'gone'}",
    )
    return float(found[0]) / 1000


async def test_login_then_a_replayed_registration_appears_and_its_unregister_removes_it_within_1s(
    start: Callable[..., Awaitable[Client]], fake: FakeEslServer, conn: asyncpg.Connection, page: Page
) -> None:
    client = await start(freeswitch__nodes=fake.url("fs1"))
    await add_admin(conn)
    state = state_of(client)
    await eventually(lambda: state.node_state("fs1") is NodeState.UP, what="node up")
    applied: list[tuple[float, Delta]] = []
    state.subscribe(lambda delta: applied.append((time.time(), delta)))
    await page.open(str(client.make_url("/console/")))
    await page.login("admin", ADMIN_PASSWORD)
    await page.until("return document.getElementById('page-info').textContent === 'no registrations'")
    await watch_rows(page, "1001@xswitch.test")

    await fake.push(frames.REGISTER_1001)
    await eventually(lambda: any(d.upserted for _, d in applied), what="the state has 1001")
    reached = next(at for at, d in applied if d.upserted)
    delay = await shown_at(page, True, reached - 0.5) - reached
    assert delay < WITHIN
    row = await page.texts("#registrations tbody tr td")
    assert row[0] == "1001@xswitch.test" and row[6] == "fs1" and row[5].endswith(" s")
    await page.until("return document.getElementById('count-online').textContent === '1'")
    await page.shot("registered")

    await fake.push(frames.UNREGISTER_1001)
    await eventually(lambda: any(d.removed for _, d in applied), what="the state dropped 1001")
    gone = next(at for at, d in applied if d.removed)
    assert await shown_at(page, False, gone - 0.5) - gone < WITHIN
    await page.until("return document.getElementById('count-online').textContent === '0'")


async def test_a_wrong_password_shows_in_attempts_with_its_reason_and_in_the_why_view(
    start: Callable[..., Awaitable[Client]], conn: asyncpg.Connection, page: Page
) -> None:
    client = await start()
    await add_extension(conn, "1001", DOMAIN, user_id=await add_admin(conn))
    await page.open(str(client.make_url("/console/")))
    await page.login("admin", ADMIN_PASSWORD)
    await page.view("attempts")
    status, _ = await post(client, wrong_password("192.0.2.40"))
    assert status == 200
    await page.until(
        "return document.querySelector('#attempts tbody td.reason')?.dataset.outcome === 'wrong_password'",
        what="the attempt listed",
    )
    [reason] = await page.texts("#attempts tbody td.reason")
    assert reason.startswith("wrong password")
    assert (await page.texts("#attempts tbody tr td"))[2] == "192.0.2.40:5060"
    await page.until("return document.getElementById('count-failing').textContent === '1'")
    await page.click("#attempts tbody button.why-link")
    await page.until("return !document.getElementById('why').hidden", what="the why view")
    [says] = await page.texts("#why-says")
    assert says.startswith("1001@xswitch.test: wrong password")
    [change] = await page.texts("#why-change")
    assert change.startswith("set the phone's SIP password")
    await page.shot("why")
    # The why view follows: the next attempt of 1001 is added to its history as it happens.
    await post(client, wrong_password("192.0.2.41"))
    await page.until("return document.querySelectorAll('#why-history tbody tr').length === 2")


async def test_a_scanner_ban_appears_and_an_admin_lifts_it_after_confirming(
    start: Callable[..., Awaitable[Client]], conn: asyncpg.Connection, page: Page
) -> None:
    client = await start()
    await add_extension(conn, "1001", DOMAIN, user_id=await add_admin(conn))
    await page.open(str(client.make_url("/console/")))
    await page.login("admin", ADMIN_PASSWORD)
    await page.view("bans")
    scanner = unknown_user("192.0.2.99", 1).replace(
        b"sip_user_agent=baresip%20v1.0.0%20(x86_64/linux)", b"sip_user_agent=friendly-scanner"
    )
    await post(client, scanner)
    await page.until(
        "return document.querySelector('#bans tbody tr[data-ip=\"192.0.2.99\"]')", what="ban shown"
    )
    cells = await page.texts("#bans tbody tr td")
    assert cells[:4] == ["192.0.2.99", "source", "", "scanner_agent"]
    await page.until("return document.getElementById('count-banned').textContent === '1'")
    await page.shot("bans")
    await page.click("#bans tbody button.lift")
    assert await page.accept_confirm() == "Lift every ban and limit of 192.0.2.99?"
    await page.until("return !document.querySelector('#bans tbody tr')", what="ban gone")
    assert client.server.app[GUARD].bans() == []
    await page.until("return document.getElementById('count-banned').textContent === '0'")


async def test_a_domain_administrator_sees_only_its_domain(
    start: Callable[..., Awaitable[Client]], conn: asyncpg.Connection, page: Page
) -> None:
    client = await start()
    await add_admin(conn, "other-admin", domain="other.test")
    state = state_of(client)
    state.apply(NodeChanged("fs1", NodeState.UP, at=CAPTURE_TIME))
    state.apply(registered(token="mine", reg_user="2001", realm="other.test"))
    state.apply(registered(token="theirs", reg_user="1001", realm=DOMAIN))
    await page.open(str(client.make_url("/console/")))
    await page.login("other-admin", ADMIN_PASSWORD)
    await page.until("return document.querySelectorAll('#registrations tbody tr').length === 1")
    assert (await page.texts("#registrations tbody tr td"))[0] == "2001@other.test"
    options = await page.texts("#filter-domain option")
    assert options == ["every domain", "other.test (1)"]
    # A live change of another domain never reaches this page; one of its own does.
    state.apply(registered(token="theirs-2", reg_user="1002", realm=DOMAIN))
    state.apply(registered(token="mine-2", reg_user="2002", realm="other.test"))
    await page.until("return document.querySelectorAll('#registrations tbody tr').length === 2")
    users = [t for t in await page.texts("#registrations tbody tr td:first-child")]
    assert users == ["2001@other.test", "2002@other.test"]
    await page.until("return document.getElementById('count-online').textContent === '2'")


async def test_a_script_in_a_user_agent_is_shown_as_text(
    start: Callable[..., Awaitable[Client]], conn: asyncpg.Connection, page: Page
) -> None:
    client = await start()
    await add_extension(conn, "1001", DOMAIN, user_id=await add_admin(conn))
    state = state_of(client)
    state.apply(NodeChanged("fs1", NodeState.UP, at=CAPTURE_TIME))
    await page.open(str(client.make_url("/console/")))
    await page.login("admin", ADMIN_PASSWORD)
    state.apply(registered(user_agent=HOSTILE_AGENT))
    await page.until("return document.querySelector('#registrations tbody td.agent')", what="row")
    assert await page.texts("#registrations tbody td.agent") == [HOSTILE_AGENT]
    await post(client, derive(wrong_password("192.0.2.40"), sip_user_agent=HOSTILE_AGENT))
    await page.view("attempts")
    await page.until("return document.querySelector('#attempts tbody td.agent')", what="attempt row")
    assert await page.texts("#attempts tbody td.agent") == [HOSTILE_AGENT]
    assert await page.js("return document.querySelectorAll('main img, main script').length") == 0
    assert await page.js("return window.__pwned === undefined") is True
    await page.view("registrations")
    await page.shot("console")


async def test_search_filters_and_pages_are_read_from_bridge(
    start: Callable[..., Awaitable[Client]], conn: asyncpg.Connection, page: Page
) -> None:
    client = await start()
    await add_admin(conn, "super", is_super=1)
    state = state_of(client)
    state.apply(NodeChanged("fs1", NodeState.UP, at=CAPTURE_TIME))
    for n in range(120):
        state.apply(
            registered(token=f"call-{n:03d}", reg_user=f"2{n:03d}", user_agent=f"phone model-{n % 3}")
        )
    state.apply(registered(token="elsewhere", reg_user="3000", realm="other.test"))
    await page.open(str(client.make_url("/console/")))
    await page.login("super", ADMIN_PASSWORD)
    await page.until("return document.getElementById('page-info').textContent === '1–50 of 121'")
    await page.shot("registrations", height=560)  # docs/console.png
    await page.click("#next")
    await page.until("return document.getElementById('page-info').textContent === '51–100 of 121'")
    await page.type("#search", "MODEL-2")
    await page.until("return document.getElementById('page-info').textContent === '1–40 of 40'")
    await page.type("#search", "")
    await page.js(
        "const s = document.getElementById('filter-domain'); s.value = 'other.test';"
        " s.dispatchEvent(new Event('change'));"
    )
    await page.until("return document.getElementById('page-info').textContent === '1–1 of 1'")
    assert (await page.texts("#registrations tbody td:first-child")) == ["3000@other.test"]


async def test_a_wrong_password_and_a_user_who_is_no_administrator_are_told_so(
    start: Callable[..., Awaitable[Client]], conn: asyncpg.Connection, page: Page
) -> None:
    client = await start()
    await add_admin(conn, "clerk", is_admin=False)
    await page.open(str(client.make_url("/console/")))
    await page.until("return !document.getElementById('login').hidden", what="the login form")
    await page.type("#login-name", "clerk")
    await page.type("#login-password", "not the password")
    await page.click("#login-submit")
    await page.until(
        "return document.getElementById('login-error').textContent === 'Wrong username or password'"
    )
    await page.type("#login-password", ADMIN_PASSWORD)
    await page.click("#login-submit")
    await page.until(
        "return document.getElementById('login-error').textContent.startsWith('no permission')",
        what="no permission shown",
    )
    assert await page.js("return document.getElementById('console').hidden") is True
