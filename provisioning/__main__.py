"""`python -m provisioning`: the backends by hand, without the router.

`plan --lane 1.2 --version 1.2.0` is what the Azure backend would do: a dry run, no credentials,
no network. It reads the ROUTER_* environment (as the router does) and prints, as JSON, the app
the Azure backend would create for the lane (name, kind, tags, the exact site body) and every app
setting it would set. Settings left unset are shown as placeholders and listed under
"placeholders".

`local list|stop|delete [LANE]` looks after the local backend's lanes: list them (no secret),
stop every lane host, or delete one lane.

`package APP_DIR --out FILE.zip` builds a deployable package: the app and its requirements
installed for App Service's Linux and Python under `.python_packages` (see packaging).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import semver

from provisioning.azure_config import AzureConfig
from provisioning.azure_resources import RUN_FROM_PACKAGE, app_name, lane_app_settings, site_envelope
from provisioning.base import LaneSpec
from provisioning.config import AZURE_TARGET_FIELDS, ProvisioningConfig
from provisioning.errors import ConfigError
from provisioning import packaging
from provisioning.local import LocalLaneBackend
from provisioning.naming import is_lane_key, lane_key, lane_task_hub
from provisioning.packages import describe_location

_PLACEHOLDERS = {
    "ROUTER_SUBSCRIPTION_ID": "<subscription-id>",
    "ROUTER_RESOURCE_GROUP": "<resource-group>",
    "ROUTER_LOCATION": "<location>",
    "ROUTER_PLAN_ID": (
        "/subscriptions/<subscription-id>/resourceGroups/<resource-group>"
        "/providers/Microsoft.Web/serverfarms/<plan>"
    ),
}


class UsageError(Exception):
    """A command-line value the command cannot work with."""


def plan_config(env: Mapping[str, str]) -> tuple[AzureConfig, list[str]]:
    """The Azure config the router would build from `env`, and which settings were placeholders."""
    # Validate every provisioning setting, but never demand what a dry run can stand in for.
    config = ProvisioningConfig.from_env({**env, "ROUTER_PROVISIONER": "local"})
    missing = config.missing_azure_target()
    config = dataclasses.replace(config, **{AZURE_TARGET_FIELDS[name]: _PLACEHOLDERS[name] for name in missing})
    return AzureConfig.from_config(config), missing


def plan(config: AzureConfig, lane: LaneSpec, package_url: str | None) -> dict[str, Any]:
    """Everything the backend would create and set for `lane`, as JSON-ready data."""
    name = app_name(config, lane.lane)
    settings = lane_app_settings(config, lane)
    if package_url:
        # A package URL often carries a SAS token: show where it points, not the token.
        shown = describe_location(package_url) + ("?<query hidden>" if urlsplit(package_url).query else "")
    else:
        shown = "<package URL, set at deploy>"
    settings[RUN_FROM_PACKAGE] = shown
    return {
        "backend": "azure",
        "dryRun": True,
        "lane": lane.lane,
        "version": lane.version,
        "taskHub": lane.task_hub,
        "app": {
            "name": name,
            "resourceId": (
                f"/subscriptions/{config.subscription_id}/resourceGroups/{config.resource_group}"
                f"/providers/Microsoft.Web/sites/{name}"
            ),
            "url": f"https://{name}.azurewebsites.net",
        },
        "site": site_envelope(config, lane),
        "appSettings": dict(sorted(settings.items())),
        "afterDeploy": ["POST .../syncfunctiontriggers"],
    }


def lane_spec(version_text: str, lane: str | None, task_hub: str | None) -> LaneSpec:
    """The lane a release of `version_text` would get (UsageError for a bad version or lane)."""
    text = version_text.strip()
    try:
        # A leading v and a missing patch are accepted, as release intake accepts them.
        version = semver.Version.parse(text.removeprefix("v").removeprefix("V"), optional_minor_and_patch=True)
    except (ValueError, TypeError):
        raise UsageError(f"version {version_text!r} is not valid: expected MAJOR.MINOR[.PATCH]") from None
    version = version.replace(build=None)
    if lane is not None and not is_lane_key(lane):
        raise UsageError(f"lane {lane!r} is not valid: expected MAJOR.MINOR, e.g. 1.2")
    if lane is not None and lane != lane_key(version):
        raise UsageError(f"version {version} does not belong to lane {lane}")
    lane = lane or lane_key(version)
    return LaneSpec(lane=lane, version=str(version), task_hub=task_hub or lane_task_hub(lane))


def local_command(command: str, lane: str | None, root: Path) -> None:
    backend = LocalLaneBackend(root)
    if command == "list":
        for record, running in backend.lanes():
            shown = {
                "lane": record.lane,
                "app": record.name,
                "version": record.version,
                "port": record.port,
                "pid": record.pid,
                "running": running,
                "package_sha256": record.package_sha256,
            }
            print(json.dumps(shown))
    elif command == "stop":
        asyncio.run(backend.stop_all())
    else:
        if not lane:
            raise UsageError("delete needs a lane, e.g. 1.0")
        asyncio.run(backend.delete_app(backend.app_of(lane)))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m provisioning")
    commands = parser.add_subparsers(dest="command", required=True)
    dry_run = commands.add_parser("plan", help="print what the azure backend would create and set")
    dry_run.add_argument("--version", required=True, help="the release version, e.g. 1.2.0")
    dry_run.add_argument("--lane", help="the lane, MAJOR.MINOR (default: the version's)")
    dry_run.add_argument("--task-hub", help="the lane's task hub (default: the router's name for it)")
    dry_run.add_argument("--package-url", help="the package the release would deploy")
    local = commands.add_parser("local", help="list, stop or delete the local backend's lanes")
    local.add_argument("action", choices=("list", "stop", "delete"))
    local.add_argument("lane", nargs="?", help="the lane key (MAJOR.MINOR) for delete")
    local.add_argument("--root", type=Path, help="the backend's root (default: $ROUTER_LOCAL_ROOT or .devhost/lanes)")
    packaging.add_command(commands)
    args = parser.parse_args(argv)
    if args.command == "package":
        return packaging.run_command(args)

    try:
        if args.command == "local":
            root = args.root or Path(ProvisioningConfig.from_env(env).local_root)
            local_command(args.action, args.lane, root)
            return 0
        spec = lane_spec(args.version, args.lane, args.task_hub)
        config, missing = plan_config(env)
    except (UsageError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = plan(config, spec, args.package_url)
    result["placeholders"] = missing
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
