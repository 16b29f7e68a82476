"""What both backends (and the router's release intake) say about a release's package: where it
may come from, where it lives, and whether it is the build.

A package URL often carries a SAS signature in its query (and may carry credentials before its
host), so a package is named in logs and errors by scheme, host[:port] and path only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from provisioning.base import Package
from provisioning.errors import PackageError, PackageRejected

ALLOWED_HOSTS_SETTING = "ROUTER_ALLOWED_PACKAGE_HOSTS"

# An allow-list entry: a host name, or `*.` and a host name for any of its subdomains.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_PATTERN = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")


def is_host_pattern(entry: str) -> bool:
    """Whether `entry` can stand in the allow-list: `builds.example.com` or `*.example.com`."""
    return bool(_HOST_PATTERN.match(entry.lower()))


def host_is_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Exact host match, or a `*.suffix` entry matching any subdomain of the suffix (not the
    suffix itself); case-insensitive."""
    host = host.lower().rstrip(".")
    for allowed in allowed_hosts:
        allowed = allowed.lower().strip().rstrip(".")
        if allowed.startswith("*."):
            if host.endswith(allowed[1:]) and host != allowed[2:]:
                return True
        elif host == allowed:
            return True
    return False


def local_path_of(url: str) -> Path | None:
    """The file a local package location names (a path or file:// URL), else None."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise PackageRejected(
                f"file URL {describe_location(url)!r} names a remote host; use a local path",
                scheme="file",
            )
        return Path(unquote(parts.path))
    if parts.scheme == "" or (len(parts.scheme) == 1 and url[1:3] in (":\\", ":/")):
        return Path(url).expanduser()
    return None


def check_package_location(url: str, allowed_hosts: tuple[str, ...], *, local_allowed: bool) -> None:
    """PackageRejected unless `url` is an https URL on an allowed host, or (when `local_allowed`,
    i.e. with the local backend) a local path or file:// URL. The one rule for intake and backends."""
    if local_path_of(url) is not None:
        if local_allowed:
            return
        scheme = urlsplit(url).scheme or "local path"
        raise PackageRejected(
            f"package location {describe_location(url)!r} is a {scheme}: the package must be an "
            "https URL",
            scheme=scheme,
        )
    parts = urlsplit(url)
    if parts.scheme != "https":
        also = " (or, with the local provisioner, a local path)" if local_allowed else ""
        raise PackageRejected(
            f"package location {describe_location(url)!r} must be an https URL{also}", scheme=parts.scheme
        )
    host = (parts.hostname or "").lower()
    if not host_is_allowed(host, allowed_hosts):
        listed = ", ".join(allowed_hosts) or "none"
        raise PackageRejected(
            f"package host {host!r} is not allowed ({ALLOWED_HOSTS_SETTING}: {listed})",
            host=host,
        )


def describe_location(url: str) -> str:
    """The package location without query, fragment or credentials, fit for logs and messages."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):  # urlsplit lower-cases the scheme
        host = parts.netloc.rpartition("@")[2]  # user:password@ never shown
        return f"{parts.scheme}://{host}{parts.path}"
    return url.split("?", 1)[0].split("#", 1)[0]


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
