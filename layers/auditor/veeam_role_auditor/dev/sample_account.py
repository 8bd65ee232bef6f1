"""A sample account with one role per outcome of the checks catalogue (for the demo and the tests).

Creates, through the boto3 clients it is given (the embedded emulator in the demo and tests), the
appliance's Impersonation role and a set of Veeam-tagged roles whose trust policies each show one
outcome. ``EXPECTED`` records, per role, the failing checks a scan must report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TAG_KEY = "veeam:backup-role"
APPLIANCE_NAME = "VeeamImpersonation"
APPLIANCE_PATH = "/veeam/"
FOREIGN_ACCOUNT = "999988887777"
DELETED_APPLIANCE_ID = "AROAOLDAPPLIANCEROLE1"


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
        arns[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=tags)["Role"]["Arn"]
    return SampleAccount(account=account, appliance_role_arn=appliance_arn, role_arns=arns)
