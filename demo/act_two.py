"""`make demo`, act 2: safe releases beyond the guidance (issue 15).

Runs on the router act 1 left (lane 1.1 current). Two scenes:
- a new MINOR released with a progressive ramp that advances step by step, the share of
  version-less starts on the new lane shown at each step, the old lane draining only at the end;
- a failing build released with a ramp that aborts on its Failed share, the previous lane current.

The patch gate's scene (a breaking "patch" refused by `check-patch`, then released as a new MINOR)
goes first, in `patch_gate_scene`; until it lands, the ramp takes the 1.1.0 build released as 1.2.0.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from demo.router_client import RouterClient
from demo.stack import FAST_SETTINGS
from provisioning import packaging
from samples.build import SAMPLES_DIR, TARGET, VERSIONS, package_sha256

FAILING_APP = Path(__file__).resolve().parent / "failing_order_app"
STARTS_PER_STEP = 20
# A router worker routes from a map at most this old: a step is seen by all of them after it.
CACHE_SECONDS = float(FAST_SETTINGS["ROUTER_MAP_CACHE_SECONDS"])
Say = Callable[[str], None]


def patch_gate_scene(router: RouterClient, packages: dict[str, Path], say: Say) -> Path | None:
    """The patch gate's scene; answers the package to release as the new MINOR (None: none yet)."""
    return None  # added with the patch gate's demo: a breaking patch refused, the same build as 1.2.0


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
    title("Act 2: the patch gate")
    minor = patch_gate_scene(router, packages, say)
    if minor is None:
        say("(the patch gate's scene comes here; the ramp below takes the 1.1.0 build as 1.2.0)")
        minor = packages["1.1.0"]

    title("Act 2: release 1.2.0 with a progressive ramp; lane 1.1 drains only when it completes")
    vmap = ramp_scene(router, "1.2.0", minor, {"steps": [25, 50, 100], "stepSeconds": 3, "maxFailedRatio": 0.05},
                      say)
    ramp = vmap["ramp"]
    say(f"ramp {ramp['state']}: current lane {vmap['current']}, lane 1.1 {vmap['lanes']['1.1']['state']}")

    title("Act 2: a failing build released as 1.3.0 with a ramp: it aborts, 1.2 stays current")
    failing = packaging.build_package(FAILING_APP, work_dir / "packages" / "failing-1.3.0.zip", target=TARGET,
                                      requirements=SAMPLES_DIR / VERSIONS[0] / "requirements.txt").path
    vmap = ramp_scene(router, "1.3.0", failing, {"steps": [50, 100], "stepSeconds": 3, "maxFailedRatio": 0.1}, say)
    ramp = vmap["ramp"]
    say(f"ramp {ramp['state']}: {ramp['reason']}")
    say(f"current lane {vmap['current']}; lane 1.3 {vmap['lanes']['1.3']['state']} (starts naming 1.3 still reach it)")
