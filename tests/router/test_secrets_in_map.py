"""A package URL's SAS token never reaches the version map, a response or a log record, yet the
backend deploys the whole URL.

Team rule: secrets (keys, SAS tokens, connection strings) never reach logs, responses or the
version map. A Blob SAS carries its grant in the query (`sv`, `se`, `sp`, `sig`: "Create a
service SAS", learn.microsoft.com/rest/api/storageservices/create-service-sas), so the map keeps
the URL without its query; the whole URL travels only in the durable inputs that deploy it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path

import pytest

from provisioning.config import ProvisioningConfig
from provisioning.errors import PackageError
from router.lanes import Release, VersionMap, lane_from_dict, lane_to_dict, without_secret
from router.version_map import register_release
from tests.router.router_harness import DURABLE_API, VERSION_MAP_ENTITY, VERSION_MAP_KEY, Router, running_router

pytestmark = pytest.mark.timeout(90)

BLOB_HOST = "packages.blob.core.windows.net"
SIGNATURE = secrets.token_hex(16)  # sig= of every SAS below; found nowhere but in the backend
SAS = f"sv=2022-11-02&se=2030-01-01T00%3A00%3A00Z&sr=b&sp=r&sig={SIGNATURE}"


def sas_url(version: str) -> str:
    return f"https://{BLOB_HOST}/builds/{version}.zip?{SAS}"


def shown_url(version: str) -> str:
    return f"https://{BLOB_HOST}/builds/{version}.zip?<redacted>"


# --- the shown form (pure) ----------------------------------------------------------------------

def test_the_shown_release_drops_the_query_and_keeps_the_id_of_the_whole_url() -> None:
    whole = Release("1.2.3", sas_url("1.2.3"))
    shown = whole.shown()
    assert shown.package_url == shown_url("1.2.3") and SIGNATURE not in json.dumps(lane_to_dict_of(shown))
    assert shown.id == whole.id and shown.shown() == shown  # stable, idempotent
    assert whole.whole and not shown.whole
    assert Release("1.2.3", sas_url("1.2.3").replace(SIGNATURE, "0" * 32)).id != whole.id  # another grant


@pytest.mark.parametrize("location, shown", [
    ("https://user:secret@h.example/p.zip", "https://h.example/p.zip?<redacted>"),
    ("https://h.example/p.zip#sig=x", "https://h.example/p.zip?<redacted>"),
    ("https://h.example/p.zip", "https://h.example/p.zip"),
    ("/packages/1.0.0.zip", "/packages/1.0.0.zip"),
    ("file:///packages/1.zip?token=x", "file:///packages/1.zip?<redacted>"),
])
def test_without_secret_keeps_only_where_the_package_lives(location: str, shown: str) -> None:
    assert without_secret(location) == shown


def test_a_map_written_before_with_the_whole_url_loads_without_it_and_the_same_release_id() -> None:
    whole = Release("1.0.0", sas_url("1.0.0"))
    old_state = {"key": "1.0", "state": "active", "release": {
        "version": "1.0.0", "package_url": sas_url("1.0.0"), "sha256": "", "provision": "eager"}}
    lane = lane_from_dict(old_state)
    assert lane.release.package_url == shown_url("1.0.0") and lane.release.id == whole.id
    # Posting that release again is "the same", not a patch.
    vmap = VersionMap(lanes={"1.0": lane})
    _, outcome = register_release(vmap, whole, max_lanes=5, at="2026-01-01T00:00:00+00:00")
    assert outcome.kind == "same"


def lane_to_dict_of(release: Release) -> dict:
    vmap, _ = register_release(VersionMap(), release, max_lanes=5, at="2026-01-01T00:00:00+00:00")
    return lane_to_dict(vmap.lanes[release.lane])


# --- through the running router -----------------------------------------------------------------

async def _post(router: Router, version: str, **extra: str) -> dict:
    response = await router.http.post("/api/releases", json={"version": version, "packageUrl": sas_url(version),
                                                            **extra})
    assert response.status_code == 202, response.text
    assert SIGNATURE not in response.text
    return dict(response.json())


async def _admin_answers(router: Router, release_ids: list[str]) -> list[str]:
    texts = []
    for path in ["/api/versionmap", "/api/status", "/api/instances",
                 *(f"/api/releases/{release_id}" for release_id in release_ids)]:
        response = await router.http.get(path)
        assert response.status_code == 200, (path, response.text)
        texts.append(response.text)
    entity = await router.http.get(f"{DURABLE_API}/entities/{VERSION_MAP_ENTITY}/{VERSION_MAP_KEY}")
    assert entity.status_code == 200, entity.text
    texts.append(entity.text)  # the entity's own state, as the task hub holds it
    return texts


@pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
def test_a_sas_release_reaches_the_backend_whole_and_nothing_else(
        tmp_path: Path, delivery: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        config = ProvisioningConfig(allowed_package_hosts=(BLOB_HOST,))
        async with running_router(tmp_path, at_least_once=delivery == "at_least_once",
                                  provisioning=config) as router:
            # Eager; lazy (its lifecycle starts from the map's release, at the first request);
            # and a failed lane retried by posting the same release again.
            eager = await _post(router, "1.0.0")
            lazy = await _post(router, "2.0.0", provision="lazy")
            await router.wait_for_lane("1.0", "active")
            assert (await router.start("2.0.0")).status_code in (200, 202)  # held until lane 2.0 serves
            await router.wait_for_lane("2.0", "active")
            router.backend.fail["deploy_package"] = [PackageError("download failed: 503 from the blob store")]
            failing = await _post(router, "3.0.0")
            await router.wait_for_lane("3.0", "failed")
            again = await _post(router, "3.0.0")
            assert again["id"] == failing["id"] and again["retry"] is True  # the same release, by its id
            await router.wait_for_lane("3.0", "active")
            assert (await _post(router, "1.0.0"))["duplicate"] is True

            assert router.backend.packages == {f"lane-{v[:3]}": sas_url(v) for v in ("1.0.0", "2.0.0", "3.0.0")}
            answers = await _admin_answers(router, [eager["id"], lazy["id"], failing["id"]])
            assert all(SIGNATURE not in text for text in answers), [t[:300] for t in answers if SIGNATURE in t]
            shown = (await router.version_map())["lanes"]
            assert {key: lane["release"]["package_url"] for key, lane in shown.items()} == {
                "1.0": shown_url("1.0.0"), "2.0": shown_url("2.0.0"), "3.0": shown_url("3.0.0")}

    asyncio.run(main())
    logged = [record.getMessage() for record in caplog.records]
    assert logged and not [line for line in logged if SIGNATURE in line]
