"""Durable Task Scheduler resources (Microsoft.DurableTask) as ARM serves them, in memory.

Shaped on what azure-mgmt-durabletask 1.1.0 (api-version 2026-02-01) sends and expects
(`azure/mgmt/durabletask/aio/operations/_operations.py`): `SchedulersOperations.get` wants 200
with `properties.endpoint`; `TaskHubsOperations.begin_create_or_update` accepts 200 or 201, reads
`Azure-AsyncOperation` and an integer `Retry-After` on a 201, polls it, then GETs the task hub;
`begin_delete` accepts 202 (with `Location`, polled until it stops answering 202) or 204.
The REST shapes follow Azure/azure-rest-api-specs `specification/durabletask/` (Scheduler:
`properties.endpoint`, `properties.sku`; TaskHub: `properties.dashboardUrl`, `provisioningState`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.identities import SiteIdentities

API_VERSION = "2026-02-01"
_SCHEDULER = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.DurableTask/"
    r"schedulers/(?P<scheduler>[^/]+)(?P<hubs>/taskHubs(?:/(?P<hub>[^/]+))?)?$",
    re.IGNORECASE,
)
_OPERATION = re.compile(r"^/fake-dts-operations/(?P<op>[^/]+)$")


HUB_NAME_SETTING = "AzureFunctionsJobHost__extensions__durableTask__hubName"
_PROVIDER = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"


@dataclass
class _Scheduler:
    name: str
    location: str
    endpoint: str
    task_hubs: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_principals: set[str] = field(default_factory=set)  # "Durable Task Data Contributor"


@dataclass
class _Operation:
    polls_left: int
    kind: str  # "create" | "delete"


class FakeSchedulers:
    """Schedulers and their task hubs; `route` answers a request or returns None (not ours).
    Not thread-safe by itself: the fake ARM calls it under its lock."""

    def __init__(self, base_url: str, *, polls: int = 1) -> None:
        self.base_url = base_url
        self.polls = polls  # how many polls an operation answers "in progress" before it ends
        self._schedulers: dict[str, _Scheduler] = {}
        self._operations: dict[str, _Operation] = {}

    def add(self, name: str, *, location: str = "westeurope") -> str:
        endpoint = f"https://{name.lower()}-{secrets.token_hex(2)}.{location}.durabletask.io"
        self._schedulers[name.lower()] = _Scheduler(name, location, endpoint)
        return endpoint

    def grant(self, scheduler: str, principal: str) -> None:
        """Durable Task Data Contributor on `scheduler` for `principal` (an identity's resource id)."""
        self._schedulers[scheduler.lower()].data_principals.add(principal.lower())

    def connection_blockers(self, settings: Mapping[str, str], identities: SiteIdentities) -> list[str]:
        """Why a site's Durable Task Scheduler connection cannot work (empty: it can, or the site
        uses Azure Storage). MicrosoftDocs/azure-docs durable-task-scheduler docs: storageProvider
        type `azureManaged`, `connectionStringName` naming a setting `Endpoint=...;Authentication=
        ManagedIdentity;ClientID=...`; the task hub (hubName) must exist in the scheduler and the
        identity needs the Durable Task Data Contributor role."""
        if settings.get(_PROVIDER + "type", "").lower() != "azuremanaged":
            return []
        connection_name = settings.get(_PROVIDER + "connectionStringName", "")
        connection = settings.get(connection_name, "") if connection_name else ""
        if not connection:
            return [f"storageProvider azureManaged names no connection setting ({connection_name or 'none'} is empty)"]
        pairs = (item.split("=", 1) for item in connection.split(";") if "=" in item)
        parts = {name.strip().lower(): value.strip() for name, value in pairs}
        scheduler = next((s for s in self._schedulers.values() if s.endpoint == parts.get("endpoint", "").rstrip("/")), None)
        if scheduler is None:
            return [f"{connection_name}: no Durable Task Scheduler at {parts.get('endpoint')!r}"]
        hub = settings.get(HUB_NAME_SETTING, "")
        if hub.lower() not in scheduler.task_hubs:
            return [f"task hub {hub!r} does not exist in scheduler {scheduler.name!r}"]
        client_id = parts.get("clientid")
        principal = (identities.principal_of_client_id(client_id) if client_id
                     else identities.principal_of("SystemAssigned"))  # fmt: skip
        if principal is None:
            return [f"{connection_name}: the identity {client_id or 'SystemAssigned'} is not assigned to the site"]
        if principal not in scheduler.data_principals:
            return [f"{connection_name}: the site's identity holds no Durable Task data role on scheduler {scheduler.name!r}"]
        return []

    def task_hubs(self, scheduler: str) -> list[str]:
        return sorted(hub["name"] for hub in self._schedulers[scheduler.lower()].task_hubs.values())

    def route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any] | None:
        if match := _OPERATION.match(path):
            return self._operation(match["op"])
        match = _SCHEDULER.match(path)
        if match is None:
            return None
        scheduler = self._schedulers.get(match["scheduler"].lower())
        scheduler_id = (
            f"/subscriptions/{match['sub']}/resourceGroups/{match['rg']}/providers/"
            f"Microsoft.DurableTask/schedulers/{match['scheduler']}"
        )
        if scheduler is None:
            return _not_found("Microsoft.DurableTask/schedulers", match["scheduler"], match["rg"])
        if not match["hubs"]:
            if method != "GET":
                return _error(405, "MethodNotAllowed", f"{method} is not supported by the fake on a scheduler.")
            return 200, {}, {
                "id": scheduler_id,
                "name": scheduler.name,
                "type": "Microsoft.DurableTask/schedulers",
                "location": scheduler.location,
                "properties": {
                    "provisioningState": "Succeeded",
                    "endpoint": scheduler.endpoint,
                    "ipAllowlist": ["0.0.0.0/0"],
                    "sku": {"name": "Dedicated", "capacity": 1, "redundancyState": "None"},
                },
            }  # fmt: skip
        hub_name = match["hub"]
        if hub_name is None:
            if method != "GET":
                return _error(405, "MethodNotAllowed", f"{method} is not supported on a task hub list.")
            return 200, {}, {"value": list(scheduler.task_hubs.values())}
        key = hub_name.lower()
        if method == "PUT":
            hub = {
                "id": f"{scheduler_id}/taskHubs/{hub_name}",
                "name": hub_name,
                "type": "Microsoft.DurableTask/schedulers/taskHubs",
                "properties": {
                    "provisioningState": "Succeeded",
                    "dashboardUrl": f"https://dashboard.durabletask.io/subscriptions/{match['sub']}/schedulers/"
                    f"{scheduler.name}/taskhubs/{hub_name}?endpoint={scheduler.endpoint}",
                },
            }
            scheduler.task_hubs[key] = hub
            if self.polls <= 0:
                return 200, {}, hub
            op = self._start("create")
            provisioning = {**hub, "properties": {**hub["properties"], "provisioningState": "Provisioning"}}
            return 201, {"Azure-AsyncOperation": op, "Retry-After": "0"}, provisioning
        hub = scheduler.task_hubs.get(key)
        if method == "GET":
            if hub is None:
                return _not_found("Microsoft.DurableTask/schedulers/taskHubs", f"{scheduler.name}/{hub_name}", match["rg"])
            return 200, {}, hub
        if method == "DELETE":
            if hub is None:
                return 204, {}, None
            del scheduler.task_hubs[key]
            if self.polls <= 0:
                return 204, {}, None
            op = self._start("delete")
            return 202, {"Location": op, "Retry-After": "0"}, None
        return _error(405, "MethodNotAllowed", f"{method} is not supported on a task hub.")

    def _start(self, kind: str) -> str:
        op = secrets.token_hex(8)
        self._operations[op] = _Operation(self.polls, kind)
        return f"{self.base_url}/fake-dts-operations/{op}?api-version={API_VERSION}"

    def _operation(self, op_id: str) -> tuple[int, dict[str, str], Any]:
        op = self._operations.get(op_id)
        if op is None:
            return _error(404, "NotFound", "No such operation.")
        if op.polls_left > 0:
            op.polls_left -= 1
            if op.kind == "delete":
                return 202, {"Location": f"{self.base_url}/fake-dts-operations/{op_id}?api-version={API_VERSION}",
                             "Retry-After": "0"}, None  # fmt: skip
            return 200, {"Retry-After": "0"}, {"id": op_id, "name": op_id, "status": "InProgress"}
        if op.kind == "delete":
            return 204, {}, None
        return 200, {}, {"id": op_id, "name": op_id, "status": "Succeeded"}


def _not_found(kind: str, name: str, rg: str) -> tuple[int, dict[str, str], Any]:
    return _error(404, "ResourceNotFound", f"The Resource '{kind}/{name}' under resource group '{rg}' was not found.")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"error": {"code": code, "message": message}}
