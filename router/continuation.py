"""Continuation tokens of the router's instance list across lanes: opaque, signed, bound to the query.

A token says which lane the next page starts in and carries that lane's own token. It is signed
with an HMAC, so a crafted or edited token is a 400 before anything of it reaches a lane, and it
names the query it continues (its filters), so it cannot be replayed under another. The signing
key derives from the admin keys (every worker of a router shares them, so a token issued by one
is read by another; rotating the keys ends the tokens in flight) or, for a router without keys,
from a secret of this process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from router.errors import BadRequest

if TYPE_CHECKING:
    from router.settings import Settings

MAX_TOKEN = 4096
_PROCESS_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True)
class Page:
    """Where the next page starts: a lane, and that lane's own token (None: its first page)."""

    lane: str
    lane_token: str | None


class ContinuationTokens:
    def __init__(self, admin_keys: tuple[str, ...] | None) -> None:
        material = "\n".join(sorted(admin_keys)).encode() if admin_keys else _PROCESS_SECRET
        self._key = hashlib.sha256(b"router continuation token\n" + material).digest()

    def sign(self, document: dict[str, object]) -> str:
        """`document` signed with this router's key, as an opaque ASCII token (also the patch
        gate's replay-check tickets: one secret, the documents tell their kinds apart)."""
        payload = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def verified(self, token: object) -> dict[str, object] | None:
        """The document a token this router signed carries; None for anything else."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        mac, payload = raw[:32], raw[32:]
        if len(mac) < 32 or not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()):
            return None
        document = json.loads(payload)  # signed by us: well-formed
        return document if isinstance(document, dict) else None

    def issue(self, scope: str, page: Page) -> str:
        return self.sign({"lane": page.lane, "token": page.lane_token, "scope": scope})

    def read(self, scope: str, token: str, field: str) -> Page:
        """The page a token this router issued for `scope` names; BadRequest naming `field` otherwise."""
        document = self.verified(token)
        if document is None or document.get("scope") != scope:
            raise BadRequest("The continuation token is not one this router issued for this query.", field=field)
        return Page(str(document["lane"]), document["token"])  # type: ignore[arg-type]


def router_signer(settings: Settings) -> ContinuationTokens:
    """The router's one signing key, as every route that signs or reads a token builds it."""
    return ContinuationTokens(settings.role_keys.admin if settings.role_keys else None)
