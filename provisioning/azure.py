"""The Azure backend: one Linux Python function app per lane, through ARM (azure-mgmt-web).

Every operation reads what ARM holds before writing, so repeating it converges on the same app
and settings without duplicates. Throttling (429) and server errors (5xx) are retried by
azure-core's retry policy, which honours Retry-After; long-running operations are polled to the
end; what is left is translated into provisioning errors in `azure_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.policies import AsyncRetryPolicy
from azure.mgmt.web.aio import WebSiteManagementClient
from azure.mgmt.web.models import Site

from provisioning.azure_config import AzureConfig
from provisioning.azure_errors import arm_error, translate
from provisioning.azure_resources import (
    MANAGED_BY,
    RUN_FROM_PACKAGE,
    TAG_MANAGED_BY,
    app_name,
    is_lane_app,
    lane_app_settings,
    merged_settings,
    site_envelope,
)
from provisioning.base import AppRef, DeployResult, Health, LaneSpec, Package
from provisioning.errors import AppNameTaken, ProvisioningError, TransientProvisioningError
from provisioning.package_download import download_package
from provisioning.packages import check_package_location, describe_location, verify_sha256

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
    ) -> None:
        """`connection_verify` (True, False or a CA bundle's path) is used for ARM and for reading
        packages; `package_transport` replaces the network for package reads (tests)."""
        self._config = config
        self._connection_verify = connection_verify
        self._package_transport = package_transport
        self._owns_credential = credential is None
        if credential is None:
            # Imported here: azure-identity is only needed when the backend picks the credential.
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self._credential = credential
        self._client = WebSiteManagementClient(
            credential,
            config.subscription_id,
            base_url=config.base_url,
            polling_interval=config.polling_interval,
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
        self._sites = self._client.web_apps

    # --- LaneBackend -------------------------------------------------------------------------

    async def create_app(self, lane: LaneSpec) -> AppRef:
        name = app_name(self._config, lane.lane)
        existing = await self._get_site(name, "create")
        if existing is not None:
            return self._attach(existing, name, lane.lane)
        try:
            poller = await self._sites.begin_create_or_update(
                self._config.resource_group, name, Site(site_envelope(self._config, lane))
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
        changed = await self._merge_settings(app.name, lane_app_settings(self._config, lane), "configure")
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
            )
            verify_sha256(package, verified)
        await self._merge_settings(app.name, {RUN_FROM_PACKAGE: package.url}, "deploy")
        try:
            # The app reads its triggers from the new package; tell the platform to rescan.
            await self._sites.sync_function_triggers(self._config.resource_group, app.name)
        except AzureError as err:
            raise translate(err, "sync triggers", app.name) from None
        # The URL may carry a SAS token: log only where the package lives.
        log.info("deployed %s to app %s from %s", lane.version, app.name, describe_location(package.url))
        return DeployResult(version=lane.version, package_sha256=verified)

    async def read_system_key(self, app: AppRef) -> str:
        try:
            keys = await self._sites.list_host_keys(self._config.resource_group, app.name)
        except AzureError as err:
            raise translate(err, "read keys", app.name) from None
        key = (keys.system_keys or {}).get(DURABLE_SYSTEM_KEY)
        if not key:
            raise TransientProvisioningError(
                f"app {app.name!r} has no {DURABLE_SYSTEM_KEY} system key yet; the Durable "
                "extension creates it when the host first starts",
                app=app.name,
            )
        return key

    async def check_health(self, app: AppRef) -> Health:
        try:
            site = await self._get_site(app.name, "health check")
            if site is None:
                return Health(False, f"app {app.name!r} does not exist")
            state = (site.properties.state if site.properties else None) or "Unknown"
            if state != "Running":
                return Health(False, f"app {app.name!r} is {state}")
            await self.read_system_key(app)
        except TransientProvisioningError as err:
            return Health(False, err.message)
        return Health(True, f"app {app.name!r} is Running and its durable system key is readable")

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
        if self._owns_credential:
            await self._credential.close()

    # --- helpers -----------------------------------------------------------------------------

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
