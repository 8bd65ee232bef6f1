"""A role's own policies against the actions Veeam needs: one test per IAM rule, exact values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from veeam_role_auditor.policy import NamedPolicy
from veeam_role_auditor.policy.permissions import (
    UNSEEN_POLICIES,
    PermissionsMemo,
    PermissionsVerdict,
    RequiredAction,
    evaluate_actions,
)

ROLE = "arn:aws:iam::111122223333:role/backup/VeeamEc2Backup"
ROLE_ID = "AROAROLEEXAMPLE12345"
TAGS = {"team": "backup", "veeam:role-purpose": "ec2-backup"}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SNAPSHOT = "ec2:CreateSnapshot"


def policy(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(action: object = SNAPSHOT, resource: object = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: object = SNAPSHOT, resource: object = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def verdict(
    *documents: dict[str, Any] | str,
    required: tuple[str | RequiredAction, ...] = (SNAPSHOT,),
    boundary: dict[str, Any] | None = None,
    tags: dict[str, str] | None = TAGS,
    memo: PermissionsMemo | None = None,
) -> PermissionsVerdict:
    return evaluate_actions(
        [NamedPolicy(f"inline policy P{index}", document) for index, document in enumerate(documents)],
        required,
        boundary=NamedPolicy("permissions boundary B", boundary) if boundary is not None else None,
        role_arn=ROLE,
        role_tags=tags,
        role_id=ROLE_ID,
        now=NOW,
        memo=memo,
    )


def answer(*documents: dict[str, Any] | str, **kwargs: Any) -> str:
    return verdict(*documents, **kwargs).decisions[0].answer


def test_an_allow_on_every_resource_allows_and_names_its_statement() -> None:
    result = verdict(policy(allow()))
    assert result.decisions[0].answer == "yes"
    assert result.decisions[0].reasons == ("inline policy P0 Statement[0] allows ec2:CreateSnapshot",)
    assert result.missing_actions == ()
    assert result.conditional_actions == ()
    assert result.answer == "yes"
    assert result.notes == (UNSEEN_POLICIES,)


def test_no_policy_is_an_implicit_deny_with_the_reason_first() -> None:
    result = verdict(policy(allow("ec2:DeleteSnapshot")))
    assert result.decisions[0].answer == "no"
    assert result.decisions[0].reasons == ("no identity policy of the role allows ec2:CreateSnapshot on *",)
    assert result.missing_actions == (SNAPSHOT,)
    assert result.answer == "no"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("ec2:*", "yes"),
        ("*", "yes"),
        ("EC2:CREATESNAPSHOT", "yes"),
        ("ec2:Create*", "yes"),
        ("ec2:CreateSnapsho?", "yes"),
        ("ec2:CreateSnapshots", "no"),
        ("ec2:Describe*", "no"),
        (["s3:GetObject", "ec2:createsnapshot"], "yes"),
    ],
)
def test_action_patterns_match_case_insensitively_with_wildcards(action: object, expected: str) -> None:
    assert answer(policy(allow(action))) == expected


def test_not_action_allows_everything_it_does_not_name() -> None:
    assert answer(policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})) == "yes"
    assert answer(policy({"Effect": "Allow", "NotAction": "ec2:Create*", "Resource": "*"})) == "no"


def test_an_allow_on_specific_resources_is_conditional_not_yes() -> None:
    # Veeam snapshots volumes the administrator picks later: an Allow on one volume works for that one.
    result = verdict(policy(allow(resource="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0abc")))
    assert result.decisions[0].answer == "conditional"
    assert result.decisions[0].reasons == (
        "inline policy P0 Statement[0] allows ec2:CreateSnapshot only on some of the resources Veeam needs it on"
        " (Resource arn:aws:ec2:eu-west-1:111122223333:volume/vol-0abc)",
    )
    assert result.conditional_actions == (SNAPSHOT,)
    assert result.answer == "conditional"


@pytest.mark.parametrize(
    ("resource", "documented", "expected"),
    [
        ("arn:aws:s3:::*", "arn:aws:s3:::veeam-repo-*", "yes"),
        ("arn:aws:s3:::veeam-*", "arn:aws:s3:::veeam-repo-*", "yes"),
        ("arn:aws:s3:::veeam-repo-?", "arn:aws:s3:::veeam-repo-*", "conditional"),
        ("arn:aws:s3:::other-*", "arn:aws:s3:::veeam-repo-*", "no"),
        ("arn:aws:s3:::veeam-repo-1", "arn:aws:s3:::veeam-repo-1", "yes"),
        ("arn:aws:s3:::*", "*", "conditional"),
        ("*", "*", "yes"),
        (["arn:aws:s3:::other", "arn:aws:s3:::*"], "arn:aws:s3:::veeam/*", "yes"),
    ],
)
def test_resources_compare_as_patterns(resource: object, documented: str, expected: str) -> None:
    required = (RequiredAction("s3:PutObject", (documented,)),)
    assert answer(policy(allow("s3:PutObject", resource)), required=required) == expected


def test_every_documented_resource_must_be_allowed() -> None:
    required = (RequiredAction("s3:PutObject", ("arn:aws:s3:::veeam", "arn:aws:s3:::veeam/*")),)
    assert answer(policy(allow("s3:PutObject", "arn:aws:s3:::veeam/*")), required=required) == "no"
    both = allow("s3:PutObject", ["arn:aws:s3:::veeam", "arn:aws:s3:::veeam/*"])
    assert answer(policy(both), required=required) == "yes"


def test_not_resource_allows_the_rest() -> None:
    secret = {"Effect": "Allow", "Action": SNAPSHOT, "NotResource": "arn:aws:ec2:*:*:volume/vol-secret"}
    assert answer(policy(secret)) == "conditional"  # every volume but one
    required = (RequiredAction(SNAPSHOT, ("arn:aws:ec2:eu-west-1:111122223333:volume/vol-backup",)),)
    assert answer(policy(secret), required=required) == "yes"
    # A wildcard crosses colons in this comparison, so "vol-backup*" can end in ":volume/vol-secret".
    overlapping = (RequiredAction(SNAPSHOT, ("arn:aws:ec2:*:*:volume/vol-backup*",)),)
    assert answer(policy(secret), required=overlapping) == "conditional"
    everything = {"Effect": "Allow", "Action": SNAPSHOT, "NotResource": "*"}
    assert answer(policy(everything)) == "no"


def test_an_explicit_deny_in_another_policy_wins() -> None:
    result = verdict(policy(allow()), policy(deny("ec2:*")))
    assert result.decisions[0].answer == "no"
    assert result.decisions[0].reasons == (
        "an explicit Deny overrides any Allow of ec2:CreateSnapshot on *",
        "inline policy P0 Statement[0] allows ec2:CreateSnapshot",
        "inline policy P1 Statement[0] explicitly denies ec2:CreateSnapshot",
    )


def test_a_deny_on_some_resources_makes_it_conditional() -> None:
    assert answer(policy(allow(), deny(resource="arn:aws:ec2:*:*:volume/vol-prod*"))) == "conditional"


def test_a_deny_under_an_unknown_condition_makes_it_conditional_and_says_why() -> None:
    guarded = deny(Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}})
    result = verdict(policy(allow(), guarded))
    assert result.decisions[0].answer == "conditional"
    assert result.decisions[0].reasons[1] == (
        "inline policy P0 Statement[1] explicitly denies ec2:CreateSnapshot only if StringNotEquals"
        ' aws:RequestedRegion "eu-west-1" (not known offline: the value of aws:requestedregion in Veeam\'s requests)'
    )


def test_the_permissions_boundary_must_also_allow() -> None:
    result = verdict(policy(allow()), boundary=policy(allow("s3:*")))
    assert result.decisions[0].answer == "no"
    assert result.decisions[0].reasons[0] == (
        "the permissions boundary (permissions boundary B) does not allow ec2:CreateSnapshot on *"
    )
    assert answer(policy(allow()), boundary=policy(allow("ec2:*"))) == "yes"
    assert answer(boundary=policy(allow("*"))) == "no"  # a boundary grants nothing by itself
    narrow = policy(allow("ec2:*", "arn:aws:ec2:*:*:volume/*"))
    assert answer(policy(allow()), boundary=narrow) == "conditional"


def test_a_deny_in_the_boundary_wins() -> None:
    boundary = policy(allow("*"), deny("ec2:CreateSnap*"))
    assert answer(policy(allow()), boundary=boundary) == "no"


def test_principal_keys_are_the_roles_own() -> None:
    by_tag = allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "backup"}})
    assert answer(policy(by_tag)) == "yes"
    assert answer(policy(by_tag), tags={"team": "web"}) == "no"
    assert answer(policy(by_tag), tags={}) == "no"
    by_arn = allow(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/backup/*"}})
    assert answer(policy(by_arn)) == "yes"
    by_account = allow(Condition={"StringEquals": {"aws:PrincipalAccount": "999988887777"}})
    assert answer(policy(by_account)) == "no"
    by_user_id = allow(Condition={"StringLike": {"aws:userid": f"{ROLE_ID}:*"}})
    assert answer(policy(by_user_id)) == "yes"


def test_request_keys_are_unknown_offline() -> None:
    for key, value in [
        ("aws:RequestedRegion", "eu-west-1"),
        ("aws:ResourceTag/backup", "true"),
        ("aws:SourceIp", "10.0.0.0/8"),
        ("aws:ResourceAccount", "111122223333"),
    ]:
        operator = "IpAddress" if key == "aws:SourceIp" else "StringEquals"
        assert answer(policy(allow(Condition={operator: {key: value}}))) == "conditional", key


def test_time_conditions_are_decided() -> None:
    assert answer(policy(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}))) == "yes"
    assert answer(policy(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}))) == "no"


def test_variables_in_resources_resolve_from_the_role() -> None:
    own = allow("s3:PutObject", "arn:aws:s3:::${aws:PrincipalTag/team}-*")
    required = (RequiredAction("s3:PutObject", ("arn:aws:s3:::backup-veeam/*",)),)
    assert answer(policy(own), required=required) == "yes"
    assert answer(policy(own), required=required, tags={"team": "web"}) == "no"
    # "Policy variables with no value": the resource matches no resource.
    assert answer(policy(allow(resource="arn:aws:ec2:*:*:volume/${aws:username}"))) == "no"
    assert answer(policy(allow(resource="arn:aws:s3:::${aws:username}/*")), tags=None) == "no"


def test_variables_are_literal_text_under_2008() -> None:
    required = (RequiredAction("s3:PutObject", ("arn:aws:s3:::backup-veeam/*",)),)
    own = allow("s3:PutObject", "arn:aws:s3:::${aws:PrincipalTag/team}-*")
    assert answer(policy(own, version="2008-10-17"), required=required) == "no"


def test_a_malformed_policy_is_named_and_ignored() -> None:
    result = verdict("{not json", policy(allow()))
    assert result.decisions[0].answer == "yes"
    assert result.malformed == ("inline policy P0",)
    assert result.notes[0].startswith("inline policy P0 is malformed and ignored: the policy is not valid JSON")
    assert result.notes[-1] == UNSEEN_POLICIES
    assert verdict(policy(allow()), boundary={"Statement": "x"}).decisions[0].answer == "no"


def test_actions_are_listed_once_in_the_order_asked() -> None:
    required = ("ec2:DeleteSnapshot", SNAPSHOT, "ec2:DescribeInstances", SNAPSHOT, RequiredAction("s3:PutObject"))
    documents = (policy(allow(["ec2:Describe*"]), allow(SNAPSHOT, "arn:aws:ec2:*:*:volume/vol-1")),)
    result = verdict(*documents, required=required)
    assert [decision.action for decision in result.decisions] == [
        "ec2:DeleteSnapshot",
        SNAPSHOT,
        "ec2:DescribeInstances",
        "s3:PutObject",
    ]
    assert result.missing_actions == ("ec2:DeleteSnapshot", "s3:PutObject")
    assert result.conditional_actions == (SNAPSHOT,)
    assert result.answers == ("no", "conditional", "yes", "no")
    assert [decision.action for decision in result.failing_decisions] == [
        "ec2:DeleteSnapshot",
        SNAPSHOT,
        "s3:PutObject",
    ]
    assert [decision.action for decision in result.failing(2)] == ["ec2:DeleteSnapshot", SNAPSHOT]
    assert result.to_dict()["missing_actions"] == ["ec2:DeleteSnapshot", "s3:PutObject"]


@pytest.mark.parametrize("bad", ["ec2:Create*", "CreateSnapshot", RequiredAction(SNAPSHOT, ())])
def test_a_required_action_must_be_one_action(bad: str | RequiredAction) -> None:
    with pytest.raises(ValueError, match="required"):
        verdict(policy(allow()), required=(bad,))


def test_the_memo_decides_each_policy_set_and_action_once() -> None:
    memo = PermissionsMemo()
    shared = NamedPolicy("managed policy arn:aws:iam::aws:policy/Veeam (v1)", policy(allow("ec2:*")))
    required = (SNAPSHOT, "ec2:DeleteSnapshot", "s3:PutObject")
    results = []
    for index in range(5):
        role = f"arn:aws:iam::111122223333:role/backup/R{index}"
        results.append(
            evaluate_actions([shared], required, role_arn=role, role_tags={"n": str(index)}, now=NOW, memo=memo)
        )
    # Three (policy, action) parts decided for the first role; the four others share its whole verdict.
    assert (memo.misses, memo.hits) == (3, 4)
    direct = evaluate_actions([shared], required, role_arn=ROLE, role_tags={}, now=NOW)
    assert all(result == direct for result in results)


def test_the_memo_shares_one_policys_parts_between_different_policy_sets() -> None:
    memo = PermissionsMemo()
    shared, second, third = (
        NamedPolicy(f"managed policy {name}", policy(allow(action)))
        for name, action in (("A", "ec2:*"), ("B", "s3:*"), ("C", "kms:*"))
    )
    for policies in ([shared, second], [shared, third], [third, shared]):
        evaluate_actions(policies, (SNAPSHOT,), role_arn=ROLE, now=NOW, memo=memo)
    assert (memo.misses, memo.hits) == (3, 0)  # A, B and C each decided once for the action


def test_action_matching_agrees_with_the_trust_engines() -> None:
    from veeam_role_auditor.policy.document import parse_policy
    from veeam_role_auditor.policy.permissions import _parse
    from veeam_role_auditor.policy.trust import action_applies

    patterns = ["ec2:*", "EC2:CreateSnapshot", "ec2:Create?napshot*", "*", "s3:Get*", "ec2:createsnapshots"]
    statements = [
        {"Effect": "Allow", element: [pattern, "iam:PassRole"], "Resource": "*"}
        for pattern in patterns
        for element in ("Action", "NotAction")
    ]
    named = NamedPolicy("p", policy(*statements))
    parsed = _parse(named)
    document = parse_policy(named.document, "identity")
    for action in ("ec2:CreateSnapshot", "EC2:CREATESNAPSHOTS", "s3:GetObject", "iam:passrole", "kms:Decrypt"):
        assert [entry.applies_to(action.casefold()) for entry in parsed.statements] == [
            action_applies(statement, action) for statement in document.statements
        ], action


def test_the_memo_keeps_roles_apart_when_the_policies_read_their_tags() -> None:
    memo = PermissionsMemo()
    by_tag = NamedPolicy("inline policy T", policy(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "a"}})))
    answers = [
        evaluate_actions([by_tag], (SNAPSHOT,), role_arn=ROLE, role_tags={"team": team}, now=NOW, memo=memo)
        .decisions[0]
        .answer
        for team in ("a", "b", "a")
    ]
    assert answers == ["yes", "no", "yes"]
    assert (memo.misses, memo.hits) == (2, 1)


def test_the_memo_tells_equal_inline_documents_of_different_roles_alike() -> None:
    memo = PermissionsMemo()
    for index in range(3):
        inline = NamedPolicy("inline policy Veeam", policy(allow()))  # a new object per role, same content
        evaluate_actions([inline], (SNAPSHOT,), role_arn=f"{ROLE}{index}", now=NOW, memo=memo)
    assert (memo.misses, memo.hits) == (1, 2)
