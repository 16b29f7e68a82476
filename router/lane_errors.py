"""What a lane's failures mean to the router: one table for its answers, one for httpx's errors.

As httpx's own `map_httpcore_exceptions` does one layer down, each failure is looked up once,
here, and comes out as a `RouterError`; callers raise it `from` the httpx error it replaces, so
the cause keeps its type in logs and activity failure details. Messages (and so error bodies)
carry the lane's own error text scrubbed of URLs, host and key, and for transport errors only
the error's class name: httpx's messages may quote the lane's address. The key is in no cause
either: it travels in a header, never in a URL.
"""

from __future__ import annotations

import httpx

from router.errors import (
    BadRequest,
    Conflict,
    InstanceNotRunning,
    LaneKeyRejected,
    LaneTimeout,
    LaneUnreachable,
    NotFound,
    PayloadTooLarge,
    RouterError,
)
from router.lane_transport import Delivery, LaneAnswer
from router.urls import LaneUrlRewriter

# A lane's answer → the router error and its message. `{subject}` names what was asked for,
# `{message}` is the lane's own text, `{tries}` says how many attempts were made.
STATUS_ERRORS: dict[int, tuple[type[RouterError], str]] = {
    401: (LaneKeyRejected, "the lane refused the router's system key"),
    403: (LaneKeyRejected, "the lane refused the router's system key"),
    404: (NotFound, "{subject} not found on the lane: {message}"),
    409: (Conflict, "{subject} conflicts with the lane's state: {message}"),
    410: (InstanceNotRunning, "{subject} is no longer running: {message}"),
    413: (PayloadTooLarge, "the lane refused the body as too large: {message}"),
    429: (LaneUnreachable, "the lane is throttling requests {tries}: {message}"),
    502: (LaneUnreachable, "the lane is unavailable {tries}: {message}"),
    503: (LaneUnreachable, "the lane is unavailable {tries}: {message}"),
    504: (LaneTimeout, "the lane's gateway timed out {tries}: {message}"),
}
OTHER_CLIENT_ERROR = (BadRequest, "the lane rejected the request for {subject}: {message}")
OTHER_ERROR = (LaneUnreachable, "the lane failed on {subject}: {message}")

# Answers from the lane's front door rather than about what was asked: no call can use them
# (a refused key, throttling, a gateway that gave up), so they fail every call alike.
EDGE_FAILURES = frozenset({401, 403, 429, 502, 503, 504})

# An httpx error → the router error and its message; the first matching class wins, so the
# more specific come first.
TRANSPORT_ERRORS: tuple[tuple[type[Exception], type[RouterError], str], ...] = (
    (httpx.InvalidURL, LaneUnreachable, "the lane's address is not a usable http(s) URL"),
    (httpx.UnsupportedProtocol, LaneUnreachable, "the lane's address is not a usable http(s) URL"),
    (httpx.TimeoutException, LaneTimeout, "the lane did not answer in time {tries} ({kind})"),
    (httpx.HTTPError, LaneUnreachable, "the lane could not be reached {tries} ({kind})"),
)


def lane_error(response: LaneAnswer, subject: str, rewriter: LaneUrlRewriter) -> RouterError:
    """The router error for a lane's non-success answer about `subject`."""
    status = response.status_code
    error, template = STATUS_ERRORS.get(status) or (OTHER_CLIENT_ERROR if 400 <= status < 500 else OTHER_ERROR)
    message = template.format(
        subject=subject, message=_lane_message(response, rewriter), tries=_tries(response.delivery)
    )
    return error(message, laneStatus=status)


def transport_error(exc: httpx.InvalidURL | httpx.HTTPError, delivery: Delivery | None = None) -> RouterError:
    """The router error for an httpx error raised while calling a lane, after `delivery`."""
    for cause, error, template in TRANSPORT_ERRORS:
        if isinstance(exc, cause):
            return error(template.format(kind=type(exc).__name__, tries=_tries(delivery or Delivery(1, False))))
    raise TypeError(f"not an httpx error: {type(exc).__name__}")


def _tries(delivery: Delivery) -> str:
    return f"after {delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"


def _lane_message(response: LaneAnswer, rewriter: LaneUrlRewriter) -> str:
    """The human part of a lane's error answer, without URLs, host or key."""
    text = ""
    try:
        document = response.json()
    except ValueError:
        text = response.text
    else:
        if isinstance(document, dict):
            for key in ("message", "Message", "ExceptionMessage", "error"):
                if isinstance(document.get(key), str):
                    text = document[key]
                    break
        elif isinstance(document, str):
            text = document
    text = " ".join(rewriter.scrub_text(text).split())
    return text[:500] or f"HTTP {response.status_code}"
