"""Keys that separate roles: clients, release pipelines and admins each hold keys of their own.

The router's HTTP routes are anonymous at the Functions host, whose FUNCTION level accepts any host
key on Azure, and the router checks the key itself: `x-functions-key` must be one of its route's
role keys (ROUTER_CLIENT_KEYS, ROUTER_RELEASE_KEYS, ROUTER_ADMIN_KEYS). No key or an unknown one is
a 401, another role's key a 403. Keys are compared by their SHA-256 digests with
`hmac.compare_digest`, against every key of every role, so the time taken tells nothing about
which key came close. A key is never logged, echoed or shown in a repr.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from router.errors import Forbidden, Unauthorized

KEY_HEADER = "x-functions-key"
MIN_KEY_LENGTH = 32


class Role(StrEnum):
    CLIENT = "client"
    RELEASE = "release"
    ADMIN = "admin"


ROLE_SETTINGS: Mapping[Role, str] = {
    Role.CLIENT: "ROUTER_CLIENT_KEYS",
    Role.RELEASE: "ROUTER_RELEASE_KEYS",
    Role.ADMIN: "ROUTER_ADMIN_KEYS",
}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class RoleKeys:
    """Each role's keys (several, so a key can be rotated without downtime)."""

    client: tuple[str, ...] = field(repr=False)
    release: tuple[str, ...] = field(repr=False)
    admin: tuple[str, ...] = field(repr=False)

    def keys_of(self, role: Role) -> tuple[str, ...]:
        return {Role.CLIENT: self.client, Role.RELEASE: self.release, Role.ADMIN: self.admin}[role]

    @cached_property
    def _digests(self) -> tuple[tuple[bytes, Role], ...]:
        """Every known key's digest with its role, worked out once rather than per request."""
        return tuple((_digest(known), role) for role in Role for known in self.keys_of(role))

    def role_of(self, key: str | None) -> Role | None:
        """The role `key` belongs to, None for none; every known key is compared, whatever matches."""
        if not key:
            return None
        offered = _digest(key)
        found: Role | None = None
        for known, role in self._digests:
            if hmac.compare_digest(offered, known) and found is None:
                found = role
        return found

    def authorize(self, headers: Mapping[str, str], needed: Role) -> None:
        """Unauthorized (401) without a known key, Forbidden (403) with another role's."""
        key = _header(headers, KEY_HEADER)
        role = self.role_of(key)
        if role is None:
            # The management URLs the router hands out carry no key (Azure's carry `?code=`), so
            # `curl "$statusQueryGetUri"` lands here: say where the key goes.
            raise Unauthorized(
                f"This route needs {_a(needed)} key in the {KEY_HEADER} header "
                f"(the key is missing or not one of the router's; a ?code= query parameter is not read).",
                field=KEY_HEADER, role=needed.value,
            )
        if role is not needed:
            raise Forbidden(
                f"This route needs {_a(needed)} key; the key sent is {_a(role)} key.",
                field=KEY_HEADER, role=needed.value,
            )


def _a(role: Role) -> str:
    """The role with its article: "a client", "an admin"."""
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict from a test or another host
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value
