"""The running host: two aiohttp listeners around the app's functions and the durable engine.

Public listener (HOST:PORT): `/admin/host/*`, the Durable HTTP API under
`/runtime/webhooks/durabletask/` (system key) and the app's HTTP triggers under the route
prefix. RPC listener (127.0.0.1, random port, no key): the same Durable API in the SDK's
encoding, like the real host's port 17071; it is the client binding's `rpcBaseUrl`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from devhost.app_loader import AppFunctions, HttpFunction
from devhost.config import HostConfig
from devhost.durable_api import DurableApi, error_response
from devhost.durable_urls import RPC_PATH, WEBHOOK_PATH, client_binding_json
from devhost.config import task_hub_rules
from devhost.engine import DurableEngine, EngineOptions, FaultOptions, OverridableStates
from devhost.errors import ConfigError
from devhost.http_trigger import invoke, to_web_response
from devhost.keys import KEY_HEADER, KEY_QUERY, HostKeys
from devhost.routes import RouteTable

log = logging.getLogger("devhost")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
SHUTDOWN_GRACE_SECONDS = 10.0
LANDING_PAGE = "<html><body><h1>Your Functions app is up and running (devhost)</h1></body></html>"


def _request_key(request: web.BaseRequest) -> str | None:
    return request.headers.get(KEY_HEADER) or request.query.get(KEY_QUERY) or None


def _reachable(host: str) -> str:
    """A name clients can use: a wildcard listen address is reached as localhost."""
    return "localhost" if host in ("0.0.0.0", "::", "") else host


def _thread_count() -> int:
    raw = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "")
    if raw:
        try:
            count = int(raw)
        except ValueError:
            raise ConfigError("PYTHON_THREADPOOL_THREAD_COUNT must be a whole number") from None
        if count < 1:
            raise ConfigError("PYTHON_THREADPOOL_THREAD_COUNT must be at least 1")
        return count
    return min(32, (os.cpu_count() or 1) + 4)  # the Python worker's default


async def _close_sdk_client_session() -> None:
    """Close the SDK client's shared aiohttp session, which has no shutdown hook of its own.

    Without this, every clean stop ends with aiohttp's "Unclosed client session" warning.
    """
    http_utils = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    close = getattr(http_utils, "_close_session", None)
    if close is not None:
        await close()


# Young collections once per this many net allocations instead of 700; older generations as
# rarely relative to them. Every request allocates short-lived objects (aiohttp's request and
# response, func.HttpRequest, the app's own), and the default collects several times a request
# at load. Cycles are still collected; memory is measured by `make bench` (docs/performance.md).
COLLECTOR_THRESHOLDS = (20_000, 50, 100)


def tune_collector() -> None:
    """What a long-running server process does once its code is loaded: move the objects made
    so far (modules, the app, the SDK) out of the collector's scans (gc.freeze) and collect
    young objects less often. For a host process only (devhost.cli): a test process that runs a
    DevHost in-process keeps its own collector settings. About 10% less CPU per request through
    the router and the lanes alike (docs/performance.md); the Azure worker does not do this."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def create_engine(config: HostConfig, functions: AppFunctions) -> DurableEngine:
    """The durable engine for the app's task hub, with DEVHOST_FAULT_* fault injection."""
    try:
        faults = FaultOptions.from_env(os.environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    states = OverridableStates.parse(config.overridable_states) or OverridableStates.NON_RUNNING_STATES
    options = EngineOptions(faults=faults, verbose=config.verbose, overridable_states=states)
    return DurableEngine(config.data_dir, config.task_hub, functions.registry(), options)


class DevHost:
    """One app served on one port: `start()`, then `stop()` (also safe after a failed start)."""

    def __init__(
        self,
        config: HostConfig,
        functions: AppFunctions,
        keys: HostKeys,
        engine: DurableEngine,
        *,
        load_errors: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.load_errors = list(load_errors)  # why the app's functions could not be loaded
        self.functions = functions
        self.keys = keys
        self.engine = engine
        self.base_url = f"http://{_reachable(config.host)}:{config.port}"
        self.rpc_base_url = ""
        self._durable_api: DurableApi | None = None  # set once the RPC listener is up
        self._engine_started = False
        self._client_binding: str | None = None
        self._executor = ThreadPoolExecutor(_thread_count(), thread_name_prefix="devhost-fn")
        self._public: web.BaseRunner | None = None
        self._rpc: web.BaseRunner | None = None
        self._started_at = time.monotonic()
        self._instance_id = uuid.uuid4().hex
        # The app's routes in the order they are tried (most specific first), matched in one step.
        self._routes = RouteTable([fn.route for fn in functions.http])

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        # The client binding must exist before the engine resumes work: activities with a
        # durableClient binding may run during engine.start(). The public listener comes last,
        # so the ping answers only once everything is ready.
        self._rpc = await self._listen(self._dispatch_rpc, "127.0.0.1", 0)
        self.rpc_base_url = f"http://127.0.0.1:{self._bound_port(self._rpc)}{RPC_PATH}"
        self._durable_api = DurableApi(self.engine, self.config.task_hub, self.keys.durable_system_key)
        self._set_client_binding()
        await self.engine.start()
        self._engine_started = True
        self._public = await self._listen(self._dispatch, self.config.host, self.config.port)
        rules = task_hub_rules(self.config.storage_provider)
        log.info("Task hub %s, storageProvider %s: %s", self.config.task_hub, self.config.storage_provider,
                 "Azure Storage's task hub name rules apply" if rules != "none"
                 else f"{self.config.storage_provider} brings its own task hub name rules; the dev host checks none")
        log.info("Existing instance ids: a start replaces %s (overridableExistingInstanceStates %s)",
                 "any instance" if self.config.overridable_states == "AnyState" else "only finished instances",
                 self.config.overridable_states)
        if self.config.enable_auth:
            log.info("Keys are checked as on Azure (--enableAuth)")
        else:
            log.info("Keys are not checked, as under `func start`; start with --enableAuth to check them")
        if not self.config.port:  # port 0: the bound port is known only now
            self.base_url = f"http://{_reachable(self.config.host)}:{self._bound_port(self._public)}"
            self._set_client_binding()

    async def stop(self) -> None:
        # Public side first: in-flight HTTP functions may still call the RPC listener.
        if self._public is not None:
            await self._public.cleanup()
            self._public = None
        if self._engine_started:
            self._engine_started = False
            await self.engine.stop()
        if self._rpc is not None:
            await self._rpc.cleanup()
            self._rpc = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        await _close_sdk_client_session()

    async def _listen(self, handler: Any, host: str, port: int) -> web.BaseRunner:
        # aiohttp's low-level server: every path goes to `handler`, which routes itself, so an
        # Application's router (one more regex match per request) has nothing to add.
        def make_request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                                   client_max_size=MAX_REQUEST_BYTES)

        server = web.Server(handler, request_factory=make_request, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner

    @staticmethod
    def _bound_port(runner: web.BaseRunner) -> int:
        server = runner.addresses[0]
        return int(server[1])

    def _set_client_binding(self) -> None:
        self._client_binding = client_binding_json(
            self.base_url, self.rpc_base_url, self.config.task_hub, self.keys.durable_system_key
        )
        self.functions.client_binding = self._client_binding

    # --- what `func start` prints -----------------------------------------------------------

    def describe(self) -> str:
        prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
        lines = ["", "Functions:", ""]
        for fn in sorted(self.functions.http, key=lambda f: f.name.lower()):
            methods = ",".join(sorted(fn.methods)) if len(fn.methods) < 7 else "GET,POST,..."
            route = fn.route.template.strip("/")
            lines.append(f"\t{fn.name}: [{methods}] {self.base_url}{prefix}/{route}")
            lines.append("")
        durable = [
            *((n, "orchestrationTrigger") for n in self.functions.orchestrators),
            *((n, "activityTrigger") for n in self.functions.activities),
            *((name, "entityTrigger") for name, _ in self.functions.entities.values()),
        ]
        for name, kind in sorted(durable, key=lambda item: item[0].lower()):
            lines.append(f"\t{name}: {kind}")
            lines.append("")
        for name, kind in sorted(self.functions.other.items()):
            lines.append(f"\t{name}: {kind} (not supported by the dev host; skipped)")
            lines.append("")
        return "\n".join(lines)

    # --- public listener --------------------------------------------------------------------

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        lowered = path.lower().rstrip("/")
        if lowered == "":
            return web.Response(text=LANDING_PAGE, content_type="text/html")
        if lowered == "/admin/host/ping":
            return web.Response(status=200)
        if lowered == "/admin/host/status":
            if not self._admits(request, self.keys.is_master):
                return web.Response(status=401)
            return web.json_response(self._status())
        if lowered == "/admin/functions":
            if not self._admits(request, self.keys.is_master):
                return web.Response(status=401)
            return web.json_response(self._function_list())
        if lowered == WEBHOOK_PATH or lowered.startswith(WEBHOOK_PATH + "/"):
            if not self._admits(request, self.keys.is_durable_system):
                return web.Response(status=401)
            return await self._durable(request, path[len(WEBHOOK_PATH) :], rpc=False)
        if lowered.startswith("/admin/"):
            return web.Response(status=404)
        relative = self._relative_to_prefix(path)
        if relative is None:
            return web.Response(status=404)
        for index, route_params in self._routes.matches(relative):
            fn = self.functions.http[index]
            if not fn.allows(request.method):
                continue
            if not self._admits(request, lambda key: self.keys.authorizes(fn.auth_level, key, fn.name)):
                log.info("Rejected 'Functions.%s': 401 (missing or wrong key)", fn.name)
                return web.Response(status=401)
            return await self._execute(fn, request, route_params)
        return web.Response(status=404)

    def _admits(self, request: web.BaseRequest, key_is_enough: Callable[[str | None], bool]) -> bool:
        """Whether the request's key passes `key_is_enough`; always, unless --enableAuth.

        Without --enableAuth, Core Tools authenticates every request as admin level whatever
        key it carries (azure-functions-core-tools, Actions/HostActions/Startup.cs registers
        WebHost/Security/CliAuthenticationHandler.cs), so functions of any auth level, the
        Durable HTTP API (system key) and /admin/host/status answer without a key.
        """
        return not self.config.enable_auth or key_is_enough(_request_key(request))

    def _relative_to_prefix(self, path: str) -> str | None:
        prefix = self.config.route_prefix
        if not prefix:
            return path
        head = f"/{prefix}".lower()
        lowered = path.lower()
        if lowered == head or lowered == head + "/":
            return ""
        if lowered.startswith(head + "/"):
            return path[len(head) :]
        return None

    async def _execute(
        self, fn: HttpFunction, request: web.BaseRequest, route_params: dict[str, str]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        log.debug("Executing 'Functions.%s' (%s %s)", fn.name, request.method, request.path)
        # An id only for whoever reads it (a `context` argument, the access log): uuid4 is a few
        # µs of every forwarded request otherwise.
        invocation_id = str(uuid.uuid4()) if fn.wants_context or log.isEnabledFor(logging.DEBUG) else ""
        try:
            result = await invoke(
                fn,
                request,
                route_params,
                invocation_id=invocation_id,
                app_dir=self.config.app_dir,
                executor=self._executor,
                client_binding=self._client_binding,
            )
            response = to_web_response(result)
            outcome = "Succeeded"
        except Exception:  # the user's code failed: 500, and the traceback in the log
            log.exception("Function 'Functions.%s' raised an unhandled exception", fn.name)
            response = web.Response(status=500)
            outcome = "Failed"
        # One line per request is the access log: at DEBUG (shown with --verbose), since at
        # INFO it cost the router's hot path a formatted, flushed line per forwarded start.
        # A failure is logged at INFO as well, with its traceback above.
        level = logging.INFO if outcome == "Failed" else logging.DEBUG
        if log.isEnabledFor(level):
            invocation_id = invocation_id or str(uuid.uuid4())
            log.log(
                level,
                "Executed 'Functions.%s' (%s, Id=%s, Status=%d, Duration=%.0fms)",
                fn.name,
                outcome,
                invocation_id,
                response.status,
                (time.perf_counter() - started) * 1000,
            )
        return response

    def _function_list(self) -> list[dict[str, Any]]:
        """The indexed functions with their trigger binding, as the Functions host lists them
        (azure-functions-host, src/WebJobs.Script.WebHost/Controllers/FunctionsController.cs
        List: FunctionMetadataResponse, `config` holding the function.json bindings)."""
        triggers = [
            *((f.name, "httpTrigger") for f in self.functions.http),
            *((n, "orchestrationTrigger") for n in self.functions.orchestrators),
            *((n, "activityTrigger") for n in self.functions.activities),
            *((name, "entityTrigger") for name, _ in self.functions.entities.values()),
        ]
        return [
            {
                "name": name,
                "language": "python",
                "isDisabled": False,
                "config": {"bindings": [{"type": kind, "direction": "in", "name": "trigger"}]},
            }
            for name, kind in sorted(triggers, key=lambda item: item[0].lower())
        ]

    def _status(self) -> dict[str, Any]:
        # As the Functions host answers it (azure-functions-host, src/WebJobs.Script.WebHost/
        # Controllers/HostController.cs GetHostStatus and Models/HostStatus.cs): state Error with
        # the host's `errors` when the app could not be loaded, `errors` left out otherwise.
        status: dict[str, Any] = {
            "id": self._instance_id,
            "state": "Error" if self.load_errors else "Running",
            "version": "devhost",
            "taskHub": self.config.task_hub,
            "processUptime": int((time.monotonic() - self._started_at) * 1000),
            "functions": sorted(
                [f.name for f in self.functions.http]
                + list(self.functions.orchestrators)
                + list(self.functions.activities)
                + [name for name, _ in self.functions.entities.values()]
            ),
        }
        if self.load_errors:
            status["errors"] = self.load_errors
        return status

    # --- durable API, both encodings --------------------------------------------------------

    async def _durable(self, request: web.BaseRequest, subpath: str, *, rpc: bool) -> web.StreamResponse:
        if self._durable_api is None:
            return error_response(503, "the durable API is not ready yet")
        started = time.perf_counter()
        response = await self._durable_api.handle(request, subpath, rpc=rpc)
        log.debug(
            "Durable API %s %s%s -> %d (%.0fms)",
            request.method,
            "rpc " if rpc else "",
            subpath,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _dispatch_rpc(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if not path.startswith(RPC_PATH):
            return web.Response(status=404)
        return await self._durable(request, path[len(RPC_PATH) - 1 :], rpc=True)


# The Functions host's own override of host.json `logging.logLevel.default`
# (https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values):
# Debug or Trace turns on the dev host's access log as --verbose does. An environment variable
# reaches hosts the caller does not start itself (lanes started by the local provisioner).
LOG_LEVEL_SETTING = "AzureFunctionsJobHost__logging__logLevel__default"


def debug_logging_requested(environ: Mapping[str, str]) -> bool:
    return environ.get(LOG_LEVEL_SETTING, "").strip().lower() in ("debug", "trace")


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("[%(asctime)s.%(msecs)03dZ] %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("devhost").setLevel(logging.DEBUG if verbose else logging.INFO)
    # aiohttp's own access log would print keys passed as `code=`; ours prints paths only.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
