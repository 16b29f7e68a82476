"""The local lane backend: each lane is a dev host process on this machine (SPEC 6, "local").

Under the backend's ROOT: `lanes/` (one directory per lane), `locks/`, `downloads/` (https
packages being fetched) and `hostlib/` (the `devhost` package alone, on the lane hosts'
PYTHONPATH). A lane runs its package as App Service does: its dependencies come from the
package's own `.python_packages`, beside one worker runtime shared by every lane (local_worker,
cached machine-wide); no lane has an environment of its own.

One lane = one directory under `ROOT/lanes/<app name>/` (see local_state for its files).

A lane's host runs in its own session, so it outlives the router like an Azure app would; a new
backend on the same root finds it again from state.json when asked for the lane (re-attaching a
live host, restarting a dead one on the same port and data dir). Deploying swaps `current` and
restarts the host: its in-flight orchestrations resume from the data dir on the new code, which
is what a patch means. `python -m provisioning local list|stop|delete` looks after lanes by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncContextManager, Iterable, Mapping

import httpx

from devhost.app_loader import APP_PACKAGES
from devhost.launcher import HostCommand, ping_async
from devhost.ports import free_port
from provisioning import local_process as proc
from provisioning import packaging
from provisioning.base import DURABLE_API_PATH, AppRef, DeployResult, Health, LaneSpec, Package, Readiness
from provisioning.config import ProvisioningConfig
from provisioning.errors import PackageError, ProvisioningError
from provisioning.local_locks import file_lock
from provisioning.local_packages import apply_task_hub, fetch_package, package_dir_name, unpack_package
from provisioning.local_state import MASTER_KEY, SYSTEM_KEY, LaneFiles, LocalLaneRecord, point_symlink
from provisioning.local_worker import NO_SITE, worker_site_packages
from provisioning.naming import is_lane_key, local_app_name
from provisioning.packages import describe_location, verify_sha256

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings of the router's own host that a lane must never inherit (its keys above all).
_NOT_INHERITED_PREFIXES = ("DEVHOST_", "ROUTER_")
_NOT_INHERITED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AzureWebJobsScriptRoot"}
_PACKAGES_KEPT = 2  # the deployed package and the one before it


def _app_name(lane: str) -> str:
    if not is_lane_key(lane):
        raise ProvisioningError(f"lane key {lane!r} is not MAJOR.MINOR")
    return local_app_name(lane)


class LocalLaneBackend:
    """`LaneBackend` whose apps are dev host processes under `root`."""

    def __init__(
        self,
        root: Path,
        *,
        allowed_package_hosts: Iterable[str] = (),
        python: str = sys.executable,
        worker_cache: Path | None = None,
        lane_settings: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        package_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`python` runs the lane hosts (without its own site-packages). `worker_cache` is where
        the lanes' shared worker runtime is installed (default: packaging's machine-wide cache).
        `lane_settings` are extra app settings for every lane. `package_transport` replaces the
        network for package downloads (tests)."""
        self.root = Path(root).resolve()
        self.allowed_package_hosts = tuple(allowed_package_hosts)
        self.python = python
        self.worker_cache = Path(worker_cache) if worker_cache else packaging.DEFAULT_CACHE_DIR
        self.lane_settings = dict(lane_settings or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.package_transport = package_transport
        self._lanes_dir = self.root / "lanes"
        self._files = LaneFiles(self._lanes_dir)

    @classmethod
    def from_config(cls, config: ProvisioningConfig, **options: Any) -> "LocalLaneBackend":
        """The backend the provisioning config describes (local root, where the worker runtime is
        cached: ROUTER_LOCAL_VENV_ROOT, package hosts)."""
        if config.local_venv_root:
            options.setdefault("worker_cache", Path(config.local_venv_root))
        return cls(Path(config.local_root), allowed_package_hosts=config.allowed_package_hosts, **options)

    # --- LaneBackend ---------------------------------------------------------------------------

    async def create_app(self, lane: LaneSpec) -> AppRef:
        name = _app_name(lane.lane)
        async with self._lane_lock(name):
            state = self._files.load(name)
            if state is None:
                state = LocalLaneRecord(
                    lane=lane.lane,
                    name=name,
                    port=free_port(),
                    task_hub=lane.task_hub,
                    created=datetime.now(timezone.utc).isoformat(),
                )
                self._files.create(state)
                logger.info("lane %s: created local app %s on port %d", lane.lane, name, state.port)
            else:
                # Found again (a restarted router, a retried lifecycle): re-attach or restart its host.
                self._files.ensure_keys(name)
                state = await self._ensure_running(state)
            return self._app_ref(state)

    async def configure_app(self, lane: LaneSpec, app: AppRef) -> None:
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            state = self._files.require(lane_dir.name)
            settings = {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "AzureFunctionsJobHost__extensions__durableTask__hubName": lane.task_hub,
                "ROUTER_LANE": lane.lane,
                **self.lane_settings,
            }
            if self._files.settings(lane_dir.name) == settings and state.task_hub == lane.task_hub:
                return
            self._files.write_settings(lane_dir.name, settings)
            state = dataclasses.replace(state, task_hub=lane.task_hub)
            self._files.save(state)
            logger.info("lane %s: settings written (task hub %s)", lane.lane, lane.task_hub)
            # Changed settings take effect the way they do on Azure: the host restarts.
            if state.package_dir and proc.is_running(state.pid, state.pid_started):
                await self._restart(state)

    async def deploy_package(self, lane: LaneSpec, app: AppRef, package: Package) -> DeployResult:
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            state = self._files.require(lane_dir.name)
            fetched = await fetch_package(
                package, self.root / "downloads", self.allowed_package_hosts, transport=self.package_transport
            )
            try:
                verify_sha256(package, fetched.sha256)
                current = lane_dir / "current"
                serving = current.resolve().name if current.is_dir() else ""
                if state.package_sha256 == fetched.sha256 and serving == package_dir_name(fetched.sha256):
                    # The same package again: nothing to swap; only make sure it is being served.
                    state = await self._ensure_running(dataclasses.replace(state, version=lane.version))
                    self._files.save(state)
                    logger.info("lane %s: package %s already deployed", lane.lane, fetched.sha256[:12])
                    return DeployResult(lane.version, fetched.sha256, {DeployResult.UNCHANGED: "true"})
                logger.info(
                    "lane %s: deploying %s from %s (sha256 %s)",
                    lane.lane,
                    lane.version,
                    describe_location(package.url),
                    fetched.sha256[:12],
                )
                package_dir = await asyncio.to_thread(unpack_package, fetched, lane_dir / "packages")
            finally:
                if fetched.temporary:
                    fetched.path.unlink(missing_ok=True)
            point_symlink(current, Path("packages") / package_dir.name)
            state = dataclasses.replace(
                state,
                version=lane.version,
                package_sha256=fetched.sha256,
                package_dir=package_dir.name,
                task_hub=state.task_hub or lane.task_hub,
            )
            await self._restart(state)
            await asyncio.to_thread(self._prune_packages, lane_dir, package_dir.name)
            return DeployResult(lane.version, fetched.sha256, {"port": str(state.port)})

    async def read_system_key(self, app: AppRef) -> str:
        return self._files.keys(self._lane_dir_of(app).name)[SYSTEM_KEY]

    async def check_health(self, app: AppRef) -> Health:
        health, _ = await self._look(app)
        return health

    async def check_readiness(
        self, app: AppRef, *, deployed_at: str = "", triggers_synced: bool = False
    ) -> Readiness:
        """Locally the host has restarted on the package before deploy_package returns (so it
        started after `deployed_at`), its keys exist from creation and triggers need no sync:
        ready is healthy. An app whose functions cannot load will not load on a retry either."""
        health, load_error = await self._look(app)
        if load_error:
            raise PackageError(load_error)
        return Readiness(health.healthy, health.detail, key_read=True, triggers_synced=True)

    async def _look(self, app: AppRef) -> tuple[Health, str]:
        """The app's health and, when its host runs without its functions, why (else "")."""
        lane_dir = self._lane_dir_of(app)
        state = self._files.load(lane_dir.name)
        if state is None:
            return Health(False, f"lane app {lane_dir.name} does not exist"), ""
        if not state.package_dir:
            return Health(False, "no package deployed yet"), ""
        detail = ""
        if not proc.is_running(state.pid, state.pid_started):
            # A crashed host is restarted, as the platform would restart an app's host.
            async with self._lane_lock(state.name):
                state = self._files.require(state.name)
                try:
                    state = await self._ensure_running(state)
                except ProvisioningError as exc:
                    return Health(False, f"host not running and restart failed: {exc.message}"), ""
            detail = "host had stopped and was restarted; "
        base_url = _base_url(state.port)
        if not await ping_async(base_url):
            return Health(False, detail + "host does not answer ping"), ""
        load_error = await self._load_error(state, base_url)
        if load_error:
            return Health(False, detail + load_error), load_error
        key = await self.read_system_key(self._app_ref(state))
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                response = await client.get(
                    f"{base_url}{DURABLE_API_PATH}/instances",
                    params={"top": "1"},
                    headers={"x-functions-key": key},
                )
        except httpx.HTTPError as exc:
            return Health(False, detail + f"Durable HTTP API unreachable: {type(exc).__name__}"), ""
        if response.status_code != 200:
            return Health(False, detail + f"Durable HTTP API answered {response.status_code}"), ""
        return Health(True, detail + f"serving {state.version} on port {state.port}"), ""

    async def restart_app(self, app: AppRef) -> None:
        """A host that died is started again from its state on disk; one that is alive but does
        not answer its ping is stopped and started (as App Service restarts an unhealthy host)."""
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            await self._ensure_running(self._files.require(lane_dir.name))

    async def delete_app(self, app: AppRef) -> None:
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            state = self._files.load(lane_dir.name)
            if state is not None:
                await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)
                logger.info("lane %s: host stopped, deleting %s", state.lane, lane_dir.name)
            if lane_dir.exists():
                await asyncio.to_thread(shutil.rmtree, lane_dir)

    async def aclose(self) -> None:
        """Nothing held open: lanes keep running, like apps on Azure (see `stop_all`)."""

    # --- beyond the protocol ---------------------------------------------------------------------

    async def stop_all(self) -> None:
        """Stop every lane host under the root, keeping their state (tests and the demo clean up)."""
        for state in self._files.all():
            async with self._lane_lock(state.name):
                await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)

    async def stop_lane(self, lane: str) -> bool:
        """Stop one lane's host, keeping its state (the router's probe restarts it from there);
        False when no lane `lane` exists under the root."""
        state = self._files.load(_app_name(lane))
        if state is None:
            return False
        async with self._lane_lock(state.name):
            await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)
        return True

    def lanes(self) -> list[tuple[LocalLaneRecord, bool]]:
        """Every lane under the root and whether its host is running (no secret in either)."""
        return [(state, proc.is_running(state.pid, state.pid_started)) for state in self._files.all()]

    def app_of(self, lane: str) -> AppRef:
        """The AppRef of `lane` under this root, whether or not it exists (to delete it by hand)."""
        name = _app_name(lane)
        return AppRef(name=name, base_url="", resource_id=str(self._files.dir_of(name)))

    # --- processes -------------------------------------------------------------------------------

    async def _ensure_running(self, state: LocalLaneRecord) -> LocalLaneRecord:
        """Re-attach the lane's host if it is alive and answers, else (re)start it."""
        if not state.package_dir:
            return state  # created, nothing deployed: nothing to run
        if proc.is_running(state.pid, state.pid_started):
            if await proc.wait_until_ready(
                _base_url(state.port), state.pid or 0, state.pid_started, self.start_timeout
            ):
                return state
            logger.warning("lane %s: host %s does not answer ping; restarting it", state.lane, state.pid)
        return await self._restart(state)

    async def _restart(self, state: LocalLaneRecord) -> LocalLaneRecord:
        """Stop the lane's host (if any) and start it on `current`, same port and data dir."""
        lane_dir = self._lanes_dir / state.name
        await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)
        port = state.port
        if not await proc.wait_for_port(port, timeout=5.0):
            # Someone else took the port while the lane was down: move rather than fail.
            port = free_port()
            logger.warning("lane %s: port %d is taken, moving to port %d", state.lane, state.port, port)
        command = HostCommand(
            python=self.python,
            python_options=NO_SITE,
            app_dir=lane_dir / "current",
            port=port,
            data_dir=lane_dir / "data",
            log_path=lane_dir / "host.log",
            env=self._host_env(lane_dir, await worker_site_packages(self.worker_cache)),
            cwd=lane_dir,
            # Keys checked as on Azure: the router reaches a lane with its system key, and
            # nothing else may reach it without one.
            enable_auth=True,
            # An app that cannot be imported leaves its host running with no functions, as on
            # App Service; check_health reads why from /admin/host/status.
            serve_on_load_error=True,
        )
        # The package's host.json must name the lane's hub however it was unpacked (a fresh
        # deploy included: this is where its hub is set).
        await asyncio.to_thread(apply_task_hub, (lane_dir / "current").resolve(), state.task_hub)
        pid, started = proc.start_host(command)
        state = dataclasses.replace(state, port=port, python=self.python, pid=pid, pid_started=started)
        self._files.save(state)  # at once, so a crash right now cannot orphan the process
        logger.info(
            "lane %s: host started (pid %d, port %d, version %s)", state.lane, pid, port, state.version
        )
        if not await proc.wait_until_ready(_base_url(port), pid, started, self.start_timeout):
            await proc.stop_process(pid, started, self.stop_timeout)
            tail = proc.log_tail(lane_dir / "host.log", self._files.secrets_of(state.name))
            raise ProvisioningError(
                f"lane {state.lane}: the dev host did not become ready on port {port}; log: {tail}"
            )
        return state

    async def _load_error(self, state: LocalLaneRecord, base_url: str) -> str:
        """Why the host loaded no function, from its /admin/host/status (the Functions host's
        `state` and `errors`), naming a package that lacks its `.python_packages`; "" if none."""
        master_key = self._files.keys(state.name)[MASTER_KEY]
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                response = await client.get(
                    f"{base_url}/admin/host/status", headers={"x-functions-key": master_key}
                )
            status = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            return f"host status unreadable: {type(exc).__name__}"
        if status.get("state", "Running") == "Running":
            return ""
        errors = "; ".join(str(e) for e in status.get("errors") or []) or "no error given"
        package = self._lanes_dir / state.name / "current"
        if not (package / APP_PACKAGES).is_dir() and APP_PACKAGES.as_posix() not in errors:
            errors += f" (the package has no {APP_PACKAGES.as_posix()}: build it with `python -m provisioning package`)"
        message = f"the app's functions failed to load (host state {status.get('state')}): {errors}"
        return proc.redact(message, self._files.secrets_of(state.name))

    def _host_env(self, lane_dir: Path, worker_packages: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _NOT_INHERITED and not k.startswith(_NOT_INHERITED_PREFIXES)
        }
        env.update(self._files.settings(lane_dir.name) or {})
        keys = self._files.keys(lane_dir.name)
        env.update(
            DEVHOST_MASTER_KEY=keys[MASTER_KEY],
            DEVHOST_DURABLETASK_KEY=keys[SYSTEM_KEY],
            # The dev host, then the worker's packages; the app's come from its package.
            PYTHONPATH=os.pathsep.join([str(self._host_import_dir()), str(worker_packages)]),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _host_import_dir(self) -> Path:
        """A directory holding only the `devhost` package, for the host's PYTHONPATH.

        Not the repository root: the app's own modules must not be shadowed by the router's
        (`function_app`, `router`, `samples`...), as nothing shadows them on Azure.
        """
        source = REPO_ROOT / "devhost"
        if not (source / "__main__.py").is_file():
            raise ProvisioningError(f"the local dev host is missing: {source} has no __main__.py")
        import_dir = self.root / "hostlib"
        link = import_dir / "devhost"
        if not (link.is_symlink() and link.resolve() == source):
            import_dir.mkdir(parents=True, exist_ok=True)
            point_symlink(link, source)
        return import_dir

    # --- lanes on disk -----------------------------------------------------------------------------

    def _lane_lock(self, name: str) -> AsyncContextManager[None]:
        """One operation on a lane at a time, across coroutines, threads and routers on the root."""
        return file_lock(self.root / "locks" / f"{name}.lock")

    def _lane_dir_of(self, app: AppRef) -> Path:
        """The lane directory an AppRef points at, refusing anything outside this root."""
        candidate = Path(app.resource_id).resolve() if app.resource_id else self._lanes_dir / app.name
        if candidate.parent != self._lanes_dir or not candidate.name.startswith("lane-"):
            raise ProvisioningError(f"app {app.name!r} is not a lane of the local backend at {self.root}")
        return candidate

    def _app_ref(self, state: LocalLaneRecord) -> AppRef:
        return AppRef(
            name=state.name, base_url=_base_url(state.port), resource_id=str(self._lanes_dir / state.name)
        )

    def _prune_packages(self, lane_dir: Path, current: str) -> None:
        packages = [p for p in (lane_dir / "packages").iterdir() if p.is_dir() and p.name != current]
        packages.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in packages[_PACKAGES_KEPT - 1 :]:
            shutil.rmtree(old, ignore_errors=True)


def _base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
