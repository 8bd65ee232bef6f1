"""Reading the managed policy documents a role's permissions need: once per policy, never per role (moto)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from veeam_role_auditor.inventory import Inventory, client_config, is_aws_managed
from veeam_role_auditor.model import ManagedPolicyDocuments, RoleSnapshot
from veeam_role_auditor.policy.permissions import evaluate_actions

REGION = "us-east-1"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def document(*actions: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
    )


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # moto loads AWS managed policies only when asked (moto.settings.load_iam_aws_managed_policies).
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        yield boto3.client("iam", region_name=REGION, config=client_config())


def counted(iam: Any) -> Counter[str]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    iam.meta.events.register("before-call.iam.*", count)
    return calls


def roles_of(iam: Any) -> list[RoleSnapshot]:
    return [role for page in Inventory(iam, sts=None).role_pages() for role in page]


@pytest.fixture
def account(iam: Any) -> dict[str, str]:
    """Ten roles sharing two customer managed policies (one with a second, default version), the AWS
    managed AmazonEC2ReadOnlyAccess, one boundary; one role with an inline policy and an instance profile."""
    snapshots = iam.create_policy(PolicyName="VeeamSnapshots", PolicyDocument=document("ec2:DescribeInstances"))
    snapshots_arn = snapshots["Policy"]["Arn"]
    iam.create_policy_version(
        PolicyArn=snapshots_arn, PolicyDocument=document("ec2:CreateSnapshot", "ec2:DeleteSnapshot"), SetAsDefault=True
    )
    repo_arn = iam.create_policy(PolicyName="VeeamRepo", Path="/veeam/", PolicyDocument=document("s3:*"))["Policy"][
        "Arn"
    ]
    boundary_arn = iam.create_policy(PolicyName="Boundary", PolicyDocument=document("ec2:*", "s3:*"))["Policy"]["Arn"]
    iam.create_policy(PolicyName="Unattached", PolicyDocument=document("iam:*"))
    for index in range(10):
        name = f"veeam-{index}"
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            PermissionsBoundary=boundary_arn,
            Tags=[{"Key": "veeam:role-purpose", "Value": "ec2-backup"}],
        )
        for arn in (snapshots_arn, repo_arn, READ_ONLY):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    iam.put_role_policy(RoleName="veeam-0", PolicyName="Extra", PolicyDocument=document("kms:Decrypt"))
    iam.create_instance_profile(InstanceProfileName="worker")
    iam.add_role_to_instance_profile(InstanceProfileName="worker", RoleName="veeam-0")
    return {"snapshots": snapshots_arn, "repo": repo_arn, "boundary": boundary_arn}


def test_aws_managed_policies_are_told_apart_by_their_account() -> None:
    assert is_aws_managed(READ_ONLY)
    assert is_aws_managed("arn:aws-cn:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")
    assert not is_aws_managed("arn:aws:iam::111122223333:policy/VeeamRepo")


def test_each_managed_policy_is_read_once_for_every_role(iam: Any, account: dict[str, str]) -> None:
    roles = roles_of(iam)
    calls = counted(iam)
    read = Inventory(iam, sts=None).managed_policy_documents(roles)
    # One page of the account's customer managed policies; two calls for the one AWS managed policy.
    assert calls == Counter({"GetAccountAuthorizationDetails": 1, "GetPolicy": 1, "GetPolicyVersion": 1})
    assert set(read.documents) == {account["snapshots"], account["repo"], account["boundary"], READ_ONLY}
    assert read.unavailable == {}
    snapshots = read.documents[account["snapshots"]]
    assert snapshots.name == f"managed policy {account['snapshots']} (v2)"
    assert snapshots.document["Statement"][0]["Action"] == ["ec2:CreateSnapshot", "ec2:DeleteSnapshot"]
    permissions = read.for_role(roles[0])
    assert permissions.unavailable_reason is None
    assert [policy.name for policy in permissions.policies] == [
        "inline policy Extra",
        f"managed policy {account['snapshots']} (v2)",
        f"managed policy {account['repo']} (v1)",
        f"managed policy {READ_ONLY} (v5)",  # its default version in moto's copy
    ]
    assert permissions.boundary is read.documents[account["boundary"]]
    # Every role shares the same objects: the permissions memo tells them apart by identity.
    assert all(read.for_role(role).policies[-1] is read.documents[READ_ONLY] for role in roles)


def test_reading_each_policy_directly_gives_the_same_documents(iam: Any, account: dict[str, str]) -> None:
    roles = roles_of(iam)
    by_details = Inventory(iam, sts=None).managed_policy_documents(roles)
    calls = counted(iam)
    direct = Inventory(iam, sts=None).managed_policy_documents(roles, local_via="get")
    assert calls == Counter({"GetPolicy": 4, "GetPolicyVersion": 4})
    assert {arn: (p.name, p.document) for arn, p in direct.documents.items()} == {
        arn: (p.name, p.document) for arn, p in by_details.documents.items()
    }


def test_roles_without_managed_policies_cost_no_call(iam: Any) -> None:
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=json.dumps(TRUST))
    calls = counted(iam)
    assert Inventory(iam, sts=None).managed_policy_documents(roles_of(iam)) == ManagedPolicyDocuments()
    assert calls == Counter({"GetAccountAuthorizationDetails": 1})  # roles_of's own page


def test_a_policy_deleted_meanwhile_makes_its_roles_permissions_unavailable(iam: Any, account: dict[str, str]) -> None:
    roles = roles_of(iam)
    for role in roles:
        iam.detach_role_policy(RoleName=role.name, PolicyArn=account["repo"])
    iam.delete_policy(PolicyArn=account["repo"])
    read = Inventory(iam, sts=None).managed_policy_documents(roles)
    assert read.unavailable == {account["repo"]: "NoSuchEntity: not among the account's managed policies any more"}
    assert read.for_role(roles[3]).unavailable_reason == (
        f"could not read the role's managed policies ({account['repo']}: NoSuchEntity: not among the"
        " account's managed policies any more)"
    )
    direct = Inventory(iam, sts=None).managed_policy_documents(roles, local_via="get")
    assert direct.unavailable[account["repo"]].startswith("NoSuchEntity")


def test_access_denied_makes_a_policy_unavailable_and_other_errors_raise() -> None:
    iam = boto3.client("iam", region_name=REGION, config=client_config())
    role = RoleSnapshot(
        arn="arn:aws:iam::111122223333:role/r",
        name="r",
        role_id="AROAEXAMPLE",
        path="/",
        trust_policy=TRUST,
        tags={},
        observed_at=None,  # type: ignore[arg-type]
        attached_policy_arns=(READ_ONLY,),
    )
    with Stubber(iam) as stub:
        stub.add_client_error("get_policy", "AccessDenied", "not authorized to perform: iam:GetPolicy")
        read = Inventory(iam, sts=None).managed_policy_documents([role])
    assert read.unavailable == {READ_ONLY: "AccessDenied: not authorized to perform: iam:GetPolicy"}
    inventory = Inventory(iam, sts=None)
    with Stubber(iam) as stub:
        stub.add_client_error("get_policy", "ServiceFailure", "try again")
        with pytest.raises(ClientError):
            inventory.managed_policy_documents([role])


def test_the_event_path_reads_one_roles_permissions_with_targeted_calls(iam: Any, account: dict[str, str]) -> None:
    inventory = Inventory(iam, sts=None)
    snapshot = inventory.role("veeam-0")
    assert snapshot is not None
    calls = counted(iam)
    full, permissions = inventory.role_permissions(snapshot)
    assert calls == Counter(
        {
            "ListRolePolicies": 1,
            "GetRolePolicy": 1,
            "ListAttachedRolePolicies": 1,
            "ListInstanceProfilesForRole": 1,
            "GetPolicy": 4,
            "GetPolicyVersion": 4,
        }
    )
    assert full.instance_profile_arns == (f"arn:aws:iam::{full.account}:instance-profile/worker",)
    assert permissions.unavailable_reason is None
    assert permissions.boundary is not None
    assert permissions.boundary.name == f"managed policy {account['boundary']} (v1)"
    verdict = evaluate_actions(
        permissions.policies,
        ("ec2:CreateSnapshot", "kms:Decrypt", "s3:PutObject", "iam:PassRole"),
        boundary=permissions.boundary,
        role_arn=full.arn,
        role_tags=dict(full.tags),
    )
    # kms:Decrypt is allowed inline but not by the boundary; iam:PassRole by nothing.
    assert verdict.missing_actions == ("kms:Decrypt", "iam:PassRole")
    assert verdict.conditional_actions == ()


def test_the_event_path_says_why_when_the_roles_policies_cannot_be_listed() -> None:
    iam = boto3.client("iam", region_name=REGION, config=client_config())
    role = RoleSnapshot("arn:aws:iam::111122223333:role/r", "r", "AROAEXAMPLE", "/", TRUST, {}, None)  # type: ignore[arg-type]
    with Stubber(iam) as stub:
        stub.add_client_error("list_role_policies", "AccessDenied", "no")
        same, permissions = Inventory(iam, sts=None).role_permissions(role)
    assert same is role
    assert permissions.unavailable_reason == "could not read the role's policies (AccessDenied: no)"
