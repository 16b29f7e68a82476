"""The Azure backend against a local HTTPS fake ARM, through the real azure-mgmt-web client."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.identity import CredentialUnavailableError

from provisioning.azure import AzureLaneBackend
from provisioning.azure_resources import app_name
from provisioning.base import AppRef, DeployResult, Package
from provisioning.errors import (
    AppLimitReached,
    AppNameTaken,
    PackageError,
    PackageRejected,
    ProvisioningError,
    ProvisioningForbidden,
    TransientProvisioningError,
)
from tests.fakes.app_service import serve_fake_app_service
from tests.fakes.arm import API_VERSION, FAKE_TOKEN, FakeArm, StaticTokenCredential
from tests.fakes.identities import client_id_of
from tests.fakes.site_runtime import HostState
from tests.provisioning.azure_support import (
    CLIENT_ID,
    IDENTITY_ID,
    PACKAGE,
    PLAN_ID,
    SCHEDULER_ID,
    lane_spec,
    make_config,
    plan_id,
    run,
)

Arrange = Callable[[FakeArm, str], Any]  # sets up the fake ARM, given the app name the router will use

ONE_SITE = r"/sites/[^/]+$"  # ARM paths of the app itself, not its sub-resources
ANY_SITE = r"/sites/"
RESTART = r"/restart$"


async def full_path(backend: AzureLaneBackend) -> tuple[AppRef, str]:
    lane = lane_spec()
    app = await backend.create_app(lane)
    await backend.configure_app(lane, app)
    await backend.deploy_package(lane, app, PACKAGE)
    key = await backend.read_system_key(app)
    await backend.delete_app(app)
    return app, key


PLAN = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/serverfarms/lanes"


def test_full_path_sends_exactly_these_requests(fake_arm: FakeArm) -> None:
    app, key = run(fake_arm, full_path)

    assert fake_arm.calls() == [
        ("GET", PLAN),  # which kind of plan: the site body depends on it
        ("GET", "site"),  # create: is it there already?
        ("PUT", "site"),  # no: create it (202, long-running) with every setting it needs
        ("GET", "operation"),  # InProgress
        ("GET", "operation"),  # Succeeded
        ("GET", "site"),  # the final state of the PUT
        ("POST", "site/config/appsettings/list"),  # configure: read; the create set them all
        ("POST", "site/config/appsettings/list"),  # deploy: read, merge,
        ("PUT", "site/config/appsettings"),  # write WEBSITE_RUN_FROM_PACKAGE
        ("POST", "site/host/default/listkeys"),
        ("GET", "site"),  # delete: only an app this router manages
        ("DELETE", "site"),
    ]
    assert all(r.api_version == API_VERSION for r in fake_arm.requests)
    assert all(app.name in r.path for r in fake_arm.requests[1:] if r.tail != "operation")

    put_site = fake_arm.requests[2].body
    assert put_site["kind"] == "functionapp,linux"
    assert put_site["location"] == "westeurope"
    assert put_site["tags"] == {"managed-by": "durable-app-router", "lane": "1.2", "version": "1.2.0",
                                "task-hub": "Lane1v2"}
    assert put_site["properties"]["serverFarmId"] == PLAN_ID
    assert put_site["properties"]["httpsOnly"] is True
    assert put_site["properties"]["reserved"] is True
    site_config = put_site["properties"]["siteConfig"]
    assert site_config["linuxFxVersion"] == "Python|3.11"
    assert site_config["alwaysOn"] is True  # the plan is P1v3: Dedicated
    configured = {item["name"]: item["value"] for item in site_config["appSettings"]}
    assert configured == {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "Lane1v2",
    }
    deployed = fake_arm.requests[8].body["properties"]
    assert deployed == {**configured, "WEBSITE_RUN_FROM_PACKAGE": PACKAGE.url}

    # Only the app goes: the shared plan stays even when this was its last app.
    assert fake_arm.requests[-1].query["deleteEmptyServerFarm"] == "false"
    assert fake_arm.sites == {}
    assert app.base_url == f"https://{app.name}.azurewebsites.net"
    assert app.resource_id.endswith(f"/providers/Microsoft.Web/sites/{app.name}")
    assert key and key != FAKE_TOKEN


@pytest.mark.parametrize("mode", ["sync", "location"])
def test_create_follows_each_way_arm_answers_a_put(fake_arm: FakeArm, mode: str) -> None:
    fake_arm.lro_mode = mode
    fake_arm.lro_polls = 2

    app, key = run(fake_arm, full_path)

    polls = fake_arm.calls().count(("GET", "operation"))
    assert polls == (0 if mode == "sync" else 3)
    assert key and fake_arm.sites == {}


def test_every_operation_twice_converges_without_duplicates(fake_arm: FakeArm) -> None:
    lane = lane_spec()

    async def twice(backend: AzureLaneBackend) -> tuple[AppRef, AppRef, str, str]:
        first = await backend.create_app(lane)
        second = await backend.create_app(lane)
        for _ in range(2):
            await backend.configure_app(lane, first)
            await backend.deploy_package(lane, first, PACKAGE)
        key_1 = await backend.read_system_key(first)
        key_2 = await backend.read_system_key(first)
        return first, second, key_1, key_2

    first, second, key_1, key_2 = run(fake_arm, twice)

    assert first == second
    assert key_1 == key_2
    assert list(fake_arm.sites) == [first.name]
    writes = [call for call in fake_arm.calls() if call[0] in ("PUT", "DELETE")]
    # One site PUT (with every setting: configure finds them there), one settings write by deploy;
    # repeats write nothing.
    assert writes == [("PUT", "site"), ("PUT", "site/config/appsettings")]
    assert fake_arm.app_settings[first.name]["WEBSITE_RUN_FROM_PACKAGE"] == PACKAGE.url


def test_delete_twice(fake_arm: FakeArm) -> None:
    async def scenario(backend: AzureLaneBackend) -> AppRef:
        app = await backend.create_app(lane_spec())
        await backend.delete_app(app)
        await backend.delete_app(app)
        return app

    app = run(fake_arm, scenario)

    assert app.name not in fake_arm.sites
    assert [call for call in fake_arm.calls() if call[0] == "DELETE"] == [("DELETE", "site")]


def test_configure_merges_and_keeps_the_deployed_package(fake_arm: FakeArm) -> None:
    lane = lane_spec()

    async def scenario(backend: AzureLaneBackend) -> str:
        app = await backend.create_app(lane)
        await backend.configure_app(lane, app)
        await backend.deploy_package(lane, app, PACKAGE)
        fake_arm.app_settings[app.name]["OPERATOR_SETTING"] = "kept"
        return app.name

    prefix = make_config(fake_arm).app_prefix
    name = run(fake_arm, scenario, app_prefix=prefix)

    async def reconfigure(backend: AzureLaneBackend) -> None:
        app = await backend.create_app(lane)  # the existing app, as a retried lifecycle finds it
        assert app.name == name
        await backend.configure_app(lane, app)

    run(fake_arm, reconfigure, app_prefix=prefix, lane_storage_account="lanestore",
        lane_identity_id=IDENTITY_ID, lane_identity_client_id=CLIENT_ID)

    settings = fake_arm.app_settings[name]
    assert settings["WEBSITE_RUN_FROM_PACKAGE"] == PACKAGE.url
    assert settings["OPERATOR_SETTING"] == "kept"
    assert settings["AzureWebJobsStorage__accountName"] == "lanestore"
    assert settings["AzureWebJobsStorage__clientId"] == CLIENT_ID


def test_retry_after_is_honoured(fake_arm: FakeArm) -> None:
    fake_arm.fail("PUT", ONE_SITE, 429, retry_after=1)
    fake_arm.fail("POST", r"/listkeys$", 429, retry_after=1)

    run(fake_arm, full_path)

    for method, tail in (("PUT", "site"), ("POST", "site/host/default/listkeys")):
        attempts = [r for r in fake_arm.requests if (r.method, r.tail) == (method, tail)]
        # The fake refuses a retry that comes before Retry-After (as ARM's throttling does), so
        # one 429 and then success means azure-core waited for it, not for its own tiny backoff.
        assert [r.status for r in attempts] == [429, 200 if method == "POST" else 202]


@pytest.mark.parametrize(
    ("method", "pattern", "statuses"),
    [
        ("GET", ONE_SITE, [500, 503]),
        ("PUT", ONE_SITE, [502]),
        ("PUT", r"/appsettings$", [503, 504]),
        ("POST", r"/appsettings/list$", [500]),
        ("POST", r"/listkeys$", [502, 429]),  # azure-core alone retries neither on POST
        ("POST", r"/listkeys$", [503]),
        ("DELETE", ONE_SITE, [500]),
    ],
)
def test_server_errors_are_retried_until_success(
    fake_arm: FakeArm, method: str, pattern: str, statuses: list[int]
) -> None:
    for status in statuses:
        fake_arm.fail(method, pattern, status)

    app, key = run(fake_arm, full_path)

    failed = [r.status for r in fake_arm.requests if r.status in (429, 500, 502, 503, 504)]
    assert failed == statuses
    assert key and fake_arm.sites == {}


def test_retries_give_up_as_a_transient_error(fake_arm: FakeArm) -> None:
    fake_arm.fail("PUT", ONE_SITE, 503, times=10, message="The service is unavailable.")

    with pytest.raises(TransientProvisioningError) as caught:
        run(fake_arm, full_path, retry_total=2)

    assert "503" in caught.value.message and "unavailable" in caught.value.message
    assert [r.status for r in fake_arm.requests if r.method == "PUT"] == [503, 503, 503]


def test_create_reported_failed_that_in_fact_succeeded_is_used(fake_arm: FakeArm) -> None:
    fake_arm.lro_outcome = "Failed"

    app, key = run(fake_arm, full_path)

    assert ("GET", "operation") in fake_arm.calls()
    assert [call for call in fake_arm.calls() if call == ("PUT", "site")] == [("PUT", "site")]
    assert key


def test_create_answered_500_after_creating_is_retried_into_the_same_app(fake_arm: FakeArm) -> None:
    fake_arm.lro_mode = "sync"
    fake_arm.fail("PUT", ONE_SITE, 500, apply_first=True)

    async def create(backend: AzureLaneBackend) -> AppRef:
        return await backend.create_app(lane_spec())

    app = run(fake_arm, create)

    assert [r.status for r in fake_arm.requests if r.method == "PUT"] == [500, 200]
    assert list(fake_arm.sites) == [app.name]


def test_slow_replies_and_long_operations_are_waited_for(fake_arm: FakeArm) -> None:
    fake_arm.lro_polls = 4
    fake_arm.slow("GET", ONE_SITE, 0.3, times=2)

    app, key = run(fake_arm, full_path)

    assert fake_arm.calls().count(("GET", "operation")) == 5
    assert key


def test_a_reply_slower_than_the_read_timeout_is_retried(fake_arm: FakeArm) -> None:
    fake_arm.slow("POST", r"/listkeys$", 3.0)

    async def scenario(backend: AzureLaneBackend) -> tuple[AppRef, str]:
        result = await full_path(backend)
        # Let the abandoned connection finish its TLS close before the event loop ends.
        fake_arm.release_slow_replies()
        await asyncio.sleep(0.2)
        return result

    app, key = run(fake_arm, scenario, read_timeout=0.5)

    assert fake_arm.calls().count(("POST", "site/host/default/listkeys")) == 2
    assert key


def _create(backend: AzureLaneBackend) -> Awaitable[AppRef]:
    return backend.create_app(lane_spec())


def arm_fails(method: str, pattern: str, status: int, message: str = "", *, code: str = "") -> Arrange:
    """Arrange that ARM answers the next `method` on `pattern` with this error."""
    return lambda arm, name: arm.fail(method, pattern, status, code=code, message=message)


@pytest.mark.parametrize(
    ("arrange", "error", "names"),
    [
        pytest.param(
            lambda arm, name: arm.taken_names.add(name),
            AppNameTaken,
            ["already used by another app", "AlreadyExists"],
            id="name-taken-elsewhere",
        ),
        pytest.param(
            arm_fails("PUT", ONE_SITE, 409, "The site could not be created."),
            ProvisioningError,
            ["although the name is free", "The site could not be created."],
            id="conflict-with-free-name",
        ),
        pytest.param(
            lambda arm, name: arm.add_site(name, tags={"owner": "someone"}),
            AppNameTaken,
            ["not this router's app for lane 1.2", "ROUTER_APP_PREFIX"],
            id="name-taken-in-resource-group",
        ),
        pytest.param(
            lambda arm, name: setattr(arm, "max_sites", 0),
            AppLimitReached,
            ["cannot hold another app", "maximum number of sites"],
            id="app-limit",
        ),
        pytest.param(
            arm_fails(
                "GET",
                ANY_SITE,
                403,
                "The client does not have authorization to perform action 'Microsoft.Web/sites/read'.",
                code="AuthorizationFailed",
            ),
            ProvisioningForbidden,
            ["permission", "AuthorizationFailed", "Microsoft.Web/sites/read"],
            id="forbidden",
        ),
        pytest.param(
            arm_fails("PUT", ONE_SITE, 409, "The site will exceed the number of sites allowed for the plan."),
            AppLimitReached,
            ["cannot hold another app", "exceed the number of sites"],
            id="plan-limit",
        ),
        pytest.param(
            arm_fails("PUT", ONE_SITE, 400, "The tag value exceeds the maximum allowed length."),
            ProvisioningError,
            ["HTTP 400", "exceeds the maximum allowed length"],
            id="not-a-limit",
        ),
        pytest.param(
            arm_fails("GET", ANY_SITE, 401, code="InvalidAuthenticationToken"),
            ProvisioningForbidden,
            ["did not accept the router's token", "InvalidAuthenticationToken"],
            id="token-rejected",
        ),
        pytest.param(
            arm_fails("PUT", ONE_SITE, 400, "The parameter serverFarmId is invalid.", code="BadRequest"),
            ProvisioningError,
            ["HTTP 400", "serverFarmId is invalid"],
            id="bad-request",
        ),
        pytest.param(
            arm_fails(
                "PUT", ONE_SITE, 409, "No available instances to satisfy this request. Please retry later."
            ),
            TransientProvisioningError,
            ["retry later"],
            id="no-capacity",
        ),
    ],
)
def test_client_errors_end_in_clear_router_errors(
    fake_arm: FakeArm,
    arrange: Arrange,
    error: type[ProvisioningError],
    names: list[str],
) -> None:
    config = make_config(fake_arm)
    arrange(fake_arm, app_name(config, "1.2"))

    with pytest.raises(error) as caught:
        run(fake_arm, _create, app_prefix=config.app_prefix)

    assert type(caught.value) is error
    assert app_name(config, "1.2") in caught.value.message
    for text in names:
        assert text in caught.value.message
    assert FAKE_TOKEN not in caught.value.message
    # No SDK exception (which holds the request and response) travels with the router error.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_a_conflict_on_create_asks_arm_whether_the_name_is_taken(fake_arm: FakeArm) -> None:
    config = make_config(fake_arm)
    fake_arm.taken_names.add(app_name(config, "1.2"))

    with pytest.raises(AppNameTaken):
        run(fake_arm, _create, app_prefix=config.app_prefix)

    check = fake_arm.requests[-1]
    assert (check.method, check.path) == (
        "POST",
        "/subscriptions/sub/providers/Microsoft.Web/checknameavailability",
    )
    assert check.body == {"name": app_name(config, "1.2"), "type": "Microsoft.Web/sites"}


class NoIdentity(StaticTokenCredential):
    """A credential with no identity behind it, as on a machine without a managed identity."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise CredentialUnavailableError("ManagedIdentityCredential: no managed identity endpoint found")


def test_no_token_is_a_clear_error_before_any_request(fake_arm: FakeArm) -> None:
    async def scenario() -> None:
        config = make_config(fake_arm)
        backend = AzureLaneBackend(config, NoIdentity(), connection_verify=str(fake_arm.ca_path))
        try:
            await backend.create_app(lane_spec())
        finally:
            await backend.aclose()

    with pytest.raises(ProvisioningForbidden) as caught:
        asyncio.run(scenario())

    assert "could not get an ARM token" in caught.value.message
    assert "no managed identity endpoint" in caught.value.message
    assert fake_arm.requests == []


def test_forbidden_settings_write_names_the_operation(fake_arm: FakeArm) -> None:
    fake_arm.fail("PUT", r"/appsettings$", 403, code="AuthorizationFailed", message="No write permission.")

    async def scenario(backend: AzureLaneBackend) -> None:
        lane = lane_spec()
        app = await backend.create_app(lane)
        del fake_arm.app_settings[app.name]["FUNCTIONS_EXTENSION_VERSION"]  # an operator's slip
        await backend.configure_app(lane, app)

    with pytest.raises(ProvisioningForbidden) as caught:
        run(fake_arm, scenario)

    assert caught.value.message.startswith("configure of app")
    assert caught.value.details["operation"] == "configure"


def test_restart_posts_to_the_sites_restart(fake_arm: FakeArm) -> None:
    async def scenario(backend: AzureLaneBackend) -> AppRef:
        app = await backend.create_app(lane_spec())
        fake_arm.set_state(app.name, "Stopped")
        await backend.restart_app(app)
        return app

    app = run(fake_arm, scenario)

    restart = fake_arm.requests[-1]
    assert (restart.method, restart.tail) == ("POST", "site/restart")
    assert restart.path.endswith(f"/sites/{app.name}/restart")
    assert restart.api_version == API_VERSION
    assert fake_arm.sites[app.name.lower()]["properties"]["state"] == "Running"


def test_forbidden_restart_names_the_operation(fake_arm: FakeArm) -> None:
    config = make_config(fake_arm)
    name = app_name(config, "1.2")
    arm_fails("POST", RESTART, 403, "No restart permission.", code="AuthorizationFailed")(fake_arm, name)

    async def scenario(backend: AzureLaneBackend) -> None:
        app = await backend.create_app(lane_spec())
        await backend.restart_app(app)

    with pytest.raises(ProvisioningForbidden) as caught:
        run(fake_arm, scenario, app_prefix=config.app_prefix)

    assert caught.value.message.startswith(f"restart of app '{name}'")
    assert "AuthorizationFailed" in caught.value.message
    assert caught.value.details["operation"] == "restart"
    assert caught.value.__cause__ is None
    assert [r.status for r in fake_arm.requests if r.tail == "site/restart"] == [403]


def test_deploy_refuses_a_location_the_app_cannot_fetch(fake_arm: FakeArm) -> None:
    async def scenario(backend: AzureLaneBackend) -> None:
        app = AppRef(name="x", base_url="https://x.azurewebsites.net")
        await backend.deploy_package(lane_spec(), app, Package("/tmp/app.zip"))

    with pytest.raises(PackageRejected, match="https URL"):
        run(fake_arm, scenario)
    assert fake_arm.requests == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://evil.example.com/app.zip?sig=sas-secret", ("*.example.net",)),
        ("https://example.net/app.zip", ("*.example.net",)),  # the apex is not a subdomain
        ("http://packages.example.net/app.zip", ("*.example.net",)),
    ],
)
def test_deploy_refuses_a_package_host_release_intake_would_refuse(
    fake_arm: FakeArm, url: str, allowed: tuple[str, ...]
) -> None:
    async def scenario(backend: AzureLaneBackend) -> None:
        app = AppRef(name="x", base_url="https://x.azurewebsites.net")
        await backend.deploy_package(lane_spec(), app, Package(url))

    with pytest.raises(PackageRejected) as caught:
        run(fake_arm, scenario, allowed_package_hosts=allowed)
    assert "sas-secret" not in caught.value.message
    assert fake_arm.requests == []


def test_deploy_checks_the_package_sha256_first(fake_arm: FakeArm) -> None:
    fake_arm.packages["app-1.2.0.zip"] = b"PK\x03\x04 a zip of the app" * 1000
    digest = hashlib.sha256(fake_arm.packages["app-1.2.0.zip"]).hexdigest()
    url = f"{fake_arm.base_url}/packages/app-1.2.0.zip?sv=2024&sig=sas-secret"

    async def scenario(backend: AzureLaneBackend) -> DeployResult:
        app = await backend.create_app(lane_spec())
        return await backend.deploy_package(lane_spec(), app, Package(url, digest.upper()))

    result = run(fake_arm, scenario)

    assert result == DeployResult(version="1.2.0", package_sha256=digest)
    # The triggers are synced by the readiness check, once the restarted host is up.
    assert fake_arm.calls()[-3:] == [
        ("GET", "/packages/app-1.2.0.zip"),
        ("POST", "site/config/appsettings/list"),
        ("PUT", "site/config/appsettings"),
    ]


@pytest.mark.parametrize(
    ("blob", "says"),
    [(b"another build", "but the release announced"), (None, "HTTP 404")],
)
def test_deploy_refuses_a_package_that_is_not_the_release(
    fake_arm: FakeArm, blob: bytes | None, says: str
) -> None:
    if blob is not None:
        fake_arm.packages["app.zip"] = blob
    url = f"{fake_arm.base_url}/packages/app.zip?sig=sas-secret"

    async def scenario(backend: AzureLaneBackend) -> None:
        app = await backend.create_app(lane_spec())
        await backend.deploy_package(lane_spec(), app, Package(url, "0" * 64))

    with pytest.raises(PackageError) as caught:
        run(fake_arm, scenario)

    assert says in caught.value.message and "/packages/app.zip" in caught.value.message
    assert "sas-secret" not in caught.value.message
    assert ("PUT", "site/config/appsettings") not in fake_arm.calls()


def test_delete_refuses_an_app_the_router_does_not_manage(fake_arm: FakeArm) -> None:
    fake_arm.add_site("someone-elses-app", tags={"owner": "finance"})

    async def scenario(backend: AzureLaneBackend) -> None:
        await backend.delete_app(AppRef(name="someone-elses-app", base_url="https://x"))

    with pytest.raises(ProvisioningError, match="not tagged managed-by=durable-app-router"):
        run(fake_arm, scenario)
    assert "someone-elses-app" in fake_arm.sites
    assert ("DELETE", "site") not in fake_arm.calls()


# --- plan kinds, lane storage, the scheduler, sovereign clouds (issue 10) ------------------------

IDENTITY_FIELDS = dict(lane_identity_id=IDENTITY_ID, lane_identity_client_id=CLIENT_ID)


def test_a_flex_consumption_plan_is_refused_before_any_write(fake_arm: FakeArm) -> None:
    with pytest.raises(ProvisioningError) as caught:
        run(fake_arm, lambda backend: backend.create_app(lane_spec()), plan_id=plan_id("lanes-fc1"))

    assert "'lanes-fc1'" in caught.value.message and "Flex Consumption (FC1)" in caught.value.message
    assert not caught.value.retryable
    assert [call[0] for call in fake_arm.calls()] == ["GET"]  # only the plan was read


def test_elastic_premium_without_a_content_share_secret_is_refused_naming_the_setting(fake_arm: FakeArm) -> None:
    with pytest.raises(ProvisioningError, match="ROUTER_LANE_CONTENT_SECRET_URI"):
        run(fake_arm, lambda backend: backend.create_app(lane_spec()), plan_id=plan_id("lanes-ep1"),
            lane_storage_account="lanestore", **IDENTITY_FIELDS)
    assert ("PUT", "site") not in fake_arm.calls()


def test_a_missing_plan_is_named(fake_arm: FakeArm) -> None:
    with pytest.raises(ProvisioningError, match="'nowhere' .ROUTER_PLAN_ID. does not exist"):
        run(fake_arm, lambda backend: backend.create_app(lane_spec()), plan_id=plan_id("nowhere"))


def test_the_plan_is_read_once_per_backend(fake_arm: FakeArm) -> None:
    async def scenario(backend: AzureLaneBackend) -> None:
        for lane in (lane_spec("1.2", "1.2.0"), lane_spec("1.3", "1.3.0")):
            app = await backend.create_app(lane)
            await backend.configure_app(lane, app)

    run(fake_arm, scenario)

    assert sum(1 for r in fake_arm.requests if "/serverfarms/" in r.path) == 1


def test_identity_based_storage_runs_the_app_as_the_lanes_user_assigned_identity(fake_arm: FakeArm) -> None:
    app = run(fake_arm, lambda backend: backend.create_app(lane_spec()), lane_storage_account="lanestore",
              **IDENTITY_FIELDS)

    put_site = next(r.body for r in fake_arm.requests if r.method == "PUT")
    assert put_site["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY_ID: {}}}
    assert fake_arm.app_settings[app.name] | {} == {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "Lane1v2",
        "AzureWebJobsStorage__accountName": "lanestore",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
    }


def test_a_connection_string_comes_from_key_vault_with_the_lanes_identity(fake_arm: FakeArm) -> None:
    secret = "https://lanes.vault.azure.net/secrets/storage"
    app = run(fake_arm, lambda backend: backend.create_app(lane_spec()), lane_storage_secret_uri=secret,
              **IDENTITY_FIELDS)

    put_site = next(r.body for r in fake_arm.requests if r.method == "PUT")
    assert put_site["properties"]["keyVaultReferenceIdentity"] == IDENTITY_ID
    assert fake_arm.app_settings[app.name]["AzureWebJobsStorage"] == f"@Microsoft.KeyVault(SecretUri={secret})"


def test_with_a_scheduler_each_lane_gets_its_own_task_hub_created_and_deleted_once(
    fake_arm: FakeArm, arm_plans: Any
) -> None:
    lanes = (lane_spec("1.2", "1.2.0"), lane_spec("1.3", "1.3.0"))

    async def scenario(backend: AzureLaneBackend) -> list[AppRef]:
        apps = []
        for lane in lanes:
            for _ in range(2):  # a retried activity changes nothing
                app = await backend.create_app(lane)
                await backend.configure_app(lane, app)
            apps.append(app)
        created = set(arm_plans.task_hubs["lanes-dts"])
        await backend.delete_app(apps[0])
        await backend.delete_app(apps[0])
        assert created == {"lane1v2", "lane1v3"}
        return apps

    apps = run(fake_arm, scenario, scheduler_id=SCHEDULER_ID, lane_storage_account="lanestore", **IDENTITY_FIELDS)

    assert arm_plans.task_hubs["lanes-dts"] == {"lane1v3"}  # 1.2's went with its app; 1.3's stays
    hub_writes = [(r.method, r.path.rsplit("/", 1)[1]) for r in fake_arm.requests
                  if "/taskHubs/" in r.path and r.method in ("PUT", "DELETE")]
    assert hub_writes == [("PUT", "Lane1v2"), ("PUT", "Lane1v3"), ("DELETE", "Lane1v2")]
    settings = fake_arm.app_settings[apps[1].name]
    provider = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
    assert settings[provider + "type"] == "azureManaged"
    assert settings[provider + "connectionStringName"] == "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
    assert settings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"] == (
        f"Endpoint={arm_plans.schedulers['lanes-dts']};Authentication=ManagedIdentity;ClientID={CLIENT_ID}"
    )
    assert settings["AzureFunctionsJobHost__extensions__durableTask__hubName"] == "Lane1v3"


class RecordingCredential(StaticTokenCredential):
    """Records the scopes it is asked for: the audience is the cloud's, not always the public one."""

    def __init__(self) -> None:
        super().__init__()
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.append(scopes)
        return await super().get_token(*scopes, **kwargs)


def test_arm_tokens_are_asked_for_the_arm_endpoints_own_audience(fake_arm: FakeArm) -> None:
    credential = RecordingCredential()

    async def main() -> None:
        config = make_config(fake_arm, scheduler_id=SCHEDULER_ID, lane_storage_account="lanestore", **IDENTITY_FIELDS)
        backend = AzureLaneBackend(config, credential, connection_verify=str(fake_arm.ca_path))
        try:
            await backend.create_app(lane_spec())
        finally:
            await backend.aclose()

    asyncio.run(main())

    assert set(credential.scopes) == {(f"{fake_arm.base_url}/.default",)}


def test_a_package_url_without_sas_is_read_with_a_storage_token_and_run_with_the_lanes_identity(
    fake_arm: FakeArm,
) -> None:
    """docs: "Authorize access to blobs using Microsoft Entra ID" (bearer token, x-ms-version
    2017-11-09 or later) and "run-functions-from-deployment-package" (Fetch a package from Azure
    Blob Storage using a managed identity)."""
    body = b"PK\x05\x06" + bytes(18)
    url = "https://builds.blob.core.windows.net/pkgs/app-1.2.0.zip"
    seen: list[httpx.Request] = []

    def blob(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("Authorization") != f"Bearer {FAKE_TOKEN}":
            return httpx.Response(401)
        return httpx.Response(200, content=body)

    credential = RecordingCredential()

    async def main() -> str:
        config = make_config(fake_arm, allowed_package_hosts=("*.blob.core.windows.net",), **IDENTITY_FIELDS)
        backend = AzureLaneBackend(config, credential, connection_verify=str(fake_arm.ca_path),
                                   package_transport=httpx.MockTransport(blob))
        try:
            lane = lane_spec()
            app = await backend.create_app(lane)
            await backend.deploy_package(lane, app, Package(url, hashlib.sha256(body).hexdigest()))
            return app.name
        finally:
            await backend.aclose()

    name = asyncio.run(main())

    assert seen[0].headers["x-ms-version"] >= "2017-11-09"
    assert ("https://storage.azure.com/.default",) in credential.scopes
    assert fake_arm.app_settings[name]["WEBSITE_RUN_FROM_PACKAGE"] == url
    assert fake_arm.app_settings[name]["WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"] == IDENTITY_ID


def test_a_package_the_router_may_not_read_names_the_role(fake_arm: FakeArm) -> None:
    async def main() -> None:
        config = make_config(fake_arm, allowed_package_hosts=("*.blob.core.windows.net",), **IDENTITY_FIELDS)
        backend = AzureLaneBackend(config, StaticTokenCredential(), connection_verify=str(fake_arm.ca_path),
                                   package_transport=httpx.MockTransport(lambda request: httpx.Response(403)))
        try:
            lane = lane_spec()
            app = await backend.create_app(lane)
            await backend.deploy_package(lane, app, Package("https://b.blob.core.windows.net/p/a.zip", "0" * 64))
        finally:
            await backend.aclose()

    with pytest.raises(PackageError, match="Storage Blob Data Reader"):
        asyncio.run(main())


@pytest.mark.parametrize("sku", ["Y1", "EP1", "P1v3"])
def test_the_fake_app_service_accepts_each_kinds_create_and_its_host_could_start(tmp_path: Path, sku: str) -> None:
    """Against the fake App Service (tests/fakes/app_service.py), which validates the create as
    App Service does, resolves Key Vault references and checks the identity's roles: for every
    plan kind the backend provisions, the site it creates waits only for its package."""
    with serve_fake_app_service(tmp_path / "fake", plans={"lanes": sku}, schedulers=("lanes-dts",)) as fake:
        secret = "https://lanes.vault.azure.net/secrets/storage"
        fake.add_secret(secret, "DefaultEndpointsProtocol=https;AccountName=lanes;AccountKey=a2V5;"
                                "EndpointSuffix=core.windows.net")
        fake.grant_key_vault(IDENTITY_ID)  # Key Vault Secrets User, granted by the operator
        fake.schedulers.grant("lanes-dts", IDENTITY_ID)  # Durable Task Data Contributor

        async def main() -> str:
            config = make_config(fake, plan_id=fake.plan_id("lanes"), lane_storage_secret_uri=secret,
                                 scheduler_id=SCHEDULER_ID, lane_identity_id=IDENTITY_ID,
                                 lane_identity_client_id=client_id_of(IDENTITY_ID))
            backend = AzureLaneBackend(config, StaticTokenCredential(), connection_verify=str(fake.ca_path))
            try:
                lane = lane_spec()
                app = await backend.create_app(lane)
                await backend.configure_app(lane, app)
                return app.name
            finally:
                await backend.aclose()

        name = asyncio.run(main())

        runtime = fake.runtime(name)
        assert runtime.wait_for(HostState.NO_CONTENT, HostState.ERROR, timeout=30) is HostState.NO_CONTENT, runtime.error
        assert fake.schedulers.task_hubs("lanes-dts") == ["Lane1v2"]
