"""A fake Azure Blob Storage account over HTTPS, for packages a site runs from (GET only).

Blobs are private, as in a real account with anonymous access off: a read needs a SAS query this
account issued (`sas_url`) or a bearer token of a principal that holds a data-reader role on the
account (`grant_reader`, the role assignment an operator makes). Errors answer as the Blob service
does: an XML `<Error>` body and the `x-ms-error-code` header
(https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes and
.../common-rest-api-error-codes): an anonymous read of a private blob is 404 ResourceNotFound, a
bad signature 403 AuthenticationFailed, a principal without a data role 403
AuthorizationPermissionMismatch, a missing blob 404 BlobNotFound.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from tests.fakes.tls_server import Reply, Request


@dataclass(frozen=True)
class BlobRead:
    """One read as the account saw it (never the SAS signature or the token itself)."""

    path: str
    auth: str  # "sas" | "bearer:<principal>" | "bearer:?" | "anonymous"
    status: int


class FakeBlobStorage:
    """Blob containers in memory; `base_url` is set once the server runs."""

    def __init__(self, account: str = "fakepackages") -> None:
        self.account = account
        self.base_url = ""
        self.reads: list[BlobRead] = []
        self._blobs: dict[str, bytes] = {}
        self._signatures: dict[str, str] = {}  # sig -> the blob path it was issued for
        self._tokens: dict[str, str] = {}  # bearer token -> principal
        self._readers: set[str] = set()
        self._lock = threading.Lock()

    # --- test controls -------------------------------------------------------------------

    def put(self, container: str, name: str, data: bytes) -> str:
        """Store a blob; returns its plain URL (which alone reads nothing: blobs are private)."""
        path = f"/{container}/{quote(name)}"
        with self._lock:
            self._blobs[path] = data
        return self.base_url + path

    def sas_url(self, container: str, name: str) -> str:
        """A read SAS URL for a blob (the signature is a secret, as a real SAS is)."""
        path = f"/{container}/{quote(name)}"
        signature = secrets.token_urlsafe(24)
        with self._lock:
            self._signatures[signature] = path
        return f"{self.base_url}{path}?sv=2024-11-04&sr=b&sp=r&sig={signature}"

    def grant_reader(self, principal: str) -> None:
        """Give `principal` (an identity's resource id, or `SystemAssigned:<site>`) Storage Blob
        Data Reader on the account."""
        with self._lock:
            self._readers.add(principal.lower())

    def token_for(self, principal: str) -> str:
        """The bearer token Entra ID would issue `principal` for https://storage.azure.com/."""
        token = f"fake-storage-token-{secrets.token_hex(8)}"
        with self._lock:
            self._tokens[token] = principal.lower()
        return token

    def accept_token(self, token: str, principal: str) -> None:
        """Take `token` as `principal`'s: e.g. the token a test's managed identity endpoint gives
        the router, so the router can read a package with its own identity."""
        with self._lock:
            self._tokens[token] = principal.lower()

    def contains(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    # --- the Blob service ----------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        url = urlsplit(request.target)
        path = url.path
        if request.method not in ("GET", "HEAD"):
            return self._read(path, "anonymous", _error(403, "AuthorizationFailure",
                              "This request is not authorized to perform this operation."))
        signature = dict(parse_qsl(url.query)).get("sig")
        authorization = request.headers.get("authorization", "")
        with self._lock:
            blob = self._blobs.get(path)
            if signature is not None:
                auth = "sas"
                allowed = self._signatures.get(signature) == path
                refusal = None if allowed else _error(
                    403, "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of Authorization "
                    "header is formed correctly including the signature.",
                )  # fmt: skip
            elif authorization.startswith("Bearer "):
                principal = self._tokens.get(authorization.removeprefix("Bearer ").strip())
                auth = f"bearer:{principal or '?'}"
                if principal is None:
                    refusal = _error(401, "InvalidAuthenticationInfo", "Server failed to authenticate the request.")
                elif principal not in self._readers:
                    refusal = _error(
                        403, "AuthorizationPermissionMismatch",
                        "This request is not authorized to perform this operation using this permission.",
                    )  # fmt: skip
                else:
                    refusal = None
            else:
                auth = "anonymous"
                refusal = _error(404, "ResourceNotFound", "The specified resource does not exist.")
        if refusal is not None:
            return self._read(path, auth, refusal)
        if blob is None:
            return self._read(path, auth, _error(404, "BlobNotFound", "The specified blob does not exist."))
        return self._read(path, auth, Reply(200, {"Content-Type": "application/zip", "x-ms-blob-type": "BlockBlob"}, blob))

    def _read(self, path: str, auth: str, reply: Reply) -> Reply:
        with self._lock:
            self.reads.append(BlobRead(path, auth, reply.status))
        return reply


def _error(status: int, code: str, message: str) -> Reply:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    return Reply(status, {"Content-Type": "application/xml", "x-ms-error-code": code}, body)
