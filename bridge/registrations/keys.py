"""The registrations job's web.AppKeys: its state, its command interface, its instance id."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from bridge.registrations.model import RegistrationView
from bridge.registrations.nodes import NodeCommands
from bridge.registrations.persist import RegistrationStore

# The registration state (read-only view) and the FreeSWITCH command interface.
REGISTRATIONS: web.AppKey[RegistrationView] = web.AppKey("registrations")
FREESWITCH: web.AppKey[NodeCommands] = web.AppKey("freeswitch")
# This process's id among bridge instances (node lease owner), and the registration sync.
INSTANCE: web.AppKey[str] = web.AppKey("instance", str)
REGISTRATION_STORE: web.AppKey[RegistrationStore] = web.AppKey("registration_store", RegistrationStore)
# Optional, set before start-up: the wall clock registration expiry is judged by (tests).
REGISTRATION_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("registration_clock")
