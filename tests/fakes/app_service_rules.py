"""What App Service says about a function app's create body and settings, per plan kind (pure).

Two kinds of answer, as on Azure:
- **refusals**: Resource Manager rejects the request with an error code and text (`ArmRefusal`);
- **host blockers**: the request is accepted, but the Functions host of the site cannot start
  (`host_blockers`); the portal then shows the host as unreachable, `host/default/listkeys`
  answers the host-runtime error, and the site's host name answers 503.

Sources, each also cited by the test that pins it (tests/provisioning/test_fake_app_service_rules.py):
- Plans and their SKUs: MicrosoftDocs/azure-docs `articles/azure-functions/functions-infrastructure-as-code.md`
  (Y1/Dynamic, EP1/ElasticPremium, FC1/FlexConsumption, dedicated tiers such as P1v3/PremiumV3).
- Required settings: MicrosoftDocs/azure-docs `articles/azure-functions/functions-app-settings.md`
  (AzureWebJobsStorage, FUNCTIONS_EXTENSION_VERSION, FUNCTIONS_WORKER_RUNTIME; the content share
  settings for Elastic Premium, WEBSITE_CONTENTSHARE generated when omitted) and
  `functions-reference.md#connecting-to-host-storage-with-an-identity` (`AzureWebJobsStorage__accountName`).
- Flex Consumption refusals: `functions-app-settings.md#flex-consumption-plan-deprecations`; the
  texts as ARM returns them are quoted in public reports, e.g. "The following app setting
  (Site.SiteConfig.AppSettings.FUNCTIONS_WORKER_RUNTIME) for Flex Consumption sites is invalid.
  Please remove or rename it before retrying." and microsoft/azure-pipelines-tasks#21032 ("The
  following list of 4 site configuration properties (...) for Flex Consumption sites is invalid").
- Always On: "There was a conflict. AlwaysOn cannot be set for this site as the plan does not allow
  it. ..." (MicrosoftDocs learn modules quoting the ARM error, a 409 Conflict).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class PlanKind(Enum):
    CONSUMPTION = "Consumption"
    ELASTIC_PREMIUM = "ElasticPremium"
    DEDICATED = "Dedicated"
    FLEX_CONSUMPTION = "FlexConsumption"


@dataclass(frozen=True)
class Sku:
    name: str
    tier: str
    family: str
    kind: PlanKind
    plan_kind_field: str  # the serverfarm's `kind` as ARM returns it for a Linux plan


# The SKUs the fake knows; every one is a Linux plan (`properties.reserved: true`).
SKUS: dict[str, Sku] = {
    sku.name.lower(): sku
    for sku in (
        Sku("Y1", "Dynamic", "Y", PlanKind.CONSUMPTION, "functionapp,linux"),
        Sku("EP1", "ElasticPremium", "EP", PlanKind.ELASTIC_PREMIUM, "elastic,linux"),
        Sku("EP2", "ElasticPremium", "EP", PlanKind.ELASTIC_PREMIUM, "elastic,linux"),
        Sku("P1v3", "PremiumV3", "Pv3", PlanKind.DEDICATED, "linux"),
        Sku("B1", "Basic", "B", PlanKind.DEDICATED, "linux"),
        Sku("FC1", "FlexConsumption", "FC", PlanKind.FLEX_CONSUMPTION, "functionapp,linux"),
    )
}


def sku_of(name: str) -> Sku:
    try:
        return SKUS[name.lower()]
    except KeyError:
        raise ValueError(f"the fake App Service knows no SKU {name!r}; known: {', '.join(s.name for s in SKUS.values())}") from None


@dataclass(frozen=True)
class ArmRefusal:
    """An error Resource Manager answers instead of doing the request."""

    status: int
    code: str
    message: str


STORAGE = "AzureWebJobsStorage"
EXTENSION_VERSION = "FUNCTIONS_EXTENSION_VERSION"
WORKER_RUNTIME = "FUNCTIONS_WORKER_RUNTIME"
CONTENT_CONNECTION = "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"
CONTENT_SHARE = "WEBSITE_CONTENTSHARE"
RUN_FROM_PACKAGE = "WEBSITE_RUN_FROM_PACKAGE"
PACKAGE_IDENTITY = "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"
# Settings the host uses as connection strings: an unresolved Key Vault reference there stops it.
CONNECTION_SETTINGS = frozenset({STORAGE, CONTENT_CONNECTION})

# functions-app-settings.md#flex-consumption-plan-deprecations: settings a Flex app refuses.
FLEX_REFUSED_SETTINGS = (
    "ENABLE_ORYX_BUILD",
    "FUNCTION_APP_EDIT_MODE",
    EXTENSION_VERSION,
    WORKER_RUNTIME,
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    CONTENT_CONNECTION,
    "WEBSITE_CONTENTOVERVNET",
    CONTENT_SHARE,
    "WEBSITE_DNS_SERVER",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    RUN_FROM_PACKAGE,
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_VNET_ROUTE_ALL",
)
# ... and the site configuration properties it refuses (camelCase as sent -> the name ARM quotes).
FLEX_REFUSED_SITE_CONFIG = {
    "alwaysOn": "AlwaysOn",
    "ftpsState": "FtpsState",
    "javaVersion": "JavaVersion",
    "linuxFxVersion": "LinuxFxVersion",
    "netFrameworkVersion": "NetFrameworkVersion",
    "powerShellVersion": "PowerShellVersion",
    "use32BitWorkerProcess": "Use32BitWorkerProcess",
    "windowsFxVersion": "WindowsFxVersion",
    "functionAppScaleLimit": "FunctionAppScaleLimit",
    "preWarmedInstanceCount": "PreWarmedInstanceCount",
    "functionsRuntimeScaleMonitoringEnabled": "FunctionsRuntimeScaleMonitoringEnabled",
}
# The Python versions a Linux function app runs (linuxFxVersion "Python|3.x", Flex runtime.version).
PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
_LINUX_FX = re.compile(r"^python\|(?P<version>\d+\.\d+)$", re.IGNORECASE)
ALWAYS_ON_REFUSED = (
    "There was a conflict. AlwaysOn cannot be set for this site as the plan does not allow it. "
    "For more information on pricing and features, please see: https://aka.ms/appservicepricingdetails"
)


def settings_list_to_map(app_settings: Any) -> dict[str, str]:
    """`siteConfig.appSettings` ([{name, value}]) as a dict; later names win, as ARM keeps them."""
    result: dict[str, str] = {}
    for item in app_settings or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            result[item["name"]] = "" if item.get("value") is None else str(item["value"])
    return result


def _flex_refusal(kind: str, quoted: list[str]) -> ArmRefusal:
    if len(quoted) == 1:
        message = (
            f"The following {kind} ({quoted[0]}) for Flex Consumption sites is invalid. "
            "Please remove or rename it before retrying."
        )
    else:
        plural = "app settings" if kind == "app setting" else "site configuration properties"
        message = (
            f"The following list of {len(quoted)} {plural} ({', '.join(quoted)}) for Flex Consumption "
            "sites is invalid. Please remove or rename them before retrying."
        )
    return ArmRefusal(400, "BadRequest", message)


def refused_settings(sku: Sku, settings: Mapping[str, str]) -> ArmRefusal | None:
    """The refusal of a Flex Consumption app's settings (create body or `config/appsettings` PUT)."""
    if sku.kind is not PlanKind.FLEX_CONSUMPTION:
        return None
    refused = {name.upper() for name in FLEX_REFUSED_SETTINGS}
    bad = [f"Site.SiteConfig.AppSettings.{name}" for name in settings if name.upper() in refused]
    return _flex_refusal("app setting", bad) if bad else None


def refused_create(sku: Sku, properties: Mapping[str, Any]) -> ArmRefusal | None:
    """ARM's answer to a site PUT on a plan of `sku` when it refuses the body, else None."""
    site_config = properties.get("siteConfig") or {}
    if sku.kind is PlanKind.FLEX_CONSUMPTION:
        bad = [f"Site.SiteConfig.{quoted}" for name, quoted in FLEX_REFUSED_SITE_CONFIG.items()
               if site_config.get(name) is not None]
        if bad:
            return _flex_refusal("site configuration property", bad)
        refusal = refused_settings(sku, settings_list_to_map(site_config.get("appSettings")))
        if refusal is not None:
            return refusal
        return _refused_function_app_config(properties.get("functionAppConfig"))
    if properties.get("functionAppConfig"):
        return ArmRefusal(
            400, "BadRequest",
            "FunctionAppConfig is only supported for function apps on a Flex Consumption plan.",
        )  # fmt: skip
    if site_config.get("alwaysOn") and sku.kind is PlanKind.CONSUMPTION:
        return ArmRefusal(409, "Conflict", ALWAYS_ON_REFUSED)
    return None


def _refused_function_app_config(config: Any) -> ArmRefusal | None:
    """Flex needs functionAppConfig with its deployment storage and runtime
    (functions-infrastructure-as-code.md, pivot flex-consumption-plan)."""
    config = config if isinstance(config, Mapping) else {}
    storage = ((config.get("deployment") or {}).get("storage") or {})
    runtime = config.get("runtime") or {}
    missing = []
    if not storage.get("type") or not storage.get("value"):
        missing.append("FunctionAppConfig.Deployment.Storage")
    if not runtime.get("name") or not runtime.get("version"):
        missing.append("FunctionAppConfig.Runtime")
    if missing:
        return ArmRefusal(
            400, "BadRequest",
            f"Flex Consumption sites require {' and '.join(missing)}.",
        )  # fmt: skip
    if str(runtime["name"]).lower() == "python" and str(runtime["version"]) not in PYTHON_VERSIONS:
        return ArmRefusal(
            400, "BadRequest",
            f"The runtime version '{runtime['version']}' for runtime name 'python' is not supported.",
        )  # fmt: skip
    return None


def has_host_storage(settings: Mapping[str, str]) -> bool:
    """AzureWebJobsStorage as a connection string, or its identity-based form
    (`__accountName`, or the per-service URIs)."""
    if settings.get(STORAGE):
        return True
    if settings.get(f"{STORAGE}__accountName"):
        return True
    return all(settings.get(f"{STORAGE}__{service}ServiceUri") for service in ("blob", "queue", "table"))


def python_version(sku: Sku, site_config: Mapping[str, Any], function_app_config: Mapping[str, Any] | None) -> str | None:
    """The Python version the site runs, or None when it names none."""
    if sku.kind is PlanKind.FLEX_CONSUMPTION:
        runtime = (function_app_config or {}).get("runtime") or {}
        return str(runtime.get("version")) if str(runtime.get("name", "")).lower() == "python" else None
    match = _LINUX_FX.match(str(site_config.get("linuxFxVersion") or ""))
    return match["version"] if match else None


def host_blockers(
    sku: Sku,
    settings: Mapping[str, str],
    *,
    reserved: bool,
    site_config: Mapping[str, Any],
    function_app_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Why the Functions host of a site with these settings cannot start (empty: it can)."""
    problems = []
    if not has_host_storage(settings):
        problems.append(
            f"{STORAGE} is missing: the host needs a storage account (a connection string, or "
            f"{STORAGE}__accountName for an identity)"
        )
    if sku.kind is not PlanKind.FLEX_CONSUMPTION:
        if settings.get(EXTENSION_VERSION) != "~4":
            problems.append(f"{EXTENSION_VERSION} is {settings.get(EXTENSION_VERSION)!r}, not '~4'")
        if settings.get(WORKER_RUNTIME, "").lower() != "python":
            problems.append(f"{WORKER_RUNTIME} is {settings.get(WORKER_RUNTIME)!r}, not 'python'")
        if not reserved:
            problems.append("the site is not a Linux site (properties.reserved is not true)")
    if sku.kind is PlanKind.ELASTIC_PREMIUM and not settings.get(CONTENT_CONNECTION):
        problems.append(
            f"{CONTENT_CONNECTION} is missing: an Elastic Premium app keeps its content in an Azure "
            "Files share given at creation (Azure Functions Runtime is unreachable)"
        )
    version = python_version(sku, site_config, function_app_config)
    if version is None:
        problems.append("the site names no Python runtime (siteConfig.linuxFxVersion 'Python|3.x')")
    elif version not in PYTHON_VERSIONS:
        problems.append(f"Python {version} is not a supported runtime version")
    return problems
