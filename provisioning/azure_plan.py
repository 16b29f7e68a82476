"""The kinds of App Service plan a lane app can run on, and what each asks of a site (pure).

The backend reads the plan (`GET` of ROUTER_PLAN_ID) and builds the site for its kind; the dry run
(`python -m provisioning plan --plan-sku SKU`) takes the kind from the SKU it is given.
Sources: docs "Azure Functions hosting options", "functions-app-settings" (content share settings),
"functions-infrastructure-as-code" (per-plan templates), "flex-consumption-plan" and
Azure/azure-rest-api-specs specification/web (SkuDescription: name, tier).
"""

from __future__ import annotations

from enum import StrEnum


class PlanKind(StrEnum):
    CONSUMPTION = "Consumption"  # Y1, tier Dynamic
    ELASTIC_PREMIUM = "ElasticPremium"  # EP1-EP3
    DEDICATED = "Dedicated"  # B*, S*, P*v2/v3/v4...: App Service plans
    FLEX_CONSUMPTION = "FlexConsumption"  # FC1


def plan_kind(sku_name: str, sku_tier: str = "") -> PlanKind:
    """The kind of a plan from its SKU (`sku.name`, `sku.tier` as ARM returns them)."""
    name, tier = (sku_name or "").strip().upper(), (sku_tier or "").strip().lower()
    if name == "FC1" or tier == "flexconsumption":
        return PlanKind.FLEX_CONSUMPTION
    if name == "Y1" or tier == "dynamic":
        return PlanKind.CONSUMPTION
    if name.startswith("EP") or tier == "elasticpremium":
        return PlanKind.ELASTIC_PREMIUM
    return PlanKind.DEDICATED


def needs_always_on(kind: PlanKind) -> bool:
    """Dedicated plans unload an idle app unless alwaysOn is set, and then its timers and queue
    polling (the Durable extension's) stop; the event-driven plans refuse the setting."""
    return kind is PlanKind.DEDICATED


def needs_content_share(kind: PlanKind) -> bool:
    """Elastic Premium needs WEBSITE_CONTENTAZUREFILECONNECTIONSTRING and WEBSITE_CONTENTSHARE at
    creation, on Linux too; Linux Consumption runs from the package URL and has no content share."""
    return kind is PlanKind.ELASTIC_PREMIUM


def plan_refusal(kind: PlanKind, plan: str) -> str | None:
    """Why the router cannot run lanes on `plan`, or None when it can."""
    if kind is PlanKind.FLEX_CONSUMPTION:
        return (
            f"the App Service plan {plan!r} is Flex Consumption (FC1), which this router does not "
            "provision lanes on: a Flex app is deployed by one-deploy into the blob container named "
            "in its functionAppConfig and refuses WEBSITE_RUN_FROM_PACKAGE, FUNCTIONS_WORKER_RUNTIME "
            "and FUNCTIONS_EXTENSION_VERSION, while the router deploys every release by package URL "
            "(WEBSITE_RUN_FROM_PACKAGE). Set ROUTER_PLAN_ID to a Consumption (Y1), Elastic Premium "
            "(EP1-EP3) or Dedicated plan"
        )
    return None
