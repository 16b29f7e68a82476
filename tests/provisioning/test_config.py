"""The provisioning config: read once from ROUTER_*, a bad value names its setting."""

from __future__ import annotations

import pytest

from provisioning.config import ProvisioningConfig, TrackingStore
from provisioning.errors import ConfigError

AZURE = {
    "ROUTER_PROVISIONER": "azure",
    "ROUTER_SUBSCRIPTION_ID": "sub",
    "ROUTER_RESOURCE_GROUP": "rg",
    "ROUTER_LOCATION": "westeurope",
    "ROUTER_PLAN_ID": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/serverfarms/plan",
}


def test_defaults_need_no_environment() -> None:
    assert ProvisioningConfig.from_env({}) == ProvisioningConfig()
    config = ProvisioningConfig()
    assert (config.provisioner, config.app_prefix, config.local_root) == ("local", "dfrouter", ".devhost/lanes")
    assert config.allowed_package_hosts == () and config.tracking_store is None


def test_every_setting_is_read() -> None:
    config = ProvisioningConfig.from_env(
        {
            **AZURE,
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "Builds.Example.com, *.blob.core.windows.net",
            "ROUTER_APP_PREFIX": "orders",
            "ROUTER_ARM_ENDPOINT": "https://management.usgovcloudapi.net/",
            "ROUTER_LANE_STORAGE_ACCOUNT": "lanes",
            "ROUTER_TRACKING_STORE_CONNECTION_NAME": "Tracking",
            "ROUTER_TRACKING_STORE_NAME_PREFIX": "All",
            "ROUTER_LOCAL_ROOT": "/srv/lanes",
            "ROUTER_LOCAL_VENV_ROOT": "/srv/venvs",
        }
    )
    assert config == ProvisioningConfig(
        provisioner="azure",
        allowed_package_hosts=("builds.example.com", "*.blob.core.windows.net"),
        app_prefix="orders",
        subscription_id="sub",
        resource_group="rg",
        location="westeurope",
        plan_id=AZURE["ROUTER_PLAN_ID"],
        arm_endpoint="https://management.usgovcloudapi.net",
        lane_storage_account="lanes",
        tracking_store=TrackingStore("Tracking", "All"),
        local_root="/srv/lanes",
        local_venv_root="/srv/venvs",
    )
    assert not config.local_allowed


@pytest.mark.parametrize(
    ("env", "setting", "says"),
    [
        ({"ROUTER_PROVISIONER": "gcp"}, "ROUTER_PROVISIONER", "azure or local"),
        ({"ROUTER_APP_PREFIX": "my_app"}, "ROUTER_APP_PREFIX", "letters, digits or hyphens"),
        ({"ROUTER_APP_PREFIX": "x" * 21}, "ROUTER_APP_PREFIX", "1-20"),
        ({"ROUTER_APP_PREFIX": " "}, "ROUTER_APP_PREFIX", "must not be empty"),
        ({"ROUTER_ALLOWED_PACKAGE_HOSTS": "*"}, "ROUTER_ALLOWED_PACKAGE_HOSTS", "host names"),
        ({"ROUTER_ALLOWED_PACKAGE_HOSTS": "a.*.example.com"}, "ROUTER_ALLOWED_PACKAGE_HOSTS", "host names"),
        ({"ROUTER_ARM_ENDPOINT": "http://arm.example"}, "ROUTER_ARM_ENDPOINT", "https URL"),
        ({"ROUTER_LOCAL_ROOT": ""}, "ROUTER_LOCAL_ROOT", "must not be empty"),
        ({"ROUTER_TRACKING_STORE_NAME_PREFIX": "All"}, "ROUTER_TRACKING_STORE_NAME_PREFIX", "CONNECTION_NAME"),
        ({**AZURE, "ROUTER_PLAN_ID": ""}, "ROUTER_PLAN_ID", "required when ROUTER_PROVISIONER=azure"),
        ({"ROUTER_PROVISIONER": "azure"}, "ROUTER_SUBSCRIPTION_ID", "required when ROUTER_PROVISIONER=azure"),
    ],
)
def test_a_bad_setting_names_itself(env: dict[str, str], setting: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProvisioningConfig.from_env(env)
    assert caught.value.setting == setting and caught.value.details == {"setting": setting}
    assert setting in caught.value.message and says in caught.value.message
    assert caught.value.code == "bad_setting"


def test_the_local_provisioner_needs_no_azure_target() -> None:
    config = ProvisioningConfig.from_env({"ROUTER_SUBSCRIPTION_ID": "sub"})
    assert config.local_allowed
    assert config.missing_azure_target() == ["ROUTER_RESOURCE_GROUP", "ROUTER_LOCATION", "ROUTER_PLAN_ID"]
