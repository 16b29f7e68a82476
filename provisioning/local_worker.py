"""The local lanes' worker runtime: what the Functions host and its Python worker bring, once.

On App Service the app's dependencies come from its package (`.python_packages`), and the only
Python packages beside them are the worker's own. Local lanes run the same way: every lane host
runs this interpreter without its site-packages (`python -S`), with one shared directory holding
what the dev host needs (the worker's part: azure-functions, aiohttp, httpx; not
azure-functions-durable, which an app brings in its package) and the app's `.python_packages`
first on sys.path (devhost.app_loader). A package built without its dependencies then fails to
import here as it would on Azure. The directory is installed once per machine, cached by content
(provisioning.packaging).
"""

from __future__ import annotations

import asyncio
import logging
from importlib import metadata
from pathlib import Path

from provisioning import packaging

logger = logging.getLogger(__name__)

# What `python -m devhost` imports: the Python worker's own packages, never an app's.
WORKER_NEEDS = ("azure-functions", "aiohttp", "httpx")
# The interpreter option that leaves its site-packages (the router's) off sys.path.
NO_SITE = ("-S",)


def worker_requirements() -> str:
    """The dev host's needs, pinned to the versions this process runs (those it was built on)."""
    pinned = []
    for name in WORKER_NEEDS:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(name)
    return "\n".join(pinned) + "\n"


async def worker_site_packages(cache_dir: Path) -> Path:
    """The shared worker runtime's site-packages under `cache_dir`, installed on first use."""

    def progress(line: str) -> None:
        logger.info("lane worker runtime: %s", line)

    installed = await asyncio.to_thread(
        packaging.installed_site_packages,
        worker_requirements(),
        packaging.native_target(),
        cache_dir=cache_dir,
        progress=progress,
    )
    return installed / "site-packages"
