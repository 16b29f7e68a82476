"""`make soak`: the demo's lifecycle in a loop on one router for a while (10 minutes by default),
sampling the resident memory and open file descriptors of the router and of every lane host.

Each cycle takes a fresh major version through the seed story: release N.0.0, start orders,
patch N.0.1 in place, release N.1.0 lazily and start orders on it, wait until lane N.0 is drained
and deleted. The previous cycle's N-1.1 lane is superseded by N.0 and drains too, so lanes come
and go the whole time. Not part of `make test`.

    python -m demo.soak [--minutes 10] [--every 5] [--out soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from demo.router_client import RouterClient
from demo.stack import running_router
from provisioning.local_state import LaneFiles
from samples.build import build_package, package_sha256


def process_sample(pid: int) -> tuple[int, int] | None:
    """(resident KiB, open file descriptors) of `pid`, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), None)
    return None if rss is None else (rss, fds)  # a zombie has no resident memory left


def lane_pids(lanes_root: Path) -> dict[str, int]:
    """The lane hosts' pids, from the local backend's own state files."""
    return {record.lane: record.pid for record in LaneFiles(lanes_root / "lanes").all() if record.pid}


class Sampler(threading.Thread):
    def __init__(self, router_pid: int, lanes_root: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.router_pid, self.lanes_root, self.every = router_pid, lanes_root, every
        self.samples: list[dict[str, Any]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopping.wait(self.every if self.samples else 0):
            router = process_sample(self.router_pid)
            lanes = {lane: s for lane, pid in lane_pids(self.lanes_root).items() if (s := process_sample(pid))}
            self.samples.append({
                "seconds": round(time.monotonic() - started, 1),
                "router_rss_kib": router[0] if router else None,
                "router_fds": router[1] if router else None,
                "lanes": len(lanes),
                "lane_rss_kib_max": max((s[0] for s in lanes.values()), default=0),
                "lane_fds_max": max((s[1] for s in lanes.values()), default=0),
            })


def cycle(router: RouterClient, major: int, packages: dict[str, Path]) -> None:
    def release(version: str, sample: str, provision: str = "eager") -> None:
        response = router.post_release(version, str(packages[sample]), package_sha256(packages[sample]), provision)
        assert response.status_code == 202, response.text
        status = router.wait_release(response.json()["id"])
        expected = "waiting_for_first_request" if provision == "lazy" else "completed"
        assert status["state"] == expected, status

    def orders(version: str, count: int) -> list[str]:
        urls = []
        for n in range(count):
            response = router.start("process_order", {"order_id": f"{version}-{n}", "wait_seconds": 1},
                                    version=version)
            assert response.status_code == 202, response.text
            urls.append(response.json()["statusQueryGetUri"])
        return urls

    release(f"{major}.0.0", "1.0.0")
    waiting = orders(f"{major}.0.0", 5)
    release(f"{major}.0.1", "1.0.1")
    release(f"{major}.1.0", "1.1.0", provision="lazy")
    held = orders(f"{major}.1.0", 3)
    for url in waiting:
        router.wait_instance(url)
    for url in held:
        router.wait_held(url) if "/held/" in url else router.wait_instance(url)
    router.wait_lane_state(f"{major}.0", "deleted", deadline=120)


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def series(key: str) -> list[int]:
        return [s[key] for s in samples if s.get(key) is not None]

    router_rss, router_fds = series("router_rss_kib"), series("router_fds")
    half = len(router_rss) // 2
    return {
        "samples": len(samples),
        "router_rss_kib_first": router_rss[0], "router_rss_kib_last": router_rss[-1],
        "router_rss_kib_max": max(router_rss),
        "router_rss_kib_median_first_half": statistics.median(router_rss[:half] or router_rss),
        "router_rss_kib_median_second_half": statistics.median(router_rss[half:]),
        "router_fds_first": router_fds[0], "router_fds_last": router_fds[-1], "router_fds_max": max(router_fds),
        "lanes_max": max(series("lanes")), "lane_rss_kib_max": max(series("lane_rss_kib_max")),
        "lane_fds_max": max(series("lane_fds_max")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=Path(".demo/soak.json"))
    args = parser.parse_args(argv)
    work = args.out.parent / "soak-work"
    packages = {v: build_package(v, work / "packages") for v in ("1.0.0", "1.0.1", "1.1.0")}
    with running_router(work_dir=work / "router") as router:
        sampler = Sampler(router.host.process.pid, router.lanes_root, args.every)  # type: ignore[attr-defined]
        sampler.start()
        deadline = time.monotonic() + args.minutes * 60
        major = 2
        while time.monotonic() < deadline:
            started = time.monotonic()
            cycle(router, major, packages)
            print(f"cycle {major - 1}: lanes {major}.0 and {major}.1 through their life in "
                  f"{time.monotonic() - started:.1f} s", flush=True)
            major += 1
        sampler.stopping.set()
        sampler.join()
    result = {"minutes": args.minutes, "cycles": major - 2, **summarize(sampler.samples), "series": sampler.samples}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "series"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
