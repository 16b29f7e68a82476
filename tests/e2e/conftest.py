from __future__ import annotations

import json
from typing import Any

import pytest

from demo.router_client import RouterClient
from demo.stack import running_router


@pytest.fixture(scope="module")
def router(tmp_path_factory, request):
    """A router in the dev host with the local provisioner; every lane stopped afterwards.

    A module can change settings with `ROUTER_SETTINGS = {...}`.
    """
    settings = getattr(request.module, "ROUTER_SETTINGS", {})
    with running_router(settings, work_dir=tmp_path_factory.mktemp("router")) as client:
        yield client


def lane_secrets(router: RouterClient, lane: str) -> str:
    """The lane's system key, read from the local lane's secrets file (to check it never leaks)."""
    path = router.lanes_root / "lanes" / f"lane-{lane.replace('.', '-')}" / "secrets.json"  # type: ignore[attr-defined]
    return str(json.loads(path.read_text())["durableTaskKey"])


def start_ok(router: RouterClient, version: str | None, body: Any) -> dict[str, Any]:
    response = router.start("process_order", body, version=version)
    assert response.status_code == 202, response.text
    return response.json()
