"""The seam between the lookup path and the registration guard (bridge/guard/): a protocol and its key.

The guard sets ``app[LOOKUP_GUARD]`` in its setup; the directory endpoint then asks it, for
every sip_auth lookup, ``refused`` before answering (an in-memory probe, nothing parsed while
no ban exists) and hands it the answer with ``observe`` after (a queue append: the digest
check happens in the guard's own task, off the lookup's path).
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest


class LookupGuard(Protocol):
    def refused(self, body: bytes, request: DirectoryRequest) -> str | None:
        """"banned" or "limited" when this lookup must be answered not-found at once, else None."""
        ...

    def observe(
        self,
        body: bytes,
        request: DirectoryRequest,
        reason: str,
        realm_mismatch: str,
        extension: Extension | None = None,
    ) -> None:
        """Queue the lookup, its answer's reason and the record it was decided from (when
        there was one) for the guard; never blocks, never raises."""
        ...


LOOKUP_GUARD: web.AppKey[LookupGuard] = web.AppKey("directory_lookup_guard")
