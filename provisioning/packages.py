"""What both backends say about a release's package: where it lives, and whether it is the build.

A package URL often carries a SAS signature in its query (and may carry credentials before its
host), so a package is named in logs and errors by scheme, host[:port] and path only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from provisioning.base import Package
from router.errors import PackageError


def describe_location(url: str) -> str:
    """The package location without query or credentials, fit for logs and messages."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.rpartition("@")[2]  # user:password@ never shown
        return f"{parts.scheme}://{host}{parts.path}"
    return url.split("?", 1)[0]


def verify_sha256(package: Package, actual: str) -> None:
    """PackageError naming both digests unless `actual` is the one the release announced."""
    if package.sha256 is None:
        return
    expected = package.sha256.strip().lower()
    if actual != expected:
        where = describe_location(package.url)
        raise PackageError(
            f"package {where} has sha256 {actual}, but the release announced {expected}",
            package=where,
            expected_sha256=expected,
            actual_sha256=actual,
        )


def sha256_of(path: Path) -> str:
    """The hex sha256 of a package file, as a release announces it."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()
