"""Typed settings, read once from the environment and validated at start.

A bad value fails with a `SettingsError` that names the setting and what it accepts, so a
misconfigured app refuses to start instead of misrouting later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, TypeVar
from urllib.parse import urlsplit

from router.errors import SettingsError

T = TypeVar("T")

Provisioner = Literal["azure", "local"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class TrackingStore:
    """Optional shared tracking store, so instances of every lane can be queried in one place."""

    connection_string_name: str = ""
    name_prefix: str = ""


@dataclass(frozen=True)
class Settings:
    provisioner: Provisioner = "local"
    version_header: str = "X-App-Version"
    allow_prerelease: bool = False
    require_version: bool = False
    max_lanes: int = 10
    drain_poll_seconds: int = 60
    drain_grace_seconds: int = 300
    map_cache_seconds: float = 5.0
    allowed_package_hosts: tuple[str, ...] = ()
    app_prefix: str = "dfrouter"
    subscription_id: str = ""
    resource_group: str = ""
    location: str = ""
    plan_id: str = ""
    lane_storage_account: str = ""
    tracking_store: TrackingStore = TrackingStore()
    draining_lanes_accept_starts: bool = True
    max_body_bytes: int = 1_048_576
    arm_endpoint: str = "https://management.azure.com"  # another cloud's Resource Manager, if any
    local_root: str = ".devhost/lanes"
    local_venv_root: str = ""  # shared cache of lane virtual environments (default: LOCAL_ROOT/venvs)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every ROUTER_* setting; raise SettingsError naming the first bad one."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            provisioner=reader.choice("ROUTER_PROVISIONER", ("azure", "local"), "local"),  # type: ignore[arg-type]
            version_header=reader.text("ROUTER_VERSION_HEADER", "X-App-Version", required=True),
            allow_prerelease=reader.flag("ROUTER_ALLOW_PRERELEASE", False),
            require_version=reader.flag("ROUTER_REQUIRE_VERSION", False),
            max_lanes=reader.integer("ROUTER_MAX_LANES", 10, minimum=1),
            drain_poll_seconds=reader.integer("ROUTER_DRAIN_POLL_SECONDS", 60, minimum=1),
            drain_grace_seconds=reader.integer("ROUTER_DRAIN_GRACE_SECONDS", 300, minimum=0),
            map_cache_seconds=reader.number("ROUTER_MAP_CACHE_SECONDS", 5.0, minimum=0.0),
            allowed_package_hosts=reader.host_list("ROUTER_ALLOWED_PACKAGE_HOSTS"),
            app_prefix=reader.text("ROUTER_APP_PREFIX", "dfrouter", required=True),
            subscription_id=reader.text("ROUTER_SUBSCRIPTION_ID", ""),
            resource_group=reader.text("ROUTER_RESOURCE_GROUP", ""),
            location=reader.text("ROUTER_LOCATION", ""),
            plan_id=reader.text("ROUTER_PLAN_ID", ""),
            lane_storage_account=reader.text("ROUTER_LANE_STORAGE_ACCOUNT", ""),
            tracking_store=TrackingStore(
                connection_string_name=reader.text("ROUTER_TRACKING_STORE_CONNECTION_NAME", ""),
                name_prefix=reader.text("ROUTER_TRACKING_STORE_NAME_PREFIX", ""),
            ),
            draining_lanes_accept_starts=reader.flag("ROUTER_DRAINING_LANES_ACCEPT_STARTS", True),
            max_body_bytes=reader.integer("ROUTER_MAX_BODY_BYTES", 1_048_576, minimum=1),
            arm_endpoint=reader.https_url("ROUTER_ARM_ENDPOINT", "https://management.azure.com"),
            local_root=reader.text("ROUTER_LOCAL_ROOT", ".devhost/lanes", required=True),
            local_venv_root=reader.text("ROUTER_LOCAL_VENV_ROOT", ""),
        )
        _check_prefix(settings.app_prefix)
        if settings.provisioner == "azure":
            for name, value in (
                ("ROUTER_SUBSCRIPTION_ID", settings.subscription_id),
                ("ROUTER_RESOURCE_GROUP", settings.resource_group),
                ("ROUTER_LOCATION", settings.location),
                ("ROUTER_PLAN_ID", settings.plan_id),
            ):
                if not value:
                    raise SettingsError(
                        f"{name} is required when ROUTER_PROVISIONER=azure", setting=name
                    )
        return settings


def _check_prefix(prefix: str) -> None:
    # The prefix starts every lane app name, which Azure limits to letters, digits and hyphens.
    if not (prefix[0].isalpha() and all(c.isalnum() or c == "-" for c in prefix) and len(prefix) <= 20):
        raise SettingsError(
            f"ROUTER_APP_PREFIX={prefix!r} is not valid: use 1-20 letters, digits or hyphens, "
            "starting with a letter",
            setting="ROUTER_APP_PREFIX",
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _parse(self, name: str, default: T, parse: Callable[[str], T], accepted: str) -> T:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            raise SettingsError(
                f"{name}={raw!r} is not valid: expected {accepted}", setting=name
            ) from None

    def text(self, name: str, default: str, *, required: bool = False) -> str:
        value = self._raw(name)
        if value is None and required and name in self._env:
            raise SettingsError(f"{name} must not be empty", setting=name)
        return default if value is None else value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        def parse(raw: str) -> str:
            if raw.lower() not in choices:
                raise ValueError(raw)
            return raw.lower()

        return self._parse(name, default, parse, " or ".join(choices))

    def flag(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError(raw)

        return self._parse(name, default, parse, "true or false")

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        def parse(raw: str) -> int:
            value = int(raw)
            if value < minimum:
                raise ValueError(raw)
            return value

        return self._parse(name, default, parse, f"a whole number >= {minimum}")

    def number(self, name: str, default: float, *, minimum: float) -> float:
        def parse(raw: str) -> float:
            value = float(raw)
            if not value >= minimum:
                raise ValueError(raw)
            return value

        return self._parse(name, default, parse, f"a number >= {minimum:g}")

    def https_url(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            parts = urlsplit(raw)
            if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(raw)
            return raw.rstrip("/")

        return self._parse(name, default, parse, "an https URL such as https://management.azure.com")

    def host_list(self, name: str) -> tuple[str, ...]:
        def parse(raw: str) -> tuple[str, ...]:
            hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
            for host in hosts:
                if "/" in host or ":" in host or " " in host:
                    raise ValueError(raw)
            return hosts

        return self._parse(name, (), parse, "comma-separated host names, e.g. a.example.com,b.example.com")
