"""infra/ (the `azd up` template) against the code it deploys, without a Bicep compiler.

No Bicep compiler can be installed here, so these tests read the Bicep (tests/infra/bicep_reader.py)
and check what a compile would not anyway: that the router gets every setting its azure backend
refuses to start without (derived from the code's own reading of the settings), that every role
the README names is granted to the principal it names and no other role, and that each resource
type uses an API version pinned here with the page it was taken from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from provisioning.azure_config import AzureConfig
from provisioning.azure_plan import plan_kind, plan_refusal
from provisioning.azure_resources import HUB_NAME_SETTING, content_share_problem, lane_app_settings
from provisioning.base import LaneSpec
from provisioning.config import ProvisioningConfig
from router.auth import ROLE_SETTINGS
from router.settings import Settings
from tests.infra.bicep_reader import BicepFile, literal

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
ROUTER_APP = INFRA / "modules" / "router-app.bicep"
ROUTER_ACCESS = INFRA / "modules" / "router-access.bicep"
LANES = INFRA / "modules" / "lanes.bicep"

# API version of each resource type, and the page it was read from, https://learn.microsoft.com/
# azure/<page>: the Azure templates reference (resource groups: Bicep's "create resource groups"
# page). The scheduler's is also the version azure-mgmt-durabletask sends.
PINNED_API_VERSIONS = {
    "Microsoft.Resources/resourceGroups": ("2024-03-01", "azure-resource-manager/bicep/create-resource-group"),
    "Microsoft.Web/sites": ("2024-11-01", "templates/microsoft.web/2024-11-01/sites"),
    "Microsoft.Web/serverfarms": ("2024-11-01", "templates/microsoft.web/2024-11-01/serverfarms"),
    "Microsoft.Storage/storageAccounts": ("2023-05-01", "templates/microsoft.storage/2023-05-01/storageaccounts"),
    "Microsoft.Storage/storageAccounts/blobServices": (
        "2023-05-01", "templates/microsoft.storage/2023-05-01/storageaccounts/blobservices"),
    "Microsoft.Storage/storageAccounts/blobServices/containers": (
        "2023-05-01", "templates/microsoft.storage/2023-05-01/storageaccounts/blobservices/containers"),
    "Microsoft.Authorization/roleAssignments": (
        "2022-04-01", "templates/microsoft.authorization/2022-04-01/roleassignments"),
    "Microsoft.ManagedIdentity/userAssignedIdentities": (
        "2023-01-31", "templates/microsoft.managedidentity/2023-01-31/userassignedidentities"),
    "Microsoft.Insights/components": ("2020-02-02", "templates/microsoft.insights/2020-02-02/components"),
    "Microsoft.OperationalInsights/workspaces": (
        "2023-09-01", "templates/microsoft.operationalinsights/2023-09-01/workspaces"),
    "Microsoft.KeyVault/vaults": ("2024-11-01", "templates/microsoft.keyvault/2024-11-01/vaults"),
    "Microsoft.KeyVault/vaults/secrets": ("2024-11-01", "templates/microsoft.keyvault/2024-11-01/vaults/secrets"),
    "Microsoft.DurableTask/schedulers": ("2026-02-01", "templates/microsoft.durabletask/2026-02-01/schedulers"),
}

# Built-in role definition ids: MicrosoftDocs/azure-docs articles/role-based-access-control/
# built-in-roles.md (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
BUILT_IN_ROLES = {
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Website Contributor": "de139f84-1756-47ae-9be6-808fbbe84772",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Durable Task Data Contributor": "0ad04412-c4d5-4796-b79c-f76d14c8d402",
}
ROLE_NAMES = {guid: name for name, guid in BUILT_IN_ROLES.items()}

# What Azure hands the router's settings at deploy time, one value per Bicep expression the
# router's app settings use (shapes as ARM returns them), so the code can read them as on Azure.
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod-lanes/providers"
DEPLOYED_VALUES = {
    "storage.properties.primaryEndpoints.blob": "https://strouterabc.blob.core.windows.net/",
    "storage.properties.primaryEndpoints.queue": "https://strouterabc.queue.core.windows.net/",
    "storage.properties.primaryEndpoints.table": "https://strouterabc.table.core.windows.net/",
    "appInsights.properties.ConnectionString": (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"),
    "environment().resourceManager": "https://management.azure.com/",
    "subscription().subscriptionId": "00000000-0000-0000-0000-000000000000",
    "laneGroupName": "rg-prod-lanes",
    "location": "westeurope",
    "lanePlanId": f"{SUB}/Microsoft.Web/serverfarms/plan-prod-lanes",
    "laneIdentityId": f"{SUB}/Microsoft.ManagedIdentity/userAssignedIdentities/id-prod-lanes",
    "laneIdentityClientId": "11111111-2222-3333-4444-555555555555",
    "laneStorageAccountName": "stlaneabc",
    # The Elastic Premium case (the others leave it empty, which the code reads as unset).
    "laneContentSecretUri": "https://kvabc.vault.azure.net/secrets/lane-content-share-connection",
    "laneSchedulerId": f"{SUB}/Microsoft.DurableTask/schedulers/dts-prod",
    "packageHost": "stpkgabc.blob.core.windows.net",
    "clientKeys": "c" * 48,
    "releaseKeys": "r" * 48,
    "adminKeys": "a" * 48,
}
# What App Service sets on every instance of the router (docs: "Environment variables and app
# settings reference", WEBSITE_SITE_NAME / WEBSITE_INSTANCE_ID).
APP_SERVICE_ENV = {"WEBSITE_SITE_NAME": "func-prod-router", "WEBSITE_INSTANCE_ID": "0123abcd"}


def router_settings() -> dict[str, str]:
    return BicepFile(ROUTER_APP).app_settings()


def deployed_env() -> dict[str, str]:
    """The router's environment on App Service, as the Bicep sets it."""
    env = dict(APP_SERVICE_ENV)
    for name, expression in router_settings().items():
        value = literal(expression)
        env[name] = value if value is not None else DEPLOYED_VALUES[expression]
    return env


def all_bicep() -> list[BicepFile]:
    return [BicepFile(path) for path in sorted(INFRA.rglob("*.bicep"))]


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def italic_roles(text: str) -> set[str]:
    """Role names as the README writes them: *Storage Blob Data Reader* (not **bold**)."""
    found = re.findall(r"(?<!\*)\*([A-Z][A-Za-z \n]+?)\*(?!\*)", text)
    return {" ".join(name.split()) for name in found}  # a name may wrap onto the next line


def readme_step(number: int) -> str:
    """One numbered step of the README's "Deploying to Azure" checklist."""
    section = readme_section("Deploying to Azure")
    match = re.search(rf"^{number}\. (.*?)(?=^{number + 1}\. |\Z)", section, re.MULTILINE | re.DOTALL)
    assert match, f"README 'Deploying to Azure' has no step {number}"
    return match[1]


# --- app settings -------------------------------------------------------------------------------


# The optional parts are empty strings in the template when not asked for (a Dedicated or
# Consumption lanes' plan, no scheduler): the code must read those as unset.
OPTIONAL_SETTINGS = ("ROUTER_LANE_CONTENT_SECRET_URI", "ROUTER_LANE_SCHEDULER_ID")


@pytest.mark.parametrize("empty", [(), OPTIONAL_SETTINGS], ids=["everything", "no-vault-no-scheduler"])
def test_the_router_starts_with_the_settings_the_template_gives_it(empty):
    # The code decides what is required: Settings.from_env refuses to start (naming the setting)
    # without the azure backend's target, lane identity and storage, or the role keys on App
    # Service. A setting the Bicep lacks fails here with the code's own message.
    settings = Settings.from_env({**deployed_env(), **dict.fromkeys(empty, "")})

    assert settings.provisioner == "azure"
    assert settings.role_keys is not None
    assert settings.provisioning.missing_azure_target() == []
    assert settings.provisioning.azure_conflicts() == []


def test_every_role_key_setting_is_set():
    assert set(ROLE_SETTINGS.values()) <= set(router_settings())


def test_release_packages_from_the_package_container_are_allowed():
    # Without it the release intake refuses every https package (422) although the router starts.
    settings = Settings.from_env(deployed_env())
    assert settings.allowed_package_hosts == (DEPLOYED_VALUES["packageHost"],)
    assert "${packageStorage.name}.blob.${environment().suffixes.storage}" in LANES.read_text()


def test_the_task_hub_setting_host_json_names_is_set():
    host = (ROOT / "host.json").read_text(encoding="utf-8")
    referenced = set(re.findall(r"%(\w+)%", host))
    assert referenced and referenced <= set(router_settings())


def test_the_router_is_a_functions_app_as_the_backend_builds_its_lanes():
    # The runtime settings the backend gives every lane app (a Functions app on Linux needs them:
    # docs functions-app-settings), minus the lane's own task hub.
    config = AzureConfig.from_config(ProvisioningConfig.from_env(deployed_env()))
    lane = LaneSpec(lane="1.0", version="1.0.0", task_hub="prodLane1v0")
    runtime = {k: v for k, v in lane_app_settings(config, lane, plan_kind("P1v3")).items()
               if k.startswith("FUNCTIONS_") and k != HUB_NAME_SETTING}
    env = deployed_env()
    assert runtime and {k: env[k] for k in runtime} == runtime
    assert literal(re.search(r"linuxFxVersion: (.+)", ROUTER_APP.read_text())[1]) == f"Python|{config.python_version}"


def test_the_router_host_storage_is_identity_based():
    # docs functions-reference "Connecting to host storage with an identity": no connection
    # string, the storage's service URIs and a managed identity (the app's system identity).
    env = deployed_env()
    assert "AzureWebJobsStorage" not in env
    assert env["AzureWebJobsStorage__credential"] == "managedidentity"
    for service in ("blob", "queue", "table"):
        assert env[f"AzureWebJobsStorage__{service}ServiceUri"].startswith(f"https://strouterabc.{service}.")


def test_application_insights_is_workspace_based_and_wired_to_the_router():
    monitoring = (INFRA / "modules" / "monitoring.bicep").read_text()
    assert "WorkspaceResourceId: workspace.id" in monitoring
    assert router_settings()["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "appInsights.properties.ConnectionString"


def test_every_router_setting_is_one_the_code_or_the_platform_reads():
    # A typo in a ROUTER_* name would be silently ignored by App Service.
    code = "".join(p.read_text(encoding="utf-8") for d in ("router", "provisioning") for p in (ROOT / d).rglob("*.py"))
    code += (ROOT / "host.json").read_text(encoding="utf-8")
    for name in router_settings():
        if name.startswith("ROUTER_"):
            assert f'"{name}"' in code or f"%{name}%" in code, f"{name} is read nowhere"


def test_every_expression_has_a_deployed_value_and_no_value_is_unused():
    expressions = {e for e in router_settings().values() if literal(e) is None}
    assert expressions == set(DEPLOYED_VALUES)


def test_the_keys_never_leave_the_template():
    # Secrets never reach outputs (kept in the deployment's history) nor any other setting.
    for bicep in all_bicep():
        for name, value in bicep.outputs().items():
            assert not re.search(r"[Kk]eys\b|listKeys|secretValue", value), f"{bicep.path.name} output {name}"
    main = BicepFile(MAIN).params()
    for key_param in ("routerClientKeys", "routerReleaseKeys", "routerAdminKeys"):
        assert "@secure()" in main[key_param].decorators
        assert "type: 'generate'" in main[key_param].decorators  # azd generates and keeps them


# --- plans ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", BicepFile(MAIN).allowed("lanePlanSku"))
def test_every_offered_lane_plan_is_one_the_backend_provisions_on(sku):
    env = deployed_env()
    if not sku.startswith("EP"):
        env["ROUTER_LANE_CONTENT_SECRET_URI"] = ""  # the template sets it for Elastic Premium only
    config = AzureConfig.from_config(ProvisioningConfig.from_env(env))
    assert plan_refusal(plan_kind(sku), "plan") is None
    assert content_share_problem(config, plan_kind(sku)) is None


def test_the_default_lane_plan_is_offered():
    main = BicepFile(MAIN)
    assert literal(main.params()["lanePlanSku"].default) in main.allowed("lanePlanSku")


# --- roles ----------------------------------------------------------------------------------------


def assignments():
    return [a for bicep in all_bicep() for a in bicep.role_assignments()]


def test_every_role_the_readme_names_is_assigned():
    named = italic_roles(readme_section("Deploying to Azure")) | italic_roles(readme_section("Deploy with azd"))
    assert named, "the README names no role"
    assigned = {ROLE_NAMES.get(a.role_id) for a in assignments()}
    assert named - assigned == set()


def test_the_router_gets_exactly_the_roles_the_readme_gives_it():
    readme = italic_roles(readme_step(4))
    granted = [ROLE_NAMES[a.role_id] for a in BicepFile(ROUTER_ACCESS).role_assignments()
               if a.principal == "routerPrincipalId"]
    assert sorted(granted) == sorted(readme)


def test_the_lanes_identity_gets_exactly_the_roles_the_readme_gives_it():
    readme = italic_roles(readme_step(3))
    granted = [ROLE_NAMES[a.role_id] for a in BicepFile(LANES).role_assignments()
               if a.principal == "laneIdentity.properties.principalId"]
    assert sorted(granted) == sorted(readme)


def test_the_router_storage_roles_are_for_its_own_host_storage_only():
    host = BicepFile(ROUTER_APP).role_assignments()
    assert {a.scope for a in host} == {"storage"}
    assert sorted(ROLE_NAMES[a.role_id] for a in host) == [
        "Storage Blob Data Owner", "Storage Queue Data Contributor", "Storage Table Data Contributor"]


def test_every_role_assignment_is_a_known_built_in_role_and_explained():
    for a in assignments():
        assert a.role_id in ROLE_NAMES, f"{a.file} {a.symbol}: role {a.role_id!r} is not pinned here"
        assert a.comment, f"{a.file} {a.symbol}: say in a comment which call needs the role"
        assert a.principal, f"{a.file} {a.symbol}: no principalId"


def test_each_role_table_matches_the_built_in_ids():
    for bicep in all_bicep():
        for key, guid in bicep.role_ids().items():
            assert guid in ROLE_NAMES, f"{bicep.path.name} roles.{key}"
            assert ROLE_NAMES[guid].replace(" ", "").lower() == key.lower(), f"{bicep.path.name} roles.{key}"


# --- api versions and structure ------------------------------------------------------------------


def test_every_resource_type_uses_its_pinned_api_version():
    seen = set()
    for bicep in all_bicep():
        for resource in bicep.resources():
            assert resource.type in PINNED_API_VERSIONS, f"{bicep.path.name}: pin {resource.type} with its source"
            assert resource.api_version == PINNED_API_VERSIONS[resource.type][0], f"{bicep.path.name} {resource.symbol}"
            seen.add(resource.type)
    assert seen == set(PINNED_API_VERSIONS)  # no stale pin


def test_modules_exist_and_get_exactly_their_params():
    for bicep in all_bicep():
        for symbol, (path, passed) in bicep.modules().items():
            module = BicepFile(bicep.path.parent / path)
            declared = module.params()
            required = {name for name, p in declared.items() if p.default is None}
            assert passed <= set(declared), f"{symbol}: unknown params {passed - set(declared)}"
            assert required <= passed, f"{symbol}: missing params {required - passed}"
            used = set(re.findall(rf"\b{symbol}\.outputs\.(\w+)", bicep.text))
            assert used <= set(module.outputs()), f"{symbol}: no outputs {used - set(module.outputs())}"


def test_the_parameters_file_sets_what_azd_does_not():
    params = BicepFile(MAIN).params()
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    generated = {name for name, p in params.items() if "type: 'generate'" in p.decorators}
    required = {name for name, p in params.items() if p.default is None} - generated
    assert set(given) <= set(params)
    assert required <= set(given)


def test_azure_yaml_deploys_this_directory_to_the_tagged_function_app():
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    services = project["services"]
    assert list(services) == ["router"]
    router = services["router"]
    assert (router["project"], router["language"], router["host"]) == (".", "python", "function")
    # azd finds the app by its azd-service-name tag, and the group by AZURE_RESOURCE_GROUP.
    assert "'azd-service-name': 'router'" in ROUTER_APP.read_text()
    assert "AZURE_RESOURCE_GROUP" in BicepFile(MAIN).outputs()


def test_the_router_app_is_linux_python_with_a_system_identity_on_its_own_plan():
    site = next(r for r in BicepFile(ROUTER_APP).resources() if r.type == "Microsoft.Web/sites")
    assert "kind: 'functionapp,linux'" in site.body
    assert "type: 'SystemAssigned'" in site.body
    assert "serverFarmId: plan.id" in site.body  # the router-app module's plan, not the lanes'
    assert "alwaysOn: true" in site.body
