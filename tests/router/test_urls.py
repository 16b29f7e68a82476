import pytest

from router.urls import (
    LANE_HOST,
    REDACTED,
    REMOVED_URL,
    LaneUrlRewriter,
    RouterRoutes,
    check_status_payload,
    filter_headers,
    filter_query,
    lane_rewriter,
)

LANE = "https://myapp-1-0-ab12.azurewebsites.net"
KEY = "s3cr3t-system-key=="
ROUTES = RouterRoutes("https://router.example.com", "api", "1.0")


@pytest.mark.parametrize(
    ("base_url", "prefix", "lane", "instance_id", "expected"),
    [
        ("https://router.example.com", "api", "1.0", "abc", "https://router.example.com/api/instances/1.0/abc"),
        ("https://router.example.com/", "/api/", "1.0", "abc", "https://router.example.com/api/instances/1.0/abc"),
        ("http://127.0.0.1:7071", "", "2.3", "abc", "http://127.0.0.1:7071/instances/2.3/abc"),
        ("http://127.0.0.1:7071", "api", "1.0", "a b/c?d", "http://127.0.0.1:7071/api/instances/1.0/a%20b%2Fc%3Fd"),
        ("http://localhost:7071", "v1/api", "1.0", "x", "http://localhost:7071/v1/api/instances/1.0/x"),
    ],
)
def test_instance_url(base_url: str, prefix: str, lane: str, instance_id: str, expected: str) -> None:
    assert RouterRoutes(base_url, prefix, lane).instance_url(instance_id) == expected


@pytest.mark.parametrize(
    ("action", "event_name", "suffix"),
    [
        ("raiseEvent", "Approval", "/raiseEvent/Approval"),
        ("raiseEvent", "a/b", "/raiseEvent/a%2Fb"),
        ("terminate", None, "/terminate"),
        ("suspend", None, "/suspend"),
        ("resume", None, "/resume"),
    ],
)
def test_instance_action_url(action: str, event_name: str | None, suffix: str) -> None:
    assert ROUTES.instance_url("id1", action, event_name) == f"https://router.example.com/api/instances/1.0/id1{suffix}"


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError):
        ROUTES.instance_url("id1", "rewind")


def test_check_status_payload_points_at_the_router_only() -> None:
    payload = check_status_payload(ROUTES, "id 1")
    base = "https://router.example.com/api/instances/1.0/id%201"
    assert payload == {
        "id": "id 1",
        "statusQueryGetUri": base,
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}",
        "suspendPostUri": f"{base}/suspend?reason={{text}}",
        "resumePostUri": f"{base}/resume?reason={{text}}",
        "purgeHistoryDeleteUri": base,
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Content-Type": "application/json"}, {"Content-Type": "application/json"}),
        ({"x-functions-key": "k", "Authorization": "Bearer t", "Cookie": "a=b", "Set-Cookie": "c=d"}, {}),
        ({"Connection": "keep-alive, X-Hop", "Keep-Alive": "5", "X-Hop": "1", "X-End": "2"}, {"X-End": "2"}),
        ({"Transfer-Encoding": "chunked", "TE": "trailers", "Trailer": "X", "Upgrade": "h2c"}, {}),
        ({"Proxy-Authorization": "p", "Proxy-Connection": "close", "Retry-After": "10"}, {"Retry-After": "10"}),
        ({"Host": "lane", "Content-Length": "12", "X-Ms-Request-Id": "r"}, {"X-Ms-Request-Id": "r"}),
        ([("Accept", "a/b"), ("accept", "c/d")], {"Accept": "a/b, c/d"}),
        ([("X-FUNCTIONS-KEY", "k"), ("COOKIE", "x")], {}),
    ],
)
def test_filter_headers(headers: object, expected: dict[str, str]) -> None:
    assert filter_headers(headers) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"showInput": "false", "code": "k"}, {"showInput": "false"}),
        ({"Code": "k", "systemKey": "k", "taskHub": "other", "connection": "Storage2"}, {}),
        ({"reason": "done", "showHistory": "true"}, {"reason": "done", "showHistory": "true"}),
        ([("CODE", "k"), ("top", "5")], {"top": "5"}),
    ],
)
def test_filter_query(query: object, expected: dict[str, str]) -> None:
    assert filter_query(query) == expected  # type: ignore[arg-type]


LANE_STATUS = f"{LANE}/runtime/webhooks/durabletask/instances/abc?taskHub=Hub10&connection=Storage&code={KEY}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (LANE_STATUS, "https://router.example.com/api/instances/1.0/abc"),
        (
            f"{LANE}/runtime/webhooks/durabletask/instances/abc/raiseEvent/{{eventName}}?taskHub=H&code={KEY}",
            "https://router.example.com/api/instances/1.0/abc/raiseEvent/{eventName}",
        ),
        (
            f"{LANE}/runtime/webhooks/durabletask/instances/abc/terminate?reason={{text}}&taskHub=H&code={KEY}",
            "https://router.example.com/api/instances/1.0/abc/terminate?reason={text}",
        ),
        (
            f"{LANE}/runtime/webhooks/durabletask/instances/a%2Fb/suspend?reason={{text}}",
            "https://router.example.com/api/instances/1.0/a%2Fb/suspend?reason={text}",
        ),
        (f"{LANE.upper()}/runtime/webhooks/durabletask/instances/abc/resume", "https://router.example.com/api/instances/1.0/abc/resume"),
        (f"{LANE}/runtime/webhooks/durabletask/instances/abc/rewind?reason=x&code={KEY}", None),
        (f"{LANE}/runtime/webhooks/durabletask/instances/abc/restart", None),
        (f"{LANE}/runtime/webhooks/durabletask/entities/counter/k1?code={KEY}", None),
        (f"{LANE}/api/orders?code={KEY}", None),
        ("https://elsewhere.example.com/runtime/webhooks/durabletask/instances/abc", None),
    ],
)
def test_rewrite_lane_url(url: str, expected: str | None) -> None:
    assert LaneUrlRewriter(LANE, KEY, ROUTES).rewrite_url(url) == expected


def test_without_routes_every_lane_url_is_removed() -> None:
    assert LaneUrlRewriter(LANE, KEY).rewrite_url(LANE_STATUS) is None
    assert LaneUrlRewriter(LANE, KEY).scrub_text(f"go to {LANE_STATUS} now") == f"go to {REMOVED_URL} now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"status at {LANE_STATUS}", "status at https://router.example.com/api/instances/1.0/abc"),
        (f"see {LANE}/api/x?code={KEY}.", f"see {REMOVED_URL}"),
        (f"key {KEY} leaked", f"key {REDACTED} leaked"),
        ("host myapp-1-0-ab12.azurewebsites.net is down", f"host {LANE_HOST} is down"),
        ("https://elsewhere.example.com/a?b=c stays", "https://elsewhere.example.com/a?b=c stays"),
        ("nothing to see", "nothing to see"),
    ],
)
def test_scrub_text(text: str, expected: str) -> None:
    assert LaneUrlRewriter(LANE, KEY, ROUTES).scrub_text(text) == expected


def test_scrub_json_walks_nested_values_and_keys() -> None:
    body = {
        "output": {"next": LANE_STATUS, "items": [f"{LANE}/api/a", 3, None, True]},
        f"{KEY}": "key as a key",
    }
    scrubbed = LaneUrlRewriter(LANE, KEY, ROUTES).scrub_json(body)
    assert scrubbed == {
        "output": {"next": "https://router.example.com/api/instances/1.0/abc", "items": [REMOVED_URL, 3, None, True]},
        REDACTED: "key as a key",
    }


def test_rewriter_repr_hides_the_key() -> None:
    assert KEY not in repr(LaneUrlRewriter(LANE, KEY, ROUTES))


def test_a_percent_encoded_key_is_redacted_too() -> None:
    rewriter = LaneUrlRewriter(LANE, "ab/c+d==", ROUTES)
    text = "https://elsewhere.example.com/x?code=ab%2Fc%2Bd%3D%3D and ab/c+d=="
    assert rewriter.scrub_text(text) == f"https://elsewhere.example.com/x?code={REDACTED} and {REDACTED}"


@pytest.mark.parametrize("alias", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_a_local_lane_is_recognised_under_any_loopback_name(alias: str) -> None:
    rewriter = LaneUrlRewriter("http://127.0.0.1:7072", KEY, ROUTES)
    url = f"http://{alias}:7072/runtime/webhooks/durabletask/instances/abc"
    assert rewriter.rewrite_url(url) == "https://router.example.com/api/instances/1.0/abc"
    assert rewriter.scrub_text(f"at {alias}:7072 now") == f"at {LANE_HOST} now"
    assert rewriter.scrub_text("http://localhost:7073/x") == "http://localhost:7073/x"


def test_a_lane_rewriter_is_built_once_per_lane_and_routes() -> None:
    assert lane_rewriter(LANE, KEY, ROUTES) is lane_rewriter(LANE, KEY, ROUTES)
    assert lane_rewriter(LANE, KEY, None) is not lane_rewriter(LANE, KEY, ROUTES)
    assert lane_rewriter(LANE, KEY, ROUTES) == LaneUrlRewriter(LANE, KEY, ROUTES)


# --- path segments no normaliser can change -------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "segment"),
    [("order-1", "order-1"), (".", "%2E"), ("..", "%2E%2E"), ("...", "..."), ("a.b", "a.b"), ("1.0", "1.0"),
     ("a/b", "a%2Fb"), ("a b", "a%20b"), ("é", "%C3%A9"), ("@x@y", "%40x%40y"), ("%2E", "%252E"), ("?#\\", "%3F%23%5C")],
)
def test_path_segments_are_percent_encoded_and_never_dot_segments(value, segment):
    """RFC 3986 removes the segments `.` and `..` (and httpx does): as data they must be escaped."""
    from router.url_segments import path_segment

    assert path_segment(value) == segment


@pytest.mark.parametrize("instance_id", [".", "..", "./x", "a/../b"])
def test_an_instance_url_keeps_dot_segments_as_data(instance_id):
    import httpx

    url = RouterRoutes("https://router.example", "api", "1.0").instance_url(instance_id)
    # What httpx would send: the id stays one segment, never a step up or a no-op.
    assert httpx.URL(url).raw_path.decode().startswith("/api/instances/1.0/")
    assert httpx.URL(url).raw_path.decode().count("/") == 4
