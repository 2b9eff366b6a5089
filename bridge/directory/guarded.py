"""The seam between the lookup path and the registration guard (bridge/guard/): a protocol and its key.

The guard sets ``app[LOOKUP_GUARD]`` in its setup; the directory endpoint then asks it, for
every sip_auth lookup, ``refused`` before answering (an in-memory probe, nothing read while
no ban exists) and hands it the answer with ``observe`` after (a queue append: the digest
check happens in the guard's own task, off the lookup's path). Both get the form's fields
as the endpoint decoded them, the guard's ``fields`` included: the body is read once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest


class LookupGuard(Protocol):
    # The form fields it reads, decoded by the endpoint along with its own (form.read_fields).
    fields: frozenset[str]

    def refused(self, fields: Mapping[str, str], request: DirectoryRequest) -> str | None:
        """ "banned" or "limited" when this lookup must be answered not-found at once, else None."""
        ...

    def observe(
        self,
        fields: Mapping[str, str],
        request: DirectoryRequest,
        reason: str,
        realm_mismatch: str,
        extension: Extension | None = None,
    ) -> None:
        """Queue the lookup, its answer's reason and the record it was decided from (when
        there was one) for the guard; never blocks, never raises."""
        ...


LOOKUP_GUARD: web.AppKey[LookupGuard] = web.AppKey("directory_lookup_guard")
