"""Lane app names: stable, distinct, and within Azure's rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.naming import is_valid_app_name, lane_app_name

AZURE_RULE = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$")


@pytest.mark.parametrize(
    ("prefix", "lane", "starts"),
    [
        ("dfrouter", "1.2", "dfrouter-1-2-"),
        ("DF_Router", "10.20", "df-router-10-20-"),
        ("rt--", "0.1", "rt-0-1-"),
        ("", "3.4", "dfrouter-3-4-"),
        ("---", "3.4", "dfrouter-3-4-"),
        ("x" * 80, "1.0", "x" * 49 + "-1-0-"),
    ],
)
def test_names_carry_prefix_and_lane(prefix: str, lane: str, starts: str) -> None:
    name = lane_app_name(prefix, lane, "sub/rg")

    assert name.startswith(starts)
    assert AZURE_RULE.match(name) and len(name) <= 60
    assert re.fullmatch(r"[0-9a-f]{6}", name.rsplit("-", 1)[1])


def test_names_are_stable_and_differ_by_lane_and_scope() -> None:
    assert lane_app_name("rt", "1.2", "sub/rg") == lane_app_name("rt", "1.2", "SUB/RG")
    assert lane_app_name("rt", "1.2", "sub/rg") != lane_app_name("rt", "1.3", "sub/rg")
    assert lane_app_name("rt", "1.2", "sub/rg") != lane_app_name("rt", "1.2", "sub/other-rg")


@given(
    prefix=st.text(min_size=0, max_size=90),
    major=st.integers(0, 10**6),
    minor=st.integers(0, 10**6),
)
def test_every_name_obeys_azure_rules(prefix: str, major: int, minor: int) -> None:
    name = lane_app_name(prefix, f"{major}.{minor}")

    assert is_valid_app_name(name) and AZURE_RULE.match(name)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("ab", True),
        ("a", False),
        ("-ab", False),
        ("ab-", False),
        ("a_b", False),
        ("A-b", False),
        ("a" * 60, True),
        ("a" * 61, False),
    ],
)
def test_name_rule(name: str, valid: bool) -> None:
    assert is_valid_app_name(name) is valid
