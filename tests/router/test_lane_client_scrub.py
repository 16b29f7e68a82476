"""Status answers that name neither the lane nor its key pass unparsed; the rest are scrubbed.

The fast path must never let a secret through: JSON may spell the key or the lane's host with
escapes (System.Text.Json writes '+' as \\u002B by default), which only parsing reveals.
"""

from __future__ import annotations

import json

import httpx
import pytest

from router.lane_client import LaneClient, LaneClientOptions
from router.urls import LaneUrlRewriter
from tests.router.test_lane_client import KEY, LANE, ROUTES, Scripted, assert_no_secrets

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def status_of(body: bytes) -> bytes:
    lane = Scripted(httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    async with LaneClient(LaneClientOptions(), transport=httpx.MockTransport(lane)) as client:
        return (await client.proxy(LANE, "GET", "i1", "status", routes=ROUTES)).body


async def test_an_answer_that_names_no_lane_passes_byte_for_byte() -> None:
    body = b'{"instanceId":"i1","runtimeStatus":"Completed","output":{"n": 1},  "createdTime":"2026-01-01T00:00:00Z"}'
    assert await status_of(body) == body


def escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


@pytest.mark.parametrize("secret", [KEY, "lane-1-0.example.net", "https://lane-1-0.example.net/x"])
async def test_a_secret_spelled_with_json_escapes_is_still_scrubbed(secret: str) -> None:
    body = ('{"instanceId": "i1", "runtimeStatus": "Running", "output": "' + escaped(secret) + '"}').encode()
    scrubbed = (await status_of(body)).decode()
    assert_no_secrets(json.loads(scrubbed)["output"])


async def test_a_plain_secret_is_scrubbed() -> None:
    body = json.dumps({"instanceId": "i1", "runtimeStatus": "Running", "output": f"key {KEY}"}).encode()
    assert_no_secrets(json.loads(await status_of(body))["output"])


@pytest.mark.parametrize(
    "text, mentions",
    [("Completed", False), ("2026-01-01T00:00:00Z", False), (KEY, True), ("x LANE-1-0.EXAMPLE.NET y", True),
     ("https://elsewhere.example/x", False)],
)
def test_mentions_lane_is_true_exactly_when_scrubbing_could_change_the_text(text: str, mentions: bool) -> None:
    rewriter = LaneUrlRewriter(LANE.base_url, LANE.system_key, ROUTES)
    assert rewriter.mentions_lane(text) is mentions
    assert (rewriter.scrub_text(text) != text) is mentions
