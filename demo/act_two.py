"""`make demo`, act 2: safe releases beyond the guidance (issue 15).

Runs on the router act 1 left (lane 1.1 current, ROUTER_PATCH_GATE=require). Three scenes:
- the patch gate: a "patch" 1.1.1 that charges before it reserves (demo/charge_first_app) is
  checked with `check-patch` against an order waiting on lane 1.1, which diverges and is named;
  `dfrouter release --replay-check` with that check is refused (409), so nothing is deployed, and
  so is act 1's passing check of lane 1.0 relabelled for lane 1.1 (its router-signed ticket names
  the lane whose histories it replayed);
- the same build released as the new MINOR 1.2.0 with a progressive ramp that advances step by
  step, the share of version-less starts on the new lane shown at each step, lane 1.1 draining
  only at the end, and the waiting order finishing there on the 1.1.0 code;
- a failing build released with a ramp that aborts on its Failed share, the previous lane current.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from demo.charge_first_app.build import build_charge_first_app
from demo.pipeline import check_patch, dfrouter, indented
from demo.router_client import RouterClient, wait_for
from demo.stack import FAST_SETTINGS
from router.cli.release import read_replay_check
from provisioning import packaging
from samples.build import SAMPLES_DIR, TARGET, VERSIONS, package_sha256

FAILING_APP = Path(__file__).resolve().parent / "failing_order_app"
# Long enough to be waiting through the check and the refusal, short enough to finish during the ramp.
WAITING_ORDER_SECONDS = 15
STARTS_PER_STEP = 20
# A router worker routes from a map at most this old: a step is seen by all of them after it.
CACHE_SECONDS = float(FAST_SETTINGS["ROUTER_MAP_CACHE_SECONDS"])
Say = Callable[[str], None]


def patch_gate_scene(router: RouterClient, work_dir: Path, say: Say) -> tuple[Path, dict[str, Any]]:
    """A breaking patch refused; answers its package (to release as the new MINOR) and the order
    that waits on lane 1.1 meanwhile (its start's answer)."""
    order = router.start("process_order", {"order_id": "order-G", "wait_seconds": WAITING_ORDER_SECONDS},
                         version="1.1.0", instance_id="order-G")
    if order.status_code != 202:
        raise SystemExit(f"start order-G refused: {order.status_code} {order.text}")
    waiting = order.json()
    wait_for(lambda: (router.get(waiting["statusQueryGetUri"]).json().get("customStatus") or {}).get("step")
             == "waiting_for_pickup", 60, "order-G to wait for its pickup")
    say(f"order-G started on lane {waiting['lane']}: reserved, charged, waiting {WAITING_ORDER_SECONDS} s for its pickup")

    charge_first = build_charge_first_app(work_dir / "charge-first-app")
    package = packaging.build_package(charge_first, work_dir / "packages" / "charge-first.zip", target=TARGET,
                                      requirements=charge_first / "requirements.txt").path
    say(f"a 'patch' 1.1.1 that charges before it reserves: {package.name} sha256 {package_sha256(package)[:16]}...")
    check_file = work_dir / "check-patch-1.1.1.txt"
    checked = check_patch(router, "1.1", package, check_file)
    say(f"dfrouter check-patch --lane 1.1 --package {package.name} -> exit {checked.code}\n" + indented(checked.out))
    if checked.code != 1 or "order-G" not in checked.out:
        raise SystemExit(f"check-patch did not find order-G's divergence: {checked.code} {checked.out} {checked.err}")

    refused = dfrouter(router, router.release_key, "release", "--version", "1.1.1", "--package", str(package),
                       "--replay-check", str(check_file))
    say(f"dfrouter release --version 1.1.1 --replay-check {check_file.name} -> exit {refused.code}\n"
        + indented(refused.err))
    if refused.code != 6 or "409 replay_check_required" not in refused.err:
        raise SystemExit(f"the breaking patch was not refused: {refused.code} {refused.out} {refused.err}")
    # Act 1's passing check, posted as if it were this package's check of lane 1.1.
    act_one = read_replay_check(work_dir / "check-patch-1.0.1.txt", "1.0.1")
    if act_one is None:
        raise SystemExit("act 1's check-patch output holds no replayCheck")
    relabelled = {**act_one, "lane": "1.1", "sha256": package_sha256(package)}
    borrowed = router.post_release("1.1.1", str(package), package_sha256(package), replay_check=relabelled)
    said = borrowed.json() if borrowed.headers.get("content-type", "").startswith("application/json") else {}
    say(f"POST /api/releases 1.1.1 with act 1's passing check of lane 1.0 relabelled as lane 1.1 -> "
        f"{borrowed.status_code} {said.get('error')} ({said.get('reason')})")
    if borrowed.status_code != 409 or said.get("reason") != "ticket_other_lane":
        raise SystemExit(f"a borrowed check was not refused: {borrowed.status_code} {borrowed.text}")
    lane = router.version_map()["lanes"]["1.1"]
    say(f"lane 1.1 still runs {lane['deployed_version']}: order-G waits on the code it started on")
    return package, waiting


def ramp_scene(router: RouterClient, version: str, package: Path, ramp: dict[str, Any], say: Say) -> dict[str, Any]:
    """Release `version` with `ramp`, send version-less starts at each step and show where they went;
    answers the version map once the ramp ended."""
    response = router.post_release(version, str(package), package_sha256(package), ramp=ramp)
    if response.status_code != 202:
        raise SystemExit(f"release {version} refused: {response.status_code} {response.text}")
    say(f"POST /api/releases {version} with ramp {ramp} -> 202")
    status = router.wait_release(response.json()["id"])
    if status["state"] != "completed":
        raise SystemExit(f"release {version} failed: {status.get('error')}")
    new_lane = status["lane"]
    shown: set[int] = set()
    while True:
        vmap = router.wait_ramp(lambda m: m["ramp"]["lane"] == new_lane and (
            m["ramp"]["state"] != "running" or m["ramp"]["step"] not in shown), f"the ramp onto {new_lane}")
        ramp_now = vmap["ramp"]
        if ramp_now["state"] != "running":
            return vmap
        shown.add(ramp_now["step"])
        if ramp_now["checks"]:
            last = ramp_now["checks"][-1]
            say(f"    check at {last['share']}%: {last['failed']} of {last['started']} failed on lane {new_lane}")
        time.sleep(CACHE_SECONDS + 0.2)
        lanes = _version_less_starts(router, STARTS_PER_STEP)
        on_new = lanes[new_lane]
        say(f"step {ramp_now['step']} ({ramp_now['share']}% to lane {new_lane}, current lane {vmap['current']}): "
            f"{on_new} of {STARTS_PER_STEP} version-less starts went to {new_lane}")


def _version_less_starts(router: RouterClient, n: int) -> Counter[str]:
    def start(number: int) -> str:
        response = router.start("process_order", {"order_id": f"ramp-{number}", "wait_seconds": 0})
        if response.status_code != 202:
            raise SystemExit(f"start refused: {response.status_code} {response.text}")
        return str(response.json()["lane"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(start, range(n)))


def run(router: RouterClient, packages: dict[str, Path], work_dir: Path, say: Say, title: Callable[[str], None]) -> None:
    title("Act 2: the patch gate refuses a 'patch' that would break the orders waiting on lane 1.1")
    minor, waiting = patch_gate_scene(router, work_dir, say)

    title("Act 2: the same build released as 1.2.0 with a progressive ramp; lane 1.1 drains only when it completes")
    vmap = ramp_scene(router, "1.2.0", minor, {"steps": [25, 50, 100], "stepSeconds": 3, "maxFailedRatio": 0.05},
                      say)
    ramp = vmap["ramp"]
    say(f"ramp {ramp['state']}: current lane {vmap['current']}, lane 1.1 {vmap['lanes']['1.1']['state']}")
    status = router.wait_instance(waiting["statusQueryGetUri"], deadline=120)
    say(f"order-G {status['runtimeStatus']} on lane 1.1, finished by app version "
        f"{(status.get('output') or {}).get('app_version')}: the refused patch never touched it")

    title("Act 2: a failing build released as 1.3.0 with a ramp: it aborts, 1.2 stays current")
    failing = packaging.build_package(FAILING_APP, work_dir / "packages" / "failing-1.3.0.zip", target=TARGET,
                                      requirements=SAMPLES_DIR / VERSIONS[0] / "requirements.txt").path
    vmap = ramp_scene(router, "1.3.0", failing, {"steps": [50, 100], "stepSeconds": 3, "maxFailedRatio": 0.1}, say)
    ramp = vmap["ramp"]
    say(f"ramp {ramp['state']}: {ramp['reason']}")
    say(f"current lane {vmap['current']}; lane 1.3 {vmap['lanes']['1.3']['state']} (starts naming 1.3 still reach it)")
