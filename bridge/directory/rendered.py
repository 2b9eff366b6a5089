"""What the directory edge needs of an answer: the bytes, and the outcome for metrics and logs."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.directory import lookup, render
from bridge.directory.extension import Extension


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    found: bool
    # found, unknown, disabled, no_credential, realm_mismatch, ... (lookup.Answer.reason)
    reason: str
    # sip_auth only: "" (realm matched), "refused" or "password".
    realm_mismatch: str = ""
    # The record the answer was decided from (per-user answers): what the registration
    # guard checks the digest against, so it never reads the extension a second time.
    extension: Extension | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, answer: lookup.Answer, extension: Extension | None = None) -> Rendered:
        return cls(render.render(answer), answer.found, answer.reason, answer.realm_mismatch, extension)
