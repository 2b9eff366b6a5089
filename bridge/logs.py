"""Logging, configured in exactly one place: plain lines or JSON, with a request id.

Secrets are kept out at the call site (log the user and domain, never the form). The
filter below is a last line of defence for the few names that must never appear.

Control characters in anything logged, by any module, are escaped here (``escape``): a
newline in a login name, a directory ``user`` or a request id cannot start a forged line.
A traceback keeps its lines, each continuation prefixed with ``  | `` so none of them can
pass for a record of its own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from random import getrandbits
from typing import Any

from bridge.config import LogConfig

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def id_for(headers: Mapping[str, str]) -> str:
    """A request's id: the caller's X-Request-Id (up to 64 characters), or a fresh one."""
    return headers.get("X-Request-Id", "")[:64] or f"{getrandbits(48):012x}"


# key=value, "key": "value" and 'key': 'value' pairs whose value must never reach a log
# (form fields, JSON, Python reprs, HTTP headers). A quoted value is redacted whole.
_SECRET = re.compile(
    r"(?i)\b(password|passwd|vm_password|a1-hash|ha1b?|sha1|salt|nonce|cnonce|sip_auth_nonce|"
    r"sip_auth_response|sip_auth_cnonce|response|token|secret|x-xtra-auth-id|authorization|"
    r"cookie|freeswitch_xtra_session_id|gateway-credentials)"
    r"([\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&\",;']+)"
)


def _hide(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{match.group(2)}{quote}<redacted>{quote}"


# HTTP Basic and Bearer credentials, wherever they appear (e.g. "Authorization: Basic ...").
_CREDENTIALS = re.compile(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9+/=._~-]{6,}")


def redact(text: str) -> str:
    return _SECRET.sub(_hide, _CREDENTIALS.sub(r"\1\2<redacted>", text))


# C0 controls, DEL, C1 controls (NEL among them) and the Unicode line/paragraph separators.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def escape(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return text if text.isprintable() else text.translate(_ESCAPES)


def _continued(block: str) -> str:
    """A multi-line block (a traceback) under its record: each line escaped and marked."""
    return "".join("\n  | " + escape(line) for line in block.splitlines())


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = escape(request_id.get())
        return True


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info:
            line += _continued(self.formatException(record.exc_info))
        if record.stack_info:
            line += _continued(self.formatStack(record.stack_info))
        return redact(line)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": redact(escape(record.getMessage())),
        }
        if record.exc_info:
            lines = self.formatException(record.exc_info).splitlines()
            entry["exception"] = redact("\n".join(escape(line) for line in lines))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(config: LogConfig, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Context())
    if config.json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _PlainFormatter("%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    # aiohttp's access log repeats every FreeSWITCH lookup; keep it at warning.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
