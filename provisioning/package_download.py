"""Download a release's package over https: the one HTTP stack (httpx) both backends use.

The Azure backend reads a package only to check its sha256 before an app is pointed at it (the
app fetches WEBSITE_RUN_FROM_PACKAGE itself); the local backend keeps the file to unpack it. A
blob URL without a SAS is read with the router's own identity: a bearer token for storage
(docs: "Authorize access to blobs using Microsoft Entra ID", which requires x-ms-version).
`transport` is the seam (httpx's one method from request to response): tests pass
`httpx.MockTransport`. A package URL often carries a SAS
token, so errors name the package by `describe_location` and an httpx error by its type only.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from pathlib import Path

import httpx

from provisioning.errors import PackageError
from provisioning.packages import describe_location

MAX_PACKAGE_BYTES = 512 * 1024 * 1024
# Blob storage accepts a bearer token only from this service version on.
BLOB_SERVICE_VERSION = "2021-08-06"


async def download_package(
    url: str,
    target: Path | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    verify: bool | str = True,
    timeout: float = 120.0,
    max_bytes: int = MAX_PACKAGE_BYTES,
    bearer_token: str | None = None,
) -> str:
    """GET `url` (no redirects), writing it to `target` if given; its hex sha256.

    `verify` is True, False or a CA bundle's path; `bearer_token` (a secret, never logged) is
    sent when given. On any failure `target` is removed and a PackageError says why.
    """
    where = describe_location(url)
    digest = hashlib.sha256()
    size = 0
    if transport is None:
        verify_option: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        transport = httpx.AsyncHTTPTransport(verify=verify_option)
    # Straight to the transport, not through a client: httpx's client logs every request's full
    # URL (SAS token and all) at INFO, and follows no redirect here anyway (one could lead to a
    # host that is not allowed).
    headers = {"Authorization": f"Bearer {bearer_token}", "x-ms-version": BLOB_SERVICE_VERSION} if bearer_token else {}
    request = httpx.Request(
        "GET", url, headers=headers, extensions={"timeout": httpx.Timeout(30.0, read=timeout).as_dict()}
    )
    try:
        async with transport:
            response = await transport.handle_async_request(request)
            try:
                if response.is_redirect:
                    raise PackageError(f"package {where} redirects elsewhere; post the final https URL", package=where)
                if response.status_code in (401, 403) and bearer_token:
                    raise PackageError(
                        f"package {where} answered HTTP {response.status_code} to the router's identity: "
                        "grant it (and the lanes' identity) Storage Blob Data Reader on the container",
                        package=where,
                    )
                if response.status_code != 200:
                    raise PackageError(f"package {where} answered HTTP {response.status_code}", package=where)
                with open(target, "wb") if target is not None else contextlib.nullcontext() as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise PackageError(f"package {where} is larger than {max_bytes} bytes", package=where)
                        digest.update(chunk)
                        if out is not None:
                            out.write(chunk)
            finally:
                await response.aclose()
    except httpx.HTTPError as exc:
        if target is not None:
            target.unlink(missing_ok=True)
        # The exception text may quote the URL with its query: name the type only.
        raise PackageError(f"package {where} could not be fetched ({type(exc).__name__})", package=where) from None
    except BaseException:
        if target is not None:
            target.unlink(missing_ok=True)
        raise
    return digest.hexdigest()

