"""A Durable Functions app that exercises every feature the dev host claims (tests/devhost/test_e2e_*).

It is a plain v2-model app: it runs under `func start` as well as under `python -m devhost start`.
"""

import azure.durable_functions as df
import azure.functions as func

import activities
import entities
import http_starters
import orchestrators

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (http_starters.bp, orchestrators.bp, activities.bp, entities.bp):
    app.register_functions(blueprint)
