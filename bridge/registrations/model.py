"""Registration records and the read-only view the API, metrics and health use (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bridge.registrations.events import AuthSeen


@dataclass(frozen=True, slots=True)
class Registration:
    """One live SIP binding on one FreeSWITCH node.

    The first ten fields are the row of ``show registrations as json`` and of
    ``/api/users/list1`` (all strings, as FreeSWITCH prints them); ``expires`` is the
    absolute epoch second, including FreeSWITCH's late margin.
    """

    url: str
    expires: str
    token: str  # the SIP Call-ID
    reg_user: str
    network_proto: str
    metadata: str
    hostname: str
    network_port: str
    realm: str
    network_ip: str
    # Beyond the XUI row:
    node: str
    profile: str
    user_agent: str
    status: str  # e.g. "Registered(UDP)", "Registered(WSS-NAT)"
    contact: str

    @property
    def expires_at(self) -> int:
        try:
            return int(self.expires)
        except ValueError:
            return 0

    def xui_row(self) -> dict[str, str]:
        """The binding as XUI's list1 shows it: the fields of XUI_FIELDS, in that order."""
        return {
            "url": self.url,
            "expires": self.expires,
            "token": self.token,
            "reg_user": self.reg_user,
            "network_proto": self.network_proto,
            "metadata": self.metadata,
            "hostname": self.hostname,
            "network_port": self.network_port,
            "realm": self.realm,
            "network_ip": self.network_ip,
        }


class NodeState(Enum):
    NOT_STARTED = "not_started"  # configured, no connection attempted yet
    CONNECTING = "connecting"
    SYNCING = "syncing"  # connected, snapshot loading
    UP = "up"
    DOWN = "down"  # unreachable: its bindings are not reported online
    STANDBY = "standby"  # another bridge instance holds this node's lease


# A binding's fields as XUI's list1 names them (Registration.xui_row, the OpenAPI document's
# Registration), which bridge_registrations stores with the rest (persist.py).
XUI_FIELDS = (
    "url", "expires", "token", "reg_user", "network_proto", "metadata", "hostname",
    "network_port", "realm", "network_ip",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NodeStatus:
    name: str
    state: NodeState
    since: float  # epoch seconds of the last state change
    last_heartbeat: float | None  # epoch seconds, None before the first
    registrations: int
    last_error: str = ""


# A node in one of these states has its bindings reported online. STANDBY: another bridge
# instance follows the node and reports it up; we mirror its rows from PostgreSQL.
VISIBLE_STATES = frozenset({NodeState.UP, NodeState.STANDBY})


@dataclass(slots=True)
class Delta:
    """What one change did through the state's one door (RegistrationState.apply).

    Every subscriber gets every Delta (docs/registrations.md): persistence, metrics, the
    guard, the directory's node flusher, the API's presence picture, the console. A
    subscriber looks at the fields it cares about and ignores the rest.
    """

    node: str
    upserted: list[Registration] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # tokens (Call-IDs)
    replaced: bool = False  # the node's whole set was replaced (snapshot)
    reconciled: bool = False  # a reconcile found the state and sofia's listing apart
    # Read from the rows another instance wrote (the standby mirror), not seen here: no
    # event of this instance's (the guard does not judge it, the console does not count it).
    mirrored: bool = False
    # The node's new state, when this Delta is a node state change (no binding changed).
    node_state: NodeState | None = None
    # What FreeSWITCH decided about one authentication (sofia::register_attempt or
    # register_failure): no binding changed; the guard reads it.
    seen: AuthSeen | None = None


class RegistrationView(Protocol):
    """What readers may ask of the registration state. Bindings of a node that is DOWN
    are never returned (they are not known to be online)."""

    def registrations_of(self, domain: str, user: str) -> Sequence[Registration]: ...

    def all_registrations(self) -> Sequence[Registration]: ...

    def online_counts(self) -> Mapping[tuple[str, str], int]:
        """Bindings answered per (node, lower-cased domain), without walking them."""
        ...

    def registered_from(self, address: str) -> bool:
        """Whether a binding answered has this ``network_ip`` (canonical), without walking them."""
        ...

    def is_online(self, domain: str, user: str) -> bool: ...

    def nodes(self) -> Sequence[NodeStatus]: ...

    def subscribe(self, listener: Callable[[Delta], None]) -> None:
        """Call ``listener`` with every Delta the state's one door applies, from now on."""
        ...
