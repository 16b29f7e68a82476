"""The lane client's retry policy, as one httpx transport layered over the one that does the I/O.

httpx cuts I/O at `AsyncBaseTransport.handle_async_request(request) -> response`; retrying
belongs at that cut, so that every lane call gets the same policy and tests drive it through
`httpx.MockTransport` without a network. What may be retried depends on whether a repeat could
do the work twice:

- an attempt that never left (refused connection, connect or pool timeout) is always retried;
- an attempt that left but got no answer, or got 502/503/504, is retried only when the request
  is marked repeatable (`request.extensions[IDEMPOTENT]`); it may have reached the lane;
- 429 ("not done, come back later") is always retried, after the lane's Retry-After.

The response carries a `Delivery` (`response.extensions[DELIVERY]`): how many attempts were
made and whether an earlier one may have been acted on. A call that then sees "already exists"
or "already gone" can tell its own earlier attempt from someone else's. When the last attempt
raises, the same record is left on `request.extensions[DELIVERY]`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

# Request extension: True when sending the request twice does no more than sending it once.
IDEMPOTENT = "lane_idempotent"
# Response (or failed request) extension: the `Delivery` of the call.
DELIVERY = "lane_delivery"

# Answers that say the lane (or its front end) did not do the work, or may not have.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Raised before the request left: retrying cannot duplicate anything.
NOT_SENT: tuple[type[httpx.TransportError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True)
class Delivery:
    """What the attempts behind one answer (or failure) did."""

    attempts: int
    maybe_delivered: bool  # an earlier attempt may have reached the lane and been acted on


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # tries per request, the first included
    backoff_seconds: float  # before the first retry; doubled per retry, with jitter
    backoff_max_seconds: float  # caps the backoff and a lane's Retry-After

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait after failed `attempt` (1-based), honouring a Retry-After in seconds."""
        cap = self.backoff_max_seconds
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), cap)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        delay = self.backoff_seconds * 2 ** (attempt - 1)
        return min(delay * random.uniform(0.5, 1.0), cap)


class RetryTransport(httpx.AsyncBaseTransport):
    """Sends through `transport`, retrying what `policy` and the request's idempotency allow.

    Each answer's body is read here, so that a body cut off mid-way is an unanswered attempt
    like any other, and the connection goes back to the pool before a retry.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, policy: RetryPolicy, *, sleep: Sleep = asyncio.sleep) -> None:
        self._transport = transport
        self._policy = policy
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        idempotent = bool(request.extensions.get(IDEMPOTENT, False))
        attempts = max(1, self._policy.attempts)
        maybe_delivered = False
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._send_once(request)
            except httpx.UnsupportedProtocol:
                # A broken lane address: no attempt can ever leave.
                request.extensions[DELIVERY] = Delivery(attempt, maybe_delivered)
                raise
            except NOT_SENT as exc:
                if last:
                    request.extensions[DELIVERY] = Delivery(attempt, maybe_delivered)
                    raise
                _log_retry(request, f"not sent ({type(exc).__name__})")
                await self._sleep(self._policy.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                # Sent but unanswered: the lane may have acted on it.
                if last or not idempotent:
                    request.extensions[DELIVERY] = Delivery(attempt, maybe_delivered)
                    raise
                maybe_delivered = True
                _log_retry(request, f"unanswered ({type(exc).__name__})")
                await self._sleep(self._policy.delay(attempt, None))
                continue
            except httpx.HTTPError:
                # Not a transport failure (an undecodable body, say): a repeat would get the same.
                request.extensions[DELIVERY] = Delivery(attempt, maybe_delivered)
                raise
            status = response.status_code
            # 429 means "not done"; a gateway 5xx may hide work done behind it.
            if last or status not in RETRYABLE_STATUSES or not (idempotent or status == 429):
                response.extensions[DELIVERY] = Delivery(attempt, maybe_delivered)
                return response
            maybe_delivered = maybe_delivered or status != 429
            _log_retry(request, f"answered {status}")
            await self._sleep(self._policy.delay(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response


def delivery_of(response: httpx.Response) -> Delivery:
    """The `Delivery` a `RetryTransport` left on `response` (one attempt when there was none)."""
    delivery = response.extensions.get(DELIVERY)
    return delivery if isinstance(delivery, Delivery) else Delivery(1, False)


def _log_retry(request: httpx.Request, what: str) -> None:
    # Host and path only: the key travels in a header, and the query may come from a client.
    url = request.url
    host = f"{url.host}:{url.port}" if url.port is not None else url.host
    log.warning("lane %s: %s %s %s, retrying", host, request.method, url.path, what)
