"""A fake Azure App Service for function apps: the fake ARM, plus plans, validation and real hosts.

Start it (one per test or per module; it owns processes, so always through the context manager):

    from tests.fakes.app_service import serve_fake_app_service

    with serve_fake_app_service(tmp_path, plans={"plan-y1": "Y1", "plan-ep": "EP1",
                                                 "plan-p1": "P1v3", "plan-fc": "FC1"},
                                restart_seconds=0.2) as fake:
        fake.base_url            # ARM endpoint (ROUTER_ARM_ENDPOINT / AzureConfig.base_url)
        fake.ca_path             # one CA for ARM, blob storage and every site's front door:
                                 # give it as connection_verify, or SSL_CERT_FILE to a process
        fake.plan_id("plan-y1")  # /subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/serverfarms/plan-y1
        url = fake.blobs.sas_url("packages", "app.zip")      # after fake.blobs.put("packages", "app.zip", data)
        fake.blobs.grant_reader(identity_resource_id)         # managed-identity reads (no SAS)
        fake.runtime("app-name").wait_for(HostState.RUNNING)  # the site's host, once it has a package
        fake.requests / fake.calls()                           # every ARM request, as FakeArm records them

It is a `FakeArm` (tests/fakes/arm.py), so the seams of that fake stay: `fail` (429 with
Retry-After, 5xx, 409, `apply_first`), `slow`, `add_site`, `set_state`, `taken_names`,
`max_sites`, `lro_mode`/`lro_polls`, `requests`, `calls()`. What it adds, as App Service does:

- **Plans** (`GET .../Microsoft.Web/serverfarms/{name}`): SKU, tier and kind for Y1 (Dynamic),
  EP1 (ElasticPremium), P1v3 (PremiumV3, Dedicated) and FC1 (FlexConsumption), all Linux.
- **Validation** (tests/fakes/app_service_rules.py): a site PUT on an unknown plan is a 404; Flex's
  refused settings and site properties, a missing `functionAppConfig` and Always On on
  Consumption are refused with ARM's codes and texts; the create's `siteConfig.appSettings`
  become the app's settings; `config/appsettings` PUTs are checked the same way. A create that
  ARM accepts but whose host cannot start (no AzureWebJobsStorage, no FUNCTIONS_* settings, no
  Elastic Premium content share, no Python runtime) leaves the host in `Error` with the reason
  (`fake.runtime(name).error`).
- **Real hosts** (tests/fakes/site_runtime.py): once the site's WEBSITE_RUN_FROM_PACKAGE is an
  https URL, the fake downloads it (with the site's managed identity's bearer token when
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID is set, else as the URL says, e.g. a SAS), unzips
  it and runs a dev host on it with the settings as its environment and the worker's import
  rules (an app without `.python_packages` cannot import its dependencies). Every settings or
  package change, and `POST .../restart`, restarts the host after `restart_seconds`.
  While no host is up `POST .../host/default/listkeys` answers 400 BadRequest "Encountered an
  error (ServiceUnavailable) from host runtime." and `POST .../syncfunctiontriggers` a 409;
  `durabletask_extension` is in the system keys only once a host with Durable functions runs.
  `GET .../sites/{name}/functions` lists the running host's functions. The 409 text is ARM's
  "Cannot modify this site because another operation is in progress. Details: ...".
  `fake.runtime(name).restart_seconds` changes one site's delay (a slow host);
  `fake.runtime(name).crash()` kills its host, which the platform starts again. A stopped site
  (`POST .../stop`, or `fake.set_state(name, "Stopped")`) runs no host: its host name answers
  403 "Error 403 - This web app is stopped." and listkeys the host-runtime error.
- **Identities and roles** (tests/fakes/identities.py): ARM answers each user-assigned identity
  with a `clientId` (`identities.client_id_of(resource_id)`); an identity-based
  AzureWebJobsStorage (`__accountName`, `__credential`, `__clientId`) needs
  `fake.grant_storage_role(account, identity_id)`, Key Vault references
  (`@Microsoft.KeyVault(SecretUri=...)`, read with `keyVaultReferenceIdentity`) need
  `fake.add_secret(uri, value)` and `fake.grant_key_vault(identity_id)`, a package read with
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID needs `fake.blobs.grant_reader(identity_id)` (the
  router reading it with its own token: `fake.blobs.accept_token(token, principal)` and a grant), and
  a Durable Task Scheduler connection (`storageProvider__type` azureManaged) needs its task hub
  and `fake.schedulers.grant(scheduler, identity_id)`. Missing ones keep the host down with the
  reason in `fake.runtime(name).error`. The system identity is `SystemAssigned:<site>`.
- **One deploy** (Flex Consumption's only way in, flex-consumption-how-to.md): each site has an
  SCM host (its `hostNameSslStates` entry with `hostType` Repository); `POST /api/publish` with a
  bearer token and the zip puts it in `functionAppConfig.deployment.storage`'s container (as
  `released-package.zip` when that container is on `fake.blobs`) and restarts the host, which
  reads it with the identity the storage `authentication` names; `GET /api/deployments/{id|latest}`
  answers Kudu's status (1 building, 3 failed, 4 success). A site running from a package URL
  refuses it with Kudu's 409.
- **Host names**: `defaultHostName` is `127.0.0.1:<port>` of the site's TLS front door, which
  forwards to its host (503 "Function host is not running." while none runs);
  `fake.runtime(name).requests` records what it took (paths without queries: they may hold a
  key) and `fake.runtime(name).fail(method, pattern, status, times=, delay=)` injects faults there.
- **Durable Task Scheduler** (`Microsoft.DurableTask`, api-version 2026-02-01 of
  azure-mgmt-durabletask 1.1.0): `schedulers/{s}` GET, `schedulers/{s}/taskHubs/{h}` PUT
  (201 + Azure-AsyncOperation), GET, DELETE (202 + Location) and the list; `fake.schedulers`
  holds them (`fake.add_scheduler(name)`; `plans=` style: `schedulers=("dts",)`).

Everything stops when the `with` block ends: hosts (SIGTERM, then SIGKILL), front doors, servers.

Not simulated (say so in a test that would need it): remote builds (`RemoteBuild=true` is
ignored: the package runs as posted), WEBSITE_RUN_FROM_PACKAGE=1 with a zip deploy, the host's
AzureFunctionsJobHost__* overrides of host.json (the dev host does not apply them, so the lane's
hubName setting names no separate store: each site has its own data directory anyway), and
real Azure Storage (AzureWebJobsStorage is checked, not used).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import ssl
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trustme

from tests.fakes.app_service_rules import (
    CONNECTION_SETTINGS,
    CONTENT_CONNECTION,
    CONTENT_SHARE,
    PACKAGE_IDENTITY,
    RUN_FROM_PACKAGE,
    PlanKind,
    Sku,
    host_blockers,
    refused_create,
    refused_settings,
    settings_list_to_map,
    sku_of,
)
from tests.fakes.arm import FakeArm, running_arm_server
from tests.fakes.blob_storage import FakeBlobStorage
from tests.fakes.durable_task_scheduler import FakeSchedulers
from tests.fakes.identities import (
    SiteIdentities,
    client_id_of,
    site_identities,
    storage_identity_blockers,
)
from tests.fakes.site_runtime import (
    HostState,
    PackageUnavailable,
    SiteRuntime,
    SiteSnapshot,
)
from tests.fakes.tls_server import Reply, Request, serve_https

__all__ = ["HOST_RUNTIME_ERROR", "FakeAppService", "HostState", "serve_fake_app_service"]

SUBSCRIPTION = "sub"
RESOURCE_GROUP = "rg"
# ARM's answer when it cannot reach the site's host: azure-functions-host#6255 ("Encountered an
# error from host runtime"), the full body as quoted in pulumi/pulumi-azure#565 and in
# MicrosoftDocs/azure-docs logic-apps troubleshooting ("Code: 'BadRequest', Message: 'Encountered
# an error (ServiceUnavailable) from host runtime.'").
HOST_RUNTIME_ERROR = "Encountered an error (ServiceUnavailable) from host runtime."
# ARM's 409 Conflict for a site operation while another one (here: the restart) is in progress:
# "Cannot modify this site because another operation is in progress. Details: Id: ...,
# OperationName: ..., CreatedTime: ..., RequestId: ..., EntityType: 3", as quoted in
# Azure/azure-functions-on-container-apps#34 and Azure/terraform-azurerm-avm-res-web-site#272.
OPERATION_IN_PROGRESS = "Cannot modify this site because another operation is in progress."


# The blob a one deploy leaves in a Flex app's deployment container.
ONE_DEPLOY_BLOB = "released-package.zip"

_PLAN = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/"
    r"serverfarms/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
_SITE_REST = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Web/sites/(?P<name>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)


class FakeAppService(FakeArm):
    """Plans, sites with real hosts, blob storage and schedulers behind one fake ARM."""

    def __init__(
        self,
        base_url: str,
        ca_path: Path,
        *,
        ca: trustme.CA,
        work_dir: Path,
        plans: Mapping[str, str],
        restart_seconds: float,
        blobs: FakeBlobStorage,
    ) -> None:
        super().__init__(base_url, ca_path)
        self.plans: dict[str, Sku] = {name.lower(): sku_of(sku) for name, sku in plans.items()}
        self._plan_names = {name.lower(): name for name in plans}
        self.restart_seconds = restart_seconds
        self.blobs = blobs
        self.schedulers = FakeSchedulers(base_url)
        # Key Vault secrets (secret URI -> value) and who may read them ("Key Vault Secrets User").
        self.key_vault: dict[str, str] = {}
        self._vault_readers: set[str] = set()
        # Data roles on storage accounts: (account, principal) pairs an operator granted.
        self._storage_roles: set[tuple[str, str]] = set()
        self._ca = ca
        self._work_dir = work_dir
        self._runtimes: dict[str, SiteRuntime] = {}
        self._site_config: dict[str, dict[str, Any]] = {}
        self._closing: list[threading.Thread] = []
        # One-deploy: the last package posted to each site's SCM host, and its deployments.
        self._deployed: dict[str, bytes] = {}
        self._deployments: dict[str, dict[str, Any]] = {}
        self._http = httpx.Client(verify=ssl.create_default_context(cafile=str(ca_path)), timeout=30.0, trust_env=False)

    # --- test controls -------------------------------------------------------------------

    def plan_id(self, name: str, *, subscription: str = SUBSCRIPTION, resource_group: str = RESOURCE_GROUP) -> str:
        """The ARM id of plan `name` (the fake finds plans by name, under any subscription)."""
        return (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Web/"
            f"serverfarms/{self._plan_names.get(name.lower(), name)}"
        )

    def runtime(self, site: str) -> SiteRuntime:
        """The running side of a site (its host's state, error, functions, keys)."""
        return self._runtimes[site.lower()]

    def site_config(self, site: str) -> dict[str, Any]:
        """The site's siteConfig as created (ARM does not return it on the site)."""
        return dict(self._site_config[site.lower()])

    def grant_storage_role(self, account: str, principal: str) -> None:
        """Storage Blob/Queue/Table Data roles on `account` for `principal` (a user-assigned
        identity's resource id, or `SystemAssigned:<site>`), as an operator grants them."""
        with self._lock:
            self._storage_roles.add((account.lower(), principal.lower()))

    def grant_key_vault(self, principal: str) -> None:
        """Key Vault Secrets User on the fake's one vault for `principal`."""
        with self._lock:
            self._vault_readers.add(principal.lower())

    def add_secret(self, secret_uri: str, value: str) -> None:
        with self._lock:
            self.key_vault[secret_uri.rstrip("/")] = value

    def set_state(self, name: str, state: str) -> None:
        """Stop (or start) a site as `POST .../stop` would: a stopped site runs no host."""
        super().set_state(name, state)
        with self._lock:
            runtime = self._runtimes.get(name.lower())
            if runtime is not None:
                runtime.change(self._snapshot(name.lower()))

    def add_scheduler(self, name: str, *, location: str = "westeurope") -> str:
        """A Durable Task Scheduler that exists before the test; returns its endpoint."""
        return self.schedulers.add(name, location=location)

    def close(self) -> None:
        with self._lock:
            runtimes, self._runtimes = list(self._runtimes.values()), {}
        for runtime in runtimes:
            runtime.close()
        for thread in self._closing:
            thread.join(timeout=60)
        self._http.close()

    # --- routes App Service adds to the fake ARM -----------------------------------------

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            if match := _PLAN.match(path):
                return self._plan(method, match)
            answer = self.schedulers.route(method, path, body)
            if answer is not None:
                return answer
            match = _SITE_REST.match(path)
            if match is not None and match["name"].lower() in self.sites:
                answer = self._site_route(method, match["name"].lower(), (match["rest"] or "").lower(), body)
                if answer is not None:
                    return answer
        return super()._route(method, path, body)

    def _plan(self, method: str, match: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        sku = self.plans.get(match["name"].lower())
        if method != "GET" or sku is None:
            return _error(
                404, "ResourceNotFound",
                f"The Resource 'Microsoft.Web/serverFarms/{match['name']}' under resource group "
                f"'{match['rg']}' was not found.",
            )  # fmt: skip
        name = self._plan_names[match["name"].lower()]
        elastic = sku.kind is PlanKind.ELASTIC_PREMIUM
        return 200, {}, {
            "id": self.plan_id(name, subscription=match["sub"], resource_group=match["rg"]),
            "name": name,
            "type": "Microsoft.Web/serverfarms",
            "kind": sku.plan_kind_field,
            "location": "westeurope",
            "sku": {"name": sku.name, "tier": sku.tier, "size": sku.name, "family": sku.family,
                    "capacity": 0 if sku.kind in (PlanKind.CONSUMPTION, PlanKind.FLEX_CONSUMPTION) else 1},
            "properties": {
                "reserved": True,  # Linux
                "maximumElasticWorkerCount": 20 if elastic else 1,
                "elasticScaleEnabled": elastic,
                "provisioningState": "Succeeded",
                "status": "Ready",
            },
        }  # fmt: skip

    def _site_route(self, method: str, key: str, rest: str, body: Any) -> tuple[int, dict[str, str], Any] | None:
        runtime = self._runtimes.get(key)
        if runtime is None:  # a site added by add_site: the plain fake ARM answers
            return None
        if rest == "/config/appsettings" and method == "PUT":
            settings = {str(k): str(v) for k, v in ((body or {}).get("properties") or {}).items()}
            refusal = refused_settings(self._sku_of(key), settings)
            if refusal is not None:
                return _error(refusal.status, refusal.code, refusal.message)
            changed = settings != self.app_settings.get(key)
            self.app_settings[key] = settings
            if changed:
                runtime.change(self._snapshot(key))
            return 200, {}, self._settings_resource(self.sites[key], key)
        if rest == "/host/default/listkeys" and method == "POST":
            keys = None if runtime.state is HostState.STOPPED else runtime.keys()
            if keys is None:
                return _error(400, "BadRequest", HOST_RUNTIME_ERROR)
            return 200, {}, keys
        if rest == "/syncfunctiontriggers" and method == "POST":
            if runtime.state is HostState.RESTARTING:
                details = (
                    f" Details: Id: {uuid.uuid4()}, OperationName: Restart, CreatedTime: "
                    f"{time.strftime('%m/%d/%Y %I:%M:%S %p', time.gmtime())}, RequestId: {uuid.uuid4()}, EntityType: 3"
                )
                return _error(409, "Conflict", OPERATION_IN_PROGRESS + details)
            if runtime.state is HostState.ERROR:
                return _error(400, "BadRequest", HOST_RUNTIME_ERROR)
            return 204, {}, None
        if rest in ("/stop", "/start") and method == "POST":
            self.sites[key]["properties"]["state"] = "Stopped" if rest == "/stop" else "Running"
            runtime.change(self._snapshot(key))
            return 200, {}, None
        if rest == "/restart" and method == "POST":
            self.sites[key]["properties"]["state"] = "Running"
            runtime.change(self._snapshot(key))
            return 200, {}, None
        if rest == "/functions" and method == "GET":
            return 200, {}, {"value": self._functions(key, runtime)}
        if rest == "" and method == "DELETE":
            del self.sites[key]
            self.app_settings.pop(key, None)
            self.host_keys.pop(key, None)
            self._runtimes.pop(key)
            closing = threading.Thread(target=runtime.close, name=f"close-{key}", daemon=True)
            closing.start()
            self._closing.append(closing)
            return 200, {}, None
        return None

    def _put_site(self, name: str, sub: str, rg: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        key = name.lower()
        properties = body.get("properties") or {}
        plan = str(properties.get("serverFarmId") or "").rstrip("/").split("/")[-1]
        sku = self.plans.get(plan.lower())
        if sku is None:
            return _error(
                404, "NotFound",
                f"The Resource 'Microsoft.Web/serverFarms/{plan or '(none)'}' under resource group '{rg}' was not found.",
            )  # fmt: skip
        refusal = refused_create(sku, properties)
        if refusal is not None:
            return _error(refusal.status, refusal.code, refusal.message)
        existing = key in self.sites
        answer = super()._put_site(name, sub, rg, body)
        if answer[0] >= 400:
            return answer
        site_config = dict(properties.get("siteConfig") or {})
        self._site_config[key] = site_config
        settings = settings_list_to_map(site_config.get("appSettings"))
        if sku.kind is PlanKind.ELASTIC_PREMIUM and settings.get(CONTENT_CONNECTION) and not settings.get(CONTENT_SHARE):
            # App Service makes the content share when the create names none (functions-app-settings.md).
            settings[CONTENT_SHARE] = f"{key[:50]}{secrets.token_hex(2)}"
        if not existing or settings:
            self.app_settings[key] = settings
        runtime = self._runtimes.get(key)
        if runtime is None:
            runtime = SiteRuntime(
                name, self._work_dir / "sites" / key, self._ca,
                restart_seconds=self.restart_seconds, fetch_package=self._fetch_package_of(key),
                scm_answer=lambda request, site=key: self._scm(site, request),
            )  # fmt: skip
            runtime.start()
            self._runtimes[key] = runtime
        assigned = (self.sites[key].get("identity") or {}).get("userAssignedIdentities") or {}
        for resource_id in assigned:
            # ARM answers each user-assigned identity with its principal and client ids.
            assigned[resource_id] = {"principalId": client_id_of(resource_id, "principal"),
                                     "clientId": client_id_of(resource_id)}  # fmt: skip
        host, scm_host = runtime.host_name, runtime.scm_url.removeprefix("https://")
        self.sites[key]["properties"].update({
            "defaultHostName": host,
            "hostNames": [host],
            "enabledHostNames": [host, scm_host],
            # Where clients find the SCM (Kudu) host: the Repository entry.
            "hostNameSslStates": [
                {"name": host, "sslState": "Disabled", "hostType": "Standard"},
                {"name": scm_host, "sslState": "Disabled", "hostType": "Repository"},
            ],
        })  # fmt: skip
        runtime.change(self._snapshot(key))
        return answer

    # --- helpers -------------------------------------------------------------------------

    def _sku_of(self, key: str) -> Sku:
        plan = str(self.sites[key]["properties"].get("serverFarmId") or "").split("/")[-1]
        return self.plans[plan.lower()]

    def _snapshot(self, key: str) -> SiteSnapshot:
        """What the next host of site `key` starts from (called under the lock)."""
        sku = self._sku_of(key)
        site = self.sites[key]
        identities = site_identities(key, site.get("identity"))
        raw = self.app_settings.get(key, {})
        settings, unresolved = self._resolve_references(key, raw, identities)
        function_app_config = site["properties"].get("functionAppConfig")
        blockers = host_blockers(
            sku, settings,
            reserved=bool(site["properties"].get("reserved")),
            site_config=self._site_config.get(key, {}),
            function_app_config=function_app_config,
        )  # fmt: skip
        blockers += [
            f"the Key Vault reference of {name} cannot be resolved ({why}); the host gets the reference text"
            for name, why in unresolved.items() if name in CONNECTION_SETTINGS
        ]  # fmt: skip
        blockers += storage_identity_blockers(settings, identities, self._storage_roles)
        blockers += self.schedulers.connection_blockers(settings, identities)
        if sku.kind is PlanKind.FLEX_CONSUMPTION:
            # The platform sets what Flex refuses as settings, from functionAppConfig.runtime.
            settings.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
            settings.setdefault("FUNCTIONS_EXTENSION_VERSION", "~4")
        package = settings.get(RUN_FROM_PACKAGE, "")
        return SiteSnapshot(
            settings, tuple(blockers),
            has_package=package.lower().startswith(("https://", "http://")) or key in self._deployed,
            stopped=site["properties"].get("state") == "Stopped",
        )  # fmt: skip

    def _resolve_references(
        self, key: str, settings: Mapping[str, str], identities: SiteIdentities
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Settings with Key Vault references resolved (app-service-key-vault-references.md:
        `@Microsoft.KeyVault(SecretUri=...)`, read with `keyVaultReferenceIdentity`, by default
        the system identity). An unresolved reference reaches the app as its own text, as App
        Service leaves it; the second map says which and why."""
        site = self.sites[key]
        reference_identity = str(site["properties"].get("keyVaultReferenceIdentity") or "SystemAssigned")
        principal = identities.principal_of(reference_identity)
        resolved, unresolved = {}, {}
        for name, value in settings.items():
            match = re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=(?P<uri>[^)]+)\)", value.strip())
            if match is None:
                resolved[name] = value
                continue
            secret = self.key_vault.get(match["uri"].rstrip("/"))
            if principal is None:
                unresolved[name] = f"the reference identity {reference_identity} is not assigned to the site"
            elif principal not in self._vault_readers:
                unresolved[name] = f"{reference_identity} may not read the vault's secrets"
            elif secret is None:
                unresolved[name] = "no such secret"
            resolved[name] = value if name in unresolved else str(secret)
        return resolved, unresolved

    def _fetch_package_of(self, key: str):
        def fetch(snapshot: SiteSnapshot) -> bytes:
            url = snapshot.settings.get(RUN_FROM_PACKAGE, "")
            if not url.lower().startswith("https://") and key in self._deployed:
                return self._read_deployed(key)
            if not url.lower().startswith("https://"):
                raise PackageUnavailable("WEBSITE_RUN_FROM_PACKAGE must be an https URL")
            headers = {"x-ms-version": "2024-11-04"}
            identity = snapshot.settings.get(PACKAGE_IDENTITY)
            if identity:
                principal = self._principal(key, identity)
                if principal is None:
                    raise PackageUnavailable(
                        f"{PACKAGE_IDENTITY} names an identity that is not assigned to the site"
                    )
                headers["Authorization"] = f"Bearer {self.blobs.token_for(principal)}"
            try:
                response = self._http.get(url, headers=headers)
            except httpx.HTTPError as err:
                raise PackageUnavailable(f"{type(err).__name__} reading {url.split('?')[0]}") from None
            if response.status_code != 200:
                code = response.headers.get("x-ms-error-code", "")
                raise PackageUnavailable(f"HTTP {response.status_code} {code} reading {url.split('?')[0]}")
            return response.content

        return fetch

    # --- one-deploy (the SCM host) ------------------------------------------------------

    def _scm(self, key: str, request: Request) -> Reply:
        """The site's SCM host: `POST /api/publish` (one deploy, the only way to deploy a Flex
        app: flex-consumption-how-to.md) and `GET /api/deployments/{id|latest}`. It takes an
        Entra bearer token, as Kudu does for ARM callers."""
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Reply(401, {"Content-Type": "text/plain"}, b"Unauthorized")
        path = urlsplit(request.target).path.rstrip("/").lower()
        if request.method == "POST" and path == "/api/publish":
            return self._one_deploy(key, request.body)
        if request.method == "GET" and path.startswith("/api/deployments/"):
            return self._deployment_status(key, path.rsplit("/", 1)[1])
        return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")

    def _one_deploy(self, key: str, package: bytes) -> Reply:
        if not zipfile.is_zipfile(io.BytesIO(package)):
            return Reply(400, {"Content-Type": "text/plain"}, b"The request body is not a zip package.")
        with self._lock:
            runtime = self._runtimes.get(key)
            if runtime is None or key not in self.sites:
                return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
            if self.app_settings.get(key, {}).get(RUN_FROM_PACKAGE, "").lower().startswith("https://"):
                # Kudu's refusal while the app runs from a package URL.
                message = (
                    b"Run-From-Zip is set to a remote URL using WEBSITE_RUN_FROM_PACKAGE or WEBSITE_USE_ZIP "
                    b"app setting. Deployment is not supported in this configuration."
                )
                return Reply(409, {"Content-Type": "text/plain"}, message)
            container = self._deployment_container(key)
            if container and self.blobs.contains(container):
                self.blobs.put(*_container_and_blob(container, ONE_DEPLOY_BLOB), package)
            self._deployed[key] = package
            deployment = uuid.uuid4().hex
            change = runtime.change(self._snapshot(key))
            self._deployments[key] = {"id": deployment, "change": change}
        scm = runtime.scm_url
        return Reply(202, {"Location": f"{scm}/api/deployments/{deployment}", "Content-Type": "application/json"},
                     json.dumps({"id": deployment}).encode())  # fmt: skip

    def _deployment_status(self, key: str, deployment: str) -> Reply:
        """Kudu's deployment status: 1 building, 3 failed, 4 success (DeployStatus)."""
        with self._lock:
            latest, runtime = self._deployments.get(key), self._runtimes.get(key)
        if latest is None or runtime is None or deployment not in ("latest", latest["id"]):
            return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
        complete = runtime.settled(latest["change"])
        ok = runtime.state is HostState.RUNNING
        status = 1 if not complete else 4 if ok else 3
        body = {"id": latest["id"], "status": status, "complete": complete, "active": complete and ok,
                "status_text": "" if ok or not complete else runtime.error}  # fmt: skip
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _deployment_container(self, key: str) -> str:
        config = self.sites[key]["properties"].get("functionAppConfig") or {}
        return str(((config.get("deployment") or {}).get("storage") or {}).get("value") or "").rstrip("/")

    def _read_deployed(self, key: str) -> bytes:
        """A one-deployed package, read from the deployment container with the identity its
        `authentication` names (a Flex app's host reads it so), or kept in memory."""
        with self._lock:
            container = self._deployment_container(key)
            config = self.sites[key]["properties"].get("functionAppConfig") or {}
            identity = self.sites[key].get("identity")
            package = self._deployed[key]
        if not container or not self.blobs.contains(container):
            return package
        auth = (((config.get("deployment") or {}).get("storage") or {}).get("authentication") or {})
        kind = str(auth.get("type", "")).lower()
        headers = {"x-ms-version": "2024-11-04"}
        if kind in ("systemassignedidentity", "userassignedidentity"):
            named = "SystemAssigned" if kind == "systemassignedidentity" else str(auth.get("userAssignedIdentityResourceId", ""))
            principal = site_identities(key, identity).principal_of(named)
            if principal is None:
                raise PackageUnavailable(f"the deployment storage identity {named} is not assigned to the site")
            headers["Authorization"] = f"Bearer {self.blobs.token_for(principal)}"
        url = f"{container}/{ONE_DEPLOY_BLOB}"
        if "Authorization" not in headers:
            # StorageAccountConnectionString: the account key signs the read, as a SAS does.
            url = self.blobs.sas_url(*_container_and_blob(container, ONE_DEPLOY_BLOB))
        response = self._http.get(url, headers=headers)
        if response.status_code != 200:
            raise PackageUnavailable(
                f"HTTP {response.status_code} {response.headers.get('x-ms-error-code', '')} reading {url}"
            )
        return response.content

    def _principal(self, key: str, identity: str) -> str | None:
        """The principal the site authenticates as for WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID."""
        with self._lock:
            site_identity = (self.sites.get(key) or {}).get("identity")
        return site_identities(key, site_identity).principal_of(identity)

    def _functions(self, key: str, runtime: SiteRuntime) -> list[dict[str, Any]]:
        site_id = self.sites[key]["id"]
        return [
            {
                "id": f"{site_id}/functions/{fn.name}",
                "name": f"{self.sites[key]['name']}/{fn.name}",
                "type": "Microsoft.Web/sites/functions",
                "properties": {
                    "name": fn.name,
                    "language": "python",
                    "isDisabled": False,
                    "config": {"bindings": [{"type": fn.trigger, "direction": "in"}]},
                },
            }
            for fn in (runtime.functions if runtime.state is HostState.RUNNING else ())
        ]


def _container_and_blob(container_url: str, blob: str) -> tuple[str, str]:
    """(container path inside the account, blob name) for FakeBlobStorage.put."""
    return urlsplit(container_url).path.strip("/"), blob


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"error": {"code": code, "message": message}}


@contextmanager
def serve_fake_app_service(
    work_dir: Path,
    *,
    plans: Mapping[str, str],
    restart_seconds: float = 0.2,
    schedulers: tuple[str, ...] = (),
) -> Iterator[FakeAppService]:
    """Run a fake App Service (ARM, blob storage, sites' hosts) until the `with` block ends."""
    work_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_path = work_dir / "fake-app-service-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    blobs = FakeBlobStorage()
    with ExitStack() as stack:
        blobs.base_url = stack.enter_context(serve_https(ca, blobs.answer, name="fake-blob"))
        fake = stack.enter_context(
            running_arm_server(
                ca,
                lambda base_url: FakeAppService(
                    base_url, ca_path, ca=ca, work_dir=work_dir, plans=plans,
                    restart_seconds=restart_seconds, blobs=blobs,
                ),
            )
        )  # fmt: skip
        stack.callback(fake.close)
        for name in schedulers:
            fake.add_scheduler(name)
        yield fake
