"""The fake App Service itself: plans, refusals, real hosts behind HTTPS host names, the restart
window, keys, package reads and Durable Task Scheduler resources, through the real azure-mgmt-*
clients where the router uses them and plain HTTPS elsewhere."""

from __future__ import annotations

import asyncio
import io
import ssl
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.durabletask.aio import DurableTaskMgmtClient
from azure.mgmt.web.aio import WebSiteManagementClient

from samples.build import app_dir, build_package
from tests.fakes.app_service import (
    HOST_RUNTIME_ERROR,
    OPERATION_IN_PROGRESS,
    FakeAppService,
    HostState,
    serve_fake_app_service,
)
from tests.fakes.arm import StaticTokenCredential
from tests.fakes.identities import client_id_of

T = TypeVar("T")
PLANS = {"plan-y1": "Y1", "plan-ep": "EP1", "plan-p1": "P1v3", "plan-fc": "FC1"}
API = "api-version=2025-05-01"
DURABLE_KEY = "durabletask_extension"
IDENTITY = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/lanes"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAppService]:
    """One fake for the module (each test makes its own sites); sub-second restarts."""
    with serve_fake_app_service(
        tmp_path_factory.mktemp("app-service"), plans=PLANS, restart_seconds=0.2, schedulers=("dts",)
    ) as app_service:
        yield app_service


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Sample 1.0.0 as a deployable package (with its .python_packages), built once."""
    return build_package("1.0.0", tmp_path_factory.mktemp("packages")).read_bytes()


def new_name() -> str:
    return f"site-{uuid.uuid4().hex[:10]}"


def arm(fake: FakeAppService) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(fake.ca_path)), headers={"Authorization": "Bearer t"}, timeout=30, trust_env=False)


def site_url(fake: FakeAppService, name: str, rest: str = "") -> str:
    return f"{fake.base_url}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/{name}{rest}?{API}"


def create_body(fake: FakeAppService, plan: str = "plan-p1", *, package_url: str | None = None,
                identity: dict[str, Any] | None = None, **settings: str) -> dict[str, Any]:  # fmt: skip
    values = {
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=lanes;AccountKey=a2V5",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        **settings,
    }
    if package_url is not None:
        values["WEBSITE_RUN_FROM_PACKAGE"] = package_url
    body: dict[str, Any] = {
        "location": "westeurope",
        "kind": "functionapp,linux",
        "properties": {
            "serverFarmId": fake.plan_id(plan),
            "reserved": True,
            "siteConfig": {
                "linuxFxVersion": "Python|3.11",
                "appSettings": [{"name": k, "value": v} for k, v in values.items()],
            },
        },
    }
    if identity is not None:
        body["identity"] = identity
    return body


def create(fake: FakeAppService, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT the site through the real azure-mgmt-web client (its LRO polled to the end)."""

    async def scenario(client: WebSiteManagementClient) -> Any:
        poller = await client.web_apps.begin_create_or_update("rg", name, body)
        return (await poller.result()).as_dict()

    return with_web(fake, scenario)


def with_web(fake: FakeAppService, scenario: Callable[[WebSiteManagementClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with WebSiteManagementClient(
            StaticTokenCredential(), "sub", base_url=fake.base_url,
            connection_verify=str(fake.ca_path), polling_interval=0.01,
        ) as client:  # fmt: skip
            return await scenario(client)

    return asyncio.run(main())


def list_keys(fake: FakeAppService, name: str) -> dict[str, Any]:
    async def scenario(client: WebSiteManagementClient) -> Any:
        return (await client.web_apps.list_host_keys("rg", name)).as_dict()

    return with_web(fake, scenario)


def sas_package(fake: FakeAppService, data: bytes) -> str:
    blob = f"{uuid.uuid4().hex}.zip"
    fake.blobs.put("packages", blob, data)
    return fake.blobs.sas_url("packages", blob)


# --- plans and refusals ------------------------------------------------------------------------


def test_plans_answer_with_their_sku_through_azure_mgmt_web(fake: FakeAppService) -> None:
    # functions-infrastructure-as-code.md: Y1/Dynamic, EP1/ElasticPremium, FC1/FlexConsumption,
    # dedicated tiers such as P1v3/PremiumV3; Linux plans have properties.reserved true.
    async def scenario(client: WebSiteManagementClient) -> dict[str, tuple[str, str, bool]]:
        plans = {}
        for name in PLANS:
            plan = await client.app_service_plans.get("rg", name)
            plans[name] = (plan.sku.name, plan.sku.tier, plan.reserved)
        return plans

    assert with_web(fake, scenario) == {
        "plan-y1": ("Y1", "Dynamic", True),
        "plan-ep": ("EP1", "ElasticPremium", True),
        "plan-p1": ("P1v3", "PremiumV3", True),
        "plan-fc": ("FC1", "FlexConsumption", True),
    }


def test_a_site_on_an_unknown_plan_is_not_found(fake: FakeAppService) -> None:
    body = create_body(fake)
    body["properties"]["serverFarmId"] = fake.plan_id("no-such-plan")
    with arm(fake) as client:
        response = client.put(site_url(fake, new_name()), json=body)
    assert response.status_code == 404
    assert "Microsoft.Web/serverFarms/no-such-plan" in response.json()["error"]["message"]


def test_flex_refuses_worker_runtime_at_create_and_in_app_settings(fake: FakeAppService) -> None:
    # functions-app-settings.md#flex-consumption-plan-deprecations, and the ARM text quoted in
    # public reports ("The following app setting (Site.SiteConfig.AppSettings.FUNCTIONS_WORKER_RUNTIME)
    # for Flex Consumption sites is invalid. Please remove or rename it before retrying.").
    name = new_name()
    body = create_body(fake, "plan-fc")
    del body["properties"]["siteConfig"]["linuxFxVersion"]
    body["properties"]["functionAppConfig"] = {
        "deployment": {"storage": {"type": "blobContainer", "value": f"{fake.blobs.base_url}/deploy"}},
        "runtime": {"name": "python", "version": "3.11"},
    }
    with pytest.raises(HttpResponseError) as refused:
        create(fake, name, body)
    assert refused.value.status_code == 400
    assert "The following list of 2 app settings" in str(refused.value)

    body["properties"]["siteConfig"]["appSettings"] = [{"name": "AzureWebJobsStorage__accountName", "value": "lanes"}]
    created = create(fake, name, body)
    assert created["properties"]["functionAppConfig"]["runtime"]["name"] == "python"
    with arm(fake) as client:
        response = client.put(site_url(fake, name, "/config/appsettings"),
                              json={"properties": {"FUNCTIONS_WORKER_RUNTIME": "python"}})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "The following app setting (Site.SiteConfig.AppSettings.FUNCTIONS_WORKER_RUNTIME) for Flex "
        "Consumption sites is invalid. Please remove or rename it before retrying."
    )


def test_always_on_on_consumption_is_a_conflict(fake: FakeAppService) -> None:
    # "There was a conflict. AlwaysOn cannot be set for this site as the plan does not allow it."
    body = create_body(fake, "plan-y1")
    body["properties"]["siteConfig"]["alwaysOn"] = True
    with pytest.raises(HttpResponseError) as refused:
        create(fake, new_name(), body)
    assert refused.value.status_code == 409
    assert "AlwaysOn cannot be set for this site as the plan does not allow it" in str(refused.value)


def test_create_settings_become_the_apps_settings_and_premium_gets_a_content_share(fake: FakeAppService) -> None:
    # functions-app-settings.md WEBSITE_CONTENTSHARE: generated at creation when omitted.
    name = new_name()
    create(fake, name, create_body(fake, "plan-ep", WEBSITE_CONTENTAZUREFILECONNECTIONSTRING="conn"))
    settings = fake.app_settings[name]
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert settings["WEBSITE_CONTENTSHARE"].startswith(name)
    assert fake.runtime(name).wait_for(HostState.NO_CONTENT) is HostState.NO_CONTENT


def test_a_host_without_storage_never_starts_and_arm_says_host_runtime_error(fake: FakeAppService) -> None:
    # azure-functions-host#6255: with a broken AzureWebJobsStorage, listKeys fails with
    # "Encountered an error from host runtime" (400 BadRequest "(ServiceUnavailable)", as quoted in
    # pulumi/pulumi-azure#565).
    name = new_name()
    body = create_body(fake, package_url="https://127.0.0.1:9/never-read.zip")
    body["properties"]["siteConfig"]["appSettings"] = [
        item for item in body["properties"]["siteConfig"]["appSettings"] if item["name"] != "AzureWebJobsStorage"
    ]
    create(fake, name, body)
    runtime = fake.runtime(name)
    assert runtime.wait_for(HostState.ERROR) is HostState.ERROR
    assert "AzureWebJobsStorage is missing" in runtime.error
    with pytest.raises(HttpResponseError) as refused:
        list_keys(fake, name)
    assert refused.value.status_code == 400
    assert HOST_RUNTIME_ERROR in str(refused.value)


# --- real hosts --------------------------------------------------------------------------------


def test_a_site_runs_its_package_behind_its_host_name_and_survives_a_restart(
    fake: FakeAppService, package: bytes
) -> None:
    name = new_name()
    site = create(fake, name, create_body(fake, package_url=sas_package(fake, package)))
    host = site["properties"]["defaultHostName"]
    assert host.startswith("127.0.0.1:")
    runtime = fake.runtime(name)

    # While the host restarts: listkeys is the host-runtime error, sync triggers a 409.
    with pytest.raises(HttpResponseError, match="from host runtime"):
        list_keys(fake, name)
    with arm(fake) as client:
        conflict = client.post(site_url(fake, name, "/syncfunctiontriggers"))
        assert conflict.status_code == 409
        assert conflict.json()["error"]["message"].startswith(OPERATION_IN_PROGRESS)

    assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.RUNNING, runtime.error
    keys = list_keys(fake, name)
    system_key = keys["systemKeys"][DURABLE_KEY]
    with arm(fake) as client:
        assert client.post(site_url(fake, name, "/syncfunctiontriggers")).status_code == 204
        functions = client.get(site_url(fake, name, "/functions")).json()["value"]
        assert {"process_order": "orchestrationTrigger"}.items() <= {
            f["properties"]["name"]: f["properties"]["config"]["bindings"][0]["type"] for f in functions
        }.items()
        indexed = client.get(f"https://{host}/admin/functions", headers={"x-functions-key": keys["masterKey"]})
        assert "orchestrationTrigger" in {b["type"] for f in indexed.json() for b in f["config"]["bindings"]}
        lane = f"https://{host}/runtime/webhooks/durabletask"
        started = client.post(f"{lane}/orchestrators/process_order", headers={"x-functions-key": system_key},
                              json={"order_id": "o-1", "pickup_seconds": 3600})  # fmt: skip
        assert started.status_code == 202
        assert started.json()["statusQueryGetUri"].startswith(f"https://{host}/")
        instance = started.json()["id"]
        assert client.get(f"{lane}/instances/{instance}").status_code == 401  # keys are checked
        runtime.fail("GET", r"/instances/", 502)
        assert client.get(f"{lane}/instances/{instance}", headers={"x-functions-key": system_key}).status_code == 502
        assert ("GET", f"/runtime/webhooks/durabletask/instances/{instance}", 502) in {
            (r.method, r.path, r.status) for r in runtime.requests
        }

        # A settings change restarts the host: the front door keeps its port and answers 503.
        changed = client.put(site_url(fake, name, "/config/appsettings"),
                             json={"properties": {**fake.app_settings[name], "EXTRA": "1"}})  # fmt: skip
        assert changed.status_code == 200
        assert client.get(f"{lane}/instances/{instance}", headers={"x-functions-key": system_key}).status_code == 503
        with pytest.raises(HttpResponseError, match="from host runtime"):
            list_keys(fake, name)
        assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.RUNNING, runtime.error
        assert runtime.restarts == 2
        # The instance survived the restart (same data dir), and the keys did not change.
        status = client.get(f"{lane}/instances/{instance}", headers={"x-functions-key": system_key})
        # (202: the Durable HTTP API's answer for an instance still running)
        assert status.status_code == 202 and status.json()["runtimeStatus"] in ("Running", "Pending")
    assert list_keys(fake, name)["systemKeys"][DURABLE_KEY] == system_key


def test_a_package_without_its_dependencies_loads_no_function(tmp_path: Path) -> None:
    # A package run from a URL gets no remote build (run-functions-from-deployment-package.md);
    # the Python worker then fails to import the app's dependencies, so no function is indexed and
    # the Durable extension has nothing to start: no durabletask_extension key.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(app_dir("1.0.0").iterdir()):
            if path.is_file() and path.name != "local.settings.json":
                archive.write(path, path.name)
    with serve_fake_app_service(tmp_path / "fake", plans=PLANS, restart_seconds=0.1) as own:
        name = new_name()
        create(own, name, create_body(own, package_url=sas_package(own, buffer.getvalue())))
        runtime = own.runtime(name)
        state = runtime.wait_for(HostState.RUNNING, HostState.ERROR)
        assert runtime.functions == ()
        reported = runtime.error + str(runtime.host_status)
        assert "azure.durable_functions" in reported and ".python_packages" in reported
        if state is HostState.RUNNING:  # the host serves on, as App Service's does
            assert DURABLE_KEY not in list_keys(own, name)["systemKeys"]
        process = runtime.process
    # Leaving the block stops every host.
    assert process is None or process.poll() is not None


def test_a_managed_identity_package_needs_a_reader_role(fake: FakeAppService, package: bytes) -> None:
    # run-functions-from-deployment-package.md: WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID names
    # the identity the site reads the blob with; the identity needs Storage Blob Data Reader.
    name = new_name()
    blob = f"{uuid.uuid4().hex}.zip"
    plain_url = fake.blobs.put("packages", blob, package)
    identity = {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    create(fake, name, create_body(fake, package_url=plain_url, identity=identity,
                                   WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID=IDENTITY))  # fmt: skip
    runtime = fake.runtime(name)
    assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.ERROR
    assert "403 AuthorizationPermissionMismatch" in runtime.error

    fake.blobs.grant_reader(IDENTITY)
    with arm(fake) as client:
        assert client.post(site_url(fake, name, "/restart")).status_code == 200
    assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.RUNNING, runtime.error
    assert fake.blobs.reads[-1].auth == f"bearer:{IDENTITY.lower()}"

    # A host that dies is started again by the platform.
    killed = runtime.process
    runtime.crash()
    assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.RUNNING, runtime.error
    assert killed.poll() is not None and runtime.process is not killed


def test_blob_reads_need_a_sas_or_a_token(fake: FakeAppService) -> None:
    # Blob service error codes (learn.microsoft.com/rest/api/storageservices/blob-service-error-codes):
    # a private blob read anonymously is 404 ResourceNotFound, a forged signature 403
    # AuthenticationFailed.
    url = fake.blobs.put("packages", "private.zip", b"zip")
    reader = f"{IDENTITY}-reader"
    fake.blobs.accept_token("router-token", reader)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(fake.ca_path)), trust_env=False) as client:
        anonymous = client.get(url)
        forged = client.get(url + "?sv=2024-11-04&sig=forged")
        signed = client.get(fake.blobs.sas_url("packages", "private.zip"))
        no_role = client.get(url, headers={"Authorization": "Bearer router-token"})
        fake.blobs.grant_reader(reader)
        with_role = client.get(url, headers={"Authorization": "Bearer router-token"})
    assert (anonymous.status_code, anonymous.headers["x-ms-error-code"]) == (404, "ResourceNotFound")
    assert (forged.status_code, forged.headers["x-ms-error-code"]) == (403, "AuthenticationFailed")
    assert (signed.status_code, signed.content) == (200, b"zip")
    assert (no_role.status_code, no_role.headers["x-ms-error-code"]) == (403, "AuthorizationPermissionMismatch")
    assert (with_role.status_code, with_role.content) == (200, b"zip")


def test_faults_of_the_fake_arm_still_apply(fake: FakeAppService) -> None:
    fake.fail("GET", r"/serverfarms/plan-y1$", 429, retry_after=0)
    with arm(fake) as client:
        first = client.get(f"{fake.base_url}{fake.plan_id('plan-y1')}?{API}")
        second = client.get(f"{fake.base_url}{fake.plan_id('plan-y1')}?{API}")
    assert (first.status_code, second.status_code) == (429, 200)
    assert first.headers["Retry-After"] == "0"


# --- identities, Key Vault references, data roles (no package: no host needed) -------------------


def identity_storage_settings(account: str = "lanestore") -> dict[str, str]:
    # functions-reference.md "Connecting to host storage with an identity".
    return {"AzureWebJobsStorage__accountName": account, "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": client_id_of(IDENTITY)}  # fmt: skip


def create_without_connection_string(fake: FakeAppService, name: str, **settings: str) -> dict[str, Any]:
    body = create_body(fake, identity={"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}, **settings)
    config = body["properties"]["siteConfig"]
    config["appSettings"] = [item for item in config["appSettings"] if item["name"] != "AzureWebJobsStorage"]
    return create(fake, name, body)


def test_identity_based_storage_needs_a_data_role_for_that_identity(fake: FakeAppService) -> None:
    # functions-reference.md: the identity of an identity-based AzureWebJobsStorage needs data
    # roles on the account (Storage Blob Data Owner, Storage Queue Data Contributor, ...).
    name = new_name()
    account = f"acct{uuid.uuid4().hex[:6]}"
    site = create_without_connection_string(fake, name, **identity_storage_settings(account))
    assigned = site["identity"]["userAssignedIdentities"]
    assert [entry["clientId"] for entry in assigned.values()] == [client_id_of(IDENTITY)]
    runtime = fake.runtime(name)
    assert runtime.wait_for(HostState.ERROR) is HostState.ERROR
    assert f"holds no data role on storage account {account!r}" in runtime.error

    fake.grant_storage_role(account, IDENTITY)
    with arm(fake) as client:
        assert client.post(site_url(fake, name, "/restart")).status_code == 200
    assert runtime.wait_for(HostState.NO_CONTENT, HostState.ERROR) is HostState.NO_CONTENT, runtime.error


def test_a_stopped_site_runs_no_host_and_says_so(fake: FakeAppService) -> None:
    # A stopped app's front end answers "Error 403 - This web app is stopped."; ARM cannot reach
    # its host for keys.
    name = new_name()
    site = create(fake, name, create_body(fake))
    runtime = fake.runtime(name)
    with arm(fake) as client:
        assert client.post(site_url(fake, name, "/stop")).status_code == 200
        assert runtime.wait_for(HostState.STOPPED) is HostState.STOPPED
        stopped = client.get(f"https://{site['properties']['defaultHostName']}/")
        assert stopped.status_code == 403 and b"This web app is stopped" in stopped.content
        assert client.get(site_url(fake, name)).json()["properties"]["state"] == "Stopped"
    with pytest.raises(HttpResponseError, match="from host runtime"):
        list_keys(fake, name)
    fake.set_state(name, "Running")
    assert runtime.wait_for(HostState.NO_CONTENT, HostState.ERROR) is HostState.NO_CONTENT, runtime.error


def test_a_key_vault_reference_resolves_only_with_a_reader_identity(fake: FakeAppService) -> None:
    # app-service-key-vault-references.md: resolved with keyVaultReferenceIdentity; an
    # unresolved reference reaches the app as its text, which is no connection string.
    name = new_name()
    secret = f"https://vault.vault.azure.net/secrets/{uuid.uuid4().hex[:8]}"
    fake.add_secret(secret, "DefaultEndpointsProtocol=https;AccountName=lanes;AccountKey=a2V5")
    body = create_body(fake, identity={"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}},
                       AzureWebJobsStorage=f"@Microsoft.KeyVault(SecretUri={secret})")  # fmt: skip
    body["properties"]["keyVaultReferenceIdentity"] = IDENTITY
    create(fake, name, body)
    runtime = fake.runtime(name)
    assert runtime.wait_for(HostState.ERROR) is HostState.ERROR
    assert "Key Vault reference of AzureWebJobsStorage cannot be resolved" in runtime.error

    fake.grant_key_vault(IDENTITY)
    with arm(fake) as client:
        assert client.post(site_url(fake, name, "/restart")).status_code == 200
    assert runtime.wait_for(HostState.NO_CONTENT, HostState.ERROR) is HostState.NO_CONTENT, runtime.error


def test_a_scheduler_task_hub_must_exist_and_admit_the_identity(fake: FakeAppService) -> None:
    # Durable Task Scheduler docs (durable-task-scheduler-identity.md): storageProvider type
    # azureManaged, a connection "Endpoint=...;Authentication=ManagedIdentity;ClientID=...", the
    # identity with the Durable Task Data Contributor role on the scheduler.
    name, hub = new_name(), f"hub{uuid.uuid4().hex[:6]}"
    scheduler = f"dts{uuid.uuid4().hex[:4]}"
    endpoint = fake.add_scheduler(scheduler)
    provider = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
    settings = {
        provider + "type": "azureManaged",
        provider + "connectionStringName": "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
        "DURABLE_TASK_SCHEDULER_CONNECTION_STRING":
            f"Endpoint={endpoint};Authentication=ManagedIdentity;ClientID={client_id_of(IDENTITY)}",
        "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
    }  # fmt: skip
    body = create_body(fake, identity={"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}, **settings)
    create(fake, name, body)
    runtime = fake.runtime(name)
    assert runtime.wait_for(HostState.ERROR) is HostState.ERROR
    assert f"task hub {hub!r} does not exist" in runtime.error

    with arm(fake) as client:
        hub_url = (f"{fake.base_url}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.DurableTask/"
                   f"schedulers/{scheduler}/taskHubs/{hub}?api-version=2026-02-01")  # fmt: skip
        assert client.put(hub_url, json={"properties": {}}).status_code in (200, 201)
        assert client.post(site_url(fake, name, "/restart")).status_code == 200
        assert runtime.wait_for(HostState.ERROR) is HostState.ERROR
        assert "no Durable Task data role" in runtime.error
        fake.schedulers.grant(scheduler, IDENTITY)
        assert client.post(site_url(fake, name, "/restart")).status_code == 200
    assert runtime.wait_for(HostState.NO_CONTENT, HostState.ERROR) is HostState.NO_CONTENT, runtime.error


# --- one deploy (Flex Consumption) ---------------------------------------------------------------


def scm_host(site: dict[str, Any]) -> str:
    # The SCM (Kudu) host is the site's Repository host name.
    return next(h["name"] for h in site["properties"]["hostNameSslStates"] if h["hostType"] == "Repository")


def test_a_flex_app_runs_what_one_deploy_put_in_its_deployment_container(fake: FakeAppService, package: bytes) -> None:
    # flex-consumption-how-to.md: a Flex app is deployed by one deploy (POST /api/publish on its
    # SCM host) into the blob container of functionAppConfig.deployment.storage, read with the
    # identity its `authentication` names (here the system identity, which needs a data role).
    name = new_name()
    container = f"deploy-{uuid.uuid4().hex[:8]}"
    body = create_body(fake, "plan-fc", identity={"type": "SystemAssigned"})
    config = body["properties"]["siteConfig"]
    del config["linuxFxVersion"]
    config["appSettings"] = [i for i in config["appSettings"] if not i["name"].startswith("FUNCTIONS_")]
    body["properties"]["functionAppConfig"] = {
        "deployment": {"storage": {"type": "blobContainer", "value": f"{fake.blobs.base_url}/{container}",
                                   "authentication": {"type": "SystemAssignedIdentity"}}},
        "runtime": {"name": "python", "version": "3.11"},
    }  # fmt: skip
    site = create(fake, name, body)
    runtime = fake.runtime(name)
    assert runtime.wait_for(HostState.NO_CONTENT) is HostState.NO_CONTENT
    publish = f"https://{scm_host(site)}/api/publish?RemoteBuild=false"
    with arm(fake) as client:
        assert client.post(publish, content=package, headers={"Authorization": ""}).status_code == 401
        refused = client.post(publish, content=package)
        assert refused.status_code == 202
        assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.ERROR
        assert "403 AuthorizationPermissionMismatch" in runtime.error
        failed = client.get(refused.headers["Location"]).json()
        assert (failed["complete"], failed["status"]) == (True, 3)

        fake.blobs.grant_reader(f"SystemAssigned:{name}")
        accepted = client.post(publish, content=package)
        assert accepted.status_code == 202
        assert runtime.wait_for(HostState.RUNNING, HostState.ERROR) is HostState.RUNNING, runtime.error
        done = client.get(f"https://{scm_host(site)}/api/deployments/latest").json()
        assert (done["complete"], done["status"]) == (True, 4)
    assert DURABLE_KEY in list_keys(fake, name)["systemKeys"]


def test_one_deploy_is_refused_while_the_app_runs_from_a_package_url(fake: FakeAppService) -> None:
    # Kudu's answer when WEBSITE_RUN_FROM_PACKAGE is a URL: "Run-From-Zip is set to a remote URL
    # using WEBSITE_RUN_FROM_PACKAGE or WEBSITE_USE_ZIP app setting. Deployment is not supported
    # in this configuration." (409).
    name = new_name()
    site = create(fake, name, create_body(fake, "plan-y1", package_url="https://127.0.0.1:9/unread.zip"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("host.json", "{}")
    with arm(fake) as client:
        refused = client.post(f"https://{scm_host(site)}/api/publish", content=buffer.getvalue())
        not_zip = client.post(f"https://{scm_host(site)}/api/publish", content=b"not a zip")
    assert refused.status_code == 409 and b"Deployment is not supported in this configuration" in refused.content
    assert not_zip.status_code == 400


# --- Durable Task Scheduler --------------------------------------------------------------------


def test_task_hubs_are_created_and_deleted_through_azure_mgmt_durabletask(fake: FakeAppService) -> None:
    # azure-mgmt-durabletask 1.1.0 (api-version 2026-02-01): create is an LRO (201 +
    # Azure-AsyncOperation), delete too (202 + Location).
    hub = f"lane{uuid.uuid4().hex[:6]}"

    async def scenario() -> tuple[str, str, list[str], list[str]]:
        async with DurableTaskMgmtClient(StaticTokenCredential(), "sub", base_url=fake.base_url,
                                         connection_verify=str(fake.ca_path), polling_interval=0.01) as client:  # fmt: skip
            scheduler = await client.schedulers.get("rg", "dts")
            created = await (await client.task_hubs.begin_create_or_update("rg", "dts", hub, {"properties": {}})).result()
            during = fake.schedulers.task_hubs("dts")
            await (await client.task_hubs.begin_delete("rg", "dts", hub)).result()
            return scheduler.properties.endpoint, created.properties.provisioning_state, during, fake.schedulers.task_hubs("dts")

    endpoint, state, during, after = asyncio.run(scenario())
    assert endpoint.startswith("https://dts-") and endpoint.endswith(".durabletask.io")
    assert state == "Succeeded"
    assert hub in during and hub not in after
    assert {r.api_version for r in fake.requests if "Microsoft.DurableTask" in r.path} == {"2026-02-01"}
