"""Digest and login hash formulas (checked against the XUI document's own example rows).

ha1  = md5("{extn}:{domain}:{password}")          digest username "1001"
ha1b = md5("{extn}@{domain}:{domain}:{password}") digest username "1001@domain"
sha1 = SHA1(login + password + salt)              web login, stored as bytea
"""

from __future__ import annotations

import hashlib


def ha1(extn: str, domain: str, password: str) -> str:
    return hashlib.md5(f"{extn}:{domain}:{password}".encode()).hexdigest()


def ha1b(extn: str, domain: str, password: str) -> str:
    return hashlib.md5(f"{extn}@{domain}:{domain}:{password}".encode()).hexdigest()


def login_sha1(login: str, password: str, salt: str) -> bytes:
    return hashlib.sha1(f"{login}{password}{salt}".encode()).digest()
