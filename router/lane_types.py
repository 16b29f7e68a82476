"""The plain data that crosses the lane client: where a lane is, what it answered, how to call it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class LaneEndpoint:
    """Where a lane's app answers and the system key of its Durable HTTP API."""

    base_url: str
    system_key: str = field(repr=False)


@dataclass(frozen=True)
class StartedInstance:
    """An orchestration the lane accepted."""

    instance_id: str
    status: int  # the lane's HTTP status, 202 when freshly scheduled


@dataclass(frozen=True)
class ProxiedResponse:
    """A lane's answer to a management call, already rewritten into router terms."""

    status: int
    headers: dict[str, str]  # names lower-cased, as HTTP/1.1 libraries hand them over
    body: bytes


@dataclass(frozen=True)
class InFlight:
    """The instances that keep a lane's app alive."""

    running: int
    pending: int
    suspended: int
    oldest_created_time: datetime | None
    # False when the lane had more than the one page read (`LaneClient.drain_count`): the
    # figures are then lower bounds ("at least"), which is all a drain decision needs.
    complete: bool = True

    @property
    def total(self) -> int:
        return self.running + self.pending + self.suspended


@dataclass(frozen=True)
class LaneClientOptions:
    """Timeouts, pooling and retry policy of the lane edge."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 3  # tries per call, the first included
    backoff_seconds: float = 0.25  # doubled per retry, with jitter
    backoff_max_seconds: float = 4.0  # also caps a lane's Retry-After
    max_connections: int = 100
    # `top` when counting in-flight instances (one page per drain poll, docs/performance.md).
    page_size: int = 1000
    max_pages: int = 10_000  # a lane that pages forever must not hang the drain monitor
