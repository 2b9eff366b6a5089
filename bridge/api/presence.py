"""One read of the registration state per request: who is online, and what "not online" means.

Built once per request from ``RegistrationView.all_registrations()`` (a set, O(bindings)),
so a page of 10 or a list of 100,000 extensions costs no query per extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bridge.api import shapes
from bridge.registrations.model import Registration, RegistrationView


def key(extn: str, domain: str) -> str:
    # A SIP user part never holds "@", so "extn@domain" is unambiguous; it is also the
    # form the SQL side builds (queries._KEY). Domains compare case-insensitively, as in
    # the registration state.
    return f"{extn}@{domain.lower()}"


@dataclass(frozen=True, slots=True)
class Presence:
    registrations: Sequence[Registration]  # in the caller's scope
    online: frozenset[str]  # key(extn, domain) of every binding in scope
    absent: shapes.Status  # "offline", or "unknown" while a node is not in sync
    nodes: list[dict[str, Any]]

    def status(self, extn: str, domain: str) -> shapes.Status:
        return "online" if key(extn, domain) in self.online else self.absent

    @classmethod
    def read(cls, view: RegistrationView | None, domain_scope: str | None) -> Presence:
        if view is None:
            # Registrations are not wired into this app: nothing is known to be online.
            return cls((), frozenset(), "unknown", [])
        regs = [
            reg
            for reg in view.all_registrations()
            if domain_scope is None or reg.realm.lower() == domain_scope.lower()
        ]
        statuses = view.nodes()
        return cls(
            registrations=regs,
            online=frozenset(key(reg.reg_user, reg.realm) for reg in regs),
            absent=shapes.offline_word(statuses),
            nodes=shapes.nodes(statuses),
        )
