"""The live extensions as an id-ordered list in memory, and paging over it by live status (pure).

Built from one read of ``(id, extn, domain)`` of every live extension (queries.catalog_rows),
together with the PostgreSQL snapshot that read saw; whoever holds it asks PostgreSQL whether
a write committed since (sql/021_extension_changes.sql) and reloads when one did. Status
filters then cost a set lookup per extension in memory instead of shipping the online set
to PostgreSQL on every request.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat

import orjson

from bridge.api.shapes import Page, Status

# (id, extn, domain) rows as read from ``extensions``, in id order.
Rows = Sequence[tuple[int, str, str | None]]

# Up to this many rows are removed or placed among the others one by one (each moves the
# tail of three lists, ~1 ms at 1,000,000); above, one pass over the lists (~70 ms), or a sort.
_SPLICE = 32


def key(extn: str, domain: str) -> str:
    # A SIP user part never holds "@", so "extn@domain" is unambiguous. Domains compare
    # case-insensitively, as in the registration state.
    return f"{extn}@{domain.lower()}"


class Listing:
    """Extensions in id order: parallel lists, with the online selection memoised per online set."""

    __slots__ = ("_absent", "_by_extn", "_online", "_online_of", "_unreg", "extns", "ids", "keys")

    def __init__(self, ids: list[int], extns: list[str], keys: list[str]) -> None:
        self.ids = ids
        self.extns = extns
        self.keys = keys
        self._by_extn: dict[str, list[int]] | None = None
        # Memoised per online set (by identity): positions online, and those not online.
        self._online_of: frozenset[str] | None = None
        self._online: list[int] = []
        self._absent: list[int] = []
        self._unreg: dict[str, bytes] = {}

    @classmethod
    def of(cls, rows: Iterable[tuple[int, str, str | None]]) -> Listing:
        """From ``(id, extn, domain)`` rows in id order."""
        ids, extns, domains = _columns(rows)
        return cls(ids, extns, _keys(extns, domains))

    @classmethod
    def of_columns(cls, ids: list[int], extns: list[str], domains: list[str | None]) -> Listing:
        return cls(ids, extns, _keys(extns, domains))

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, ext_id: int) -> int | None:
        at = bisect_left(self.ids, ext_id)
        return at if at < len(self.ids) and self.ids[at] == ext_id else None

    def patched(self, changed: Collection[int], fresh: Rows) -> Listing:
        """Without the ids ``changed``, then with ``fresh`` (the live rows of those ids that
        belong here, in id order). Itself when neither touches it. The lists are copied, never
        changed: a request holding this Listing keeps a consistent picture."""
        gone = [at for at in map(self.position, changed) if at is not None]
        if not gone and not fresh:
            return self
        if len(gone) <= _SPLICE:
            ids, extns, keys = self.ids[:], self.extns[:], self.keys[:]
            for at in sorted(gone, reverse=True):
                del ids[at], extns[at], keys[at]
        else:
            keep = [True] * len(self.ids)
            for at in gone:
                keep[at] = False
            ids = list(compress(self.ids, keep))
            extns = list(compress(self.extns, keep))
            keys = list(compress(self.keys, keep))
        new_ids, new_extns, new_domains = _columns(fresh)
        new_keys = _keys(new_extns, new_domains)
        if not ids or not new_ids or new_ids[0] > ids[-1]:  # new extensions take the next ids
            ids += new_ids
            extns += new_extns
            keys += new_keys
        elif len(new_ids) <= _SPLICE:
            for ext_id, extn, k in zip(new_ids, new_extns, new_keys, strict=True):
                at = bisect_left(ids, ext_id)
                ids.insert(at, ext_id)
                extns.insert(at, extn)
                keys.insert(at, k)
        else:
            ids += new_ids
            extns += new_extns
            keys += new_keys
            order = sorted(range(len(ids)), key=ids.__getitem__)
            ids, extns, keys = list(map(ids.__getitem__, order)), _pick(extns, order), _pick(keys, order)
        return Listing(ids, extns, keys)

    def online_positions(self, online: frozenset[str]) -> list[int]:
        """Positions whose key is online. Memoised on the set's identity: the presence cache
        hands out the same set object for as long as the online keys stay the same."""
        if self._online_of is not online:
            flags = list(map(online.__contains__, self.keys))
            self._online = list(compress(range(len(flags)), flags))
            self._absent = list(compress(range(len(flags)), map(operator.not_, flags)))
            self._online_of, self._unreg = online, {}
        return self._online

    def absent_positions(self, online: frozenset[str]) -> list[int]:
        """Positions whose key is not online (memoised like ``online_positions``)."""
        self.online_positions(online)
        return self._absent

    def positions_of_extn(self, extn: str) -> list[int]:
        if self._by_extn is None:
            by_extn: dict[str, list[int]] = {}
            for i, value in enumerate(self.extns):
                by_extn.setdefault(value, []).append(i)
            self._by_extn = by_extn
        return self._by_extn.get(extn, [])

    def select(
        self, extn: str | None, status: Status | None, online: frozenset[str], absent: Status
    ) -> Sequence[int]:
        """Positions matching an exact extn and a live status, in id order.

        ``offline`` means "not online", whatever word ``absent`` is right now: an XUI client
        knows online/offline only, and asking for the offline ones while a node is down must
        not answer nothing (each row still says ``unknown`` where that is the truth).
        ``unknown`` matches only while absent ones are called so."""
        if status == "unknown" and absent != "unknown":
            return []
        if extn is not None:
            found = self.positions_of_extn(extn)
            if status == "online":
                return [i for i in found if self.keys[i] in online]
            if status is not None:
                return [i for i in found if self.keys[i] not in online]
            return found
        if status == "online":
            return self.online_positions(online)
        if status is not None:
            return self.absent_positions(online)
        return range(len(self))

    def page_ids(self, positions: Sequence[int], page: Page) -> list[int]:
        return [self.ids[i] for i in positions[page.offset : page.offset + page.size]]

    def unregistered_json(self, online: frozenset[str], absent: Status) -> bytes:
        """list1's ``unreg``, encoded: ``[{"extn": …, "status": absent}]`` of every extension not
        online, in id order (memoised like ``online_positions``)."""
        positions = self.absent_positions(online)
        encoded = self._unreg.get(absent)
        if encoded is None:
            extns = self.extns
            encoded = orjson.dumps([{"extn": extns[i], "status": absent} for i in positions])
            self._unreg[absent] = encoded
        return encoded


def _pick(values: list[str], order: list[int]) -> list[str]:
    return list(map(values.__getitem__, order))


def _columns(rows: Iterable[tuple[int, str, str | None]]) -> tuple[list[int], list[str], list[str | None]]:
    ids: list[int] = []
    extns: list[str] = []
    domains: list[str | None] = []
    for ext_id, extn, domain in rows:
        ids.append(ext_id)
        extns.append(extn)
        domains.append(domain)
    return ids, extns, domains


def _keys(extns: list[str], domains: list[str | None]) -> list[str]:
    # Few distinct domains: lower() each once; the joins run in C (map), not per-row Python.
    suffix = {domain: "@" + (domain or "").lower() for domain in set(domains)}
    if len(suffix) == 1:
        return list(map(operator.add, extns, repeat(next(iter(suffix.values())))))
    return list(map(operator.add, extns, map(suffix.__getitem__, domains)))


_COPY_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", re.DOTALL)
_COPY_NAMED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape(field: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0].isdigit():
            return chr(int(code, 8))
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _COPY_NAMED.get(code, code)

    return _COPY_ESCAPE.sub(one, field) if "\\" in field else field


def parse_copy(data: bytes) -> tuple[list[int], list[str], list[str | None]]:
    """``COPY (SELECT id, extn, domain ...) TO STDOUT`` text format -> the three columns.

    In that format a raw tab or newline is always a separator (one inside a value is written
    escaped), so the whole buffer splits at once, far faster than decoding 100,000 records
    one by one; values with a backslash are unescaped, and ``\\N`` alone is NULL
    (www.postgresql.org/docs/current/sql-copy.html, "Text Format").
    """
    text = data.decode()
    if not text:
        return [], [], []
    flat = text.rstrip("\n").replace("\n", "\t").split("\t")
    if len(flat) % 3:
        raise ValueError("COPY data is not three columns")
    ids = list(map(int, flat[0::3]))
    extns = flat[1::3]
    domains: list[str | None] = list(flat[2::3])
    if "\\" in text:
        extns = [_unescape(extn) for extn in extns]
        domains = [None if d == "\\N" else _unescape(d) for d in flat[2::3]]
    return ids, extns, domains


@dataclass(frozen=True, slots=True)
class Catalog:
    """The live extensions of the scopes asked for so far (a domain, or ``None`` for every
    domain), each in id order, all at one PostgreSQL snapshot."""

    snapshot: str  # pg_snapshot text of the read
    loaded_at: float  # time.monotonic() of the read
    scopes: dict[str | None, Listing]

    def scope(self, domain: str | None) -> Listing:
        """A domain admin's extensions (``extensions.domain`` equal, as in SQL), or everything;
        only a scope loaded (``domain in catalog.scopes``)."""
        return self.scopes[domain]

    def patched(self, snapshot: str, loaded_at: float, changed: Collection[int], fresh: Rows) -> Catalog:
        """This catalog at a later snapshot, knowing the ids ``changed`` since and the live
        rows of those ids now (``fresh``, in id order). A scope nothing touched keeps its
        Listing (and what it memoised)."""
        scopes = {}
        for domain, listing in self.scopes.items():
            mine = fresh if domain is None else [row for row in fresh if row[2] == domain]
            scopes[domain] = listing.patched(changed, mine)
        return Catalog(snapshot=snapshot, loaded_at=loaded_at, scopes=scopes)
