from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from demo.router_client import RouterClient
from demo.stack import running_router
from provisioning import packaging
from samples.build import SAMPLES_DIR, TARGET, VERSIONS, build_package, package_sha256

E2E_DIR = Path(__file__).resolve().parent


def _router(request, work_dir: Path):
    settings = getattr(request.module, "ROUTER_SETTINGS", {})
    # Keys enforced as on Azure (`--enableAuth`): the tests that a client's key cannot post a
    # release or read the map, or that no key is refused, would pass vacuously without it.
    return running_router(settings, work_dir=work_dir, enable_auth=True)


@pytest.fixture(scope="module")
def router(tmp_path_factory, request):
    """A router in the dev host with the local provisioner, shared by a module's tests; every lane
    stopped afterwards. A module can change settings with `ROUTER_SETTINGS = {...}`.

    Tests that share it build what they need in a module-scoped fixture (released once for the
    module), never rely on an earlier test, and leave no instance running; a test that changes
    lanes for good takes `fresh_router` and releases what it needs there.
    """
    with _router(request, tmp_path_factory.mktemp("router")) as client:
        yield client


@pytest.fixture
def fresh_router(tmp_path, request):
    """A router of its own (about a second to start), for a test that changes lanes for good."""
    with _router(request, tmp_path / "router") as client:
        yield client


@pytest.fixture(scope="session")
def packages(tmp_path_factory) -> dict[str, Path]:
    """Every sample version, zipped once."""
    out = tmp_path_factory.mktemp("packages")
    return {version: build_package(version, out) for version in VERSIONS}


def release(router: RouterClient, version: str, package: Path, provision: str | None = None) -> dict[str, Any]:
    """Post a release with its sha256 and wait until it completed (a lazy one: until it waits for
    its lane's first request)."""
    response = router.post_release(version, str(package), package_sha256(package), provision)
    assert response.status_code == 202, response.text
    status = router.wait_release(response.json()["id"])
    assert status["state"] == ("waiting_for_first_request" if provision == "lazy" else "completed"), status
    return status


def lane_secrets(router: RouterClient, lane: str) -> str:
    """The lane's system key, read from the local lane's secrets file (to check it never leaks)."""
    path = router.lanes_root / "lanes" / f"lane-{lane.replace('.', '-')}" / "secrets.json"  # type: ignore[attr-defined]
    return str(json.loads(path.read_text())["durableTaskKey"])


def all_lane_secrets(router: RouterClient) -> list[str]:
    """Every key of every local lane that exists (master and system keys), to check none leaks."""
    files = sorted((router.lanes_root / "lanes").glob("*/secrets.json"))  # type: ignore[attr-defined]
    found = [str(value) for path in files for value in json.loads(path.read_text()).values()]
    assert found, "no lane has keys yet: the check would prove nothing"
    return found


def start_ok(router: RouterClient, version: str | None, body: Any, orchestrator: str = "process_order",
             instance_id: str | None = None) -> dict[str, Any]:
    response = router.start(orchestrator, body, version=version, instance_id=instance_id)
    assert response.status_code == 202, response.text
    return response.json()


def zip_test_app(name: str, out_dir: Path) -> Path:
    """Package the test app `tests/e2e/<name>/` as a release pipeline would. It takes the samples'
    requirements.txt, so its dependencies come from the install the samples already cached."""
    requirements = SAMPLES_DIR / VERSIONS[0] / "requirements.txt"
    built = packaging.build_package(E2E_DIR / name, out_dir / f"{name}.zip", target=TARGET, requirements=requirements)
    return built.path
