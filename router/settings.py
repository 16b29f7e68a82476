"""Typed settings, read once from the environment and validated at start.

A bad value fails with a `SettingsError` that names the setting and what it accepts, so a
misconfigured app refuses to start instead of misrouting later. What the provisioning backends
need is provisioning's own `ProvisioningConfig`, read by provisioning and held here as
`Settings.provisioning`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from provisioning.config import ProvisioningConfig, Provisioner
from provisioning.env_reader import EnvReader
from provisioning.errors import ConfigError
from router.errors import SettingsError


@dataclass(frozen=True)
class Settings:
    version_header: str = "X-App-Version"
    allow_prerelease: bool = False
    require_version: bool = False
    max_lanes: int = 10
    drain_poll_seconds: int = 60
    drain_grace_seconds: int = 300
    map_cache_seconds: float = 5.0
    draining_lanes_accept_starts: bool = True
    max_body_bytes: int = 1_048_576
    lane_ready_timeout_seconds: float = 600.0  # from a deploy to a healthy lane (cold plans take minutes)
    held_request_timeout_seconds: float = 3600.0  # how long a start waits for its provisioning lane
    release_timeout_seconds: float = 3600.0  # how long a new lane may take to provision in all
    lane_probe_seconds: float = 10.0  # how often a serving lane's Durable HTTP API is asked whether it answers
    provisioning: ProvisioningConfig = field(default_factory=ProvisioningConfig)

    # What the router itself reads of the provisioning config.

    @property
    def provisioner(self) -> Provisioner:
        return self.provisioning.provisioner

    @property
    def allowed_package_hosts(self) -> tuple[str, ...]:
        return self.provisioning.allowed_package_hosts

    @property
    def local_root(self) -> str:
        return self.provisioning.local_root

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every ROUTER_* setting; raise SettingsError naming the first bad one."""
        env = os.environ if env is None else env
        reader = EnvReader(env)
        try:
            return cls(
                version_header=reader.text("ROUTER_VERSION_HEADER", "X-App-Version", required=True),
                allow_prerelease=reader.flag("ROUTER_ALLOW_PRERELEASE", False),
                require_version=reader.flag("ROUTER_REQUIRE_VERSION", False),
                max_lanes=reader.integer("ROUTER_MAX_LANES", 10, minimum=1),
                drain_poll_seconds=reader.integer("ROUTER_DRAIN_POLL_SECONDS", 60, minimum=1),
                drain_grace_seconds=reader.integer("ROUTER_DRAIN_GRACE_SECONDS", 300, minimum=0),
                map_cache_seconds=reader.number("ROUTER_MAP_CACHE_SECONDS", 5.0, minimum=0.0),
                draining_lanes_accept_starts=reader.flag("ROUTER_DRAINING_LANES_ACCEPT_STARTS", True),
                max_body_bytes=reader.integer("ROUTER_MAX_BODY_BYTES", 1_048_576, minimum=1),
                lane_ready_timeout_seconds=reader.number("ROUTER_LANE_READY_TIMEOUT", 600.0, minimum=1.0),
                held_request_timeout_seconds=reader.number("ROUTER_HELD_REQUEST_TIMEOUT", 3600.0, minimum=1.0),
                release_timeout_seconds=reader.number("ROUTER_RELEASE_TIMEOUT", 3600.0, minimum=1.0),
                lane_probe_seconds=reader.number("ROUTER_LANE_PROBE_SECONDS", 10.0, minimum=0.1),
                provisioning=ProvisioningConfig.from_env(env),
            )
        except ConfigError as err:
            raise SettingsError(err.message, setting=err.setting) from None
