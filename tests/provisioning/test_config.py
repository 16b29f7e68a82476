"""The provisioning config: read once from ROUTER_*, a bad value names its setting."""

from __future__ import annotations

import pytest

from provisioning.config import ProvisioningConfig
from provisioning.errors import ConfigError

IDENTITY = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/lanes"
CLIENT_ID = "6f1c1a2e-0000-4000-8000-0000000000c1"
SCHEDULER = "/subscriptions/sub2/resourceGroups/dts/providers/Microsoft.DurableTask/schedulers/lanes"
AZURE = {
    "ROUTER_PROVISIONER": "azure",
    "ROUTER_SUBSCRIPTION_ID": "sub",
    "ROUTER_RESOURCE_GROUP": "rg",
    "ROUTER_LOCATION": "westeurope",
    "ROUTER_PLAN_ID": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/serverfarms/plan",
    "ROUTER_LANE_IDENTITY_ID": IDENTITY,
    "ROUTER_LANE_STORAGE_SECRET_URI": "https://vault.vault.azure.net/secrets/lanes-storage",
}


def test_defaults_need_no_environment() -> None:
    assert ProvisioningConfig.from_env({}) == ProvisioningConfig()
    config = ProvisioningConfig()
    assert (config.provisioner, config.app_prefix, config.local_root) == ("local", "dfrouter", ".devhost/lanes")
    assert config.allowed_package_hosts == () and config.router_id == "local"


def test_every_setting_is_read() -> None:
    config = ProvisioningConfig.from_env(
        {
            **AZURE,
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "Builds.Example.com, *.blob.core.windows.net",
            "ROUTER_APP_PREFIX": "orders",
            "ROUTER_ID": "ordersProd",
            "ROUTER_ARM_ENDPOINT": "https://management.usgovcloudapi.net/",
            "ROUTER_STORAGE_SUFFIX": "core.usgovcloudapi.net",
            "ROUTER_LANE_STORAGE_SECRET_URI": "",
            "ROUTER_LANE_STORAGE_ACCOUNT": "lanes",
            "ROUTER_LANE_IDENTITY_CLIENT_ID": CLIENT_ID,
            "ROUTER_LANE_CONTENT_SECRET_URI": "https://vault.vault.usgovcloudapi.net/secrets/content/1",
            "ROUTER_LANE_SCHEDULER_ID": SCHEDULER,
            "ROUTER_LOCAL_ROOT": "/srv/lanes",
            "ROUTER_LOCAL_VENV_ROOT": "/srv/venvs",
        }
    )
    assert config == ProvisioningConfig(
        provisioner="azure",
        allowed_package_hosts=("builds.example.com", "*.blob.core.windows.net"),
        app_prefix="orders",
        router_id="ordersProd",
        subscription_id="sub",
        resource_group="rg",
        location="westeurope",
        plan_id=AZURE["ROUTER_PLAN_ID"],
        arm_endpoint="https://management.usgovcloudapi.net",
        storage_suffix="core.usgovcloudapi.net",
        lane_identity_id=IDENTITY,
        lane_identity_client_id=CLIENT_ID,
        lane_storage_account="lanes",
        lane_content_secret_uri="https://vault.vault.usgovcloudapi.net/secrets/content/1",
        scheduler_id=SCHEDULER,
        local_root="/srv/lanes",
        local_venv_root="/srv/venvs",
    )
    assert not config.local_allowed


@pytest.mark.parametrize(
    ("site", "router_id"),
    [
        ("ordersprod", "ordersprod"),  # already letters and digits: as is
        ("orders-prod", "ordersprod4a5e1e"),  # hyphens dropped, a hash keeps it apart from "ordersprod"
        ("9router", "router" + "b5bd7c"),
    ],
)
def test_the_router_id_defaults_to_the_router_site_name(site: str, router_id: str) -> None:
    derived = ProvisioningConfig.from_env({"WEBSITE_SITE_NAME": site}).router_id
    assert derived.startswith(router_id[:-6] if site != "ordersprod" else router_id)
    assert derived.isalnum() and derived[0].isalpha() and len(derived) <= 20
    assert ProvisioningConfig.from_env({"WEBSITE_SITE_NAME": site, "ROUTER_ID": "explicit"}).router_id == "explicit"


def test_router_ids_of_similar_site_names_differ() -> None:
    ids = {ProvisioningConfig.from_env({"WEBSITE_SITE_NAME": s}).router_id for s in ("orders-prod", "ordersprod",
                                                                                       "orders_prod", "x" * 60)}
    assert len(ids) == 4


@pytest.mark.parametrize(
    ("env", "setting", "says"),
    [
        ({"ROUTER_PROVISIONER": "gcp"}, "ROUTER_PROVISIONER", "azure or local"),
        ({"ROUTER_APP_PREFIX": "my_app"}, "ROUTER_APP_PREFIX", "letters, digits or hyphens"),
        ({"ROUTER_APP_PREFIX": "x" * 21}, "ROUTER_APP_PREFIX", "1-20"),
        ({"ROUTER_APP_PREFIX": " "}, "ROUTER_APP_PREFIX", "must not be empty"),
        ({"ROUTER_ID": "prod-1"}, "ROUTER_ID", "letters and digits"),
        ({"ROUTER_ID": "1prod"}, "ROUTER_ID", "starting with a letter"),
        ({"ROUTER_ALLOWED_PACKAGE_HOSTS": "*"}, "ROUTER_ALLOWED_PACKAGE_HOSTS", "host names"),
        ({"ROUTER_ALLOWED_PACKAGE_HOSTS": "a.*.example.com"}, "ROUTER_ALLOWED_PACKAGE_HOSTS", "host names"),
        ({"ROUTER_ARM_ENDPOINT": "http://arm.example"}, "ROUTER_ARM_ENDPOINT", "https URL"),
        ({"ROUTER_LOCAL_ROOT": ""}, "ROUTER_LOCAL_ROOT", "must not be empty"),
        ({"ROUTER_PLAN_ID": "plan"}, "ROUTER_PLAN_ID", "serverfarms"),
        ({"ROUTER_LANE_IDENTITY_ID": "lanes"}, "ROUTER_LANE_IDENTITY_ID", "userAssignedIdentities"),
        ({"ROUTER_LANE_IDENTITY_CLIENT_ID": "lanes"}, "ROUTER_LANE_IDENTITY_CLIENT_ID", "GUID"),
        ({"ROUTER_LANE_STORAGE_ACCOUNT": "Lanes_1"}, "ROUTER_LANE_STORAGE_ACCOUNT", "3-24"),
        ({"ROUTER_LANE_STORAGE_SECRET_URI": "http://v/secrets/s"}, "ROUTER_LANE_STORAGE_SECRET_URI", "Key Vault"),
        ({"ROUTER_LANE_SCHEDULER_ID": "dts"}, "ROUTER_LANE_SCHEDULER_ID", "Microsoft.DurableTask/schedulers"),
        ({"ROUTER_STORAGE_SUFFIX": "https://x"}, "ROUTER_STORAGE_SUFFIX", "DNS suffix"),
        ({**AZURE, "ROUTER_PLAN_ID": ""}, "ROUTER_PLAN_ID", "required when ROUTER_PROVISIONER=azure"),
        ({"ROUTER_PROVISIONER": "azure"}, "ROUTER_SUBSCRIPTION_ID", "required when ROUTER_PROVISIONER=azure"),
        ({**AZURE, "ROUTER_LANE_IDENTITY_ID": ""}, "ROUTER_LANE_IDENTITY_ID", "required"),
        ({**AZURE, "ROUTER_LANE_STORAGE_SECRET_URI": ""}, "ROUTER_LANE_STORAGE_ACCOUNT", "required"),
        ({**AZURE, "ROUTER_LANE_STORAGE_ACCOUNT": "lanes"}, "ROUTER_LANE_STORAGE_SECRET_URI", "exclude each other"),
        (
            {**AZURE, "ROUTER_LANE_STORAGE_SECRET_URI": "", "ROUTER_LANE_STORAGE_ACCOUNT": "lanes"},
            "ROUTER_LANE_IDENTITY_CLIENT_ID",
            "required with ROUTER_LANE_STORAGE_ACCOUNT",
        ),
        ({**AZURE, "ROUTER_LANE_SCHEDULER_ID": SCHEDULER}, "ROUTER_LANE_IDENTITY_CLIENT_ID", "SCHEDULER_ID"),
    ],
)
def test_a_bad_setting_names_itself(env: dict[str, str], setting: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProvisioningConfig.from_env(env)
    assert caught.value.setting == setting and caught.value.details == {"setting": setting}
    assert setting in caught.value.message and says in caught.value.message
    assert caught.value.code == "bad_setting"


def test_the_local_provisioner_is_refused_on_app_service() -> None:
    """App Service sets WEBSITE_INSTANCE_ID on every instance of a site (docs: "Environment
    variables and app settings in Azure App Service", Runtime variables): a router deployed there
    without ROUTER_PROVISIONER=azure would start and fail at its first release."""
    with pytest.raises(ConfigError) as caught:
        ProvisioningConfig.from_env({"WEBSITE_INSTANCE_ID": "a1b2c3", "WEBSITE_SITE_NAME": "router"})

    assert caught.value.setting == "ROUTER_PROVISIONER"
    assert "WEBSITE_INSTANCE_ID" in caught.value.message and "ROUTER_PROVISIONER=azure" in caught.value.message
    assert ProvisioningConfig.from_env({**AZURE, "WEBSITE_INSTANCE_ID": "a1b2c3"}).provisioner == "azure"


def test_the_local_provisioner_needs_no_azure_target() -> None:
    config = ProvisioningConfig.from_env({"ROUTER_SUBSCRIPTION_ID": "sub"})
    assert config.local_allowed
    assert config.missing_azure_target() == [
        "ROUTER_RESOURCE_GROUP", "ROUTER_LOCATION", "ROUTER_PLAN_ID", "ROUTER_LANE_IDENTITY_ID",
        "ROUTER_LANE_STORAGE_ACCOUNT",
    ]
