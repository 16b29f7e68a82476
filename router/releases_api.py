"""Release intake for pipelines: `POST /api/releases`, `GET /api/releases/{id}`.

A release is checked against the version map before its orchestration starts, so a pipeline
gets its 409/422 at once. The release id derives from (version, package, sha256): posting the
same release again is a no-op that answers the first release's id.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from router import runtime
from router import version_map as vm
from router.durable_inputs import ReleaseInput, lifecycle_instance_id
from router.errors import BadRequest, NotFound, PackageRejected
from router.http_common import guarded, json_body, json_response, read_version_map, router_url
from router.settings import Settings
from router.version_map import Release
from router.versions import lane_key, parse_version

bp = df.Blueprint()

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def release_id_for(release: Release) -> str:
    digest = hashlib.sha256(f"{release.version}\n{release.package_url}\n{release.sha256}".encode()).hexdigest()
    return f"release-{release.version}-{digest[:12]}"


def parse_release(data: dict[str, Any], settings: Settings) -> Release:
    """Validate a posted release body into a Release (400 / 422 with a clear message)."""
    version = parse_version(str(data.get("version") or ""), allow_prerelease=settings.allow_prerelease)
    package_url = data.get("packageUrl")
    if not isinstance(package_url, str) or not package_url.strip():
        raise BadRequest("packageUrl is required: the https URL of the app's zip package.")
    sha256 = data.get("sha256") or ""
    if sha256 and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise BadRequest("sha256 must be 64 hexadecimal characters.", value=str(sha256)[:80])
    provision = data.get("provision") or "eager"
    if provision not in ("eager", "lazy"):
        raise BadRequest(f"provision must be 'eager' or 'lazy', not {provision!r}.")
    check_package_location(package_url.strip(), settings)
    return Release(str(version), package_url.strip(), sha256.lower(), provision)


def check_package_location(url: str, settings: Settings) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        host = (parts.hostname or "").lower()
        if host not in settings.allowed_package_hosts:
            raise PackageRejected(
                f"Package host '{host}' is not allowed (ROUTER_ALLOWED_PACKAGE_HOSTS: "
                f"{', '.join(settings.allowed_package_hosts) or 'none'}).",
                host=host,
            )
        return
    local = parts.scheme in ("", "file") and settings.provisioner == "local"
    if not local:
        raise PackageRejected(
            "packageUrl must be an https URL"
            + (" (or a local path with the local provisioner)." if settings.provisioner == "local" else "."),
            scheme=parts.scheme,
        )


@bp.route(route="releases", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def post_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await guarded(lambda: _post_release(req, client))


async def _post_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    settings = runtime.current().settings
    release = parse_release(json_body(req), settings)
    release_id = release_id_for(release)
    existing = await client.get_status(release_id)
    if existing is None or existing.runtime_status is None:
        # Checked here so the pipeline gets its 409 now; the entity checks again authoritatively.
        vmap = await read_version_map(client)
        vm.register_release(vmap, release, max_lanes=settings.max_lanes,
                            at=datetime.now(timezone.utc).isoformat())
        data = ReleaseInput(release_id=release_id, version=release.version, package_url=release.package_url,
                            sha256=release.sha256, provision=release.provision, timing=runtime.current().timing())
        await client.start_new("release", release_id, data.to_dict())
    status_url = router_url(req, f"releases/{release_id}")
    return json_response(
        202,
        {"id": release_id, "version": release.version, "lane": lane_key(parse_version(release.version, allow_prerelease=True)),
         "statusQueryGetUri": status_url, "duplicate": existing is not None and existing.runtime_status is not None},
        headers={"Location": status_url},
    )


@bp.route(route="releases/{releaseId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await guarded(lambda: _get_release(req, client))


async def _get_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    release_id = req.route_params.get("releaseId", "")
    status = await client.get_status(release_id) if release_id.startswith("release-") else None
    if status is None or status.runtime_status is None:
        raise NotFound(f"No release {release_id}.", id=release_id)
    info = dict(status.custom_status or {})
    runtime_status = status.runtime_status.value
    if runtime_status in ("Failed", "Terminated"):
        info.update(state="failed", error={"error": "release_failed", "message": str(status.output or runtime_status)})
    info.setdefault("state", "running")
    info["createdTime"] = status.created_time.isoformat() if status.created_time else None
    info["lastUpdatedTime"] = status.last_updated_time.isoformat() if status.last_updated_time else None
    if info["state"] == "running" and info.get("lane"):
        # The lane's lifecycle reports the live steps (create, configure, deploy, health...).
        lifecycle = await client.get_status(lifecycle_instance_id(info["lane"]))
        lane_status = (lifecycle.custom_status or {}) if lifecycle else {}
        if lane_status.get("releaseId") == release_id:
            info["laneSteps"] = lane_status.get("steps", [])
    return json_response(200, {"id": release_id, **info})
