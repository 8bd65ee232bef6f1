"""Bad input: any event EventBridge could deliver (or not) gives a decision, never an exception."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import EVENTS
from veeam_role_auditor.cloudtrail import IamChange, Rejected, Skipped, parse_event

SAMPLES = [json.loads(path.read_text()) for path in sorted((EVENTS / "cloudtrail").glob("*.json"))]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4),
    max_leaves=25,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        target = event
        path = draw(st.sampled_from([[], ["detail"], ["detail", "requestParameters"], ["detail", "userIdentity"]]))
        for key in path:
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict) or not target:
            continue
        key = draw(st.sampled_from(sorted(target)))
        action = draw(st.integers(0, 2))
        if action == 0:
            del target[key]
        elif action == 1:
            target[key] = draw(json_values)
        else:
            target[key] = "x" * draw(st.integers(0, 300_000))  # oversized values
    return event


def assert_decision(event: Any) -> None:
    decision = parse_event(event)
    assert isinstance(decision, IamChange | Skipped | Rejected)
    if isinstance(decision, IamChange):
        assert decision.event_id
        assert decision.event_name
        assert (decision.role_name is None) != (decision.policy_arn is None)


@given(json_values)
def test_arbitrary_json_gives_a_decision(event: Any) -> None:
    assert_decision(event)


@given(mutated_events())
def test_mutated_real_events_give_a_decision(event: Any) -> None:
    assert_decision(event)


def test_every_sample_event_is_understood() -> None:
    decisions = {event["detail"]["eventName"]: parse_event(event) for event in SAMPLES}
    assert {type(decision).__name__ for decision in decisions.values()} == {"IamChange", "Skipped"}
    assert isinstance(decisions["CreateUser"], Skipped)


def test_role_names_iam_would_refuse_are_rejected() -> None:
    event = copy.deepcopy(next(e for e in SAMPLES if e["detail"]["eventName"] == "TagRole"))
    event["detail"]["requestParameters"]["roleName"] = "not a role name"
    assert parse_event(event) == Rejected("TagRole names an invalid role name 'not a role name'")
