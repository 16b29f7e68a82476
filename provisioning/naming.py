"""Names of lanes and their apps: pure, stable, and within Azure's rules.

A lane is `MAJOR.MINOR`: every patch of a minor version shares its lane's app and task hub.

A function app name is also the left part of `<name>.azurewebsites.net`, so it must be globally
unique, 2-60 characters, letters, digits and hyphens, and not start or end with a hyphen. The
name carries the prefix and the lane for humans, and a short hash of the prefix, lane and scope
(subscription and resource group) so two routers with the same prefix do not collide.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

MAX_APP_NAME = 60
MIN_APP_NAME = 2
HASH_LENGTH = 6
DEFAULT_APP_PREFIX = "dfrouter"
MAX_APP_PREFIX = 20

_LANE_KEY = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")  # ASCII digits: int() reads any script's
_APP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
_APP_PREFIX = re.compile(rf"^[A-Za-z][A-Za-z0-9-]{{0,{MAX_APP_PREFIX - 1}}}$")
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")


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


def lane_task_hub(lane: str) -> str:
    """The lane's own task hub name: letters and digits only, as Azure Storage requires."""
    major, minor = lane.split(".")
    return f"Lane{major}v{minor}"


def _slug(text: str) -> str:
    """Lower-case `text`, turn every run of other characters into one hyphen, trim hyphens."""
    return _NOT_NAME_CHARS.sub("-", text.lower()).strip("-")


def is_valid_app_prefix(prefix: str) -> bool:
    """Whether `prefix` can start every lane app name: 1-20 letters, digits or hyphens, a letter first."""
    return bool(_APP_PREFIX.match(prefix))


def lane_app_name(prefix: str, lane: str, scope: str = "") -> str:
    """The Azure app name of `lane`, e.g. ("rt", "1.2") -> "rt-1-2-3f9a1c".

    The same inputs always give the same name; the prefix is shortened, never the lane or the hash.
    """
    lane_slug = _slug(lane)
    if not lane_slug:
        raise ValueError(f"lane {lane!r} has no letters or digits to name an app with")
    digest = hashlib.sha256(f"{scope.lower()}|{prefix}|{lane}".encode()).hexdigest()[:HASH_LENGTH]
    tail = f"{lane_slug}-{digest}"
    room = MAX_APP_NAME - len(tail) - 1  # minus the hyphen after the prefix
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
