"""Versions as clients send them, and the lane a version belongs to.

Accepted: `MAJOR.MINOR.PATCH` or `MAJOR.MINOR` (patch 0), an optional leading `v`, build
metadata (ignored), and a pre-release only when allowed. The lane key is `MAJOR.MINOR`: patch
releases share their lane's app.
"""

from __future__ import annotations

import re

import semver

# A lane's key and task hub are named where the backends name lanes; the router uses them from here.
from provisioning.naming import is_lane_key, lane_key, lane_task_hub  # noqa: F401
from router.errors import BadVersion

ACCEPTED_FORMS = "MAJOR.MINOR.PATCH or MAJOR.MINOR, optionally prefixed with 'v' (e.g. 1.2.3, v1.2)"
_MAX_LEN = 64
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")  # after strip(): no space, control or non-ASCII character
_MAJOR_MINOR = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)(?=$|[-+])")


def parse_version(text: str | None, *, allow_prerelease: bool = False, field: str | None = None) -> semver.Version:
    """Parse a client- or pipeline-supplied version; BadVersion quotes the bad value and names
    `field` (the header, query parameter or body field it came from)."""
    where = {"field": field} if field else {}
    if text is None or not text.strip():
        raise BadVersion(f"A version is required. Accepted forms: {ACCEPTED_FORMS}.", accepted=ACCEPTED_FORMS,
                         **where)
    raw = text.strip()
    if len(raw) > _MAX_LEN:
        raise BadVersion(
            f"Version '{raw[:_MAX_LEN]}...' is too long. Accepted forms: {ACCEPTED_FORMS}.",
            accepted=ACCEPTED_FORMS, **where,
        )
    if not _PRINTABLE_ASCII.match(raw):
        # int() and \d read every script's digits: "1\u0662.0.0" would otherwise be lane 12.0.
        raise BadVersion(
            f"Version {raw!r} has characters other than printable ASCII. Accepted forms: {ACCEPTED_FORMS}.",
            value=raw, accepted=ACCEPTED_FORMS, **where,
        )
    candidate = raw[1:] if raw[:1] in ("v", "V") else raw
    # A missing patch means .0: "1.2" and "1.2-beta" become "1.2.0" and "1.2.0-beta".
    if _MAJOR_MINOR.match(candidate):
        candidate = _MAJOR_MINOR.sub(lambda m: f"{m.group(0)}.0", candidate, count=1)
    try:
        version = semver.Version.parse(candidate)
    except (ValueError, TypeError):
        raise BadVersion(
            f"Version '{raw}' is not valid. Accepted forms: {ACCEPTED_FORMS}.",
            value=raw,
            accepted=ACCEPTED_FORMS,
            **where,
        ) from None
    if version.prerelease and not allow_prerelease:
        raise BadVersion(
            f"Version '{raw}' is a pre-release, which this router does not accept "
            f"(ROUTER_ALLOW_PRERELEASE=false). Accepted forms: {ACCEPTED_FORMS}.",
            value=raw,
            accepted=ACCEPTED_FORMS,
            **where,
        )
    return version.replace(build=None)


def parse_lane_key(text: object, field: str = "lane") -> str:
    """Validate a lane key given in a URL or body (`1.2`, a string); BadVersion naming `field` otherwise."""
    if not isinstance(text, str) or not is_lane_key(text):
        shown = text[:40] if isinstance(text, str) else text
        raise BadVersion(f"Lane {shown!r} is not valid: expected a string MAJOR.MINOR, e.g. \"1.2\".",
                         value=shown if isinstance(shown, (str, int, float)) else None, field=field)
    return text


def lane_sort_key(lane: str) -> tuple[int, int]:
    major, minor = lane.split(".")
    return int(major), int(minor)
