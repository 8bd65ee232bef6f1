"""Trust policies over the condition keys the engine models, for the differential test.

Every key has values that do and do not hold for the appliance's session, wildcards, policy variables
(known, unknown and with no value) and the operators of its data type, so that the engine's every kind
of knowledge (known, absent, maybe present, a prefix, one of a set, a date not after now) is exercised.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ACCOUNT = "111122223333"
OTHER = "999988887777"
APPLIANCE_ARN = f"arn:aws:iam::{ACCOUNT}:role/veeam/Imp"
ROLE_ID = "AROAAPPLIANCEEXAMPLE1"
ORG = "o-a1b2c3d4e5"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/VeeamRepo"
ROLE_TAGS = {"team": "backup"}

STRING = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
)
ARN = ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike")
DATE = ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals")
NUMERIC = (
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
)
BOOL = ("Bool",)
IP = ("IpAddress", "NotIpAddress")

VARIABLES = (
    "${aws:PrincipalAccount}",
    "${aws:username}",
    "${aws:PrincipalTag/team}",
    "${aws:ResourceTag/team}",
    "${aws:username, 'x'}",
    "${*}",
)

# key -> (operators, values)
KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # known
    "aws:PrincipalArn": (
        ARN + STRING,
        (
            APPLIANCE_ARN,
            f"arn:aws:iam::{ACCOUNT}:role/Imp",
            f"arn:aws:iam::{ACCOUNT}:role/veeam/*",
            "arn:aws:iam::*:role/veeam/Imp",
            f"arn:aws:iam::{OTHER}:role/veeam/Imp",
            "arn:aws:iam::*:role/*",
            "*",
            f"arn:aws:iam::{ACCOUNT}:role/veeam/imp",
            f"arn:aws:iam::{ACCOUNT}:role/${{aws:PrincipalTag/team}}",
            "arn:aws:iam::${aws:PrincipalAccount}:role/veeam/Imp",
        ),
    ),
    "aws:PrincipalAccount": (STRING, (ACCOUNT, OTHER, "1111*", "${aws:ResourceAccount}", "${aws:username}")),
    "aws:PrincipalType": (STRING, ("AssumedRole", "assumedrole", "User", "Assumed*")),
    "aws:PrincipalOrgID": (STRING, (ORG, "o-zzzzzzzzzz", "o-*")),
    "aws:CurrentTime": (
        DATE,
        (
            "2026-11-28T12:00:00Z",
            "2020-01-01T00:00:00Z",
            "2030-01-01",
            "2026-11",
            "2026-11-29",
            "1795867200",
            "1700000000",
        ),
    ),
    "aws:EpochTime": (NUMERIC, ("1795867200", "1700000000", "1900000000")),
    "aws:MultiFactorAuthPresent": (BOOL, ("true", "false")),
    "aws:PrincipalIsAWSService": (BOOL, ("true", "false")),
    "aws:ViaAWSService": (BOOL, ("true", "false")),
    "aws:ResourceAccount": (STRING, (ACCOUNT, OTHER, "${aws:PrincipalAccount}")),
    "aws:ResourceTag/team": (STRING, ("backup", "ops", "back*", "${aws:PrincipalTag/team}")),
    # a known prefix
    "aws:userid": (STRING, (f"{ROLE_ID}:*", f"{ROLE_ID}:i-*", f"{ROLE_ID}:veeam", "AIDA*", "AROA*", "*")),
    "aws:PrincipalOrgPaths": (
        STRING,
        (f"{ORG}/*", "o-zzzzzzzzzz/*", f"{ORG}/r-ab12/*", f"{ORG}/r-ab12/ou-ab12-11111111/*", f"{ORG}/ou-*", "*"),
    ),
    "aws:ResourceOrgPaths": (STRING, (f"{ORG}/*", "o-zzzzzzzzzz/*", f"{ORG}/r-ab12/*")),
    # one of a set
    "aws:SecureTransport": (BOOL, ("true", "false")),
    "ec2:RoleDelivery": (NUMERIC, ("1.0", "2.0", "2", "3", "0")),
    # a date not later than now (2026-11-28T12:00:00Z)
    "aws:TokenIssueTime": (
        DATE,
        ("2030-01-01T00:00:00Z", "2026-11-28T12:00:00Z", "2026-01-01T00:00:00Z", "2000-01-01"),
    ),
    # absent for the appliance's AssumeRole
    "aws:SourceArn": (ARN + STRING, ("arn:aws:s3:::bucket", "*")),
    "aws:SourceAccount": (STRING, (ACCOUNT,)),
    "aws:username": (STRING, ("alice", "*")),
    "aws:MultiFactorAuthAge": (NUMERIC, ("3600",)),
    # maybe present, value unknown
    "aws:SourceIp": (IP, ("10.0.0.0/8", "203.0.113.0/24", "0.0.0.0/0")),
    "aws:PrincipalTag/team": (STRING, ("backup", "*")),
    "aws:TagKeys": (STRING, ("team", "Owner", "*")),
    "sts:ExternalId": (STRING, ("veeam-123", "*")),
    # present, value unknown
    "aws:RequestedRegion": (STRING, ("us-east-1", "eu-*", "*")),
}
MULTIVALUED = ("aws:PrincipalOrgPaths", "aws:ResourceOrgPaths", "aws:TagKeys")

PRINCIPALS = (
    APPLIANCE_ARN,
    f"arn:aws:iam::{ACCOUNT}:role/Imp",
    f"arn:aws:iam::{ACCOUNT}:root",
    ACCOUNT,
    f"arn:aws:iam::{OTHER}:root",
    ROLE_ID,
    "*",
)


@st.composite
def clause(draw: st.DrawFn) -> tuple[str, str, Any]:
    key = draw(st.sampled_from(sorted(KEYS)))
    operators, values = KEYS[key]
    if draw(st.integers(0, 9)) == 0:
        operator, chosen = "Null", draw(st.sampled_from(["true", "false"]))
        return operator, key, chosen
    operator = draw(st.sampled_from(operators))
    if key in MULTIVALUED or draw(st.integers(0, 9)) == 0:
        operator = draw(st.sampled_from(["ForAnyValue:", "ForAllValues:", "", ""])) + operator
    if draw(st.integers(0, 5)) == 0:
        operator += "IfExists"
    pool = values + (VARIABLES if operator.split(":")[-1].startswith(("String", "Arn")) else ())
    chosen_values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    return operator, key, chosen_values[0] if len(chosen_values) == 1 else chosen_values


@st.composite
def statement(draw: st.DrawFn) -> dict[str, Any]:
    effect = draw(st.sampled_from(["Allow", "Allow", "Deny"]))
    principal: Any = draw(st.sampled_from(PRINCIPALS))
    body: dict[str, Any] = {
        "Effect": effect,
        "Principal": "*" if principal == "*" and draw(st.booleans()) else {"AWS": principal},
        "Action": draw(st.sampled_from(["sts:AssumeRole", "sts:AssumeRole", "sts:*", "*"])),
    }
    if effect == "Deny" and principal != "*" and draw(st.integers(0, 9)) == 0:
        body["NotPrincipal"] = body.pop("Principal")  # cannot be used in a trust policy (family 4)
    condition: dict[str, dict[str, Any]] = {}
    for operator, key, values in draw(st.lists(clause(), min_size=0, max_size=3)):
        condition.setdefault(operator, {})[key] = values
    if condition:
        body["Condition"] = condition
    return body


@st.composite
def trust_policies(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"Statement": draw(st.lists(statement(), min_size=1, max_size=3))}
    if draw(st.integers(0, 9)):
        document["Version"] = "2012-10-17"
    else:
        document["Version"] = draw(st.sampled_from(["2008-10-17", None]))
        if document["Version"] is None:
            del document["Version"]
    return document
