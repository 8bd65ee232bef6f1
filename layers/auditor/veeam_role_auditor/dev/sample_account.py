"""A sample account with one role per outcome of the checks catalogue (for the demo and the tests).

Creates, through the boto3 clients it is given (the embedded emulator in the demo and tests), the
appliance's Impersonation role and a set of Veeam-tagged roles whose trust policies each show one
outcome. ``EXPECTED`` records, per role, the failing checks a scan must report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..purposes import required_policy

TAG_KEY = "veeam:backup-role"
APPLIANCE_NAME = "VeeamImpersonation"
APPLIANCE_PATH = "/veeam/"
FOREIGN_ACCOUNT = "999988887777"
DELETED_APPLIANCE_ID = "AROAOLDAPPLIANCEROLE1"
PURPOSE_TAG_KEY = "veeam:role-purpose"
VEEAM_VERSION = "10.0.0.232"
UPGRADE_TARGET = "11"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(principal: object, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


@dataclass(frozen=True)
class SampleAccount:
    account: str
    appliance_role_arn: str
    role_arns: dict[str, str]


# role name -> {check code: (status, severity)} for every check that does not pass.
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "VeeamRepositoryHealthy": {},
    "VeeamWorkerByAccount": {"VRA-TRUST-7": ("FAILED", "LOW")},
    "VeeamSnapshotMissingTrust": {"VRA-TRUST-1": ("FAILED", "HIGH")},
    "VeeamRestoreDeletedPrincipal": {"VRA-TRUST-1": ("FAILED", "HIGH"), "VRA-TRUST-2": ("FAILED", "HIGH")},
    "VeeamArchiveWildcard": {"VRA-TRUST-3": ("FAILED", "CRITICAL")},
    "VeeamCopyForeignAccount": {"VRA-TRUST-4": ("FAILED", "HIGH")},
    "VeeamRdsConditional": {"VRA-TRUST-1": ("WARNING", "MEDIUM")},
    "VeeamEfsNotPrincipal": {
        "VRA-TRUST-1": ("FAILED", "HIGH"),
        "VRA-TRUST-5": ("FAILED", "HIGH"),
        "VRA-TRUST-6": ("FAILED", "HIGH"),  # NotPrincipal cannot be used in a trust policy
        "VRA-TRUST-7": ("FAILED", "LOW"),
    },
    "VeeamDynamoMalformed": {"VRA-TRUST-1": ("FAILED", "HIGH"), "VRA-TRUST-6": ("FAILED", "HIGH")},
    "LegacyBackupRole": {"VRA-INVENTORY-1": ("FAILED", "INFORMATIONAL")},
}
UNTAGGED = {"LegacyBackupRole", "AppServerRole"}

# Roles that declare what Veeam uses them for (the purpose checks, VRA-PURPOSE-*): role name ->
# (purpose tag value, version whose required policy the role is given, actions left out of it).
PURPOSES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # Complete, and the repository's S3 Batch Operations trust is there.
    "VeeamRepositoryHealthy": ("repository", VEEAM_VERSION, ()),
    # Ready for the upgrade too, but EC2 cannot assume it and it is in no instance profile.
    "VeeamWorkerByAccount": ("worker-production", UPGRADE_TARGET, ()),
    # Three actions short of what RDS backups need.
    "VeeamRdsConditional": (
        "rds-backup",
        VEEAM_VERSION,
        ("rds:CopyDBSnapshot", "rds:DeleteDBSnapshot", "kms:CreateGrant"),
    ),
    # Has what 10.0.0.232 needs, not what 11 adds (VRA-PURPOSE-3 with --upgrade-to 11).
    "VeeamCopyForeignAccount": ("ec2-backup", VEEAM_VERSION, ()),
}
# role name -> {check code: (status, severity)} for the purpose checks that do not pass, with and
# without the upgrade target (VRA-PURPOSE-3 only with one).
EXPECTED_PURPOSES: dict[str, dict[str, tuple[str, str]]] = {
    "VeeamWorkerByAccount": {"VRA-PURPOSE-1": ("FAILED", "HIGH")},
    "VeeamRdsConditional": {"VRA-PURPOSE-2": ("FAILED", "HIGH")},
}
EXPECTED_UPGRADE: dict[str, dict[str, tuple[str, str]]] = {
    "VeeamCopyForeignAccount": {"VRA-PURPOSE-3": ("FAILED", "MEDIUM")},
}


def expected_results(*, upgrade_target: bool = False) -> dict[str, dict[str, tuple[str, str]]]:
    """Every sample role's result for every check it gets (PASSED unless EXPECTED* say otherwise).

    Derived from the catalogue and the tables above, so tests and the demo never spell out totals: an
    in-scope role gets every role check, a role declaring purposes the purpose checks (VRA-PURPOSE-3 only
    with an upgrade target), the untagged LegacyBackupRole only its drift finding, the appliance its own.
    """
    from .. import checks

    passed = ("PASSED", "INFORMATIONAL")
    results: dict[str, dict[str, tuple[str, str]]] = {APPLIANCE_NAME: {checks.APPLIANCE_USABLE.code: passed}}
    for name, failing in EXPECTED.items():
        if name in UNTAGGED:
            results[name] = dict(failing)
            continue
        codes = [check.code for check in (*checks.ROLE_CHECKS, checks.UNTAGGED_TRUSTING)]
        if name in PURPOSES:
            codes += [checks.SERVICE_TRUST.code, checks.PERMISSIONS.code, checks.KNOWN_PURPOSES.code]
            if upgrade_target:
                codes.append(checks.UPGRADE_READY.code)
        results[name] = {code: passed for code in codes}
        results[name].update(failing)
        results[name].update(EXPECTED_PURPOSES.get(name, {}))
        if upgrade_target:
            results[name].update(EXPECTED_UPGRADE.get(name, {}))
    return results


def findings_per_role() -> int:
    """The findings of one role in scope that declares no purpose: every role check and the drift check."""
    from .. import checks

    return len(checks.ROLE_CHECKS) + 1


def expected_count(*, upgrade_target: bool = False, status: str | None = None) -> int:
    """How many findings a scan of the sample account makes (of one ``status``, or all)."""
    return sum(
        1
        for results in expected_results(upgrade_target=upgrade_target).values()
        for found, _ in results.values()
        if status is None or found == status
    )


def expected_alerts(*, upgrade_target: bool = False, min_severity: str = "MEDIUM") -> int:
    """How many alerts a first scan of the sample account sends (one per failure at ``min_severity`` or above)."""
    order = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
    return sum(
        1
        for results in expected_results(upgrade_target=upgrade_target).values()
        for status, severity in results.values()
        if status != "PASSED" and order.index(severity) >= order.index(min_severity)
    )


def import_calls(*, upgrade_target: bool = False) -> str:
    """The BatchImportFindings calls a first scan makes, as the command line says it ("1 call", "2 calls")."""
    calls = -(-expected_count(upgrade_target=upgrade_target) // 100)  # at most 100 findings a call
    return f"{calls} call{'s' * (calls != 1)}"


def _purpose_policy(purpose: str, version: str, left_out: tuple[str, ...]) -> str:
    document = required_policy([purpose], version).document
    dropped = {action.lower() for action in left_out}
    for statement in document["Statement"]:
        statement["Action"] = [action for action in statement["Action"] if action.lower() not in dropped]
    return json.dumps(document)


def create_sample_account(iam: Any, account: str, *, partition: str = "aws") -> SampleAccount:
    """Create the appliance role and the sample roles; returns their ARNs."""
    appliance = iam.create_role(
        RoleName=APPLIANCE_NAME,
        Path=APPLIANCE_PATH,
        AssumeRolePolicyDocument=_policy(_allow({"Service": "ec2.amazonaws.com"})),
        Description="Veeam Backup for AWS appliance: Impersonation role",
    )["Role"]
    appliance_arn = appliance["Arn"]
    iam.create_instance_profile(InstanceProfileName=APPLIANCE_NAME)
    iam.add_role_to_instance_profile(InstanceProfileName=APPLIANCE_NAME, RoleName=APPLIANCE_NAME)
    iam.put_role_policy(
        RoleName=APPLIANCE_NAME,
        PolicyName="AssumeVeeamRoles",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    )
    root = f"arn:{partition}:iam::{account}:root"
    trusts = {
        "VeeamRepositoryHealthy": _policy(
            _allow({"AWS": appliance_arn}, Sid="VeeamAppliance"),
            _allow({"Service": "batchoperations.s3.amazonaws.com"}, Sid="S3BatchOperations"),
        ),
        "VeeamWorkerByAccount": _policy(_allow({"AWS": root})),
        "VeeamSnapshotMissingTrust": _policy(_allow({"Service": "ec2.amazonaws.com"})),
        "VeeamRestoreDeletedPrincipal": _policy(_allow({"AWS": DELETED_APPLIANCE_ID})),
        "VeeamArchiveWildcard": _policy(_allow({"AWS": "*"})),
        "VeeamCopyForeignAccount": _policy(
            _allow({"AWS": appliance_arn}, Sid="Veeam"),
            _allow({"AWS": f"arn:{partition}:iam::{FOREIGN_ACCOUNT}:root"}, Sid="Partner"),
        ),
        "VeeamRdsConditional": _policy(
            _allow({"AWS": appliance_arn}, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
        ),
        "VeeamEfsNotPrincipal": _policy(
            _allow({"AWS": root}, Sid="Account"),
            {
                "Sid": "OnlyAdmins",
                "Effect": "Deny",
                "NotPrincipal": {"AWS": [f"arn:{partition}:iam::{account}:role/Admin", root]},
                "Action": "sts:AssumeRole",
            },
        ),
        "VeeamDynamoMalformed": _policy(_allow({"AWS": appliance_arn}, Resource="*")),
        "LegacyBackupRole": _policy(_allow({"AWS": appliance_arn})),
        "AppServerRole": _policy(_allow({"Service": "ec2.amazonaws.com"})),
    }
    arns: dict[str, str] = {}
    for name, trust in trusts.items():
        tags = [] if name in UNTAGGED else [{"Key": TAG_KEY, "Value": "true"}]
        if name in PURPOSES:
            tags.append({"Key": PURPOSE_TAG_KEY, "Value": PURPOSES[name][0]})
        arns[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=tags)["Role"]["Arn"]
    for name, (purpose, version, left_out) in PURPOSES.items():
        # One customer managed policy per role (the scan reads them with GetAccountAuthorizationDetails).
        policy = iam.create_policy(
            PolicyName=f"{name}Permissions", PolicyDocument=_purpose_policy(purpose, version, left_out)
        )
        iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
    return SampleAccount(account=account, appliance_role_arn=appliance_arn, role_arns=arns)
