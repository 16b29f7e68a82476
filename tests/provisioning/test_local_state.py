"""Lane state on disk: created once whoever asks, found again, never a secret outside secrets.json.

No host process starts here: nothing is deployed.
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from provisioning import packaging
from provisioning.base import AppRef, LaneSpec
from provisioning.config import ProvisioningConfig
from provisioning.errors import ProvisioningError
from provisioning.local import LocalLaneBackend

LANE = LaneSpec(lane="2.3", version="2.3.0", task_hub="lane23hub")


def test_two_routers_creating_one_lane_at_once_get_the_same_app(tmp_path: Path) -> None:
    async def race() -> list[AppRef]:
        backends = [LocalLaneBackend(tmp_path) for _ in range(4)]
        return list(await asyncio.gather(*(b.create_app(LANE) for b in backends)))

    apps = asyncio.run(race())
    assert len(set(apps)) == 1
    assert [p.name for p in (tmp_path / "lanes").iterdir()] == ["lane-2-3"]
    assert apps[0].resource_id == str(tmp_path.resolve() / "lanes" / "lane-2-3")


def test_a_created_lane_is_found_by_a_new_backend_and_keeps_its_keys(tmp_path: Path) -> None:
    first = LocalLaneBackend(tmp_path)
    app = asyncio.run(first.create_app(LANE))
    key = asyncio.run(first.read_system_key(app))

    second = LocalLaneBackend(tmp_path)
    assert asyncio.run(second.create_app(LANE)) == app
    assert asyncio.run(second.read_system_key(app)) == key
    assert [record.lane for record, _running in second.lanes()] == ["2.3"]

    lane_dir = Path(app.resource_id)
    assert stat.S_IMODE((lane_dir / "secrets.json").stat().st_mode) == 0o600
    public = [p for p in lane_dir.rglob("*") if p.is_file() and p.name != "secrets.json"]
    assert public and not [p for p in public if key in p.read_text()]


def test_configure_writes_the_lane_settings(tmp_path: Path) -> None:
    backend = LocalLaneBackend(tmp_path, lane_settings={"DEVHOST_FAULT_SEED": "7"})
    app = asyncio.run(backend.create_app(LANE))
    asyncio.run(backend.configure_app(LANE, app))
    settings = json.loads((Path(app.resource_id) / "settings.json").read_text())
    assert settings["AzureFunctionsJobHost__extensions__durableTask__hubName"] == "lane23hub"
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert settings["DEVHOST_FAULT_SEED"] == "7"


def test_an_undeployed_lane_is_not_healthy(tmp_path: Path) -> None:
    backend = LocalLaneBackend(tmp_path)
    app = asyncio.run(backend.create_app(LANE))
    health = asyncio.run(backend.check_health(app))
    assert not health.healthy and "no package" in health.detail


@pytest.mark.parametrize("lane", ["1", "1.2.3", "v1.2", "../1.2", ""])
def test_lane_keys_are_major_minor(tmp_path: Path, lane: str) -> None:
    with pytest.raises(ProvisioningError, match="MAJOR.MINOR"):
        asyncio.run(LocalLaneBackend(tmp_path).create_app(LaneSpec(lane=lane, version="1.2.3", task_hub="hub")))
    assert not (tmp_path / "lanes").exists()


def test_the_worker_runtime_is_cached_where_router_local_venv_root_says_else_machine_wide(tmp_path: Path) -> None:
    """The one setting left of per-lane environments: where the lanes' shared worker runtime goes."""
    placed = ProvisioningConfig.from_env({"ROUTER_LOCAL_ROOT": str(tmp_path), "ROUTER_LOCAL_VENV_ROOT": "/srv/runtime"})
    assert LocalLaneBackend.from_config(placed).worker_cache == Path("/srv/runtime")
    default = ProvisioningConfig.from_env({"ROUTER_LOCAL_ROOT": str(tmp_path)})
    assert LocalLaneBackend.from_config(default).worker_cache == packaging.DEFAULT_CACHE_DIR
