"""Packages for the local backend: locate, fetch, verify and unpack a Functions app zip.

A package URL may carry a SAS token in its query, so messages name a package by
`packages.describe_location`, never by its full URL.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from provisioning.base import Package
from provisioning.errors import PackageError
from provisioning.package_download import download_package
from provisioning.packages import check_package_location, local_path_of, sha256_of

REQUIRED_FILES = ("host.json", "function_app.py")
_READY_MARKER = ".unpacked"


@dataclass(frozen=True)
class LocalPackage:
    """A package file on this machine and its sha256; `temporary` when we downloaded it."""

    path: Path
    sha256: str
    temporary: bool = False


async def fetch_package(
    package: Package,
    downloads_dir: Path,
    allowed_hosts: tuple[str, ...],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LocalPackage:
    """Make `package` a local file: a local path as is, an allowed https URL downloaded."""
    check_package_location(package.url, allowed_hosts, local_allowed=True)
    path = local_path_of(package.url)
    if path is not None:
        if not path.is_file():
            raise PackageError(f"package file {str(path)!r} does not exist")
        return LocalPackage(path=path.resolve(), sha256=await asyncio.to_thread(sha256_of, path))
    downloads_dir.mkdir(parents=True, exist_ok=True)
    target = downloads_dir / f"{uuid.uuid4().hex}.zip"
    sha256 = await download_package(package.url, target, transport=transport)
    return LocalPackage(path=target, sha256=sha256, temporary=True)


def package_dir_name(sha256: str) -> str:
    """The directory a package with this digest is unpacked into."""
    return sha256[:20]


def unpack_package(package: LocalPackage, packages_dir: Path) -> Path:
    """Unpack into `packages_dir/<sha256 prefix>` (once; a complete earlier unpack is reused)."""
    target = packages_dir / package_dir_name(package.sha256)
    if (target / _READY_MARKER).is_file():
        return target
    if target.exists():
        shutil.rmtree(target)  # a half-unpacked leftover of a crash
    staging = packages_dir / f".{target.name}.{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        _extract(package.path, staging)
        (staging / _READY_MARKER).write_text(package.sha256)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _extract(zip_path: Path, into: Path) -> None:
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageError(f"package is not a readable zip file: {exc}") from None
    with archive:
        names = archive.namelist()
        for name in names:
            member = PurePosixPath(name.replace("\\", "/"))
            if member.is_absolute() or ".." in member.parts or ":" in name:
                raise PackageError(f"package entry {name!r} points outside the app directory")
        missing = [f for f in REQUIRED_FILES if f not in names]
        if missing:
            hint = ""
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and all(f"{next(iter(tops))}/{f}" in names for f in REQUIRED_FILES):
                hint = "; zip the app directory's contents, not the directory itself"
            raise PackageError(
                f"package is not a Functions app: missing {', '.join(missing)} at its root{hint}"
            )
        try:
            archive.extractall(into)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise PackageError(f"package could not be unpacked: {exc}") from None


def apply_task_hub(app_dir: Path, task_hub: str) -> None:
    """Set host.json's durable task hub, as the app setting
    `AzureFunctionsJobHost__extensions__durableTask__hubName` overrides it on Azure."""
    path = app_dir / "host.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PackageError(f"the package's host.json cannot be read: {exc}") from None
    if not isinstance(doc, dict):
        raise PackageError("the package's host.json does not hold a JSON object")
    extensions = doc.setdefault("extensions", {})
    durable = extensions.setdefault("durableTask", {})
    if durable.get("hubName") == task_hub:
        return
    durable["hubName"] = task_hub
    staging = path.with_name(f".host.json.{uuid.uuid4().hex[:8]}")
    staging.write_text(json.dumps(doc, indent=2))
    staging.replace(path)
