"""Release intake for pipelines: `POST /api/releases`, `GET /api/releases/{id}`.

A release body is validated field by field (router/validation.py: types, sha256, provision, a
package location that can work) and then checked against the version map before its
orchestration starts, so a pipeline gets its 400/409/422 at once and a refused release
registers nothing. The release id derives from (version, package, sha256): posting the
same release again answers the first release's id, and retries it when its lane failed.
"""

from __future__ import annotations

from datetime import datetime, timezone

import azure.durable_functions as df
import azure.functions as func

from router import runtime
from router import version_map as vm
from router.auth import Role
from router.durable_inputs import ReleaseInput
from router.errors import BadRequest, NotFound, ReleaseAborted
from router.http_responses import json_body, json_response, router_url, serve
from router.lanes import LaneState
from router.map_client import read_version_map
from router.release_progress import release_progress
from router.validation import parse_release_ramp
from router.runtime_status import TERMINAL, UNSUCCESSFUL, RuntimeStatus
from router.continuation import router_signer
from router.patch_gate import PatchGate, TicketPolicy, gate_release, refuse_ramp_of_a_patch
from router.validation import check_request_id, parse_release, parse_replay_check

bp = df.Blueprint()

# Anonymous at the host; the router checks the release pipelines' keys itself (router/auth.py).
@bp.route(route="releases", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def post_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await serve(req, Role.RELEASE, lambda: _post_release(req, client))


async def _post_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    rt = runtime.current()
    body = json_body(req)
    release = parse_release(body, rt.settings)  # every field checked before the map is read
    if "replayCheck" in body and body["replayCheck"] is None:  # a pipeline's empty variable, not "no check"
        raise BadRequest("replayCheck must be the object check-patch printed; leave it out when there is none.",
                         field="replayCheck")
    replay_check = parse_replay_check(body.get("replayCheck"), release)
    ramp = parse_release_ramp(body, release)
    existing = await client.get_status(release.id)
    existing_status = RuntimeStatus.parse(existing.runtime_status) if existing else None
    vmap = await read_version_map(client)
    lane = vmap.lanes.get(release.lane)
    # Posted again: a failed lane retries it, a deleted lane is brought back with it.
    retry = (existing_status in TERMINAL and lane is not None and lane.release == release.shown()
             and lane.state in (LaneState.FAILED, LaneState.DELETED))
    if existing_status is None or retry or existing_status in UNSUCCESSFUL:
        # Checked here so the pipeline gets its 409 now; the entity checks again authoritatively.
        vm.register_release(vmap, release, max_lanes=rt.settings.max_lanes, at=datetime.now(timezone.utc).isoformat())
        if ramp is not None:
            refuse_ramp_of_a_patch(lane, release)
        gate = rt.settings.patch_gate
        # require: a 409 naming check-patch and why (another lane's check, a ticket not ours, too old)
        warning = gate_release(gate, lane, release, replay_check, now=datetime.now(timezone.utc),
                               policy=TicketPolicy(router_signer(rt.settings), rt.settings.patch_gate_max_age_seconds))
        # Only a local router runs the release's code itself: on Azure its identity can create
        # and delete apps, so it never executes a package it was handed (the check runs in the
        # pipeline, check-patch, and intake checks its replayCheck's ticket).
        replay_gate = gate.value if gate is not PatchGate.OFF and rt.settings.provisioner == "local" else ""
        if existing_status is not None:
            await client.purge_instance_history(release.id)  # the same release, posted to retry it
        await client.start_new("release", release.id, ReleaseInput(
            release=release, timing=rt.timing(), ramp=ramp, gate_warning=warning, replay_gate=replay_gate).to_dict())
    status_url = router_url(req, f"releases/{release.id}")
    return json_response(
        202,
        {"id": release.id, "version": release.version,
         "lane": release.lane,
         "statusQueryGetUri": status_url, "duplicate": existing_status is not None and not retry,
         "retry": retry},
        headers={"Location": status_url},
    )


@bp.route(route="releases/{releaseId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await serve(req, Role.RELEASE, lambda: _get_release(req, client))


async def _get_release(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    release_id = check_request_id(req.route_params.get("releaseId", ""), field="releaseId")
    status = await client.get_status(release_id) if release_id.startswith("release-") else None
    runtime_status = RuntimeStatus.parse(status.runtime_status) if status else None
    if status is None or runtime_status is None:
        raise NotFound(f"No release {release_id}.", id=release_id, field="releaseId")
    intake = dict((status.output if runtime_status is RuntimeStatus.COMPLETED else status.custom_status) or {})
    if runtime_status in UNSUCCESSFUL:
        intake.update(state="failed", error=ReleaseAborted(f"The release orchestration {runtime_status.value}.").body())
    lane, ramp = None, None
    if intake.get("lane"):
        vmap = await read_version_map(client)
        lane, ramp = vmap.lanes.get(intake["lane"]), vmap.ramp
    progress = release_progress(release_id, intake, lane, ramp)
    progress["createdTime"] = status.created_time.isoformat() if status.created_time else None
    progress["lastUpdatedTime"] = status.last_updated_time.isoformat() if status.last_updated_time else None
    return json_response(200, progress)
