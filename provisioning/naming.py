"""Names of lanes and their apps: pure, stable, and within Azure's rules.

A lane is `MAJOR.MINOR`: every patch of a minor version shares its lane's app and task hub.

A function app name is also the left part of `<name>.azurewebsites.net`, so it must be globally
unique, 2-60 characters, letters, digits and hyphens, and not start or end with a hyphen. The
name carries the prefix and the lane for humans, and a short hash of the prefix, lane and scope
(subscription and resource group) so two routers with the same prefix do not collide.

The Functions host derives its host ID from the first 32 characters of the app name, and two apps
on one storage account with the same host ID collide (the v4 host logs an error and stops; see
Azure/azure-functions-host wiki "Host IDs" and docs "host ID collisions"). Lanes share their
storage account, so a lane app name is kept within 32 characters: the prefix is shortened, never
the lane or the hash, and the whole name is the host ID.

Task hubs: lanes of two routers (staging and prod, say) on one storage account must not share a
task hub, or they take each other's work items. A lane's hub name starts with the router's id.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

MAX_APP_NAME = 60
MIN_APP_NAME = 2
MAX_HOST_ID = 32  # the host takes the first 32 characters of the app name as its host ID
MAX_TASK_HUB = 45  # Azure Storage task hub names: 3-45 letters and digits, a letter first
DEFAULT_ROUTER_ID = "local"  # a router that is not on App Service and has no ROUTER_ID
MAX_ROUTER_ID = 20
HASH_LENGTH = 6
DEFAULT_APP_PREFIX = "dfrouter"
MAX_APP_PREFIX = 20

_LANE_KEY = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")  # ASCII digits: int() reads any script's
_APP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
_APP_PREFIX = re.compile(rf"^[A-Za-z][A-Za-z0-9-]{{0,{MAX_APP_PREFIX - 1}}}$")
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_ROUTER_ID = re.compile(rf"^[A-Za-z][A-Za-z0-9]{{0,{MAX_ROUTER_ID - 1}}}$")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


class HasMajorMinor(Protocol):
    """A parsed version (`semver.Version`, say): only its major and minor name the lane."""

    @property
    def major(self) -> int: ...

    @property
    def minor(self) -> int: ...


def lane_key(version: HasMajorMinor) -> str:
    """The lane a version belongs to: MAJOR.MINOR."""
    return f"{version.major}.{version.minor}"


def is_lane_key(text: str) -> bool:
    """Whether `text` is a lane key, MAJOR.MINOR without leading zeros (`1.2`, `10.0`)."""
    return bool(_LANE_KEY.match(text or ""))


def lane_task_hub(lane: str, router_id: str = "") -> str:
    """The lane's own task hub name: the router's id, then the lane ("prodLane1v2").

    Letters and digits only, a letter first, at most 45: Azure Storage's rule for hub names
    (docs: durable-functions-task-hubs, "Task hub names"), which the Durable Task Scheduler also
    accepts. An empty router id gives the name lanes had before router ids ("Lane1v2"), which
    orchestrations started then still carry.
    """
    major, minor = lane.split(".")
    return f"{router_id}Lane{major}v{minor}"


def is_valid_router_id(router_id: str) -> bool:
    """Whether `router_id` can start task hub names: 1-20 letters and digits, a letter first."""
    return bool(_ROUTER_ID.match(router_id))


def router_id_from_site(site_name: str) -> str:
    """A router id from the router's own App Service site name (WEBSITE_SITE_NAME).

    A name that is already a valid id is used as is; otherwise its letters and digits, shortened,
    and a hash of the whole name, so "orders-prod" and "ordersprod" still get different ids.
    """
    if is_valid_router_id(site_name):
        return site_name
    letters = _NOT_ALNUM.sub("", site_name).lstrip("0123456789") or "r"
    digest = hashlib.sha256(site_name.encode()).hexdigest()[:HASH_LENGTH]
    return letters[: MAX_ROUTER_ID - HASH_LENGTH] + digest


def _slug(text: str) -> str:
    """Lower-case `text`, turn every run of other characters into one hyphen, trim hyphens."""
    return _NOT_NAME_CHARS.sub("-", text.lower()).strip("-")


def is_valid_app_prefix(prefix: str) -> bool:
    """Whether `prefix` can start every lane app name: 1-20 letters, digits or hyphens, a letter first."""
    return bool(_APP_PREFIX.match(prefix))


def lane_app_name(prefix: str, lane: str, scope: str = "") -> str:
    """The Azure app name of `lane`, e.g. ("rt", "1.2") -> "rt-1-2-3f9a1c".

    The same inputs always give the same name, at most 32 characters (the host ID rule above);
    the prefix is shortened, never the lane or the hash.
    """
    lane_slug = _slug(lane)
    if not lane_slug:
        raise ValueError(f"lane {lane!r} has no letters or digits to name an app with")
    digest = hashlib.sha256(f"{scope.lower()}|{prefix}|{lane}".encode()).hexdigest()[:HASH_LENGTH]
    tail = f"{lane_slug}-{digest}"
    room = MAX_HOST_ID - len(tail) - 1  # minus the hyphen after the prefix
    prefix_slug = (_slug(prefix) or DEFAULT_APP_PREFIX)[: max(room, 0)].strip("-")
    name = f"{prefix_slug}-{tail}" if prefix_slug else tail
    if not is_valid_app_name(name):
        raise ValueError(f"lane {lane!r} gives the app name {name!r}, outside Azure's naming rules")
    return name


def is_valid_app_name(name: str) -> bool:
    """Whether `name` obeys Azure's rules for function app names."""
    return MIN_APP_NAME <= len(name) <= MAX_APP_NAME and bool(_APP_NAME.match(name))


def local_app_name(lane: str) -> str:
    """The local backend's app (and directory) name of a lane: "1.2" -> "lane-1-2"."""
    return "lane-" + lane.replace(".", "-")
