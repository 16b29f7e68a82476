import pytest

from router.instance_actions import ACCEPTED_FORMS, InstanceAction, action_for, action_path


@pytest.mark.parametrize(
    ("method", "segment", "expected"),
    [
        ("GET", None, InstanceAction.STATUS),
        ("get", "", InstanceAction.STATUS),
        ("DELETE", None, InstanceAction.PURGE),
        ("POST", "raiseEvent", InstanceAction.RAISE_EVENT),
        ("POST", "terminate", InstanceAction.TERMINATE),
        ("POST", "suspend", InstanceAction.SUSPEND),
        ("POST", "resume", InstanceAction.RESUME),
        ("POST", None, None),
        ("GET", "terminate", None),
        ("POST", "rewind", None),
        ("PUT", None, None),
    ],
)
def test_action_for(method: str, segment: str | None, expected: InstanceAction | None) -> None:
    assert action_for(method, segment) is expected


def test_every_action_is_found_by_its_own_route() -> None:
    assert all(action_for(action.method, action.segment) is action for action in InstanceAction)


@pytest.mark.parametrize(
    ("action", "event_name", "path"),
    [
        (InstanceAction.STATUS, None, ""),
        (InstanceAction.PURGE, None, ""),
        (InstanceAction.TERMINATE, None, "/terminate"),
        (InstanceAction.RAISE_EVENT, "a/b c", "/raiseEvent/a%2Fb%20c"),
    ],
)
def test_action_path(action: InstanceAction, event_name: str | None, path: str) -> None:
    assert action_path(action, event_name) == path


def test_only_raising_an_event_may_not_be_repeated() -> None:
    assert [action for action in InstanceAction if not action.repeatable] == [InstanceAction.RAISE_EVENT]


def test_accepted_forms_name_every_route() -> None:
    assert ACCEPTED_FORMS == (
        "GET", "DELETE", "POST raiseEvent/{event}", "POST terminate", "POST suspend", "POST resume",
    )
