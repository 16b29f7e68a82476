"""Lane app names and task hub names: stable, distinct, and within Azure's rules.

The host ID rule: the Functions host takes the first 32 characters of the app name as its host ID,
and apps with the same host ID on one storage account collide (Azure/azure-functions-host wiki
"Host IDs"; docs "storage-considerations#host-id-considerations"; the host's HostIdValidator).
Task hub names: letters and digits, a letter first, 3-45 characters for Azure Storage (docs
"durable-functions-task-hubs", Task hub names)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.naming import (
    MAX_HOST_ID,
    is_valid_app_name,
    lane_app_name,
    lane_task_hub,
    router_id_from_site,
)

AZURE_RULE = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$")


@pytest.mark.parametrize(
    ("prefix", "lane", "starts"),
    [
        ("dfrouter", "1.2", "dfrouter-1-2-"),
        ("DF_Router", "10.20", "df-router-10-20-"),
        ("rt--", "0.1", "rt-0-1-"),
        ("", "3.4", "dfrouter-3-4-"),
        ("---", "3.4", "dfrouter-3-4-"),
        ("x" * 80, "1.0", "x" * 21 + "-1-0-"),
    ],
)
def test_names_carry_prefix_and_lane(prefix: str, lane: str, starts: str) -> None:
    name = lane_app_name(prefix, lane, "sub/rg")

    assert name.startswith(starts)
    assert AZURE_RULE.match(name) and len(name) <= MAX_HOST_ID
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
    # The whole name is the host ID, so the hash that sets two lanes or routers apart is in it.
    assert len(name) <= MAX_HOST_ID


def test_two_long_prefixes_that_share_32_characters_still_get_different_host_ids() -> None:
    first = lane_app_name("ordersplatformwesteurope-a"[:20], "1.2", "sub/rg-a")
    second = lane_app_name("ordersplatformwesteurope-a"[:20], "1.2", "sub/rg-b")
    assert first[:MAX_HOST_ID] != second[:MAX_HOST_ID]


@given(router=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,19}", fullmatch=True), major=st.integers(0, 10**6),
       minor=st.integers(0, 10**6))
def test_task_hub_names_obey_azure_storage_rules(router: str, major: int, minor: int) -> None:
    hub = lane_task_hub(f"{major}.{minor}", router)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub)


def test_task_hubs_of_two_routers_differ_and_old_inputs_keep_theirs() -> None:
    assert lane_task_hub("1.2", "staging") == "stagingLane1v2"
    assert lane_task_hub("1.2", "prod") != lane_task_hub("1.2", "staging")
    assert lane_task_hub("1.2") == "Lane1v2"  # what lifecycles started before router ids carry


@given(site=st.from_regex(r"[a-z0-9][a-z0-9-]{0,58}[a-z0-9]", fullmatch=True))
def test_a_router_id_from_any_site_name_can_start_a_hub_name(site: str) -> None:
    router = router_id_from_site(site)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,19}", router)


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
