"""The router-facing face of a lane's instances: URLs, headers and query strings.

Clients manage an instance through the router (`/api/instances/{lane}/{id}...`), never through
the lane: a lane's host name and system key must not reach them. This module builds the
router's management URLs, filters headers and query strings crossing the router, and rewrites
whatever a lane says about itself (URLs in headers and bodies) into router terms. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

from provisioning.base import DURABLE_API_PATH  # where a lane's Durable HTTP API lives, under its base URL
from router.instance_actions import ACTION_SEGMENTS, InstanceAction, action_path
from router.url_segments import path_segment

# Hop-by-hop headers (RFC 9110 7.6.1) and headers that describe one connection or one body,
# which the router re-creates itself; plus credentials, which never cross the router.
_DROPPED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "content-length",
        "x-functions-key",
        "authorization",
        "cookie",
        "set-cookie",
    }
)

# Query parameters that select credentials or another task hub on the lane: a client must not
# be able to point the router's system key at anything but the lane's own hub.
_DROPPED_QUERY = frozenset({"code", "systemkey", "taskhub", "connection"})

REMOVED_URL = "<removed>"
REDACTED = "<redacted>"
LANE_HOST = "<lane>"

_URL = re.compile(r"https?://[^\s\"'<>\\]+", re.IGNORECASE)

# A local lane answers on the loopback interface under any of these names.
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class RouterRoutes:
    """Where one lane's instance-management routes live on the router."""

    base_url: str  # the router's public scheme://host[:port], as the client reached it
    route_prefix: str  # host.json extensions.http.routePrefix, usually "api"
    lane: str  # the lane key, "MAJOR.MINOR"

    def instance_url(self, instance_id: str, action: str | None = None, event_name: str | None = None) -> str:
        """The router URL of an instance, or of one of its management actions.

        Raises ValueError for a name that is no `InstanceAction`.
        """
        url = f"{self.instances_root()}/{path_segment(instance_id)}"
        return url if action is None else url + action_path(InstanceAction(action), event_name)

    def instances_root(self) -> str:
        """The router URL under which this lane's instances live."""
        prefix = self.route_prefix.strip("/")
        root = self.base_url.rstrip("/")
        if prefix:
            root = f"{root}/{prefix}"
        return f"{root}/instances/{path_segment(self.lane)}"


def check_status_payload(routes: RouterRoutes, instance_id: str) -> dict[str, str]:
    """The management URLs the router returns for an instance, shaped like the Durable one.

    Placeholders `{eventName}` and `{text}` are left for the client to fill in, as in the
    payload of Azure's `create_check_status_response`.
    """
    status_url = routes.instance_url(instance_id)
    return {
        "id": instance_id,
        "statusQueryGetUri": status_url,
        "sendEventPostUri": f"{status_url}/raiseEvent/{{eventName}}",
        "terminatePostUri": f"{status_url}/terminate?reason={{text}}",
        "suspendPostUri": f"{status_url}/suspend?reason={{text}}",
        "resumePostUri": f"{status_url}/resume?reason={{text}}",
        "purgeHistoryDeleteUri": status_url,
    }


def filter_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers that may cross the router, either way; repeated ones are joined with ", "."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    # Headers named by Connection are hop-by-hop too (RFC 9110 7.6.1).
    named_by_connection = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    kept: dict[str, str] = {}
    lowered: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in _DROPPED_HEADERS or key in named_by_connection or key.startswith("proxy-"):
            continue
        if key in lowered:
            original = lowered[key]
            kept[original] = f"{kept[original]}, {value}"
        else:
            lowered[key] = name
            kept[name] = value
    return kept


def filter_query(query: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters that may be forwarded to a lane: no key, no other task hub."""
    pairs = query.items() if isinstance(query, Mapping) else query
    return {name: value for name, value in pairs if name.lower() not in _DROPPED_QUERY}


@dataclass(frozen=True)
class LaneUrlRewriter:
    """Rewrites what a lane says about itself into router terms.

    A lane URL naming an instance (or its raiseEvent/terminate/suspend/resume action) becomes
    the router URL for it when `routes` is known; any other lane URL is removed. The lane's host
    and system key are scrubbed from whatever text remains.
    """

    lane_base_url: str
    system_key: str = field(repr=False)
    routes: RouterRoutes | None = None

    def rewrite_url(self, url: str) -> str | None:
        """The router URL for a lane URL, or None when the router has no equivalent."""
        parts = urlsplit(url)
        if parts.netloc.lower() not in self._lane_netlocs or self.routes is None:
            return None
        instances_root = self._lane_instances_path
        if not parts.path.startswith(instances_root):
            return None
        # Keep the lane's own (already percent-encoded) segments, so `{eventName}` survives.
        segments = parts.path[len(instances_root):].split("/")
        instance_id, action = segments[0], segments[1:]
        if not instance_id or not _is_router_action(action):
            return None
        path = "/".join([self.routes.instances_root(), instance_id, *action])
        query = filter_query(parse_qsl(parts.query, keep_blank_values=True))
        # `{text}` placeholders must stay readable, as in the lane's own payload.
        return f"{path}?{urlencode(query, safe='{}')}" if query else path

    def mentions_lane(self, text: str) -> bool:
        """Whether `scrub_text` could change `text`: it names the lane's host[:port] (so any lane
        URL, since only a URL with the lane's netloc is rewritten) or holds the key. Checked first,
        so that the strings of a status answer (ids, times, inputs) pass without three scans each."""
        # Plain substring searches (the host in lower case): several times cheaper than one
        # case-insensitive regex over a whole status body.
        lowered = text.lower()
        return any(name in lowered for name in self._lane_netlocs) or any(key in text for key in self._key_forms)

    def scrub_text(self, text: str) -> str:
        """Text with lane URLs rewritten or removed, and the lane host and key scrubbed."""
        if not self.mentions_lane(text):
            return text
        text = _URL.sub(self._replace_url, text)
        for form in self._key_forms:
            text = text.replace(form, REDACTED)
        if self._lane_host_pattern is not None:
            text = self._lane_host_pattern.sub(LANE_HOST, text)
        return text

    def scrub_json(self, value: Any) -> Any:
        """A JSON value with every string (keys included) scrubbed."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, list):
            return [self.scrub_json(item) for item in value]
        if isinstance(value, dict):
            return {self.scrub_text(k): self.scrub_json(v) for k, v in value.items()}
        return value

    def _replace_url(self, match: re.Match[str]) -> str:
        url = match.group(0)
        if urlsplit(url).netloc.lower() not in self._lane_netlocs:
            return url
        rewritten = self.rewrite_url(url)
        return REMOVED_URL if rewritten is None else rewritten

    # What follows depends on the lane alone: worked out once per rewriter, not once per string
    # of a (possibly long) instance list.

    @cached_property
    def _lane_netlocs(self) -> frozenset[str]:
        """The lane's host[:port] as it may write it, lower-cased."""
        lane = urlsplit(self.lane_base_url)
        netloc = lane.netloc.lower()
        if not netloc:
            return frozenset()
        host = (lane.hostname or "").lower()
        if host not in ("127.0.0.1", "localhost", "::1"):
            return frozenset({netloc})
        port = f":{lane.port}" if lane.port is not None else ""
        return frozenset({f"{alias}{port}" for alias in _LOOPBACK_HOSTS} | {netloc})

    @cached_property
    def _lane_host_pattern(self) -> re.Pattern[str] | None:
        if not self._lane_netlocs:
            return None
        # Longest first, so no alias is cut short by another that is its prefix.
        names = sorted(self._lane_netlocs, key=len, reverse=True)
        return re.compile("|".join(re.escape(name) for name in names), re.IGNORECASE)

    @cached_property
    def _lane_instances_path(self) -> str:
        return f"{urlsplit(self.lane_base_url).path.rstrip('/')}{DURABLE_API_PATH}/instances/"

    @cached_property
    def _key_forms(self) -> frozenset[str]:
        if not self.system_key:
            return frozenset()
        # Keys are base64 ("...=="): a URL the lane built may carry them percent-encoded.
        return frozenset({self.system_key, quote(self.system_key, safe=""), quote_plus(self.system_key)})


@lru_cache(maxsize=256)
def lane_rewriter(lane_base_url: str, system_key: str, routes: RouterRoutes | None = None) -> LaneUrlRewriter:
    """The rewriter for a lane (and the router routes it answers under), built once and reused.

    A rewriter works out what it needs about its lane on first use and keeps it, so one per call
    would work it out again for every call.
    """
    return LaneUrlRewriter(lane_base_url, system_key, routes)


def _is_router_action(action: list[str]) -> bool:
    """Whether the segments after an instance id name an action (none: the instance itself)."""
    if not action:
        return True
    if action[0] not in ACTION_SEGMENTS:
        return False
    if action[0] == InstanceAction.RAISE_EVENT.segment:
        return len(action) == 2 and action[1] != ""
    return len(action) == 1
