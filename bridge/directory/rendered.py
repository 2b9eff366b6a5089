"""What the directory edge needs of an answer: the bytes, and the outcome for metrics and logs."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.directory import lookup, render


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    found: bool
    # found, unknown, disabled, no_credential, realm_mismatch, ... (lookup.Answer.reason)
    reason: str
    # sip_auth only: "" (realm matched), "refused" or "password".
    realm_mismatch: str = ""

    @classmethod
    def of(cls, answer: lookup.Answer) -> Rendered:
        return cls(render.render(answer), answer.found, answer.reason, answer.realm_mismatch)
