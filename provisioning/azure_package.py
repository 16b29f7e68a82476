"""Check a release's package against its sha256 before an Azure lane app is pointed at it.

The app fetches WEBSITE_RUN_FROM_PACKAGE itself, so this is the router's only chance to refuse
a package that is not the build the pipeline announced. The URL often carries a SAS token: it
is never logged nor put in an error, only its host and path are.
"""

from __future__ import annotations

import hashlib
import ssl
from urllib.parse import urlsplit

import aiohttp

from router.errors import PackageError

_CHUNK = 1 << 16


def shown_location(url: str) -> str:
    """Where a package lives, without its query (which may hold a SAS signature)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def verify_package_sha256(
    url: str, expected: str, *, verify: bool | str = True, timeout: float = 300.0
) -> str:
    """Download `url` and return its sha256; PackageError unless it equals `expected`."""
    where = shown_location(url)
    ssl_option: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    )
    digest = hashlib.sha256()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, ssl=ssl_option) as response:
                if response.status != 200:
                    raise PackageError(f"package {where} answered HTTP {response.status}", package=where)
                async for chunk in response.content.iter_chunked(_CHUNK):
                    digest.update(chunk)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise PackageError(
            f"package {where} could not be fetched ({type(err).__name__})", package=where
        ) from None
    actual = digest.hexdigest()
    if actual != expected.strip().lower():
        raise PackageError(
            f"package {where} has sha256 {actual}, but the release announced {expected}",
            package=where,
        )
    return actual
