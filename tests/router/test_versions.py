import pytest

from router.errors import BadVersion
from router.versions import lane_key, parse_lane_key, parse_version


@pytest.mark.parametrize(
    ("text", "expected", "lane"),
    [
        ("1.2.3", "1.2.3", "1.2"),
        ("v1.2.3", "1.2.3", "1.2"),
        ("V1.2.3", "1.2.3", "1.2"),
        ("1.2", "1.2.0", "1.2"),
        ("v0.9", "0.9.0", "0.9"),
        ("1.2.3+build.7", "1.2.3", "1.2"),
        ("1.2+abc", "1.2.0", "1.2"),
        (" 2.10.0 ", "2.10.0", "2.10"),
        ("10.0.99", "10.0.99", "10.0"),
    ],
)
def test_accepted_versions(text, expected, lane):
    version = parse_version(text)
    assert str(version) == expected
    assert lane_key(version) == lane


@pytest.mark.parametrize(
    "text",
    ["1", "1.2.3.4", "abc", "1.x", "01.2.3", "1.02", "-1.2.3", "vv1.2", "1.2.", ".1.2", "1..2", "1.2.3-", "x" * 100],
)
def test_rejected_versions_quote_the_value_and_the_accepted_forms(text):
    with pytest.raises(BadVersion) as caught:
        parse_version(text)
    body = caught.value.body()
    assert caught.value.status == 400
    assert body["error"] == "bad_version"
    assert text.strip()[:64] in body["message"]
    assert "MAJOR.MINOR.PATCH" in body["message"]


@pytest.mark.parametrize("text", [None, "", "   "])
def test_missing_version_is_rejected(text):
    with pytest.raises(BadVersion, match="required"):
        parse_version(text)


def test_prerelease_is_rejected_unless_allowed():
    with pytest.raises(BadVersion, match="pre-release"):
        parse_version("1.2.0-beta.1")
    assert str(parse_version("1.2.0-beta.1", allow_prerelease=True)) == "1.2.0-beta.1"
    assert str(parse_version("v1.2-rc.1+sha", allow_prerelease=True)) == "1.2.0-rc.1"


@pytest.mark.parametrize("text", ["1.2", "0.0", "10.20"])
def test_lane_keys_in_urls(text):
    assert parse_lane_key(text) == text


@pytest.mark.parametrize("text", ["1", "1.2.3", "v1.2", "a.b", "01.2", ""])
def test_bad_lane_keys_in_urls(text):
    with pytest.raises(BadVersion):
        parse_lane_key(text)
