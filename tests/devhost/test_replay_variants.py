"""tests/apps/replay_variants.py: each variant of replay_v1 builds into a loadable app that differs
from v1 by its edits alone, and an edit that no longer matches v1 exactly once fails the build; so
does the demo's charge-first "patch" (demo/charge_first_app/build.py), built from samples/1.1.0."""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path

import pytest

from demo.charge_first_app.build import (
    CHARGE,
    RESERVE,
    SAMPLE,
    build_charge_first_app,
    charge_first_source,
)
from devhost.engine.testing import registry_from_app
from tests.apps.replay_variants import (
    V1,
    VARIANTS,
    Variant,
    VariantError,
    build_variant,
    edited_source,
)

V1_SOURCE = (V1 / "function_app.py").read_text(encoding="utf-8")
V1_ORCHESTRATORS = {"chain", "timed", "parent", "child", "looping", "doomed"}


def load_functions(app_dir: Path) -> tuple[set[str], set[str]]:
    spec = importlib.util.spec_from_file_location(f"variant_{app_dir.name}", app_dir / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = registry_from_app(module.app)
    return set(registry.orchestrators), set(registry.activities)


def changed_lines(source: str) -> tuple[list[str], list[str]]:
    """(v1's lines the source lacks, the source's lines v1 lacks), stripped, the header left out."""
    diff = list(difflib.unified_diff(V1_SOURCE.splitlines(), source.splitlines()[1:], lineterm="", n=0))
    removed = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
    return [line for line in removed if line], [line for line in added if line]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_variant_builds_into_an_app_with_v1s_host_json_and_the_same_orchestrators(name, tmp_path):
    app_dir = build_variant(name, tmp_path / name)
    assert json.loads((app_dir / "host.json").read_text()) == json.loads((V1 / "host.json").read_text())
    orchestrators, activities = load_functions(app_dir)
    assert orchestrators == V1_ORCHESTRATORS
    assert {"reserve", "charge", "ship"} <= activities


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_variant_differs_from_v1_by_its_edits_alone(name):
    variant = VARIANTS[name]
    removed, added = changed_lines(edited_source(V1_SOURCE, variant))
    assert set(removed) == {old for _, old, new in variant.edits if old not in new}
    assert set(added) == {line for _, old, new in variant.edits for line in new if line != old} | {
        line.strip() for line in variant.appended.splitlines() if line.strip()}


def test_the_renamed_variant_adds_the_activity_its_chain_now_calls(tmp_path):
    _, activities = load_functions(build_variant("replay_renamed", tmp_path / "renamed"))
    assert "charge_card" in activities


def test_an_edit_whose_line_is_gone_from_v1_fails_the_build_naming_it():
    gone = Variant("nothing", edits=(("chain", 'charged = yield context.call_activity("pay", reserved)', ()),))
    with pytest.raises(VariantError, match=r"'charged = yield context.call_activity\(\"pay\", reserved\)' "
                                           r"stands 0 times in chain\(\)"):
        edited_source(V1_SOURCE, gone)


def test_an_edit_whose_line_stands_twice_in_its_function_fails_the_build():
    twice = "def chain(context):\n    yield 1\n    yield 1\n"
    with pytest.raises(VariantError, match="stands 2 times"):
        edited_source(twice, Variant("one of two", edits=(("chain", "yield 1", ()),)))


def test_an_edit_of_a_function_v1_does_not_have_fails_the_build():
    with pytest.raises(VariantError, match="0 functions named pay"):
        edited_source(V1_SOURCE, Variant("nothing", edits=(("pay", "return 1", ()),)))


def test_an_unknown_variant_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(VariantError, match="replay_v2.*replay_reordered"):
        build_variant("replay_v2", tmp_path / "v2")
    assert not (tmp_path / "v2").exists()


def test_an_edit_keeps_the_indentation_of_the_line_it_replaces():
    source = edited_source(V1_SOURCE, VARIANTS["replay_added_wait"])
    assert '    yield context.wait_for_external_event("confirm")\n' \
           '    charged = yield context.call_activity("charge", reserved)\n' in source


def test_the_demos_charge_first_patch_is_samples_1_1_0_with_its_two_calls_swapped(tmp_path):
    app_dir = build_charge_first_app(tmp_path / "charge-first")
    sample = (SAMPLE / "function_app.py").read_text(encoding="utf-8").splitlines()
    built = (app_dir / "function_app.py").read_text(encoding="utf-8").splitlines()[1:]
    assert len(sample) == len(built)
    changed = [(old, new) for old, new in zip(sample, built, strict=True) if old != new]
    assert [(old.strip(), new.strip()) for old, new in changed] == [
        ('APP_VERSION = "1.1.0"', 'APP_VERSION = "1.1.1 (charges first)"'), (RESERVE, CHARGE), (CHARGE, RESERVE)]
    assert {p.name for p in app_dir.iterdir()} == {"function_app.py", "host.json", "requirements.txt"}


def test_the_demos_charge_first_build_stops_when_the_sample_no_longer_has_an_edits_text():
    with pytest.raises(ValueError, match="APP_VERSION"):
        charge_first_source("APP_VERSION = '1.1.0'\n")
