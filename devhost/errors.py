"""Errors of the host layer: a bad app, bad settings or a bad host.json stop the host at start."""

from __future__ import annotations


class HostError(Exception):
    """Base of every error the host layer raises on purpose; the CLI prints it and exits 1."""


class ConfigError(HostError):
    """local.settings.json, host.json or a DEVHOST_* setting is malformed."""


class AppLoadError(HostError):
    """The app's function_app.py cannot be imported or defines no usable function app."""


class RouteTemplateError(HostError):
    """An HTTP trigger's route template cannot be parsed."""
