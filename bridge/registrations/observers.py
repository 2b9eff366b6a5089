"""Other jobs that want the registration changes too (the guard): a list set before start-up.

    app[CHANGE_OBSERVERS].append(callback)   # in that job's setup(app)

Each batch the listener hands over goes to the registration state first, then to every
observer, on the asyncio loop. An observer must not block: it queues, it does not wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiohttp import web

from bridge.registrations.events import Change

log = logging.getLogger(__name__)

Observer = Callable[[Sequence[Change]], None]
CHANGE_OBSERVERS: web.AppKey[list[Observer]] = web.AppKey("registration_change_observers")


def fan_out(
    first: Callable[[list[Change]], object], observers: Sequence[Observer]
) -> Callable[[list[Change]], None]:
    """A sink that applies a batch to ``first`` (the state), then shows it to each observer."""

    def sink(batch: list[Change]) -> None:
        first(batch)
        for observer in observers:
            try:
                observer(batch)
            except Exception:  # an observer's bug must not stop the registration state
                log.exception("registration change observer failed")

    return sink
