"""Authentication of the embedded PostgreSQL: scram-sha-256 with a random password, no trust.

The password is made once per data directory, kept beside it with mode 0600 and carried by
the DSN. pg_hba.conf asks every connection for it, TCP and Unix socket alike; the socket
itself lives in the data directory (mode 0700, the server user's), so no other local user
can even reach it. A data directory made before this (``--auth=trust``) is upgraded in
place at start: the password is set in single-user mode, with no server listening, and
pg_hba.conf is rewritten.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# The first line marks a pg_hba.conf bridge wrote: any other file is rewritten at start.
HBA_MARKER = "# bridge: scram-sha-256 only (written by bridge at start; edits are replaced)"
HBA = f"""{HBA_MARKER}
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
"""


def hba_is_current(data_dir: Path) -> bool:
    try:
        return (data_dir / "pg_hba.conf").read_text() == HBA
    except FileNotFoundError:
        return False


def write_hba(data_dir: Path) -> None:
    target = data_dir / "pg_hba.conf"
    stat = target.stat()
    temporary = target.with_name("pg_hba.conf.bridge")
    temporary.write_text(HBA)
    os.chown(temporary, stat.st_uid, stat.st_gid)  # the server user must read it
    temporary.chmod(0o600)
    temporary.replace(target)


def read_password(path: Path) -> str | None:
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        return None
    return password or None


def new_password(path: Path) -> str:
    """A fresh random password, written to ``path`` (mode 0600) before anything uses it."""
    password = secrets.token_urlsafe(32)  # URL-safe: it goes into the DSN as it is
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    temporary.replace(path)
    return password


def alter_password_sql(role: str, password: str) -> str:
    return f"ALTER ROLE \"{role}\" PASSWORD '{password}';\n"
