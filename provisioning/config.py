"""What the provisioning backends are told, as one typed, frozen value read once from ROUTER_*.

The router's settings embed it (`Settings.provisioning`); `factory.build_backend` builds the
chosen backend from it; tests build their own. A bad value raises `ConfigError` naming the setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from provisioning.env_reader import EnvReader
from provisioning.errors import ConfigError
from provisioning.naming import (
    DEFAULT_APP_PREFIX,
    DEFAULT_ROUTER_ID,
    MAX_APP_PREFIX,
    MAX_ROUTER_ID,
    is_valid_app_prefix,
    is_valid_router_id,
    router_id_from_site,
)
from provisioning.packages import ALLOWED_HOSTS_SETTING

Provisioner = Literal["azure", "local"]

ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_LOCAL_ROOT = ".devhost/lanes"
# Set by App Service on every instance of a site: there, lanes cannot be local processes.
APP_SERVICE_MARKER = "WEBSITE_INSTANCE_ID"
# What ROUTER_PROVISIONER=azure cannot do without: where lane apps go (setting -> config field).
AZURE_TARGET_FIELDS = {
    "ROUTER_SUBSCRIPTION_ID": "subscription_id",
    "ROUTER_RESOURCE_GROUP": "resource_group",
    "ROUTER_LOCATION": "location",
    "ROUTER_PLAN_ID": "plan_id",
    "ROUTER_LANE_IDENTITY_ID": "lane_identity_id",
}
# How lanes reach their storage: one of these is required with ROUTER_PROVISIONER=azure.
STORAGE_ACCOUNT_SETTING = "ROUTER_LANE_STORAGE_ACCOUNT"
STORAGE_SECRET_SETTING = "ROUTER_LANE_STORAGE_SECRET_URI"
CONTENT_SECRET_SETTING = "ROUTER_LANE_CONTENT_SECRET_URI"
CLIENT_ID_SETTING = "ROUTER_LANE_IDENTITY_CLIENT_ID"
SCHEDULER_SETTING = "ROUTER_LANE_SCHEDULER_ID"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_STORAGE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_ARM_SEGMENT = r"[^/\s]+"
_IDENTITY_ID = re.compile(
    rf"^/subscriptions/{_ARM_SEGMENT}/resourceGroups/{_ARM_SEGMENT}/providers/"
    rf"Microsoft\.ManagedIdentity/userAssignedIdentities/{_ARM_SEGMENT}$",
    re.IGNORECASE,
)
_SCHEDULER_ID = re.compile(
    rf"^/subscriptions/(?P<subscription>{_ARM_SEGMENT})/resourceGroups/(?P<group>{_ARM_SEGMENT})/providers/"
    rf"Microsoft\.DurableTask/schedulers/(?P<name>{_ARM_SEGMENT})$",
    re.IGNORECASE,
)
_PLAN_ID = re.compile(
    rf"^/subscriptions/{_ARM_SEGMENT}/resourceGroups/(?P<group>{_ARM_SEGMENT})/providers/"
    rf"Microsoft\.Web/serverfarms/(?P<name>{_ARM_SEGMENT})$",
    re.IGNORECASE,
)


def parse_plan_id(plan_id: str) -> tuple[str, str]:
    """(resource group, plan name) of an App Service plan's ARM id; ValueError if it is not one."""
    match = _PLAN_ID.match(plan_id)
    if match is None:
        raise ValueError(plan_id)
    return match["group"], match["name"]


def parse_scheduler_id(scheduler_id: str) -> tuple[str, str, str]:
    """(subscription, resource group, scheduler name) of a Durable Task Scheduler's ARM id;
    ValueError if it is not one."""
    match = _SCHEDULER_ID.match(scheduler_id)
    if match is None:
        raise ValueError(scheduler_id)
    return match["subscription"], match["group"], match["name"]


@dataclass(frozen=True)
class ProvisioningConfig:
    """Which backend, and everything either backend reads from the settings."""

    provisioner: Provisioner = "local"
    allowed_package_hosts: tuple[str, ...] = ()  # host names or `*.suffix` (packages.host_is_allowed)
    app_prefix: str = DEFAULT_APP_PREFIX
    # Makes this router's task hubs its own on shared storage (staging and prod, say).
    router_id: str = DEFAULT_ROUTER_ID
    # azure
    subscription_id: str = ""
    resource_group: str = ""
    location: str = ""
    plan_id: str = ""  # ARM id of the App Service plan every lane app runs on
    arm_endpoint: str = ARM_ENDPOINT  # another cloud's Resource Manager, if any
    storage_suffix: str = ""  # e.g. core.windows.net; empty: the one of ARM_ENDPOINT's cloud
    lane_identity_id: str = ""  # ARM id of the user-assigned identity every lane app runs as
    lane_identity_client_id: str = ""  # its client id (identity-based connections name it)
    lane_storage_account: str = ""  # identity-based AzureWebJobsStorage when set
    lane_storage_secret_uri: str = ""  # or a Key Vault secret holding its connection string
    lane_content_secret_uri: str = ""  # Elastic Premium's content share connection string
    scheduler_id: str = ""  # a Durable Task Scheduler for the lanes' task hubs; empty: Azure Storage
    # local
    local_root: str = DEFAULT_LOCAL_ROOT
    local_venv_root: str = ""  # where the lanes' shared worker runtime is cached (default: packaging.DEFAULT_CACHE_DIR)

    @property
    def local_allowed(self) -> bool:
        """Whether a package may be a local path: only a local backend can read one."""
        return self.provisioner == "local"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ProvisioningConfig":
        """Read the provisioning ROUTER_* settings; ConfigError naming the first bad one."""
        env = os.environ if env is None else env
        reader = EnvReader(env)
        config = cls(
            provisioner=reader.choice("ROUTER_PROVISIONER", ("azure", "local"), "local"),  # type: ignore[arg-type]
            allowed_package_hosts=reader.host_list(ALLOWED_HOSTS_SETTING),
            app_prefix=reader.text("ROUTER_APP_PREFIX", DEFAULT_APP_PREFIX, required=True),
            router_id=_router_id(reader, env),
            subscription_id=reader.text("ROUTER_SUBSCRIPTION_ID", ""),
            resource_group=reader.text("ROUTER_RESOURCE_GROUP", ""),
            location=reader.text("ROUTER_LOCATION", ""),
            plan_id=_matching(reader, "ROUTER_PLAN_ID", _PLAN_ID, "an App Service plan's ARM id, "
                              "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Web/serverfarms/<plan>"),
            arm_endpoint=reader.https_url("ROUTER_ARM_ENDPOINT", ARM_ENDPOINT),
            storage_suffix=_matching(reader, "ROUTER_STORAGE_SUFFIX", re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$"),
                                     "a DNS suffix such as core.windows.net"),
            lane_identity_id=_matching(reader, "ROUTER_LANE_IDENTITY_ID", _IDENTITY_ID, "a user-assigned "
                                       "identity's ARM id, /subscriptions/<id>/resourceGroups/<group>/providers/"
                                       "Microsoft.ManagedIdentity/userAssignedIdentities/<name>"),
            lane_identity_client_id=_matching(reader, CLIENT_ID_SETTING, _GUID, "the identity's client id (a GUID)"),
            lane_storage_account=_matching(reader, STORAGE_ACCOUNT_SETTING, _STORAGE_ACCOUNT,
                                           "a storage account name: 3-24 lower-case letters and digits"),
            lane_storage_secret_uri=_secret_uri(reader, STORAGE_SECRET_SETTING),
            lane_content_secret_uri=_secret_uri(reader, CONTENT_SECRET_SETTING),
            scheduler_id=_matching(reader, SCHEDULER_SETTING, _SCHEDULER_ID, "a Durable Task Scheduler's ARM id, "
                                   "/subscriptions/<id>/resourceGroups/<group>/providers/"
                                   "Microsoft.DurableTask/schedulers/<name>"),
            local_root=reader.text("ROUTER_LOCAL_ROOT", DEFAULT_LOCAL_ROOT, required=True),
            local_venv_root=reader.text("ROUTER_LOCAL_VENV_ROOT", ""),
        )
        if not is_valid_app_prefix(config.app_prefix):
            raise ConfigError(
                f"ROUTER_APP_PREFIX={config.app_prefix!r} is not valid: use 1-{MAX_APP_PREFIX} letters, "
                "digits or hyphens, starting with a letter",
                setting="ROUTER_APP_PREFIX",
            )
        if config.provisioner == "local" and (env.get(APP_SERVICE_MARKER) or "").strip():
            raise ConfigError(
                f"ROUTER_PROVISIONER is local (its default) but this router runs on App Service "
                f"({APP_SERVICE_MARKER} is set), where lanes cannot be local processes: "
                "set ROUTER_PROVISIONER=azure and the lanes' Azure settings",
                setting="ROUTER_PROVISIONER",
            )
        if config.provisioner == "azure":
            config.check_azure()
        return config

    def check_azure(self) -> None:
        """ConfigError naming the first setting the Azure backend lacks or cannot use together."""
        missing = self.missing_azure_target()
        if missing:
            raise ConfigError(f"{missing[0]} is required when ROUTER_PROVISIONER=azure", setting=missing[0])
        for name, problem in self.azure_conflicts():
            raise ConfigError(problem, setting=name)

    def missing_azure_target(self) -> list[str]:
        """The settings the Azure backend cannot do without that are still unset, in
        AZURE_TARGET_FIELDS order, then lane storage."""
        missing = [name for name, field in AZURE_TARGET_FIELDS.items() if not getattr(self, field)]
        if not (self.lane_storage_account or self.lane_storage_secret_uri):
            missing.append(STORAGE_ACCOUNT_SETTING)
        return missing

    def azure_conflicts(self) -> list[tuple[str, str]]:
        """(setting, why) for every combination of Azure settings that cannot work."""
        problems = []
        if self.lane_storage_account and self.lane_storage_secret_uri:
            why = (f"{STORAGE_ACCOUNT_SETTING} (identity-based storage) and {STORAGE_SECRET_SETTING} "
                   "(a connection string) exclude each other: set one")
            problems.append((STORAGE_SECRET_SETTING, why))
        needs_client_id = [s for s, on in ((STORAGE_ACCOUNT_SETTING, self.lane_storage_account),
                                            (SCHEDULER_SETTING, self.scheduler_id)) if on]
        if needs_client_id and not self.lane_identity_client_id:
            why = (f"{CLIENT_ID_SETTING} is required with {needs_client_id[0]}: the lanes' "
                   "identity-based connections name the identity by its client id")
            problems.append((CLIENT_ID_SETTING, why))
        return problems


def _router_id(reader: EnvReader, env: Mapping[str, str]) -> str:
    explicit = reader.text("ROUTER_ID", "")
    if explicit:
        if not is_valid_router_id(explicit):
            raise ConfigError(
                f"ROUTER_ID={explicit!r} is not valid: use 1-{MAX_ROUTER_ID} letters and digits, "
                "starting with a letter (it starts every lane's task hub name)",
                setting="ROUTER_ID",
            )
        return explicit
    site = (env.get("WEBSITE_SITE_NAME") or "").strip()
    return router_id_from_site(site) if site else DEFAULT_ROUTER_ID


def _matching(reader: EnvReader, name: str, pattern: re.Pattern[str], accepted: str) -> str:
    value = reader.text(name, "")
    if value and not pattern.match(value):
        raise ConfigError(f"{name}={value!r} is not valid: expected {accepted}", setting=name)
    return value


def _secret_uri(reader: EnvReader, name: str) -> str:
    """A Key Vault secret's URI (the value is a secret's address, not the secret itself)."""
    value = reader.text(name, "")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or not parts.path.startswith("/secrets/") or parts.query:
        raise ConfigError(
            f"{name} is not valid: expected a Key Vault secret URI such as "
            "https://<vault>.vault.azure.net/secrets/<name>",
            setting=name,
        )
    return value
