"""bridge_registrations_online's counts, and whether an address has a live binding (the
guard's question), are kept as bindings come and go (state.py), so a scrape or a judged
failure does not walk every binding held (0.3-0.5 s at 500,000, on the event loop). They
must stay what walking the bindings gives, whatever the changes."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace

from bridge.registrations import events
from bridge.registrations.model import NodeState
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import frame_body
from tests.registrations import frames

NODES = ("fs1", "fs2", "fs3")
NOW = 1795393500.0
ADDRESSES = ("10.0.0.1", "10.0.0.2", "2001:db8::1", "192.0.2.9")  # the last never registers


def _walked(state: RegistrationState) -> dict[tuple[str, str], int]:
    return dict(Counter((r.node, r.realm.lower()) for r in state.all_registrations()))


def test_given_random_changes_then_the_kept_counts_equal_the_walked_ones() -> None:
    change = events.to_change("fs1", json.loads(frame_body(frames.REGISTER_1001)), now=0.0)
    assert isinstance(change, events.Registered)
    base = change.registration
    rng = random.Random(25)
    state = RegistrationState(NODES, multiple_registrations=("fs3",), clock=lambda: NOW)
    for node in NODES:
        state.apply(events.NodeChanged(node, NodeState.UP, NOW))

    def binding(node: str) -> events.Registered:
        realm = rng.choice(["a.test", "A.test", "b.test", "c.test"])  # case folds to one domain
        reg = replace(
            base, node=node, token=f"call-{rng.randrange(60)}", reg_user=str(rng.randrange(1000, 1010)),
            realm=realm, expires=str(int(NOW) + rng.choice([-5, 60, 3600])),
            network_ip=rng.choice(ADDRESSES[:-1]),
        )
        return events.Registered(node, reg)

    for step in range(3000):
        node = rng.choice(NODES)
        roll = rng.random()
        if roll < 0.55:
            state.apply(binding(node))
        elif roll < 0.75:
            held = state.bindings_of_node(node)
            if held:
                gone = rng.choice(held)
                ended = events.Unregistered(
                    node, "unregister", gone.profile, gone.reg_user, gone.realm, gone.token
                )
                state.apply(ended)
        elif roll < 0.82:
            listed = tuple(binding(node).registration for _ in range(rng.randrange(8)))
            state.apply(events.Snapshot(node, listed))
        elif roll < 0.9:
            moved = rng.choice([NodeState.DOWN, NodeState.UP, NodeState.STANDBY])
            state.apply(events.NodeChanged(node, moved, NOW))
        else:
            state.sweep(NOW + rng.choice([0, 100]))
        assert state.online_counts() == _walked(state), f"step {step}"
        live = {r.network_ip for r in state.all_registrations()}
        for address in ADDRESSES:
            assert state.registered_from(address) == (address in live), f"step {step} {address}"
    assert _walked(state), "the walk ended with nothing held: the test proved little"
