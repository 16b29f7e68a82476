import json
import subprocess
import sys
from pathlib import Path

import pytest

from devhost import launcher
from devhost.config import build_config, load_host_json, load_local_settings, task_hub_rules
from devhost.errors import ConfigError
from devhost.keys import AuthLevel, load_or_create_keys


def write(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc, encoding="utf-8")


def test_local_settings_fill_the_environment_but_the_real_environment_wins(tmp_path: Path) -> None:
    write(
        tmp_path / "local.settings.json",
        {"Values": {"A": "from file", "B": "from file", "N": 3, "T": True}, "Host": {"LocalHttpPort": 7123}},
    )
    environ = {"B": "from env"}
    config = build_config(tmp_path, environ=environ)
    assert environ == {"A": "from file", "B": "from env", "N": "3", "T": "true"}
    assert config.port == 7123


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = build_config(tmp_path, environ={})
    assert (config.port, config.route_prefix, config.task_hub) == (7071, "api", "TestHubName")
    assert config.data_dir == tmp_path.resolve() / ".devhost" / "TestHubName"


def test_host_json_route_prefix_and_task_hub_from_a_setting(tmp_path: Path) -> None:
    write(
        tmp_path / "host.json",
        {
            "version": "2.0",
            "extensions": {"http": {"routePrefix": ""}, "durableTask": {"hubName": "%MY_HUB%"}},
        },
    )
    write(tmp_path / "local.settings.json", {"Values": {"MY_HUB": "LaneOneHub"}})
    config = build_config(tmp_path, port=7999, data_dir=tmp_path / "d", environ={})
    assert (config.route_prefix, config.task_hub, config.port) == ("", "LaneOneHub", 7999)
    assert config.data_dir == (tmp_path / "d").resolve()


@pytest.mark.parametrize(
    ("host_json", "environ", "message"),
    [
        ({"extensions": {"durableTask": {"hubName": "%MISSING%"}}}, {}, "%MISSING%"),
        ({"extensions": {"durableTask": {"hubName": "bad-hub"}}}, {}, "bad-hub"),
        ("{not json", {}, "not valid JSON"),
    ],
)
def test_bad_host_json_fails_with_a_message_naming_the_problem(
    tmp_path: Path, host_json: object, environ: dict[str, str], message: str
) -> None:
    write(tmp_path / "host.json", host_json)
    with pytest.raises(ConfigError, match=message):
        load_host_json(tmp_path, environ)


def test_encrypted_local_settings_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "local.settings.json", {"IsEncrypted": True, "Values": {}})
    with pytest.raises(ConfigError, match="encrypted"):
        load_local_settings(tmp_path)


def test_keys_are_generated_once_kept_and_overridable(tmp_path: Path) -> None:
    first = load_or_create_keys(tmp_path, function_names=["f1"], environ={})
    again = load_or_create_keys(tmp_path, function_names=["f1", "f2"], environ={})
    assert again.master_key == first.master_key
    assert again.functions["f1"] == first.functions["f1"]
    assert set(again.functions) == {"f1", "f2"}
    assert len({first.master_key, first.default_function_key, first.durable_system_key}) == 3
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
    fixed = load_or_create_keys(
        tmp_path,
        environ={"DEVHOST_MASTER_KEY": "m", "DEVHOST_FUNCTION_KEY": "f", "DEVHOST_DURABLETASK_KEY": "s"},
    )
    assert (fixed.master_key, fixed.default_function_key, fixed.durable_system_key) == ("m", "f", "s")
    assert json.loads((tmp_path / "keys.json").read_text())["systemKeys"] == {"durabletask_extension": "s"}


def test_auth_levels_accept_exactly_the_right_keys(tmp_path: Path) -> None:
    keys = load_or_create_keys(tmp_path, function_names=["f", "g"], environ={})
    own, other = keys.functions["f"]["default"], keys.functions["g"]["default"]
    table = {
        AuthLevel.ANONYMOUS: {None: True, "wrong": True},
        AuthLevel.FUNCTION: {None: False, "wrong": False, own: True, other: False,
                             keys.default_function_key: True, keys.master_key: True,
                             keys.durable_system_key: False},
        AuthLevel.ADMIN: {None: False, own: False, keys.default_function_key: False, keys.master_key: True},
    }  # fmt: skip
    for level, cases in table.items():
        for key, allowed in cases.items():
            assert keys.authorizes(level, key, "f") is allowed, (level, key == keys.master_key)
    assert keys.is_durable_system(keys.durable_system_key)
    assert keys.is_durable_system(keys.master_key)
    assert not keys.is_durable_system(keys.default_function_key)


def test_keys_subcommand_prints_the_keys_file(tmp_path: Path) -> None:
    write(tmp_path / "local.settings.json", {"Values": {"DEVHOST_MASTER_KEY": "fixed-master"}})
    env = launcher.host_env()
    env.pop("DEVHOST_MASTER_KEY", None)  # the file's key must be the one printed
    run = subprocess.run(
        [sys.executable, "-m", "devhost", "keys", str(tmp_path), "--data", str(tmp_path / "data")],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    printed = json.loads(run.stdout)
    assert printed["masterKey"] == "fixed-master"
    assert printed == json.loads((tmp_path / "data" / "keys.json").read_text())
    assert set(printed) == {"masterKey", "functionKeys", "systemKeys", "functions"}


@pytest.mark.parametrize(
    ("durable", "hub_ok", "provider"),
    [
        # The extension's Azure Storage rule (Options/AzureStorageOptions.cs, ValidateHubName).
        ({"hubName": "bad-hub"}, False, "AzureStorage"),
        ({"hubName": "A" * 50}, True, "AzureStorage"),
        ({"hubName": "A" * 51}, False, "AzureStorage"),
        ({"hubName": "bad-hub", "storageProvider": {"type": "AzureStorage"}}, False, "AzureStorage"),
        # Other providers bring their own rules; Azure Storage's do not apply.
        ({"hubName": "bad-hub", "storageProvider": {"type": "mssql"}}, True, "mssql"),
        ({"hubName": "my_hub", "storageProvider": {"type": "Netherite"}}, True, "Netherite"),
        ({"hubName": "x-y", "storageProvider": {"type": "azureManaged"}}, True, "azureManaged"),
    ],
)
def test_task_hub_name_rules_follow_the_storage_provider(
    tmp_path: Path, durable: dict, hub_ok: bool, provider: str
) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": durable}}))
    if not hub_ok:
        with pytest.raises(ConfigError, match="Azure Storage"):
            load_host_json(tmp_path, {})
        return
    loaded = load_host_json(tmp_path, {})
    assert (loaded.task_hub, loaded.storage_provider) == (durable["hubName"], provider)
    assert task_hub_rules(provider) == ("AzureStorage" if provider == "AzureStorage" else "none")


def test_overridable_existing_instance_states_is_read_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps({"extensions": {"durableTask": {"overridableExistingInstanceStates": "anystate"}}}))
    assert load_host_json(tmp_path, {}).overridable_states == "AnyState"
    (tmp_path / "host.json").write_text(
        json.dumps({"extensions": {"durableTask": {"overridableExistingInstanceStates": "Sometimes"}}}))
    with pytest.raises(ConfigError, match="NonRunningStates, AnyState"):
        load_host_json(tmp_path, {})
