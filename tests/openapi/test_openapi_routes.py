"""Every route the router's Functions app registers is in docs/openapi.yaml with the same methods,
and every operation there is a registered route: an undocumented route fails. Each operation names
one role's key scheme and documents the refusals of a missing or wrong key."""

from __future__ import annotations

import function_app
from router.instance_actions import ACTION_ROUTES
from tests.openapi.spec import documented, operations

CATCH_ALL = "{*path}"  # the router's JSON 404 for what no route takes (client_api.unknown_route)


def documented_operations() -> set[tuple[str, str]]:
    return {(method, path) for method, path, _ in operations()}


def _expand(route: str, methods: list[str]) -> set[tuple[str, str]]:
    """The concrete (method, path) pairs a Functions route template takes. Optional trailing
    parameters (`{x?}`) give one path each; the instance route's `{action?}` segment names an
    action of router/instance_actions.py, which fixes its method and whether an event name follows."""
    path = "/api/" + route
    if "{action?}" in route:
        base = path.split("/{action?}")[0]
        expanded = set()
        for action, how in ACTION_ROUTES.items():
            assert how.method in methods, f"{route} does not take {how.method} for {action}"
            suffix = f"/{how.segment}" if how.segment else ""
            suffix += "/{eventName}" if action.takes_event_name else ""
            expanded.add((how.method, base + suffix))
        return expanded
    segments = path.split("/")
    required = [s for s in segments if not s.endswith("?}")]
    optional = [s.replace("?}", "}") for s in segments if s.endswith("?}")]
    paths = {"/".join(required + optional[:n]) for n in range(len(optional) + 1)}
    return {(method, p) for p in paths for method in methods}


def registered_operations() -> set[tuple[str, str]]:
    function_app.app.functions_bindings = None  # get_functions() refuses a second call otherwise
    found: set[tuple[str, str]] = set()
    for function in function_app.app.get_functions():
        trigger = function.get_trigger()
        if trigger.type != "httpTrigger" or trigger.route == CATCH_ALL:
            continue
        found |= _expand(trigger.route, [str(m).upper() for m in trigger.methods])
    function_app.app.functions_bindings = None
    return found


def test_every_registered_route_is_documented_and_every_documented_one_registered():
    registered, described = registered_operations(), documented_operations()
    assert registered - described == set(), "routes the app registers that docs/openapi.yaml does not describe"
    assert described - registered == set(), "operations docs/openapi.yaml describes that no route takes"


def test_expanding_routes_gives_each_optional_segment_and_instance_action():
    assert _expand("orchestrators/{name}/{instanceId?}", ["POST"]) == {
        ("POST", "/api/orchestrators/{name}"), ("POST", "/api/orchestrators/{name}/{instanceId}")}
    assert ("POST", "/api/instances/{lane}/{instanceId}/raiseEvent/{eventName}") in _expand(
        "instances/{lane}/{instanceId}/{action?}/{eventName?}", ["GET", "POST", "DELETE"])


def test_every_operation_names_one_role_scheme_and_documents_its_refusals():
    schemes = set(documented()["components"]["securitySchemes"])
    assert schemes == {"clientKey", "releaseKey", "adminKey"}
    for method, path, operation in operations():
        security = operation.get("security")
        assert security and len(security) == 1 and set(security[0]) <= schemes and len(security[0]) == 1, \
            f"{method} {path}: one role's key scheme"
        assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}: 401 and 403"
