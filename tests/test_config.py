"""Settings come from flags > environment > TOML > defaults, and bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import FreeSwitchNode, load_config
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
        ({"BRIDGE_HTTP_NOPE": "1"}, "http.nope"),
    ],
    ids=["bad-int", "bad-choice", "bad-cidr", "bad-node-url", "duplicate-node", "unknown-key"],
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
