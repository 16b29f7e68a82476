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
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2026-02-01"
_SCHEDULER = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.DurableTask/"
    r"schedulers/(?P<scheduler>[^/]+)(?P<hubs>/taskHubs(?:/(?P<hub>[^/]+))?)?$",
    re.IGNORECASE,
)
_OPERATION = re.compile(r"^/fake-dts-operations/(?P<op>[^/]+)$")


@dataclass
class _Scheduler:
    name: str
    location: str
    endpoint: str
    task_hubs: dict[str, dict[str, Any]] = field(default_factory=dict)


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
