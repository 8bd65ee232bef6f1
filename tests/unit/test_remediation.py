"""Corrected trust policies: the minimal change, every other statement kept, proven by the engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from veeam_role_auditor.policy import evaluate_trust, make_appliance
from veeam_role_auditor.remediation import (
    DEFAULT_TRUST_POLICY_QUOTA,
    corrected_trust_policy,
    narrowed_trust_policy,
    plan_trust_fix,
    policy_diff,
    policy_length,
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
    assert corrected is not None
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


def test_deny_under_unknown_condition_is_not_narrowed_unless_forced() -> None:
    # The Deny may be a deliberate guard (an IP allow-list): exempting the appliance widens access.
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sts:AssumeRole",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    }
    refused = plan_trust_fix(doc(VEEAM, deny), ROLE, APPLIANCE)
    assert refused.document is None
    assert refused.refusal is not None
    assert refused.refusal.startswith(
        "whether the appliance can assume the role depends on values the auditor does not know"
    )
    assert refused.deciding_inputs == ("aws:SourceIp: not known offline; check it by hand",)

    forced = plan_trust_fix(doc(VEEAM, deny), ROLE, APPLIANCE, force=True)
    assert forced.document is not None
    assert forced.document["Statement"][1]["Condition"] == {
        "NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "ArnNotEquals": {"aws:PrincipalArn": APPLIANCE_ARN},
    }


def test_deny_naming_the_appliance_and_its_account_gets_an_exemption_not_an_error() -> None:
    # Removing the appliance's ARN leaves the account root, which still covers it: exempt by condition.
    deny = {"Effect": "Deny", "Principal": {"AWS": [APPLIANCE_ARN, ROOT]}, "Action": "sts:AssumeRole"}
    assert fixed(doc(VEEAM, deny)) == doc(
        VEEAM,
        {
            "Effect": "Deny",
            "Principal": {"AWS": ROOT},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": APPLIANCE_ARN}},
        },
    )


def test_deny_naming_the_appliance_and_everyone_gets_an_exemption_not_an_error() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": [APPLIANCE_ARN, "*"]}, "Action": "sts:AssumeRole"}
    corrected = fixed(doc(VEEAM, deny))
    assert corrected["Statement"][1] == {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": APPLIANCE_ARN}},
    }


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"sts:ExternalId": "veeam-123"}},
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
    ],
    ids=["external-id", "source-ip", "org-id"],
)
def test_a_conditional_appliance_allow_never_gets_an_unconditional_twin(condition: dict[str, Any]) -> None:
    guarded = {
        "Effect": "Allow",
        "Principal": {"AWS": APPLIANCE_ARN},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }
    fix = plan_trust_fix(doc(guarded), ROLE, APPLIANCE)
    assert (fix.document, fix.added) == (None, None)
    assert corrected_trust_policy(doc(guarded), ROLE, APPLIANCE) is None
    key = next(iter(next(iter(condition.values()))))
    assert len(fix.deciding_inputs) == 1
    assert fix.deciding_inputs[0].startswith(
        {
            "sts:ExternalId": "--external-id",
            "aws:SourceIp": "aws:SourceIp: not known offline",
            "aws:PrincipalOrgID": "--appliance-org-id",
        }[key]
    )


def test_a_wrong_external_id_is_refused_with_the_guarded_statement_named() -> None:
    guarded = {
        "Sid": "Veeam",
        "Effect": "Allow",
        "Principal": {"AWS": APPLIANCE_ARN},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "expected"}},
    }
    appliance = make_appliance(APPLIANCE_ARN, external_id="other")
    assert evaluate_trust(doc(guarded), ROLE, appliance).appliance_can_assume == "no"
    fix = plan_trust_fix(doc(guarded), ROLE, appliance)
    assert fix.document is None
    assert fix.refusal is not None
    assert fix.refusal.startswith('Statement[0] (Sid "Veeam") lets the appliance in only under its Condition')
    # The right value decides it: nothing to change.
    right = make_appliance(APPLIANCE_ARN, external_id="expected")
    assert plan_trust_fix(doc(guarded), ROLE, right).document == doc(guarded)


def test_forcing_adds_the_statement_beside_a_conditional_allow() -> None:
    guarded = {
        "Effect": "Allow",
        "Principal": {"AWS": APPLIANCE_ARN},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "x"}},
    }
    fix = plan_trust_fix(doc(guarded), ROLE, APPLIANCE, force=True)
    assert fix.document == doc(guarded, VEEAM)


def test_a_conditional_allow_for_someone_else_does_not_block_the_fix() -> None:
    # Conditions that guard other principals are not the appliance's: adding its own Allow is the fix.
    other = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/Other"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "x"}},
    }
    assert fixed(doc(other)) == doc(other, VEEAM)


def test_no_version_stays_absent() -> None:
    # Without Version, 2008-10-17 applies and ${...} is literal text: adding one would change the policy.
    literal = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/Other"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "${aws:username}"}},
    }
    assert fixed({"Statement": [literal]}) == {"Statement": [literal, VEEAM]}


def test_an_unreadable_version_becomes_2012_with_a_note() -> None:
    fix = plan_trust_fix({"Version": "2020-01-01", "Statement": [EC2]}, ROLE, APPLIANCE)
    assert fix.document == doc(EC2, VEEAM)
    assert fix.notes == ('Version "2020-01-01" is not one IAM accepts: the corrected policy uses 2012-10-17',)


def test_a_correction_over_the_quota_is_refused() -> None:
    principals: list[str] = []
    crowded = doc()
    while policy_length(crowded) < DEFAULT_TRUST_POLICY_QUOTA - 60:  # fits; the Veeam statement does not
        principals.append(f"arn:aws:iam::111122223333:role/Service{len(principals):03d}")
        crowded = doc({"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"})
    assert policy_length(crowded) <= DEFAULT_TRUST_POLICY_QUOTA
    fix = plan_trust_fix(crowded, ROLE, APPLIANCE, max_length=DEFAULT_TRUST_POLICY_QUOTA)
    assert fix.document is None
    assert fix.refusal is not None
    assert "over the account's trust policy quota of 2048" in fix.refusal
    assert plan_trust_fix(crowded, ROLE, APPLIANCE, max_length=4096).document is not None


def test_policy_length_does_not_count_white_space() -> None:
    assert policy_length('{ "Version" : "2012-10-17" }') == len('{"Version":"2012-10-17"}')
    assert policy_length({"Version": "2012-10-17"}) == len('{"Version":"2012-10-17"}')


def test_narrowing_replaces_wildcard_and_appliance_account_but_keeps_foreign_principals() -> None:
    foreign = "arn:aws:iam::999988887777:root"
    broad = doc(
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": [ROOT, foreign]}, "Action": "sts:AssumeRole"},
        EC2,
    )
    narrowing = narrowed_trust_policy(broad, ROLE, APPLIANCE)
    assert narrowing.document == doc(
        {"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": [APPLIANCE_ARN, foreign]}, "Action": "sts:AssumeRole"},
        EC2,
    )
    assert narrowing.changes == (
        f'Statement[0]: Principal "*" becomes {APPLIANCE_ARN}',
        f"Statement[1]: {ROOT} becomes {APPLIANCE_ARN}",
    )


def test_narrowing_that_would_lock_the_appliance_out_is_refused() -> None:
    # "*" limited to another role: replacing "*" by the appliance would leave no one, the appliance included.
    only_other = {
        "Effect": "Allow",
        "Principal": {"AWS": [ROOT]},
        "Action": "sts:AssumeRole",
    }
    narrowing = narrowed_trust_policy(
        doc(
            only_other,
            {
                "Effect": "Deny",
                "Principal": {"AWS": APPLIANCE_ARN},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Nope"}},
            },
        ),
        ROLE,
        APPLIANCE,
    )
    assert narrowing.document is not None  # still works: the Deny never matches
    nothing = narrowed_trust_policy(doc(EC2, VEEAM), ROLE, APPLIANCE)
    assert (nothing.document, nothing.reason) == (
        None,
        'no Allow names "*" or the appliance\'s whole account: nothing to narrow',
    )


def test_sid_clash_gets_a_unique_sid() -> None:
    taken = dict(EC2, Sid="VeeamApplianceAssumeRole")
    assert fixed(doc(taken))["Statement"][1]["Sid"] == "VeeamApplianceAssumeRole2"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", doc(VEEAM)),
        (
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
            {"Statement": [VEEAM]},  # no Version before, none after
        ),
    ],
    ids=["not-json", "resource-in-trust"],
)
def test_malformed_documents_are_rebuilt_from_what_iam_would_accept(document: str, expected: dict[str, Any]) -> None:
    assert fixed(document) == expected


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
