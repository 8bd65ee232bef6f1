"""Properties of the evaluation of a role's policies against required actions (hypothesis).

The long run: ``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/unit/test_action_properties.py``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from veeam_role_auditor.policy import NamedPolicy
from veeam_role_auditor.policy.permissions import PermissionsMemo, RequiredAction, evaluate_actions
from veeam_role_auditor.policy.tri import Tri
from veeam_role_auditor.policy.wildcard import glob_match, glob_relation

ACCOUNT = "111122223333"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORDER = {"no": 0, "conditional": 1, "yes": 2}
ROLES = [
    f"arn:aws:iam::{ACCOUNT}:role/backup/R1",
    f"arn:aws:iam::{ACCOUNT}:role/R2",
    "arn:aws:iam::999988887777:role/R3",
]

REQUIRED = [
    RequiredAction("ec2:CreateSnapshot"),
    RequiredAction("ec2:DescribeInstances"),
    RequiredAction("s3:PutObject", ("arn:aws:s3:::veeam-*",)),
    RequiredAction("s3:GetObject", ("arn:aws:s3:::veeam-repo/*",)),
    RequiredAction("kms:Decrypt"),
]
action_patterns = st.sampled_from(
    [
        "*",
        "ec2:*",
        "ec2:Create*",
        "EC2:CREATESNAPSHOT",
        "ec2:Describe?nstances",
        "s3:*Object",
        "s3:Put*",
        "kms:*",
        "iam:*",
    ]
)
resource_patterns = st.sampled_from(
    [
        "*",
        "arn:aws:s3:::*",
        "arn:aws:s3:::veeam-*",
        "arn:aws:s3:::veeam-repo/*",
        "arn:aws:s3:::veeam-repo",
        "arn:aws:ec2:*:*:volume/*",
        "arn:aws:s3:::${aws:PrincipalTag/team}-*",
        "arn:aws:s3:::${aws:username}/*",
        "arn:aws:s3:::veeam-?",
    ]
)
conditions = st.sampled_from(
    [
        {"StringEquals": {"aws:PrincipalTag/team": "veeam"}},
        {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
        {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/backup/*"}},
        {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
        {"StringNotEquals": {"aws:ResourceTag/protected": "true"}},
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"Bool": {"aws:SecureTransport": "false"}},
        {"Null": {"aws:PrincipalTag/team": "true"}},
    ]
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    statement["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(
        st.lists(action_patterns, min_size=1, max_size=3)
    )
    statement["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = draw(
        st.lists(resource_patterns, min_size=1, max_size=2)
    )
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions)
    return statement


def documents(effect: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda body, version: {"Version": version, "Statement": body},
        st.lists(statements(effect), min_size=1, max_size=3),
        st.sampled_from(["2012-10-17", "2012-10-17", "2008-10-17"]),
    )


policy_sets = st.lists(documents(), max_size=3)
tag_sets = st.sampled_from([{}, {"team": "veeam"}, {"team": "web"}, None])


def answers(policies: list[dict[str, Any]], *, boundary: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
    named = [NamedPolicy(f"inline policy P{index}", document) for index, document in enumerate(policies)]
    verdict = evaluate_actions(
        named,
        kwargs.pop("required", REQUIRED),
        boundary=NamedPolicy("boundary", boundary) if boundary is not None else None,
        role_arn=kwargs.pop("role_arn", ROLES[0]),
        role_tags=kwargs.pop("role_tags", {"team": "veeam"}),
        now=NOW,
        **kwargs,
    )
    return [decision.answer for decision in verdict.decisions]


@given(policy_sets, documents("Allow"), tag_sets)
def test_adding_an_allow_never_lowers_an_answer(
    policies: list[dict[str, Any]], extra: dict[str, Any], tags: Any
) -> None:
    before = answers(policies, role_tags=tags)
    after = answers([*policies, extra], role_tags=tags)
    assert all(ORDER[a] >= ORDER[b] for a, b in zip(after, before, strict=True))


@given(policy_sets, documents("Deny"), tag_sets)
def test_adding_a_deny_never_raises_an_answer(policies: list[dict[str, Any]], extra: dict[str, Any], tags: Any) -> None:
    before = answers(policies, role_tags=tags)
    after = answers([*policies, extra], role_tags=tags)
    assert all(ORDER[a] <= ORDER[b] for a, b in zip(after, before, strict=True))


@given(policy_sets, documents(), tag_sets)
def test_a_boundary_never_widens(policies: list[dict[str, Any]], boundary: dict[str, Any], tags: Any) -> None:
    without = answers(policies, role_tags=tags)
    bounded = answers(policies, boundary=boundary, role_tags=tags)
    assert all(ORDER[a] <= ORDER[b] for a, b in zip(bounded, without, strict=True))


@given(policy_sets, st.randoms(use_true_random=False))
def test_the_case_of_action_names_never_matters(policies: list[dict[str, Any]], random: Any) -> None:
    def scramble(text: str) -> str:
        return "".join(char.upper() if random.random() < 0.5 else char.lower() for char in text)

    swapped = [
        {
            **document,
            "Statement": [
                {
                    key: [scramble(item) for item in value] if key in ("Action", "NotAction") else value
                    for key, value in statement.items()
                }
                for statement in document["Statement"]
            ],
        }
        for document in policies
    ]
    required = [RequiredAction(scramble(item.action), item.resources) for item in REQUIRED]
    assert answers(swapped, required=required) == answers(policies)


@given(st.lists(st.tuples(policy_sets, st.sampled_from(ROLES), tag_sets), min_size=1, max_size=6), documents())
def test_the_memo_agrees_with_direct_evaluation(
    roles: list[tuple[list[dict[str, Any]], str, Any]], managed_document: dict[str, Any]
) -> None:
    memo = PermissionsMemo()
    managed = NamedPolicy("managed policy arn:aws:iam::aws:policy/Shared (v1)", managed_document)
    for inline, role_arn, tags in roles:
        named = [managed, *(NamedPolicy(f"inline policy P{index}", doc) for index, doc in enumerate(inline))]
        kwargs: dict[str, Any] = {"role_arn": role_arn, "role_tags": tags, "role_id": "AROAEXAMPLE", "now": NOW}
        assert evaluate_actions(named, REQUIRED, memo=memo, **kwargs) == evaluate_actions(named, REQUIRED, **kwargs)


@given(st.lists(st.from_type(object) | st.text() | st.dictionaries(st.text(), st.text()), max_size=3))
def test_any_document_gives_a_verdict(junk: list[object]) -> None:
    named = [NamedPolicy(f"P{index}", document) for index, document in enumerate(junk)]
    verdict = evaluate_actions(named, REQUIRED, role_arn=ROLES[0], now=NOW)
    assert len(verdict.decisions) == len(REQUIRED)


# ------------------------------------------------------------------ pattern against pattern

glob_patterns = st.text(alphabet="ab*?", max_size=5)


def _strings(length: int) -> list[str]:
    return ["".join(chars) for size in range(length + 1) for chars in itertools.product("abc", repeat=size)]


STRINGS = _strings(7)


@given(glob_patterns, glob_patterns)
def test_glob_relation_agrees_with_enumeration(pattern: str, values: str) -> None:
    # Strings up to 7 characters over a, b and one other letter decide patterns of at most 5 characters.
    matched = [text for text in STRINGS if glob_match(values, text)]
    hits = [glob_match(pattern, text) for text in matched]
    expected = Tri.TRUE if all(hits) else Tri.UNKNOWN if any(hits) else Tri.FALSE
    assert glob_relation(pattern, values) is expected
