"""Packages for the local backend: where they may come from, how they are checked and unpacked.

No lane process is started here: a package is refused before a host would be touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import zipfile
from pathlib import Path

import httpx
import pytest

from provisioning.base import AppRef, LaneSpec, Package
from provisioning.errors import PackageError, PackageRejected, ProvisioningError
from provisioning.local import LocalLaneBackend
from provisioning.local_packages import LocalPackage, apply_task_hub, fetch_package, unpack_package
from provisioning.packages import describe_location
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
    assert caught.value.details["actual_sha256"] == actual
    assert not (tmp_path / "lanes" / "lane-1-0" / "current").exists()


def test_disallowed_host_is_refused_and_named(tmp_path: Path) -> None:
    package = Package("https://evil.example.net/app.zip?sig=SECRETSIG")
    with pytest.raises(PackageRejected) as caught:
        asyncio.run(_create_and_deploy(tmp_path, package, allowed_package_hosts=("releases.example.com",)))
    message = caught.value.message
    assert "'evil.example.net'" in message and "releases.example.com" in message
    assert "SECRETSIG" not in message


def test_plain_http_is_refused_even_from_an_allowed_host(tmp_path: Path) -> None:
    package = Package("http://releases.example.com/app.zip")
    with pytest.raises(PackageRejected, match="must be an https URL"):
        asyncio.run(_create_and_deploy(tmp_path, package, allowed_package_hosts=("releases.example.com",)))


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="does not exist"):
        asyncio.run(_create_and_deploy(tmp_path, Package(f"file://{tmp_path}/nope.zip")))


def test_deploy_before_create_is_an_error(tmp_path: Path, sample_zip: Path) -> None:
    backend = LocalLaneBackend(tmp_path)
    app = backend.app_of("1.0")
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


# --- https download, through the transport seam --------------------------------------------------


def test_https_download_from_an_allowed_host(tmp_path: Path, sample_zip: Path) -> None:
    payload = sample_zip.read_bytes()
    seen: list[httpx.URL] = []

    def package_host(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=payload)

    package = Package("https://acct.blob.core.windows.net/releases/app.zip?sig=SECRETSIG")
    fetched = asyncio.run(
        fetch_package(package, tmp_path, ("*.blob.core.windows.net",), transport=httpx.MockTransport(package_host))
    )
    assert fetched.temporary and fetched.sha256 == package_sha256(sample_zip)
    assert fetched.path.read_bytes() == payload
    assert [str(url) for url in seen] == [package.url]


def test_a_failed_download_leaves_no_file_and_no_secret(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    package = Package("https://releases.example.com/app.zip?sig=SECRETSIG")
    with pytest.raises(PackageError, match="HTTP 404") as caught:
        asyncio.run(fetch_package(package, tmp_path, ("releases.example.com",), transport=transport))
    assert "SECRETSIG" not in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_the_backend_downloads_through_its_transport(tmp_path: Path, sample_zip: Path) -> None:
    """The transport given to the backend is the one its deploys download with."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"not the build"))
    package = Package("https://releases.example.com/app.zip", sha256=package_sha256(sample_zip))
    with pytest.raises(PackageError, match="but the release announced"):
        asyncio.run(
            _create_and_deploy(
                tmp_path, package, allowed_package_hosts=("releases.example.com",), package_transport=transport
            )
        )
    assert list((tmp_path / "downloads").iterdir()) == []


def test_describe_location_drops_a_fragment_as_well_as_a_query():
    # A fragment may carry a token too (the version map's redaction, lanes.without_secret, relies on this).
    assert describe_location("/srv/builds/app.zip#sig=SECRETSIG") == "/srv/builds/app.zip"
    assert describe_location("https://h.example/p.zip#sig=x") == "https://h.example/p.zip"
