"""The worker's long-lived services: settings, the lane backend, the lane HTTP client, caches.

Built once per worker process on first use. Secrets (lane system keys) live only here, in
memory: never in an orchestration's history, the version map, a log line or a response.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

import azure.durable_functions as df

from provisioning.base import AppRef, LaneBackend
from provisioning.config import ProvisioningConfig
from router.durable_inputs import Timing
from router.errors import LaneKeyRejected, NotFound
from router.lane_client import LaneClient, LaneEndpoint
from router.settings import Settings
from router.lanes import Lane, VersionMap

T = TypeVar("T")

MapReader = Callable[[], Awaitable[Any]]


@dataclass
class MapCache:
    """The version map as this worker last read it, for at most `ttl` seconds.

    The drain protocol relies on this bound: a lane retires only after it was seen empty over
    more than `ttl`, so no worker can still hold a map that sends starts to it.
    """

    ttl: float
    _map: VersionMap | None = None
    _read_at: float = 0.0
    _lock: asyncio.Lock | None = None

    async def get(self, read: MapReader) -> VersionMap:
        if self._map is not None and time.monotonic() - self._read_at < self.ttl:
            return self._map
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._map is None or time.monotonic() - self._read_at >= self.ttl:
                started = time.monotonic()
                self._map = parse_entity_state(await read())
                self._read_at = started
        return self._map

    def invalidate(self) -> None:
        self._map = None


def parse_entity_state(state: Any) -> VersionMap:
    """The entity's state as the client returns it (a dict, or its JSON text on some hosts)."""
    if isinstance(state, (str, bytes)):
        state = json.loads(state) if state else None
    return VersionMap.from_dict(state)


@dataclass
class KeyCache:
    """Lane system keys read from the backend, kept in memory only."""

    _keys: dict[str, str] = field(default_factory=dict)

    async def endpoint(self, backend: LaneBackend, app: AppRef) -> LaneEndpoint:
        key = self._keys.get(app.base_url)
        if key is None:
            key = await backend.read_system_key(app)
            self._keys[app.base_url] = key
        return LaneEndpoint(app.base_url, key)

    def forget(self, base_url: str) -> None:
        self._keys.pop(base_url, None)


class RouterRuntime:
    """Per-process services, built on first use."""

    def __init__(
        self,
        settings: Settings,
        backend_factory: Callable[[ProvisioningConfig], LaneBackend],
        *,
        lane_client: LaneClient | None = None,
        activity_retry_seconds: float = Timing.activity_retry_seconds,
    ) -> None:
        self.settings = settings
        self._backend_factory = backend_factory
        self._backend: LaneBackend | None = None
        self._lane_client = lane_client  # tests hand in one over httpx.MockTransport
        self._activity_retry_seconds = activity_retry_seconds  # tests retry in milliseconds
        self.map_cache = MapCache(settings.map_cache_seconds)
        self.keys = KeyCache()

    @property
    def backend(self) -> LaneBackend:
        if self._backend is None:
            self._backend = self._backend_factory(self.settings.provisioning)
        return self._backend

    @property
    def lane_client(self) -> LaneClient:
        if self._lane_client is None:
            self._lane_client = LaneClient()  # pools connections per event loop itself
        return self._lane_client

    async def lane_endpoint(self, app: AppRef) -> LaneEndpoint:
        return await self.keys.endpoint(self.backend, app)

    async def call_lane(self, app: AppRef, call: Callable[[LaneEndpoint], Awaitable[T]]) -> T:
        """Call the lane with its key; a refused key (rotated by a redeploy) is read again once."""
        try:
            return await call(await self.lane_endpoint(app))
        except LaneKeyRejected:
            self.keys.forget(app.base_url)
            return await call(await self.lane_endpoint(app))

    def timing(self) -> Timing:
        """The settings an orchestration carries in its input (replays must see the same)."""
        s = self.settings
        return Timing(
            drain_poll_seconds=s.drain_poll_seconds,
            drain_grace_seconds=s.drain_grace_seconds,
            map_cache_seconds=s.map_cache_seconds,
            held_timeout_seconds=s.held_request_timeout_seconds,
            release_timeout_seconds=s.release_timeout_seconds,
            ready_timeout_seconds=s.lane_ready_timeout_seconds,
            probe_seconds=s.lane_probe_seconds,
            router_id=s.provisioning.router_id,
            activity_retry_seconds=self._activity_retry_seconds,
        )


def lane_app(lane: Lane) -> AppRef:
    """Where a lane's app lives, as the version map records it (no secret)."""
    if lane.app is None:
        raise NotFound(f"Lane {lane.key} has no app yet.", lane=lane.key)
    return lane.app


class DurableClients:
    """The Durable client of the host's `durableClient` binding, built once per binding text.

    The host passes the same binding JSON (task hub, base URLs, system key) to every call of
    a process; the SDK's `durable_client_input` wrapper parses it into a new client on every
    call (a few % of a forwarded request). The client holds no per-call state, so one serves
    all calls; a different text (e.g. a rotated key) builds a new one. Never logged: the text
    carries the system key.
    """

    def __init__(self) -> None:
        self._binding: str | None = None
        self._client: df.DurableOrchestrationClient | None = None

    def client(self, binding: str | bytes) -> df.DurableOrchestrationClient:
        text = binding.decode("utf-8") if isinstance(binding, bytes) else binding
        if not isinstance(text, str) or not text:
            raise TypeError("the durableClient binding must be the host's binding JSON text")
        if text != self._binding or self._client is None:
            self._client = df.DurableOrchestrationClient(text)
            self._binding = text
        return self._client


durable_clients = DurableClients()


def durable_client(binding: str | bytes) -> df.DurableOrchestrationClient:
    """The Durable client for a route's plain `durableClient` input binding (its JSON text)."""
    return durable_clients.client(binding)


_runtime: RouterRuntime | None = None


def configure(runtime: RouterRuntime) -> None:
    global _runtime
    _runtime = runtime


def current() -> RouterRuntime:
    if _runtime is None:
        raise RuntimeError("the router runtime is not configured: import function_app first")
    return _runtime
