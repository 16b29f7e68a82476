import os

from hypothesis import HealthCheck, settings

# CI runs at least 500 operation sequences per invariant test; locally a quicker default.
settings.register_profile(
    "ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
HYPOTHESIS_PROFILE = "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_report_header(config):
    # Beside pytest-randomly's seed (which repeats a test order): how many examples each property
    # test draws here. Hypothesis keeps its own seed and prints how to reproduce a failure.
    return f"hypothesis profile: {HYPOTHESIS_PROFILE} (max_examples={settings.default.max_examples})"
