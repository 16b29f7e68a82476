"""Packages for the local backend: where they may come from, how they are checked and unpacked.

No lane process is started here: a package is refused before a host would be touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import ssl
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
import trustme

from provisioning.base import AppRef, LaneSpec, Package
from provisioning.local import LocalLaneBackend
from provisioning.local_packages import (
    LocalPackage,
    apply_task_hub,
    fetch_package,
    host_is_allowed,
    unpack_package,
)
from provisioning.packages import describe_location
from router.errors import PackageError, ProvisioningError
from samples.build import build_package, package_sha256

LANE = LaneSpec(lane="1.0", version="1.0.0", task_hub="lane10hub")


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package("1.0.0", tmp_path_factory.mktemp("packages"))


def make_zip(path: Path, entries: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("releases.example.com", ("releases.example.com",), True),
        ("RELEASES.example.com", ("releases.example.com",), True),
        ("evil.example.com", ("releases.example.com",), False),
        ("releases.example.com.evil.net", ("releases.example.com",), False),
        ("acct.blob.core.windows.net", ("*.blob.core.windows.net",), True),
        ("blob.core.windows.net", ("*.blob.core.windows.net",), False),
        ("evilblob.core.windows.net", ("*.blob.core.windows.net",), False),
        ("anything.example.com", (), False),
    ],
)
def test_host_is_allowed(host: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert host_is_allowed(host, allowed) is expected


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("https://acct.blob.core.windows.net/rel/app.zip?sv=2024&sig=SECRETSIG", "https://acct.blob.core.windows.net/rel/app.zip"),
        ("https://user:SECRET@releases.example.com:8443/app.zip", "https://releases.example.com:8443/app.zip"),
        ("/srv/builds/app.zip?sig=SECRETSIG", "/srv/builds/app.zip"),
    ],
)
def test_describe_location_drops_query_and_credentials(url: str, described: str) -> None:
    assert describe_location(url) == described


def test_sample_packages_are_reproducible(tmp_path: Path, sample_zip: Path) -> None:
    again = build_package("1.0.0", tmp_path)
    assert package_sha256(again) == package_sha256(sample_zip)
    assert package_sha256(build_package("1.0.1", tmp_path)) != package_sha256(sample_zip)


async def _create_and_deploy(root: Path, package: Package, **options: object) -> None:
    backend = LocalLaneBackend(root, **options)  # type: ignore[arg-type]
    app = await backend.create_app(LANE)
    await backend.deploy_package(LANE, app, package)


def test_sha256_mismatch_names_expected_and_actual(tmp_path: Path, sample_zip: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(PackageError) as caught:
        asyncio.run(_create_and_deploy(tmp_path, Package(str(sample_zip), sha256=wrong)))
    actual = package_sha256(sample_zip)
    assert wrong in caught.value.message and actual in caught.value.message
    assert caught.value.body()["actual_sha256"] == actual
    assert not (tmp_path / "lanes" / "lane-1-0" / "current").exists()


def test_disallowed_host_is_refused_and_named(tmp_path: Path) -> None:
    package = Package("https://evil.example.net/app.zip?sig=SECRETSIG")
    with pytest.raises(PackageError) as caught:
        asyncio.run(_create_and_deploy(tmp_path, package, allowed_package_hosts=("releases.example.com",)))
    message = caught.value.message
    assert "'evil.example.net'" in message and "releases.example.com" in message
    assert "SECRETSIG" not in message


def test_plain_http_is_refused_even_from_an_allowed_host(tmp_path: Path) -> None:
    package = Package("http://releases.example.com/app.zip")
    with pytest.raises(PackageError, match="must be https"):
        asyncio.run(_create_and_deploy(tmp_path, package, allowed_package_hosts=("releases.example.com",)))


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="does not exist"):
        asyncio.run(_create_and_deploy(tmp_path, Package(f"file://{tmp_path}/nope.zip")))


def test_deploy_before_create_is_an_error(tmp_path: Path, sample_zip: Path) -> None:
    backend = LocalLaneBackend(tmp_path)
    app = AppRef(name="lane-1-0", base_url="http://127.0.0.1:1", resource_id=str(backend.lane_dir("1.0")))
    with pytest.raises(ProvisioningError, match="create it first"):
        asyncio.run(backend.deploy_package(LANE, app, Package(str(sample_zip))))


def test_app_ref_outside_the_root_is_refused(tmp_path: Path) -> None:
    backend = LocalLaneBackend(tmp_path / "root")
    outside = AppRef(name="lane-1-0", base_url="http://127.0.0.1:1", resource_id=str(tmp_path))
    with pytest.raises(ProvisioningError, match="not a lane"):
        asyncio.run(backend.delete_app(outside))
    assert tmp_path.exists()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"host.json": "{}", "function_app.py": "", "../escape.py": ""}, "outside the app directory"),
        ({"host.json": "{}", "/etc/escape.py": "", "function_app.py": ""}, "outside the app directory"),
        ({"function_app.py": ""}, "missing host.json"),
        ({"app/host.json": "{}", "app/function_app.py": ""}, "not the directory itself"),
    ],
)
def test_bad_archives_are_refused(tmp_path: Path, entries: dict[str, str], expected: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", entries)
    package = LocalPackage(archive, hashlib.sha256(archive.read_bytes()).hexdigest())
    with pytest.raises(PackageError, match=expected):
        unpack_package(package, tmp_path / "packages")
    assert not (tmp_path / "escape.py").exists()


def test_not_a_zip(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    with pytest.raises(PackageError, match="not a readable zip"):
        unpack_package(LocalPackage(junk, "ab" * 32), tmp_path / "packages")


def test_unpack_once_then_reuse_and_set_the_task_hub(tmp_path: Path, sample_zip: Path) -> None:
    package = LocalPackage(sample_zip, package_sha256(sample_zip))
    first = unpack_package(package, tmp_path)
    (first / "marker").write_text("kept")
    assert unpack_package(package, tmp_path) == first
    assert (first / "marker").read_text() == "kept"
    apply_task_hub(first, "lane10hub")
    assert '"hubName": "lane10hub"' in (first / "host.json").read_text()


# --- https download from a real local TLS server ------------------------------------------------


@pytest.fixture(scope="module")
def package_server(sample_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 serving the sample zip, and the CA bundle that trusts it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    payload = sample_zip.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path.startswith("/releases/moved.zip"):
                self.send_response(302)
                self.send_header("Location", "https://evil.example.net/app.zip")
                self.end_headers()
                return
            if self.path.split("?")[0] != "/releases/app.zip":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_file
    finally:
        server.shutdown()
        server.server_close()


def test_https_download_from_an_allowed_host(
    tmp_path: Path, sample_zip: Path, package_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, ca_file = package_server
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    expected = package_sha256(sample_zip)
    package = Package(f"{base_url}/releases/app.zip?sig=SECRETSIG")
    fetched = asyncio.run(fetch_package(package, tmp_path, ("127.0.0.1",)))
    assert fetched.temporary and fetched.sha256 == expected
    assert fetched.path.read_bytes() == sample_zip.read_bytes()

    missing = Package(f"{base_url}/releases/other.zip?sig=SECRETSIG")
    with pytest.raises(PackageError, match="HTTP 404") as caught:
        asyncio.run(fetch_package(missing, tmp_path, ("127.0.0.1",)))
    assert "SECRETSIG" not in caught.value.message

    moved = Package(f"{base_url}/releases/moved.zip")
    with pytest.raises(PackageError, match="redirects elsewhere"):
        asyncio.run(fetch_package(moved, tmp_path, ("127.0.0.1",)))
