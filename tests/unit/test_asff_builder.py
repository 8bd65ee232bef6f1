"""Findings built for Security Hub stay valid ASFF whatever the size of what they describe."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from veeam_role_auditor.dev.asff_validation import validate_batch, validate_finding
from veeam_role_auditor.model import Finding, RoleSnapshot, finding_id, iso
from veeam_role_auditor.publish.asff import archived_asff, product_arn, to_asff
from veeam_role_auditor.publish.asff_rules import FIELD_LIMITS, MAX_FINDING_BYTES

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::111122223333:role/veeam/Repo"


def finding(**overrides: object) -> Finding:
    role = RoleSnapshot(
        arn=ROLE_ARN,
        name="Repo",
        role_id="AROAEXAMPLEROLE000001",
        path="/veeam/",
        trust_policy={"Version": "2012-10-17", "Statement": []},
        tags={"veeam:backup-role": "true"},
        observed_at=NOW,
        create_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    values: dict[str, object] = {
        "id": finding_id("aws", "111122223333", "VRA-TRUST-1", ROLE_ARN),
        "check": "VRA-TRUST-1",
        "status": "FAILED",
        "severity": "HIGH",
        "title": "The Veeam appliance can assume the role: Repo",
        "description": "The role's trust policy must let the appliance assume it.",
        "remediation": "Add the statement below.",
        "role_arn": ROLE_ARN,
        "account": "111122223333",
        "partition": "aws",
        "appliance_role_arns": ("arn:aws:iam::111122223333:role/veeam/Imp",),
        "observed_at": NOW,
        "role": role,
        "details": ("no Allow statement grants sts:AssumeRole",),
        "statement_to_add": {"Sid": "VeeamApplianceAssumeRole", "Effect": "Allow"},
        "corrected_policy": {"Version": "2012-10-17", "Statement": []},
    }
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def build(item: Finding) -> dict[str, object]:
    stamp = iso(NOW)
    return to_asff(item, region="eu-west-1", created_at=stamp, first_observed_at=stamp, updated_at=stamp)


def test_a_regular_finding_is_valid_asff() -> None:
    document = build(finding())
    assert validate_finding(document) == []
    assert document["ProductArn"] == product_arn("aws", "eu-west-1", "111122223333")
    assert document["ProductArn"] == "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"


def test_oversized_content_is_shortened_not_rejected() -> None:
    huge_policy = {"Version": "2012-10-17", "Statement": [{"Sid": "S" * 200_000}]}
    role = finding().role
    assert role is not None
    big_role = RoleSnapshot(
        **{**role.__dict__, "trust_policy": huge_policy, "tags": {f"k{i}": "v" * 300 for i in range(60)}}
    )
    item = finding(
        title="T" * 1000,
        description="D" * 5000,
        remediation="R" * 5000,
        details=tuple("detail " * 100 for _ in range(50)),
        corrected_policy=huge_policy,
        role=big_role,
    )
    document = build(item)
    assert validate_finding(document) == []
    assert len(document["Title"]) == FIELD_LIMITS["Title"]  # type: ignore[arg-type]
    assert len(document["Description"]) == FIELD_LIMITS["Description"]  # type: ignore[arg-type]
    assert len(json.dumps(document).encode()) < MAX_FINDING_BYTES
    details = document["Resources"][0]["Details"]["AwsIamRole"]  # type: ignore[index]
    assert "AssumeRolePolicyDocument" not in details  # longer than ASFF allows: left out, not cut
    assert document["ProductFields"]["veeam-role-auditor/CorrectedTrustPolicy"].startswith("too long")  # type: ignore[index]
    assert len(document["Resources"][0]["Tags"]) == 50  # type: ignore[index]


def test_archived_findings_are_valid_asff_too() -> None:
    stamp = iso(NOW)
    document = archived_asff(
        finding_id=finding_id("aws", "111122223333", "VRA-TRUST-3", ROLE_ARN),
        check="VRA-TRUST-3",
        role_arn=ROLE_ARN,
        account="111122223333",
        status="FAILED",
        severity="CRITICAL",
        region="eu-west-1",
        created_at=stamp,
        first_observed_at=stamp,
        updated_at=stamp,
    )
    assert validate_batch([document, build(finding())]) == []
    assert (document["RecordState"], document["Compliance"]) == ("ARCHIVED", {"Status": "FAILED"})


def with_role(**changes: object) -> Finding:
    role = finding().role
    assert role is not None
    return finding(role=RoleSnapshot(**{**role.__dict__, **changes}))


def test_tags_iam_accepts_are_written_in_the_characters_asff_accepts() -> None:
    tags = {
        "veeam:backup-role": "true",
        "Équipe": "Sauvegarde été",  # accents dropped
        "site": "東京 1",  # other letters by code point
        "note": "a\u00a0b\u3000c",  # any space is a space
        "empty": "",  # IAM allows an empty value; ASFF does not: left out
        "Equipe": "second",  # the same key as "Équipe" once written: left out
        "long": "é" + "日" * 255,
    }
    document = build(with_role(tags=tags))
    assert document["Resources"][0]["Tags"] == {  # type: ignore[index]
        "veeam:backup-role": "true",
        "Equipe": "Sauvegarde ete",
        "site": "U+6771U+4EAC 1",
        "note": "a b c",
        "long": "e" + "U+65E5" * 42 + "...",
    }
    assert validate_finding(document) == []


IAM_TAG_TEXT = st.characters(categories=["L", "Z", "N"], include_characters="_.:/=+-@")


@given(
    st.dictionaries(
        st.text(IAM_TAG_TEXT, min_size=1, max_size=128),
        st.text(IAM_TAG_TEXT, max_size=256),
        max_size=50,
    )
)
def test_every_tag_iam_accepts_gives_a_valid_finding(tags: dict[str, str]) -> None:
    # "Tag" (IAM API reference): keys [\p{L}\p{Z}\p{N}_.:/=+\-@]+ of 1-128, values the same, 0-256.
    assert validate_finding(build(with_role(tags=tags))) == []


def test_a_trust_policy_kept_as_text_is_written_in_the_characters_asff_accepts() -> None:
    document = build(with_role(trust_policy='{"Sid": "東京\x1b\u00a0é\U0001f600'))
    details = document["Resources"][0]["Details"]["AwsIamRole"]  # type: ignore[index]
    assert details["AssumeRolePolicyDocument"] == '{"Sid": "\\u6771\\u4eac\\u001b\\u00a0é\\ud83d\\ude00'
    assert validate_finding(document) == []


def test_policy_text_in_findings_is_shown_escaped() -> None:
    forged = "aws:SourceIp\x1b[2J\nVERDICT: OK \u202e"
    document = build(finding(details=(f"condition key {forged} is not known",), remediation=f"Remove {forged}."))
    assert document["Description"] == (
        "The role's trust policy must let the appliance assume it. "
        "condition key aws:SourceIp\\x1b[2J\\x0aVERDICT: OK \\u202e is not known"
    )
    remediation = document["Remediation"]["Recommendation"]["Text"]  # type: ignore[index]
    assert remediation.startswith("Remove aws:SourceIp\\x1b[2J\\x0aVERDICT: OK \\u202e. Statement to add: ")
    assert validate_finding(document) == []


def test_a_statement_too_long_for_its_field_is_not_cut() -> None:
    """A purpose check's policy to add can exceed a ProductFields value: never a cut JSON document."""
    actions = [f"ec2:DescribeSomething{number:04d}" for number in range(200)]
    long = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    short = {"Effect": "Allow", "Action": actions[:3], "Resource": "*"}
    long_field = build(finding(statement_to_add=long))["ProductFields"]["veeam-role-auditor/StatementToAdd"]  # type: ignore[index]
    short_field = build(finding(statement_to_add=short))["ProductFields"]["veeam-role-auditor/StatementToAdd"]  # type: ignore[index]
    assert long_field.startswith("too long for this field")
    assert json.loads(short_field) == short
