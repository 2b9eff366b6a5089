"""A production install works: what deploy/Containerfile and deploy/systemd/bridge.service run.

The install test builds bridge from the files the Containerfile copies, installs it with
the Containerfile's own pip command (no extras) into a new venv, then runs the systemd
unit's ExecStartPre (`bridge db upgrade`) and ExecStart (`bridge serve`) with the unit's
environment, against an empty database of the test PostgreSQL, from a directory with no
source tree in it; the captured REGISTER form then gets the a1-hash that answers its
digest. What is not run without a container engine or systemd: the image's `FROM`
layers and `pip install --upgrade pip`, the unit's user, sandboxing and `StateDirectory`.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import fixture_bytes, with_database
from tests.directory.helpers import digest_response, fields, params, user_node
from tests.factories import add_extension

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = (ROOT / "deploy" / "Containerfile").read_text()
UNIT = (ROOT / "deploy" / "systemd" / "bridge.service").read_text()


def test_every_module_bridge_imports_is_a_declared_dependency() -> None:
    declared = {
        re.split(r"[<>=!~ \[;]", item, maxsplit=1)[0].lower().replace("_", "-")
        for item in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    owners = importlib.metadata.packages_distributions()
    missing = set()
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("bridge", "__future__"):
                    continue
                if not {d.lower().replace("_", "-") for d in owners.get(top, [top])} & declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert sorted(missing) == []


def _build_stage_sources(into: Path) -> None:
    """The build stage's COPY lines, done: what `pip install .` sees in /src."""
    stage = CONTAINERFILE.split("\nFROM ", 2)[1]
    for line in stage.splitlines():
        if not line.startswith("COPY "):
            continue
        *sources, target = line.split()[1:]
        for source in sources:
            where = into / (target if target not in ("./", ".") else source)
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, where, symlinks=True)
            else:
                shutil.copy(ROOT / source, where)


def _pip_commands() -> list[list[str]]:
    """The build stage's RUN, one command per `&&`, /opt/bridge as written."""
    run = re.search(r"^RUN (.*?)(?<!\\)\n", CONTAINERFILE, re.M | re.S)
    assert run is not None
    return [shlex.split(part) for part in run.group(1).replace("\\\n", " ").split("&&")]


def _unit(key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", UNIT, re.M)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _post(url: str, body: bytes, credentials: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


async def _empty_database(admin_url: str, name: str, *, drop: bool = False) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        if drop:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _add_extension(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await add_extension(conn, "1001")
    finally:
        await conn.close()


def _first_answer(
    port: int, credentials: str, serve: subprocess.Popen[bytes], log: Path
) -> tuple[int, bytes]:
    """The answer to the captured REGISTER, once bridge listens (polled for a minute)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            form = fixture_bytes("xml_curl", "register_1001.form")
            return _post(f"http://127.0.0.1:{port}/directory", form, credentials)
        except (ConnectionError, urllib.error.URLError):
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


@pytest.mark.slow
def test_given_the_containerfile_install_then_the_systemd_commands_serve_a_right_answer(
    pg_admin_url: str, tmp_path: Path
) -> None:
    # The install: the Containerfile's build stage, its pip install run by this test's pip
    # (`--python` the new venv: no pip of its own to install first; no extras, no cache).
    src, venv = tmp_path / "src", tmp_path / "opt-bridge"
    src.mkdir()
    _build_stage_sources(src)
    commands = _pip_commands()
    assert commands == [
        ["python", "-m", "venv", "/opt/bridge"],
        ["/opt/bridge/bin/pip", "install", "--no-cache-dir", "--upgrade", "pip"],
        ["/opt/bridge/bin/pip", "install", "--no-cache-dir", "."],
    ]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *commands[2][1:]]
    done = subprocess.run(install, check=False, cwd=src, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list"], capture_output=True, text=True, check=False
    )
    assert "No module named pip" in installed.stderr  # the venv has only what bridge needs

    # An empty database of the test server: `bridge db upgrade` creates everything.
    name = f"install_{uuid.uuid4().hex[:8]}"
    asyncio.run(_empty_database(pg_admin_url, name))
    try:
        _serve_as_the_unit(venv, with_database(pg_admin_url, name), tmp_path)
    finally:
        asyncio.run(_empty_database(pg_admin_url, name, drop=True))


def _serve_as_the_unit(venv: Path, url: str, tmp_path: Path) -> None:
    # The unit's environment: Environment= lines, then its EnvironmentFile (the example,
    # with this database and no FreeSWITCH), with paths of this machine and a free port.
    state, port = tmp_path / "var-lib-bridge", _free_port()
    state.mkdir()
    toml = tmp_path / "bridge.toml"
    shutil.copy(ROOT / "deploy" / "bridge.toml", toml)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for item in _unit("Environment"):
        key, _, value = item.partition("=")
        env[key] = value
    for line in (ROOT / "deploy" / "bridge.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    assert env["BRIDGE_CONFIG"] == "/etc/bridge/bridge.toml" and env["BRIDGE_STATE_DIR"] == "/var/lib/bridge"
    env.update(BRIDGE_CONFIG=str(toml), BRIDGE_STATE_DIR=str(state), BRIDGE_HTTP_PORT=str(port))
    env["DATABASE_URL"] = url
    del env["BRIDGE_FREESWITCH"]
    credentials = f"{env['BRIDGE_DIRECTORY_USERNAME']}:{env['BRIDGE_DIRECTORY_PASSWORD']}"

    def command(line: str) -> list[str]:
        words = shlex.split(line)
        assert words[0] == "/opt/bridge/bin/bridge"
        return [str(venv / "bin" / "bridge"), *words[1:]]

    [pre], [start] = _unit("ExecStartPre"), _unit("ExecStart")
    upgrade = subprocess.run(
        command(pre), check=False, cwd=state, env=env, capture_output=True, text=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert upgrade.stdout.startswith("applied: 001_xui_users_extensions")

    asyncio.run(_add_extension(url))

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(command(start), cwd=state, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        status, body = _first_answer(port, credentials, serve, log)
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    from lxml import etree

    assert status == 200, body
    a1_hash = params(user_node(etree.fromstring(body)))["a1-hash"]
    form = fields("register_1001")
    assert digest_response(a1_hash, form) == form["sip_auth_response"]
    assert serve.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
