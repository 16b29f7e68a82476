"""What the host reads before it loads the app: local.settings.json and host.json.

Core Tools semantics: `Values` of local.settings.json become environment variables unless the
real environment already has them; host.json gives the HTTP route prefix and the task hub name,
whose `%SETTING%` references resolve against that environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.errors import ConfigError

DEFAULT_PORT = 7071
DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_TASK_HUB = "TestHubName"
DEFAULT_SCRIPT_FILE = "function_app.py"

_SETTING_REF = re.compile(r"%([^%]+)%")
AZURE_STORAGE = "AzureStorage"  # host.json storageProvider.type when absent
# The extension's Azure Storage rule (Options/AzureStorageOptions.cs, ValidateHubName): a valid
# table name (a letter, then letters and digits) of at most 50 characters. Its message says 45.
_AZURE_STORAGE_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,49}$")
OVERRIDABLE_STATES = ("NonRunningStates", "AnyState")  # the extension's OverridableStates.cs


def task_hub_rules(storage_provider: str) -> str:
    """Which provider's task hub name rules apply: Azure Storage's only for Azure Storage; the
    other providers (mssql, Netherite, azureManaged) bring their own, which the dev host does
    not check, as it does not store there."""
    return AZURE_STORAGE if storage_provider.lower() == AZURE_STORAGE.lower() else "none"


@dataclass(frozen=True)
class LocalSettings:
    """The parts of local.settings.json the host uses."""

    values: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None  # Host.LocalHttpPort, as Core Tools honours it


@dataclass(frozen=True)
class HostJson:
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    task_hub: str = DEFAULT_TASK_HUB
    storage_provider: str = AZURE_STORAGE  # extensions.durableTask.storageProvider.type
    overridable_states: str = "NonRunningStates"


@dataclass(frozen=True)
class HostConfig:
    """Everything `devhost start` decided before importing the app."""

    app_dir: Path
    host: str
    port: int
    data_dir: Path
    route_prefix: str
    task_hub: str
    script_file: str = DEFAULT_SCRIPT_FILE
    verbose: bool = False
    # Like `func start`: keys are checked only when started with --enableAuth.
    enable_auth: bool = False
    storage_provider: str = AZURE_STORAGE
    overridable_states: str = "NonRunningStates"  # one of OVERRIDABLE_STATES


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def load_local_settings(app_dir: Path) -> LocalSettings:
    """Read APP_DIR/local.settings.json; a missing file means no settings."""
    path = app_dir / "local.settings.json"
    if not path.is_file():
        return LocalSettings()
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    if doc.get("IsEncrypted") is True:
        raise ConfigError(f"{path} is encrypted; the dev host reads only plain settings")
    raw_values = doc.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise ConfigError(f"{path}: Values must be an object of setting names to strings")
    values: dict[str, str] = {}
    for name, value in raw_values.items():
        if value is None:
            continue
        # Core Tools passes every value as a string; booleans and numbers are stringified.
        values[str(name)] = value if isinstance(value, str) else json.dumps(value)
    port: int | None = None
    host_section = doc.get("Host") or {}
    if isinstance(host_section, dict) and "LocalHttpPort" in host_section:
        try:
            port = int(host_section["LocalHttpPort"])
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: Host.LocalHttpPort must be a port number") from None
    return LocalSettings(values=values, local_http_port=port)


def apply_settings(values: Mapping[str, str], environ: MutableMapping[str, str]) -> None:
    """Export settings into the environment; a variable already set there wins (Core Tools)."""
    for name, value in values.items():
        environ.setdefault(name, value)


def resolve_setting_refs(text: str, environ: Mapping[str, str], *, where: str) -> str:
    """Replace `%NAME%` by the setting NAME; an unknown setting is an error naming it."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(f"{where} refers to setting %{name}%, which is not set")
        return environ[name]

    return _SETTING_REF.sub(substitute, text)


def load_host_json(app_dir: Path, environ: Mapping[str, str]) -> HostJson:
    """Read APP_DIR/host.json: route prefix and task hub (with %SETTING% resolution)."""
    path = app_dir / "host.json"
    if not path.is_file():
        return HostJson()
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    extensions = doc.get("extensions") or {}
    http = extensions.get("http") or {}
    durable = extensions.get("durableTask") or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise ConfigError(f"{path}: extensions.http.routePrefix must be a string")
    hub = durable.get("hubName") or DEFAULT_TASK_HUB
    if not isinstance(hub, str):
        raise ConfigError(f"{path}: extensions.durableTask.hubName must be a string")
    hub = resolve_setting_refs(hub, environ, where=f"{path}: extensions.durableTask.hubName")
    provider = _storage_provider(durable, path)
    if task_hub_rules(provider) == AZURE_STORAGE and not _AZURE_STORAGE_HUB_NAME.match(hub):
        raise ConfigError(
            f"{path}: Task hub name '{hub}' should contain only alphanumeric characters, start "
            "with a letter, and have length between 3 and 45. (Azure Storage's rule; the "
            "storageProvider is Azure Storage)"
        )
    return HostJson(route_prefix=prefix.strip("/"), task_hub=hub, storage_provider=provider,
                    overridable_states=_overridable_states(durable, path))


def _storage_provider(durable: dict[str, Any], path: Path) -> str:
    section = durable.get("storageProvider") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: extensions.durableTask.storageProvider must be an object")
    kind = section.get("type") or AZURE_STORAGE
    if not isinstance(kind, str):
        raise ConfigError(f"{path}: extensions.durableTask.storageProvider.type must be a string")
    return kind


def _overridable_states(durable: dict[str, Any], path: Path) -> str:
    raw = durable.get("overridableExistingInstanceStates", OVERRIDABLE_STATES[0])
    # .NET binds enum options case-insensitively.
    chosen = next((v for v in OVERRIDABLE_STATES if isinstance(raw, str) and v.lower() == raw.lower()), None)
    if chosen is None:
        raise ConfigError(
            f"{path}: extensions.durableTask.overridableExistingInstanceStates must be one of "
            f"{', '.join(OVERRIDABLE_STATES)}, not {raw!r}"
        )
    return chosen


def build_config(
    app_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    data_dir: Path | None = None,
    verbose: bool = False,
    enable_auth: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> HostConfig:
    """Load both files, export the settings into `environ` and decide ports and paths."""
    environ = os.environ if environ is None else environ
    app_dir = app_dir.resolve()
    if not app_dir.is_dir():
        raise ConfigError(f"app directory {app_dir} does not exist")
    local = load_local_settings(app_dir)
    apply_settings(local.values, environ)
    host_json = load_host_json(app_dir, environ)
    chosen_port = port if port is not None else (local.local_http_port or DEFAULT_PORT)
    if not 0 <= chosen_port <= 65535:
        raise ConfigError(f"--port {chosen_port} is not a TCP port")
    script_file = environ.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_SCRIPT_FILE
    return HostConfig(
        app_dir=app_dir,
        host=host,
        port=chosen_port,
        data_dir=(data_dir or app_dir / ".devhost" / host_json.task_hub).resolve(),
        route_prefix=host_json.route_prefix,
        task_hub=host_json.task_hub,
        script_file=script_file,
        verbose=verbose,
        enable_auth=enable_auth,
        storage_provider=host_json.storage_provider,
        overridable_states=host_json.overridable_states,
    )
