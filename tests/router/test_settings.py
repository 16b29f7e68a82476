import pytest

from provisioning.config import ProvisioningConfig
from router.errors import SettingsError
from router.settings import Settings


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.provisioner == "local"
    assert settings.version_header == "X-App-Version"
    assert settings.draining_lanes_accept_starts is True
    assert settings.allowed_package_hosts == ()
    assert settings.provisioning == ProvisioningConfig()


def test_values_are_typed():
    settings = Settings.from_env(
        {
            "ROUTER_MAX_LANES": "3",
            "ROUTER_ALLOW_PRERELEASE": "TRUE",
            "ROUTER_MAP_CACHE_SECONDS": "0.5",
            "ROUTER_ALLOWED_PACKAGE_HOSTS": "Builds.Example.com, cdn.example.net",
            "ROUTER_DRAINING_LANES_ACCEPT_STARTS": "false",
        }
    )
    assert settings.max_lanes == 3
    assert settings.allow_prerelease is True
    assert settings.map_cache_seconds == 0.5
    assert settings.allowed_package_hosts == ("builds.example.com", "cdn.example.net")
    assert settings.draining_lanes_accept_starts is False


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("ROUTER_PROVISIONER", "gcp", "azure or local"),
        ("ROUTER_MAX_LANES", "0", "whole number >= 1"),
        ("ROUTER_MAX_LANES", "many", "whole number >= 1"),
        ("ROUTER_ALLOW_PRERELEASE", "maybe", "true or false"),
        ("ROUTER_MAP_CACHE_SECONDS", "-1", "number >= 0"),
        ("ROUTER_DRAIN_POLL_SECONDS", "1.5", "whole number >= 1"),
        ("ROUTER_ALLOWED_PACKAGE_HOSTS", "https://x.example.com/", "host names"),
        ("ROUTER_ALLOWED_PACKAGE_HOSTS", "*", "host names"),
        ("ROUTER_APP_PREFIX", "my_app", "letters, digits or hyphens"),
        ("ROUTER_TRACKING_STORE_NAME_PREFIX", "All", "ROUTER_TRACKING_STORE_CONNECTION_NAME"),
    ],
)
def test_a_bad_setting_names_itself_and_what_it_accepts(name, value, accepted):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert name in caught.value.message
    assert accepted in caught.value.message
    assert caught.value.body()["setting"] == name


def test_a_wildcard_package_host_is_accepted():
    settings = Settings.from_env({"ROUTER_ALLOWED_PACKAGE_HOSTS": "*.blob.core.windows.net,Builds.example.com"})
    assert settings.allowed_package_hosts == ("*.blob.core.windows.net", "builds.example.com")
    assert settings.provisioning.allowed_package_hosts == settings.allowed_package_hosts


def test_the_provisioning_settings_are_provisionings_own():
    settings = Settings.from_env({"ROUTER_LOCAL_ROOT": "/srv/lanes", "ROUTER_APP_PREFIX": "orders"})
    assert settings.provisioning == ProvisioningConfig.from_env({"ROUTER_LOCAL_ROOT": "/srv/lanes", "ROUTER_APP_PREFIX": "orders"})
    assert (settings.local_root, settings.provisioning.app_prefix) == ("/srv/lanes", "orders")


def test_azure_provisioner_requires_its_target():
    with pytest.raises(SettingsError, match="ROUTER_SUBSCRIPTION_ID") as caught:
        Settings.from_env({"ROUTER_PROVISIONER": "azure"})
    assert caught.value.body()["setting"] == "ROUTER_SUBSCRIPTION_ID"
    settings = Settings.from_env(
        {
            "ROUTER_PROVISIONER": "azure",
            "ROUTER_SUBSCRIPTION_ID": "sub",
            "ROUTER_RESOURCE_GROUP": "rg",
            "ROUTER_LOCATION": "westeurope",
            "ROUTER_PLAN_ID": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/serverfarms/plan",
        }
    )
    assert settings.provisioner == "azure"
