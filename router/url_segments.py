"""One URL path segment from any text, built so that no normaliser can change it (pure).

Every character but the unreserved ones is percent-encoded, `/` included, so a value is always one
segment. The dot segments `.` and `..` are escaped as well (`%2E`): RFC 3986's remove_dot_segments,
which httpx applies to every URL it sends, would otherwise turn `instances/.` into `instances/`
(a list of the whole lane) and `instances/..` into the parent route.
"""

from __future__ import annotations

from urllib.parse import quote

_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}


def path_segment(value: str) -> str:
    encoded = quote(value, safe="")
    return _DOT_SEGMENTS.get(encoded, encoded)
