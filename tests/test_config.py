"""Settings come from flags > environment > TOML > defaults, and bad ones are refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config, FreeSwitchNode, load_config
from bridge.errors import ConfigError


def test_given_nothing_when_loading_then_defaults() -> None:
    config = load_config(environ={})
    assert config.http.port == 8080
    assert config.database.url is None
    assert config.directory.realm_mismatch == "refuse"
    assert config.freeswitch.nodes == ()


def test_precedence_flags_over_environment_over_toml(tmp_path: Path) -> None:
    toml = tmp_path / "bridge.toml"
    toml.write_text(
        '[http]\nport = 9000\nhost = "0.0.0.0"\n'
        '[directory]\nnegative_ttl = 5.5\nallow_from = ["192.0.2.0/24"]\n'
    )
    config = load_config(
        toml_path=toml,
        environ={"BRIDGE_HTTP_PORT": "9100", "BRIDGE_DIRECTORY_SEND_PASSWORD": "true"},
        overrides={"http.port": "9200"},
    )
    assert config.http.port == 9200
    assert config.http.host == "0.0.0.0"
    assert config.directory.negative_ttl == 5.5
    assert config.directory.send_password is True


def test_database_url_and_freeswitch_nodes_from_their_short_environment_names() -> None:
    config = load_config(
        environ={
            "DATABASE_URL": "postgresql://u@db/x",
            "BRIDGE_FREESWITCH": "esl://:ClueCon@127.0.0.1:8021,esl://fs2:s%40cret@10.0.0.2:8022",
        }
    )
    assert config.database.url == "postgresql://u@db/x"
    first, second = config.freeswitch.nodes
    assert (first.name, first.host, first.port, first.password) == (
        "127.0.0.1:8021",
        "127.0.0.1",
        8021,
        "ClueCon",
    )
    assert (second.name, second.port, second.password) == ("fs2", 8022, "s@cret")


def test_toml_nodes_with_names(tmp_path: Path) -> None:
    toml = tmp_path / "bridge.toml"
    toml.write_text(
        '[freeswitch]\nnodes = [{url = "esl://:pw@10.0.0.9:8021", name = "edge"}, '
        '"esl://:pw@10.0.0.10"]\nheartbeat_timeout = 45\n'
    )
    config = load_config(toml_path=toml, environ={})
    assert [n.name for n in config.freeswitch.nodes] == ["edge", "10.0.0.10:8021"]
    assert config.freeswitch.heartbeat_timeout == 45


def test_node_repr_hides_password() -> None:
    node = FreeSwitchNode.from_url("esl://:TopSecret@127.0.0.1:8021")
    assert "TopSecret" not in repr(node)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BRIDGE_HTTP_PORT": "eighty"}, "http.port"),
        ({"BRIDGE_DIRECTORY_REALM_MISMATCH": "maybe"}, "realm_mismatch"),
        ({"BRIDGE_DIRECTORY_ALLOW_FROM": "10.0.0.0/8,not-a-net"}, "allow_from"),
        ({"BRIDGE_FREESWITCH": "http://127.0.0.1"}, "esl://"),
        ({"BRIDGE_FREESWITCH": "esl://:a@h:1,esl://:b@h:1"}, "unique"),
        ({"BRIDGE_HTTP_PROT": "1"}, "BRIDGE_HTTP_PROT \\(did you mean BRIDGE_HTTP_PORT\\?\\)"),
        ({"BRIDGE_DIRECTORY_ALLOWFROM": "10.0.0.0/8"}, "did you mean BRIDGE_DIRECTORY_ALLOW_FROM"),
    ],
    ids=["bad-int", "bad-choice", "bad-cidr", "bad-node-url", "duplicate-node", "misspelt", "misspelt-2"],
)
def test_bad_settings_are_refused_with_the_setting_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_bad_toml_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "bridge.toml"
    toml.write_text("[http\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(toml_path=toml, environ={})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("api.max_login_attempts", "0", "at least 1"),
        ("api.max_source_failures", "0", "at least 1"),
        ("api.lock_seconds", "-1", "lock_seconds"),
        ("api.source_window", "0", "source_window"),
        ("api.unknown_status", "gone", "unknown_status must be one of"),
    ],
)
def test_login_limits_and_status_word_refuse_values_that_cannot_work(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides={key: value})


def test_unknown_keys_in_toml_and_set_are_refused_by_name(tmp_path: Path) -> None:
    toml = tmp_path / "bridge.toml"
    toml.write_text("[http]\nnope = 1\n")
    with pytest.raises(ConfigError, match=r"unknown config key http\.nope"):
        load_config(toml_path=toml, environ={})
    with pytest.raises(ConfigError, match=r"unknown config key http\.nope"):
        load_config(overrides={"http.nope": "1"})


def test_bridge_variables_that_are_not_settings_change_nothing_and_break_nothing() -> None:
    # The rule (bridge/config.py, README "Configuration"): exact setting names are settings;
    # BRIDGE_API_TOKEN and BRIDGE_CONFIG are read elsewhere; others are ignored unless they
    # are a near miss of a known name.
    environ = {
        "BRIDGE_API_TOKEN": "abc",
        "BRIDGE_CONFIG": "/nonexistent.toml",  # read by the CLI, not here
        "BRIDGE_BUILD_ID": "42",
        "BRIDGE_HTTP_PROXY_URL": "http://proxy",
        "BRIDGEPORT": "1",
    }
    assert load_config(environ=environ) == Config()
    assert load_config(environ={"BRIDGE_API_TOKEN_TTL": "60"}).api.token_ttl == 60


def _numeric_settings() -> list[tuple[str, str, Any]]:
    found = []
    for section in dataclasses.fields(Config):
        values = getattr(Config(), section.name)
        if dataclasses.is_dataclass(values):
            for item in dataclasses.fields(values):
                value = getattr(values, item.name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    found.append((section.name, item.name, value))
    return found


@pytest.mark.parametrize(
    ("section", "name", "default"), _numeric_settings(), ids=[f"{s}.{n}" for s, n, _ in _numeric_settings()]
)
def test_every_numeric_setting_refuses_negative_and_non_finite_values(
    section: str, name: str, default: Any
) -> None:
    dotted = f"{section}.{name}"
    for bad in ("-1", "nan", "inf") if isinstance(default, float) else ("-1",):
        with pytest.raises(ConfigError, match=dotted.replace(".", r"\.")):
            load_config(overrides={dotted: bad})
    load_config(overrides={dotted: str(default)})  # the default itself is fine


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("http.port", "65536"),
        ("database.embedded_port", "70000"),
        ("database.pool_max", "0"),
        ("database.pool_min", "11"),  # above pool_max
        ("database.query_timeout", "0"),
        ("http.max_body_bytes", "0"),
        ("guard.ban_growth", "0.5"),
        ("log.level", "verbose"),
        ("database.url", "notaurl"),
        ("database.url", "mysql://u:p@h/db"),
        ("database.url", "postgresql://u:p@h:port/db"),
    ],
)
def test_values_that_cannot_work_are_refused_with_the_setting_named(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as refused:
        load_config(overrides={key: value})
    assert ":p@" not in str(refused.value)  # a DSN's password is never repeated
