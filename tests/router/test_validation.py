"""The edge's input rules (router/validation.py), one table per kind of input: every refusal is a
typed error with the SPEC's status and the field it names."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from router.errors import BadRequest, BadVersion, PayloadTooLarge, RouterError
from router.settings import Settings
from router.validation import (
    check_event_name,
    check_instance_id,
    check_orchestrator_name,
    check_package_location,
    check_top,
    parse_json,
    parse_json_object,
    parse_release,
)
from router.versions import parse_version

SHA = "ab" * 32


def refused(call, *args, **kwargs) -> RouterError:
    with pytest.raises(RouterError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- instance ids, orchestrator and event names -----------------------------------------------

@pytest.mark.parametrize("text", ["order-1", "a", "x" * 256, "with space", "ünïcode", "a.b", "...", "a@b", "held-1"])
def test_instance_ids_azure_accepts(text):
    assert check_instance_id(text) == text


@pytest.mark.parametrize(
    "text",
    ["", ".", "..", "@evil@x", "@version_map@main", "a/b", "a\\b", "a#b", "a?b", "a\x00b", "a\x01b", "a\x1fb",
     "a\x7fb", "a\x85b", "x" * 257, "tab\there", "line\nfeed"],
)
def test_instance_ids_azure_refuses_are_400_naming_the_field(text):
    error = refused(check_instance_id, text, field="instanceId")
    assert isinstance(error, BadRequest) and error.status == 400
    assert error.body()["field"] == "instanceId"


@pytest.mark.parametrize("text", ["process_order", "Ship", "a-b_c1", "x" * 128])
def test_orchestrator_names_azure_accepts(text):
    assert check_orchestrator_name(text) == text


@pytest.mark.parametrize("text", ["", ".", "..", "1abc", "bad name", "na/me", "@ent", "x" * 129, "a.b", "é"])
def test_orchestrator_names_azure_refuses(text):
    assert refused(check_orchestrator_name, text).body()["field"] == "name"


@pytest.mark.parametrize("text", ["approve", "Approval Given", "a.b", "@x"])
def test_event_names(text):
    assert check_event_name(text) == text


@pytest.mark.parametrize("text", ["", ".", "..", "a/b", "a\x01", "x" * 257, "a?b", "a#b"])
def test_event_names_refused(text):
    assert refused(check_event_name, text).body()["field"] == "eventName"


# --- versions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1\u0662.0.0", "\uff11.0", "1.0.\u0663", "1.0.0\u200b"])
def test_versions_are_ascii_digits_only(text):
    """Python's int() and \\d read other scripts' digits: 1٢.0.0 would become lane 12.0."""
    error = refused(parse_version, text)
    assert isinstance(error, BadVersion)


# --- JSON bodies ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "body",
    [b"NaN", b"Infinity", b"-Infinity", b'{"a": NaN}', b"[1e999]", b"-1e400",
     '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-16-be"), '{"a": 1}'.encode("utf-32"),
     b'\xef\xbb\xbf{"a": 1}', b'{"a": "\xff"}', b"[" * 100_000 + b"]" * 100_000, b"{", b"not json"],
)
def test_json_bodies_are_utf8_and_finite(body):
    error = refused(parse_json, body)
    assert error.status == 400 and error.body()["field"] == "body"


@pytest.mark.parametrize("body", [b"null", b"1", b'"text"', b'{"a": [1, 2.5, "\xc3\xa9"]}', b"  {}  "])
def test_json_bodies_accepted(body):
    assert parse_json(body) == json.loads(body)


def test_a_repeated_key_is_refused_naming_it():
    """Two `version` keys would let one reader see the first and another the last."""
    error = refused(parse_json_object, b'{"version": "1.0.0", "version": "9.0.0"}')
    assert error.body()["field"] == "version"


@pytest.mark.parametrize("body", [b"[]", b"null", b'"x"', b"1"])
def test_a_body_that_must_be_an_object(body):
    assert refused(parse_json_object, body).body()["field"] == "body"


# --- release bodies ---------------------------------------------------------------------------

def a_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("function_app.py", "")
    return path


@pytest.fixture
def local(tmp_path):
    root = tmp_path / "packages"
    root.mkdir()
    a_zip(root / "app.zip")
    return Settings(local_package_roots=(str(root),)), root


def test_a_well_formed_release(local):
    settings, root = local
    release = parse_release({"version": "v1.2", "packageUrl": str(root / "app.zip"), "sha256": SHA.upper(),
                             "provision": "lazy"}, settings)
    assert (release.version, release.package_url, release.sha256, release.provision) == (
        "1.2.0", str(root / "app.zip"), SHA, "lazy")


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"version": 7.50}, "version", "bad_version"),
        ({"version": 7}, "version", "bad_version"),
        ({"version": None}, "version", "bad_version"),
        ({"version": ["1.0.0"]}, "version", "bad_version"),
        ({"version": True}, "version", "bad_version"),
        ({"sha256": 0}, "sha256", "bad_request"),
        ({"sha256": ""}, "sha256", "bad_request"),
        ({"sha256": False}, "sha256", "bad_request"),
        ({"sha256": "abc"}, "sha256", "bad_request"),
        ({"sha256": "g" * 64}, "sha256", "bad_request"),
        ({"provision": False}, "provision", "bad_request"),
        ({"provision": True}, "provision", "bad_request"),
        ({"provision": "EAGER"}, "provision", "bad_request"),
        ({"provision": ""}, "provision", "bad_request"),
        ({"packageUrl": 5}, "packageUrl", "bad_request"),
        ({"packageUrl": ""}, "packageUrl", "bad_request"),
        ({"sha-256": SHA}, "sha-256", "bad_request"),
    ],
)
def test_release_fields_are_typed_not_coerced(local, change, field, code):
    settings, root = local
    data = {"version": "1.0.0", "packageUrl": str(root / "app.zip"), **change}
    error = refused(parse_release, data, settings)
    assert (error.status, error.code, error.body()["field"]) == (400, code, field)


def test_absent_optional_fields_take_their_defaults(local):
    settings, root = local
    release = parse_release({"version": "1.0.0", "packageUrl": str(root / "app.zip"), "sha256": None}, settings)
    assert (release.sha256, release.provision) == ("", "eager")


# --- package locations ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "location",
    [
        "file://evil.example.com/app.zip",
        "/etc/passwd",
        "{root}/../outside.zip",
        "{root}/../../etc/passwd",
        "{root}/dir.zip",
        "{root}/missing.zip",
        "{root}/text.zip",
        "{root}/link.zip",
        "relative/app.zip",
        "~/app.zip",
        "{root}/app.zip\x00.txt",
        "file://{root}/../outside.zip",
        "http://builds.example.com/app.zip",
        "https://evil.example.com/app.zip",
        "ftp://builds.example.com/app.zip",
        "javascript:alert(1)",
        "/dev/zero",
        "https://builds.example.com/" + "a" * 5000,
    ],
)
def test_package_locations_that_cannot_work_are_422(local, location):
    settings, root = local
    (root / "dir.zip").mkdir()
    (root / "text.zip").write_text("not a zip")
    outside = a_zip(root.parent / "outside.zip")
    (root / "link.zip").symlink_to(outside)
    error = refused(check_package_location, location.replace("{root}", str(root)), settings)
    assert error.status == 422 and error.code == "package_rejected" and error.body()["field"] == "packageUrl"


@pytest.mark.parametrize("form", ["{root}/app.zip", "file://{root}/app.zip", "file://localhost{root}/app.zip"])
def test_a_zip_under_an_allowed_root_is_accepted(local, form):
    settings, root = local
    location = form.replace("{root}", str(root))
    assert check_package_location(location, settings) == location


def test_without_roots_any_existing_zip_is_accepted_but_still_checked(tmp_path):
    package = a_zip(tmp_path / "anywhere.zip")
    assert check_package_location(str(package), Settings()) == str(package)
    assert refused(check_package_location, "/etc/passwd", Settings()).status == 422


def test_https_packages_on_an_allowed_host(local):
    from provisioning.config import ProvisioningConfig

    settings = Settings(provisioning=ProvisioningConfig(allowed_package_hosts=("builds.example.com",)))
    assert check_package_location("https://builds.example.com/app.zip?sv=x", settings)
    azure = Settings(provisioning=ProvisioningConfig(provisioner="azure", allowed_package_hosts=("builds.example.com",)))
    assert refused(check_package_location, str(local[1] / "app.zip"), azure).status == 422


# --- paging -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["0", "-1", "1001", "abc", "1e3", "\u0661", " 5", "5 ", "+5", ""])
def test_top_is_ascii_digits_from_1_to_1000(text):
    assert refused(check_top, text).body()["field"] == "top"


def test_top():
    assert check_top(None) == 100 and check_top("1") == 1 and check_top("1000") == 1000


def test_an_oversized_body_is_413():
    error = refused(parse_json, b"[" + b"1," * 100 + b"1]", limit=16)
    assert isinstance(error, PayloadTooLarge) and error.body()["field"] == "body"
