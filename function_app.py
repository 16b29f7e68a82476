"""The application router: a Durable Functions app that routes each request to its version's lane.

Only builds the app: settings are read once (a bad one fails the start, naming it) and the
blueprints are registered by role.
"""

import os

import azure.durable_functions as df
import azure.functions as func

from provisioning.factory import build_backend
from router import admin_api, activities, client_api, entity, orchestrators, releases_api, runtime, telemetry
from router.settings import Settings

telemetry.configure(os.environ)  # logs' fields, OpenTelemetry when configured (docs/telemetry.md)
runtime.configure(runtime.RouterRuntime(Settings.from_env(), build_backend))

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (entity.bp, orchestrators.bp, activities.bp, client_api.bp, releases_api.bp, admin_api.bp):
    app.register_functions(blueprint)
