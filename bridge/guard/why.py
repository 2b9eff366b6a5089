"""The verdict on one extension, in plain words, from its recent attempts (pure)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.guard.attempt import Attempt
from bridge.guard.outcome import SUCCESSES, WORDS, Reason


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    says: str
    change: str

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "says": self.says, "change": self.change}


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _source(a: Attempt) -> str:
    where = f"{a.ip}:{a.port}" if a.port else a.ip
    agent = f" ({a.user_agent})" if a.user_agent else ""
    return f"{where}{agent}"


def verdict(user: str, attempts: Sequence[Attempt]) -> Verdict:
    """What the last attempt says about ``user``, with how often it repeated."""
    if not attempts:
        return Verdict(
            False,
            f"{user}: no attempt seen by this bridge since it started",
            "check that the phone sends REGISTER to FreeSWITCH and that FreeSWITCH's xml_curl"
            " binding points at bridge (a first REGISTER without credentials is only challenged)",
        )
    last = attempts[-1]
    same = 0
    for attempt in reversed(attempts):
        if attempt.reason is not last.reason:
            break
        same += 1 + attempt.repeats
    words = WORDS[last.reason]
    repeated = f", {same} attempts in a row" if same > 1 else ""
    detail = f" ({last.detail})" if last.detail else ""
    if last.reason in SUCCESSES and last.freeswitch == "refused":
        return Verdict(
            False,
            f"{user}: the digest was right but FreeSWITCH refused it, last from {_source(last)}"
            f" at {_when(last.latest)}",
            "check the directory answer FreeSWITCH got (user id echoed, ha1b for a user@domain"
            " digest user name) and the FreeSWITCH log",
        )
    ok = last.reason in SUCCESSES
    says = f"{user}: {words.says}{detail}, last from {_source(last)} at {_when(last.latest)}{repeated}"
    if ok and last.reason is Reason.REGISTERED and last.freeswitch == "registered":
        says += " (FreeSWITCH confirmed)"
    return Verdict(ok, says, words.change)
