"""A bad setting stops the router at start with a message naming the setting."""

import pytest

from demo.stack import running_router
from devhost.testing import HostStartError

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("name", "value"),
    [("ROUTER_MAX_LANES", "none"), ("ROUTER_PROVISIONER", "cloud"), ("ROUTER_ARM_ENDPOINT", "http://arm.local")],
)
def test_a_bad_setting_fails_the_start_naming_it(name, value, tmp_path):
    with pytest.raises(HostStartError) as caught:
        with running_router({name: value}, work_dir=tmp_path):
            pass
    assert name in str(caught.value)
