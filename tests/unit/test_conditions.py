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


def decide(
    operator: str,
    key: str,
    values: object,
    *,
    version: str = "2012-10-17",
    tags=TAGS,
    appliance=APPLIANCE,
) -> Tri:
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
    context = RequestContext(appliance, resource=ROLE, resource_tags=tags, now=NOW)
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
        # aws:userid of an EC2 instance role session: <role id>:<instance id>, instance ids start with i-.
        ("StringLike", "aws:userid", "AROAAPPLIANCEEXAMPLE1:*", Tri.TRUE),
        ("StringLike", "aws:userid", "AROAAPPLIANCEEXAMPLE1:i-*", Tri.TRUE),
        ("StringNotLike", "aws:userid", "AROAAPPLIANCEEXAMPLE1:*", Tri.FALSE),
        ("StringEqualsIgnoreCase", "aws:userid", "aroaapplianceexample1:i-0abc", Tri.UNKNOWN),
        ("StringEquals", "aws:userid", "AIDAOTHER:x", Tri.FALSE),
        ("StringNotEquals", "aws:userid", "AIDAOTHER:x", Tri.TRUE),
        ("StringEquals", "aws:userid", "AROAAPPLIANCEEXAMPLE1:veeam", Tri.FALSE),
        ("StringLike", "aws:userid", "AROAAPPLIANCEEXAMPLE1:j-*", Tri.FALSE),
        ("StringEquals", "aws:userid", "AROAAPPLIANCEEXAMPLE1:i-", Tri.FALSE),  # the instance id is not empty
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


# ------------------------------------------------------------------ organization paths (--appliance-org-id)
# IAM User Guide, "AWS global condition context keys", aws:PrincipalOrgPaths: present "only if the principal
# is a member of an organization"; a path is o-<org>/r-<root>/ou-.../ (the root ID begins with "r-").


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("ForAnyValue:StringLike", "o-a1b2c3d4e5/*", Tri.TRUE),
        ("ForAllValues:StringLike", "o-a1b2c3d4e5/*", Tri.TRUE),
        # Without a set operator only a false answer holds under every reading (policy.limits).
        ("StringLike", "o-a1b2c3d4e5/*", Tri.UNKNOWN),
        ("StringLike", "o-zzzzzzzzzz/*", Tri.FALSE),
        ("StringNotLike", "o-a1b2c3d4e5/*", Tri.FALSE),
        ("ForAnyValue:StringLike", "*", Tri.TRUE),
        ("ForAnyValue:StringLike", "o-zzzzzzzzzz/*", Tri.FALSE),
        ("ForAllValues:StringLike", "o-zzzzzzzzzz/*", Tri.FALSE),  # present, so not vacuously true
        ("ForAnyValue:StringLike", ["o-zzzzzzzzzz/*", "o-a1b2c3d4e5/*"], Tri.TRUE),
        ("ForAnyValue:StringNotLike", "o-zzzzzzzzzz/*", Tri.TRUE),
        ("ForAllValues:StringNotLike", "o-a1b2c3d4e5/*", Tri.FALSE),
        ("ForAnyValue:StringLike", "o-a1b2c3d4e5/ou-*", Tri.FALSE),  # every path goes through the root
        ("ForAnyValue:StringLike", "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*", Tri.UNKNOWN),
        ("ForAnyValue:StringEquals", "o-a1b2c3d4e5/r-ab12/", Tri.UNKNOWN),
        # StringEquals takes "*" literally: no path is "o-a1b2c3d4e5/*" or starts with another org.
        ("StringEquals", "o-a1b2c3d4e5/*", Tri.FALSE),
        ("ForAnyValue:StringEquals", "o-a1b2c3d4e5/*", Tri.FALSE),
        ("StringNotEquals", "o-zzzzzzzzzz/*", Tri.UNKNOWN),
        ("StringEqualsIgnoreCase", "O-A1B2C3D4E5/*", Tri.FALSE),
        ("Null", "true", Tri.FALSE),
        ("Null", "false", Tri.TRUE),
        ("ForAnyValue:StringLikeIfExists", "o-zzzzzzzzzz/*", Tri.FALSE),
    ],
)
def test_organization_paths_are_known_by_their_prefix(operator: str, values: object, expected: Tri) -> None:
    assert decide(operator, "aws:PrincipalOrgPaths", values) is expected


def test_organization_paths_without_an_organization_id_stay_unknown() -> None:
    appliance = make_appliance("arn:aws:iam::111122223333:role/veeam/Imp", role_id="AROAAPPLIANCEEXAMPLE1")
    assert decide("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", "o-a1b2c3d4e5/*", appliance=appliance) is (
        Tri.UNKNOWN
    )
    assert decide("Null", "aws:PrincipalOrgPaths", "true", appliance=appliance) is Tri.UNKNOWN


def test_resource_organization_paths_are_known_for_a_role_in_the_appliance_account() -> None:
    assert decide("ForAnyValue:StringLike", "aws:ResourceOrgPaths", "o-a1b2c3d4e5/*") is Tri.TRUE
    assert decide("ForAnyValue:StringLike", "aws:ResourceOrgPaths", "o-zzzzzzzzzz/*") is Tri.FALSE


# ------------------------------------------------------------------ documented ranges of unknown values


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        # aws:TokenIssueTime: present, and not later than now (2026-11-28T12:00:00Z).
        ("DateLessThan", "2030-01-01T00:00:00Z", Tri.TRUE),
        ("DateLessThanEquals", "2026-11-28T12:00:00Z", Tri.TRUE),
        ("DateLessThan", "2026-11-28T12:00:00Z", Tri.UNKNOWN),  # issued exactly now is possible
        ("DateLessThan", "2026-01-01T00:00:00Z", Tri.UNKNOWN),
        ("DateGreaterThan", "2026-11-28T12:00:00Z", Tri.FALSE),
        ("DateGreaterThan", "2026-01-01", Tri.UNKNOWN),
        ("DateGreaterThanEquals", "2027-01-01", Tri.FALSE),
        ("DateGreaterThanEquals", "2026-11-28T12:00:00Z", Tri.UNKNOWN),
        ("DateEquals", "2027-01-01", Tri.FALSE),
        ("DateNotEquals", "2027-01-01", Tri.TRUE),
        ("DateNotEquals", "2026-01-01", Tri.UNKNOWN),
        ("DateLessThan", "1893456000", Tri.TRUE),  # epoch seconds: 2030-01-01
        ("DateLessThan", "not a date", Tri.FALSE),
        ("DateLessThan", ["not a date", "2030-01-01"], Tri.TRUE),
        ("DateLessThanIfExists", "2030-01-01", Tri.TRUE),
        ("StringLike", "*", Tri.TRUE),
        ("StringEquals", "2026-01-01T00:00:00Z", Tri.UNKNOWN),
        ("Null", "true", Tri.FALSE),
    ],
)
def test_token_issue_time_is_not_later_than_now(operator: str, values: object, expected: Tri) -> None:
    assert decide(operator, "aws:TokenIssueTime", values) is expected


@pytest.mark.parametrize(
    ("operator", "key", "values", "expected"),
    [
        ("Bool", "aws:SecureTransport", "true", Tri.UNKNOWN),
        ("Bool", "aws:SecureTransport", ["true", "false"], Tri.TRUE),
        ("StringEquals", "aws:SecureTransport", "yes", Tri.FALSE),
        ("BoolIfExists", "aws:SecureTransport", "false", Tri.UNKNOWN),
        ("Null", "aws:SecureTransport", "false", Tri.TRUE),
        ("NumericLessThan", "ec2:RoleDelivery", "3", Tri.TRUE),
        ("NumericLessThan", "ec2:RoleDelivery", "2.0", Tri.UNKNOWN),
        ("NumericGreaterThanEquals", "ec2:RoleDelivery", "1", Tri.TRUE),
        ("NumericEquals", "ec2:RoleDelivery", "3", Tri.FALSE),
    ],
)
def test_keys_with_a_documented_set_of_values(operator: str, key: str, values: object, expected: Tri) -> None:
    assert decide(operator, key, values) is expected


def test_userid_without_the_role_id_still_starts_with_a_role_unique_id() -> None:
    appliance = make_appliance("arn:aws:iam::111122223333:role/veeam/Imp", org_id="o-a1b2c3d4e5")
    assert decide("StringLike", "aws:userid", "AROA*", appliance=appliance) is Tri.TRUE
    assert decide("StringLike", "aws:userid", "AIDA*", appliance=appliance) is Tri.FALSE
    assert decide("StringLike", "aws:userid", "AROA*:i-*", appliance=appliance) is Tri.UNKNOWN


# ------------------------------------------------------------------ policy variables with no value
# IAM User Guide, "IAM policy elements: Variables and tags", "Policy variables with no value": operators
# like StringEquals or StringLike "do not match"; "Inverted condition operators like StringNotEquals or
# StringNotLike do match against a null value".


@pytest.mark.parametrize(
    ("operator", "key", "values", "expected"),
    [
        ("StringEquals", "aws:PrincipalAccount", "${aws:username}", Tri.FALSE),
        ("StringNotEquals", "aws:PrincipalAccount", "${aws:username}", Tri.TRUE),
        ("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:${aws:username}*", Tri.FALSE),
        ("StringNotLike", "aws:PrincipalArn", "arn:aws:iam::*:${aws:username}*", Tri.TRUE),
        ("StringEqualsIgnoreCase", "aws:PrincipalType", "${aws:SourceArn}", Tri.FALSE),
        ("StringNotEqualsIgnoreCase", "aws:PrincipalType", "${aws:SourceArn}", Tri.TRUE),
        ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::111122223333:role/${aws:username}", Tri.FALSE),
        ("ArnNotLike", "aws:PrincipalArn", "arn:aws:iam::111122223333:role/${aws:username}", Tri.TRUE),
        # A null value among others: the others decide (ORed; NORed when negated).
        ("StringEquals", "aws:PrincipalAccount", ["${aws:username}", "111122223333"], Tri.TRUE),
        ("StringNotEquals", "aws:PrincipalAccount", ["${aws:username}", "111122223333"], Tri.FALSE),
        ("StringNotEquals", "aws:PrincipalAccount", ["${aws:username}", "999988887777"], Tri.TRUE),
        # One variable with no value makes the whole value null, even next to an unknown one.
        ("StringEquals", "aws:PrincipalAccount", "${aws:SourceIp}${aws:username}", Tri.FALSE),
        ("StringNotEquals", "aws:PrincipalAccount", "${aws:SourceIp}${aws:username}", Tri.TRUE),
        # The default value is used instead.
        ("StringNotEquals", "aws:PrincipalAccount", "${aws:username, '111122223333'}", Tri.FALSE),
        # Set operators compare each request value with the null value: never equal.
        ("ForAnyValue:StringEquals", "aws:PrincipalAccount", "${aws:username}", Tri.FALSE),
        ("ForAllValues:StringNotEquals", "aws:PrincipalAccount", "${aws:username}", Tri.TRUE),
        # Keys with an unknown value: null values are decided all the same.
        ("StringEquals", "aws:SourceIp", "${aws:username}", Tri.FALSE),
        ("StringNotEquals", "aws:RequestedRegion", "${aws:username}", Tri.TRUE),
        ("StringEquals", "aws:userid", "${aws:username}", Tri.FALSE),
        ("StringNotEquals", "aws:userid", "${aws:username}", Tri.TRUE),
        # Absent keys: as without variables.
        ("StringNotEquals", "aws:SourceArn", "${aws:username}", Tri.TRUE),
        ("StringEqualsIfExists", "aws:SourceArn", "${aws:username}", Tri.TRUE),
    ],
)
def test_policy_variables_with_no_value(operator: str, key: str, values: object, expected: Tri) -> None:
    assert decide(operator, key, values) is expected


def test_variables_with_no_value_are_literal_text_under_version_2008() -> None:
    assert decide("StringNotEquals", "aws:PrincipalAccount", "${aws:username}", version="2008-10-17") is Tri.TRUE
    assert decide("StringEquals", "aws:PrincipalAccount", "${aws:username}", version="2008-10-17") is Tri.FALSE
