"""How the lane client's calls travel: one small request/answer seam, the retry policy over it,
and the sender that does the I/O over aiohttp.

A `LaneRequest` goes in, a `LaneAnswer` (status, headers, whole body) comes out; failures are
httpx's exception classes, the error vocabulary `router.lane_errors` maps. Two senders do I/O:
`AiohttpSender` in production, and `HttpxSender`, which runs any `httpx.AsyncBaseTransport`
(tests hand in an `httpx.MockTransport`). Neither builds an httpx.Request or httpx.Response on
the production path: httpx's own objects cost more CPU than the call (docs/performance.md).

Retrying belongs at this cut, so every lane call gets the same policy. What may be retried
depends on whether a repeat could do the work twice:

- an attempt that never left (refused connection, connect or pool timeout) is always retried;
- an attempt that left but got no answer, or got 502/503/504, is retried only when the request
  is marked repeatable (`LaneRequest.idempotent`); it may have reached the lane;
- 429 ("not done, come back later") is always retried, after the lane's Retry-After.

The answer carries a `Delivery`: how many attempts were made and whether an earlier one may
have been acted on. A call that then sees "already exists" or "already gone" can tell its own
earlier attempt from someone else's. When the last attempt raises, the same record is left on
`LaneRequest.delivery`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import httpx
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

log = logging.getLogger(__name__)

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
class Timeouts:
    connect: float  # to open a connection
    read: float  # between bytes of the answer
    pool: float  # to get a free pooled connection


@dataclass
class LaneRequest:
    method: str
    url: str  # absolute and already percent-encoded: sent exactly as it is
    headers: dict[str, str]
    body: bytes | None
    idempotent: bool  # True when sending it twice does no more than sending it once
    timeouts: Timeouts
    delivery: Delivery | None = None  # left by the retry policy when the last attempt raised


@dataclass
class LaneAnswer:
    """A lane's whole answer, its body decoded (Content-Encoding undone)."""

    status_code: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]
    content: bytes
    delivery: Delivery = field(default_factory=lambda: Delivery(1, False))

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)


class Sender(Protocol):
    async def send(self, request: LaneRequest) -> LaneAnswer: ...

    async def aclose(self) -> None: ...


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


class RetryingSender:
    """Sends through `sender`, retrying what `policy` and the request's idempotency allow."""

    def __init__(self, sender: Sender, policy: RetryPolicy, *, sleep: Sleep = asyncio.sleep) -> None:
        self._sender = sender
        self._policy = policy
        self._sleep = sleep

    async def send(self, request: LaneRequest) -> LaneAnswer:
        idempotent = request.idempotent
        attempts = max(1, self._policy.attempts)
        maybe_delivered = False
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                answer = await self._sender.send(request)
            except httpx.UnsupportedProtocol:
                # A broken lane address: no attempt can ever leave.
                request.delivery = Delivery(attempt, maybe_delivered)
                raise
            except NOT_SENT as exc:
                if last:
                    request.delivery = Delivery(attempt, maybe_delivered)
                    raise
                _log_retry(request, f"not sent ({type(exc).__name__})")
                await self._sleep(self._policy.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                # Sent but unanswered: the lane may have acted on it.
                if last or not idempotent:
                    request.delivery = Delivery(attempt, maybe_delivered)
                    raise
                maybe_delivered = True
                _log_retry(request, f"unanswered ({type(exc).__name__})")
                await self._sleep(self._policy.delay(attempt, None))
                continue
            except httpx.HTTPError:
                # Not a transport failure (an undecodable body, say): a repeat would get the same.
                request.delivery = Delivery(attempt, maybe_delivered)
                raise
            status = answer.status_code
            # 429 means "not done"; a gateway 5xx may hide work done behind it.
            if last or status not in RETRYABLE_STATUSES or not (idempotent or status == 429):
                answer.delivery = Delivery(attempt, maybe_delivered)
                return answer
            maybe_delivered = maybe_delivered or status != 429
            _log_retry(request, f"answered {status}")
            await self._sleep(self._policy.delay(attempt, answer.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._sender.aclose()


def _log_retry(request: LaneRequest, what: str) -> None:
    # Host and path only: the key travels in a header, and the query may come from a client.
    url = urlsplit(request.url)
    log.warning("lane %s: %s %s %s, retrying", url.netloc, request.method, url.path, what)


@functools.lru_cache(maxsize=256)
def checked_base_url(base_url: str) -> str:
    """A lane's base URL without its trailing '/', once checked to be a usable http(s) URL.

    Raises httpx.UnsupportedProtocol for another scheme and httpx.InvalidURL for no host or a
    port that is no number, before any connection is tried.
    """
    parts = urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"not an http(s) URL: scheme {parts.scheme!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        raise httpx.InvalidURL("the lane's port is not a number") from None
    if not parts.hostname:
        raise httpx.InvalidURL("the lane's URL has no host")
    return base_url.rstrip("/")


class HttpxSender:
    """Runs any httpx transport: tests' `httpx.MockTransport`, or httpx's own if one wants it."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def send(self, request: LaneRequest) -> LaneAnswer:
        timeouts = request.timeouts
        outgoing = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.body,
            extensions={"timeout": {"connect": timeouts.connect, "read": timeouts.read,
                                    "write": timeouts.read, "pool": timeouts.pool}},
        )
        response = await self._transport.handle_async_request(outgoing)
        try:
            content = await response.aread()  # decodes Content-Encoding
        finally:
            await response.aclose()
        headers = CIMultiDict(response.headers.multi_items())
        headers.popall("content-encoding", None)  # the body is decoded now
        return LaneAnswer(response.status_code, headers, content)

    async def aclose(self) -> None:
        await self._transport.aclose()


class AiohttpSender:
    """Does the lane client's I/O over one aiohttp session.

    httpcore's pool scans every idle connection (`has_expired`, a `getpeername` each) on every
    request, so its CPU per request grows with the pool: 2 ms at 12 connections, 6 ms at 64
    (docs/performance.md). aiohttp's pool hands out a free connection without a scan.

    Errors come out as the httpx errors `RetryingSender` decides on, by the phase they happen in,
    never by a guess: only aiohttp's connector errors and connect timeouts (raised before a byte
    of the request was written) are "not sent"; a connection dropped, reset or timed out after
    that is "sent but unanswered", so a start is never sent twice. The session is opened on the
    first request, in the running event loop, and serves that loop only (`LaneClient` keeps one
    sender per loop). The whole answer is read here, inside the error mapping. Redirects are
    never followed, cookies never kept.
    """

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            # No cookie jar: a cookie one lane sets must not ride along on the next call.
            session = aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())
            # aiohttp sends a dropped GET or DELETE once more on its own; `RetryingSender` is the
            # one retry policy (its attempts, its backoff), so that is off, as aiohttp's own test
            # client turns it off (aiohttp/test_utils.py).
            session._retry_connection = False
            self._session = session
        return self._session

    async def send(self, request: LaneRequest) -> LaneAnswer:
        session = self._open_session()
        try:
            async with session.request(
                request.method,
                URL(request.url, encoded=True),  # sent as built: percent-encoded, no dot segments
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                timeout=_client_timeout(request.timeouts),
                skip_auto_headers=_SKIPPED_AUTO_HEADERS,
            ) as answer:
                content = await answer.read()  # decoded: aiohttp undoes gzip and deflate
                headers = CIMultiDict(answer.headers)
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc) from exc
        except asyncio.TimeoutError as exc:  # a plain timeout of the session: the request may have left
            raise httpx.ReadTimeout(f"no answer in time ({type(exc).__name__})") from exc
        headers.popall("content-encoding", None)
        return LaneAnswer(answer.status, headers, content)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# The caller sets these (Accept, Accept-Encoding, User-Agent, Content-Type): aiohttp adds none.
_SKIPPED_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})

# aiohttp's errors, in the order they are tried (subclasses first), and the httpx error each is.
# Only what is raised before the request was written maps to ConnectError or ConnectTimeout,
# the errors `RetryingSender` may repeat a start after (NOT_SENT): ServerDisconnectedError, for
# one, is a ClientConnectionError too, but the request may have reached the lane before the drop.
_AIOHTTP_ERRORS: tuple[tuple[type[BaseException], type[httpx.HTTPError]], ...] = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, refused, TLS handshake: not sent
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # no connection (or pool slot) in time
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),  # sent, no answer in time
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # sent, dropped before an answer
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # the answer was cut off (or undecodable)
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # an answer that is not HTTP
    (aiohttp.ClientConnectionError, httpx.ReadError),  # reset or closed after the connection was up
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
)


def _httpx_error(exc: aiohttp.ClientError) -> httpx.HTTPError:
    for cause, error in _AIOHTTP_ERRORS:
        if isinstance(exc, cause):
            return error(type(exc).__name__)
    return httpx.ReadError(type(exc).__name__)  # unknown: assume it may have left


@functools.lru_cache(maxsize=64)
def _client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """As aiohttp's: pool wait plus connect, connect, and each read of the answer."""
    return aiohttp.ClientTimeout(total=None, connect=timeouts.connect + timeouts.pool,
                                 sock_connect=timeouts.connect, sock_read=timeouts.read)
