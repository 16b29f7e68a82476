"""Keys that separate roles: every route of the router, with no key, a wrong key, each other role's
key and its own role's key. The router checks role keys itself (its routes are anonymous at the
Functions host), so this holds on Azure too, where any host key passes FUNCTION level."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from router.auth import KEY_HEADER, Role, RoleKeys
from router.errors import Forbidden, Unauthorized
from tests.router.router_harness import RouterThread

pytestmark = pytest.mark.timeout(120)

KEYS = {role: secrets.token_urlsafe(32) for role in Role}
ROLE_KEYS = RoleKeys(client=(KEYS[Role.CLIENT],), release=(KEYS[Role.RELEASE],), admin=(KEYS[Role.ADMIN],))

# (method, path, JSON body, the role it belongs to). With the right key each answers its own
# outcome (a 400 or 404 on purpose here: no lane exists), never 401 or 403.
ROUTES = [
    ("POST", "/api/orchestrators/process_order", {}, Role.CLIENT),
    ("POST", "/api/orchestrators/process_order/order-1", {}, Role.CLIENT),
    ("GET", "/api/held/held-0", None, Role.CLIENT),
    ("GET", "/api/instances/1.0/order-1", None, Role.CLIENT),
    ("DELETE", "/api/instances/1.0/order-1", None, Role.CLIENT),
    ("POST", "/api/instances/1.0/order-1/raiseEvent/approve", {}, Role.CLIENT),
    ("POST", "/api/instances/1.0/order-1/terminate", None, Role.CLIENT),
    ("POST", "/api/instances/1.0/order-1/suspend", None, Role.CLIENT),
    ("POST", "/api/instances/1.0/order-1/resume", None, Role.CLIENT),
    ("POST", "/api/releases", {"version": "bad"}, Role.RELEASE),
    ("GET", "/api/releases/release-0", None, Role.RELEASE),
    ("GET", "/api/versionmap", None, Role.ADMIN),
    ("GET", "/api/status", None, Role.ADMIN),
    ("GET", "/api/instances", None, Role.ADMIN),
    ("POST", "/api/lanes/9.9/close", None, Role.ADMIN),
    ("POST", "/api/lanes/9.9/retire", None, Role.ADMIN),
    ("GET", "/api/lanes/9.9/histories", None, Role.ADMIN),
    ("POST", "/api/current", {"lane": "9.9"}, Role.ADMIN),
]

WRONG = secrets.token_urlsafe(32)


def key_cases() -> Iterator[tuple[str, dict[str, str], dict[str, str], int, str | None]]:
    """(name, headers, query, expected status class, expected error code) for one route's role."""
    yield "no key", {}, {}, 401, "unauthorized"
    yield "wrong key", {KEY_HEADER: WRONG}, {}, 401, "unauthorized"
    yield "empty key", {KEY_HEADER: ""}, {}, 401, "unauthorized"


CASES = []
for method, path, body, role in ROUTES:
    route = f"{method} {path}"
    for name, headers, query, status, code in key_cases():
        CASES.append(pytest.param(method, path, body, headers, query, status, code, id=f"{route} {name}"))
    for other in Role:
        if other is not role:
            CASES.append(pytest.param(method, path, body, {KEY_HEADER: KEYS[other]}, {}, 403, "forbidden",
                                      id=f"{route} {other.value} key"))
    # A key belongs in the header: in a URL it would be logged by every proxy on the way.
    CASES.append(pytest.param(method, path, body, {}, {"code": KEYS[role]}, 401, "unauthorized",
                              id=f"{route} own key in ?code="))
    CASES.append(pytest.param(method, path, body, {KEY_HEADER: KEYS[role][:-1]}, {}, 401, "unauthorized",
                              id=f"{route} own key cut short"))
    CASES.append(pytest.param(method, path, body, {KEY_HEADER: KEYS[role]}, {}, None, None,
                              id=f"{route} own key"))


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    thread = RouterThread(tmp_path_factory.mktemp("roles"), role_keys=ROLE_KEYS).start()
    yield thread
    thread.stop()


@pytest.mark.parametrize(("method", "path", "body", "headers", "query", "status", "code"), CASES)
def test_every_route_takes_its_own_role_key_only(router, method, path, body, headers, query, status, code):
    async def send(r):
        # A client of its own: the harness's carries the dev host's master key on every request.
        async with httpx.AsyncClient(base_url=r.host.base_url, timeout=20.0) as http:
            return await http.request(method, path, json=body, params=query, headers=headers)

    response = router.call(send)
    if status is None:
        assert response.status_code not in (401, 403), response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json().get("error") not in ("unauthorized", "forbidden"), response.text
        return
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["error"] == code and document["field"] == KEY_HEADER and document["message"]
    assert KEYS[Role.CLIENT] not in response.text and KEYS[Role.ADMIN] not in response.text
    if status == 403:
        assert document["role"] == next(r for m, p, _, r in ROUTES if (m, p) == (method, path)).value


def test_an_unknown_route_is_a_json_404(router):
    async def send(r):
        return await r.http.get("/api/nothing/here", headers={"x-functions-key": KEYS[Role.CLIENT]})

    response = router.call(send)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_route" and response.json()["field"] == "route"


# --- the role table itself (pure) ---------------------------------------------------------------

def test_a_key_has_exactly_one_role():
    keys = RoleKeys(client=("c" * 32, "c2" * 16), release=("r" * 32,), admin=("a" * 32,))
    assert keys.role_of("c" * 32) is Role.CLIENT and keys.role_of("c2" * 16) is Role.CLIENT
    assert keys.role_of("r" * 32) is Role.RELEASE and keys.role_of("a" * 32) is Role.ADMIN
    assert keys.role_of("x" * 32) is None and keys.role_of("") is None and keys.role_of(None) is None


def test_authorize_raises_401_then_403():
    keys = RoleKeys(client=("c" * 32,), release=("r" * 32,), admin=("a" * 32,))
    keys.authorize({KEY_HEADER: "c" * 32}, Role.CLIENT)
    with pytest.raises(Unauthorized):
        keys.authorize({}, Role.CLIENT)
    with pytest.raises(Forbidden) as caught:
        keys.authorize({KEY_HEADER: "a" * 32}, Role.CLIENT)
    assert caught.value.status == 403 and caught.value.body()["role"] == "client"


def test_role_keys_never_show_in_their_repr():
    keys = RoleKeys(client=("c" * 32,), release=("r" * 32,), admin=("a" * 32,))
    assert "c" * 32 not in repr(keys) and "a" * 32 not in str(keys)
