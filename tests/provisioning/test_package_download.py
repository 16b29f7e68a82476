"""Package downloads through httpx's transport seam: each way a download can fail, and what it leaves."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from provisioning.errors import PackageError
from provisioning.package_download import download_package

URL = "https://builds.example.com/app.zip?sv=2024&sig=SECRETSIG"
PAYLOAD = b"PK\x03\x04 the app" * 100


def fetch(handler: Callable[[httpx.Request], httpx.Response], target: Path | None, **options: int) -> str:
    return asyncio.run(download_package(URL, target, transport=httpx.MockTransport(handler), **options))


def test_the_digest_of_what_was_read_with_or_without_a_file(tmp_path: Path) -> None:
    expected = hashlib.sha256(PAYLOAD).hexdigest()
    target = tmp_path / "app.zip"

    assert fetch(lambda request: httpx.Response(200, content=PAYLOAD), None) == expected
    assert fetch(lambda request: httpx.Response(200, content=PAYLOAD), target) == expected
    assert target.read_bytes() == PAYLOAD


def _refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)


def _time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout(f"no answer from {request.url}", request=request)


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (lambda request: httpx.Response(404), "answered HTTP 404"),
        (lambda request: httpx.Response(403, text="AuthenticationFailed"), "answered HTTP 403"),
        (
            lambda request: httpx.Response(302, headers={"Location": "https://evil.example.net/app.zip"}),
            "redirects elsewhere",
        ),
        (_refuse_connection, "could not be fetched (ConnectError)"),
        (_time_out, "could not be fetched (ReadTimeout)"),
        (lambda request: httpx.Response(200, content=PAYLOAD), "is larger than 100 bytes"),
    ],
)
def test_a_failed_download_says_why_and_leaves_nothing(
    tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response], says: str
) -> None:
    target = tmp_path / "app.zip"

    with pytest.raises(PackageError) as caught:
        fetch(handler, target, max_bytes=100)

    assert says in caught.value.message
    assert caught.value.details == {"package": "https://builds.example.com/app.zip"}
    assert "SECRETSIG" not in caught.value.message and caught.value.__cause__ is None
    assert not target.exists()
