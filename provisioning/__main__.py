"""`python -m provisioning`: the backends by hand, without the router.

`plan --lane 1.2 --version 1.2.0 --plan-sku EP1 [--json]` is what the Azure backend would do: a
dry run, no credentials, no network. It reads the ROUTER_* environment (as the router does) and
prints every ARM request the backend would send for the lane on a plan of that SKU (method, path,
api-version, body), built by the same functions the backend sends (provisioning.azure_plan_requests);
a package URL's SAS query is hidden. Settings left unset are shown as placeholders and listed.

`local list | stop --all | stop LANE | delete LANE` looks after the local backend's lanes: list
them (no secret), stop every lane host or one (their state stays: a router restarts a stopped lane
host when it probes it), or delete one lane.

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

import semver

from provisioning import packaging
from provisioning.azure_config import AzureConfig
from provisioning.azure_plan import plan_kind, plan_refusal
from provisioning.azure_plan_requests import PACKAGE_PLACEHOLDER, lane_requests
from provisioning.azure_resources import app_name, content_share_problem
from provisioning.base import LaneSpec
from provisioning.config import (
    APP_SERVICE_MARKER,
    AZURE_TARGET_FIELDS,
    CLIENT_ID_SETTING,
    STORAGE_ACCOUNT_SETTING,
    ProvisioningConfig,
    parse_plan_id,
    parse_scheduler_id,
)
from provisioning.errors import ConfigError
from provisioning.local import LocalLaneBackend
from provisioning.naming import is_lane_key, lane_key, lane_task_hub

_PLACEHOLDERS = {
    "ROUTER_SUBSCRIPTION_ID": "<subscription-id>",
    "ROUTER_RESOURCE_GROUP": "<resource-group>",
    "ROUTER_LOCATION": "<location>",
    "ROUTER_PLAN_ID": (
        "/subscriptions/<subscription-id>/resourceGroups/<resource-group>"
        "/providers/Microsoft.Web/serverfarms/<plan>"
    ),
    "ROUTER_LANE_IDENTITY_ID": (
        "/subscriptions/<subscription-id>/resourceGroups/<resource-group>"
        "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<lanes-identity>"
    ),
    STORAGE_ACCOUNT_SETTING: "<storageaccount>",
    CLIENT_ID_SETTING: "<lanes-identity-client-id>",
}
_FIELDS = {**AZURE_TARGET_FIELDS, STORAGE_ACCOUNT_SETTING: "lane_storage_account",
           CLIENT_ID_SETTING: "lane_identity_client_id"}


class UsageError(Exception):
    """A command-line value the command cannot work with."""


def plan_config(env: Mapping[str, str]) -> tuple[AzureConfig, list[str], str]:
    """The Azure config the router would build from `env`, which settings were placeholders, and
    the router id its lanes' task hubs start with."""
    # Validate every provisioning setting, but never demand what a dry run can stand in for (nor
    # refuse to run on App Service, where an operator may well run it).
    quiet = {key: value for key, value in env.items() if key != APP_SERVICE_MARKER}
    config = ProvisioningConfig.from_env({**quiet, "ROUTER_PROVISIONER": "local"})
    missing = config.missing_azure_target()
    config = dataclasses.replace(config, **{_FIELDS[name]: _PLACEHOLDERS[name] for name in missing})
    for name, problem in config.azure_conflicts():
        if name != CLIENT_ID_SETTING:
            raise ConfigError(problem, setting=name)
        missing.append(name)
        config = dataclasses.replace(config, lane_identity_client_id=_PLACEHOLDERS[name])
    return AzureConfig.from_config(config), missing, config.router_id


def plan(config: AzureConfig, lane: LaneSpec, sku: str, package_url: str | None) -> dict[str, Any]:
    """Everything the backend would send for `lane` on a plan of `sku`, as JSON-ready data;
    UsageError when the backend would refuse the plan."""
    kind = plan_kind(sku)
    _, plan_name = parse_plan_id(config.plan_id)
    refusal = plan_refusal(kind, plan_name) or content_share_problem(config, kind)
    if refusal:
        raise UsageError(refusal)
    endpoint = ""
    if config.scheduler_id:
        endpoint = f"<endpoint of scheduler {parse_scheduler_id(config.scheduler_id)[2]}, read at create>"
    requests = lane_requests(config, lane, kind, package_url=package_url or PACKAGE_PLACEHOLDER,
                             scheduler_endpoint=endpoint)
    name = app_name(config, lane.lane)
    return {
        "backend": "azure",
        "dryRun": True,
        "lane": lane.lane,
        "version": lane.version,
        "taskHub": lane.task_hub,
        "plan": {"sku": sku, "kind": kind.value},
        "armEndpoint": config.base_url,
        "app": {
            "name": name,
            "resourceId": (
                f"/subscriptions/{config.subscription_id}/resourceGroups/{config.resource_group}"
                f"/providers/Microsoft.Web/sites/{name}"
            ),
            "url": f"https://{name}.azurewebsites.net",
        },
        "requests": [request.to_json() for request in requests],
    }


def print_plan(result: dict[str, Any]) -> None:
    """The plan for a reader: one line per request, bodies as indented JSON."""
    print(f"Lane {result['lane']} (version {result['version']}) on plan SKU {result['plan']['sku']} "
          f"({result['plan']['kind']}): app {result['app']['name']}, task hub {result['taskHub']}")
    if result["placeholders"]:
        print("Unset settings shown as <placeholders>: " + ", ".join(result["placeholders"]))
    step = ""
    for request in result["requests"]:
        if request["step"] != step:
            step = request["step"]
            print(f"\n{step}")
        query = f"&{request['query']}" if "query" in request else ""
        print(f"  {request['method']:<6} {result['armEndpoint']}{request['path']}?api-version={request['apiVersion']}{query}")
        if "note" in request:
            print(f"         ({request['note']})")
        if "body" in request:
            for line in json.dumps(request["body"], indent=2).splitlines():
                print("         " + line)


def lane_spec(version_text: str, lane: str | None, task_hub: str | None, router_id: str = "") -> LaneSpec:
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
    return LaneSpec(lane=lane, version=str(version), task_hub=task_hub or lane_task_hub(lane, router_id))


def local_command(command: str, lane: str | None, root: Path, *, every_lane: bool = False) -> None:
    if lane is not None and not is_lane_key(lane):
        raise UsageError(f"lane {lane!r} is not valid: expected MAJOR.MINOR, e.g. 1.0")
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
        if every_lane == (lane is not None):
            raise UsageError("stop needs a lane (e.g. 1.0) or --all")
        if every_lane:
            asyncio.run(backend.stop_all())
        elif not asyncio.run(backend.stop_lane(lane)):  # type: ignore[arg-type]
            raise UsageError(f"no local lane {lane} under {root}")
    else:
        if not lane:
            raise UsageError("delete needs a lane, e.g. 1.0")
        asyncio.run(backend.delete_app(backend.app_of(lane)))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m provisioning")
    commands = parser.add_subparsers(dest="command", required=True)
    dry_run = commands.add_parser("plan", help="print every ARM request the azure backend would send")
    dry_run.add_argument("--version", required=True, help="the release version, e.g. 1.2.0")
    dry_run.add_argument("--plan-sku", required=True,
                         help="the SKU of ROUTER_PLAN_ID's plan: Y1, EP1-EP3, a Dedicated SKU (P1v3...) or FC1")
    dry_run.add_argument("--json", action="store_true", help="print JSON instead of text")
    dry_run.add_argument("--lane", help="the lane, MAJOR.MINOR (default: the version's)")
    dry_run.add_argument("--task-hub", help="the lane's task hub (default: the router's name for it)")
    dry_run.add_argument("--package-url", help="the package the release would deploy")
    local = commands.add_parser("local", help="list, stop or delete the local backend's lanes")
    local.add_argument("action", choices=("list", "stop", "delete"))
    local.add_argument("lane", nargs="?", help="the lane key (MAJOR.MINOR) to stop or delete")
    local.add_argument("--all", dest="every_lane", action="store_true", help="stop: every lane host")
    local.add_argument("--root", type=Path, help="the backend's root (default: $ROUTER_LOCAL_ROOT or .devhost/lanes)")
    packaging.add_command(commands)
    args = parser.parse_args(argv)
    if args.command == "package":
        return packaging.run_command(args)

    try:
        if args.command == "local":
            root = args.root or Path(ProvisioningConfig.from_env(env).local_root)
            local_command(args.action, args.lane, root, every_lane=args.every_lane)
            return 0
        config, missing, router_id = plan_config(env)
        spec = lane_spec(args.version, args.lane, args.task_hub, router_id)
        result = plan(config, spec, args.plan_sku, args.package_url)
    except (UsageError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result["placeholders"] = missing
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_plan(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
