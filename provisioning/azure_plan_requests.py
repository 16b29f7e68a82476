"""Every ARM request the Azure backend sends for a lane, as data: what `python -m provisioning
plan` prints (pure, no credentials, no network).

Built from the functions the backend itself sends (`azure_resources`: the site body, its
settings, the package settings), with the paths and api-versions the azure-mgmt-* clients use, in
the order the backend sends them; tests/provisioning/test_azure_plan.py compares it with what the
backend really sent to the fake ARM. Polls of long-running operations go to URLs ARM gives at the
time and are left out. Secrets are masked: a package URL's SAS query is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from provisioning.azure_config import AzureConfig
from provisioning.azure_plan import PlanKind
from provisioning.azure_resources import (
    TAG_TASK_HUB,
    app_name,
    lane_app_settings,
    package_settings,
    site_envelope,
)
from provisioning.base import LaneSpec
from provisioning.config import parse_plan_id, parse_scheduler_id
from provisioning.packages import describe_location

HIDDEN_QUERY = "?<query hidden>"
PACKAGE_PLACEHOLDER = "https://<account>.blob.core.windows.net/<container>/<package>.zip"


def sdk_api_versions() -> tuple[str, str]:
    """The api-versions azure-mgmt-web and azure-mgmt-durabletask send (their clients' defaults)."""
    from azure.mgmt.durabletask._configuration import DurableTaskMgmtClientConfiguration
    from azure.mgmt.web._configuration import WebSiteManagementClientConfiguration

    web = WebSiteManagementClientConfiguration(credential=object(), subscription_id="-")
    tasks = DurableTaskMgmtClientConfiguration(credential=object(), subscription_id="-")
    return web.api_version, tasks.api_version


@dataclass(frozen=True)
class ArmRequest:
    """One request: `path` is under Resource Manager's URL (ROUTER_ARM_ENDPOINT)."""

    step: str  # create, configure, deploy, ready, delete
    method: str
    path: str
    api_version: str
    body: Any = None
    note: str = ""
    query: str = ""  # other query parameters, e.g. deleteEmptyServerFarm=false

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"step": self.step, "method": self.method, "path": self.path,
                                 "apiVersion": self.api_version}
        if self.query:
            shown["query"] = self.query
        if self.body is not None:
            shown["body"] = self.body
        if self.note:
            shown["note"] = self.note
        return shown


def shown_package_url(url: str) -> str:
    """A package URL as it may be shown: its SAS query (a secret) hidden."""
    return describe_location(url) + (HIDDEN_QUERY if urlsplit(url).query else "")


def lane_requests(
    config: AzureConfig,
    lane: LaneSpec,
    kind: PlanKind,
    *,
    package_url: str = PACKAGE_PLACEHOLDER,
    scheduler_endpoint: str = "",
) -> list[ArmRequest]:
    """What the backend sends to create, configure, deploy, check and delete `lane`'s app."""
    web, tasks = sdk_api_versions()
    sub, name = config.subscription_id, app_name(config, lane.lane)
    site = f"/subscriptions/{sub}/resourceGroups/{config.resource_group}/providers/Microsoft.Web/sites/{name}"
    plan_group, plan_name = parse_plan_id(config.plan_id)
    settings = lane_app_settings(config, lane, kind, scheduler_endpoint)
    package = {key: shown_package_url(value) if value == package_url else value
               for key, value in package_settings(config, package_url).items()}
    hub: list[ArmRequest] = []
    if config.scheduler_id:
        scheduler_sub, group, scheduler = parse_scheduler_id(config.scheduler_id)
        scheduler_path = f"/subscriptions/{scheduler_sub}/resourceGroups/{group}/providers/Microsoft.DurableTask/schedulers/{scheduler}"
        hub_path = f"{scheduler_path}/taskHubs/{lane.task_hub}"
        hub = [
            ArmRequest("create", "GET", hub_path, tasks, note="is the lane's task hub there already?"),
            ArmRequest("create", "PUT", hub_path, tasks, {"properties": {}}, note="no: create it (long-running)"),
            ArmRequest("create", "GET", hub_path, tasks, note="the created task hub, once the operation ended"),
            ArmRequest("create", "GET", scheduler_path, tasks, note="the scheduler's endpoint, for the lane's settings"),
        ]
    requests = [
        ArmRequest("create", "GET", f"/subscriptions/{sub}/resourceGroups/{plan_group}/providers/Microsoft.Web/"
                   f"serverfarms/{plan_name}", web, note="the plan's SKU: the site body depends on its kind"),
        ArmRequest("create", "GET", site, web, note="is the app there already? (then it is used if tagged "
                   "for this lane)"),
        *hub,
        ArmRequest("create", "PUT", site, web, site_envelope(config, lane, kind, scheduler_endpoint),
                   note="long-running: polled until it ends"),
        ArmRequest("create", "GET", site, web, note="the created app, once the operation ended"),
        ArmRequest("configure", "POST", f"{site}/config/appsettings/list", web),
        ArmRequest("configure", "PUT", f"{site}/config/appsettings", web, {"properties": settings},
                   note="only if a setting differs from these (the create set them all); other settings stay"),
        ArmRequest("deploy", "POST", f"{site}/config/appsettings/list", web),
        ArmRequest("deploy", "PUT", f"{site}/config/appsettings", web, {"properties": {**settings, **package}},
                   note="the app's settings with the package's; setting them restarts the site"),
        ArmRequest("ready", "POST", f"{site}/host/default/listkeys", web,
                   note="until the durabletask_extension system key exists (the host started with the package)"),
        ArmRequest("ready", "POST", f"{site}/syncfunctiontriggers", web, note="once the host is up"),
        ArmRequest("delete", "GET", site, web, note=f"only an app tagged managed-by=durable-app-router; its "
                   f"{TAG_TASK_HUB} tag names the hub"),
    ]
    if config.scheduler_id:
        requests.append(ArmRequest("delete", "DELETE", hub[0].path, tasks, note="long-running"))
    requests.append(ArmRequest("delete", "DELETE", site, web, query="deleteEmptyServerFarm=false",
                               note="the app only: the plan is shared by every lane"))
    return requests
