"""The demo tenant `make run` seeds: the domain and users of the FreeSWITCH captures.

Domain ``xswitch.test`` with extensions 1001 and 1002 (password ``Test1234pw``, as in
tests/fixtures/freeswitch), so the captured forms can be posted as they are, plus an
admin login for the API. Idempotent: an existing row is left as it is.
"""

from __future__ import annotations

import secrets

import asyncpg

from bridge.hashes import ha1, ha1b, login_sha1

DEMO_DOMAIN = "xswitch.test"
DEMO_EXTENSION_PASSWORD = "Test1234pw"
DEMO_ADMIN_LOGIN = "admin"
DEMO_ADMIN_PASSWORD = "XSwitch.cn/6753997"  # XUI's documented default


async def seed_demo(conn: asyncpg.Connection) -> bool:
    """Insert the demo tenant unless it exists; True when something was inserted."""
    if await conn.fetchval("SELECT 1 FROM users WHERE login = $1", DEMO_ADMIN_LOGIN):
        return False
    async with conn.transaction():
        salt = "$1$" + secrets.token_hex(4)
        admin_id = await conn.fetchval(
            """INSERT INTO users (login, name, extn, domain, salt, sha1, is_super, is_admin, type)
               VALUES ($1, 'Admin', 'admin', $2, $3, $4, 1, true, 'NORMAL') RETURNING id""",
            DEMO_ADMIN_LOGIN,
            DEMO_DOMAIN,
            salt,
            login_sha1(DEMO_ADMIN_LOGIN, DEMO_ADMIN_PASSWORD, salt),
        )
        for extn in ("1001", "1002"):
            await conn.execute(
                """INSERT INTO extensions (name, extn, domain, password, ha1, ha1b, context,
                                          user_id, cid_name, cid_number)
                   VALUES ($1, $1, $2, $3, $4, $5, 'default', $6, $7, $1)""",
                extn,
                DEMO_DOMAIN,
                DEMO_EXTENSION_PASSWORD,
                ha1(extn, DEMO_DOMAIN, DEMO_EXTENSION_PASSWORD),
                ha1b(extn, DEMO_DOMAIN, DEMO_EXTENSION_PASSWORD),
                admin_id,
                f"Extension {extn}",
            )
    return True
