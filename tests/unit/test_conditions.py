"""Condition operators, one rule per test, decided for the appliance's request context."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from veeam_role_auditor.policy import make_appliance, parse_role_arn
from veeam_role_auditor.policy.conditions import evaluate_clause
from veeam_role_auditor.policy.context import RequestContext
from veeam_role_auditor.policy.document import parse_policy
from veeam_role_auditor.policy.tri import Tri

APPLIANCE = make_appliance(
    "arn:aws:iam::111122223333:role/veeam/Imp", role_id="AROAAPPLIANCEEXAMPLE1", org_id="o-a1b2c3d4e5"
)
ROLE = parse_role_arn("arn:aws:iam::111122223333:role/Repo")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TAGS = {"veeam:backup-role": "true", "Owner": "ops"}


def decide(operator: str, key: str, values: object, *, version: str = "2012-10-17", tags=TAGS) -> Tri:
    policy = parse_policy(
        {
            "Version": version,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "sts:AssumeRole",
                    "Condition": {operator: {key: values}},
                }
            ],
        },
        "trust",
    )
    assert policy.errors == ()
    (clause,) = policy.statements[0].conditions
    context = RequestContext(APPLIANCE, resource=ROLE, resource_tags=tags, now=NOW)
    return evaluate_clause(clause, context, policy.resolves_variables)


@pytest.mark.parametrize(
    ("operator", "key", "values", "expected"),
    [
        # Numeric: compared as numbers.
        ("NumericLessThan", "aws:EpochTime", "1900000000", Tri.TRUE),
        ("NumericGreaterThanEquals", "aws:EpochTime", "1795867200", Tri.TRUE),
        ("NumericEquals", "aws:EpochTime", "1795867200.0", Tri.TRUE),
        ("NumericNotEquals", "aws:EpochTime", "1795867200", Tri.FALSE),
        ("NumericLessThan", "aws:EpochTime", "not-a-number", Tri.FALSE),
        # Dates: ISO 8601 with or without time or zone, or epoch seconds.
        ("DateGreaterThan", "aws:CurrentTime", "2026-11-28", Tri.TRUE),
        ("DateEquals", "aws:CurrentTime", "2026-11-28T12:00:00Z", Tri.TRUE),
        ("DateEquals", "aws:CurrentTime", "2026-11-28T13:00:00+01:00", Tri.TRUE),
        ("DateNotEquals", "aws:CurrentTime", "2026-11-28T12:00:00Z", Tri.FALSE),
        ("DateLessThanEquals", "aws:CurrentTime", "1795867200", Tri.TRUE),
        ("DateLessThan", "aws:CurrentTime", "yesterday", Tri.FALSE),
        # Every W3C profile of ISO 8601 (year and month; lower-case designators), with the current time
        # of the tests, 2026-11-28T12:00:00Z.
        ("DateLessThan", "aws:CurrentTime", "2026-12", Tri.TRUE),
        ("DateGreaterThanEquals", "aws:CurrentTime", "2026-11", Tri.TRUE),
        ("DateLessThan", "aws:CurrentTime", "2026-11", Tri.FALSE),
        ("DateEquals", "aws:CurrentTime", "2026-11-28t12:00:00z", Tri.TRUE),
        # Bool: case-insensitive text.
        ("Bool", "aws:PrincipalIsAWSService", "FALSE", Tri.TRUE),
        ("Bool", "aws:PrincipalIsAWSService", True, Tri.FALSE),
        # Binary: base64 of the value.
        ("BinaryEquals", "aws:PrincipalType", "QXNzdW1lZFJvbGU=", Tri.TRUE),
        ("BinaryEquals", "aws:PrincipalType", "not base64!", Tri.FALSE),
        # IP: unknown for the appliance, whatever the network.
        ("IpAddress", "aws:SourceIp", "10.0.0.0/8", Tri.UNKNOWN),
        ("NotIpAddress", "aws:SourceIp", "2001:db8::/32", Tri.UNKNOWN),
        # Missing keys: false, except for negated operators; IfExists true.
        ("StringEquals", "aws:SourceArn", "x", Tri.FALSE),
        ("StringNotLike", "aws:SourceArn", "x", Tri.TRUE),
        ("ArnNotEquals", "aws:SourceArn", "arn:aws:s3:::b", Tri.TRUE),
        ("NotIpAddress", "aws:SourceIpNotAKey", "10.0.0.0/8", Tri.TRUE),
        ("StringEqualsIfExists", "aws:SourceArn", "x", Tri.TRUE),
        ("ArnLikeIfExists", "aws:SourceArn", "x", Tri.TRUE),
        # Null tests presence only.
        ("Null", "aws:SourceArn", "true", Tri.TRUE),
        ("Null", "aws:PrincipalArn", "false", Tri.TRUE),
        ("Null", "aws:PrincipalArn", "true", Tri.FALSE),
        ("Null", "aws:SourceVpc", "true", Tri.UNKNOWN),
        ("Null", "aws:SecureTransport", "false", Tri.TRUE),
        # aws:SourceIp is absent when the call goes through a VPC endpoint: presence unknown too.
        ("Null", "aws:SourceIp", "false", Tri.UNKNOWN),
        ("Null", "aws:SourceIp", "true", Tri.UNKNOWN),
        # Set operators.
        ("ForAnyValue:StringEquals", "aws:PrincipalAccount", ["999988887777", "111122223333"], Tri.TRUE),
        ("ForAllValues:StringEquals", "aws:PrincipalAccount", ["999988887777"], Tri.FALSE),
        ("ForAllValues:StringNotEquals", "aws:PrincipalAccount", ["999988887777"], Tri.TRUE),
        ("ForAnyValue:StringNotEquals", "aws:CalledVia", "x", Tri.FALSE),
        ("ForAllValues:StringNotEquals", "aws:CalledVia", "x", Tri.TRUE),
        ("ForAnyValue:StringEqualsIfExists", "aws:CalledVia", "x", Tri.TRUE),
        # Maybe-present keys.
        ("StringEquals", "aws:SourceVpc", "vpc-1", Tri.UNKNOWN),
        ("StringLike", "aws:SourceIp", "*", Tri.UNKNOWN),
        ("StringNotLike", "aws:SourceIp", "*", Tri.UNKNOWN),
        ("StringLike", "aws:SecureTransport", "*", Tri.TRUE),
        ("StringNotLike", "aws:SecureTransport", "*", Tri.FALSE),
        ("StringLike", "aws:SourceVpc", "*", Tri.UNKNOWN),
        ("StringLike", "aws:PrincipalTag/team", "backup", Tri.UNKNOWN),
        # aws:userid: known prefix, unknown session name.
        ("StringLike", "aws:userid", "AROAAPPLIANCEEXAMPLE1:*", Tri.TRUE),
        ("StringNotLike", "aws:userid", "AROAAPPLIANCEEXAMPLE1:*", Tri.FALSE),
        ("StringEqualsIgnoreCase", "aws:userid", "aroaapplianceexample1:i-0abc", Tri.UNKNOWN),
        ("StringEquals", "aws:userid", "AIDAOTHER:x", Tri.FALSE),
        ("StringNotEquals", "aws:userid", "AIDAOTHER:x", Tri.TRUE),
        # Resource tags of the audited role; tag keys are case-insensitive in condition keys.
        ("StringEquals", "aws:ResourceTag/Veeam:Backup-Role", "true", Tri.TRUE),
        ("StringEquals", "iam:ResourceTag/owner", "ops", Tri.TRUE),
        ("StringEquals", "aws:ResourceTag/missing", "x", Tri.FALSE),
        # MFA: a role session's temporary credentials carry the key; never "true" for an instance profile.
        ("Bool", "aws:MultiFactorAuthPresent", "false", Tri.TRUE),
        ("Bool", "aws:MultiFactorAuthPresent", "true", Tri.FALSE),
        ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", Tri.FALSE),
        ("Null", "aws:MultiFactorAuthPresent", "true", Tri.FALSE),
    ],
)
def test_operator_semantics(operator: str, key: str, values: object, expected: Tri) -> None:
    assert decide(operator, key, values) is expected


def test_resource_tags_unknown_when_not_supplied() -> None:
    assert decide("StringEquals", "aws:ResourceTag/veeam:backup-role", "true", tags=None) is Tri.UNKNOWN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${aws:PrincipalAccount}", Tri.TRUE),
        ("${ aws:principalaccount }", Tri.TRUE),  # key names are case-insensitive, spaces ignored
        ("${aws:username, '111122223333'}", Tri.TRUE),
        ("${aws:PrincipalTag/team}", Tri.UNKNOWN),
        ("${aws:SourceIp, '111122223333'}", Tri.UNKNOWN),
        ("1111${*}", Tri.FALSE),
        ("${$}111122223333", Tri.FALSE),
        ("${unclosed", Tri.FALSE),
    ],
)
def test_policy_variables_in_string_conditions(value: str, expected: Tri) -> None:
    assert decide("StringEquals", "aws:PrincipalAccount", value) is expected


def test_variable_literal_characters_do_not_act_as_wildcards() -> None:
    assert decide("StringLike", "aws:PrincipalType", "Assumed*") is Tri.TRUE
    assert decide("StringLike", "aws:PrincipalType", "Assumed${*}") is Tri.FALSE
    assert decide("StringLike", "aws:PrincipalType", "Assumed${?}ole") is Tri.FALSE


def test_variables_are_literal_text_under_version_2008() -> None:
    assert decide("StringEquals", "aws:PrincipalAccount", "${aws:PrincipalAccount}", version="2008-10-17") is Tri.FALSE
    assert decide("StringLike", "aws:PrincipalAccount", "${*}", version="2008-10-17") is Tri.FALSE


def test_variables_are_not_resolved_in_numeric_operators() -> None:
    assert decide("NumericEquals", "aws:EpochTime", "${aws:EpochTime}") is Tri.FALSE
