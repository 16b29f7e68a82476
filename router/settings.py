"""Typed settings, read once from the environment and validated at start.

A bad value fails with a `SettingsError` that names the setting and what it accepts, so a
misconfigured app refuses to start instead of misrouting later. What the provisioning backends
need is provisioning's own `ProvisioningConfig`, read by provisioning and held here as
`Settings.provisioning`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from provisioning.config import ProvisioningConfig, Provisioner
from provisioning.env_reader import EnvReader
from provisioning.errors import ConfigError
from router.auth import MIN_KEY_LENGTH, ROLE_SETTINGS, Role, RoleKeys
from router.errors import SettingsError
from router.patch_gate import PatchGate

log = logging.getLogger("router.settings")

# Set by the platforms that run the router for real (App Service and Functions, Container Apps,
# Kubernetes): there, a router without role keys refuses to start.
HOSTED_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "CONTAINER_APP_NAME", "KUBERNETES_SERVICE_HOST")
# A key is sent in a header: URL-safe base64, hex or a Key Vault secret's usual characters.
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_\-.~+/=]+$")


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
    # Each role's keys; None: no key is checked (from_env allows it only for a local router).
    role_keys: RoleKeys | None = None
    # Directories a local package must lie in (symlinks resolved); empty: anywhere on this machine.
    local_package_roots: tuple[str, ...] = ()
    # Whether release intake opens a local package to check it (tests whose backend is a fake,
    # which never reads one, say no); not a setting: a real router always checks.
    verify_local_packages: bool = True
    # What release intake does with a patch that has no passing replay check (router.patch_gate).
    patch_gate: PatchGate = PatchGate.OFF
    # How long a replay-check ticket (GET /api/lanes/{lane}/histories) stays good for a patch's intake.
    patch_gate_max_age_seconds: int = 3600

    # What the router itself reads of the provisioning config.

    @property
    def provisioner(self) -> Provisioner:
        return self.provisioning.provisioner

    @property
    def allowed_package_hosts(self) -> tuple[str, ...]:
        return self.provisioning.allowed_package_hosts

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every ROUTER_* setting; raise SettingsError naming the first bad one."""
        env = os.environ if env is None else env
        reader = EnvReader(env)
        try:
            provisioning = ProvisioningConfig.from_env(env)
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
                provisioning=provisioning,
                role_keys=_role_keys(env, provisioner=provisioning.provisioner),
                local_package_roots=_package_roots(env),
                patch_gate=PatchGate(reader.choice("ROUTER_PATCH_GATE", tuple(PatchGate), PatchGate.OFF.value)),
                patch_gate_max_age_seconds=reader.integer("ROUTER_PATCH_GATE_MAX_AGE_SECONDS", 3600, minimum=1),
            )
        except ConfigError as err:
            raise SettingsError(err.message, setting=err.setting) from None


def _role_keys(env: Mapping[str, str], *, provisioner: str) -> RoleKeys | None:
    """Every role's keys, or None when no role has any and the router runs on a developer's
    machine with the local provisioner (like `func start`, which checks no key)."""
    keys: dict[Role, tuple[str, ...]] = {}
    for role, setting in ROLE_SETTINGS.items():
        raw = (env.get(setting) or "").strip()
        keys[role] = tuple(k.strip() for k in raw.split(",")) if raw else ()
        for key in keys[role]:
            # The messages name the setting and the rule, never the key.
            if not key:
                raise ConfigError(f"{setting} has an empty key: separate keys with single commas", setting=setting)
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigError(f"{setting}: every key must be at least {MIN_KEY_LENGTH} characters long "
                                  "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')",
                                  setting=setting)
            if not _KEY_CHARS.match(key):
                raise ConfigError(f"{setting}: keys are letters, digits and - _ . ~ + / = only", setting=setting)
    if not any(keys.values()):
        hosted = [name for name in HOSTED_MARKERS if env.get(name)]
        if hosted or provisioner == "azure":
            where = f"{hosted[0]} is set" if hosted else "ROUTER_PROVISIONER=azure"
            raise ConfigError(
                f"ROUTER_CLIENT_KEYS, ROUTER_RELEASE_KEYS and ROUTER_ADMIN_KEYS are required ({where}): "
                "without them every route of the router would be open",
                setting="ROUTER_CLIENT_KEYS",
            )
        log.warning("no ROUTER_*_KEYS set: every route of this local router is open to anyone who reaches it")
        return None
    seen: dict[str, str] = {}  # key -> the setting that listed it first
    for role, setting in ROLE_SETTINGS.items():
        if not keys[role]:
            raise ConfigError(f"{setting} is empty: once one role has keys, every role needs its own", setting=setting)
        for key in keys[role]:
            if seen.get(key, setting) != setting:
                raise ConfigError(f"{setting} shares a key with {seen[key]}: a key belongs to one role only",
                                  setting=setting)
            seen[key] = setting
    return RoleKeys(client=keys[Role.CLIENT], release=keys[Role.RELEASE], admin=keys[Role.ADMIN])


def _package_roots(env: Mapping[str, str]) -> tuple[str, ...]:
    setting = "ROUTER_LOCAL_PACKAGE_ROOTS"
    raw = (env.get(setting) or "").strip()
    roots = tuple(r.strip() for r in raw.split(",") if r.strip()) if raw else ()
    for root in roots:
        if not os.path.isabs(root):
            raise ConfigError(f"{setting}: {root!r} is not an absolute directory", setting=setting)
    return roots
