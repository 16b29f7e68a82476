"""The hostile-input corpus: requests an attacker or a broken client sends, each answered with the
SPEC's status and a JSON error naming the field, and none changing anything: not the version map,
not the router's orchestrations (no release registered, no quota held, no request held), not any
lane (no instance started, purged, terminated or signalled), not the provisioning backend.

One router for the module (lane 1.0 draining with order-1, lane 1.1 current with order-2), with
role keys and confined local packages; every row snapshots the state before and after.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import zipfile
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from router.auth import KEY_HEADER, Role, RoleKeys
from router.continuation import ContinuationTokens
from router.patch_gate import PatchGate, issue_ticket
from tests.router.router_harness import Router, RouterThread, state_snapshot

pytestmark = pytest.mark.timeout(120)

KEYS = {role: secrets.token_urlsafe(32) for role in Role}
ROLE_KEYS = RoleKeys(client=(KEYS[Role.CLIENT],), release=(KEYS[Role.RELEASE],), admin=(KEYS[Role.ADMIN],))
MAX_BODY = 65_536
SHA = "ab" * 32
NO_BODY = object()


@dataclass(frozen=True)
class Case:
    """One hostile request and the refusal it must get."""

    method: str
    path: str  # as sent: percent-escapes stay escaped; may carry a query
    status: int
    error: str
    field: str | None
    role: Role | str | None = Role.CLIENT  # whose key is sent; a str is sent as the key itself
    json: Any = NO_BODY  # a JSON body, or a callable of the package root giving one
    content: bytes | None = None  # a raw body instead
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def start(path_tail: str = "", version: str | None = "1.1", **kwargs: Any) -> dict[str, Any]:
    headers = {"X-App-Version": version} if version is not None else {}
    return dict(method="POST", path=f"/api/orchestrators/process_order{path_tail}",
                headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


def release(body: Any = None, raw: bytes | None = None) -> dict[str, Any]:
    return dict(method="POST", path="/api/releases", role=Role.RELEASE,
                json=NO_BODY if raw is not None else body, content=raw)


def package(location: str) -> Callable[[Path], dict[str, Any]]:
    """A release of a new lane (3.0) from `location`; `{root}` is the allowed package root."""
    return lambda root: {"version": "3.0.0", "packageUrl": location.replace("{root}", str(root))}


def token(value: Any) -> str:
    return urlsafe_b64encode(json.dumps(value).encode()).decode()


RAMP = {"steps": [50, 100], "stepSeconds": 60, "maxFailedRatio": 0.1}
NEW_LANE = {"version": "3.0.0", "packageUrl": "{root}/app.zip"}
PATCH = {"version": "1.1.1", "packageUrl": "{root}/app.zip", "sha256": SHA}
# The corpus router's signing (its admin keys), so a row can carry a ticket it issued, or not.
ROUTER_SIGNER = ContinuationTokens(ROLE_KEYS.admin)
ISSUED = datetime.now(UTC)  # the rows' tickets are read within the module's run, well inside an hour


def ticket(lane: str = "1.1", issued: datetime = ISSUED, signer: ContinuationTokens = ROUTER_SIGNER) -> str:
    return issue_ticket(signer, lane, issued)


CHECK = {"sha256": SHA, "instancesChecked": 3, "checkedAt": "2026-12-01T16:00:00+00:00", "passed": True,
         "lane": "1.1", "ticket": ticket()}
# Well-formed checks that prove nothing: intake under ROUTER_PATCH_GATE=require refuses the patch.
UNPROVEN = dict(status=409, error="replay_check_required", field="replayCheck")


def current_ramp(lane: str = "1.0", **plan: Any) -> dict[str, Any]:
    """POST /api/current with RAMP, its fields replaced (or added) by `plan`."""
    return dict(method="POST", path="/api/current", role=Role.ADMIN, json={"lane": lane, "ramp": {**RAMP, **plan}})


BAD_VERSION = dict(status=400, error="bad_version")
BAD = dict(status=400, error="bad_request")
REJECTED = dict(status=422, error="package_rejected", field="packageUrl")
ROUTE = dict(status=404, error="unknown_route", field="route")
DEEP = b"[" * 100_000 + b"]" * 100_000

CASES: dict[str, Case] = {
    # --- versions: header and ?version= ---------------------------------------------------------
    "empty version header": Case(**start(version=""), **BAD_VERSION, field="X-App-Version"),
    "blank ?version=": Case(**start("?version=%20%20", version=None), **BAD_VERSION, field="version"),
    "empty ?version=": Case(**start("?version=", version=None), **BAD_VERSION, field="version"),
    "valid header, empty ?version=": Case(**start("?version="), **BAD_VERSION, field="version"),
    "version word": Case(**start(version="latest"), **BAD_VERSION, field="X-App-Version"),
    "version major only": Case(**start(version="1"), **BAD_VERSION, field="X-App-Version"),
    "version four parts": Case(**start(version="1.1.0.1"), **BAD_VERSION, field="X-App-Version"),
    "version leading zero": Case(**start(version="01.1.0"), **BAD_VERSION, field="X-App-Version"),
    "version pre-release": Case(**start(version="1.1.0-beta.1"), **BAD_VERSION, field="X-App-Version"),
    "version bare v": Case(**start(version="v"), **BAD_VERSION, field="X-App-Version"),
    "version too long": Case(**start(version="1." + "1" * 100), **BAD_VERSION, field="X-App-Version"),
    "version empty build": Case(**start(version="1.1.0+"), **BAD_VERSION, field="X-App-Version"),
    "version negative": Case(**start(version="-1.1"), **BAD_VERSION, field="X-App-Version"),
    "version two of them": Case(**start(version="1.0.0 1.1.0"), **BAD_VERSION, field="X-App-Version"),
    "version NUL in query": Case(**start("?version=1.1%00", version=None), **BAD_VERSION, field="version"),
    "version zero-width space": Case(**start("?version=1.1%E2%80%8B", version=None), **BAD_VERSION, field="version"),
    "version Arabic-Indic digit": Case(**start("?version=1%D9%A1.0", version=None), **BAD_VERSION, field="version"),
    "version fullwidth digits": Case(**start("?version=%EF%BC%91.%EF%BC%91", version=None), **BAD_VERSION,
                                     field="version"),
    # --- release bodies: versions ---------------------------------------------------------------
    "release version 7.50": Case(**release({"version": 7.50, "packageUrl": "{root}/app.zip"}), **BAD_VERSION,
                                 field="version"),
    "release version 7": Case(**release({"version": 7, "packageUrl": "{root}/app.zip"}), **BAD_VERSION,
                              field="version"),
    "release version null": Case(**release({"version": None, "packageUrl": "{root}/app.zip"}), **BAD_VERSION,
                                 field="version"),
    "release version list": Case(**release({"version": ["3.0.0"], "packageUrl": "{root}/app.zip"}),
                                 **BAD_VERSION, field="version"),
    "release version object": Case(**release({"version": {"major": 3}, "packageUrl": "{root}/app.zip"}),
                                   **BAD_VERSION, field="version"),
    "release version true": Case(**release({"version": True, "packageUrl": "{root}/app.zip"}), **BAD_VERSION,
                                 field="version"),
    "release version empty": Case(**release({"version": "", "packageUrl": "{root}/app.zip"}), **BAD_VERSION,
                                  field="version"),
    "release version missing": Case(**release({"packageUrl": "{root}/app.zip"}), **BAD_VERSION, field="version"),
    "release version pre-release": Case(**release({"version": "3.0.0-rc.1", "packageUrl": "{root}/app.zip"}),
                                        **BAD_VERSION, field="version"),
    # --- release bodies: sha256, provision, packageUrl types, shape -------------------------------
    "sha256 0": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": 0}), **BAD,
                     field="sha256"),
    "sha256 empty": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": ""}), **BAD,
                         field="sha256"),
    "sha256 false": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": False}), **BAD,
                         field="sha256"),
    "sha256 short": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": "abc"}), **BAD,
                         field="sha256"),
    "sha256 65 hex": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": SHA + "a"}),
                          **BAD, field="sha256"),
    "sha256 not hex": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": "g" * 64}),
                           **BAD, field="sha256"),
    "sha256 number": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": 1234}), **BAD,
                          field="sha256"),
    "sha256 list": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha256": [SHA]}), **BAD,
                        field="sha256"),
    "provision false": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "provision": False}),
                            **BAD, field="provision"),
    "provision true": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "provision": True}),
                           **BAD, field="provision"),
    "provision 0": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "provision": 0}), **BAD,
                        field="provision"),
    "provision empty": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "provision": ""}),
                            **BAD, field="provision"),
    "provision upper case": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip",
                                            "provision": "EAGER"}), **BAD, field="provision"),
    "provision unknown word": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip",
                                              "provision": "soon"}), **BAD, field="provision"),
    "provision list": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "provision": ["lazy"]}),
                           **BAD, field="provision"),
    "packageUrl missing": Case(**release({"version": "3.0.0"}), **BAD, field="packageUrl"),
    "packageUrl number": Case(**release({"version": "3.0.0", "packageUrl": 5}), **BAD, field="packageUrl"),
    "packageUrl empty": Case(**release({"version": "3.0.0", "packageUrl": ""}), **BAD, field="packageUrl"),
    "packageUrl null": Case(**release({"version": "3.0.0", "packageUrl": None}), **BAD, field="packageUrl"),
    "packageUrl list": Case(**release({"version": "3.0.0", "packageUrl": ["{root}/app.zip"]}), **BAD,
                            field="packageUrl"),
    "unknown release field": Case(**release({"version": "3.0.0", "packageUrl": "{root}/app.zip", "sha-256": SHA}),
                                  **BAD, field="sha-256"),
    "repeated release field": Case(**release(raw=b'{"version": "3.0.0", "version": "1.0.0", "packageUrl": "x"}'),
                                   **BAD, field="version"),
    "release body a list": Case(**release(raw=b"[]"), **BAD, field="body"),
    "release body null": Case(**release(raw=b"null"), **BAD, field="body"),
    "release body empty": Case(**release(raw=b""), **BAD, field="body"),
    "release body not JSON": Case(**release(raw=b"version=3.0.0"), **BAD, field="body"),
    "release body NaN": Case(**release(raw=b'{"version": "3.0.0", "packageUrl": "x", "n": NaN}'), **BAD,
                             field="body"),
    "release body Infinity": Case(**release(raw=b'{"version": Infinity}'), **BAD, field="body"),
    "release body UTF-16": Case(**release(raw='{"version": "3.0.0", "packageUrl": "/x.zip"}'.encode("utf-16")),
                                **BAD, field="body"),
    "release body UTF-8 BOM": Case(**release(raw=b'\xef\xbb\xbf{"version": "3.0.0"}'), **BAD, field="body"),
    "release body bad UTF-8": Case(**release(raw=b'{"version": "3.0.0\xff"}'), **BAD, field="body"),
    "release body nested deep": Case(**release(raw=DEEP), status=413, error="payload_too_large", field="body"),
    "release body nested 5000": Case(**release(raw=b"[" * 5000 + b"]" * 5000), **BAD, field="body"),
    "release body too large": Case(**release(raw=b'{"x": "' + b"a" * MAX_BODY + b'"}'), status=413,
                                   error="payload_too_large", field="body"),
    # --- package locations ----------------------------------------------------------------------
    "file:// with a host": Case(**release(package("file://evil.example.com/app.zip")), **REJECTED),
    "file:// localhost /etc/passwd": Case(**release(package("file://localhost/etc/passwd")), **REJECTED),
    "/etc/passwd": Case(**release(package("/etc/passwd")), **REJECTED),
    "traversal to /etc/passwd": Case(**release(package("{root}/../../../../etc/passwd")), **REJECTED),
    "traversal to a zip outside the root": Case(**release(package("{root}/../outside.zip")), **REJECTED),
    "file:// traversal": Case(**release(package("file://{root}/../outside.zip")), **REJECTED),
    "a directory": Case(**release(package("{root}/subdir")), **REJECTED),
    "a directory named .zip": Case(**release(package("{root}/dir.zip")), **REJECTED),
    "a missing file": Case(**release(package("{root}/missing.zip")), **REJECTED),
    "file:// missing file": Case(**release(package("file://{root}/missing.zip")), **REJECTED),
    "not a zip": Case(**release(package("{root}/text.zip")), **REJECTED),
    "an empty file": Case(**release(package("{root}/empty.zip")), **REJECTED),
    "a symlink out of the root": Case(**release(package("{root}/link.zip")), **REJECTED),
    "a zip outside the root": Case(**release(package("{outside}")), **REJECTED),
    "a relative path": Case(**release(package("app.zip")), **REJECTED),
    "a home path": Case(**release(package("~/app.zip")), **REJECTED),
    "a NUL in the path": Case(**release(package("{root}/app.zip\x00.txt")), **REJECTED),
    "a character device": Case(**release(package("/dev/zero")), **REJECTED),
    "/proc": Case(**release(package("/proc/self/environ")), **REJECTED),
    "a Windows path": Case(**release(package("C:\\builds\\app.zip")), **REJECTED),
    "a UNC path": Case(**release(package("\\\\server\\share\\app.zip")), **REJECTED),
    "http, not https": Case(**release(package("http://builds.example.com/app.zip")), **REJECTED),
    "a host not allowed": Case(**release(package("https://evil.example.com/app.zip")), **REJECTED),
    "credentials before a host": Case(**release(package("https://user:pw@evil.example.com/app.zip")), **REJECTED),
    "ftp": Case(**release(package("ftp://builds.example.com/app.zip")), **REJECTED),
    "javascript:": Case(**release(package("javascript:alert(1)")), **REJECTED),
    "a very long URL": Case(**release(package("https://builds.example.com/" + "a" * 5000)), **REJECTED),
    # --- instance ids on start ------------------------------------------------------------------
    "start id @evil@x": Case(**start("/@evil@x"), **BAD, field="instanceId"),
    "start id of the version map entity": Case(**start("/@version_map@main"), **BAD, field="instanceId"),
    "start id %40 encoded entity": Case(**start("/%40version_map%40main"), **BAD, field="instanceId"),
    "start id %2E": Case(method="POST", path="/api/orchestrators/ship/%2E", headers={"X-App-Version": "1.1"},
                         **BAD, field="instanceId"),
    "start id %2E%2E": Case(**start("/%2E%2E"), **BAD, field="instanceId"),
    "start id with ?": Case(**start("/a%3Fb"), **BAD, field="instanceId"),
    "start id with #": Case(**start("/a%23b"), **BAD, field="instanceId"),
    "start id with backslash": Case(**start("/a%5Cb"), **BAD, field="instanceId"),
    "start id with a control char": Case(**start("/a%01b"), **BAD, field="instanceId"),
    "start id with DEL": Case(**start("/a%7Fb"), **BAD, field="instanceId"),
    "start id with a C1 control": Case(**start("/a%C2%85b"), **BAD, field="instanceId"),
    "start id with a tab": Case(**start("/a%09b"), **BAD, field="instanceId"),
    "start id 257 chars": Case(**start("/" + "x" * 257), **BAD, field="instanceId"),
    "start id with an encoded slash": Case(**start("/a%2Fb"), **ROUTE),
    # --- orchestrator names ---------------------------------------------------------------------
    "name %2E": Case(method="POST", path="/api/orchestrators/%2E", headers={"X-App-Version": "1.1"}, **BAD,
                     field="name"),
    "name %2E%2E": Case(method="POST", path="/api/orchestrators/%2E%2E/x", headers={"X-App-Version": "1.1"},
                        **BAD, field="name"),
    "name with a space": Case(method="POST", path="/api/orchestrators/bad%20name", headers={"X-App-Version": "1.1"},
                              **BAD, field="name"),
    "name starting with a digit": Case(method="POST", path="/api/orchestrators/1abc",
                                       headers={"X-App-Version": "1.1"}, **BAD, field="name"),
    "name starting with @": Case(method="POST", path="/api/orchestrators/%40ent", headers={"X-App-Version": "1.1"},
                                 **BAD, field="name"),
    "name too long": Case(method="POST", path="/api/orchestrators/" + "a" * 200, headers={"X-App-Version": "1.1"},
                          **BAD, field="name"),
    "name with a control char": Case(method="POST", path="/api/orchestrators/na%01me",
                                     headers={"X-App-Version": "1.1"}, **BAD, field="name"),
    # --- start bodies ---------------------------------------------------------------------------
    "start body NaN": Case(**start(content=b"NaN"), **BAD, field="body"),
    "start body Infinity": Case(**start(content=b"Infinity"), **BAD, field="body"),
    "start body -Infinity": Case(**start(content=b"-Infinity"), **BAD, field="body"),
    "start body nested NaN": Case(**start(content=b'{"order": NaN}'), **BAD, field="body"),
    "start body 1e999": Case(**start(content=b'{"amount": 1e999}'), **BAD, field="body"),
    "start body UTF-16 LE BOM": Case(**start(content='{"order": 1}'.encode("utf-16")), **BAD, field="body"),
    "start body UTF-16 BE": Case(**start(content='{"order": 1}'.encode("utf-16-be")), **BAD, field="body"),
    "start body UTF-32": Case(**start(content='{"order": 1}'.encode("utf-32")), **BAD, field="body"),
    "start body UTF-8 BOM": Case(**start(content=b'\xef\xbb\xbf{"order": 1}'), **BAD, field="body"),
    "start body bad UTF-8": Case(**start(content=b'{"order": "\xc3\x28"}'), **BAD, field="body"),
    "start body nested 5000": Case(**start(content=b"[" * 5000 + b"]" * 5000), **BAD, field="body"),
    "start body not JSON": Case(**start(content=b"order=1"), **BAD, field="body"),
    "start body too large": Case(**start(content=b'"' + b"a" * MAX_BODY + b'"'), status=413,
                                 error="payload_too_large", field="body"),
    # --- instance management --------------------------------------------------------------------
    "list a lane via %2E": Case(method="GET", path="/api/instances/1.1/%2E", **BAD, field="instanceId"),
    "purge a lane via %2E": Case(method="DELETE", path="/api/instances/1.1/%2E", **BAD, field="instanceId"),
    "purge a lane via %2E%2E": Case(method="DELETE", path="/api/instances/1.0/%2E%2E", **BAD, field="instanceId"),
    "terminate via %2E": Case(method="POST", path="/api/instances/1.0/%2E/terminate", **BAD, field="instanceId"),
    "read an entity": Case(method="GET", path="/api/instances/1.0/@version_map@main", **BAD, field="instanceId"),
    "purge an @ id": Case(method="DELETE", path="/api/instances/1.0/@evil@x", **BAD, field="instanceId"),
    "status id with a control char": Case(method="GET", path="/api/instances/1.0/a%01", **BAD, field="instanceId"),
    "status id 257 chars": Case(method="GET", path="/api/instances/1.0/" + "x" * 257, **BAD, field="instanceId"),
    "event %2E": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/%2E", json={}, **BAD,
                      field="eventName"),
    "event %2E%2E": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/%2E%2E", json={}, **BAD,
                         field="eventName"),
    "event with a control char": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/go%01", json={},
                                      **BAD, field="eventName"),
    "event name too long": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/" + "e" * 300, json={},
                                **BAD, field="eventName"),
    "event without a name": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent", json={}, **BAD,
                                 field="eventName"),
    "event body NaN": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/go", content=b"NaN", **BAD,
                           field="body"),
    "event body UTF-16": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/go",
                              content='{"ok": true}'.encode("utf-16"), **BAD, field="body"),
    "event body too large": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/go",
                                 content=b'"' + b"a" * MAX_BODY + b'"', status=413, error="payload_too_large",
                                 field="body"),
    "terminate with GET": Case(method="GET", path="/api/instances/1.0/order-1/terminate", **BAD, field="action"),
    "an unknown action": Case(method="POST", path="/api/instances/1.0/order-1/rewind", **BAD, field="action"),
    "an event name on terminate": Case(method="POST", path="/api/instances/1.0/order-1/terminate/x", **BAD,
                                       field="eventName"),
    "lane major only": Case(method="GET", path="/api/instances/1/order-1", **BAD_VERSION, field="lane"),
    "lane %2E": Case(method="GET", path="/api/instances/%2E/order-1", **BAD_VERSION, field="lane"),
    "lane leading zero": Case(method="GET", path="/api/instances/01.0/order-1", **BAD_VERSION, field="lane"),
    "lane with a patch": Case(method="DELETE", path="/api/instances/1.0.0/order-1", **BAD_VERSION, field="lane"),
    "lane unknown": Case(method="DELETE", path="/api/instances/9.9/order-1", status=404, error="unknown_lane",
                         field="lane"),
    # --- continuation tokens and admin queries --------------------------------------------------
    "token garbage": Case(method="GET", path="/api/instances?continuationToken=garbage", role=Role.ADMIN, **BAD,
                          field="continuationToken"),
    "token unsigned old format": Case(method="GET", path=f"/api/instances?continuationToken={token([0, 'x'])}",
                                      role=Role.ADMIN, **BAD, field="continuationToken"),
    "token negative lane index": Case(method="GET", path=f"/api/instances?continuationToken={token([-1, None])}",
                                      role=Role.ADMIN, **BAD, field="continuationToken"),
    "token object for the lane's": Case(method="GET",
                                        path=f"/api/instances?continuationToken={token([0, {'a': 1}])}",
                                        role=Role.ADMIN, **BAD, field="continuationToken"),
    "token forged lane and signature": Case(
        method="GET", path=f"/api/instances?continuationToken={token({'lane': '1.0', 'token': 'x', 'sig': '00'})}",
        role=Role.ADMIN, **BAD, field="continuationToken"),
    "token NUL": Case(method="GET", path="/api/instances?continuationToken=%00", role=Role.ADMIN, **BAD,
                      field="continuationToken"),
    "token huge": Case(method="GET", path="/api/instances?continuationToken=" + "A" * 5000, role=Role.ADMIN, **BAD,
                       field="continuationToken"),
    "token in the header": Case(method="GET", path="/api/instances", role=Role.ADMIN,
                                headers={"x-ms-continuation-token": "garbage"}, **BAD,
                                field="x-ms-continuation-token"),
    "top 0": Case(method="GET", path="/api/instances?top=0", role=Role.ADMIN, **BAD, field="top"),
    "top word": Case(method="GET", path="/api/instances?top=abc", role=Role.ADMIN, **BAD, field="top"),
    "top over 1000": Case(method="GET", path="/api/instances?top=1001", role=Role.ADMIN, **BAD, field="top"),
    "top negative": Case(method="GET", path="/api/instances?top=-1", role=Role.ADMIN, **BAD, field="top"),
    "top exponent": Case(method="GET", path="/api/instances?top=1e3", role=Role.ADMIN, **BAD, field="top"),
    "top Arabic-Indic digit": Case(method="GET", path="/api/instances?top=%D9%A1", role=Role.ADMIN, **BAD,
                                   field="top"),
    "runtimeStatus unknown": Case(method="GET", path="/api/instances?runtimeStatus=Bogus", role=Role.ADMIN, **BAD,
                                  field="runtimeStatus"),
    "runtimeStatus NUL": Case(method="GET", path="/api/instances?runtimeStatus=Running,%00", role=Role.ADMIN,
                              **BAD, field="runtimeStatus"),
    "lane filter bad": Case(method="GET", path="/api/instances?lane=x", role=Role.ADMIN, **BAD_VERSION,
                            field="lane"),
    "lane filter %2E": Case(method="GET", path="/api/instances?lane=%2E", role=Role.ADMIN, **BAD_VERSION,
                            field="lane"),
    # --- admin commands -------------------------------------------------------------------------
    "close lane %2E": Case(method="POST", path="/api/lanes/%2E/close", role=Role.ADMIN, **BAD_VERSION,
                           field="lane"),
    "close lane major only": Case(method="POST", path="/api/lanes/1/close", role=Role.ADMIN, **BAD_VERSION,
                                  field="lane"),
    "close an unknown lane": Case(method="POST", path="/api/lanes/9.9/close", role=Role.ADMIN, status=404,
                                  error="unknown_lane", field="lane"),
    "retire an unknown lane": Case(method="POST", path="/api/lanes/9.9/retire?force=true", role=Role.ADMIN,
                                   status=404, error="unknown_lane", field="lane"),
    "retire force maybe": Case(method="POST", path="/api/lanes/1.0/retire?force=maybe", role=Role.ADMIN, **BAD,
                               field="force"),
    "current lane a number": Case(method="POST", path="/api/current", role=Role.ADMIN, json={"lane": 1.0},
                                  **BAD_VERSION, field="lane"),
    "current lane missing": Case(method="POST", path="/api/current", role=Role.ADMIN, json={}, **BAD_VERSION,
                                 field="lane"),
    "current lane unknown": Case(method="POST", path="/api/current", role=Role.ADMIN, json={"lane": "9.9"},
                                 status=404, error="unknown_lane", field="lane"),
    "current body a list": Case(method="POST", path="/api/current", role=Role.ADMIN, json=["1.0"], **BAD,
                                field="body"),
    "current body NaN": Case(method="POST", path="/api/current", role=Role.ADMIN, content=b'{"lane": NaN}', **BAD,
                             field="body"),
    "current lane repeated": Case(method="POST", path="/api/current", role=Role.ADMIN,
                                  content=b'{"lane": "1.1", "lane": "1.0"}', **BAD, field="lane"),
    "current unknown field": Case(method="POST", path="/api/current", role=Role.ADMIN,
                                  json={"lane": "1.0", "force": True}, **BAD, field="force"),
    # --- progressive ramps (issue 15): POST /api/current and a release's ramp ------------------
    # Lane 1.0 drains and 1.1 is current here, so a well-formed plan for either is refused by
    # state (409): a shape that slipped through parse_ramp would show as that 409, not a 400.
    "ramp steps of floats": Case(**current_ramp(steps=[50.0, 100.0]), **BAD, field="ramp.steps"),
    "ramp steps with a bool": Case(**current_ramp(steps=[True, 100]), **BAD, field="ramp.steps"),
    "ramp steps as strings": Case(**current_ramp(steps=["50", "100"]), **BAD, field="ramp.steps"),
    "ramp steps empty": Case(**current_ramp(steps=[]), **BAD, field="ramp.steps"),
    "ramp steps repeated": Case(**current_ramp(steps=[50, 50, 100]), **BAD, field="ramp.steps"),
    "ramp steps not ending at 100": Case(**current_ramp(steps=[5, 50]), **BAD, field="ramp.steps"),
    "ramp steps over 100": Case(**current_ramp(steps=[50, 101]), **BAD, field="ramp.steps"),
    "ramp steps 0": Case(**current_ramp(steps=[0, 100]), **BAD, field="ramp.steps"),
    "ramp steps 10**30": Case(**current_ramp(steps=[10**30]), **BAD, field="ramp.steps"),
    "ramp stepSeconds a float": Case(**current_ramp(stepSeconds=60.0), **BAD, field="ramp.stepSeconds"),
    "ramp stepSeconds true": Case(**current_ramp(stepSeconds=True), **BAD, field="ramp.stepSeconds"),
    "ramp stepSeconds a string": Case(**current_ramp(stepSeconds="600"), **BAD, field="ramp.stepSeconds"),
    "ramp stepSeconds 0": Case(**current_ramp(stepSeconds=0), **BAD, field="ramp.stepSeconds"),
    "ramp stepSeconds huge": Case(**current_ramp(stepSeconds=10**30), **BAD, field="ramp.stepSeconds"),
    "ramp stepSeconds a week and a second": Case(**current_ramp(stepSeconds=7 * 86400 + 1), **BAD,
                                                 field="ramp.stepSeconds"),
    "ramp maxFailedRatio true": Case(**current_ramp(maxFailedRatio=True), **BAD, field="ramp.maxFailedRatio"),
    "ramp maxFailedRatio above 1": Case(**current_ramp(maxFailedRatio=1.5), **BAD, field="ramp.maxFailedRatio"),
    "ramp maxFailedRatio negative": Case(**current_ramp(maxFailedRatio=-0.1), **BAD, field="ramp.maxFailedRatio"),
    "ramp maxFailedRatio a string": Case(**current_ramp(maxFailedRatio="0.05"), **BAD, field="ramp.maxFailedRatio"),
    "ramp maxFailedRatio NaN": Case(method="POST", path="/api/current", role=Role.ADMIN, **BAD, field="body",
                                    content=b'{"lane": "1.0", "ramp": {"steps": [50, 100], "stepSeconds": 60, '
                                            b'"maxFailedRatio": NaN}}'),
    "ramp maxFailedRatio Infinity": Case(method="POST", path="/api/current", role=Role.ADMIN, **BAD, field="body",
                                         content=b'{"lane": "1.0", "ramp": {"steps": [50, 100], "stepSeconds": 60, '
                                                 b'"maxFailedRatio": Infinity}}'),
    "ramp field repeated": Case(method="POST", path="/api/current", role=Role.ADMIN, **BAD, field="steps",
                                content=b'{"lane": "1.0", "ramp": {"steps": [50, 100], "steps": [100], '
                                        b'"stepSeconds": 60, "maxFailedRatio": 0.1}}'),
    "ramp repeated": Case(method="POST", path="/api/current", role=Role.ADMIN, **BAD, field="ramp",
                          content=b'{"lane": "1.0", "ramp": {"steps": [100], "stepSeconds": 60, "maxFailedRatio": 0.1}, '
                                  b'"ramp": {"steps": [100], "stepSeconds": 60, "maxFailedRatio": 0.1}}'),
    "ramp unknown field": Case(**current_ramp(percent=5), **BAD, field="ramp.percent"),
    "ramp null": Case(method="POST", path="/api/current", role=Role.ADMIN, json={"lane": "1.0", "ramp": None}, **BAD,
                      field="ramp"),
    "ramp a list": Case(method="POST", path="/api/current", role=Role.ADMIN, json={"lane": "1.0", "ramp": [50, 100]},
                        **BAD, field="ramp"),
    "ramp onto an unknown lane": Case(**current_ramp(lane="9.9"), status=404, error="unknown_lane", field="lane"),
    "ramp onto a draining lane": Case(**current_ramp(), status=409, error="illegal_transition", field=None),
    "ramp onto the current lane": Case(**current_ramp(lane="1.1"), status=409, error="illegal_transition",
                                       field=None),
    "ramp with a release key": Case(**{**current_ramp(), "role": Role.RELEASE}, status=403, error="forbidden",
                                    field=KEY_HEADER),
    "release ramp of floats": Case(**release({**NEW_LANE, "ramp": {**RAMP, "steps": [50.0, 100.0]}}), **BAD,
                                   field="ramp.steps"),
    "release ramp stepSeconds huge": Case(**release({**NEW_LANE, "ramp": {**RAMP, "stepSeconds": 10**30}}), **BAD,
                                          field="ramp.stepSeconds"),
    "release ramp null": Case(**release({**NEW_LANE, "ramp": None}), **BAD, field="ramp"),
    "release ramp lazy": Case(**release({**NEW_LANE, "provision": "lazy", "ramp": RAMP}), **BAD, field="ramp"),
    "release ramp of a patch": Case(**release({"version": "1.1.1", "packageUrl": "{root}/app.zip", "ramp": RAMP}),
                                    status=409, error="ramp_not_for_a_patch", field="ramp"),
    # --- replayCheck on a release ---------------------------------------------------------------
    "replayCheck a string": Case(**release({**PATCH, "replayCheck": "passed"}), **BAD, field="replayCheck"),
    "replayCheck null": Case(**release({**PATCH, "replayCheck": None}), **BAD, field="replayCheck"),
    "replayCheck without sha256 on the release": Case(**release({"version": "1.1.1", "packageUrl": "{root}/app.zip",
                                                                 "replayCheck": CHECK}), **BAD, field="sha256"),
    "replayCheck for another package": Case(**release({**PATCH, "replayCheck": {**CHECK, "sha256": "cd" * 32}}), **BAD,
                                            field="replayCheck.sha256"),
    "replayCheck passed a string": Case(**release({**PATCH, "replayCheck": {**CHECK, "passed": "true"}}), **BAD,
                                        field="replayCheck.passed"),
    "replayCheck instancesChecked a float": Case(**release({**PATCH, "replayCheck": {**CHECK, "instancesChecked": 3.0}}),
                                                 **BAD, field="replayCheck.instancesChecked"),
    "replayCheck instancesChecked true": Case(**release({**PATCH, "replayCheck": {**CHECK, "instancesChecked": True}}),
                                              **BAD, field="replayCheck.instancesChecked"),
    "replayCheck instancesChecked negative": Case(**release({**PATCH, "replayCheck": {**CHECK, "instancesChecked": -1}}),
                                                  **BAD, field="replayCheck.instancesChecked"),
    "replayCheck checkedAt garbage": Case(**release({**PATCH, "replayCheck": {**CHECK, "checkedAt": "yesterday"}}),
                                          **BAD, field="replayCheck.checkedAt"),
    "replayCheck unknown field": Case(**release({**PATCH, "replayCheck": {**CHECK, "trustMe": True}}), **BAD,
                                      field="replayCheck.trustMe"),
    "replayCheck without lane": Case(**release({**PATCH, "replayCheck": {k: v for k, v in CHECK.items() if k != "lane"}}),
                                     **BAD, field="replayCheck.lane"),
    "replayCheck lane a version": Case(**release({**PATCH, "replayCheck": {**CHECK, "lane": "1.1.1"}}), **BAD,
                                       field="replayCheck.lane"),
    "replayCheck lane a number": Case(**release({**PATCH, "replayCheck": {**CHECK, "lane": 1.1}}), **BAD,
                                      field="replayCheck.lane"),
    "replayCheck without ticket": Case(**release({**PATCH, "replayCheck": {k: v for k, v in CHECK.items()
                                                                            if k != "ticket"}}),
                                       **BAD, field="replayCheck.ticket"),
    "replayCheck ticket not base64": Case(**release({**PATCH, "replayCheck": {**CHECK, "ticket": "trust me"}}), **BAD,
                                          field="replayCheck.ticket"),
    "replayCheck ticket huge": Case(**release({**PATCH, "replayCheck": {**CHECK, "ticket": "A" * 5000}}), **BAD,
                                    field="replayCheck.ticket"),
    "replayCheck ticket forged": Case(**release({**PATCH, "replayCheck": {
        **CHECK, "ticket": ticket(signer=ContinuationTokens(("another-routers-admin-key-" + "x" * 20,)))}}), **UNPROVEN),
    "replayCheck ticket unsigned": Case(**release({**PATCH, "replayCheck": {**CHECK, "ticket": token(
        {"kind": "replayCheckTicket", "lane": "1.1", "issuedAt": ISSUED.isoformat()}).rstrip("=")}}), **UNPROVEN),
    "replayCheck ticket of another lane": Case(**release({**PATCH, "replayCheck": {**CHECK, "ticket": ticket("1.0")}}),
                                               **UNPROVEN),
    "replayCheck of another lane": Case(**release({**PATCH, "replayCheck": {**CHECK, "lane": "1.0",
                                                                            "ticket": ticket("1.0")}}), **UNPROVEN),
    "replayCheck ticket expired": Case(**release({**PATCH, "replayCheck": {
        **CHECK, "ticket": ticket(issued=ISSUED - timedelta(days=2))}}), **UNPROVEN),
    "replayCheck ticket a continuation token": Case(**release({**PATCH, "replayCheck": {
        **CHECK, "ticket": ROUTER_SIGNER.sign({"lane": "1.1", "token": None, "scope": "{}"})}}), **UNPROVEN),
    # --- GET /api/lanes/{lane}/histories ----------------------------------------------------------
    "histories top 0": Case(method="GET", path="/api/lanes/1.0/histories?top=0", role=Role.ADMIN, **BAD, field="top"),
    "histories top word": Case(method="GET", path="/api/lanes/1.0/histories?top=abc", role=Role.ADMIN, **BAD,
                               field="top"),
    "histories top over 1000": Case(method="GET", path="/api/lanes/1.0/histories?top=1001", role=Role.ADMIN, **BAD,
                                    field="top"),
    "histories top negative": Case(method="GET", path="/api/lanes/1.0/histories?top=-5", role=Role.ADMIN, **BAD,
                                   field="top"),
    "histories token garbage": Case(method="GET", path="/api/lanes/1.0/histories?continuationToken=garbage",
                                    role=Role.ADMIN, **BAD, field="continuationToken"),
    "histories token forged": Case(
        method="GET", path=f"/api/lanes/1.0/histories?continuationToken={token({'lane': '1.0', 'token': 'x', 'sig': '00'})}",
        role=Role.ADMIN, **BAD, field="continuationToken"),
    "histories token huge": Case(method="GET", path="/api/lanes/1.0/histories?continuationToken=" + "A" * 5000,
                                 role=Role.ADMIN, **BAD, field="continuationToken"),
    "histories token in the header": Case(method="GET", path="/api/lanes/1.0/histories", role=Role.ADMIN,
                                          headers={"x-ms-continuation-token": "garbage"}, **BAD,
                                          field="x-ms-continuation-token"),
    "histories of an unknown lane": Case(method="GET", path="/api/lanes/9.9/histories", role=Role.ADMIN, status=404,
                                         error="unknown_lane", field="lane"),
    "histories lane %2E": Case(method="GET", path="/api/lanes/%2E/histories", role=Role.ADMIN, **BAD_VERSION,
                               field="lane"),
    "histories with a release key": Case(method="GET", path="/api/lanes/1.0/histories", role=Role.RELEASE, status=403,
                                         error="forbidden", field=KEY_HEADER),
    "histories with a client key": Case(method="GET", path="/api/lanes/1.0/histories", role=Role.CLIENT, status=403,
                                        error="forbidden", field=KEY_HEADER),
    # --- routes ---------------------------------------------------------------------------------
    "an unknown route": Case(method="GET", path="/api/nothing", **ROUTE),
    "the prefix alone": Case(method="GET", path="/api", **ROUTE),
    "a method no route takes": Case(method="PUT", path="/api/releases", role=Role.RELEASE, json={}, **ROUTE),
    "DELETE the version map": Case(method="DELETE", path="/api/versionmap", role=Role.ADMIN, **ROUTE),
    "GET a start route": Case(method="GET", path="/api/orchestrators/process_order", **ROUTE),
    "an instance without an id": Case(method="POST", path="/api/instances/1.0", **ROUTE),
    "too many segments": Case(method="POST", path="/api/instances/1.0/order-1/raiseEvent/go/more", json={},
                              **ROUTE),
    "an unknown release": Case(method="GET", path="/api/releases/release-0", role=Role.RELEASE, status=404,
                               error="not_found", field="releaseId"),
    "a release id with a control char": Case(method="GET", path="/api/releases/release-%01", role=Role.RELEASE,
                                             **BAD, field="releaseId"),
    "an unknown held request": Case(method="GET", path="/api/held/held-0", status=404, error="not_found",
                                    field="heldId"),
    "a held id with ?": Case(method="GET", path="/api/held/held-%3F", **BAD, field="heldId"),
    # --- keys -----------------------------------------------------------------------------------
    "start without a key": Case(**start(), role=None, status=401, error="unauthorized", field=KEY_HEADER),
    "start with a wrong key": Case(**start(), role="x" * 43, status=401, error="unauthorized", field=KEY_HEADER),
    "start with a release key": Case(**start(), role=Role.RELEASE, status=403, error="forbidden", field=KEY_HEADER),
    "start with an admin key": Case(**start(), role=Role.ADMIN, status=403, error="forbidden", field=KEY_HEADER),
    "release with a client key": Case(**{**release({"version": "3.0.0", "packageUrl": "{root}/app.zip"}),
                                         "role": Role.CLIENT}, status=403, error="forbidden", field=KEY_HEADER),
    "release without a key": Case(**{**release({"version": "3.0.0", "packageUrl": "{root}/app.zip"}),
                                     "role": None}, status=401, error="unauthorized", field=KEY_HEADER),
    "purge with a release key": Case(method="DELETE", path="/api/instances/1.0/order-1", role=Role.RELEASE,
                                     status=403, error="forbidden", field=KEY_HEADER),
    "version map with a client key": Case(method="GET", path="/api/versionmap", role=Role.CLIENT, status=403,
                                          error="forbidden", field=KEY_HEADER),
    "close with a release key": Case(method="POST", path="/api/lanes/1.0/close", role=Role.RELEASE, status=403,
                                     error="forbidden", field=KEY_HEADER),
    "retire without a key": Case(method="POST", path="/api/lanes/1.0/retire?force=true", role=None, status=401,
                                 error="unauthorized", field=KEY_HEADER),
    "a key in ?code=": Case(**start(f"?code={KEYS[Role.CLIENT]}"), role=None, status=401, error="unauthorized",
                            field=KEY_HEADER),
    "two keys in one header": Case(**start(), role=f"{KEYS[Role.CLIENT]}, {KEYS[Role.ADMIN]}", status=401,
                                   error="unauthorized", field=KEY_HEADER),
    "a key cut short": Case(**start(), role=KEYS[Role.CLIENT][:-1], status=401, error="unauthorized",
                            field=KEY_HEADER),
    "a key in another case": Case(**start(), role=KEYS[Role.CLIENT].swapcase(), status=401, error="unauthorized",
                                  field=KEY_HEADER),
    "a key as a bearer token": Case(**start(headers={"Authorization": f"Bearer {KEYS[Role.CLIENT]}"}), role=None,
                                    status=401, error="unauthorized", field=KEY_HEADER),
    "the host's master key": Case(**start(), role="master", status=401, error="unauthorized", field=KEY_HEADER),
}


# --- the router, its lanes and packages ---------------------------------------------------------

def a_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("function_app.py", "")
    return path


def package_root(base: Path) -> Path:
    root = base / "packages"
    (root / "subdir").mkdir(parents=True)
    (root / "dir.zip").mkdir()
    for version in ("1.0.0", "1.1.0"):
        a_zip(root / f"{version}.zip")
    a_zip(root / "app.zip")
    (root / "text.zip").write_text("not a zip")
    (root / "empty.zip").write_bytes(b"")
    (root / "link.zip").symlink_to(a_zip(base / "outside.zip"))
    return root


def as_role(role: Role) -> dict[str, str]:
    return {KEY_HEADER: KEYS[role]}


@dataclass
class Corpus:
    thread: RouterThread
    root: Path
    master_key: str = field(default="")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root = package_root(base)
    overrides: dict[str, Any] = dict(
        role_keys=ROLE_KEYS, local_package_roots=(str(root),), verify_local_packages=True,
        max_body_bytes=MAX_BODY, drain_poll_seconds=3600,
        lane_probe_seconds=3600.0,  # no health probe writes to the map mid-table
        patch_gate=PatchGate.REQUIRE,  # a patch's replayCheck must prove itself (the UNPROVEN rows)
    )
    thread = RouterThread(base, **overrides).start()

    async def lanes(router: Router) -> str:
        master_key = router.http.headers["x-functions-key"]
        # The harness's own reads (the version map) are an admin's; the dev host checks no key here.
        router.http.headers["x-functions-key"] = KEYS[Role.ADMIN]
        for version in ("1.0.0", "1.1.0"):
            posted = await router.http.post("/api/releases", headers=as_role(Role.RELEASE), json={
                "version": version, "packageUrl": str(root / f"{version}.zip")})
            assert posted.status_code == 202, posted.text
            await router.wait_for_lane(version[:3], "active", timeout=30)
            started = await router.http.post(
                f"/api/orchestrators/process_order/order-{version[2]}",
                headers={**as_role(Role.CLIENT), "X-App-Version": version}, json={})
            assert started.status_code == 202, started.text
        await router.wait_for_lane("1.0", "draining", timeout=30)

        async def settled():  # nothing left moving: the drain monitor waits an hour now
            import asyncio

            first = await state_snapshot(router)
            await asyncio.sleep(0.5)
            return first == await state_snapshot(router)

        await router.wait_for("the router to settle", settled, timeout=30)
        return master_key

    corpus = Corpus(thread, root, master_key=thread.call(lanes, timeout=90))
    yield corpus
    thread.stop()


def send(corpus: Corpus, case: Case):
    if case.role is None:
        key = {}
    elif isinstance(case.role, Role):
        key = as_role(case.role)
    elif case.role == "master":
        key = {KEY_HEADER: corpus.master_key}
    else:
        key = {KEY_HEADER: case.role}
    outside = str(corpus.root.parent / "outside.zip")
    body = case.json(corpus.root) if callable(case.json) else case.json
    if body is not NO_BODY:
        body = json.loads(json.dumps(body).replace("{root}", str(corpus.root)).replace("{outside}", outside))

    async def request(router: Router):
        before = await state_snapshot(router)
        # A client of its own: the harness's carries the dev host's master key on every request.
        async with httpx.AsyncClient(base_url=router.host.base_url, timeout=20.0) as http:
            headers = {**case.headers, **key}
            if body is not NO_BODY:
                response = await http.request(case.method, case.path, json=body, headers=headers)
            else:
                response = await http.request(case.method, case.path, content=case.content, headers=headers)
        after = await state_snapshot(router)
        return response, before, after

    return corpus.thread.call(request)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_refused_and_changes_nothing(corpus, name):
    case = CASES[name]
    response, before, after = send(corpus, case)
    assert response.status_code == case.status, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    document = response.json()
    assert document["error"] == case.error, document
    assert document.get("field") == case.field, document
    assert isinstance(document.get("message"), str) and document["message"]
    assert "Traceback" not in response.text and corpus.master_key not in response.text
    assert after == before, f"{name} changed the router's or a lane's state"


# Why intake refuses each well-formed check that proves nothing (router.patch_gate.check_problem).
UNPROVEN_REASONS = {
    "replayCheck ticket forged": "bad_ticket",
    "replayCheck ticket unsigned": "bad_ticket",
    "replayCheck ticket a continuation token": "bad_ticket",
    "replayCheck ticket of another lane": "ticket_other_lane",
    "replayCheck of another lane": "other_lane",
    "replayCheck ticket expired": "expired",
}


@pytest.mark.parametrize("name", list(UNPROVEN_REASONS))
def test_a_check_that_proves_nothing_is_refused_for_its_reason_without_echoing_its_ticket(corpus, name):
    response, _, _ = send(corpus, CASES[name])
    assert response.json()["reason"] == UNPROVEN_REASONS[name], response.text
    assert "check-patch" in response.json()["message"]
    assert CASES[name].json["replayCheck"]["ticket"] not in response.text


def test_the_corpus_is_big_enough_and_covers_every_class():
    assert len(CASES) >= 100
    # Every finding of issue 12 is a row.
    for finding in ("start id %2E", "list a lane via %2E", "purge a lane via %2E", "start id @evil@x",
                    "start id of the version map entity", "start id with ?", "start id with #",
                    "start id with backslash", "start id with a control char", "start id 257 chars",
                    "file:// with a host", "/etc/passwd", "traversal to /etc/passwd", "a directory",
                    "a missing file", "start body NaN", "start body UTF-16 LE BOM", "token garbage",
                    "token unsigned old format", "provision false", "release version 7.50", "sha256 0",
                    "empty version header", "start without a key", "an unknown route", "release with a client key"):
        assert finding in CASES, finding


# --- continuation tokens the router issued -------------------------------------------------------

def page(corpus: Corpus, query: dict[str, str], token: str | None = None):
    async def get(router: Router):
        params = {**query, **({"continuationToken": token} if token else {})}
        return await router.http.get("/api/instances", params=params, headers=as_role(Role.ADMIN))

    return corpus.thread.call(get)


def test_a_token_the_router_issued_pages_on_and_a_tampered_one_is_400(corpus):
    first = page(corpus, {"top": "1"})
    assert first.status_code == 200, first.text
    issued = first.json()["continuationToken"]
    assert issued and first.headers["x-ms-continuation-token"] == issued
    second = page(corpus, {"top": "1"}, issued)
    assert second.status_code == 200, second.text
    seen = [i["instanceId"] for i in first.json()["instances"] + second.json()["instances"]]
    assert sorted(seen) == ["order-0", "order-1"]
    tampered = issued[:-2] + ("AA" if issued[-2:] != "AA" else "BB")
    refused = page(corpus, {"top": "1"}, tampered)
    assert refused.status_code == 400 and refused.json()["field"] == "continuationToken"


def test_a_token_is_bound_to_its_query(corpus):
    issued = page(corpus, {"top": "1"}).json()["continuationToken"]
    other = page(corpus, {"top": "1", "runtimeStatus": "Completed"}, issued)
    assert other.status_code == 400 and other.json()["field"] == "continuationToken"


def test_a_token_of_the_instance_list_does_not_page_a_lanes_histories(corpus):
    """A histories token is signed for one lane's histories only (router/admin_api.py: the scope
    names the lane): one GET /api/instances issued is a 400 there, before the lane is read."""
    issued = page(corpus, {"top": "1"}).json()["continuationToken"]

    async def histories(router: Router, lane: str, token: str) -> httpx.Response:
        return await router.http.get(f"/api/lanes/{lane}/histories", params={"continuationToken": token},
                                     headers=as_role(Role.ADMIN))

    for lane in ("1.0", "1.1"):
        refused = corpus.thread.call(lambda router, lane=lane: histories(router, lane, issued))
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "continuationToken"


# --- what the lane is sent ----------------------------------------------------------------------

@pytest.mark.parametrize("instance_id", [".", ".."])
def test_the_lane_client_never_sends_a_dot_segment(instance_id):
    """Below the edge too: were `.` to reach httpx, `instances/.` would become `instances/` (a list)
    and `DELETE instances/.` a purge of the whole lane."""
    import asyncio

    from router.lane_client import LaneClient
    from router.lane_types import LaneEndpoint

    seen: list[bytes] = []

    def lane(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.split(b"?")[0])
        return httpx.Response(404, json={})

    async def main() -> None:
        async with LaneClient(transport=httpx.MockTransport(lane)) as client:
            endpoint = LaneEndpoint("http://lane.test", "key")
            with pytest.raises(Exception):
                await client.proxy(endpoint, "DELETE", instance_id, "purge")
            with pytest.raises(Exception):
                await client.start_orchestration(endpoint, "ship", instance_id, b"{}")

    asyncio.run(main())
    escaped = instance_id.replace(".", "%2E").encode()
    assert seen and all(path.endswith(b"/" + escaped) for path in seen), seen
