"""Where a package may come from: the one rule that release intake and both backends apply."""

from __future__ import annotations

import pytest

from provisioning.errors import PackageError, PackageRejected
from provisioning.packages import check_package_location, is_host_pattern

ALLOWED = ("builds.example.com", "*.blob.core.windows.net")


@pytest.mark.parametrize(
    ("url", "local_allowed", "refused_for"),
    [
        # exact host, compared case-insensitively
        ("https://builds.example.com/app.zip", False, None),
        ("https://BUILDS.Example.com/app.zip?sig=x", False, None),
        ("https://evil.example.com/app.zip", False, {"host": "evil.example.com"}),
        ("https://builds.example.com.evil.net/app.zip", False, {"host": "builds.example.com.evil.net"}),
        # `*.` entry: any subdomain, not the apex, not a look-alike
        ("https://acct.blob.core.windows.net/rel/app.zip", False, None),
        ("https://a.b.blob.core.windows.net/app.zip", False, None),
        ("https://blob.core.windows.net/app.zip", False, {"host": "blob.core.windows.net"}),
        ("https://evilblob.core.windows.net/app.zip", False, {"host": "evilblob.core.windows.net"}),
        # https only
        ("http://builds.example.com/app.zip", True, {"scheme": "http"}),
        ("ftp://builds.example.com/app.zip", True, {"scheme": "ftp"}),
        # local packages only where a local backend reads them
        ("file:///srv/builds/app.zip", True, None),
        ("/srv/builds/app.zip", True, None),
        ("file:///srv/builds/app.zip", False, {"scheme": "file"}),
        ("/srv/builds/app.zip", False, {"scheme": "local path"}),
        ("file://fileserver/builds/app.zip", True, {"scheme": "file"}),
    ],
)
def test_package_locations(url: str, local_allowed: bool, refused_for: dict[str, str] | None) -> None:
    if refused_for is None:
        check_package_location(url, ALLOWED, local_allowed=local_allowed)
        return
    with pytest.raises(PackageRejected) as caught:
        check_package_location(url, ALLOWED, local_allowed=local_allowed)
    assert caught.value.details == refused_for
    assert caught.value.code == "package_rejected" and not caught.value.retryable


def test_a_refused_host_names_the_allow_list_but_never_the_query() -> None:
    with pytest.raises(PackageRejected) as caught:
        check_package_location("https://user:pw@evil.example.com/app.zip?sig=SECRET", ALLOWED, local_allowed=False)
    message = caught.value.message
    assert "'evil.example.com'" in message and "ROUTER_ALLOWED_PACKAGE_HOSTS" in message
    assert "*.blob.core.windows.net" in message
    assert "SECRET" not in message and "pw" not in message


def test_an_empty_allow_list_allows_no_host() -> None:
    with pytest.raises(PackageRejected, match="none"):
        check_package_location("https://builds.example.com/app.zip", (), local_allowed=True)


def test_a_refused_location_is_a_package_error() -> None:
    """Backends catching PackageError (permanent package trouble) catch a refused location too."""
    assert issubclass(PackageRejected, PackageError)


@pytest.mark.parametrize(
    ("entry", "valid"),
    [
        ("builds.example.com", True),
        ("*.blob.core.windows.net", True),
        ("127.0.0.1", True),
        ("localhost", True),
        ("*", False),
        ("*example.com", False),
        ("a.*.example.com", False),
        ("https://x.example.com/", False),
        ("x.example.com:443", False),
        ("x .example.com", False),
        ("-x.example.com", False),
    ],
)
def test_allow_list_entries(entry: str, valid: bool) -> None:
    assert is_host_pattern(entry) is valid
