"""Realistic trust policies for the benchmarks: the shapes found in accounts that run Veeam."""

from __future__ import annotations

import random
from typing import Any

APPLIANCE_ACCOUNT = "111122223333"
APPLIANCE_ARN = f"arn:aws:iam::{APPLIANCE_ACCOUNT}:role/veeam/ImpersonationRole"
APPLIANCE_ID = "AROAAPPLIANCEEXAMPLE1"
GITHUB = "token.actions.githubusercontent.com"


def _statement(rng: random.Random, index: int) -> dict[str, Any]:
    kind = rng.choices(
        ["veeam_role", "veeam_root", "external_id", "service", "oidc", "saml", "partner", "deny_ip", "org"],
        weights=[30, 12, 8, 20, 6, 4, 8, 6, 6],
    )[0]
    sid = f"S{index}{rng.randrange(10_000)}"
    if kind == "veeam_role":
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": APPLIANCE_ARN},
            "Action": "sts:AssumeRole",
        }
    if kind == "veeam_root":
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{APPLIANCE_ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    if kind == "external_id":
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": APPLIANCE_ARN},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": f"veeam-{rng.randrange(10**6)}"}},
        }
    if kind == "service":
        service = rng.choice(
            [
                "batchoperations.s3.amazonaws.com",
                "ec2.amazonaws.com",
                "lambda.amazonaws.com",
                "backup.amazonaws.com",
            ]
        )
        return {"Sid": sid, "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if kind == "oidc":
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{APPLIANCE_ACCOUNT}:oidc-provider/{GITHUB}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": f"repo:org/repo{rng.randrange(500)}:*"},
            },
        }
    if kind == "saml":
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{APPLIANCE_ACCOUNT}:saml-provider/Okta"},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        }
    if kind == "partner":
        account = f"{rng.randrange(10**11, 10**12):012d}"
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:role/Partner{rng.randrange(99)}"},
            "Action": "sts:AssumeRole",
        }
    if kind == "deny_ip":
        return {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sts:AssumeRole",
            "Condition": {
                "NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", f"192.0.{rng.randrange(255)}.0/24"]},
                "Bool": {"aws:ViaAWSService": "false"},
            },
        }
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{APPLIANCE_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
            "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{APPLIANCE_ACCOUNT}:role/veeam/*"},
        },
    }


def trust_policies(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` distinct trust policies of one to three statements."""
    rng = random.Random(seed)
    return [
        {
            "Version": "2012-10-17",
            "Statement": [_statement(rng, i) for i in range(rng.choice([1, 1, 2, 2, 3]))],
        }
        for _ in range(count)
    ]
