"""The fake App Service's rules for a function app's create body and settings, per plan kind.

Each case cites where Azure states the behaviour; tests/fakes/app_service_rules.py holds the rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.app_service_rules import (
    ALWAYS_ON_REFUSED,
    PlanKind,
    host_blockers,
    refused_create,
    refused_settings,
    settings_list_to_map,
    sku_of,
)

FLEX = sku_of("FC1")
CONSUMPTION = sku_of("Y1")
PREMIUM = sku_of("EP1")
DEDICATED = sku_of("P1v3")

BASE_SETTINGS = {
    "AzureWebJobsStorage__accountName": "lanestore",
    "FUNCTIONS_EXTENSION_VERSION": "~4",
    "FUNCTIONS_WORKER_RUNTIME": "python",
}
FLEX_CONFIG = {
    "deployment": {"storage": {"type": "blobContainer", "value": "https://s.blob.core.windows.net/deploy",
                               "authentication": {"type": "SystemAssignedIdentity"}}},
    "runtime": {"name": "python", "version": "3.11"},
}  # fmt: skip


def create_properties(settings: dict[str, str], **site_config: Any) -> dict[str, Any]:
    return {
        "reserved": True,
        "siteConfig": {**site_config, "appSettings": [{"name": k, "value": v} for k, v in settings.items()]},
    }


@pytest.mark.parametrize(
    ("name", "tier", "kind"),
    [
        ("Y1", "Dynamic", PlanKind.CONSUMPTION),
        ("EP1", "ElasticPremium", PlanKind.ELASTIC_PREMIUM),
        ("P1v3", "PremiumV3", PlanKind.DEDICATED),
        ("FC1", "FlexConsumption", PlanKind.FLEX_CONSUMPTION),
    ],
)
def test_skus_have_the_tiers_arm_reports(name: str, tier: str, kind: PlanKind) -> None:
    # MicrosoftDocs/azure-docs articles/azure-functions/functions-infrastructure-as-code.md: the
    # serverfarms resources of each hosting plan (sku name/tier Y1/Dynamic, EP1/ElasticPremium,
    # FC1/FlexConsumption; Dedicated plans are App Service tiers such as P1v3/PremiumV3).
    sku = sku_of(name.lower())
    assert (sku.name, sku.tier, sku.kind) == (name, tier, kind)


def test_an_unknown_sku_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no SKU 'Z9'"):
        sku_of("Z9")


def test_flex_refuses_one_deprecated_setting_with_arms_text() -> None:
    # functions-app-settings.md#flex-consumption-plan-deprecations; the text ARM answers is quoted
    # in public reports: "The following app setting (Site.SiteConfig.AppSettings.FUNCTIONS_WORKER_RUNTIME)
    # for Flex Consumption sites is invalid. Please remove or rename it before retrying."
    refusal = refused_settings(FLEX, {"FUNCTIONS_WORKER_RUNTIME": "python", "OTHER": "x"})
    assert refusal is not None
    assert (refusal.status, refusal.code) == (400, "BadRequest")
    assert refusal.message == (
        "The following app setting (Site.SiteConfig.AppSettings.FUNCTIONS_WORKER_RUNTIME) for Flex "
        "Consumption sites is invalid. Please remove or rename it before retrying."
    )


def test_flex_refuses_several_settings_in_one_list() -> None:
    refusal = refused_settings(
        FLEX, {"FUNCTIONS_EXTENSION_VERSION": "~4", "WEBSITE_RUN_FROM_PACKAGE": "https://x/p.zip"}
    )
    assert refusal is not None
    assert refusal.message.startswith("The following list of 2 app settings (")
    assert "Site.SiteConfig.AppSettings.WEBSITE_RUN_FROM_PACKAGE" in refusal.message


@pytest.mark.parametrize("sku", [CONSUMPTION, PREMIUM, DEDICATED])
def test_other_plans_take_those_settings(sku: Any) -> None:
    assert refused_settings(sku, {**BASE_SETTINGS, "WEBSITE_RUN_FROM_PACKAGE": "https://x/p.zip"}) is None


def test_flex_refuses_site_config_properties() -> None:
    # microsoft/azure-pipelines-tasks#21032: "The following list of 4 site configuration properties
    # (Site.SiteConfig.FtpsState, ...) for Flex Consumption sites is invalid"; a single one:
    # "The following site configuration property (Site.SiteConfig.LinuxFxVersion) for Flex
    # Consumption sites is invalid."
    one = refused_create(FLEX, {**create_properties({}, linuxFxVersion="Python|3.11"), "functionAppConfig": FLEX_CONFIG})
    two = refused_create(
        FLEX, {**create_properties({}, linuxFxVersion="Python|3.11", ftpsState="Disabled"), "functionAppConfig": FLEX_CONFIG}
    )
    assert one is not None and one.message.startswith(
        "The following site configuration property (Site.SiteConfig.LinuxFxVersion) for Flex Consumption sites is invalid."
    )
    assert two is not None and two.message.startswith("The following list of 2 site configuration properties (")


def test_flex_needs_function_app_config() -> None:
    # functions-infrastructure-as-code.md (Flex Consumption pivot): the site's functionAppConfig
    # carries the deployment storage and the runtime.
    refusal = refused_create(FLEX, create_properties({"AzureWebJobsStorage__accountName": "s"}))
    assert refusal is not None and refusal.status == 400
    assert "FunctionAppConfig.Deployment.Storage" in refusal.message
    assert refused_create(FLEX, {**create_properties({"AzureWebJobsStorage__accountName": "s"}),
                                 "functionAppConfig": FLEX_CONFIG}) is None  # fmt: skip


def test_function_app_config_is_refused_outside_flex() -> None:
    assert refused_create(DEDICATED, {**create_properties(BASE_SETTINGS), "functionAppConfig": FLEX_CONFIG}) is not None


def test_always_on_is_refused_on_consumption_and_taken_on_dedicated() -> None:
    # The ARM error as MicrosoftDocs learn modules quote it: "There was a conflict. AlwaysOn cannot
    # be set for this site as the plan does not allow it." (409 Conflict).
    refusal = refused_create(CONSUMPTION, create_properties(BASE_SETTINGS, alwaysOn=True))
    assert refusal is not None
    assert (refusal.status, refusal.code, refusal.message) == (409, "Conflict", ALWAYS_ON_REFUSED)
    assert refused_create(DEDICATED, create_properties(BASE_SETTINGS, alwaysOn=True, linuxFxVersion="Python|3.11")) is None


@pytest.mark.parametrize("sku", [CONSUMPTION, DEDICATED])
def test_a_complete_linux_python_app_has_no_blocker(sku: Any) -> None:
    assert host_blockers(sku, BASE_SETTINGS, reserved=True, site_config={"linuxFxVersion": "Python|3.11"}) == []


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage is missing"),
        ("FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_EXTENSION_VERSION"),
        ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME"),
    ],
)
def test_a_missing_required_setting_keeps_the_host_down(missing: str, named: str) -> None:
    # functions-app-settings.md: AzureWebJobsStorage (or its identity-based __accountName form),
    # FUNCTIONS_EXTENSION_VERSION and FUNCTIONS_WORKER_RUNTIME are what the host needs to start;
    # ARM accepts a create without them, the host does not come up.
    settings = {k: v for k, v in BASE_SETTINGS.items() if k != missing}
    blockers = host_blockers(CONSUMPTION, settings, reserved=True, site_config={"linuxFxVersion": "Python|3.11"})
    assert len(blockers) == 1 and named in blockers[0]


def test_a_connection_string_or_service_uris_count_as_host_storage() -> None:
    uris = {f"AzureWebJobsStorage__{s}ServiceUri": f"https://a.{s}.core.windows.net" for s in ("blob", "queue", "table")}
    base = {k: v for k, v in BASE_SETTINGS.items() if not k.startswith("AzureWebJobsStorage")}
    for storage in ({"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k"}, uris):
        assert host_blockers(CONSUMPTION, {**base, **storage}, reserved=True,
                             site_config={"linuxFxVersion": "Python|3.11"}) == []  # fmt: skip


def test_elastic_premium_needs_its_content_share_at_creation() -> None:
    # functions-app-settings.md WEBSITE_CONTENTAZUREFILECONNECTIONSTRING: used on Premium plans;
    # Azure/azure-libraries-for-net#1214: an EP app created without it is "Azure Functions
    # Runtime is unreachable".
    site_config = {"linuxFxVersion": "Python|3.11"}
    blockers = host_blockers(PREMIUM, BASE_SETTINGS, reserved=True, site_config=site_config)
    assert len(blockers) == 1 and "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING" in blockers[0]
    complete = {**BASE_SETTINGS, "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "@Microsoft.KeyVault(SecretUri=x)"}
    assert host_blockers(PREMIUM, complete, reserved=True, site_config=site_config) == []


def test_a_linux_python_runtime_is_needed() -> None:
    assert "Linux" in host_blockers(DEDICATED, BASE_SETTINGS, reserved=False, site_config={"linuxFxVersion": "Python|3.11"})[0]
    assert "Python runtime" in host_blockers(DEDICATED, BASE_SETTINGS, reserved=True, site_config={})[0]
    assert "3.6" in host_blockers(DEDICATED, BASE_SETTINGS, reserved=True, site_config={"linuxFxVersion": "Python|3.6"})[0]


def test_flex_takes_its_runtime_from_function_app_config() -> None:
    settings = {"AzureWebJobsStorage__accountName": "s"}
    assert host_blockers(FLEX, settings, reserved=True, site_config={}, function_app_config=FLEX_CONFIG) == []


def test_app_settings_list_keeps_the_last_value_of_a_name() -> None:
    assert settings_list_to_map([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}, {"name": "B", "value": None}]) == {
        "A": "2", "B": ""}  # fmt: skip
