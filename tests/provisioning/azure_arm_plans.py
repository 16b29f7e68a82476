"""The App Service plan and Durable Task Scheduler routes the Azure backend reads, added to a
plain fake ARM (tests/fakes/arm.py) for the backend tests that do not need the fake App Service's
real hosts. Answers follow Azure/azure-rest-api-specs: `specification/web` (AppServicePlan:
`sku.name`/`sku.tier`, `kind`, `properties.reserved` for Linux) and
`specification/durabletask` (Scheduler `properties.endpoint`; TaskHub PUT/DELETE as ARM
long-running operations: a create answers 201 with Azure-AsyncOperation (polled to Succeeded), a
delete 202 with Location (polled to 204) or 204 when there is nothing to delete; a missing
resource is 404). A site PUT's `siteConfig.appSettings` become the
site's app settings, as App Service applies them at creation."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.arm import FakeArm

# SKU name -> (tier, plan kind field) as ARM returns them for Linux plans.
PLAN_SKUS = {
    "Y1": ("Dynamic", "functionapp,linux"),
    "EP1": ("ElasticPremium", "elastic,linux"),
    "P1v3": ("PremiumV3", "linux"),
    "FC1": ("FlexConsumption", "functionapp,linux"),
}
_PLAN = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/serverfarms/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
_SCHEDULER = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.DurableTask/"
    r"schedulers/(?P<name>[^/]+)(?:/taskHubs/(?P<hub>[^/]+))?$",
    re.IGNORECASE,
)
_DTS_OPERATION = re.compile(r"^/fake-dts-operations/(?P<kind>status|location)$")
_SITE_PUT = re.compile(r"/providers/Microsoft\.Web/sites/(?P<name>[^/]+)$", re.IGNORECASE)


class PlanRoutes:
    """Plans by name (their SKU) and schedulers with their task hubs, answered before the fake's
    own routes."""

    def __init__(self, arm: FakeArm, plans: dict[str, str], schedulers: tuple[str, ...] = ()) -> None:
        self.plans = dict(plans)
        self.schedulers = {name.lower(): f"https://{name.lower()}.westeurope.durabletask.io" for name in schedulers}
        self.task_hubs: dict[str, set[str]] = {name.lower(): set() for name in schedulers}
        self._arm = arm
        self._route = arm._route
        arm._route = self.route  # type: ignore[method-assign]

    def route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if (match := _PLAN.match(path)) and method == "GET":
            return self._plan(match)
        if match := _SCHEDULER.match(path):
            return self._scheduler(method, match)
        if match := _DTS_OPERATION.match(path):
            return (200, {}, {"status": "Succeeded"}) if match["kind"] == "status" else (204, {}, None)
        answer = self._route(method, path, body)
        site = _SITE_PUT.search(path)
        if method == "PUT" and site and answer[0] < 300 and isinstance(body, dict):
            listed = ((body.get("properties") or {}).get("siteConfig") or {}).get("appSettings") or []
            self._arm.app_settings[site["name"].lower()] = {item["name"]: item["value"] for item in listed}
        return answer

    def _plan(self, match: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        name = match["name"]
        sku = self.plans.get(name)
        if sku is None:
            return _error(404, "ResourceNotFound", f"The Resource 'Microsoft.Web/serverFarms/{name}' under "
                          f"resource group '{match['rg']}' was not found.")
        tier, kind = PLAN_SKUS[sku]
        return 200, {}, {
            "id": match[0], "name": name, "type": "Microsoft.Web/serverfarms", "kind": kind,
            "location": "westeurope",
            "sku": {"name": sku, "tier": tier, "size": sku, "family": sku.rstrip("0123456789v"), "capacity": 1},
            "properties": {"reserved": True, "status": "Ready", "provisioningState": "Succeeded"},
        }

    def _scheduler(self, method: str, match: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        name, hub = match["name"].lower(), match["hub"]
        if name not in self.schedulers:
            return _error(404, "ResourceNotFound", f"The Resource 'Microsoft.DurableTask/schedulers/{name}' "
                          f"under resource group '{match['rg']}' was not found.")
        if hub is None:
            if method != "GET":
                return _error(405, "MethodNotAllowed", "not in the fake")
            return 200, {}, {"id": match[0], "name": match["name"], "type": "Microsoft.DurableTask/schedulers",
                             "location": "westeurope",
                             "properties": {"endpoint": self.schedulers[name], "provisioningState": "Succeeded",
                                            "ipAllowlist": ["0.0.0.0/0"], "sku": {"name": "Consumption"}}}
        hubs = self.task_hubs[name]
        resource = {"id": match[0], "name": hub, "type": "Microsoft.DurableTask/schedulers/taskHubs",
                    "properties": {"provisioningState": "Succeeded",
                                   "dashboardUrl": f"https://dashboard.durabletask.io/subscriptions/x/{hub}"}}
        if method == "GET":
            if hub.lower() not in hubs:
                return _error(404, "ResourceNotFound", f"The Resource 'taskHubs/{hub}' was not found.")
            return 200, {}, resource
        if method == "PUT":
            created = hub.lower() not in hubs
            hubs.add(hub.lower())
            if not created:
                return 200, {}, resource
            return 201, {"Azure-AsyncOperation": self._operation("status"), "Retry-After": "0"}, resource
        if method == "DELETE":
            if hub.lower() not in hubs:
                return 204, {}, None
            hubs.discard(hub.lower())
            return 202, {"Location": self._operation("location"), "Retry-After": "0"}, None
        return _error(405, "MethodNotAllowed", "not in the fake")

    def _operation(self, kind: str) -> str:
        return f"{self._arm.base_url}/fake-dts-operations/{kind}?api-version=2026-02-01"


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"error": {"code": code, "message": message}}
