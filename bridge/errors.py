"""The exception tree; each edge translates these once (XUI JSON, directory 4xx, log line).

BridgeError
├── ConfigError            bad setting: the CLI prints it and exits 2
├── DatabaseUnavailable    PostgreSQL down, or a query over database.query_timeout
├── RequestError           a client's fault; carries an HTTP status, a stable code and a
│   │                      safe one-line reason (never a secret, never a traceback)
│   ├── Unauthorized       401
│   ├── Forbidden          403
│   ├── NotFound           404
│   └── SlowBody           408: a body not received within http.body_timeout
└── EslError               a FreeSWITCH Event Socket problem
    ├── NodeUnavailable    the node is not connected
    └── CommandTimeout     a command got no reply within freeswitch.command_timeout
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error bridge raises on purpose."""


class ConfigError(BridgeError):
    pass


class DatabaseUnavailable(BridgeError):
    @classmethod
    def caused_by(cls, message: str, cause: BaseException | None) -> DatabaseUnavailable:
        """A new one with ``cause`` as its ``__cause__``: one per waiting caller (re-raising a
        shared exception would grow its traceback with each)."""
        error = cls(message)
        error.__cause__ = cause
        return error


class RequestError(BridgeError):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, reason: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class Unauthorized(RequestError):
    status = 401
    code = "unauthorized"


class Forbidden(RequestError):
    status = 403
    code = "forbidden"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class SlowBody(RequestError):
    status = 408
    code = "slow_body"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"body not received within {seconds}s")


class EslError(BridgeError):
    pass


class NodeUnavailable(EslError):
    pass


class CommandTimeout(EslError):
    pass
