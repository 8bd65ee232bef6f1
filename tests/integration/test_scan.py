"""A full scan of the sample account on moto: every check's passing and failing case, exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from veeam_role_auditor import checks
from veeam_role_auditor.dev.sample_account import (
    APPLIANCE_NAME,
    DELETED_APPLIANCE_ID,
    TAG_KEY,
    SampleAccount,
    expected_results,
)
from veeam_role_auditor.inventory import Inventory
from veeam_role_auditor.model import finding_id
from veeam_role_auditor.policy import evaluate_trust, make_appliance
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings

ROLE_CHECKS = [check.code for check in (*checks.ROLE_CHECKS, checks.UNTAGGED_TRUSTING)]


def count_calls(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


def test_every_sample_role_gets_exactly_the_expected_results(inventory: Inventory, sample: SampleAccount) -> None:
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))

    by_role: dict[str, dict[str, tuple[str, str]]] = {}
    for finding in result.findings:
        by_role.setdefault(finding.role_arn.rsplit("/", 1)[-1], {})[finding.check] = (finding.status, finding.severity)

    assert by_role == expected_results()  # AppServerRole (untagged, no trust) gets nothing
    assert (result.roles_seen, result.roles_in_scope) == (12, 9)


def test_trust_failure_carries_the_statement_and_the_corrected_policy(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    arn = sample.role_arns["VeeamSnapshotMissingTrust"]
    (finding,) = [f for f in result.findings if f.role_arn == arn and f.check == "VRA-TRUST-1"]

    assert finding.statement_to_add == {
        "Sid": "VeeamApplianceAssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": sample.appliance_role_arn},
        "Action": "sts:AssumeRole",
    }
    assert finding.corrected_policy == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            finding.statement_to_add,
        ],
    }
    assert finding.id == f"veeam-role-auditor/aws/{sample.account}/VRA-TRUST-1/{arn}"
    assert finding.remediation.startswith("Add the statement below to the trust policy of VeeamSnapshotMissingTrust")
    # The corrected policy works once applied.
    iam.update_assume_role_policy(
        RoleName="VeeamSnapshotMissingTrust", PolicyDocument=json.dumps(finding.corrected_policy)
    )
    again = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    assert [f.status for f in again.findings if f.role_arn == arn and f.check == "VRA-TRUST-1"] == ["PASSED"]


def test_a_deny_is_narrowed_and_every_other_statement_kept(inventory: Inventory, sample: SampleAccount) -> None:
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    arn = sample.role_arns["VeeamEfsNotPrincipal"]
    (finding,) = [f for f in result.findings if f.role_arn == arn and f.check == "VRA-TRUST-1"]
    root = f"arn:aws:iam::{sample.account}:root"
    assert finding.corrected_policy == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sts:AssumeRole", "Sid": "Account"},
            {
                # NotPrincipal cannot be used in a trust policy: the Deny is rewritten as the NotPrincipal
                # page recommends, its exemptions kept, and the appliance exempted too.
                "Sid": "OnlyAdmins",
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Principal": "*",
                "Condition": {
                    "ArnNotEquals": {
                        "aws:PrincipalArn": [
                            f"arn:aws:iam::{sample.account}:role/Admin",
                            root,
                            sample.appliance_role_arn,
                        ]
                    }
                },
            },
        ],
    }


def test_deleted_appliance_id_is_named_when_its_history_is_known(inventory: Inventory, sample: SampleAccount) -> None:
    result = scan_account(
        inventory,
        ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)),
        previous_appliance_ids={DELETED_APPLIANCE_ID: sample.appliance_role_arn},
    )
    arn = sample.role_arns["VeeamRestoreDeletedPrincipal"]
    (finding,) = [f for f in result.findings if f.role_arn == arn and f.check == "VRA-TRUST-2"]
    assert finding.details[0] == (
        f"{DELETED_APPLIANCE_ID} was the unique id of the Impersonation role {sample.appliance_role_arn}, "
        "which has been re-created"
    )
    assert finding.corrected_policy == {"Version": "2012-10-17", "Statement": []}


def test_tag_values_and_path_prefix_limit_the_scope(inventory: Inventory, sample: SampleAccount, iam: Any) -> None:
    iam.tag_role(RoleName="VeeamArchiveWildcard", Tags=[{"Key": TAG_KEY, "Value": "retired"}])
    iam.create_role(
        RoleName="ElsewhereRole",
        Path="/other/",
        AssumeRolePolicyDocument=json.dumps(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}
        ),
        Tags=[{"Key": "Veeam:Backup-Role", "Value": "TRUE"}],
    )
    settings = ScanSettings(appliance_role_arns=(sample.appliance_role_arn,), tag_values=("true",))
    result = scan_account(inventory, settings)
    names = {f.role_arn.rsplit("/", 1)[-1] for f in result.findings}
    assert "VeeamArchiveWildcard" not in names  # tagged with a value that is not accepted: out of scope, silent
    assert "ElsewhereRole" in names  # key and value matched without case
    narrowed = scan_account(
        inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,), path_prefix="/other/")
    )
    assert {f.role_arn.rsplit("/", 1)[-1] for f in narrowed.findings} == {"ElsewhereRole", APPLIANCE_NAME}


def test_identity_side_fails_when_the_appliance_may_not_assume_roles(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    iam.delete_role_policy(RoleName=APPLIANCE_NAME, PolicyName="AssumeVeeamRoles")
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    identity = {f.role_arn.rsplit("/", 1)[-1]: f for f in result.findings if f.check == "VRA-IDENTITY-1"}
    assert {f.status for f in identity.values()} == {"FAILED"}
    assert identity["VeeamRepositoryHealthy"].details[0] == (
        f"no permission policy of {sample.appliance_role_arn} allows sts:AssumeRole on "
        f"{sample.role_arns['VeeamRepositoryHealthy']}"
    )


def test_identity_policy_scoped_by_the_veeam_tag_passes(inventory: Inventory, sample: SampleAccount, iam: Any) -> None:
    scoped = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{TAG_KEY}": "true"}},
            }
        ],
    }
    policy_arn = iam.create_policy(PolicyName="VeeamScoped", PolicyDocument=json.dumps(scoped))["Policy"]["Arn"]
    iam.delete_role_policy(RoleName=APPLIANCE_NAME, PolicyName="AssumeVeeamRoles")
    iam.attach_role_policy(RoleName=APPLIANCE_NAME, PolicyArn=policy_arn)
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    assert {f.status for f in result.findings if f.check == "VRA-IDENTITY-1"} == {"PASSED"}


def test_access_denied_on_appliance_policies_is_not_available_and_trust_checks_still_run(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    policy_arn = iam.create_policy(
        PolicyName="Extra",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=APPLIANCE_NAME, PolicyArn=policy_arn)

    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform iam:GetPolicy"}}, "GetPolicy"
        )

    iam.meta.events.register("before-call.iam.GetPolicy", deny)
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    identity = [f for f in result.findings if f.check == "VRA-IDENTITY-1"]
    assert {f.status for f in identity} == {"NOT_AVAILABLE"}
    assert identity[0].details == (
        "could not read the Impersonation role's policies (AccessDenied: not authorized to perform iam:GetPolicy)",
    )
    assert [f.status for f in result.findings if f.check == "VRA-TRUST-3"].count("FAILED") == 1


def test_appliance_in_another_account_is_not_available_not_passed(inventory: Inventory, sample: SampleAccount) -> None:
    other = "arn:aws:iam::444455556666:role/veeam/VeeamImpersonation"
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(other,)))
    appliance = [f for f in result.findings if f.check == "VRA-APPLIANCE-1"]
    assert [(f.status, f.role_arn) for f in appliance] == [("NOT_AVAILABLE", other)]
    assert {f.status for f in result.findings if f.check == "VRA-IDENTITY-1"} == {"NOT_AVAILABLE"}
    assert appliance[0].id == finding_id("aws", sample.account, "VRA-APPLIANCE-1", other)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ("delete", "does not exist in account"),
        ("no_profile", "is in no instance profile"),
        ("no_ec2_trust", "no Allow statement lets ec2.amazonaws.com assume the role"),
    ],
)
def test_unusable_appliance_role_is_critical(
    inventory: Inventory, sample: SampleAccount, iam: Any, change: str, detail: str
) -> None:
    iam.remove_role_from_instance_profile(InstanceProfileName=APPLIANCE_NAME, RoleName=APPLIANCE_NAME)
    if change == "delete":
        iam.delete_role_policy(RoleName=APPLIANCE_NAME, PolicyName="AssumeVeeamRoles")
        iam.delete_role(RoleName=APPLIANCE_NAME)
    elif change == "no_ec2_trust":
        iam.add_role_to_instance_profile(InstanceProfileName=APPLIANCE_NAME, RoleName=APPLIANCE_NAME)
        iam.update_assume_role_policy(
            RoleName=APPLIANCE_NAME,
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    (finding,) = [f for f in result.findings if f.check == "VRA-APPLIANCE-1"]
    assert (finding.status, finding.severity) == ("FAILED", "CRITICAL")
    assert any(detail in line for line in finding.details)


def test_several_appliances_a_role_passes_if_any_can_assume_it(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    second = iam.create_role(
        RoleName="SecondAppliance",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn, second)))
    trust = {f.role_arn.rsplit("/", 1)[-1]: f.status for f in result.findings if f.check == "VRA-TRUST-1"}
    assert trust["VeeamRepositoryHealthy"] == "PASSED"
    assert len([f for f in result.findings if f.check == "VRA-APPLIANCE-1"]) == 2


def test_a_full_scan_makes_no_per_role_call(inventory: Inventory, sample: SampleAccount, iam: Any, sts: Any) -> None:
    iam_calls, sts_calls = count_calls(iam), count_calls(sts)
    scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    assert sts_calls == ["GetCallerIdentity"]
    # moto returns one page of roles; the appliance has no managed policy; the second pass (Filter
    # LocalManagedPolicy) reads the managed policies of the roles that declare Veeam purposes, once.
    assert iam_calls == ["GetAccountAuthorizationDetails", "GetAccountAuthorizationDetails"]


def test_corrected_policies_offered_by_the_scan_all_work(inventory: Inventory, sample: SampleAccount) -> None:
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    appliance = make_appliance(sample.appliance_role_arn)
    for finding in result.findings:
        if finding.check == "VRA-TRUST-1" and finding.corrected_policy is not None:
            verdict = evaluate_trust(finding.corrected_policy, finding.role_arn, appliance)
            assert verdict.appliance_can_assume == "yes", finding.role_arn


def test_botocore_retry_mode_is_configured(iam: Any) -> None:
    assert iam.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 10}


def test_a_deny_with_not_principal_makes_the_trust_policy_invalid_with_or_without_a_boundary(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    # IAM User Guide, NotPrincipal: "You cannot use the NotPrincipal element in an IAM identity-based policy
    # nor in an IAM role trust policy." (A boundary on the appliance role no longer changes the verdict.)
    appliance = sample.appliance_role_arn
    session = f"arn:aws:sts::{sample.account}:assumed-role/{APPLIANCE_NAME}/i-0123456789abcdef0"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Veeam", "Effect": "Allow", "Principal": {"AWS": appliance}, "Action": "sts:AssumeRole"},
            {
                "Sid": "OnlyVeeam",
                "Effect": "Deny",
                "NotPrincipal": {"AWS": [f"arn:aws:iam::{sample.account}:root", appliance, session]},
                "Action": "sts:AssumeRole",
            },
        ],
    }
    role_arn = iam.create_role(
        RoleName="VeeamOnlyVeeam", AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": TAG_KEY, "Value": "true"}]
    )["Role"]["Arn"]
    settings = ScanSettings(appliance_role_arns=(appliance,))
    wanted = ("VRA-TRUST-1", "VRA-TRUST-5", "VRA-TRUST-6")

    def trust_results() -> dict[str, tuple[str, str]]:
        findings = scan_account(inventory, settings).findings
        return {f.check: (f.status, f.severity) for f in findings if f.role_arn == role_arn and f.check in wanted}

    expected = dict.fromkeys(wanted, ("FAILED", "HIGH"))
    assert trust_results() == expected
    boundary = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    boundary_arn = iam.create_policy(PolicyName="Boundary", PolicyDocument=json.dumps(boundary))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=APPLIANCE_NAME, PermissionsBoundary=boundary_arn)
    assert trust_results() == expected
