"""The running side of one fake App Service site: its Functions host and its front door.

A site's host is a real dev host process (`devhost.launcher`, `--enableAuth`) serving the site's
package, with the site's app settings as its environment, as App Service gives them to the host.
Every change of settings or package restarts it, as App Service does
(MicrosoftDocs/azure-docs `functions-app-settings.md`: "Changes to function app settings require
your function app to be restarted", done by the platform): the old host stops at once, the new
one starts `restart_seconds` later, on the same data directory (the task hub's instances survive,
as they would in the storage account) and the same port. Changes that arrive while it restarts
are folded into that restart.

The front door is a TLS listener on a port fixed for the site's life: `defaultHostName` is
`127.0.0.1:<port>`; it forwards to the host while one runs and otherwise answers 503 "Function host
is not running." (the host's answer while it is not Running).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import trustme

from devhost import launcher
from devhost.errors import HostStartError
from devhost.ports import free_port
from provisioning import local_worker, packaging
from tests.fakes.arm import Fault, take_fault
from tests.fakes.tls_server import Reply, Request, serve_https

NOT_RUNNING = b"Function host is not running."
# App Service's front end for a stopped app (its "Error 403 - This web app is stopped." page).
SITE_STOPPED = b"<h1>Error 403 - This web app is stopped.</h1>"
DURABLE_TRIGGERS = frozenset({"orchestrationTrigger", "activityTrigger", "entityTrigger"})
_FUNCTION_LINE = re.compile(r"^\t(?P<name>[^:\s]+): (?P<what>\S.*)$")
# Environment a host process needs from the machine; everything else comes from the site.
_MACHINE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"})


class HostState(Enum):
    NO_CONTENT = "NoContent"  # no package yet: nothing to run
    RESTARTING = "Restarting"
    RUNNING = "Running"
    ERROR = "Error"  # the host could not start; `error` says why
    STOPPED = "Stopped"  # the site is stopped or being deleted


@dataclass(frozen=True)
class HostFunction:
    name: str
    trigger: str  # "httpTrigger", "orchestrationTrigger", ...


@dataclass(frozen=True)
class SiteSnapshot:
    """What a restart starts from: the settings as the host gets them, and how to get the package."""

    settings: Mapping[str, str]
    blockers: tuple[str, ...] = ()  # why the host cannot start whatever the package
    has_package: bool = False
    stopped: bool = False  # the site's state is Stopped: no host, and the front end says so


class PackageUnavailable(Exception):
    """The package could not be read; the message says why (never a secret)."""


@dataclass(frozen=True)
class FrontDoorRequest:
    """One request the front door took (the path without its query: it may carry a key)."""

    method: str
    path: str
    status: int


@dataclass
class _Status:
    state: HostState = HostState.NO_CONTENT
    error: str = ""
    functions: tuple[HostFunction, ...] = ()
    host_status: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0  # hosts started so far


class SiteRuntime:
    """One site's host and front door. `change` restarts the host; `close` ends everything."""

    def __init__(
        self,
        name: str,
        work_dir: Path,
        ca: trustme.CA,
        *,
        restart_seconds: float,
        fetch_package: Callable[[SiteSnapshot], bytes],
        scm_answer: Callable[[Request], Reply] | None = None,
    ) -> None:
        self.name = name
        self._scm_answer = scm_answer
        self.scm_url = ""
        self.work_dir = work_dir
        self.data_dir = work_dir / "data"
        self.restart_seconds = restart_seconds
        self._fetch_package = fetch_package
        self._ca = ca
        self._host_port = free_port()
        self._status = _Status()
        self._generation = 0
        self._applied = 0
        self._snapshot = SiteSnapshot({})
        self._process: Any = None
        self._package_digest = ""
        self._app_dir: Path | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._exits = ExitStack()
        self.base_url = ""
        self._worker = threading.Thread(target=self._run, name=f"fake-site-{name}", daemon=True)
        self._client = httpx.Client(timeout=120.0, trust_env=False)
        self.requests: list[FrontDoorRequest] = []
        self._faults: list[Fault] = []
        self._requests_lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_initial_keys()
        self.base_url = self._exits.enter_context(
            serve_https(self._ca, self._front_door, name=f"front-door-{self.name}")
        )
        if self._scm_answer is not None:
            # The site's SCM (Kudu) host, where deployments are posted.
            self.scm_url = self._exits.enter_context(serve_https(self._ca, self._scm_answer, name=f"scm-{self.name}"))
        self._worker.start()

    @property
    def host_name(self) -> str:
        """`defaultHostName`: the front door's `127.0.0.1:<port>`."""
        return self.base_url.removeprefix("https://")

    def change(self, snapshot: SiteSnapshot) -> int:
        """Settings or package changed (or a restart was asked for): restart the host. Returns
        the change's number (see `settled`)."""
        with self._changed:
            self._snapshot = snapshot
            self._generation += 1
            self._status.state = HostState.RESTARTING
            self._changed.notify_all()
            return self._generation

    def settled(self, change: int) -> bool:
        """Whether the restart for change number `change` (or a later one) is over."""
        with self._changed:
            return self._applied >= change and self._applied == self._generation

    def fail(self, method: str, pattern: str, status: int, *, times: int = 1, delay: float = 0.0) -> Fault:
        """A fault at the site's host name (e.g. 502 from the front end, a slow reply), answered
        instead of the host: what an unhealthy instance or App Service's front end answers."""
        fault = Fault(method.upper(), pattern, status, times, delay=delay)
        with self._requests_lock:
            self._faults.append(fault)
        return fault

    def crash(self) -> None:
        """Kill the host (SIGKILL), as a crash does; the platform starts a new one after
        `restart_seconds`, as App Service restarts a host that died."""
        with self._changed:
            snapshot = self._snapshot
        process = self._process
        if process is not None:
            launcher.stop(process, signum=signal.SIGKILL)
        self.change(snapshot)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._status.state = HostState.STOPPED
            self._changed.notify_all()
        self._worker.join(timeout=60)
        self._stop_host()
        self._exits.close()
        self._client.close()

    # --- what ARM reads ------------------------------------------------------------------

    @property
    def state(self) -> HostState:
        return self._status.state

    @property
    def error(self) -> str:
        return self._status.error

    @property
    def functions(self) -> tuple[HostFunction, ...]:
        return self._status.functions

    @property
    def host_status(self) -> dict[str, Any]:
        """The host's own `/admin/host/status` answer from its last start."""
        return dict(self._status.host_status)

    @property
    def process(self) -> Any:
        """The running host's process (a Popen), or None."""
        return self._process

    @property
    def restarts(self) -> int:
        return self._status.restarts

    def has_durable_functions(self) -> bool:
        return any(fn.trigger in DURABLE_TRIGGERS for fn in self._status.functions)

    def keys(self) -> dict[str, Any] | None:
        """The host's keys as `host/default/listkeys` answers them, or None while no host is up.

        Read from the host's own key store (DATA/keys.json); the Durable extension's system key
        is only there once a host that loaded Durable functions is up, as the extension creates it
        when it starts."""
        status = self._status
        if status.state not in (HostState.RUNNING, HostState.NO_CONTENT):
            return None
        stored = json.loads((self.data_dir / "keys.json").read_text(encoding="utf-8"))
        system_keys = stored.get("systemKeys") or {}
        return {
            "masterKey": stored["masterKey"],
            "functionKeys": dict(stored.get("functionKeys") or {}),
            "systemKeys": dict(system_keys) if self.has_durable_functions() else {},
        }

    def wait_for(self, *states: HostState, timeout: float = 60.0) -> HostState:
        """Block until the host is in one of `states` with no restart pending (tests)."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._status.state in states and self._applied == self._generation, timeout
            )
            return self._status.state

    # --- the restart loop ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._generation != self._applied)
                if self._closed:
                    return
            self._stop_host()
            # The new host starts restart_seconds after the last change that came in meanwhile.
            with self._changed:
                while True:
                    generation = self._generation
                    if self._changed.wait_for(
                        lambda seen=generation: self._closed or self._generation != seen, self.restart_seconds
                    ):
                        if self._closed:
                            return
                        continue
                    snapshot = self._snapshot
                    break
            self._start_host(snapshot, generation)

    def _start_host(self, snapshot: SiteSnapshot, generation: int) -> None:
        outcome = _Status(restarts=self._status.restarts)
        if snapshot.stopped:
            outcome.state, outcome.error = HostState.STOPPED, "the site is Stopped"
        elif snapshot.blockers:
            outcome.state, outcome.error = HostState.ERROR, "; ".join(snapshot.blockers)
        elif not snapshot.has_package:
            outcome.state = HostState.NO_CONTENT
        else:
            try:
                app_dir = self._unpack(self._fetch_package(snapshot))
                log_start = self._log_size()
                self._process = launcher.start(self._command(app_dir, snapshot.settings))
                outcome.restarts += 1
                outcome.functions = _functions_in(self._log_text(log_start))
                outcome.host_status = self._read_host_status()
                outcome.state = HostState.RUNNING
            except PackageUnavailable as err:
                outcome.state, outcome.error = HostState.ERROR, f"the package could not be read: {err}"
            except HostStartError as err:
                outcome.state, outcome.error = HostState.ERROR, str(err)
        with self._changed:
            if self._generation == generation and not self._closed:
                self._status = outcome
            self._applied = generation
            self._changed.notify_all()

    def _unpack(self, package: bytes) -> Path:
        digest = _digest(package)
        if digest == self._package_digest and self._app_dir is not None:
            return self._app_dir
        app_dir = self.work_dir / f"wwwroot-{digest[:12]}"
        if not app_dir.is_dir():
            partial = app_dir.with_name(app_dir.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            try:
                with zipfile.ZipFile(io.BytesIO(package)) as archive:
                    archive.extractall(partial)
            except zipfile.BadZipFile:
                raise PackageUnavailable("it is not a zip file") from None
            partial.replace(app_dir)
        self._package_digest, self._app_dir = digest, app_dir
        return app_dir

    def _command(self, app_dir: Path, settings: Mapping[str, str]) -> launcher.HostCommand:
        env = {name: os.environ[name] for name in _MACHINE_ENV if name in os.environ}
        env.update(settings)
        env.update({
            "WEBSITE_SITE_NAME": self.name,
            "WEBSITE_HOSTNAME": self.host_name,
            "WEBSITE_INSTANCE_ID": secrets.token_hex(32),
            # As a local lane's host (provisioning.local): the dev host and the worker's own
            # packages only, so the app imports what its package brings and nothing else.
            "PYTHONPATH": os.pathsep.join((str(self._host_import_dir()), str(_worker_packages()))),
            "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        return launcher.HostCommand(
            app_dir=app_dir,
            port=self._host_port,
            data_dir=self.data_dir,
            log_path=self.data_dir / "host-output.log",
            env=env,
            python_options=local_worker.NO_SITE,
            enable_auth=True,
            # As App Service: a host whose app cannot be indexed keeps running with no function
            # and says why in /admin/host/status.
            serve_on_load_error=True,
        )

    def _host_import_dir(self) -> Path:
        """A directory holding only the `devhost` package: the repository's other modules must
        not be importable by the app."""
        import_dir = self.work_dir / "hostlib"
        if not (import_dir / "devhost").is_symlink():
            import_dir.mkdir(parents=True, exist_ok=True)
            (import_dir / "devhost").symlink_to(launcher.REPO_ROOT / "devhost")
        return import_dir

    def _stop_host(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            launcher.stop(process)

    def _read_host_status(self) -> dict[str, Any]:
        keys = json.loads((self.data_dir / "keys.json").read_text(encoding="utf-8"))
        try:
            response = self._client.get(
                f"http://127.0.0.1:{self._host_port}/admin/host/status",
                headers={"x-functions-key": keys["masterKey"]},
            )
            return response.json() if response.status_code == 200 else {"status": response.status_code}
        except (httpx.HTTPError, ValueError):
            return {}

    def _write_initial_keys(self) -> None:
        """The keys a site has before any package runs (the platform makes the master and default
        keys with the site); the dev host adopts the file and adds its own."""
        path = self.data_dir / "keys.json"
        if not path.exists():
            doc = {"masterKey": secrets.token_urlsafe(42), "functionKeys": {"default": secrets.token_urlsafe(42)}}
            path.write_text(json.dumps(doc), encoding="utf-8")
            path.chmod(0o600)

    def _log_size(self) -> int:
        path = self.data_dir / "host-output.log"
        return path.stat().st_size if path.exists() else 0

    def _log_text(self, start: int) -> str:
        path = self.data_dir / "host-output.log"
        with open(path, "rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")

    # --- the front door ------------------------------------------------------------------

    def _front_door(self, request: Request) -> Reply:
        reply = self._forward(request)
        with self._requests_lock:
            self.requests.append(FrontDoorRequest(request.method, request.target.split("?")[0], reply.status))
        return reply

    def _forward(self, request: Request) -> Reply:
        with self._requests_lock:
            fault = take_fault(self._faults, request.method, request.target.split("?")[0])
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return Reply(fault.status, {"Content-Type": "text/plain"}, b"injected by the test")
        if self._status.state is HostState.STOPPED:
            return Reply(403, {"Content-Type": "text/html"}, SITE_STOPPED)
        if self._status.state is not HostState.RUNNING or self._process is None:
            return Reply(503, {"Content-Type": "text/plain"}, NOT_RUNNING)
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        headers["x-forwarded-proto"] = "https"
        headers["x-forwarded-host"] = self.host_name
        try:
            response = self._client.request(
                request.method,
                f"http://127.0.0.1:{self._host_port}{request.target}",
                headers=headers,
                content=request.body,
            )
        except httpx.HTTPError:
            return Reply(503, {"Content-Type": "text/plain"}, NOT_RUNNING)
        # The host writes its own URLs into check-status payloads; on Azure they name the site.
        inner, outer = f"http://127.0.0.1:{self._host_port}", self.base_url
        body = response.content.replace(inner.encode(), outer.encode())
        out_headers = {
            k: v.replace(inner, outer) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP
        }
        out_headers.pop("content-encoding", None)  # httpx has decoded the body
        return Reply(response.status_code, out_headers, body)


def _functions_in(output: str) -> tuple[HostFunction, ...]:
    """The functions a host listed at start (the `Functions:` block `func start` prints)."""
    if "Functions:" not in output:
        return ()
    block = output.split("Functions:", 1)[1].split("Host started:", 1)[0]
    found = []
    for line in block.splitlines():
        match = _FUNCTION_LINE.match(line)
        if match is None or "not supported" in match["what"]:
            continue
        what = match["what"]
        found.append(HostFunction(match["name"], "httpTrigger" if what.startswith("[") else what.strip()))
    return tuple(found)


@functools.cache
def _worker_packages() -> Path:
    """The local lanes' shared worker runtime (installed once per machine, cached)."""
    return asyncio.run(local_worker.worker_site_packages(packaging.DEFAULT_CACHE_DIR))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
