"""Second-chance eviction (recency.py): what the cache and the memo drop when full."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from bridge.directory.recency import make_room


@dataclass
class _Entry:
    used: bool = False


def _entries(*used: bool) -> OrderedDict[str, _Entry]:
    return OrderedDict((f"k{i}", _Entry(flag)) for i, flag in enumerate(used))


def test_given_no_entry_used_then_the_oldest_goes() -> None:
    entries = _entries(False, False, False)
    make_room(entries, 3)
    assert list(entries) == ["k1", "k2"]


def test_given_the_oldest_used_then_it_gets_a_second_chance_and_the_next_goes() -> None:
    entries = _entries(True, False, False)
    make_room(entries, 3)
    assert list(entries) == ["k2", "k0"]
    assert not entries["k0"].used  # it has had its chance: unused again, it goes next


def test_given_every_entry_used_then_the_oldest_still_goes_after_one_round() -> None:
    entries = _entries(True, True, True)
    make_room(entries, 3)
    assert list(entries) == ["k1", "k2"]
    assert not any(entry.used for entry in entries.values())


def test_given_room_then_nothing_goes() -> None:
    entries = _entries(False, True)
    make_room(entries, 3)
    assert list(entries) == ["k0", "k1"]


def test_given_a_smaller_capacity_then_as_many_go_as_needed() -> None:
    entries = _entries(False, True, False, False)
    make_room(entries, 2)  # room for one more: one left, the one used
    assert list(entries) == ["k1"]
