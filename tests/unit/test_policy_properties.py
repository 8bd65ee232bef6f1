"""Property-based tests: random and mutated documents never break the engine.

CI runs the "ci" hypothesis profile; the long run quoted in notes is
``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/unit/test_policy_properties.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.conftest import FIXTURES
from veeam_role_auditor.policy import (
    RISKS,
    InvalidArnError,
    NamedPolicy,
    TrustVerdict,
    evaluate_identity,
    evaluate_trust,
    make_appliance,
    parse_policy,
)

ACCOUNT = "111122223333"
APPLIANCE_ARN = f"arn:aws:iam::{ACCOUNT}:role/veeam/Imp"
APPLIANCE = make_appliance(APPLIANCE_ARN, role_id="AROAAPPLIANCEEXAMPLE1", org_id="o-a1b2c3d4e5")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/VeeamRepo"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORDER = {"no": 0, "conditional": 1, "yes": 2}
CORPUS = [case["policy"] for case in json.loads((FIXTURES / "trust_corpus.json").read_text())["cases"]]

# ------------------------------------------------------------------ strategies

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
principal_values = st.sampled_from(
    [
        "*",
        APPLIANCE_ARN,
        f"arn:aws:iam::{ACCOUNT}:role/Imp",
        f"arn:aws:iam::{ACCOUNT}:root",
        ACCOUNT,
        "999988887777",
        "arn:aws:iam::999988887777:role/Partner",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Imp/i-0abc",
        "AROAAPPLIANCEEXAMPLE1",
        "AROAOLDDELETEDROLE123",
        f"arn:aws:iam::{ACCOUNT}:role/*",
        f"arn:aws-cn:iam::{ACCOUNT}:root",
        "not-a-principal",
    ]
)
principals = (
    st.just("*")
    | st.dictionaries(
        st.sampled_from(["AWS", "Service", "Federated", "CanonicalUser"]),
        principal_values | st.lists(principal_values, min_size=1, max_size=3) | st.sampled_from(["ec2.amazonaws.com"]),
        min_size=1,
        max_size=2,
    )
    | json_values
)
actions = st.sampled_from(
    [
        "sts:AssumeRole",
        "sts:*",
        "*",
        "sts:Assume?ole",
        "sts:TagSession",
        "STS:ASSUMEROLE",
        "s3:GetObject",
        "sts:AssumeRoleWithSAML",
    ]
)
operators = st.sampled_from(
    [
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "StringEqualsIgnoreCase",
        "ArnLike",
        "ArnNotEquals",
        "Bool",
        "BoolIfExists",
        "Null",
        "NumericLessThan",
        "DateGreaterThan",
        "IpAddress",
        "NotIpAddress",
        "BinaryEquals",
        "ForAnyValue:StringLike",
        "ForAllValues:StringEquals",
        "StringEqualsIfExists",
        "NotAnOperator",
    ]
)
condition_keys = st.sampled_from(
    [
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalType",
        "aws:userid",
        "aws:MultiFactorAuthPresent",
        "aws:SourceIp",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:TokenIssueTime",
        "sts:ExternalId",
        "aws:ResourceTag/veeam:backup-role",
        "aws:TagKeys",
        "aws:CalledVia",
        "saml:aud",
        "aws:SourceAccount",
        "aws:PrincipalOrgPaths",
        "aws:ResourceOrgPaths",
        "aws:SecureTransport",
        "ec2:RoleDelivery",
    ]
)
condition_values = st.sampled_from(
    [
        "*",
        ACCOUNT,
        APPLIANCE_ARN,
        "arn:aws:iam::*:role/veeam/*",
        "AssumedRole",
        "true",
        "false",
        "10.0.0.0/8",
        "2030-01-01T00:00:00Z",
        "1700000000",
        "AROAAPPLIANCEEXAMPLE1:*",
        "${aws:PrincipalAccount}",
        "${aws:username}",
        "${aws:username, 'x'}",
        "${*}",
        "o-a1b2c3d4e5",
        "o-a1b2c3d4e5/*",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*",
        "o-zzzzzzzzzz/*",
        "AROAAPPLIANCEEXAMPLE1:i-*",
        "2.0",
        "QXNzdW1lZFJvbGU=",
        "",
    ]
) | st.text(max_size=10)
conditions = st.dictionaries(
    operators,
    st.dictionaries(condition_keys, condition_values | st.lists(condition_values, min_size=1, max_size=3), max_size=2),
    max_size=2,
)


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny", "allow"]))}
    if draw(st.booleans()):
        statement["Sid"] = draw(st.sampled_from(["", "A", "B", "Bad-Sid"]))
    statement["NotPrincipal" if draw(st.integers(0, 9)) == 0 else "Principal"] = draw(principals)
    action_list = draw(actions | st.lists(actions, min_size=1, max_size=3))
    statement["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = action_list
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions)
    if draw(st.integers(0, 19)) == 0:
        statement["Resource"] = "*"
    return statement


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"Statement": draw(st.lists(statements(), min_size=1, max_size=4))}
    version = draw(st.sampled_from(["2012-10-17", "2008-10-17", None, "2012-10-18"]))
    if version:
        document["Version"] = version
    return document


@st.composite
def mutated_corpus_documents(draw: st.DrawFn) -> object:
    document = draw(st.sampled_from(CORPUS))
    if not isinstance(document, dict):
        return document
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        body = document.get("Statement")
        target: dict[str, Any] = document
        if isinstance(body, list) and body and isinstance(body[0], dict) and draw(st.booleans()):
            target = body[draw(st.integers(0, len(body) - 1))]
        if not isinstance(target, dict) or not target:
            break
        key = draw(st.sampled_from(sorted(target)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            del target[key]
        elif choice == 1:
            target[key] = draw(json_values)
        else:
            target[draw(st.text(max_size=8))] = target[key]
    return document


valid_principal_values = st.sampled_from(
    [
        APPLIANCE_ARN,
        f"arn:aws:iam::{ACCOUNT}:role/Imp",
        f"arn:aws:iam::{ACCOUNT}:root",
        ACCOUNT,
        "999988887777",
        "arn:aws:iam::999988887777:role/Partner",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Imp/i-0abc",
        "AROAAPPLIANCEEXAMPLE1",
        "AROAOLDDELETEDROLE123",
        "*",
    ]
)
valid_operators = st.sampled_from(
    [
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "ArnLike",
        "ArnNotEquals",
        "Bool",
        "BoolIfExists",
        "Null",
        "NumericLessThan",
        "DateGreaterThan",
        "IpAddress",
        "NotIpAddress",
        "ForAnyValue:StringLike",
        "ForAllValues:StringEquals",
        "ForAllValues:StringLike",
        "ForAnyValue:StringNotLike",
        "StringEqualsIfExists",
        "DateLessThan",
        "NumericLessThan",
    ]
)


@st.composite
def valid_statements(draw: st.DrawFn) -> dict[str, Any]:
    effect = draw(st.sampled_from(["Allow", "Deny"]))
    statement: dict[str, Any] = {"Effect": effect}
    aws = draw(st.lists(valid_principal_values, min_size=1, max_size=3))
    principal: dict[str, Any] = {"AWS": aws}
    if draw(st.booleans()):
        principal["Service"] = "batchoperations.s3.amazonaws.com"
    statement["Principal"] = principal  # NotPrincipal cannot be used in a trust policy: never valid
    statement["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(
        st.lists(
            st.sampled_from(["sts:AssumeRole", "sts:*", "sts:TagSession", "sts:Assume*"]),
            min_size=1,
            max_size=2,
        )
    )
    if draw(st.booleans()):
        statement["Condition"] = draw(
            st.dictionaries(
                valid_operators,
                st.dictionaries(
                    condition_keys,
                    condition_values | st.lists(condition_values, min_size=1, max_size=3),
                    min_size=1,
                    max_size=2,
                ),
                max_size=2,
            )
        )
    return statement


@st.composite
def valid_policies(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "Version": draw(st.sampled_from(["2012-10-17", "2008-10-17"])),
        "Statement": draw(st.lists(valid_statements(), min_size=1, max_size=4)),
    }


# ------------------------------------------------------------------ properties


def evaluate(document: object) -> TrustVerdict:
    return evaluate_trust(document, ROLE, APPLIANCE, role_tags={"veeam:backup-role": "true"}, now=NOW)


def assert_well_formed(verdict: TrustVerdict) -> None:
    assert verdict.appliance_can_assume in ORDER
    assert (verdict.via is None) == (verdict.appliance_can_assume == "no")
    assert verdict.via in (None, "role_arn", "account_root", "wildcard")
    assert verdict.risks <= set(RISKS)
    assert verdict.reasons
    assert all(isinstance(reason, str) and reason for reason in verdict.reasons)
    if "malformed" in verdict.risks:
        assert verdict.appliance_can_assume == "no"
    json.dumps(verdict.to_dict())


@given(json_values)
def test_arbitrary_json_values_give_a_well_formed_verdict(document: object) -> None:
    assert_well_formed(evaluate(document))


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_and_bytes_give_a_well_formed_verdict(document: object) -> None:
    assert_well_formed(evaluate(document))


@given(policies() | valid_policies())
def test_policy_shaped_documents_give_a_well_formed_verdict(document: dict[str, Any]) -> None:
    assert_well_formed(evaluate(document))


@given(mutated_corpus_documents())
def test_mutated_corpus_documents_give_a_well_formed_verdict(document: object) -> None:
    assert_well_formed(evaluate(document))


# The appliance as described with less configuration: no organization id, the role's tags unknown.
LESS_KNOWN = make_appliance(APPLIANCE_ARN, role_id="AROAAPPLIANCEEXAMPLE1")


@given(policies() | valid_policies())
def test_policy_shaped_documents_decided_with_less_knowledge_keep_their_answer(document: dict[str, Any]) -> None:
    # Knowing more (the organization id, the role's tags) may decide a conditional answer, never change a
    # decided one: every value the engine treats as known or bounded must lie inside what it assumed before.
    less = evaluate_trust(document, ROLE, LESS_KNOWN, role_tags=None, now=NOW)
    more = evaluate(document)
    if less.appliance_can_assume != "conditional":
        assert more.appliance_can_assume == less.appliance_can_assume


@given(policies() | valid_policies())
def test_every_input_encoding_gives_the_same_verdict(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    expected = evaluate(document).to_dict()
    assert evaluate(text).to_dict() == expected
    assert evaluate(quote(text)).to_dict() == expected


@given(policies() | valid_policies(), st.randoms(use_true_random=False))
def test_statement_order_does_not_change_the_decision(document: dict[str, Any], rng: Any) -> None:
    shuffled = dict(document, Statement=list(document["Statement"]))
    rng.shuffle(shuffled["Statement"])
    before, after = evaluate(document), evaluate(shuffled)
    assert (before.appliance_can_assume, before.via, before.risks) == (
        after.appliance_can_assume,
        after.via,
        after.risks,
    )


@given(valid_policies())
def test_an_unconditional_deny_for_everyone_always_wins(document: dict[str, Any]) -> None:
    assert not parse_policy(document, "trust").malformed
    locked = dict(
        document,
        Statement=[*document["Statement"], {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}],
    )
    assert evaluate(locked).appliance_can_assume == "no"


@given(valid_policies())
def test_adding_an_allow_for_the_appliance_never_lowers_the_answer(document: dict[str, Any]) -> None:
    assert not parse_policy(document, "trust").malformed
    allowed = dict(
        document,
        Statement=[
            *document["Statement"],
            {"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"},
        ],
    )
    assert ORDER[evaluate(allowed).appliance_can_assume] >= ORDER[evaluate(document).appliance_can_assume]


@given(valid_policies())
def test_removing_deny_statements_never_lowers_the_answer(document: dict[str, Any]) -> None:
    allows_only = dict(document, Statement=[s for s in document["Statement"] if s.get("Effect") != "Deny"])
    assume(allows_only["Statement"])
    assert ORDER[evaluate(allows_only).appliance_can_assume] >= ORDER[evaluate(document).appliance_can_assume]


@given(st.text(max_size=80))
def test_a_bad_role_arn_raises_only_the_documented_error(role_arn: str) -> None:
    try:
        verdict = evaluate_trust({"Statement": []}, role_arn, APPLIANCE)
    except InvalidArnError:
        return
    assert_well_formed(verdict)


@given(st.lists(json_values | policies(), max_size=3), json_values | st.none())
def test_identity_evaluation_never_raises(documents: list[object], boundary: object) -> None:
    verdict = evaluate_identity(
        [NamedPolicy(f"p{i}", document) for i, document in enumerate(documents)],
        ROLE,
        APPLIANCE,
        boundary=None if boundary is None else NamedPolicy("boundary", boundary),
        now=NOW,
    )
    assert verdict.allows_assume_role in ORDER
    assert verdict.reasons
