"""Every error the dev host raises on purpose, under one base, grouped by cause.

- `HostError`: the host cannot start (bad settings, a bad app); the CLI prints it and exits 1.
- `HostStartError`: a launcher started a host process that exited or never answered its ping.
- `EngineError` (in `devhost/engine/errors.py`, which the engine owns): the durable engine
  refused a client operation. The engine raises them without knowing HTTP;
  `devhost.durable_api.ENGINE_ERROR_STATUS` is the one table that gives each its status.
- `InvalidApiRequest`: a Durable HTTP API request the host cannot take (400). Not to be confused
  with the router's `router.errors.BadRequest`: the dev host plays Azure and shares nothing with
  the router.

This module imports nothing of the dev host, so every layer of it (engine included) can use it.
"""

from __future__ import annotations


class DevHostError(Exception):
    """Base of every error the dev host raises on purpose."""


# --- the host cannot start ------------------------------------------------------------------


class HostError(DevHostError):
    """The host cannot start with this app or these settings; the CLI prints it and exits 1."""


class ConfigError(HostError):
    """local.settings.json, host.json or a DEVHOST_* setting is malformed."""


class AppLoadError(HostError):
    """The app's function_app.py cannot be imported or defines no usable function app."""


class RouteTemplateError(HostError):
    """An HTTP trigger's route template cannot be parsed."""


class HostStartError(DevHostError):
    """A launched host process exited or did not answer its ping in time; carries its output."""


# --- the Durable HTTP API refuses a request ---------------------------------------------------


class InvalidApiRequest(DevHostError):
    """A Durable HTTP API request with a malformed parameter or body (400)."""

    def __init__(self, message: str, *, exception_message: str | None = None,
                 exception_type: str | None = None) -> None:
        super().__init__(message)
        # The extension's error body adds these when it answers from a caught exception.
        self.exception_message = exception_message
        self.exception_type = exception_type
