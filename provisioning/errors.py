"""One error hierarchy for the provisioning backends.

Every error a backend raises on purpose is a `ProvisioningError` with a stable machine `code`
and whether repeating the operation may help (`retryable`). SDK and HTTP errors are translated
into these at the backend's edge (`azure_errors`, `package_download`); the router translates
these into its own errors at its activity edge, keeping the code.
"""

from __future__ import annotations

from typing import Any


class ProvisioningError(Exception):
    """A provisioning backend could not do what was asked."""

    code: str = "provisioning_failed"
    retryable: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class TransientProvisioningError(ProvisioningError):
    """Worth retrying: throttled, or the platform failed on its side."""

    code = "provisioning_transient"
    retryable = True


class AppNameTaken(ProvisioningError):
    """The lane's app name is already used by someone else."""

    code = "app_name_taken"


class AppLimitReached(ProvisioningError):
    """The subscription or plan cannot hold another app."""

    code = "app_limit_reached"


class ProvisioningForbidden(ProvisioningError):
    """The router's identity lacks the permission for the operation."""

    code = "provisioning_forbidden"


class PackageError(ProvisioningError):
    """The package could not be fetched, verified or unpacked."""

    code = "package_error"


class PackageRejected(PackageError):
    """The package location is not allowed (host not listed, not https, not local)."""

    code = "package_rejected"


class ConfigError(ProvisioningError):
    """A provisioning setting is missing or malformed; the `setting` detail names it."""

    code = "bad_setting"

    def __init__(self, message: str, *, setting: str, **details: Any) -> None:
        super().__init__(message, setting=setting, **details)
        self.setting = setting
