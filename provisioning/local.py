"""The local lane backend: each lane is a dev host process on this machine (SPEC 6, "local").

Under the backend's ROOT: `lanes/` (one directory per lane), `venvs/` (lane environments, see
local_environments; may live elsewhere), `locks/`, `downloads/` (https packages being fetched)
and `hostlib/` (the `devhost` package alone, the lane hosts' PYTHONPATH).

One lane = one directory under `ROOT/lanes/<app name>/`:

    state.json      what the lane is: port, pid, deployed version and package (no secret)
    secrets.json    its master and durable system keys, mode 0600, handed to the host by env
    settings.json   its app settings (configure_app), handed to the host as its environment
    packages/<sha>  unpacked packages; `current` is a symlink to the deployed one
    data/           the dev host's data dir: the lane's own task hub
    host.log        the host's output

A lane's host runs in its own session, so it outlives the router like an Azure app would; a new
backend on the same root finds it again from state.json (re-attaching a live host, restarting a
dead one on the same port and data dir). Deploying swaps `current` and restarts the host: its
in-flight orchestrations resume from the data dir on the new code, which is what a patch means.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncContextManager, Iterable, Mapping

import httpx

from provisioning import local_process as proc
from provisioning.base import AppRef, DeployResult, Health, LaneSpec, Package
from provisioning.local_environments import LaneEnvironments
from provisioning.local_locks import file_lock
from provisioning.local_packages import apply_task_hub, fetch_package, package_dir_name, unpack_package
from provisioning.packages import describe_location, verify_sha256
from router.errors import ProvisioningError
from router.urls import DURABLE_API_PATH

if TYPE_CHECKING:
    from router.settings import Settings

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
_LANE_KEY = re.compile(r"^\d+\.\d+$")
# Settings of the router's own host that a lane must never inherit (its keys above all).
_NOT_INHERITED_PREFIXES = ("DEVHOST_", "ROUTER_")
_NOT_INHERITED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AzureWebJobsScriptRoot"}
_PACKAGES_KEPT = 2  # the deployed package and the one before it


@dataclasses.dataclass
class LaneState:
    """The lane's state.json. Holds no secret."""

    lane: str
    name: str
    port: int
    created: str
    task_hub: str = ""
    version: str = ""
    package_sha256: str = ""
    package_dir: str = ""  # directory name under packages/
    python: str = ""  # interpreter the host runs with
    pid: int | None = None
    pid_started: str | None = None

    @classmethod
    def from_json(cls, text: str) -> "LaneState":
        raw = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def lane_app_name(lane: str) -> str:
    """The local app name of a lane: "1.2" -> "lane-1-2"."""
    if not _LANE_KEY.match(lane):
        raise ProvisioningError(f"lane key {lane!r} is not MAJOR.MINOR")
    return "lane-" + lane.replace(".", "-")


class LocalLaneBackend:
    """`LaneBackend` whose apps are dev host processes under `root`."""

    def __init__(
        self,
        root: Path,
        *,
        allowed_package_hosts: Iterable[str] = (),
        python: str = sys.executable,
        venv_root: Path | None = None,
        isolated_environments: bool = True,
        lane_settings: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """`python` builds the lanes' virtual environments (or, with `isolated_environments`
        false, runs the lanes itself, ignoring their requirements: for a machine that already has
        them). `venv_root` (default ROOT/venvs) may be shared by several roots. `lane_settings`
        are extra app settings for every lane."""
        self.root = Path(root).resolve()
        self.allowed_package_hosts = tuple(allowed_package_hosts)
        self.python = python
        self.isolated_environments = isolated_environments
        self.environments = LaneEnvironments(
            Path(venv_root) if venv_root else self.root / "venvs", base_python=python
        )
        self.lane_settings = dict(lane_settings or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._lanes_dir = self.root / "lanes"

    @classmethod
    def from_settings(cls, settings: "Settings", **options: Any) -> "LocalLaneBackend":
        """The backend the router's settings describe (ROUTER_LOCAL_ROOT, allowed package hosts)."""
        return cls(Path(settings.local_root), allowed_package_hosts=settings.allowed_package_hosts, **options)

    # --- LaneBackend ---------------------------------------------------------------------------

    async def create_app(self, lane: LaneSpec) -> AppRef:
        name = lane_app_name(lane.lane)
        async with self._lane_lock(name):
            state = self._load(name)
            if state is None:
                lane_dir = self._lanes_dir / name
                (lane_dir / "packages").mkdir(parents=True, exist_ok=True)
                (lane_dir / "data").mkdir(exist_ok=True)
                state = LaneState(
                    lane=lane.lane,
                    name=name,
                    port=proc.free_port(),
                    task_hub=lane.task_hub,
                    created=datetime.now(timezone.utc).isoformat(),
                )
                self._ensure_secrets(lane_dir)
                self._save(state)
                logger.info("lane %s: created local app %s on port %d", lane.lane, name, state.port)
            else:
                self._ensure_secrets(self._lanes_dir / name)
                state = await self._ensure_running(state)
            return self._app_ref(state)

    async def configure_app(self, lane: LaneSpec, app: AppRef) -> None:
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            state = self._require(lane_dir.name)
            settings = {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "AzureFunctionsJobHost__extensions__durableTask__hubName": lane.task_hub,
                "ROUTER_LANE": lane.lane,
                **self.lane_settings,
            }
            path = lane_dir / "settings.json"
            previous = json.loads(path.read_text()) if path.is_file() else None
            if previous == settings and state.task_hub == lane.task_hub:
                return
            _write_atomic(path, json.dumps(settings, indent=2))
            state = dataclasses.replace(state, task_hub=lane.task_hub)
            self._save(state)
            logger.info("lane %s: settings written (task hub %s)", lane.lane, lane.task_hub)
            # Changed settings take effect the way they do on Azure: the host restarts.
            if state.package_dir and proc.is_running(state.pid, state.pid_started):
                await self._restart(state)

    async def deploy_package(self, lane: LaneSpec, app: AppRef, package: Package) -> DeployResult:
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            state = self._require(lane_dir.name)
            fetched = await fetch_package(package, self.root / "downloads", self.allowed_package_hosts)
            try:
                verify_sha256(package, fetched.sha256)
                current = lane_dir / "current"
                serving = current.resolve().name if current.is_dir() else ""
                if state.package_sha256 == fetched.sha256 and serving == package_dir_name(fetched.sha256):
                    # The same package again: nothing to swap; only make sure it is being served.
                    state = await self._ensure_running(dataclasses.replace(state, version=lane.version))
                    self._save(state)
                    logger.info("lane %s: package %s already deployed", lane.lane, fetched.sha256[:12])
                    return DeployResult(lane.version, fetched.sha256, {"unchanged": "true"})
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
            python = await self._python_for(package_dir)
            _point_symlink(current, Path("packages") / package_dir.name)
            state = dataclasses.replace(
                state,
                version=lane.version,
                package_sha256=fetched.sha256,
                package_dir=package_dir.name,
                python=python,
                task_hub=state.task_hub or lane.task_hub,
            )
            await self._restart(state)
            await asyncio.to_thread(self._prune_packages, lane_dir, package_dir.name)
            return DeployResult(lane.version, fetched.sha256, {"port": str(state.port)})

    async def read_system_key(self, app: AppRef) -> str:
        lane_dir = self._lane_dir_of(app)
        try:
            return str(json.loads((lane_dir / "secrets.json").read_text())["durableTaskKey"])
        except (OSError, ValueError, KeyError):
            raise ProvisioningError(f"lane app {lane_dir.name} has no keys (was it created?)") from None

    async def check_health(self, app: AppRef) -> Health:
        lane_dir = self._lane_dir_of(app)
        state = self._load(lane_dir.name)
        if state is None:
            return Health(False, f"lane app {lane_dir.name} does not exist")
        if not state.package_dir:
            return Health(False, "no package deployed yet")
        detail = ""
        if not proc.is_running(state.pid, state.pid_started):
            # A crashed host is restarted, as the platform would restart an app's host.
            async with self._lane_lock(state.name):
                state = self._require(state.name)
                try:
                    state = await self._ensure_running(state)
                except ProvisioningError as exc:
                    return Health(False, f"host not running and restart failed: {exc.message}")
            detail = "host had stopped and was restarted; "
        base_url = _base_url(state.port)
        if not await proc.ping(base_url):
            return Health(False, detail + "host does not answer ping")
        key = await self.read_system_key(self._app_ref(state))
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                response = await client.get(
                    f"{base_url}{DURABLE_API_PATH}/instances",
                    params={"top": "1"},
                    headers={"x-functions-key": key},
                )
        except httpx.HTTPError as exc:
            return Health(False, detail + f"Durable HTTP API unreachable: {type(exc).__name__}")
        if response.status_code != 200:
            return Health(False, detail + f"Durable HTTP API answered {response.status_code}")
        return Health(True, detail + f"serving {state.version} on port {state.port}")

    async def delete_app(self, app: AppRef) -> None:
        lane_dir = self._lane_dir_of(app)
        async with self._lane_lock(lane_dir.name):
            state = self._load(lane_dir.name)
            if state is not None:
                await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)
                logger.info("lane %s: host stopped, deleting %s", state.lane, lane_dir.name)
            if lane_dir.exists():
                await asyncio.to_thread(shutil.rmtree, lane_dir)

    async def find_app(self, lane: str) -> AppRef | None:
        name = lane_app_name(lane)
        if self._load(name) is None:
            return None
        async with self._lane_lock(name):
            state = self._load(name)
            if state is None:
                return None
            state = await self._ensure_running(state)
            return self._app_ref(state)

    async def aclose(self) -> None:
        """Nothing held open: lanes keep running, like apps on Azure (see `stop_all`)."""

    # --- beyond the protocol ---------------------------------------------------------------------

    async def reattach_all(self) -> list[AppRef]:
        """Find every lane under the root again, restarting the hosts that are not running."""
        apps = []
        for state in self._all_states():
            found = await self.find_app(state.lane)
            if found is not None:
                apps.append(found)
        return apps

    async def stop_all(self) -> None:
        """Stop every lane host under the root, keeping their state (tests and the demo clean up)."""
        for state in self._all_states():
            async with self._lane_lock(state.name):
                await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)

    def lanes(self) -> list[tuple[LaneState, bool]]:
        """Every lane under the root and whether its host is running (no secret in either)."""
        return [(state, proc.is_running(state.pid, state.pid_started)) for state in self._all_states()]

    def lane_dir(self, lane: str) -> Path:
        """Where a lane's state lives (the `resource_id` of its AppRef)."""
        return self._lanes_dir / lane_app_name(lane)

    # --- processes -------------------------------------------------------------------------------

    async def _ensure_running(self, state: LaneState) -> LaneState:
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

    async def _restart(self, state: LaneState) -> LaneState:
        """Stop the lane's host (if any) and start it on `current`, same port and data dir."""
        lane_dir = self._lanes_dir / state.name
        await proc.stop_process(state.pid, state.pid_started, self.stop_timeout)
        port = state.port
        if not await proc.wait_for_port(port, timeout=5.0):
            # Someone else took the port while the lane was down: move rather than fail.
            port = proc.free_port()
            logger.warning("lane %s: port %d is taken, moving to port %d", state.lane, state.port, port)
        python = (
            state.python
            if state.python and Path(state.python).exists()
            else await self._python_for(lane_dir / "current")
        )
        command = proc.HostCommand(
            python=python,
            app_dir=lane_dir / "current",
            port=port,
            data_dir=lane_dir / "data",
            log_path=lane_dir / "host.log",
            env=self._host_env(lane_dir),
            cwd=lane_dir,
        )
        # The package's host.json must name the lane's hub however it was unpacked (a fresh
        # deploy included: this is where its hub is set).
        await asyncio.to_thread(apply_task_hub, (lane_dir / "current").resolve(), state.task_hub)
        pid, started = proc.start_host(command)
        state = dataclasses.replace(state, port=port, python=python, pid=pid, pid_started=started)
        self._save(state)  # at once, so a crash right now cannot orphan the process
        logger.info(
            "lane %s: host started (pid %d, port %d, version %s)", state.lane, pid, port, state.version
        )
        if not await proc.wait_until_ready(_base_url(port), pid, started, self.start_timeout):
            await proc.stop_process(pid, started, self.stop_timeout)
            tail = proc.log_tail(lane_dir / "host.log", self._secrets_of(lane_dir))
            raise ProvisioningError(
                f"lane {state.lane}: the dev host did not become ready on port {port}; log: {tail}"
            )
        return state

    async def _python_for(self, app_dir: Path) -> str:
        if not self.isolated_environments:
            return self.python
        requirements = app_dir / "requirements.txt"
        text = requirements.read_text() if requirements.is_file() else ""
        return await self.environments.python_for(text)

    def _host_env(self, lane_dir: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _NOT_INHERITED and not k.startswith(_NOT_INHERITED_PREFIXES)
        }
        settings_path = lane_dir / "settings.json"
        if settings_path.is_file():
            env.update(json.loads(settings_path.read_text()))
        keys = json.loads((lane_dir / "secrets.json").read_text())
        env.update(
            DEVHOST_MASTER_KEY=keys["masterKey"],
            DEVHOST_DURABLETASK_KEY=keys["durableTaskKey"],
            PYTHONPATH=str(self._host_import_dir()),
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
            _point_symlink(link, source)
        return import_dir

    # --- state files -----------------------------------------------------------------------------

    def _lane_lock(self, name: str) -> AsyncContextManager[None]:
        """One operation on a lane at a time, across coroutines, threads and routers on the root."""
        return file_lock(self.root / "locks" / f"{name}.lock")

    def _all_states(self) -> list[LaneState]:
        if not self._lanes_dir.is_dir():
            return []
        return [s for d in sorted(self._lanes_dir.iterdir()) if (s := self._load(d.name)) is not None]

    def _load(self, name: str) -> LaneState | None:
        path = self._lanes_dir / name / "state.json"
        try:
            return LaneState.from_json(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise ProvisioningError(f"lane state {path} is unreadable: {exc}") from None

    def _require(self, name: str) -> LaneState:
        state = self._load(name)
        if state is None:
            raise ProvisioningError(f"lane app {name} does not exist; create it first")
        return state

    def _save(self, state: LaneState) -> None:
        _write_atomic(
            self._lanes_dir / state.name / "state.json", json.dumps(dataclasses.asdict(state), indent=2)
        )

    def _ensure_secrets(self, lane_dir: Path) -> None:
        path = lane_dir / "secrets.json"
        if path.is_file():
            return
        keys = {"masterKey": secrets.token_urlsafe(32), "durableTaskKey": secrets.token_urlsafe(32)}
        _write_atomic(path, json.dumps(keys), mode=0o600)

    def _secrets_of(self, lane_dir: Path) -> tuple[str, ...]:
        try:
            return tuple(str(v) for v in json.loads((lane_dir / "secrets.json").read_text()).values())
        except (OSError, ValueError):
            return ()

    def _lane_dir_of(self, app: AppRef) -> Path:
        """The lane directory an AppRef points at, refusing anything outside this root."""
        candidate = Path(app.resource_id).resolve() if app.resource_id else self._lanes_dir / app.name
        if candidate.parent != self._lanes_dir or not candidate.name.startswith("lane-"):
            raise ProvisioningError(f"app {app.name!r} is not a lane of the local backend at {self.root}")
        return candidate

    def _app_ref(self, state: LaneState) -> AppRef:
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


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(staging, path)


def _point_symlink(link: Path, target: Path) -> None:
    """Make `link` point at `target` in one atomic rename, never leaving it missing."""
    staging = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(target, staging)
    os.replace(staging, link)


def main(argv: list[str] | None = None) -> int:
    """`python -m provisioning.local list|stop|delete`: look after local lanes by hand."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m provisioning.local", description=main.__doc__)
    parser.add_argument("command", choices=("list", "stop", "delete"))
    parser.add_argument("lane", nargs="?", help="the lane key (MAJOR.MINOR) for delete")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("ROUTER_LOCAL_ROOT", ".devhost/lanes")),
        help="the backend's root (default: $ROUTER_LOCAL_ROOT or .devhost/lanes)",
    )
    args = parser.parse_args(argv)
    backend = LocalLaneBackend(args.root)
    if args.command == "list":
        for state, running in backend.lanes():
            print(
                json.dumps(
                    {
                        "lane": state.lane,
                        "app": state.name,
                        "version": state.version,
                        "port": state.port,
                        "pid": state.pid,
                        "running": running,
                        "package_sha256": state.package_sha256,
                    }
                )
            )
    elif args.command == "stop":
        asyncio.run(backend.stop_all())
    else:
        if not args.lane:
            parser.error("delete needs a lane, e.g. 1.0")
        app = AppRef(name=lane_app_name(args.lane), base_url="", resource_id=str(backend.lane_dir(args.lane)))
        asyncio.run(backend.delete_app(app))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
