"""Through POST /directory: a disabled extension is refused on its very next lookup."""

from __future__ import annotations

import asyncpg

from tests.conftest import AppClient, fixture_bytes
from tests.factories import add_extension
from tests.support.poll import eventually_value

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_given_a_cached_user_when_the_extension_is_disabled_then_the_next_register_is_refused(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    form = fixture_bytes("xml_curl", "register_1001.form")

    async def post() -> str:
        response = await client.post("/directory", data=form, headers=FORM_HEADERS)
        assert response.status == 200
        return await response.text()

    assert '<user id="1001"' in await post()
    assert '<user id="1001"' in await post()  # now from the cache

    await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1001'")

    await eventually_value(post, lambda body: "<user" not in body, timeout=1.0)
