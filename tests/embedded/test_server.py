"""EmbeddedPostgres itself: the owner lock, password authentication, old directories, stale PIDs."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from bridge.embedded import server as pgserver
from bridge.embedded.auth import HBA_MARKER
from bridge.embedded.lock import StateDirBusy
from bridge.embedded.server import EmbeddedPostgres

# What pg_hba.conf said in a data directory made before passwords (initdb --auth=trust).
TRUST_HBA = """local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("embedded") / "state" / "pgdata")
    pg.start()
    yield pg
    pg.remove()


async def _select_one(dsn: str, **kwargs: object) -> int:
    conn = await asyncpg.connect(dsn, timeout=5, **kwargs)  # type: ignore[arg-type]
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


@pytest.fixture
async def stopped(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(tmp_path / "state" / "pgdata")
    await asyncio.to_thread(pg.start)
    await asyncio.to_thread(pg.stop)
    yield pg
    await asyncio.to_thread(pg.remove)


async def test_the_dsn_carries_the_password_and_nothing_else_gets_in(server: EmbeddedPostgres) -> None:
    assert await _select_one(server.dsn) == 1
    parts = urlsplit(server.dsn)
    assert parts.password and len(parts.password) >= 40
    without = server.dsn.replace(f":{parts.password}@", "@")
    # One character changed (a password that starts with "x" gets a "y"): never the right one.
    first = "y" if parts.password[0] == "x" else "x"
    wrong = server.dsn.replace(parts.password, first + parts.password[1:])
    for dsn in (without, wrong):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await _select_one(dsn)
    # The Unix socket asks for the password too (reachable here only because we are its owner or root).
    socket_dsn = f"postgresql://postgres@/postgres?host={server.data_dir}&port={server.port}"
    with pytest.raises(asyncpg.InvalidPasswordError):
        await _select_one(socket_dsn)
    assert await _select_one(socket_dsn, password=parts.password) == 1


def test_password_file_and_state_dir_are_closed_to_other_users(server: EmbeddedPostgres) -> None:
    assert stat.S_IMODE(server.password_path.stat().st_mode) == 0o600
    assert server.password_path.stat().st_uid == os.geteuid()
    # Root runs the server as embedded_postgres: its group may pass through, nobody else.
    assert stat.S_IMODE(server.state_dir.stat().st_mode) in (0o700, 0o710)
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    hba = (server.data_dir / "pg_hba.conf").read_text()
    assert hba.startswith(HBA_MARKER)
    assert "trust" not in hba.replace(HBA_MARKER, "")


async def test_a_second_owner_is_refused_and_cannot_stop_the_first(server: EmbeddedPostgres) -> None:
    pid = server.running_pid()
    second = EmbeddedPostgres(server.data_dir)
    with pytest.raises(StateDirBusy, match=rf"in use by another bridge \(pid {os.getpid()},"):
        await asyncio.to_thread(second.start)
    await asyncio.to_thread(second.close)  # what the CLI's finally does
    with pytest.raises(StateDirBusy):
        await asyncio.to_thread(second.remove)
    assert server.running_pid() == pid
    assert await _select_one(server.dsn) == 1


def test_another_process_is_refused_too(server: EmbeddedPostgres) -> None:
    code = (
        "import sys; from pathlib import Path; from bridge.embedded.server import EmbeddedPostgres;"
        "from bridge.embedded.lock import StateDirBusy\n"
        "try: EmbeddedPostgres(Path(sys.argv[1])).start()\n"
        "except StateDirBusy as exc: print(exc); sys.exit(3)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(server.data_dir)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "is in use by another bridge" in result.stdout


async def test_a_stale_postmaster_pid_naming_a_live_process_does_not_block_start(
    stopped: EmbeddedPostgres,
) -> None:
    # A crash left postmaster.pid behind, and its PID now belongs to an unrelated process:
    # PostgreSQL itself would refuse ("lock file already exists").
    unrelated = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        lines = ["" for _ in range(8)]
        lines[0] = str(unrelated.pid)
        lines[1] = str(stopped.data_dir)
        (stopped.data_dir / "postmaster.pid").write_text("\n".join(lines) + "\n")
        assert stopped.running_pid() is None
        await asyncio.to_thread(stopped.start)
        assert await _select_one(stopped.dsn) == 1
        assert stopped.running_pid() not in (None, unrelated.pid)
    finally:
        unrelated.kill()
        await unrelated.wait()


async def test_a_data_directory_from_before_passwords_is_upgraded_in_place(
    stopped: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(stopped.start)
    conn = await asyncpg.connect(stopped.dsn)
    await conn.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
    await conn.close()
    await asyncio.to_thread(stopped.close)
    # Make it what the old code left: trust in pg_hba.conf, no password anywhere.
    (stopped.data_dir / "pg_hba.conf").write_text(TRUST_HBA)
    stopped.password_path.unlink()
    await asyncio.to_thread(
        subprocess.run,
        [str(pgserver._bin_dir() / "postgres"), "--single", "-D", str(stopped.data_dir), "postgres"],
        input="ALTER ROLE postgres PASSWORD NULL;\n",
        capture_output=True,
        text=True,
        check=True,
        **stopped._as_server(),
    )

    upgraded = EmbeddedPostgres(stopped.data_dir)
    with caplog.at_level(logging.WARNING, logger="bridge.embedded.server"):
        dsn = await asyncio.to_thread(upgraded.start)
    try:
        await _check_upgraded(upgraded, dsn, caplog.text)
    finally:
        await asyncio.to_thread(upgraded.close)


async def _check_upgraded(upgraded: EmbeddedPostgres, dsn: str, logged: str) -> None:
    password = urlsplit(dsn).password
    assert password and password not in logged
    assert "upgraded to password authentication" in logged
    conn = await asyncpg.connect(dsn)
    assert await conn.fetchval("SELECT id FROM kept") == 7
    await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await _select_one(dsn.replace(f":{password}@", "@"))
    assert stat.S_IMODE(upgraded.password_path.stat().st_mode) == 0o600
