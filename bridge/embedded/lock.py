"""One owner per state_dir: an exclusive fcntl.flock on a lock file, held while the owner lives.

The kernel drops the lock when the holder's last descriptor closes, so a crash (SIGKILL
included) never leaves a lock that lies, the way a PID file can. The file's content (the
holder's PID) is only there to name the holder in the refusal message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bridge.errors import BridgeError


class StateDirBusy(BridgeError):
    """Another process owns this state_dir's embedded PostgreSQL."""


class OwnerLock:
    """``acquire()`` takes the lock or raises StateDirBusy at once; ``release()`` lets it go."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateDirBusy(
                f"{self.path.parent} is in use by another bridge (pid {holder}, lock {self.path}):"
                " one `bridge serve` per state_dir; stop that one, or give this one its own"
                " state_dir or a DATABASE_URL"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock
