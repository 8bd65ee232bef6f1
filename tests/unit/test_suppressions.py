"""Suppression rules: parsed strictly, applied to failing findings only, ended by their date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from veeam_role_auditor import checks
from veeam_role_auditor.model import Finding
from veeam_role_auditor.suppressions import (
    SUPPRESSED,
    SUPPRESSED_BY,
    SUPPRESSED_UNTIL,
    SuppressionError,
    apply_suppressions,
    parse_rules,
    split_expired,
)

KNOWN = tuple(checks.CATALOGUE)
ROLE = "arn:aws:iam::111122223333:role/backup/VeeamWorkerByAccount"


def finding(check: str = "VRA-TRUST-7", status: str = "FAILED", role_arn: str = ROLE) -> Finding:
    return Finding(
        id=f"veeam-role-auditor/aws/111122223333/{check}/{role_arn}",
        check=check,
        status=status,  # type: ignore[arg-type]
        severity="LOW",
        title="t",
        description="d",
        remediation="r",
        role_arn=role_arn,
        account="111122223333",
        partition="aws",
        appliance_role_arns=(),
        observed_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


YAML = """
suppressions:
  - check: VRA-TRUST-7
    role: VeeamWorker*
    reason: Veeam documents the appliance account as a valid principal; accepted by the backup team
    expires: 2027-03-31
  - check: "*"
    role: arn:aws:iam::111122223333:role/legacy/*
    reason: legacy roles, migration ticket BKP-12
    expires: "2026-12-31"
"""


def test_yaml_and_json_rules_parse_to_the_same_rules() -> None:
    from_yaml = parse_rules(YAML, "rules.yaml", known_checks=KNOWN)
    json_text = (
        '[{"check": "VRA-TRUST-7", "role": "VeeamWorker*", "reason": "Veeam documents the appliance account as a valid'
        ' principal; accepted by the backup team", "expires": "2027-03-31"}]'
    )
    from_json = parse_rules(json_text, "rules.json", known_checks=KNOWN)
    assert [(r.check, r.role, r.expires) for r in from_yaml] == [
        ("VRA-TRUST-7", "VeeamWorker*", date(2027, 3, 31)),
        ("*", "arn:aws:iam::111122223333:role/legacy/*", date(2026, 12, 31)),
    ]
    assert (from_json[0].check, from_json[0].role, from_json[0].reason, from_json[0].expires) == (
        from_yaml[0].check,
        from_yaml[0].role,
        from_yaml[0].reason,
        from_yaml[0].expires,
    )
    assert from_yaml[1].source == "rules.yaml, rule 2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "rules.yaml, rule 1: expected a mapping with check, role, reason, expires; got int"),
        ("{}", "rules.yaml: expected a list of rules (or suppressions: [...]), not dict"),
        (
            '[{"check": "VRA-TRUST-9", "role": "x", "reason": "y", "expires": "2027-01-01"}]',
            "rules.yaml, rule 1: check 'VRA-TRUST-9' is not a check code "
            "(list them with: veeam-role-auditor checks) or *",
        ),
        (
            '[{"check": "*", "role": "x", "reason": "y"}]',
            "rules.yaml, rule 1: missing expires: every rule needs check, role, reason, expires",
        ),
        (
            '[{"check": "*", "role": "x", "reason": "y", "expires": "31.12.2027"}]',
            "rules.yaml, rule 1: expires must be a date YYYY-MM-DD, got '31.12.2027'",
        ),
        (
            '[{"check": "*", "role": "x", "reason": " ", "expires": "2027-01-01"}]',
            "rules.yaml, rule 1: reason must say why the exception is accepted",
        ),
        (
            '[{"check": "*", "role": "x", "reason": "y", "expires": "2027-01-01", "until": 1}]',
            "rules.yaml, rule 1: unknown field until (allowed: check, role, reason, expires)",
        ),
        ("check: [unclosed", "rules.yaml: not valid YAML or JSON:"),
    ],
    ids=[
        "not-a-mapping",
        "not-a-list",
        "unknown-check",
        "no-expiry",
        "bad-date",
        "no-reason",
        "unknown-field",
        "bad-yaml",
    ],
)
def test_invalid_rules_are_an_error_naming_the_rule(text: str, message: str) -> None:
    with pytest.raises(SuppressionError) as raised:
        parse_rules(text, "rules.yaml", known_checks=KNOWN)
    assert str(raised.value).startswith(message)


def test_an_empty_file_has_no_rules() -> None:
    assert parse_rules("", "rules.yaml", known_checks=KNOWN) == ()


def test_a_rule_applies_through_its_last_day_and_not_after() -> None:
    rules = parse_rules(YAML, "rules.yaml", known_checks=KNOWN)
    assert split_expired(rules, date(2026, 12, 31)) == (rules, ())
    assert split_expired(rules, date(2027, 1, 1)) == (rules[:1], rules[1:])


def test_failing_findings_that_match_are_marked_with_the_reason() -> None:
    rules = parse_rules(YAML, "rules.yaml", known_checks=KNOWN)
    marked = apply_suppressions(
        [
            finding(),
            finding(status="PASSED"),
            finding(check="VRA-TRUST-3"),
            finding(role_arn="arn:aws:iam::111122223333:role/legacy/Old", check="VRA-TRUST-1", status="WARNING"),
            finding(role_arn="arn:aws:iam::111122223333:role/VEEAMWORKERX"),
        ],
        rules,
    )
    assert [dict(f.extra) for f in marked] == [
        {
            SUPPRESSED: rules[0].reason,
            SUPPRESSED_BY: "rules.yaml, rule 1",
            SUPPRESSED_UNTIL: "2027-03-31",
        },
        {},  # PASSED: nothing to accept
        {},  # another check
        {SUPPRESSED: rules[1].reason, SUPPRESSED_BY: "rules.yaml, rule 2", SUPPRESSED_UNTIL: "2026-12-31"},
        {  # role names match regardless of case, as IAM treats them
            SUPPRESSED: rules[0].reason,
            SUPPRESSED_BY: "rules.yaml, rule 1",
            SUPPRESSED_UNTIL: "2027-03-31",
        },
    ]
