"""Purpose-aware checks on moto: service trust, permissions, upgrade readiness and unknown purposes, exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.integration.test_faults import _Raw
from veeam_role_auditor.inventory import Inventory
from veeam_role_auditor.model import Finding
from veeam_role_auditor.purposes import load_version
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings, SettingsError

TAG = "veeam-auditor"
PURPOSE_TAG = "veeam:role-purpose"
V10 = "10.0.0.232"
IAM_DENIED = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    b"<Code>AccessDenied</Code><Message>denied by a service control policy</Message></Error></ErrorResponse>"
)


def _trust(account: str, *services: str) -> str:
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:role/VeeamImpersonation"},
            "Action": "sts:AssumeRole",
        }
    ]
    if services:
        statements.append({"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _actions(purpose: str, version: str = V10) -> list[str]:
    return list(load_version(version)[purpose].actions)


def _role(
    iam: Any, account: str, name: str, purposes: str | None, services: tuple[str, ...], actions: list[str]
) -> None:
    tags = [{"Key": TAG, "Value": "true"}]
    if purposes is not None:
        tags.append({"Key": PURPOSE_TAG, "Value": purposes})
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(account, *services), Tags=tags)
    if actions:
        # Through a customer managed policy: the scan reads it with the LocalManagedPolicy pass.
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        arn = iam.create_policy(PolicyName=f"{name}Policy", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)


@pytest.fixture
def purpose_account(iam: Any, account: str) -> str:
    appliance_trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="VeeamImpersonation", AssumeRolePolicyDocument=json.dumps(appliance_trust))
    iam.put_role_policy(
        RoleName="VeeamImpersonation",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
    )
    _role(iam, account, "EfsNoBackupTrust", "efs-backup", (), _actions("efs-backup"))
    _role(iam, account, "EfsComplete", "efs-backup", ("backup.amazonaws.com",), _actions("efs-backup"))
    repository = _actions("repository")
    _role(iam, account, "RepositoryMissing", "repository", ("batchoperations.s3.amazonaws.com",), repository[2:])
    _role(iam, account, "Ec2BackupV10", "ec2-backup", (), _actions("ec2-backup"))
    _role(iam, account, "Typo", "ec2-backup ec2-bakup", (), _actions("ec2-backup"))
    _role(iam, account, "NoPurpose", None, (), [])
    return account


def _by_role(findings: tuple[Finding, ...]) -> dict[str, dict[str, Finding]]:
    by_role: dict[str, dict[str, Finding]] = {}
    for finding in findings:
        if finding.check.startswith("VRA-PURPOSE-"):
            by_role.setdefault(finding.role_arn.rsplit("/", 1)[-1], {})[finding.check] = finding
    return by_role


def _scan(inventory: Inventory, account: str, **settings: Any) -> dict[str, dict[str, Finding]]:
    appliance = f"arn:aws:iam::{account}:role/VeeamImpersonation"
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(appliance,), tag_key=TAG, **settings))
    return _by_role(result.findings)


def test_each_purpose_role_gets_exactly_its_findings(inventory: Inventory, purpose_account: str) -> None:
    found = _scan(inventory, purpose_account, veeam_version=V10)

    assert "NoPurpose" not in found  # a role without the purpose tag gets today's checks only
    statuses = {name: {code: f.status for code, f in checks.items()} for name, checks in found.items()}
    assert statuses == {
        "EfsNoBackupTrust": {"VRA-PURPOSE-1": "FAILED", "VRA-PURPOSE-2": "PASSED", "VRA-PURPOSE-4": "PASSED"},
        "EfsComplete": {"VRA-PURPOSE-1": "PASSED", "VRA-PURPOSE-2": "PASSED", "VRA-PURPOSE-4": "PASSED"},
        "RepositoryMissing": {"VRA-PURPOSE-1": "PASSED", "VRA-PURPOSE-2": "FAILED", "VRA-PURPOSE-4": "PASSED"},
        "Ec2BackupV10": {"VRA-PURPOSE-1": "PASSED", "VRA-PURPOSE-2": "PASSED", "VRA-PURPOSE-4": "PASSED"},
        "Typo": {"VRA-PURPOSE-1": "PASSED", "VRA-PURPOSE-2": "PASSED", "VRA-PURPOSE-4": "FAILED"},
    }

    trust = found["EfsNoBackupTrust"]["VRA-PURPOSE-1"]
    assert trust.severity == "HIGH"
    assert trust.data == {"missing_trust_services": ["backup.amazonaws.com"], "instance_profile_missing": False}
    assert trust.statement_to_add == {
        "Effect": "Allow",
        "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    assert trust.summary()["missing_trust_services"] == ["backup.amazonaws.com"]

    missing = found["RepositoryMissing"]["VRA-PURPOSE-2"]
    repository = _actions("repository")
    assert missing.data == {"missing_actions": repository[:2], "conditional_actions": []}
    assert missing.details[0] == f"not allowed (2): {repository[0]}, {repository[1]}"
    assert any("service control policies" in line for line in missing.details)  # never guessed at
    assert missing.statement_to_add is not None
    assert [sorted(s["Action"], key=str.lower) for s in missing.statement_to_add["Statement"]] == [
        sorted(repository[:2], key=str.lower)
    ]

    typo = found["Typo"]["VRA-PURPOSE-4"]
    assert typo.details[0] == "unknown: ec2-bakup"
    assert typo.data == {"unknown_purposes": ["ec2-bakup"]}


def test_the_policy_to_add_makes_the_permissions_check_pass(
    inventory: Inventory, purpose_account: str, iam: Any
) -> None:
    before = _scan(inventory, purpose_account, veeam_version=V10)["RepositoryMissing"]["VRA-PURPOSE-2"]
    assert before.statement_to_add is not None
    iam.put_role_policy(
        RoleName="RepositoryMissing", PolicyName="VeeamRequired", PolicyDocument=json.dumps(before.statement_to_add)
    )
    after = _scan(inventory, purpose_account, veeam_version=V10)["RepositoryMissing"]["VRA-PURPOSE-2"]
    assert (after.status, after.data["missing_actions"]) == ("PASSED", [])


def test_upgrade_readiness_names_what_the_target_adds(inventory: Inventory, purpose_account: str) -> None:
    found = _scan(inventory, purpose_account, veeam_version=V10, upgrade_target="11")

    ready = found["Ec2BackupV10"]
    assert ready["VRA-PURPOSE-2"].status == "PASSED"  # fine today
    upgrade = ready["VRA-PURPOSE-3"]
    added = [a for a in _actions("ec2-backup", "11") if a.lower() not in {b.lower() for b in _actions("ec2-backup")}]
    assert added  # the data's 10 -> 11 difference for ec2-backup
    assert upgrade.status == "FAILED"
    assert upgrade.severity == "MEDIUM"
    assert upgrade.data["missing_actions"] == added
    # Purposes the target changes nothing for pass.
    assert found["EfsComplete"]["VRA-PURPOSE-3"].status == "PASSED"


def test_purpose_roles_whose_managed_policies_cannot_be_read_are_not_available(
    inventory: Inventory, purpose_account: str
) -> None:
    def deny_policy_pass(request: Any, **_: Any) -> AWSResponse | None:
        # e.g. an SCP that denies the scan reading the account's managed policies (the roles are read)
        body = request.body or b""
        if b"LocalManagedPolicy" in (body.encode() if isinstance(body, str) else body):
            return AWSResponse(request.url, 403, {}, _Raw(IAM_DENIED))
        return None

    inventory.iam.meta.events.register("before-send.iam.GetAccountAuthorizationDetails", deny_policy_pass)
    found = _scan(inventory, purpose_account, veeam_version=V10)
    finding = found["EfsComplete"]["VRA-PURPOSE-2"]
    assert finding.status == "NOT_AVAILABLE"
    policy = f"arn:aws:iam::{purpose_account}:policy/EfsCompletePolicy"
    assert finding.details == (
        f"could not read the role's managed policies ({policy}: AccessDenied: denied by a service control policy)",
    )
    assert found["EfsComplete"]["VRA-PURPOSE-1"].status == "PASSED"  # the trust is still judged


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"veeam_version": "7"}, "7"),
        ({"upgrade_target": "10"}, "not newer"),
        ({"purpose_tag_key": "VEEAM-AUDITOR"}, "must differ"),
    ],
)
def test_bad_purpose_settings_are_clear_errors(settings: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ScanSettings(appliance_role_arns=("arn:aws:iam::123456789012:role/A",), tag_key=TAG, **settings)
