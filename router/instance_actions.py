"""The management actions on one instance, and how each is reached (pure).

The router's `/instances/{lane}/{id}[/{segment}[/{eventName}]]` routes mirror the lane's Durable
HTTP API `/instances/{id}[/{segment}[/{eventName}]]`, with the same methods. This table is the one
place that says which (method, segment) names which action; the router's routes, its URLs and the
lane client all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from router.url_segments import path_segment


class InstanceAction(StrEnum):
    STATUS = "status"
    PURGE = "purge"
    RAISE_EVENT = "raiseEvent"
    TERMINATE = "terminate"
    SUSPEND = "suspend"
    RESUME = "resume"

    @property
    def method(self) -> str:
        """The HTTP method it is reached with, on the router and on the lane."""
        return ACTION_ROUTES[self].method

    @property
    def segment(self) -> str | None:
        """The path segment after the instance id; None when it is the instance itself."""
        return ACTION_ROUTES[self].segment

    @property
    def repeatable(self) -> bool:
        """Sending it twice does no more than sending it once, so a lost answer may be retried."""
        return ACTION_ROUTES[self].repeatable

    @property
    def takes_event_name(self) -> bool:
        return self is InstanceAction.RAISE_EVENT


@dataclass(frozen=True)
class ActionRoute:
    method: str
    segment: str | None
    repeatable: bool


ACTION_ROUTES: Mapping[InstanceAction, ActionRoute] = {
    InstanceAction.STATUS: ActionRoute("GET", None, repeatable=True),
    InstanceAction.PURGE: ActionRoute("DELETE", None, repeatable=True),
    # Raising an event twice delivers it twice.
    InstanceAction.RAISE_EVENT: ActionRoute("POST", "raiseEvent", repeatable=False),
    InstanceAction.TERMINATE: ActionRoute("POST", "terminate", repeatable=True),
    InstanceAction.SUSPEND: ActionRoute("POST", "suspend", repeatable=True),
    InstanceAction.RESUME: ActionRoute("POST", "resume", repeatable=True),
}

_BY_ROUTE: Mapping[tuple[str, str | None], InstanceAction] = {
    (route.method, route.segment): action for action, route in ACTION_ROUTES.items()
}

# The segments that may follow an instance id in a URL.
ACTION_SEGMENTS: frozenset[str] = frozenset(r.segment for r in ACTION_ROUTES.values() if r.segment)

# How a refusal lists what is accepted: "GET", "DELETE", "POST raiseEvent/{event}", "POST terminate", ...
ACCEPTED_FORMS: tuple[str, ...] = tuple(
    action.method
    + (f" {action.segment}" if action.segment else "")
    + ("/{event}" if action.takes_event_name else "")
    for action in InstanceAction
)


def action_for(method: str, segment: str | None) -> InstanceAction | None:
    """The action a request names by its method and the segment after the instance id."""
    return _BY_ROUTE.get((method.upper(), segment or None))


def action_path(action: InstanceAction, event_name: str | None = None) -> str:
    """What follows `/instances/{id}` for `action`: "", "/terminate", "/raiseEvent/{event}"."""
    if action.segment is None:
        return ""
    if action.takes_event_name:
        return f"/{action.segment}/{path_segment(event_name or '')}"
    return f"/{action.segment}"
