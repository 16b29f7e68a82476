"""One error hierarchy for the whole router.

Every error that can reach a client carries its HTTP status and a stable machine code; the
JSON body of every error response is built by `RouterError.body()` and nowhere else. SDK and
HTTP errors are translated into these at the edges, so the core never sees them.
"""

from __future__ import annotations

from typing import Any

from provisioning.errors import ProvisioningError


class RouterError(Exception):
    """Base of every error the router raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    retryable: bool = False  # whether trying the same thing again may succeed

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response: {"error", "message", ...details}."""
        return {"error": self.code, "message": self.message, **self.details}


# --- Configuration -------------------------------------------------------------------------

class SettingsError(RouterError):
    """A setting is missing or malformed; raised at start, names the setting."""

    code = "bad_setting"


# --- Client input (4xx) --------------------------------------------------------------------

class BadRequest(RouterError):
    """The request itself is malformed."""

    status = 400
    code = "bad_request"


class BadVersion(BadRequest):
    """The version header or query value is not an accepted version."""

    code = "bad_version"


class Unauthorized(RouterError):
    """The request carries no role key, or one the router does not know."""

    status = 401
    code = "unauthorized"


class Forbidden(RouterError):
    """The request's key belongs to another role (a client's key on a release route, say)."""

    status = 403
    code = "forbidden"


class UnknownRoute(RouterError):
    """No route of the router takes this method and path."""

    status = 404
    code = "unknown_route"


class PayloadTooLarge(RouterError):
    """The request body is over the configured limit."""

    status = 413
    code = "payload_too_large"


class UnknownLane(RouterError):
    """No release was ever posted for the requested lane."""

    status = 404
    code = "unknown_lane"


class NotFound(RouterError):
    """The addressed resource (release, instance) does not exist."""

    status = 404
    code = "not_found"


class LaneGone(RouterError):
    """The lane was closed, is retiring or was deleted: it takes no new starts."""

    status = 410
    code = "lane_gone"


class InstanceNotRunning(RouterError):
    """The addressed instance has completed, failed or was terminated: it takes no events."""

    status = 410
    code = "instance_not_running"


class Conflict(RouterError):
    """The request conflicts with the version map's current state."""

    status = 409
    code = "conflict"


class InstanceExists(Conflict):
    """A start named an instance id that already exists on the lane: nothing was started."""

    code = "instance_exists"


class VersionNotNewer(Conflict):
    """A release is not newer than the patch already deployed on its lane."""

    code = "version_not_newer"


class QuotaReached(Conflict):
    """A new lane would exceed ROUTER_MAX_LANES."""

    code = "lane_quota_reached"


class IllegalTransition(Conflict):
    """A version-map operation is not allowed in the lane's current state."""

    code = "illegal_transition"


class PackageRejected(RouterError):
    """The package location is not allowed (host not listed, not https)."""

    status = 422
    code = "package_rejected"


# --- Lanes (5xx) ---------------------------------------------------------------------------

class LaneFailed(RouterError):
    """The lane's provisioning or deployment failed; carries the failure."""

    status = 503
    code = "lane_failed"


class LaneUnreachable(RouterError):
    """The lane's app did not answer usefully after retries."""

    status = 502
    code = "lane_unreachable"
    retryable = True


class LaneTimeout(RouterError):
    """The lane's app did not answer in time after retries."""

    status = 504
    code = "lane_timeout"
    retryable = True


class LaneUnhealthy(RouterError):
    """The lane's app stopped answering; the router is bringing it back."""

    status = 503
    code = "lane_unhealthy"
    retryable = True


class LaneNotReady(RouterError):
    """The lane's app did not become healthy within its readiness time."""

    status = 503
    code = "lane_not_ready"


class LaneNotServing(RouterError):
    """A held start's lane failed or went away before it could serve the start."""

    status = 503
    code = "lane_not_serving"


class HeldTooLong(RouterError):
    """A held start's lane did not become active within the held-request timeout."""

    status = 504
    code = "held_request_timeout"


class ActivityNotRun(RouterError):
    """The Functions host could not run an activity at all (missing, or its worker crashed)."""

    code = "activity_failed"
    retryable = True


class ReleaseAborted(RouterError):
    """The release orchestration itself failed or was terminated."""

    code = "release_failed"


class ReleaseTimeout(RouterError):
    """A release's lane did not finish provisioning within the release timeout."""

    status = 504
    code = "release_timeout"


class LaneKeyRejected(LaneUnreachable):
    """The lane refused the router's system key (rotated or stale): re-read it and retry."""

    code = "lane_key_rejected"


# --- Provisioning --------------------------------------------------------------------------

class ProvisioningFailed(RouterError):
    """A provisioning backend could not do what was asked; `code` is the backend's own code."""

    status = 502
    code = "provisioning_failed"


def from_provisioning(error: ProvisioningError) -> RouterError:
    """The backend's error in router terms, keeping its code, details and whether to retry."""
    translated = ProvisioningFailed(error.message, **error.details)
    translated.code, translated.retryable = error.code, error.retryable
    if error.code == PackageRejected.code:
        translated.status = PackageRejected.status
        translated.details.setdefault("field", "packageUrl")
    return translated


def error_from_body(status: int, body: dict[str, Any]) -> RouterError:
    """Rebuild the typed error carried across a process boundary as an error body."""
    code = body.get("error")
    cls = next((c for c in _all_subclasses(RouterError) if c.code == code), RouterError)
    details = {k: v for k, v in body.items() if k not in ("error", "message")}
    error = cls(str(body.get("message", "")), **details)
    if cls is RouterError:
        error.status, error.code = status, str(code or RouterError.code)
    return error


def _all_subclasses(cls: type[RouterError]) -> list[type[RouterError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found
