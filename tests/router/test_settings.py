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
        ("ROUTER_ID", "prod-1", "letters and digits"),
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
    assert (settings.provisioning.local_root, settings.provisioning.app_prefix) == ("/srv/lanes", "orders")


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
            **LANE_IDENTITY,
            **KEYS,
        }
    )
    assert settings.provisioner == "azure"


# --- role keys ------------------------------------------------------------------------------------

C, R, A = "c" * 32, "r" * 40, "a-_" * 11
KEYS = {"ROUTER_CLIENT_KEYS": f"{C}, {C.upper()}", "ROUTER_RELEASE_KEYS": R, "ROUTER_ADMIN_KEYS": A}
LANE_IDENTITY = {
    "ROUTER_LANE_IDENTITY_ID": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/"
                               "userAssignedIdentities/lanes",
    "ROUTER_LANE_STORAGE_SECRET_URI": "https://v.vault.azure.net/secrets/lanes",
}
AZURE_TARGET = {"ROUTER_PROVISIONER": "azure", "ROUTER_SUBSCRIPTION_ID": "s", "ROUTER_RESOURCE_GROUP": "g",
                "ROUTER_LOCATION": "l",
                "ROUTER_PLAN_ID": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/serverfarms/p",
                **LANE_IDENTITY}


def test_role_keys_are_comma_separated_per_role():
    keys = Settings.from_env(KEYS).role_keys
    assert keys is not None
    assert keys.client == (C, C.upper()) and keys.release == (R,) and keys.admin == (A,)


def test_role_keys_never_show_in_the_settings_repr():
    assert C not in repr(Settings.from_env(KEYS)) and R not in repr(Settings.from_env(KEYS))


@pytest.mark.parametrize(
    ("change", "setting", "says"),
    [
        ({"ROUTER_CLIENT_KEYS": "short"}, "ROUTER_CLIENT_KEYS", "at least 32"),
        ({"ROUTER_RELEASE_KEYS": f"{R},"}, "ROUTER_RELEASE_KEYS", "empty"),
        ({"ROUTER_ADMIN_KEYS": "a" * 31}, "ROUTER_ADMIN_KEYS", "at least 32"),
        ({"ROUTER_ADMIN_KEYS": "a" * 31 + " b"}, "ROUTER_ADMIN_KEYS", "letters, digits"),
        ({"ROUTER_ADMIN_KEYS": "é" * 40}, "ROUTER_ADMIN_KEYS", "letters, digits"),
        ({"ROUTER_ADMIN_KEYS": C}, "ROUTER_ADMIN_KEYS", "ROUTER_CLIENT_KEYS"),
        ({"ROUTER_RELEASE_KEYS": ""}, "ROUTER_RELEASE_KEYS", "every role"),
    ],
)
def test_bad_role_keys_fail_the_start_naming_the_setting(change, setting, says):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**KEYS, **change})
    assert caught.value.body()["setting"] == setting
    assert says in caught.value.message
    assert C not in caught.value.message and R not in caught.value.message


def test_without_role_keys_a_local_router_is_open():
    """Like `func start`: on a developer's machine, with the local provisioner, keys are optional."""
    assert Settings.from_env({}).role_keys is None


def test_on_app_service_the_local_provisioner_is_refused():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"WEBSITE_INSTANCE_ID": "abc", **KEYS})
    assert caught.value.body()["setting"] == "ROUTER_PROVISIONER"


@pytest.mark.parametrize(
    "hosted",
    [{"WEBSITE_INSTANCE_ID": "abc", **AZURE_TARGET}, {"WEBSITE_SITE_NAME": "router"}, {"CONTAINER_APP_NAME": "router"},
     {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, AZURE_TARGET],
)
def test_a_hosted_or_azure_provisioning_router_refuses_to_start_without_role_keys(hosted):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(hosted)
    assert caught.value.body()["setting"] == "ROUTER_CLIENT_KEYS"
    assert Settings.from_env({**hosted, **KEYS}).role_keys is not None


# --- local package roots --------------------------------------------------------------------------

def test_local_package_roots(tmp_path):
    settings = Settings.from_env({"ROUTER_LOCAL_PACKAGE_ROOTS": f"{tmp_path}, {tmp_path / 'b'}"})
    assert settings.local_package_roots == (str(tmp_path), str(tmp_path / "b"))
    assert Settings.from_env({}).local_package_roots == ()


def test_a_relative_package_root_is_refused():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"ROUTER_LOCAL_PACKAGE_ROOTS": "builds"})
    assert caught.value.body()["setting"] == "ROUTER_LOCAL_PACKAGE_ROOTS"
