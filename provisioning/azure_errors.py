"""Translate azure-core / ARM errors into provisioning errors, at the edge of the Azure backend.

Messages carry the operation, the app, the HTTP status and ARM's own error code and message,
never a request header or a response body that could hold a key. Errors are raised
`from None` so no SDK object (which holds the request and response) travels with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from provisioning.errors import (
    AppLimitReached,
    AppNameTaken,
    ProvisioningError,
    ProvisioningForbidden,
    TransientProvisioningError,
)

# App Service reports quota and plan limits as 409/400 with prose like "The maximum number of
# sites ... is 100" or "... will exceed the number of ... allowed"; there is no stable code.
_LIMIT = re.compile(
    r"maximum number of|exceeds? the (?:number|quota|limit)|quota|limit (?:has been |was )?reached"
    r"|too many (?:sites|apps|web ?apps)",
    re.IGNORECASE,
)
# Capacity shortages are 409s too, but they ask to be retried later; so does a 409 for an
# operation still in progress on the site (a restart or a deployment).
_RETRY_LATER = re.compile(
    r"retry .*later|no available instances|capacity|in progress", re.IGNORECASE
)
# ARM relays what the app's Functions host answers (keys, triggers, functions); while the host
# restarts, or cannot start yet, ARM says only "Encountered an error (ServiceUnavailable) from
# host runtime." as a 400 or a 5xx (Azure/azure-functions-host#6255).
_HOST_RUNTIME = re.compile(r"from host runtime", re.IGNORECASE)
# Operations that ask the app's host through ARM: a 409 there means the site is busy with an
# operation (a restart after a settings change), never that a name is taken.
HOST_OPERATIONS = frozenset({"read keys", "sync triggers", "readiness"})
_MAX_DETAIL = 300


def arm_error(err: HttpResponseError) -> tuple[str, str]:
    """ARM's error code and message from `err`, best effort."""
    odata = getattr(err, "error", None)
    code = getattr(odata, "code", None) or ""
    message = getattr(odata, "message", None) or ""
    if not (code and message) and err.response is not None:
        try:
            body = json.loads(err.response.text())
        except (ValueError, TypeError, AttributeError):
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = code or str(error.get("code") or "")
            message = message or str(error.get("message") or "")
        elif isinstance(body, dict):  # some App Service errors are {"Code", "Message"}
            code = code or str(body.get("Code") or "")
            message = message or str(body.get("Message") or "")
    if not message:
        message = err.reason or "no error message"
    return code or "Unknown", message[:_MAX_DETAIL]


def translate(err: AzureError, operation: str, app: str, *, hide: Iterable[str] = ()) -> ProvisioningError:
    """The provisioning error for an SDK error raised while doing `operation` on `app`.

    `hide` are values the request carried that ARM may quote back (a package URL with its SAS
    token, say): they never reach the error's message.
    """
    where = f"{operation} of app {app!r}"
    if isinstance(err, ClientAuthenticationError) and err.response is None:
        # The credential's own message says which identities it tried; it holds no token.
        reason = str(err.message or type(err).__name__)[:_MAX_DETAIL]
        return ProvisioningForbidden(
            f"{where}: the router could not get an ARM token ({reason})", operation=operation, app=app
        )
    if isinstance(err, (ServiceRequestError, ServiceResponseError)):
        return TransientProvisioningError(f"{where}: ARM could not be reached ({type(err).__name__})")
    if not isinstance(err, HttpResponseError):
        return ProvisioningError(f"{where} failed: {type(err).__name__}")
    status = err.status_code or 0
    code, message = arm_error(err)
    for value in hide:
        if value:
            message = message.replace(value, "<hidden>")
    detail = f"HTTP {status} {code}: {message}"
    if status == 401:
        return ProvisioningForbidden(
            f"{where} was refused: ARM did not accept the router's token ({detail})",
            operation=operation,
            app=app,
        )
    if status == 403:
        return ProvisioningForbidden(
            f"{where} was refused: the router's identity lacks the permission ({detail})",
            operation=operation,
            app=app,
        )
    if status == 429 or status >= 500:
        return TransientProvisioningError(f"{where} still failing after retries ({detail})", app=app)
    if _HOST_RUNTIME.search(message):
        return TransientProvisioningError(
            f"{where}: the app's Functions host is not answering yet ({detail})", app=app
        )
    if status == 409 and operation in HOST_OPERATIONS:
        return TransientProvisioningError(f"{where}: the site is busy with an operation ({detail})", app=app)
    if status in (400, 409) and _LIMIT.search(message):
        return AppLimitReached(
            f"{where}: the subscription or plan cannot hold another app ({detail})", app=app
        )
    if status == 409 and _RETRY_LATER.search(message):
        return TransientProvisioningError(f"{where}: Azure asks to retry later ({detail})", app=app)
    if status == 409 and operation == "create":
        return AppNameTaken(
            f"the app name {app!r} is already used by another app, possibly in another "
            f"subscription; change ROUTER_APP_PREFIX ({detail})",
            app=app,
        )
    if 200 <= status < 300:  # a long-running operation that ended as Failed or Canceled
        return ProvisioningError(f"{where}: the operation ended unsuccessfully ({detail})", app=app)
    return ProvisioningError(f"{where} failed ({detail})", app=app)
