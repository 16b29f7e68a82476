"""Read a release's package before an Azure lane app is pointed at it, to check its sha256.

The app fetches WEBSITE_RUN_FROM_PACKAGE itself, so this is the router's only chance to refuse
a package that is not the build the pipeline announced. The URL often carries a SAS token: it
is never logged nor put in an error, only `describe_location` of it is.
"""

from __future__ import annotations

import hashlib
import ssl

import aiohttp

from provisioning.packages import describe_location
from router.errors import PackageError

_CHUNK = 1 << 16


async def package_sha256(url: str, *, verify: bool | str = True, timeout: float = 300.0) -> str:
    """Download `url` and return its sha256 (PackageError if it cannot be read)."""
    where = describe_location(url)
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
    return digest.hexdigest()
