"""What the provisioning backends are told, as one typed, frozen value read once from ROUTER_*.

The router's settings embed it (`Settings.provisioning`); `factory.build_backend` builds the
chosen backend from it; tests build their own. A bad value raises `ConfigError` naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from provisioning.env_reader import EnvReader
from provisioning.errors import ConfigError
from provisioning.naming import DEFAULT_APP_PREFIX, MAX_APP_PREFIX, is_valid_app_prefix
from provisioning.packages import ALLOWED_HOSTS_SETTING

Provisioner = Literal["azure", "local"]

ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_LOCAL_ROOT = ".devhost/lanes"
# What ROUTER_PROVISIONER=azure cannot do without: where lane apps go (setting -> config field).
AZURE_TARGET_FIELDS = {
    "ROUTER_SUBSCRIPTION_ID": "subscription_id",
    "ROUTER_RESOURCE_GROUP": "resource_group",
    "ROUTER_LOCATION": "location",
    "ROUTER_PLAN_ID": "plan_id",
}


@dataclass(frozen=True)
class TrackingStore:
    """A tracking store shared by every lane, so instances of all versions are queried in one place.

    `connection_name` names the app setting (or identity-based `<name>__*` group) the Durable
    extension reads the store's connection from; it is provided on the apps out of band (a Key
    Vault reference, say): the backend sets only the names.
    """

    connection_name: str
    name_prefix: str = ""


@dataclass(frozen=True)
class ProvisioningConfig:
    """Which backend, and everything either backend reads from the settings."""

    provisioner: Provisioner = "local"
    allowed_package_hosts: tuple[str, ...] = ()  # host names or `*.suffix` (packages.host_is_allowed)
    app_prefix: str = DEFAULT_APP_PREFIX
    # azure
    subscription_id: str = ""
    resource_group: str = ""
    location: str = ""
    plan_id: str = ""  # ARM id of the App Service plan every lane app runs on
    arm_endpoint: str = ARM_ENDPOINT  # another cloud's Resource Manager, if any
    lane_storage_account: str = ""  # identity-based AzureWebJobsStorage when set
    tracking_store: TrackingStore | None = None
    # local
    local_root: str = DEFAULT_LOCAL_ROOT
    local_venv_root: str = ""  # shared cache of lane virtual environments (default: LOCAL_ROOT/venvs)

    @property
    def local_allowed(self) -> bool:
        """Whether a package may be a local path: only a local backend can read one."""
        return self.provisioner == "local"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ProvisioningConfig":
        """Read the provisioning ROUTER_* settings; ConfigError naming the first bad one."""
        reader = EnvReader(os.environ if env is None else env)
        config = cls(
            provisioner=reader.choice("ROUTER_PROVISIONER", ("azure", "local"), "local"),  # type: ignore[arg-type]
            allowed_package_hosts=reader.host_list(ALLOWED_HOSTS_SETTING),
            app_prefix=reader.text("ROUTER_APP_PREFIX", DEFAULT_APP_PREFIX, required=True),
            subscription_id=reader.text("ROUTER_SUBSCRIPTION_ID", ""),
            resource_group=reader.text("ROUTER_RESOURCE_GROUP", ""),
            location=reader.text("ROUTER_LOCATION", ""),
            plan_id=reader.text("ROUTER_PLAN_ID", ""),
            arm_endpoint=reader.https_url("ROUTER_ARM_ENDPOINT", ARM_ENDPOINT),
            lane_storage_account=reader.text("ROUTER_LANE_STORAGE_ACCOUNT", ""),
            tracking_store=_tracking_store(reader),
            local_root=reader.text("ROUTER_LOCAL_ROOT", DEFAULT_LOCAL_ROOT, required=True),
            local_venv_root=reader.text("ROUTER_LOCAL_VENV_ROOT", ""),
        )
        if not is_valid_app_prefix(config.app_prefix):
            raise ConfigError(
                f"ROUTER_APP_PREFIX={config.app_prefix!r} is not valid: use 1-{MAX_APP_PREFIX} letters, "
                "digits or hyphens, starting with a letter",
                setting="ROUTER_APP_PREFIX",
            )
        if config.provisioner == "azure":
            missing = config.missing_azure_target()
            if missing:
                name = missing[0]
                raise ConfigError(f"{name} is required when ROUTER_PROVISIONER=azure", setting=name)
        return config

    def missing_azure_target(self) -> list[str]:
        """The settings naming where lane apps go that are still unset, in AZURE_TARGET_FIELDS order."""
        return [name for name, field in AZURE_TARGET_FIELDS.items() if not getattr(self, field)]


def _tracking_store(reader: EnvReader) -> TrackingStore | None:
    connection = reader.text("ROUTER_TRACKING_STORE_CONNECTION_NAME", "")
    prefix = reader.text("ROUTER_TRACKING_STORE_NAME_PREFIX", "")
    if not connection:
        if prefix:
            raise ConfigError(
                "ROUTER_TRACKING_STORE_NAME_PREFIX needs ROUTER_TRACKING_STORE_CONNECTION_NAME: "
                "a prefix without a shared tracking store has nothing to name",
                setting="ROUTER_TRACKING_STORE_NAME_PREFIX",
            )
        return None
    return TrackingStore(connection, prefix)
