"""The identity side: do the Impersonation role's own policies allow sts:AssumeRole on the role?"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from veeam_role_auditor.policy import NamedPolicy, evaluate_identity, make_appliance

APPLIANCE = make_appliance("arn:aws:iam::111122223333:role/veeam/Imp", role_id="AROAAPPLIANCEEXAMPLE1")
ROLE = "arn:aws:iam::111122223333:role/backup/VeeamRepo"
TAGGED = {"veeam:backup-role": "true"}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def policy(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(resource: object = "*", action: object = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def answer(*documents: dict[str, Any], boundary: dict[str, Any] | None = None, tags=TAGGED) -> str:
    named = [NamedPolicy(f"inline Policy{i}", doc) for i, doc in enumerate(documents)]
    verdict = evaluate_identity(
        named,
        ROLE,
        APPLIANCE,
        boundary=NamedPolicy("boundary", boundary) if boundary else None,
        role_tags=tags,
        now=NOW,
    )
    assert verdict.reasons
    return verdict.allows_assume_role


def test_veeam_documented_policy_allows() -> None:
    assert answer(policy(allow())) == "yes"


def test_no_policy_means_implicit_deny() -> None:
    assert answer() == "no"


def test_policy_scoped_by_the_veeam_tag_allows_tagged_roles() -> None:
    scoped = policy(allow(Condition={"StringEquals": {"aws:ResourceTag/veeam:backup-role": "true"}}))
    assert answer(scoped) == "yes"
    assert answer(scoped, tags={"Owner": "ops"}) == "no"
    assert answer(scoped, tags=None) == "conditional"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("arn:aws:iam::111122223333:role/backup/*", "yes"),
        ("arn:aws:iam::111122223333:role/*", "yes"),
        ("arn:aws:iam::*:role/backup/VeeamRepo", "yes"),
        ("arn:aws:iam::111122223333:role/VeeamRepo", "no"),  # path missing
        ("arn:aws:iam::111122223333:role/backup/veeamrepo", "no"),  # resource ARNs are case-sensitive
        (["arn:aws:iam::999988887777:role/*", "arn:aws:iam::111122223333:role/backup/Veeam?epo"], "yes"),
        ("arn:aws:iam::${aws:PrincipalAccount}:role/backup/*", "yes"),
        ("arn:aws:iam::${aws:PrincipalTag/account}:role/backup/*", "conditional"),
    ],
)
def test_resource_patterns(resource: object, expected: str) -> None:
    assert answer(policy(allow(resource))) == expected


def test_a_resource_with_a_variable_with_no_value_matches_no_resource() -> None:
    # IAM User Guide, "IAM policy elements: Variables and tags", "Policy variables with no value": "the
    # resource that includes a policy variable with no value will not match any resource".
    assert answer(policy(allow("arn:aws:iam::111122223333:role/${aws:username}/*"))) == "no"
    not_resource = {"Effect": "Allow", "Action": "sts:AssumeRole", "NotResource": "arn:aws:iam::*:role/${aws:username}"}
    assert answer(policy(not_resource)) == "yes"
    deny = {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/${aws:username}*"}
    assert answer(policy(allow(), deny)) == "yes"


def test_variables_in_resource_are_literal_under_2008() -> None:
    assert answer(policy(allow("arn:aws:iam::${aws:PrincipalAccount}:role/*"), version="2008-10-17")) == "no"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("sts:*", "yes"),
        ("*", "yes"),
        ("STS:ASSUMEROLE", "yes"),
        ("sts:AssumeRoleWith*", "no"),
        ("iam:*", "no"),
    ],
)
def test_actions(action: str, expected: str) -> None:
    assert answer(policy(allow(action=action))) == expected


def test_not_resource_and_not_action() -> None:
    assert answer(policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::*"})) == "yes"
    assert answer(policy({"Effect": "Allow", "Action": "sts:AssumeRole", "NotResource": ROLE})) == "no"


def test_explicit_deny_in_another_policy_wins() -> None:
    deny = policy({"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/backup/*"})
    assert answer(policy(allow()), deny) == "no"


def test_deny_under_unknown_condition_makes_it_conditional() -> None:
    deny = policy(
        {
            "Effect": "Deny",
            "Action": "sts:AssumeRole",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }
    )
    assert answer(policy(allow()), deny) == "conditional"


def test_permissions_boundary_must_also_allow() -> None:
    assert answer(policy(allow()), boundary=policy(allow(action="s3:*"))) == "no"
    assert answer(policy(allow()), boundary=policy(allow(action="sts:*"))) == "yes"
    assert answer(boundary=policy(allow())) == "no"  # a boundary grants nothing by itself


def test_deny_in_boundary_wins() -> None:
    boundary = policy(allow(action="*"), {"Effect": "Deny", "Action": "sts:*", "Resource": ROLE})
    assert answer(policy(allow()), boundary=boundary) == "no"


def test_malformed_identity_policy_is_named_and_ignored() -> None:
    verdict = evaluate_identity(
        [NamedPolicy("inline Broken", "{not json"), NamedPolicy("inline Good", policy(allow()))],
        ROLE,
        APPLIANCE,
    )
    assert verdict.allows_assume_role == "yes"
    assert verdict.malformed == ("inline Broken",)
    assert verdict.reasons[0].startswith("inline Broken is malformed and ignored: the policy is not valid JSON")
