"""The command line as the README shows it: bad input refused in one line before anything
starts, `--config` wherever a user puts it, `BRIDGE_API_TOKEN`, and "serving" said once it is."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bridge.demo import DEMO_ADMIN_LOGIN, DEMO_ADMIN_PASSWORD
from tests.conftest import fixture_bytes

ROOT = Path(__file__).resolve().parents[1]
FORM = fixture_bytes("xml_curl", "register_1001.form")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("BRIDGE_")}
    return {**env, **extra}


def _bridge(*argv: str) -> list[str]:
    return [sys.executable, "-m", "bridge", *argv]


BAD = [
    pytest.param(["serve", "--port", "99999"], {}, "http.port", id="port-out-of-range"),
    pytest.param(["serve", "--set", "database.pool_max=0"], {}, "database.pool_max", id="pool-max-0"),
    pytest.param(["serve", "--set", "log.level=verbose"], {}, "log.level", id="log-level"),
    pytest.param(["db", "status"], {"DATABASE_URL": "notaurl"}, "database.url (DATABASE_URL)", id="dsn"),
    pytest.param(["db", "upgrade"], {"DATABASE_URL": "postgresql://h:x/db"}, "database.url", id="dsn-port"),
    pytest.param(["serve", "--set", "directory.cache_size=-1"], {}, "cache_size", id="negative-size"),
    pytest.param(["serve", "--set", "http.header_timeout=-3"], {}, "header_timeout", id="negative-timeout"),
    pytest.param(["serve"], {"BRIDGE_DATABASE_QUERY_TIMEOUT": "0"}, "query_timeout", id="zero-timeout"),
    pytest.param(["serve"], {"BRIDGE_HTTP_PROT": "8090"}, "BRIDGE_HTTP_PROT", id="misspelt-variable"),
    pytest.param(["serve", "--set", "http.prot=1"], {}, "http.prot", id="unknown-setting"),
    pytest.param(["serve", "--prot", "1"], {}, "--prot", id="unknown-flag"),
    pytest.param(["serve", "--workers", "0"], {}, "--workers", id="no-workers"),
    pytest.param(["serve", "--config", "/nonexistent.toml"], {}, "/nonexistent.toml", id="missing-config"),
    pytest.param(["serve", "--host", "no-such-host.invalid"], {}, "http.host", id="bad-host"),
    pytest.param(["serve", "--set", "freeswitch.nodes=esl://:p@fs:99999"], {}, "bad port", id="bad-esl"),
    pytest.param(["why", "1001@xswitch.test", "--set", "http.port=-1"], {}, "http.port", id="why-bad-port"),
]


@pytest.mark.parametrize(("argv", "environ", "named"), BAD)
def test_given_a_bad_flag_or_setting_then_one_line_naming_it_exit_2_and_nothing_started(
    tmp_path: Path, argv: list[str], environ: dict[str, str], named: str
) -> None:
    state = tmp_path / "state"
    done = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
        _bridge(*argv),
        cwd=ROOT,
        env=_env(BRIDGE_STATE_DIR=str(state), **environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and named in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not state.exists()  # no embedded PostgreSQL was started (nor its state_dir made)


def test_given_the_port_is_taken_then_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = tmp_path / "state"
        done = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
            _bridge("serve", "--demo", "--port", str(port)),
            cwd=ROOT,
            env=_env(BRIDGE_STATE_DIR=str(state)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    taken_line = f"bridge: http.port {port} is taken on 127.0.0.1: set another (--port)"
    assert done.stderr.splitlines() == [taken_line]
    assert "serving" not in done.stdout
    assert not state.exists()


def _until_serving(proc: subprocess.Popen[str], port: int) -> list[str]:
    """stdout lines up to the "serving" line; the port must accept at the moment it is read."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "bridge is serving on" in line:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return seen
    proc.wait(timeout=30)
    raise AssertionError(f"no serving line: {seen} {proc.stderr.read() if proc.stderr else ''}")


def _get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_given_serve_config_and_an_api_token_in_the_environment_then_serve_and_why_work(
    database_url: str, tmp_path: Path
) -> None:
    # --demo seeds the demo tenant (1001 and the admin login) into the test database.
    port = _free_port()
    toml = tmp_path / "bridge.toml"
    toml.write_text(f'[http]\nport = {port}\n[database]\nurl = "{database_url}"\n')
    # BRIDGE_API_TOKEN is bridge why's, not a setting: serve starts with it set.
    env = _env(BRIDGE_API_TOKEN="not-a-setting", BRIDGE_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen(
        _bridge("serve", "--config", str(toml), "--demo"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _until_serving(proc, port)  # --demo's banner; --config's port
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/sessions",
            data=f"login={DEMO_ADMIN_LOGIN}&password={DEMO_ADMIN_PASSWORD}".encode(),
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.load(response)["token"]
        # `bridge why` with the token from the environment, its URL from the same --config.
        why = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
            _bridge("why", "1001@xswitch.test", "--config", str(toml)),
            cwd=ROOT,
            env={**env, "BRIDGE_API_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert why.returncode in (0, 3), why.stdout + why.stderr  # 3: the verdict is FAILING
        assert why.stdout.startswith(("OK: ", "FAILING: ")), why.stdout
        wrong = subprocess.run(  # noqa: PLW1510 (the exit code is asserted)
            _bridge("--config", str(toml), "why", "1001@xswitch.test"),
            cwd=ROOT,
            env={**env, "BRIDGE_API_TOKEN": "wrong"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode != 0 and wrong.stdout.startswith("bridge why: 40"), wrong.stdout
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_make_run_takes_a_port_and_installs_only_what_running_needs() -> None:
    dry = subprocess.run(
        ["make", "-n", "-B", "run", "PORT=8090"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "serve --demo --port 8090" in dry
    assert "[dev]" not in dry and "pip install" in dry
