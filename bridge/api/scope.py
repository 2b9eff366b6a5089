"""What a caller may provision: a super user everywhere, a domain admin within its domain,
anyone else only their own password (pure: decided from the Principal's fields alone).

The one seam between provisioning and authentication: ``Scope.of(principal)``. A developer
key made with the web password acts as its user and so gets that user's scope; a key made
from an extension's SIP credentials acts only as that extension and provisions nothing,
not even its owner's password (docs/admin-api-security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.errors import Forbidden

if TYPE_CHECKING:
    from bridge.api.auth import Principal

NO_PERMISSION = "no permission"  # XUI's words for a 403 (xui-rest-api.zh.txt)


@dataclass(frozen=True, slots=True)
class Scope:
    user_id: int
    login: str
    domain: str  # the caller's own domain
    is_super: bool
    is_admin: bool

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        if not principal.user_rights:
            raise Forbidden(NO_PERMISSION)
        return cls(
            user_id=principal.user_id,
            login=principal.login,
            domain=principal.domain,
            is_super=principal.is_super,
            is_admin=principal.is_admin,
        )

    @property
    def provisions(self) -> bool:
        """May create, change and delete users and extensions (in ``domains``)."""
        return self.is_super or self.is_admin

    @property
    def domains(self) -> str | None:
        """The one domain this caller provisions, or None for every domain."""
        return None if self.is_super else self.domain

    def who(self) -> str:
        """The caller as log lines name it."""
        return f"{self.login!r}(id={self.user_id})"

    def require_admin(self) -> Scope:
        if not self.provisions:
            raise Forbidden(NO_PERMISSION)
        return self

    def may_manage(self, domain: str | None) -> bool:
        return self.is_super or (self.is_admin and domain == self.domain)

    def require_domain(self, domain: str | None) -> None:
        if not self.may_manage(domain):
            raise Forbidden(NO_PERMISSION)

    def domain_for(self, requested: str | None) -> str:
        """The domain a new row goes to: the one asked for when allowed, else the caller's."""
        if requested is None or requested == self.domain:
            return self.domain
        self.require_domain(requested)
        return requested

    def may_grant(self, values: dict[str, object]) -> None:
        """Only a super user makes super users; a domain admin may make admins of its domain."""
        if not self.is_super and values.get("is_super"):
            raise Forbidden(NO_PERMISSION)
