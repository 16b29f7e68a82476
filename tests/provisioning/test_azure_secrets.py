"""Keys, tokens and SAS signatures never reach a log line or an error, even with DEBUG logging on."""

from __future__ import annotations

import hashlib
import logging
import traceback

import pytest

from provisioning.azure import AzureLaneBackend
from provisioning.base import AppRef, Package
from provisioning.errors import ProvisioningError
from tests.fakes.arm import FAKE_TOKEN, FakeArm
from tests.provisioning.azure_support import PACKAGE, lane_spec, run


def test_no_secret_in_logs_or_errors(fake_arm: FakeArm, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, azure.core's HTTP logging policy included
    fake_arm.fail("POST", r"/listkeys$", 503, retry_after=0.05)  # retries log too
    errors: list[ProvisioningError] = []
    fake_arm.packages["app.zip"] = b"the build"
    verified_package = Package(
        f"{fake_arm.base_url}/packages/app.zip?sp=r&sig=sas-secret", hashlib.sha256(b"the build").hexdigest()
    )

    async def scenario(backend: AzureLaneBackend) -> AppRef:
        lane = lane_spec()
        app = await backend.create_app(lane)
        await backend.configure_app(lane, app)
        await backend.deploy_package(lane, app, PACKAGE)
        await backend.deploy_package(lane, app, verified_package)  # fetched with its SAS URL
        await backend.read_system_key(app)
        await backend.check_health(app)
        # Failures on the calls that handle secrets: the key read and the package deploy.
        fake_arm.fail("POST", r"/listkeys$", 400, code="BadRequest", message="Bad key request.")
        # ARM quoting the value it refused must not carry the SAS token into the error.
        refused = Package(PACKAGE.url.replace("1.2.0", "1.2.1"))
        fake_arm.fail("PUT", r"/appsettings$", 400, message=f"Invalid setting value '{refused.url}'.")
        for call in (backend.read_system_key(app), backend.deploy_package(lane, app, refused)):
            try:
                await call
            except ProvisioningError as err:
                errors.append(err)
        return app

    app = run(fake_arm, scenario)

    keys = fake_arm.host_keys[app.name]
    secrets = [
        keys["masterKey"],
        keys["functionKeys"]["default"],
        keys["systemKeys"]["durabletask_extension"],
        FAKE_TOKEN,
        "sas-secret",
    ]
    assert len(errors) == 2
    logged = [record.getMessage() for record in caplog.records]
    logged += [caplog.text]
    raised = [text for err in errors for text in (str(err), repr(err), repr(err.details))]
    raised += ["".join(traceback.format_exception(err)) for err in errors]
    assert any("Response status: 200" in line for line in logged)  # HTTP logging was really on
    for secret in secrets:
        assert not [line for line in logged if secret in line], "a secret was logged"
        assert not [text for text in raised if secret in text], "a secret was in an error"
