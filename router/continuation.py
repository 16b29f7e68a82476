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

from router.errors import BadRequest

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

    def issue(self, scope: str, page: Page) -> str:
        payload = json.dumps({"lane": page.lane, "token": page.lane_token, "scope": scope},
                             separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def read(self, scope: str, token: str, field: str) -> Page:
        """The page a token this router issued for `scope` names; BadRequest naming `field` otherwise."""
        refused = BadRequest("The continuation token is not one this router issued for this query.", field=field)
        if not token or len(token) > MAX_TOKEN or not token.isascii():
            raise refused
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise refused from None
        mac, payload = raw[:32], raw[32:]
        if len(mac) < 32 or not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()):
            raise refused
        document = json.loads(payload)  # signed by us: well-formed
        if document.get("scope") != scope:
            raise refused
        return Page(str(document["lane"]), document["token"])
