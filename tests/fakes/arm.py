"""A local HTTPS fake of the slice of Azure Resource Manager (Microsoft.Web) the Azure backend uses.

It runs in a thread on a free 127.0.0.1 port with a certificate made at test time by trustme, so
the real azure-mgmt-web client talks to it over real TLS with a real bearer token header. It keeps
sites, app settings and host keys in memory, answers long-running operations the way ARM does
(202 + Azure-AsyncOperation / Location, polled to a terminal status), records every request, and
takes per-test faults: 429 with Retry-After, 5xx, slow replies, 403, and failures reported after
the change was in fact applied.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import trustme
from azure.core.credentials import AccessToken

API_VERSION = "2025-05-01"
FAKE_TOKEN = "fake-arm-bearer-token"
FakeArmT = TypeVar("FakeArmT", bound="FakeArm")

_SITE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/"
    r"sites/(?P<name>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_CHECK_NAME = re.compile(
    r"^/subscriptions/[^/]+/providers/Microsoft\.Web/checknameavailability$", re.IGNORECASE
)
_OPERATION = re.compile(r"^/fake-operations/(?P<op>[^/]+)$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    api_version: str | None
    query: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    status: int  # what the fake answered (0 while the answer is being made)

    @property
    def tail(self) -> str:
        """The path after `.../sites/<name>`, or the whole path for other resources."""
        if _OPERATION.match(self.path):
            return "operation"
        match = _SITE.match(self.path)
        if match is None:
            return self.path
        return "site" + (match["rest"] or "")


@dataclass
class Fault:
    """Answer `status` (after `delay` seconds) to the next `times` requests that match."""

    method: str
    pattern: str  # re.search'ed against the path
    status: int = 0  # 0: no answer of its own, only the delay
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    delay: float = 0.0
    apply_first: bool = False  # do the request's work, then answer with the fault anyway


def take_fault(faults: list[Fault], method: str, path: str) -> Fault | None:
    """The first of `faults` that matches and has times left, counted as used (caller locks)."""
    for fault in faults:
        if fault.times > 0 and fault.method == method and re.search(fault.pattern, path):
            fault.times -= 1
            return fault
    return None


@dataclass
class _Operation:
    polls_left: int
    outcome: str  # "Succeeded" | "Failed"
    location_of: str = ""  # Location-style: the site this operation answers with when done


class FakeArm:
    """State, faults and the request record of one fake ARM server."""

    def __init__(self, base_url: str, ca_path: Path) -> None:
        self.base_url = base_url
        self.ca_path = ca_path
        self.requests: list[RecordedRequest] = []
        self.sites: dict[str, dict[str, Any]] = {}
        self.app_settings: dict[str, dict[str, str]] = {}
        self.host_keys: dict[str, dict[str, Any]] = {}
        # Names held by someone else, anywhere in Azure: a PUT for them is a 409.
        self.taken_names: set[str] = set()
        self.max_sites: int | None = None
        # Blobs served without auth at /packages/<name>, as a SAS URL would serve them.
        self.packages: dict[str, bytes] = {}
        # Site PUTs: "sync" answers 200; "async" answers 202 + Azure-AsyncOperation (an operation
        # status resource) and "location" 202 + Location only (202 while running, then 200);
        # either is polled `lro_polls` times before it ends as `lro_outcome`.
        self.lro_mode = "async"
        self.lro_polls = 1
        # ARM tells pollers when to look again; the fake says "soon" so tests stay quick.
        self.lro_retry_after = 0.05
        self.lro_outcome = "Succeeded"
        self._faults: list[Fault] = []
        # A 429 with Retry-After throttles its method and path pattern until then: a request that
        # comes back sooner is refused again, as ARM's throttling does.
        self._throttled: dict[tuple[str, str], float] = {}
        self._operations: dict[str, _Operation] = {}
        self._release = threading.Event()
        self._lock = threading.Lock()

    # --- test controls -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        code: str = "",
        message: str = "",
        delay: float = 0.0,
        apply_first: bool = False,
    ) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        fault = Fault(method.upper(), pattern, status, times, headers, code, message, delay, apply_first)
        with self._lock:
            self._faults.append(fault)
        return fault

    def slow(self, method: str, pattern: str, seconds: float, *, times: int = 1) -> Fault:
        return self.fail(method, pattern, 0, times=times, delay=seconds)

    def release_slow_replies(self) -> None:
        """Let every reply still held by a `slow` fault go now."""
        self._release.set()

    def add_site(self, name: str, *, tags: dict[str, str] | None = None, state: str = "Running") -> None:
        """A site that exists before the test (someone else's, or an earlier run's)."""
        with self._lock:
            self._store_site(name, "sub", "rg", {"location": "westeurope", "tags": tags or {}})
            self.sites[name.lower()]["properties"]["state"] = state

    def set_state(self, name: str, state: str) -> None:
        with self._lock:
            self.sites[name.lower()]["properties"]["state"] = state

    def calls(self) -> list[tuple[str, str]]:
        """(method, tail) of every request, in order."""
        return [(r.method, r.tail) for r in self.requests]

    # --- request handling ----------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], Any]:
        url = urlsplit(target)
        query = dict(parse_qsl(url.query))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record_index = self._record(method, url.path, query, body)
        status, out_headers, payload = self._answer(method, url.path, headers, body)
        with self._lock:
            self.requests[record_index] = replace(self.requests[record_index], status=status)
        return status, out_headers, payload

    def _record(self, method: str, path: str, query: dict[str, str], body: Any) -> int:
        with self._lock:
            self.requests.append(
                RecordedRequest(method, path, query.get("api-version"), query, body, time.monotonic(), 0)
            )
            return len(self.requests) - 1

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            return take_fault(self._faults, method, path)

    def _answer(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/packages/") and method == "GET":
            fault = self._take_fault(method, path)
            if fault is not None and fault.status:
                return _error(fault.status, "BlobError", "injected")
            blob = self.packages.get(path.removeprefix("/packages/"))
            return (200, {}, blob) if blob is not None else _error(404, "BlobNotFound", "no blob")
        if not (headers.get("Authorization") or "").startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed: no bearer token.")
        throttled = self._still_throttled(method, path)
        if throttled is not None:
            return 429, {"Retry-After": f"{throttled:g}"}, _error(429, "TooManyRequests", "still throttled")[2]
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.status == 429 and "Retry-After" in fault.headers:
                with self._lock:
                    self._throttled[(fault.method, fault.pattern)] = (
                        time.monotonic() + float(fault.headers["Retry-After"]))
            if fault.delay:
                self._release.wait(fault.delay)
            if fault.status:
                if fault.apply_first:
                    self._route(method, path, body)
                status, _, payload = _error(
                    fault.status,
                    fault.code or _DEFAULT_CODES.get(fault.status, "Error"),
                    fault.message or f"injected {fault.status}",
                )
                return status, dict(fault.headers), payload
        return self._route(method, path, body)

    def _still_throttled(self, method: str, path: str) -> float | None:
        """Seconds left of a throttle window that covers this request, or None."""
        now = time.monotonic()
        with self._lock:
            for (fault_method, pattern), until in self._throttled.items():
                if fault_method == method and re.search(pattern, path) and until > now:
                    return round(until - now, 3)
        return None

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            if match := _OPERATION.match(path):
                return self._operation_status(match["op"])
            if _CHECK_NAME.match(path) and method == "POST":
                return self._check_name(body or {})
            match = _SITE.match(path)
            if match is None:
                return _error(404, "NotFound", f"No route for {method} {path} in the fake.")
            name, rest = match["name"], (match["rest"] or "").lower()
            key = name.lower()
            if method == "PUT" and rest == "":
                return self._put_site(name, match["sub"], match["rg"], body or {})
            site = self.sites.get(key)
            if site is None:
                return _error(
                    404,
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.Web/sites/{name}' under resource group "
                    f"'{match['rg']}' was not found.",
                )
            if rest == "" and method == "GET":
                return 200, {}, site
            if rest == "" and method == "DELETE":
                del self.sites[key]
                self.app_settings.pop(key, None)
                self.host_keys.pop(key, None)
                return 200, {}, None
            if rest == "/config/appsettings" and method == "PUT":
                self.app_settings[key] = dict((body or {}).get("properties") or {})
                return 200, {}, self._settings_resource(site, key)
            if rest == "/config/appsettings/list" and method == "POST":
                return 200, {}, self._settings_resource(site, key)
            if rest == "/host/default/listkeys" and method == "POST":
                return 200, {}, self.host_keys[key]
            if rest == "/syncfunctiontriggers" and method == "POST":
                return 204, {}, None
            if rest == "/restart" and method == "POST":
                site["properties"]["state"] = "Running"
                return 200, {}, None
            return _error(404, "NotFound", f"No route for {method} {path} in the fake.")

    def _put_site(
        self, name: str, sub: str, rg: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        key = name.lower()
        if key in self.taken_names:
            return _error(409, "Conflict", f"Website with given name {name} already exists.")
        if key not in self.sites and self.max_sites is not None and len(self.sites) >= self.max_sites:
            return _error(
                409,
                "Conflict",
                f"The maximum number of sites allowed for this App Service plan is {self.max_sites}.",
            )
        site = self._store_site(name, sub, rg, body)
        if self.lro_mode == "sync":
            return 200, {}, site
        op = secrets.token_hex(8)
        location_of = key if self.lro_mode == "location" else ""
        self._operations[op] = _Operation(self.lro_polls, self.lro_outcome, location_of)
        status_url = f"{self.base_url}/fake-operations/{op}?api-version={API_VERSION}"
        if self.lro_mode == "location":
            return 202, {"Location": status_url, **self._poll_later()}, None
        headers = {"Azure-AsyncOperation": status_url, "Location": status_url, **self._poll_later()}
        return 202, headers, None

    def _store_site(self, name: str, sub: str, rg: str, body: dict[str, Any]) -> dict[str, Any]:
        key = name.lower()
        props = dict(body.get("properties") or {})
        props.pop("siteConfig", None)  # ARM never returns siteConfig on the site itself
        site = {
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}",
            "name": name,
            "type": "Microsoft.Web/sites",
            "location": body.get("location", ""),
            "kind": body.get("kind", "app"),
            "tags": dict(body.get("tags") or {}),
            "properties": {
                **props,
                "state": "Running",
                "defaultHostName": f"{key}.azurewebsites.net",
                "hostNames": [f"{key}.azurewebsites.net"],
                "provisioningState": "Succeeded",
            },
        }
        if body.get("identity"):
            site["identity"] = {**body["identity"], "principalId": secrets.token_hex(8)}
        self.sites[key] = site
        self.app_settings.setdefault(key, {})
        self.host_keys.setdefault(
            key,
            {
                "masterKey": secrets.token_urlsafe(24),
                "functionKeys": {"default": secrets.token_urlsafe(24)},
                "systemKeys": {"durabletask_extension": secrets.token_urlsafe(24)},
            },
        )
        return site

    def _settings_resource(self, site: dict[str, Any], key: str) -> dict[str, Any]:
        return {
            "id": f"{site['id']}/config/appsettings",
            "name": "appsettings",
            "type": "Microsoft.Web/sites/config",
            "properties": dict(self.app_settings[key]),
        }

    def _operation_status(self, op_id: str) -> tuple[int, dict[str, str], Any]:
        op = self._operations.get(op_id)
        if op is None:
            return _error(404, "NotFound", "No such operation.")
        if op.location_of:
            if op.polls_left > 0:
                op.polls_left -= 1
                location = f"{self.base_url}/fake-operations/{op_id}?api-version={API_VERSION}"
                return 202, {"Location": location, **self._poll_later()}, None
            return 200, {}, self.sites[op.location_of]
        if op.polls_left > 0:
            op.polls_left -= 1
            return 200, self._poll_later(), {"id": op_id, "name": op_id, "status": "InProgress"}
        payload: dict[str, Any] = {"id": op_id, "name": op_id, "status": op.outcome}
        if op.outcome == "Failed":
            payload["error"] = {"code": "InternalServerError", "message": "The operation failed."}
        return 200, {}, payload

    def _poll_later(self) -> dict[str, str]:
        return {"Retry-After": f"{self.lro_retry_after:g}"}

    def _check_name(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        name = str(body.get("name", "")).lower()
        taken = name in self.taken_names or name in self.sites
        return (
            200,
            {},
            {
                "nameAvailable": not taken,
                "reason": "AlreadyExists" if taken else None,
                "message": f"Hostname '{name}' already exists." if taken else None,
            },
        )


_DEFAULT_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    # One write per response and no Nagle delay: otherwise every request waits ~40 ms for an ACK.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _ArmServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.arm.handle(self.command, self.path, self.headers, raw)
        if isinstance(payload, bytes):
            data, content_type = payload, "application/zip"
        else:
            data = b"" if payload is None or status == 204 else json.dumps(payload).encode()
            content_type = "application/json; charset=utf-8"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", secrets.token_hex(8))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the record is the log


class _ArmServer(ThreadingHTTPServer):
    daemon_threads = True
    arm: FakeArm

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow reply closed its socket: expected, not worth a traceback.
        pass


@dataclass
class StaticTokenCredential:
    """An async token credential with a fixed token: the fake only checks that one is sent."""

    token: str = FAKE_TOKEN

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


@contextmanager
def serve_fake_arm(cert_dir: Path) -> Iterator[FakeArm]:
    """Run a fake ARM on a free loopback port for the duration of the `with` block."""
    ca = trustme.CA()
    ca_path = cert_dir / "fake-arm-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with running_arm_server(ca, lambda base_url: FakeArm(base_url, ca_path)) as arm:
        yield arm


@contextmanager
def running_arm_server(ca: trustme.CA, make: Callable[[str], FakeArmT]) -> Iterator[FakeArmT]:
    """Serve the fake `make(base_url)` builds (a FakeArm or a subclass) over HTTPS with a
    certificate of `ca`, on a free loopback port, until the `with` block ends."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _ArmServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    arm = make(f"https://127.0.0.1:{server.server_address[1]}")
    server.arm = arm
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-arm", daemon=True
    )
    thread.start()
    try:
        yield arm
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
