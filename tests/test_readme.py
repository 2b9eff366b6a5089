"""The documentation stays true: every setting in the README's table, every exported metric in
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


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
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
