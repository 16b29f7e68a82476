# The end-to-end fixtures of tests/e2e (a router in the dev host with the local provisioner, the
# sample packages), reused rather than copied.
from tests.e2e.conftest import fresh_router, packages, router  # noqa: F401
