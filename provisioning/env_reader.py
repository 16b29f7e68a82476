"""Typed reads of ROUTER_* settings from an environment mapping.

Each read names the setting and what it accepts when the value is bad (`ConfigError`), so a
misconfigured app refuses to start instead of misbehaving later. Provisioning reads its own
settings with it; the router reads the rest with the same reader and translates the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from provisioning.errors import ConfigError
from provisioning.packages import is_host_pattern

T = TypeVar("T")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class EnvReader:
    """Reads settings from `env`; a blank value counts as unset."""

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
            raise ConfigError(f"{name}={raw!r} is not valid: expected {accepted}", setting=name) from None

    def text(self, name: str, default: str, *, required: bool = False) -> str:
        value = self._raw(name)
        if value is None and required and name in self._env:
            raise ConfigError(f"{name} must not be empty", setting=name)
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
            if not all(is_host_pattern(host) for host in hosts):
                raise ValueError(raw)
            return hosts

        return self._parse(
            name, (), parse, "comma-separated host names, e.g. a.example.com,*.blob.core.windows.net"
        )
