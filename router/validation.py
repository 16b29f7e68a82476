"""What the router accepts from outside, checked once, at the edge, to Azure's rules (pure but for
the package check, which looks at the file a local package names).

Every refusal is a typed error with the SPEC's status whose body names the offending `field`
(a route parameter, a header, a query parameter or a body field), so a client can tell what to
fix. The HTTP functions call these before anything else happens: a refused request never reads
the version map, starts an orchestration, holds quota or reaches a lane.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
import re
import stat
import unicodedata
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

from provisioning.errors import ProvisioningError
from provisioning.packages import check_package_location as check_package_source
from provisioning.packages import describe_location, local_path_of
from router.errors import BadRequest, BadVersion, PackageRejected, PayloadTooLarge, from_provisioning
from router.lanes import PROVISION_MODES, RampPlan, Release
from router.patch_gate import ReplayCheck
from router.settings import Settings
from router.versions import is_lane_key, parse_version

MAX_INSTANCE_ID = 256  # Azure's limit for an orchestration instance id
MAX_EVENT_NAME = 256
MAX_PACKAGE_LOCATION = 2048
RELEASE_FIELDS = ("version", "packageUrl", "sha256", "provision", "replayCheck", "ramp")
_FORBIDDEN_IN_IDS = frozenset("/\\#?")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# Azure Functions names: a letter, then letters, digits, `_` or `-`; 128 characters at most.
_FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")
_TOP = re.compile(r"^[0-9]{1,4}$")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive's end record


def _shown(value: str, limit: int = 80) -> str:
    """A refused value as a message may quote it: cut short, control characters escaped."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return text.encode("unicode_escape").decode("ascii")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _check_segment(value: object, field: str, what: str, limit: int) -> str:
    """The rules every id-like URL segment shares: a non-empty string of at most `limit`
    characters, none of `/ \\ # ?` or a control character, and not a dot segment."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"The {what} is required.", field=field)
    if len(value) > limit:
        raise BadRequest(f"The {what} is {len(value)} characters long; at most {limit} are allowed.", field=field)
    if value in (".", ".."):
        raise BadRequest(f"The {what} cannot be {value!r}.", field=field, value=value)
    bad = sorted({ch for ch in value if ch in _FORBIDDEN_IN_IDS})
    if bad or _has_control(value):
        raise BadRequest(
            f"The {what} {_shown(value)!r} has a character Azure refuses: none of / \\ # ? "
            "or a control character.",
            field=field,
        )
    return value


def check_instance_id(value: object, field: str = "instanceId") -> str:
    """An orchestration instance id as Azure allows it, and never an entity's (`@name@key`): the
    drain monitor must be able to tell the two apart, and a client must not address an entity."""
    text = _check_segment(value, field, "instance id", MAX_INSTANCE_ID)
    if text.startswith("@"):
        raise BadRequest(f"Instance id {_shown(text)!r} begins with '@', which marks entity ids.", field=field)
    return text


def check_orchestrator_name(value: object, field: str = "name") -> str:
    """An orchestrator function name: a letter, then letters, digits, `_` or `-` (128 at most)."""
    if not isinstance(value, str) or not _FUNCTION_NAME.match(value):
        shown = _shown(value) if isinstance(value, str) else value
        raise BadRequest(
            f"Orchestrator name {shown!r} is not a function name: a letter, then letters, digits, _ or -, "
            "at most 128 characters.",
            field=field,
        )
    return value


def check_event_name(value: object, field: str = "eventName") -> str:
    return _check_segment(value, field, "event name", MAX_EVENT_NAME)


def check_request_id(value: object, field: str) -> str:
    """A router-issued id in a URL (`release-...`, `held-...`): the rules of an instance id's segment."""
    return _check_segment(value, field, "id", MAX_INSTANCE_ID)


# --- versions ----------------------------------------------------------------------------------

def requested_version_text(header: str | None, header_name: str, query: str | None) -> tuple[str, str] | None:
    """The version text a request carries and where it came from; None when it carries none.

    Only an absent version means "the current lane": a header or `?version=` that is present but
    empty is a client's bug, refused rather than routed somewhere the client did not ask for.
    """
    for text, field in ((header, header_name), (query, "version")):
        if text is not None and not text.strip():
            raise BadVersion(f"The {field} {'header' if field == header_name else 'parameter'} is present but "
                             "empty; send a version or leave it out.", field=field)
    if header is not None:
        return header, header_name
    if query is not None:
        return query, "version"
    return None


# --- JSON bodies -------------------------------------------------------------------------------

def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a JSON number")
    return number


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _RepeatedKey(key)
        seen[key] = value
    return seen


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_json(body: bytes, field: str = "body", *, limit: int | None = None) -> Any:
    """A JSON document as RFC 8259 has it on the wire: UTF-8 without a byte-order mark, finite
    numbers only (no NaN, Infinity or 1e999), no key twice in an object, nested no deeper than the
    parser can recurse. `json.loads` alone takes UTF-16 and UTF-32 bytes, NaN and Infinity."""
    if limit is not None and len(body) > limit:
        raise PayloadTooLarge(
            f"The request body is {len(body)} bytes; the limit is {limit} bytes (ROUTER_MAX_BODY_BYTES).",
            size=len(body), limit=limit, field=field,
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"The request body is not UTF-8 (byte {error.start}).", field=field) from None
    if text.startswith("\ufeff"):
        raise BadRequest("The request body starts with a byte-order mark; send UTF-8 without one.", field=field)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite,
                          object_pairs_hook=_no_repeats)
    except _RepeatedKey as repeated:
        raise BadRequest(f"The field {repeated.key!r} appears more than once.", field=repeated.key) from None
    except RecursionError:  # the parser's own recursion limit: deeper than any real input
        raise BadRequest("The request body nests too deep.", field=field) from None
    except ValueError as error:
        raise BadRequest(f"The request body is not valid JSON: {error}.", field=field) from None


def parse_json_object(body: bytes, field: str = "body", *, limit: int | None = None,
                      accepted: Iterable[str] | None = None) -> dict[str, Any]:
    """A JSON object; with `accepted`, any other field is refused by name (a misspelt `sha-256`
    must not quietly mean "no integrity check")."""
    data = parse_json(body, field, limit=limit)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", field=field)
    if accepted is not None:
        _refuse_unknown(data, tuple(accepted))
    return data


def _refuse_unknown(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in data:
        if name not in allowed:
            raise BadRequest(f"Unknown field {_shown(name)!r}; accepted: {', '.join(allowed)}.", field=name,
                             accepted=list(allowed))


# --- releases ----------------------------------------------------------------------------------

def parse_release(data: dict[str, Any], settings: Settings) -> Release:
    """A posted release body, every field typed as documented (nothing coerced), its package
    location checked; 400 or 422 naming the field."""
    _refuse_unknown(data, RELEASE_FIELDS)
    version_text = data.get("version")
    if not isinstance(version_text, str):
        raise BadVersion(
            f"version must be a string such as \"1.2.3\", not {json.dumps(version_text)}.", field="version"
        )
    version = parse_version(version_text, allow_prerelease=settings.allow_prerelease, field="version")
    package_url = data.get("packageUrl")
    if not isinstance(package_url, str) or not package_url.strip():
        raise BadRequest("packageUrl is required: a string, the https URL (or, with the local provisioner, "
                         "the path) of the app's zip package.", field="packageUrl")
    sha256 = data.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise BadRequest("sha256 must be a string of 64 hexadecimal characters (or left out).", field="sha256")
    provision = data.get("provision", "eager")
    if provision is None:
        provision = "eager"
    if not isinstance(provision, str) or provision not in PROVISION_MODES:
        raise BadRequest(f"provision must be one of {', '.join(repr(m) for m in PROVISION_MODES)}, "
                         f"not {json.dumps(provision)}.", field="provision")
    location = check_package_location(package_url.strip(), settings)
    return Release(str(version), location, (sha256 or "").lower(), provision)


REPLAY_CHECK_FIELDS = ("sha256", "instancesChecked", "checkedAt", "passed", "lane", "ticket")
# A ticket is the router's own signed token (router.continuation): URL-safe base64, no padding.
_TICKET = re.compile(r"^[A-Za-z0-9_-]{1,4096}$")


def parse_replay_check(value: object, release: Release, field: str = "replayCheck") -> ReplayCheck | None:
    """A release's `replayCheck` as `router.cli check-patch` prints it: `{"sha256": the package's
    sha256, "instancesChecked": n, "checkedAt": ISO time with its offset, "passed": bool, "lane":
    the lane whose histories were replayed, "ticket": the router's ticket of those histories}`,
    every field required and typed (nothing coerced), for this release's package: the release must
    carry its sha256 and it must be the checked one. None when absent; 400 naming the field.
    Whether the lane and ticket let a patch through is the gate's decision (router.patch_gate)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"{field} must be an object with {', '.join(REPLAY_CHECK_FIELDS)}.", field=field)
    for name in value:
        if name not in REPLAY_CHECK_FIELDS:
            raise BadRequest(f"Unknown field {_shown(str(name))!r} in {field}; accepted: "
                             f"{', '.join(REPLAY_CHECK_FIELDS)}.", field=f"{field}.{name}",
                             accepted=list(REPLAY_CHECK_FIELDS))
    sha256 = value.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise BadRequest(f"{field}.sha256 must be the package's sha256: 64 hexadecimal characters.",
                         field=f"{field}.sha256")
    checked = value.get("instancesChecked")
    if not isinstance(checked, int) or isinstance(checked, bool) or checked < 0:
        raise BadRequest(f"{field}.instancesChecked must be a whole number from 0.", field=f"{field}.instancesChecked")
    checked_at = value.get("checkedAt")
    if not isinstance(checked_at, str) or not _is_aware_time(checked_at):
        raise BadRequest(f"{field}.checkedAt must be an ISO 8601 time with its offset, such as "
                         "2026-01-01T12:00:00+00:00.", field=f"{field}.checkedAt")
    passed = value.get("passed")
    if not isinstance(passed, bool):
        raise BadRequest(f"{field}.passed must be true or false.", field=f"{field}.passed")
    lane = value.get("lane")
    if not isinstance(lane, str) or not is_lane_key(lane):
        raise BadRequest(f"{field}.lane must be the lane whose histories were replayed, MAJOR.MINOR such as \"1.0\".",
                         field=f"{field}.lane")
    ticket = value.get("ticket")
    if not isinstance(ticket, str) or not _TICKET.fullmatch(ticket):
        # Never quoted: it is the router's to read, and a message is no place for a token.
        raise BadRequest(f"{field}.ticket must be the ticket check-patch took from the router's histories "
                         "(the X-Replay-Check-Ticket header): URL-safe base64, 4096 characters at most.",
                         field=f"{field}.ticket")
    if not release.sha256:
        raise BadRequest(f"A release with a {field} must carry its package's sha256, the one that was checked.",
                         field="sha256")
    if sha256.lower() != release.sha256:
        raise BadRequest(f"{field} is for another package: its sha256 is not the release's.",
                         field=f"{field}.sha256")
    return ReplayCheck(sha256.lower(), checked, checked_at, passed, lane, ticket)


def _is_aware_time(text: str) -> bool:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return False
    return moment.tzinfo is not None and len(text) <= 64


def check_package_location(location: str, settings: Settings, field: str = "packageUrl") -> str:
    """A package location that can work, refused with 422 otherwise: an https URL on an allowed
    host, or, with the local provisioner, an absolute path (or file:// URL without a host) to an
    existing regular zip file, without `..`, inside ROUTER_LOCAL_PACKAGE_ROOTS when set (symlinks
    resolved). Checked at intake, so a location that cannot work registers no lane and holds no
    quota."""
    if len(location) > MAX_PACKAGE_LOCATION or _has_control(location):
        raise _rejected(f"package location is longer than {MAX_PACKAGE_LOCATION} characters or has a control "
                        "character", field)
    try:
        check_package_source(location, settings.allowed_package_hosts, local_allowed=settings.provisioning.local_allowed)
        path = local_path_of(location)
    except ProvisioningError as error:
        translated = from_provisioning(error)
        translated.details["field"] = field
        raise translated from None
    if path is not None:
        _check_local_package(location, path, settings, field)
    return location


def _check_local_package(location: str, path: Path, settings: Settings, field: str) -> None:
    shown = describe_location(location)
    if not path.is_absolute() or location.startswith("~"):
        raise _rejected(f"local package {shown!r} must be an absolute path", field)
    if ".." in path.parts:
        raise _rejected(f"local package {shown!r} steps out of its directory with '..'", field)
    if not settings.verify_local_packages:
        return
    try:
        real = Path(os.path.realpath(path))
        roots = [Path(os.path.realpath(root)) for root in settings.local_package_roots]
        if roots and not any(real == root or root in real.parents for root in roots):
            raise _rejected(f"local package {shown!r} is not under ROUTER_LOCAL_PACKAGE_ROOTS", field)
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise _rejected(f"local package {shown!r} is not a regular file", field)
        with open(real, "rb") as stream:
            magic = stream.read(4)
    except FileNotFoundError:
        raise _rejected(f"local package {shown!r} does not exist", field) from None
    except (OSError, ValueError) as error:  # unreadable, a NUL in the path, a loop of links
        raise _rejected(f"local package {shown!r} cannot be read ({type(error).__name__})", field) from None
    if magic not in _ZIP_MAGIC:
        raise _rejected(f"local package {shown!r} is not a zip file", field)


def _rejected(message: str, field: str) -> PackageRejected:
    return PackageRejected(message[:1].upper() + message[1:] + ".", field=field)


# --- progressive ramps ------------------------------------------------------------------------

RAMP_FIELDS = ("steps", "stepSeconds", "maxFailedRatio")
MAX_RAMP_STEP_SECONDS = 7 * 24 * 3600  # a step longer than a week is a typo, not a plan


def parse_ramp(value: object, field: str = "ramp") -> RampPlan:
    """`{"steps": [5, 25, 50, 100], "stepSeconds": 600, "maxFailedRatio": 0.05}`: steps whole
    percents from 1 to 100, increasing, ending at 100; stepSeconds a whole number of seconds from
    1; maxFailedRatio from 0 to 1. Nothing coerced (true is not 1, "600" is not 600); 400 naming
    the field."""
    if not isinstance(value, dict):
        raise BadRequest(f"{field} must be an object with {', '.join(RAMP_FIELDS)}.", field=field)
    for name in value:
        if name not in RAMP_FIELDS:
            raise BadRequest(f"Unknown field {_shown(str(name))!r} in {field}; accepted: {', '.join(RAMP_FIELDS)}.",
                             field=f"{field}.{name}", accepted=list(RAMP_FIELDS))
    steps = value.get("steps")
    if not isinstance(steps, list) or not steps or not all(_whole(s) and 1 <= s <= 100 for s in steps):
        raise BadRequest(f"{field}.steps must be a list of whole percents from 1 to 100, such as [5, 25, 50, 100].",
                         field=f"{field}.steps")
    if any(later <= earlier for earlier, later in pairwise(steps)) or steps[-1] != 100:
        raise BadRequest(f"{field}.steps must increase and end at 100, not {json.dumps(steps)}.",
                         field=f"{field}.steps")
    seconds = value.get("stepSeconds")
    if not _whole(seconds) or not 1 <= seconds <= MAX_RAMP_STEP_SECONDS:
        raise BadRequest(f"{field}.stepSeconds must be a whole number of seconds from 1 to {MAX_RAMP_STEP_SECONDS}.",
                         field=f"{field}.stepSeconds")
    ratio = value.get("maxFailedRatio")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise BadRequest(f"{field}.maxFailedRatio must be a number from 0 to 1, such as 0.05.",
                         field=f"{field}.maxFailedRatio")
    return RampPlan(tuple(steps), seconds, float(ratio))


def parse_release_ramp(data: dict[str, Any], release: Release) -> RampPlan | None:
    """A release's optional `ramp`: validated as `parse_ramp`; a lazy lane takes no ramp (its
    first request, which names its version, creates it: there is no traffic to ramp)."""
    if "ramp" not in data:
        return None
    plan = parse_ramp(data["ramp"])
    if release.provision == "lazy":
        raise BadRequest("A release with a ramp must be provisioned eagerly (provision \"eager\").", field="ramp")
    return plan


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- admin queries -----------------------------------------------------------------------------

def check_top(text: str | None, field: str = "top", default: int = 100) -> int:
    """A page size: ASCII digits, 1 to 1000 (`int()` would take ` 5`, `+5` and other scripts' digits)."""
    if text is None:
        return default
    if not _TOP.match(text) or not 1 <= int(text) <= 1000:
        raise BadRequest("top must be a whole number from 1 to 1000.", field=field)
    return int(text)


def check_flag(text: str | None, field: str) -> bool:
    """A query flag: absent, `true` or `false`."""
    if text is None or text.lower() == "false":
        return False
    if text.lower() == "true":
        return True
    raise BadRequest(f"{field} must be true or false.", field=field)
