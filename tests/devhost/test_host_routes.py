import pytest

from devhost.errors import RouteTemplateError
from devhost.routes import RouteTemplate


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("hello", "hello", {}),
        ("hello", "HELLO/", {}),
        ("hello", "hello/x", None),
        ("orchestrators/{functionName}", "orchestrators/Hello", {"functionName": "Hello"}),
        ("orchestrators/{functionName}/{instanceId?}", "orchestrators/f", {"functionName": "f"}),
        (
            "orchestrators/{functionName}/{instanceId?}",
            "orchestrators/f/i1",
            {"functionName": "f", "instanceId": "i1"},
        ),
        ("orchestrators/{functionName}", "orchestrators", None),
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/-7", {"id": "-7"}),
        ("items/{id:int}", "items/abc", None),
        ("items/{id:int}", "items/99999999999", None),
        ("items/{id:long}", "items/99999999999", {"id": "99999999999"}),
        ("items/{name:alpha}", "items/abc", {"name": "abc"}),
        ("items/{name:alpha}", "items/ab1", None),
        ("items/{flag:bool}", "items/True", {"flag": "True"}),
        (
            "items/{g:guid}",
            "items/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            {"g": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
        ),
        ("items/{g:guid}", "items/not-a-guid", None),
        ("items/{x:minlength(3)}", "items/ab", None),
        ("items/{x:maxlength(3)}", "items/abcd", None),
        ("items/{x:length(2,3)}", "items/abc", {"x": "abc"}),
        ("items/{n:range(1,10)}", "items/11", None),
        ("items/{n:int:min(5)}", "items/5", {"n": "5"}),
        ("items/{n:int:min(5)}", "items/4", None),
        ("items/{x:regex(^[a-c]+$)}", "items/abc", {"x": "abc"}),
        ("items/{x:regex(^\\d{{3}}$)}", "items/123", {"x": "123"}),
        ("items/{x:regex(^\\d{{3}}$)}", "items/1234", None),
        ("items/{n:int?}", "items", {}),
        ("items/{n=5}", "items", {"n": "5"}),
        ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("files/{*rest}", "files", {}),
        ("files/{**rest}", "files/a/b", {"rest": "a/b"}),
        ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("{*all}", "anything/at/all", {"all": "anything/at/all"}),
        ("", "", {}),
    ],
)
def test_route_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    ["a/{", "a/}", "a/{x:nosuch}", "a/{*rest}/b", "a/{x}/{x}", "a//b", "a/{1x}"],
)
def test_bad_templates_are_rejected(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template)


def test_literal_routes_take_precedence_over_parameters_and_catch_alls() -> None:
    templates = ["{*all}", "items/{id}", "items/{id:int}", "items/list", "items/{id?}"]
    ordered = sorted((RouteTemplate(t) for t in templates), key=lambda r: r.precedence)
    assert [r.template for r in ordered] == [
        "items/list", "items/{id:int}", "items/{id}", "items/{id?}", "{*all}",
    ]  # fmt: skip
