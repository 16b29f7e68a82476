"""The whole system on one machine: the router in the dev host, lanes from the local provisioner.

Used by `make demo` and the end-to-end tests. Lane hosts run in their own sessions (as apps
on Azure outlive a router restart), so leaving the context stops every lane it created.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from demo.router_client import RouterClient
from devhost.testing import running_host
from provisioning.local import LocalLaneBackend

REPO = Path(__file__).resolve().parent.parent

# Quick lifecycle for a demo or a test: seconds instead of the production minutes.
FAST_SETTINGS = {
    "ROUTER_DRAIN_POLL_SECONDS": "1",
    "ROUTER_MAP_CACHE_SECONDS": "1",
    "ROUTER_DRAIN_GRACE_SECONDS": "1",
}


@contextmanager
def running_router(
    settings: Mapping[str, str] | None = None, *, work_dir: Path | None = None, enable_auth: bool = True
) -> Iterator[RouterClient]:
    """The router with the local provisioner. `enable_auth` (the default) checks keys as on Azure:
    the router gets a key per role (ROUTER_CLIENT_KEYS, ROUTER_RELEASE_KEYS, ROUTER_ADMIN_KEYS), which
    the client holds, and its host runs with `--enableAuth`; lane hosts always check theirs."""
    own_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="router-")) if own_dir else Path(work_dir)  # type: ignore[arg-type]
    lanes_root = work / "lanes"
    env = {
        "ROUTER_TASK_HUB": "RouterHub",
        "ROUTER_PROVISIONER": "local",
        "ROUTER_LOCAL_ROOT": str(lanes_root),
        **FAST_SETTINGS,
        **(settings or {}),
    }
    role_keys = {role: secrets.token_urlsafe(32) for role in ("client", "release", "admin")} if enable_auth else {}
    for role, key in role_keys.items():
        env.setdefault(f"ROUTER_{role.upper()}_KEYS", key)
    try:
        with running_host(REPO, data_dir=work / "router-data", env=env, enable_auth=enable_auth) as host:
            client = RouterClient(
                host.base_url,
                env.get("ROUTER_CLIENT_KEYS", host.function_key).split(",")[0],
                env.get("ROUTER_ADMIN_KEYS", host.master_key).split(",")[0],
                version_header=env.get("ROUTER_VERSION_HEADER", "X-App-Version"),
                release_key=env.get("ROUTER_RELEASE_KEYS", "").split(",")[0],
            )
            client.host = host  # type: ignore[attr-defined]
            client.lanes_root = lanes_root  # type: ignore[attr-defined]
            try:
                yield client
            finally:
                client.close()
    finally:
        asyncio.run(LocalLaneBackend(lanes_root).stop_all())
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
