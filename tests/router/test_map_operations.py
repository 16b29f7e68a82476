"""The version-map entity's operations over JSON, as the entity applies them."""

import pytest

from router.errors import QuotaReached, VersionNotNewer
from router.map_operations import apply_operation, raise_for_result

AT = "2026-01-01T00:00:00+00:00"


def run(state, operation, **args):
    return apply_operation(state, operation, {"at": AT, **args}, max_lanes=1)


def release(version):
    return {"version": version, "package_url": f"/builds/{version}.zip"}


def test_a_lane_is_registered_reserved_and_activated():
    state, result = run(None, "register_release", release=release("1.0.0"))
    assert result == {"ok": True, "value": {"lane": "1.0", "kind": "new_lane"}}
    state, result = run(state, "reserve_lane", lane="1.0")
    assert result["ok"] and result["value"]["app_exists"] is True
    state, result = run(state, "activate", lane="1.0", version="1.0.0")
    assert result["value"]["state"] == "active"
    assert run(state, "get")[1]["value"]["current"] == "1.0"


def test_a_refused_operation_keeps_the_state_and_carries_its_typed_error():
    state, _ = run(None, "register_release", release=release("1.0.0"))
    state, _ = run(state, "reserve_lane", lane="1.0")
    after, result = run(state, "register_release", release=release("2.0.0"))
    assert after is state
    assert result["ok"] is False and result["status"] == 409
    assert result["error"]["error"] == "lane_quota_reached"
    with pytest.raises(QuotaReached) as refused:
        raise_for_result(result)
    assert refused.value.body()["limit"] == 1
    _, older = run(state, "register_release", release=release("1.0.0-rc.1"))
    assert older["error"]["error"] == VersionNotNewer.code


def test_unknown_operations_and_bad_arguments_are_400():
    _, unknown = run(None, "explode")
    assert unknown["status"] == 400 and "explode" in unknown["error"]["message"]
    _, missing = run(None, "reserve_lane")
    assert missing["status"] == 400 and missing["error"]["error"] == "bad_request"
