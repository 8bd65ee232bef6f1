"""Each choice listed in policy.limits (where the IAM User Guide is silent or contradicts itself), pinned."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from veeam_role_auditor.policy import evaluate_trust, limits, make_appliance, parse_policy
from veeam_role_auditor.policy.limits import KNOWN_LIMITS

APPLIANCE_ARN = "arn:aws:iam::111122223333:role/veeam/Imp"
APPLIANCE = make_appliance(APPLIANCE_ARN, role_id="AROAAPPLIANCEEXAMPLE1", org_id="o-a1b2c3d4e5")
ROLE = "arn:aws:iam::111122223333:role/Repo"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def answer(condition: dict[str, Any] | None = None, **statement: Any) -> str:
    body: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}
    if condition is not None:
        body["Condition"] = condition
    body.update(statement)
    document = {"Version": "2012-10-17", "Statement": [body]}
    return evaluate_trust(document, ROLE, APPLIANCE, role_tags={}, now=NOW).appliance_can_assume


def test_every_limit_names_its_page_and_choice() -> None:
    assert len({limit.name for limit in KNOWN_LIMITS}) == len(KNOWN_LIMITS)
    for limit in KNOWN_LIMITS:
        assert limit.page, limit.name
        assert limit.guide, limit.name
        assert limit.choice, limit.name


def test_single_valued_operator_on_a_multivalued_key() -> None:
    assert limits.SINGLE_VALUED_OPERATOR_ON_MULTIVALUED_KEY in KNOWN_LIMITS
    # Only a false answer holds under every reading (any value, every value, or never a match).
    assert answer({"StringLike": {"aws:PrincipalOrgPaths": "o-zzzzzzzzzz/*"}}) == "no"
    assert answer({"StringNotLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"}}) == "no"
    assert answer({"StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"}}) == "conditional"
    assert answer({"StringNotEquals": {"aws:PrincipalOrgPaths": "o-zzzzzzzzzz/*"}}) == "conditional"
    assert answer({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"}}) == "yes"


def test_if_exists_wins_over_for_any_value_on_an_absent_key() -> None:
    assert limits.IF_EXISTS_WITH_SET_OPERATOR_ON_ABSENT_KEY in KNOWN_LIMITS
    assert answer({"ForAnyValue:StringEqualsIfExists": {"aws:CalledVia": "x"}}) == "yes"
    assert answer({"ForAnyValue:StringEquals": {"aws:CalledVia": "x"}}) == "no"


@pytest.mark.parametrize("operator", ["stringEquals", "STRINGEQUALS", "forAnyValue:StringEquals"])
def test_operator_names_are_case_sensitive(operator: str) -> None:
    assert limits.OPERATOR_NAME_CASE in KNOWN_LIMITS
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "sts:AssumeRole",
                "Condition": {operator: {"aws:PrincipalAccount": "111122223333"}},
            }
        ],
    }
    assert parse_policy(document, "trust").malformed


@pytest.mark.parametrize("value", ["FALSE", "False", "false"])
def test_bool_values_compare_without_case(value: str) -> None:
    assert limits.BOOL_VALUE_CASE in KNOWN_LIMITS
    assert answer({"Bool": {"aws:MultiFactorAuthPresent": value}}) == "yes"


def test_a_multivalued_key_as_a_variable_is_unknown() -> None:
    assert limits.MULTIVALUED_VARIABLE in KNOWN_LIMITS
    assert answer({"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalOrgPaths}"}}) == "conditional"


def test_the_section_on_variables_with_no_value_wins() -> None:
    assert limits.NO_VALUE_VARIABLE in KNOWN_LIMITS
    assert answer({"StringNotEquals": {"aws:PrincipalAccount": "${aws:username}"}}) == "yes"
    assert answer({"StringEquals": {"aws:PrincipalAccount": "${aws:username}"}}) == "no"


def test_not_principal_makes_a_trust_policy_malformed() -> None:
    assert limits.NOT_PRINCIPAL_IN_TRUST in KNOWN_LIMITS
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"},
        ],
    }
    verdict = evaluate_trust(document, ROLE, APPLIANCE, now=NOW)
    assert (verdict.appliance_can_assume, sorted(verdict.risks)) == ("no", ["malformed", "not_principal"])
    assert "risk not_principal: Statement[1] uses NotPrincipal" in verdict.reasons


def test_token_issue_time_has_no_lower_bound() -> None:
    assert limits.TOKEN_ISSUE_TIME_LOWER_BOUND in KNOWN_LIMITS
    assert answer({"DateGreaterThan": {"aws:TokenIssueTime": "2000-01-01T00:00:00Z"}}) == "conditional"


def test_an_assumed_role_session_principal_stays_conditional() -> None:
    assert limits.EC2_SESSION_NAME in KNOWN_LIMITS
    session = "arn:aws:sts::111122223333:assumed-role/Imp/not-an-instance-id"
    assert answer(Principal={"AWS": session}) == "conditional"


def test_an_arn_pattern_without_six_components_matches_nothing() -> None:
    assert limits.ARN_OPERATOR_WITHOUT_SIX_COMPONENTS in KNOWN_LIMITS
    assert answer({"ArnLike": {"aws:PrincipalArn": "*"}}) == "no"
    assert answer({"ArnNotLike": {"aws:PrincipalArn": "*"}}) == "yes"
