"""The Azure backend: one Linux Python function app per lane, through ARM (azure-mgmt-web).

Every operation reads what ARM holds before writing, so repeating it converges on the same app
and settings without duplicates. Throttling (429) and server errors (5xx) are retried by
azure-core's retry policy, which honours Retry-After; long-running operations are polled to the
end; what is left is translated into provisioning errors in `azure_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.policies import AsyncRetryPolicy
from azure.mgmt.web.aio import WebSiteManagementClient
from azure.mgmt.web.models import Site

from provisioning.azure_config import STORAGE_SCOPE, AzureConfig
from provisioning.azure_errors import arm_error, translate
from provisioning.azure_plan import PlanKind, plan_kind, plan_refusal
from provisioning.azure_readiness import (
    RUNNING,
    HostNotReady,
    LaneHost,
    describe_orchestrators,
    load_failure,
    orchestrators,
    serving_since,
)
from provisioning.azure_resources import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    TAG_TASK_HUB,
    app_name,
    content_share_problem,
    is_blob_without_sas,
    is_lane_app,
    lane_app_settings,
    merged_settings,
    package_settings,
    site_envelope,
)
from provisioning.azure_scheduler import LaneTaskHubs
from provisioning.base import AppRef, DeployResult, Health, LaneSpec, Package, Readiness
from provisioning.config import parse_plan_id
from provisioning.errors import (
    AppNameTaken,
    ProvisioningError,
    TransientProvisioningError,
)
from provisioning.package_download import download_package
from provisioning.packages import (
    check_package_location,
    describe_location,
    verify_sha256,
)

log = logging.getLogger(__name__)

DURABLE_SYSTEM_KEY = "durabletask_extension"
_ALL_METHODS = frozenset({"HEAD", "GET", "PUT", "PATCH", "DELETE", "POST", "OPTIONS", "TRACE"})


class _IdempotentRetryPolicy(AsyncRetryPolicy):
    """azure-core's retry policy, also for POST.

    By default azure-core does not retry a POST answered 429 without Retry-After, nor 502.
    Every POST this backend sends is idempotent (list settings, list keys, sync triggers).
    """

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("retry_on_methods", _ALL_METHODS)
        return super().configure_retries(options)


class AzureLaneBackend:
    """`LaneBackend` on Azure App Service (see provisioning/base.py for the contract)."""

    def __init__(
        self,
        config: AzureConfig,
        credential: AsyncTokenCredential | None = None,
        *,
        connection_verify: bool | str = True,
        package_transport: httpx.AsyncBaseTransport | None = None,
        host_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`connection_verify` (True, False or a CA bundle's path) is used for ARM, for reading
        packages and for the lane hosts; `package_transport` and `host_transport` replace the
        network for package reads and lane host calls (tests)."""
        self._config = config
        self._connection_verify = connection_verify
        self._package_transport = package_transport
        self._host_transport = host_transport
        self._owns_credential = credential is None
        if credential is None:
            # Imported here: azure-identity is only needed when the backend picks the credential.
            from azure.identity.aio import DefaultAzureCredential

            # Outside App Service (a developer's machine) it signs in at the cloud's own authority.
            credential = DefaultAzureCredential(authority=config.cloud.authority_host)
        self._credential = credential
        # Shared with the scheduler's client (LaneTaskHubs), which sets its own base URL and scopes.
        client_options: dict[str, Any] = dict(
            retry_policy=_IdempotentRetryPolicy(
                retry_total=config.retry_total,
                retry_backoff_factor=config.retry_backoff_factor,
                retry_backoff_max=config.retry_backoff_max,
            ),
            connection_verify=connection_verify,
            read_timeout=config.read_timeout,
            # Never log bodies: the host keys answer carries the durable system key.
            logging_enable=False,
        )
        self._client = WebSiteManagementClient(
            credential,
            config.subscription_id,
            base_url=config.base_url,
            # Tokens for the cloud ROUTER_ARM_ENDPOINT is in: the SDK's default is the public cloud's.
            credential_scopes=[config.arm_scope],
            polling_interval=config.polling_interval,
            **client_options,
        )
        self._sites = self._client.web_apps
        self._task_hubs = LaneTaskHubs(config, credential, **client_options) if config.scheduler_id else None
        self._plan: PlanKind | None = None  # read once: a plan's kind does not change under it

    # --- LaneBackend -------------------------------------------------------------------------

    async def create_app(self, lane: LaneSpec) -> AppRef:
        name = app_name(self._config, lane.lane)
        kind = await self.plan_kind()
        existing = await self._get_site(name, "create")
        if existing is not None:
            return self._attach(existing, name, lane.lane)
        endpoint = await self._lane_task_hub(lane)
        try:
            poller = await self._sites.begin_create_or_update(
                self._config.resource_group, name, Site(site_envelope(self._config, lane, kind, endpoint))
            )
            site = await poller.result()
        except AzureError as err:
            # ARM sometimes reports a create as failed although the app was made, and a retried
            # PUT may meet the app its first attempt created: believe what ARM holds now.
            recovered = await self._get_site_or_none(name)
            if recovered is not None and is_lane_app(recovered.tags, lane.lane):
                log.warning(
                    "create of app %s reported %s but the app exists; using it", name, type(err).__name__
                )
                return self._app_ref(recovered, name)
            error = translate(err, "create", name)
            if isinstance(error, AppNameTaken) and isinstance(err, HttpResponseError):
                error = await self._explain_conflict(name, err, error)
            raise error from None
        log.info("created app %s for lane %s", name, lane.lane)
        return self._app_ref(site, name)

    async def configure_app(self, lane: LaneSpec, app: AppRef) -> None:
        kind = await self.plan_kind()
        endpoint = await self._task_hubs.endpoint() if self._task_hubs is not None else ""
        wanted = lane_app_settings(self._config, lane, kind, endpoint)
        changed = await self._merge_settings(app.name, wanted, "configure")
        log.info(
            "app %s settings for lane %s %s",
            app.name,
            lane.lane,
            "updated" if changed else "already up to date",
        )

    async def deploy_package(self, lane: LaneSpec, app: AppRef, package: Package) -> DeployResult:
        # The app fetches the package itself: only an https URL on an allowed host will do.
        check_package_location(package.url, self._config.allowed_package_hosts, local_allowed=False)
        verified = ""
        if package.sha256:
            verified = await download_package(
                package.url,
                transport=self._package_transport,
                verify=self._connection_verify,
                timeout=self._config.read_timeout,
                bearer_token=await self._package_token(package.url),
            )
            verify_sha256(package, verified)
        # Setting the package restarts the site. Its triggers are synced by check_readiness once
        # the new host is up: a sync now would meet the restart (host-runtime error or 409).
        changed = await self._merge_settings(app.name, package_settings(self._config, package.url), "deploy")
        # The URL may carry a SAS token: log only where the package lives.
        log.info(
            "deployed %s to app %s from %s%s",
            lane.version,
            app.name,
            describe_location(package.url),
            "" if changed else " (already set)",
        )
        extra = {} if changed else {DeployResult.UNCHANGED: "true"}
        return DeployResult(version=lane.version, package_sha256=verified, extra=extra)

    async def read_system_key(self, app: AppRef) -> str:
        _, key = await self._host_keys(app)
        if not key:
            raise self._no_system_key(app)
        return key

    async def check_readiness(self, app: AppRef, *, deployed_at: str = "", triggers_synced: bool = False) -> Readiness:
        """One look at the app after a deploy (see LaneBackend.check_readiness): its keys through
        ARM, then its host's own status, function list and Durable HTTP API. Everything that
        passes while a site restarts (host-runtime errors, 409, 429, 5xx, a host still starting
        or still the one from before the package) is "not ready yet" with the reason."""
        key_read = False
        try:
            master_key, system_key = await self._host_keys(app)
            async with self._lane_host(app) as host:
                status = await host.status(master_key)
                not_serving = serving_since(status, deployed_at, datetime.now(timezone.utc))
                if not_serving:
                    raise HostNotReady(not_serving)
                failure = load_failure(status)
                if failure is not None:
                    raise failure
                if status.state != RUNNING:
                    raise HostNotReady(f"the host is {status.state}" + _errors(status.errors))
                if not system_key:
                    raise self._no_system_key(app)
                key_read = True
                if not triggers_synced:
                    await self._sync_triggers(app)
                    triggers_synced = True
                indexed = orchestrators(await host.functions(master_key))
                if not indexed:
                    raise HostNotReady("the host runs but has indexed no orchestrator function yet")
                await host.durable_api(system_key)
        except TransientProvisioningError as err:
            return Readiness(False, err.message, key_read=key_read, triggers_synced=triggers_synced)
        return Readiness(
            True,
            f"the host runs the package: {describe_orchestrators(indexed)}, and its Durable HTTP "
            "API answers with the system key",
            key_read=True,
            triggers_synced=True,
        )

    async def check_health(self, app: AppRef) -> Health:
        """Readiness without a deploy to compare with: the health loop of lifecycles written before
        the readiness loop (router.durable_inputs.LifecycleInput.readiness_loop)."""
        readiness = await self.check_readiness(app)
        return Health(readiness.ready, readiness.detail)

    async def restart_app(self, app: AppRef) -> None:
        """Restart the site (POST .../restart): App Service starts a fresh host for it."""
        try:
            await self._sites.restart(self._config.resource_group, app.name)
        except AzureError as err:
            raise translate(err, "restart", app.name) from None
        log.info("restarted app %s", app.name)

    async def delete_app(self, app: AppRef) -> None:
        site = await self._get_site(app.name, "delete")
        if site is None:
            log.info("app %s already deleted", app.name)
            return
        if (site.tags or {}).get(TAG_MANAGED_BY) != MANAGED_BY:
            raise ProvisioningError(
                f"refusing to delete app {app.name!r}: it is not tagged {TAG_MANAGED_BY}={MANAGED_BY}",
                app=app.name,
            )
        hub = (site.tags or {}).get(TAG_TASK_HUB)
        if self._task_hubs is not None and hub:
            # The hub first: if the app's delete then fails, a retry finds the app and its tag.
            await self._task_hubs.delete(hub)
        try:
            # Only the app: the plan is shared by every lane, even when this app is its last.
            await self._sites.delete(self._config.resource_group, app.name, delete_empty_server_farm=False)
        except ResourceNotFoundError:
            pass
        except AzureError as err:
            raise translate(err, "delete", app.name) from None
        log.info("deleted app %s", app.name)

    async def aclose(self) -> None:
        await self._client.close()
        if self._task_hubs is not None:
            await self._task_hubs.aclose()
        if self._owns_credential:
            await self._credential.close()

    async def plan_kind(self) -> PlanKind:
        """The kind of ROUTER_PLAN_ID's plan (GET of the plan), or a ProvisioningError saying why
        lanes cannot run on it."""
        if self._plan is None:
            group, plan_name = parse_plan_id(self._config.plan_id)
            try:
                plan = await self._client.app_service_plans.get(group, plan_name)
            except ResourceNotFoundError:
                raise ProvisioningError(
                    f"the App Service plan {plan_name!r} (ROUTER_PLAN_ID) does not exist in resource "
                    f"group {group!r}",
                    plan=plan_name,
                ) from None
            except AzureError as err:
                raise translate(err, "read plan", plan_name) from None
            sku = plan.sku
            kind = plan_kind(sku.name if sku else "", sku.tier if sku else "")
            refusal = plan_refusal(kind, plan_name) or content_share_problem(self._config, kind)
            if refusal:
                raise ProvisioningError(refusal, plan=plan_name)
            self._plan = kind
        return self._plan

    # --- helpers -----------------------------------------------------------------------------

    async def _lane_task_hub(self, lane: LaneSpec) -> str:
        """With a scheduler: make sure the lane's task hub exists; the scheduler's endpoint."""
        if self._task_hubs is None:
            return ""
        await self._task_hubs.ensure(lane.task_hub)
        return await self._task_hubs.endpoint()

    async def _package_token(self, url: str) -> str | None:
        """A storage token for reading a package URL without a SAS (the router's own identity
        needs Storage Blob Data Reader on the container, as the lanes' does)."""
        if not is_blob_without_sas(self._config, url):
            return None
        return (await self._credential.get_token(STORAGE_SCOPE)).token

    async def _host_keys(self, app: AppRef) -> tuple[str, str]:
        """(master key, durabletask_extension system key or ""): secrets, never logged or returned."""
        try:
            keys = await self._sites.list_host_keys(self._config.resource_group, app.name)
        except AzureError as err:
            raise translate(err, "read keys", app.name) from None
        if not keys.master_key:
            raise TransientProvisioningError(f"app {app.name!r} has no master key yet", app=app.name)
        return keys.master_key, (keys.system_keys or {}).get(DURABLE_SYSTEM_KEY) or ""

    @staticmethod
    def _no_system_key(app: AppRef) -> TransientProvisioningError:
        return TransientProvisioningError(
            f"app {app.name!r} has no {DURABLE_SYSTEM_KEY} system key yet; the Durable extension "
            "creates it when a host with Durable functions first starts",
            app=app.name,
        )

    async def _sync_triggers(self, app: AppRef) -> None:
        """Tell the platform to rescan the app's triggers (it scales on them)."""
        try:
            await self._sites.sync_function_triggers(self._config.resource_group, app.name)
        except AzureError as err:
            raise translate(err, "sync triggers", app.name) from None
        log.info("synced the triggers of app %s", app.name)

    def _lane_host(self, app: AppRef) -> LaneHost:
        return LaneHost(
            app.base_url,
            transport=self._host_transport,
            verify=self._connection_verify,
            timeout=self._config.read_timeout,
        )

    async def _get_site(self, name: str, operation: str) -> Any | None:
        try:
            return await self._sites.get(self._config.resource_group, name)
        except ResourceNotFoundError:
            return None
        except AzureError as err:
            raise translate(err, operation, name) from None

    async def _get_site_or_none(self, name: str) -> Any | None:
        try:
            return await self._sites.get(self._config.resource_group, name)
        except AzureError:
            return None

    async def _explain_conflict(
        self, name: str, err: HttpResponseError, conflict: AppNameTaken
    ) -> ProvisioningError:
        """A 409 on create: ask ARM whether the name is really taken, to say why it failed."""
        try:
            answer = await self._client.check_name_availability({"name": name, "type": "Microsoft.Web/sites"})
        except AzureError:
            return conflict  # the 409 itself is the best explanation we have
        if answer.name_available:
            code, message = arm_error(err)
            return ProvisioningError(
                f"create of app {name!r} met a conflict although the name is free "
                f"(HTTP 409 {code}: {message})",
                app=name,
            )
        return AppNameTaken(
            f"the app name {name!r} is already used by another app, possibly in another "
            f"subscription ({answer.get('reason') or 'AlreadyExists'}: {answer.message or 'taken'}); "
            "change ROUTER_APP_PREFIX",
            app=name,
        )

    async def _merge_settings(self, name: str, wanted: Mapping[str, str], operation: str) -> bool:
        """Write `wanted` over the app's settings unless they already hold it; True if written."""
        group = self._config.resource_group
        try:
            current = await self._sites.list_application_settings(group, name)
            merged = merged_settings(current.properties or {}, wanted)
            if merged is None:
                return False
            await self._sites.update_application_settings(group, name, {"properties": merged})
        except AzureError as err:
            # ARM may quote a value back (WEBSITE_RUN_FROM_PACKAGE holds a SAS token).
            raise translate(err, operation, name, hide=wanted.values()) from None
        return True

    def _attach(self, site: Any, name: str, lane: str) -> AppRef:
        if not is_lane_app(site.tags, lane):
            raise AppNameTaken(
                f"an app named {name!r} exists in resource group {self._config.resource_group!r} "
                f"but is not this router's app for lane {lane}; change ROUTER_APP_PREFIX",
                app=name,
            )
        return self._app_ref(site, name)

    @staticmethod
    def _app_ref(site: Any, name: str) -> AppRef:
        host = (site.properties.default_host_name if site.properties else None) or (
            f"{name}.azurewebsites.net"
        )
        return AppRef(name=name, base_url=f"https://{host}", resource_id=site.id or "")


def _errors(errors: tuple[str, ...]) -> str:
    return f" ({'; '.join(errors)[:300]})" if errors else ""
