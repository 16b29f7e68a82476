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
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx
from yarl import URL

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


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Does the lane client's I/O over one aiohttp session: httpx's API, aiohttp's pool.

    httpcore's pool scans every idle connection (`has_expired`, a `getpeername` each) on every
    request, so its CPU per request grows with the pool: 2 ms at 12 connections, 6 ms at 64
    (docs/performance.md). aiohttp's pool hands out a free connection without a scan.

    Errors come out as the httpx errors `RetryTransport` decides on, by the phase they happen in,
    never by a guess: only aiohttp's connector errors and connect timeouts (raised before a byte
    of the request was written) are "not sent"; a connection dropped, reset or timed out after
    that is "sent but unanswered", so a start is never sent twice. The session is opened on the
    first request, in the running event loop, and serves that loop only (as `LaneClient` keeps
    one transport per loop). The whole answer is read here, inside the error mapping; httpx
    decodes its Content-Encoding, as it does for its own transport. Redirects are never followed.
    """

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            # auto_decompress off: httpx decodes by the answer's Content-Encoding, once.
            # No cookie jar: a cookie one lane sets must not ride along on the next call.
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
            )
            # aiohttp sends a dropped GET or DELETE once more on its own; `RetryTransport` is the
            # one retry policy (its attempts, its backoff), so that is off, as aiohttp's own test
            # client turns it off (aiohttp/test_utils.py).
            session._retry_connection = False
            self._session = session
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:
            raise httpx.UnsupportedProtocol(f"not an http(s) URL: scheme {url.scheme!r}", request=request)
        session = self._open_session()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                # encoded=True: the path is sent as httpx built it (percent-encoded, no dot segments).
                URL(str(url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=_aiohttp_timeout(request),
                skip_auto_headers=_SKIPPED_AUTO_HEADERS,
            ) as answer:
                content = await answer.read()
                return httpx.Response(
                    answer.status,
                    headers=answer.raw_headers,
                    stream=httpx.ByteStream(content),
                    request=request,
                    extensions={"http_version": b"HTTP/1.1"},
                )
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc, request) from exc
        except asyncio.TimeoutError as exc:  # a plain timeout of the session: the request may have left
            raise httpx.ReadTimeout(f"no answer in time ({type(exc).__name__})", request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# httpx already sets these (Accept, Accept-Encoding, User-Agent): aiohttp adds none of its own.
_SKIPPED_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})

# aiohttp's errors, in the order they are tried (subclasses first), and the httpx error each is.
# Only what is raised before the request was written maps to ConnectError or ConnectTimeout,
# the errors `RetryTransport` may repeat a start after (NOT_SENT): ServerDisconnectedError, for
# one, is a ClientConnectionError too, but the request may have reached the lane before the drop.
_AIOHTTP_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, refused, TLS handshake: not sent
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # no connection (or pool slot) in time
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),  # sent, no answer in time
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # sent, dropped before an answer
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # the answer was cut off
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # an answer that is not HTTP
    (aiohttp.ClientConnectionError, httpx.ReadError),  # reset or closed after the connection was up
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
)


def _httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    for cause, error in _AIOHTTP_ERRORS:
        if isinstance(exc, cause):
            return error(f"{type(exc).__name__}", request=request)
    return httpx.ReadError(type(exc).__name__, request=request)  # unknown: assume it may have left


def _aiohttp_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts as aiohttp's: pool wait plus connect, connect, and each read."""
    timeout = request.extensions.get("timeout") or {}
    return _client_timeout(timeout.get("connect"), timeout.get("pool"), timeout.get("read"))


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, pool: float | None, read: float | None) -> aiohttp.ClientTimeout:
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=read)
