"""Lane task hubs in a Durable Task Scheduler, through azure-mgmt-durabletask (ARM).

With ROUTER_LANE_SCHEDULER_ID set, every lane gets its own task hub in that scheduler, created
with the lane's app and deleted with it: no queue or table shared between lanes, and a dashboard
per lane. The lanes reach it with their user-assigned identity, which the operator grants
"Durable Task Data Contributor" on the scheduler once (docs: durable-task-scheduler-identity).
Each operation reads before it writes, so repeating it converges.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.mgmt.durabletask.aio import DurableTaskMgmtClient

from provisioning.azure_config import AzureConfig
from provisioning.azure_errors import translate
from provisioning.config import parse_scheduler_id
from provisioning.errors import ProvisioningError

log = logging.getLogger(__name__)


class LaneTaskHubs:
    """The task hubs of one scheduler (the config's `scheduler_id`)."""

    def __init__(self, config: AzureConfig, credential: AsyncTokenCredential, **client_options: Any) -> None:
        """`client_options` are azure-core's (retry policy, connection_verify, timeouts...)."""
        subscription, self._group, self._scheduler = parse_scheduler_id(config.scheduler_id)
        self._client = DurableTaskMgmtClient(
            credential,
            subscription,  # the scheduler may live in another subscription than the lanes
            base_url=config.base_url,
            credential_scopes=[config.arm_scope],
            polling_interval=config.polling_interval,
            **client_options,
        )
        self._endpoint = ""

    async def endpoint(self) -> str:
        """The scheduler's endpoint (read once: it never changes for a scheduler)."""
        if not self._endpoint:
            try:
                scheduler = await self._client.schedulers.get(self._group, self._scheduler)
            except AzureError as err:
                raise translate(err, "read scheduler", self._scheduler) from None
            endpoint = scheduler.properties.endpoint if scheduler.properties else None
            if not endpoint:
                raise ProvisioningError(
                    f"the Durable Task Scheduler {self._scheduler!r} reports no endpoint", scheduler=self._scheduler
                )
            self._endpoint = endpoint
        return self._endpoint

    async def ensure(self, hub: str) -> None:
        """Create the task hub `hub` unless it exists."""
        try:
            await self._client.task_hubs.get(self._group, self._scheduler, hub)
            return
        except ResourceNotFoundError:
            pass
        except AzureError as err:
            raise translate(err, "read task hub", hub) from None
        try:
            poller = await self._client.task_hubs.begin_create_or_update(
                self._group, self._scheduler, hub, {"properties": {}}
            )
            await poller.result()
        except AzureError as err:
            raise translate(err, "create task hub", hub) from None
        log.info("created task hub %s in scheduler %s", hub, self._scheduler)

    async def delete(self, hub: str) -> None:
        """Delete the task hub `hub`; a missing one is already deleted."""
        try:
            poller = await self._client.task_hubs.begin_delete(self._group, self._scheduler, hub)
            await poller.result()
        except ResourceNotFoundError:
            return
        except AzureError as err:
            raise translate(err, "delete task hub", hub) from None
        log.info("deleted task hub %s from scheduler %s", hub, self._scheduler)

    async def aclose(self) -> None:
        await self._client.close()
