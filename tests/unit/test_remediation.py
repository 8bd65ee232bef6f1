"""Corrected trust policies: the minimal change, every other statement kept, proven by the engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from veeam_role_auditor.policy import evaluate_trust, make_appliance
from veeam_role_auditor.remediation import (
    corrected_trust_policy,
    policy_diff,
    statement_to_add,
    with_role_instead_of_account,
    without_deleted_principals,
)

APPLIANCE_ARN = "arn:aws:iam::111122223333:role/veeam/Imp"
APPLIANCE = make_appliance(APPLIANCE_ARN, role_id="AROAAPPLIANCEEXAMPLE1")
ROLE = "arn:aws:iam::111122223333:role/Repo"
ROOT = "arn:aws:iam::111122223333:root"
VEEAM = statement_to_add(APPLIANCE_ARN)
EC2 = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def fixed(document: object) -> dict[str, Any]:
    corrected = corrected_trust_policy(document, ROLE, APPLIANCE)
    assert evaluate_trust(corrected, ROLE, APPLIANCE).appliance_can_assume == "yes"
    return corrected


def test_missing_trust_gets_the_veeam_statement_appended() -> None:
    assert fixed(doc(EC2)) == doc(EC2, VEEAM)


def test_a_policy_that_already_works_is_unchanged() -> None:
    working = doc(EC2, {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"})
    assert fixed(working) == working
    assert policy_diff(working, fixed(working), "Repo") == ""


def test_deny_naming_the_appliance_loses_that_principal_only() -> None:
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": [APPLIANCE_ARN, "arn:aws:iam::111122223333:role/Other"]},
        "Action": "sts:AssumeRole",
    }
    allow_root = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}
    narrowed = dict(deny, Principal={"AWS": "arn:aws:iam::111122223333:role/Other"})
    assert fixed(doc(allow_root, deny)) == doc(allow_root, narrowed)


def test_deny_naming_only_the_appliance_is_removed() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"}
    allow_root = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}
    assert fixed(doc(allow_root, deny)) == doc(allow_root)


def test_deny_for_everyone_gets_an_exception_for_the_appliance_merged_into_its_condition() -> None:
    deny = {
        "Sid": "Lockdown",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sts:AssumeRole",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Admin"}},
    }
    expected = dict(
        deny,
        Condition={"ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/Admin", APPLIANCE_ARN]}},
    )
    assert fixed(doc(VEEAM, deny)) == doc(VEEAM, expected)


def test_deny_under_unknown_condition_is_narrowed_too() -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sts:AssumeRole",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    }
    corrected = fixed(doc(VEEAM, deny))
    assert corrected["Statement"][1]["Condition"] == {
        "NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "ArnNotEquals": {"aws:PrincipalArn": APPLIANCE_ARN},
    }


def test_sid_clash_gets_a_unique_sid() -> None:
    taken = dict(EC2, Sid="VeeamApplianceAssumeRole")
    assert fixed(doc(taken))["Statement"][1]["Sid"] == "VeeamApplianceAssumeRole2"


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": APPLIANCE_ARN},
                        "Action": "sts:AssumeRole",
                        "Resource": "*",
                    }
                ]
            }
        ),
    ],
    ids=["not-json", "resource-in-trust"],
)
def test_malformed_documents_are_rebuilt_from_what_iam_would_accept(document: str) -> None:
    assert fixed(document) == doc(VEEAM)


def test_version_2008_is_kept() -> None:
    assert fixed(doc(EC2, version="2008-10-17")) == doc(EC2, VEEAM, version="2008-10-17")


def test_percent_encoded_input() -> None:
    from urllib.parse import quote

    assert fixed(quote(json.dumps(doc(EC2)))) == doc(EC2, VEEAM)


def test_deleted_principals_are_removed_and_empty_statements_dropped() -> None:
    stale = {
        "Effect": "Allow",
        "Principal": {"AWS": ["AROAOLDDELETED1234567", APPLIANCE_ARN]},
        "Action": "sts:AssumeRole",
    }
    gone = {"Effect": "Allow", "Principal": {"AWS": "AIDAOLDUSER123456789"}, "Action": "sts:AssumeRole"}
    result = without_deleted_principals(doc(stale, gone, EC2), ("AROAOLDDELETED1234567", "AIDAOLDUSER123456789"))
    assert result == doc(dict(stale, Principal={"AWS": APPLIANCE_ARN}), EC2)


def test_account_root_is_replaced_by_the_appliance_role() -> None:
    by_account = {
        "Effect": "Allow",
        "Principal": {"AWS": [ROOT, "111122223333", "arn:aws:iam::999988887777:root"]},
        "Action": "sts:AssumeRole",
    }
    result = with_role_instead_of_account(doc(by_account), "111122223333", APPLIANCE_ARN)
    assert result["Statement"][0]["Principal"] == {"AWS": [APPLIANCE_ARN, "arn:aws:iam::999988887777:root"]}


def test_diff_shows_the_added_statement() -> None:
    diff = policy_diff(doc(EC2), fixed(doc(EC2)), "Repo").splitlines()
    assert diff[:2] == ["--- Repo (current)", "+++ Repo (corrected)"]
    assert '+      "Sid": "VeeamApplianceAssumeRole",' in diff
