"""The route table: every template in one regex, with the same answer as trying each in turn."""

import pytest

from devhost.routes import RouteTable, RouteTemplate
from tests.devhost.test_host_routes import test_route_matching

CASES = test_route_matching.pytestmark[0].args[1]  # the single-template cases, reused
TEMPLATES = sorted((RouteTemplate(t) for t in sorted({template for template, _, _ in CASES})), key=lambda r: r.precedence)
PATHS = sorted({path for _, path, _ in CASES} | {"items/42/x", "ITEMS/LIST", "files/", "/", "a%2Fb"})


def in_turn(path: str) -> list[tuple[int, dict[str, str]]]:
    found = ((index, template.match(path)) for index, template in enumerate(TEMPLATES))
    return [(index, values) for index, values in found if values is not None]


@pytest.mark.parametrize(("template", "path", "expected"), CASES)
def test_a_table_of_one_matches_as_its_template(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert list(RouteTable([RouteTemplate(template)]).matches(path)) == ([(0, expected)] if expected is not None else [])


@pytest.mark.parametrize("path", PATHS)
def test_a_table_finds_the_templates_trying_each_in_turn_would(path: str) -> None:
    # Constraint failures (items/abc against items/{id:int}) must fall through to the next ones.
    assert list(RouteTable(TEMPLATES).matches(path)) == in_turn(path)


def test_an_empty_table_matches_nothing() -> None:
    assert list(RouteTable([]).matches("anything")) == []
