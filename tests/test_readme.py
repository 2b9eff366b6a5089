"""The documentation stays true: every setting in docs/configuration.md's table, every exported metric in
the README or docs/, every relative link pointing at a file that exists."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bridge.config import Config
from bridge.registrations.keys import REGISTRATIONS
from tests.conftest import AppClient

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = {path: path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
DOCUMENTED = "\n".join(PAGES.values())


def settings() -> list[str]:
    names = []
    for section in dataclasses.fields(Config):
        value = getattr(Config(), section.name)
        if dataclasses.is_dataclass(value):
            names += [f"{section.name}.{field.name}" for field in dataclasses.fields(value)]
        else:
            names.append(section.name)
    return names


def test_every_setting_is_in_the_configuration_table() -> None:
    table = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)`", table))
    missing = [name for name in settings() if name not in documented]
    assert missing == []
    unknown = {name for name in documented if "." in name and name.split(".")[0] in {
        f.name for f in dataclasses.fields(Config)
    }} - set(settings())
    assert unknown == set()


async def test_every_exported_bridge_metric_is_documented(app_client: AppClient) -> None:
    client = await app_client()
    # The registration gauges appear once a node exists; the state is there regardless.
    assert client.server.app[REGISTRATIONS] is not None
    text = await (await client.get("/metrics")).text()
    families = {
        f.name
        for f in text_string_to_metric_families(text)
        if f.name.startswith("bridge_") and not f.name.endswith("_created")  # counters' timestamps
    }
    assert "bridge_directory_lookups" in families  # parser strips _total
    missing = [name for name in sorted(families) if not re.search(rf"`{name}(_total|_info)?`", DOCUMENTED)]
    assert missing == []


def test_every_relative_link_in_the_documentation_points_at_a_file() -> None:
    broken = [
        f"{page.name}: {target}"
        for page, text in PAGES.items()
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
        if not (page.parent / target).exists()
    ]
    assert broken == []


def _commands() -> dict[str, set[str]]:
    """Every `bridge` command (``db upgrade`` as two words) -> its long options."""
    import argparse

    from bridge.cli import _parser

    found: dict[str, set[str]] = {}

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers and words:
            options = {option for action in parser._actions for option in action.option_strings}
            found[" ".join(words)] = {option for option in options if option.startswith("--")}
        for action in subparsers:
            for name, child in action.choices.items():
                walk(child, [*words, name])

    walk(_parser(), [])
    return found


def test_every_bridge_command_and_its_flags_are_in_the_readme_command_table() -> None:
    table = README.split("\nCommands:\n", 1)[1].split("\n## ", 1)[0]
    rows = {line for line in table.splitlines() if line.startswith("| `bridge ")}
    commands = _commands()
    assert {"serve", "db upgrade", "db status", "why"} <= set(commands)
    missing = []
    for command, options in commands.items():
        starts = (f"| `bridge {command} ", f"| `bridge {command}`")
        row = next((r for r in rows if r.startswith(starts)), None)
        if row is None:
            missing.append(command)
            continue
        # --set and --help are said once under the table, for every command.
        said = options - {"--set", "--help"}
        missing += [f"{command} {option}" for option in sorted(said) if option not in row]
    assert missing == []


def test_every_page_of_docs_is_in_the_readme_documentation_list() -> None:
    index = README.split("\n## Documentation\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"\]\((docs/[^)]+\.md)\)", index))
    pages = {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")}
    assert sorted(pages - listed) == []
