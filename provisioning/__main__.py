"""`python -m provisioning plan --lane 1.2 --version 1.2.0`: what the Azure backend would do.

A dry run: no credentials, no network. It reads the ROUTER_* environment (as the router does)
and prints, as JSON, the app the Azure backend would create for the lane (name, kind, tags, the
exact site body) and every app setting it would set. Settings left unset are shown as
placeholders and listed under "placeholders".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from provisioning.azure_config import AzureConfig, azure_config_from_settings
from provisioning.azure_resources import RUN_FROM_PACKAGE, app_name, lane_app_settings, site_envelope
from provisioning.base import LaneSpec
from provisioning.packages import describe_location
from router.errors import BadVersion, SettingsError
from router.settings import Settings
from router.versions import lane_key, lane_task_hub, parse_lane_key, parse_version

_PLACEHOLDERS = {
    "ROUTER_SUBSCRIPTION_ID": "<subscription-id>",
    "ROUTER_RESOURCE_GROUP": "<resource-group>",
    "ROUTER_LOCATION": "<location>",
    "ROUTER_PLAN_ID": (
        "/subscriptions/<subscription-id>/resourceGroups/<resource-group>"
        "/providers/Microsoft.Web/serverfarms/<plan>"
    ),
}


def plan_config(env: Mapping[str, str]) -> tuple[AzureConfig, list[str]]:
    """The Azure config the router would build from `env`, and which settings were placeholders."""
    # Validate everything the router validates, but never demand what a dry run can stand in for.
    settings = Settings.from_env({**env, "ROUTER_PROVISIONER": "local"})
    given = {
        "ROUTER_SUBSCRIPTION_ID": settings.subscription_id,
        "ROUTER_RESOURCE_GROUP": settings.resource_group,
        "ROUTER_LOCATION": settings.location,
        "ROUTER_PLAN_ID": settings.plan_id,
    }
    missing = [name for name, value in given.items() if not value]
    value = {name: given[name] or _PLACEHOLDERS[name] for name in given}
    config = azure_config_from_settings(
        dataclasses.replace(
            settings,
            subscription_id=value["ROUTER_SUBSCRIPTION_ID"],
            resource_group=value["ROUTER_RESOURCE_GROUP"],
            location=value["ROUTER_LOCATION"],
            plan_id=value["ROUTER_PLAN_ID"],
        )
    )
    return config, missing


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


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning")
    commands = parser.add_subparsers(dest="command", required=True)
    dry_run = commands.add_parser("plan", help="print what the azure backend would create and set")
    dry_run.add_argument("--version", required=True, help="the release version, e.g. 1.2.0")
    dry_run.add_argument("--lane", help="the lane, MAJOR.MINOR (default: the version's)")
    dry_run.add_argument("--task-hub", help="the lane's task hub (default: the router's name for it)")
    dry_run.add_argument("--package-url", help="the package the release would deploy")
    args = parser.parse_args(argv)

    try:
        version = parse_version(args.version, allow_prerelease=True)
        lane = parse_lane_key(args.lane) if args.lane else lane_key(version)
        if lane != lane_key(version):
            raise BadVersion(f"version {args.version} does not belong to lane {lane}")
        config, missing = plan_config(os.environ if env is None else env)
    except (BadVersion, SettingsError) as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    spec = LaneSpec(lane=lane, version=str(version), task_hub=args.task_hub or lane_task_hub(lane))
    result = plan(config, spec, args.package_url)
    result["placeholders"] = missing
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
