"""A scan's findings make their id and texts when read (Finding.with_texts): the same strings, the same value."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from veeam_role_auditor import checks
from veeam_role_auditor.model import Finding, FindingTexts, finding_id

ROLE = "arn:aws:iam::123456789012:role/backup/VeeamRepository"
APPLIANCE = "arn:aws:iam::111122223333:role/veeam/Impersonation"
FIELDS = {
    "role_name": "VeeamRepository",
    "role_arn": ROLE,
    "appliance_role_arn": APPLIANCE,
    "appliance_account": "111122223333",
}
OBSERVED = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def common(role_arn: str = ROLE) -> dict[str, object]:
    return {
        "check": "VRA-TRUST-3",
        "status": "FAILED",
        "severity": "CRITICAL",
        "role_arn": role_arn,
        "account": "123456789012",
        "partition": "aws",
        "appliance_role_arns": (APPLIANCE,),
        "observed_at": OBSERVED,
        "details": ("the trust policy allows any principal",),
    }


def test_the_texts_are_the_check_templates_filled_for_the_role() -> None:
    texts = FindingTexts(
        "Trust policy allows any principal", "{role_name} trusts everyone.", "Trust {appliance_role_arn} only.", FIELDS
    )
    finding = Finding.with_texts(texts, **common())  # type: ignore[arg-type]
    assert finding.id == "veeam-role-auditor/aws/123456789012/VRA-TRUST-3/" + ROLE
    assert finding.title == "Trust policy allows any principal: VeeamRepository"
    assert finding.description == "VeeamRepository trusts everyone."
    assert finding.remediation == f"Trust {APPLIANCE} only."
    assert finding.summary()["title"] == finding.title
    assert finding.summary()["remediation"] == finding.remediation


def test_a_finding_made_when_read_equals_one_given_its_strings() -> None:
    texts = FindingTexts("Title", "Plain description.", "Fix {role_name}.", FIELDS)
    lazy = Finding.with_texts(texts, **common())  # type: ignore[arg-type]
    eager = Finding(
        id=lazy.id,
        title="Title: VeeamRepository",
        description="Plain description.",
        remediation="Fix VeeamRepository.",
        **common(),  # type: ignore[arg-type]
    )
    assert lazy == eager
    assert repr(lazy) == repr(eager)
    assert lazy != replace(eager, remediation="something else")
    # dataclasses.replace (suppressions mark findings so) keeps every text
    marked = replace(lazy, extra={"suppressed": "true"})
    assert (marked.id, marked.title, marked.description, marked.remediation) == (
        eager.id,
        eager.title,
        eager.description,
        eager.remediation,
    )
    assert marked.extra == {"suppressed": "true"}


def test_strings_given_win_over_the_templates() -> None:
    texts = FindingTexts("Title", "Description.", "Fix {role_name}.", FIELDS)
    finding = Finding.with_texts(texts, remediation="Given.", **common())  # type: ignore[arg-type]
    assert finding.remediation == "Given."
    assert finding.title == "Title: VeeamRepository"


def test_a_long_role_arn_gives_the_hashed_id_as_finding_id_does() -> None:
    long_arn = "arn:aws:iam::123456789012:role/" + "p/" * 240 + "VeeamRepository"
    finding = Finding.with_texts(FindingTexts("T", "D", "R", FIELDS), **common(long_arn))  # type: ignore[arg-type]
    assert finding.id == finding_id("aws", "123456789012", "VRA-TRUST-3", long_arn)
    assert finding.id.startswith("veeam-role-auditor/aws/123456789012/VRA-TRUST-3/sha256:")
    assert len(finding.id) <= 512


@pytest.mark.parametrize("check", list(checks.CATALOGUE.values()), ids=list(checks.CATALOGUE))
def test_every_catalogue_template_fills_as_str_format_would(check: checks.Check) -> None:
    texts = FindingTexts(check.title, check.description, check.remediation, FIELDS)
    finding = Finding.with_texts(texts, **{**common(), "check": check.code})  # type: ignore[arg-type]
    assert finding.title == f"{check.title}: VeeamRepository"
    assert finding.description == check.description.format(**FIELDS)
    assert finding.remediation == check.remediation.format(**FIELDS)
