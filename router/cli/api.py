"""`RouterApi`: the router's HTTP API as the CLI uses it, over httpx.

One method per route, and one place (`_answer`) that turns an answer into JSON or into a
`CliError` with the router's code and message. The key travels only in the `x-functions-key`
header; it is not kept in the client's default headers, a repr, or any message. Tests hand a
`transport=` (httpx.MockTransport) where a real router is overkill.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from router.auth import KEY_HEADER, ROLE_SETTINGS, Role
from router.cli.errors import AuthRefused, RouterRefused, RouterUnreachable, UsageError

DEFAULT_HTTP_TIMEOUT = 30.0  # seconds for one request; following a release has its own --timeout
_CONTINUATION = "x-ms-continuation-token"
_TICKET = "X-Replay-Check-Ticket"  # router.patch_gate.TICKET_HEADER, not imported: the CLI stays free of semver
_ROLE_KEYS = {Role.RELEASE: "a release pipeline key", Role.ADMIN: "an admin key", Role.CLIENT: "a client key"}


def shown_url(url: str) -> str:
    """`url` without user info, query or fragment: what an error may print of a URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_router_url(url: str | None) -> str:
    """The router's base URL (scheme://host[:port][/path]) without a trailing slash."""
    if not url:
        raise UsageError("No router URL: pass --router URL or set DFROUTER_URL (e.g. https://myrouter.azurewebsites.net).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"The router URL must be http(s)://host[:port], not {shown_url(url)!r}.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError("The router URL must not carry a query, fragment or credentials: pass the key with "
                         "--key or DFROUTER_KEY.")
    return url.rstrip("/")


def check_key(key: str | None) -> str | None:
    """A key a header can carry; the message never quotes it."""
    if key is None or key == "":
        return None
    if not all("!" <= ch <= "~" for ch in key):
        raise UsageError("The key (from --key or DFROUTER_KEY) holds a space, control or non-ASCII character; "
                         "a router key is letters, digits and - _ . ~ + / =.")
    return key


class RouterApi:
    """The router's routes for release pipelines and admins."""

    def __init__(self, base_url: str, key: str | None, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = DEFAULT_HTTP_TIMEOUT,
                 on_exchange: Callable[[str], None] | None = None) -> None:
        self.base_url = check_router_url(base_url)
        self._key = check_key(key)
        self._on_exchange = on_exchange  # --verbose: one line per request, never a header
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"RouterApi({shown_url(self.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RouterApi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- release pipelines ---------------------------------------------------------------------

    def post_release(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/releases", Role.RELEASE, json=body)

    def release(self, release_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/releases/{quote(release_id, safe='')}", Role.RELEASE)

    # --- admins --------------------------------------------------------------------------------

    def version_map(self) -> dict[str, Any]:
        return self.request("GET", "/api/versionmap", Role.ADMIN)

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/api/status", Role.ADMIN)

    def instances(self, params: dict[str, str]) -> dict[str, Any]:
        """One page; `continuationToken` in params continues a query."""
        return self.request("GET", "/api/instances", Role.ADMIN, params=params)

    def close_lane(self, lane: str) -> dict[str, Any]:
        return self.request("POST", f"/api/lanes/{quote(lane, safe='')}/close", Role.ADMIN)

    def retire_lane(self, lane: str, force: bool) -> dict[str, Any]:
        params = {"force": "true"} if force else None
        return self.request("POST", f"/api/lanes/{quote(lane, safe='')}/retire", Role.ADMIN, params=params)

    def set_current(self, lane: str, ramp: dict[str, Any] | None = None) -> dict[str, Any]:
        """200 (current now), or with `ramp` 202 (the ramp started; the current lane stays so until it ends)."""
        body: dict[str, Any] = {"lane": lane, **({"ramp": ramp} if ramp is not None else {})}
        return self.request("POST", "/api/current", Role.ADMIN, json=body)

    def histories_page(self, lane: str, top: int, token: str | None) -> tuple[str, str | None, str | None]:
        """One page of the lane's in-flight histories (NDJSON text), the next page's token, and the
        router's replay-check ticket of the page (X-Replay-Check-Ticket: which lane, when)."""
        path = f"/api/lanes/{quote(lane, safe='')}/histories"
        headers = {_CONTINUATION: token} if token else {}
        response = self._send("GET", path, params={"top": str(top)}, headers=headers)
        if not 200 <= response.status_code < 300:
            self._answer(response, "GET", path, Role.ADMIN)  # raises the router's error
        if not response.headers.get("content-type", "").startswith("application/x-ndjson"):
            raise RouterUnreachable(f"GET {path} did not answer NDJSON: is {shown_url(self.base_url)} the "
                                    "router's base URL (without /api)?", status=response.status_code)
        return (response.text, response.headers.get(_CONTINUATION) or None,
                response.headers.get(_TICKET) or None)

    # --- the one exchange ----------------------------------------------------------------------

    def request(self, method: str, path: str, role: Role, *, json: Any = None,
                params: dict[str, str] | None = None) -> dict[str, Any]:
        """Send one request with the key of `role`'s routes; the answer's JSON object, or a CliError."""
        response = self._send(method, path, json=json, params=params)
        return self._answer(response, method, path, role)

    def _send(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {**(headers or {}), **({KEY_HEADER: self._key} if self._key else {})}
        where = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException:
            raise RouterUnreachable(f"The router at {shown_url(self.base_url)} did not answer {method} {path} "
                                    f"in time.") from None
        except httpx.TransportError as error:
            raise RouterUnreachable(f"Cannot reach the router at {shown_url(self.base_url)}: "
                                    f"{type(error).__name__}: {error}.") from None
        if self._on_exchange:
            self._on_exchange(f"{method} {shown_url(where)} -> {response.status_code}")
        return response

    def _answer(self, response: httpx.Response, method: str, path: str, role: Role) -> dict[str, Any]:
        body = _json_object(response)
        status = response.status_code
        if 200 <= status < 300:
            if body is None:
                raise RouterUnreachable(f"{method} {path} answered {status} without a JSON object: is "
                                        f"{shown_url(self.base_url)} the router's base URL (without /api)?",
                                        status=status)
            return body
        code = str(body.get("error")) if body and "error" in body else None
        said = str(body.get("message")) if body and "message" in body else response.reason_phrase
        details = {k: v for k, v in (body or {}).items() if k not in ("error", "message")}
        if status in (401, 403):
            raise AuthRefused(self._auth_message(f"{status} {code or 'error'}", role, said), code=code, status=status, details=details)
        if body is None and status == 404:
            raise RouterRefused(f"{method} {path} answered 404 without the router's JSON: is "
                                f"{shown_url(self.base_url)} the router's base URL (without /api)?", status=status)
        if 400 <= status < 500:
            raise RouterRefused(f"The router refused {method} {path} ({status} {code or 'error'}): {said}",
                                code=code, status=status, details=details)
        raise RouterUnreachable(f"The router failed {method} {path} ({status} {code or 'error'}): {said}",
                                code=code, status=status, details=details)

    def _auth_message(self, answer: str, role: Role, said: str) -> str:
        needed = f"{_ROLE_KEYS[role]} (one of the router's {ROLE_SETTINGS[role]})"
        if self._key is None:
            return f"No key was given ({answer}): this needs {needed}; pass --key or set DFROUTER_KEY."
        if answer.startswith("401"):
            return f"The router does not know the key given ({answer}): this needs {needed}. The router said: {said}"
        return f"The key given belongs to another role ({answer}): this needs {needed}. The router said: {said}"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None

