"""`make demo`: the seed scenario of zero-downtime deployment, end to end, on this machine.

The router runs in the local dev host with the `local` provisioner and ROUTER_PATCH_GATE=require
(a patch needs a passing `check-patch` of its package); each lane is a dev host process serving
one version of the sample app (samples/). Every step is a real HTTP call. Act 2 (demo/act_two.py:
the patch gate refusing a breaking patch, progressive ramps) follows on the same router;
`DEMO_ACTS=1` skips it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from demo import act_two
from demo.pipeline import check_patch, indented
from demo.router_client import RouterClient
from demo.stack import REPO, running_router
from router.cli.release import read_replay_check
from samples.build import build_package, package_sha256

WORK_DIR = REPO / ".demo"
START = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def title(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def show_step(step: dict[str, Any]) -> None:
    detail = f": {step['detail']}" if step.get("detail") else ""
    say(f"    release step {step['step']}{detail}")


# A patch must come with a passing replay check of its package (router/patch_gate.py).
DEMO_SETTINGS = {"ROUTER_PATCH_GATE": "require"}


def release(router: RouterClient, version: str, package: Path, provision: str = "eager",
            replay_check: dict[str, Any] | None = None) -> dict[str, Any]:
    response = router.post_release(version, str(package), package_sha256(package), provision,
                                   replay_check=replay_check)
    if response.status_code != 202:
        raise SystemExit(f"release {version} refused: {response.status_code} {response.text}")
    release_id = response.json()["id"]
    say(f"POST /api/releases {version} ({provision}) -> 202, release id {release_id}")
    status = router.wait_release(release_id, on_step=show_step)
    say(f"release {version}: {status['state']}")
    # A lazy release is done with intake once it waits for its lane's first request.
    if status["state"] != ("waiting_for_first_request" if provision == "lazy" else "completed"):
        raise SystemExit(f"release {version} failed: {status.get('error')}")
    return status


def start(router: RouterClient, version: str | None, order_id: str, wait_seconds: float,
          instance_id: str | None = None) -> dict[str, Any]:
    response = router.start("process_order", {"order_id": order_id, "wait_seconds": wait_seconds}, version=version,
                            instance_id=instance_id)
    header = f"X-App-Version: {version}" if version else "no version header"
    body = response.json()
    if response.status_code != 202:
        raise SystemExit(f"start {order_id} refused: {response.status_code} {body}")
    if body.get("held"):
        say(f"start {order_id} ({header}) -> 202 held: lane {body['lane']} is provisioning")
        body = router.wait_held(body["statusQueryGetUri"])
        say(f"held request {order_id} forwarded to lane {body['lane']} as instance {body['instanceId']}")
    else:
        say(f"start {order_id} ({header}) -> 202 lane {body['lane']} (deployed {body['version']}), "
            f"status URL {body['statusQueryGetUri']}")
    return body


def finish(router: RouterClient, order: dict[str, Any], label: str) -> None:
    status = router.wait_instance(order["statusQueryGetUri"], deadline=120)
    output = status.get("output") or {}
    say(f"{label} {status['runtimeStatus']} on lane {order['lane']}, finished by app version "
        f"{output.get('app_version')}")


def print_map(router: RouterClient) -> None:
    vmap = router.version_map()
    say(f"version map: current lane {vmap['current']} ({vmap['currentVersion']}), "
        f"quota {vmap['quota']['used']}/{vmap['quota']['limit']}")
    for key, lane in vmap["lanes"].items():
        events = ", ".join(f"{e['event']}@{e['at'][11:19]}" for e in lane["history"])
        say(f"    lane {key}: {lane['state']:<9} version {lane['deployed_version']}  app {lane['app_name']}  [{events}]")


def run(work_dir: Path) -> None:
    title("Build the sample app's releases (as a pipeline would)")
    packages = {v: build_package(v, work_dir / "packages") for v in ("1.0.0", "1.0.1", "1.1.0")}
    for version, path in packages.items():
        say(f"package {version}: {path.name} sha256 {package_sha256(path)[:16]}...")

    title("Start the router in the local dev host (local provisioner)")
    with running_router(DEMO_SETTINGS, work_dir=work_dir) as router:
        say(f"router at {router.base_url}")

        title("Release 1.0.0: a new lane, its own app and task hub")
        release(router, "1.0.0", packages["1.0.0"])
        print_map(router)

        title("Clients start orchestrations; the patch in their version is ignored")
        long_order = start(router, "1.0.0", "order-A", wait_seconds=20)
        short_order = start(router, "1.0.9", "order-B", wait_seconds=1, instance_id="order-B")
        finish(router, short_order, "order-B")
        again = router.start("process_order", {"order_id": "order-B", "wait_seconds": 1}, version="1.0.9",
                             instance_id="order-B")
        if again.status_code != 409:
            raise SystemExit(f"order-B started a second time: {again.status_code} {again.text}")
        say(f"start order-B again with its instance id -> 409 {again.json()['error']} "
            f"({again.json()['runtimeStatus']}): a finished order never runs twice")

        title("Patch 1.0.1: checked against lane 1.0's in-flight instances, deployed in place; order-A keeps waiting")
        checked = check_patch(router, "1.0", packages["1.0.1"], work_dir / "check-patch-1.0.1.txt")
        say(f"dfrouter check-patch --lane 1.0 --package {packages['1.0.1'].name} -> exit {checked.code}\n"
            + indented(checked.out))
        if checked.code != 0:
            raise SystemExit(f"check-patch refused 1.0.1: {checked.err}")
        release(router, "1.0.1", packages["1.0.1"],
                replay_check=read_replay_check(work_dir / "check-patch-1.0.1.txt", "1.0.1"))
        print_map(router)

        title("Release 1.1.0 (lazy): no app until the first 1.1 request")
        release(router, "1.1.0", packages["1.1.0"], provision="lazy")
        order_c = start(router, "1.1.0", "order-C", wait_seconds=1)
        order_d = start(router, None, "order-D", wait_seconds=1)
        order_e = start(router, "1.0.1", "order-E", wait_seconds=2)
        print_map(router)
        finish(router, order_c, "order-C")
        finish(router, order_d, "order-D")
        finish(router, order_e, "order-E (an old client on the draining lane)")
        finish(router, long_order, "order-A (started on 1.0.0, survived the patch)")

        title("Lane 1.0 drains: deleted once its last instance has finished")
        router.wait_lane_state("1.0", "deleted", deadline=120)
        vmap = router.version_map()
        deleted = next(e for e in vmap["lanes"]["1.0"]["history"] if e["event"] == "deleted")
        say(f"lane 1.0 app deleted at {deleted['at']}")
        gone = router.start("process_order", {"order_id": "order-F"}, version="1.0.1")
        say(f"start with X-App-Version 1.0.1 now -> {gone.status_code} {gone.json()['message']}")

        title("Final version map")
        print_map(router)

        if os.environ.get("DEMO_ACTS", "2") != "1":
            act_two.run(router, packages, work_dir, say, title)
            title("Final version map, after act 2")
            print_map(router)
    say("demo finished: every lane process stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="where the demo keeps its state")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    run(args.work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
