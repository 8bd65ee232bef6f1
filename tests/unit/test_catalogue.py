"""The checks catalogue and deterministic finding ids."""

from __future__ import annotations

import re
import string

import pytest

from veeam_role_auditor import checks
from veeam_role_auditor.model import SEVERITY_ORDER, finding_id

FIELDS = {"role_name", "role_arn", "appliance_role_arn", "appliance_account"}
ASFF_NAMESPACES = {
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
}


def template_fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("check", list(checks.CATALOGUE.values()), ids=list(checks.CATALOGUE))
def test_every_check_is_complete(check: checks.Check) -> None:
    assert re.fullmatch(r"VRA-[A-Z]+-\d+", check.code)
    assert check.severity in SEVERITY_ORDER
    assert check.warning_severity in (None, *SEVERITY_ORDER)
    assert 0 < len(check.title) <= 200  # the role name is appended; ASFF Title allows 256
    assert check.description
    assert check.remediation
    assert template_fields(check.remediation) <= FIELDS
    assert template_fields(check.description) <= FIELDS
    for asff_type in check.asff_types:
        assert asff_type.split("/")[0] in ASFF_NAMESPACES
        assert 2 <= len(asff_type.split("/")) <= 3


def test_catalogue_severities_match_the_product_brief() -> None:
    expected = {
        "VRA-TRUST-1": ("HIGH", "MEDIUM"),
        "VRA-IDENTITY-1": ("HIGH", "MEDIUM"),
        "VRA-APPLIANCE-1": ("CRITICAL", None),
        "VRA-TRUST-2": ("HIGH", None),
        "VRA-TRUST-3": ("CRITICAL", None),
        "VRA-TRUST-4": ("HIGH", None),
        "VRA-TRUST-5": ("HIGH", None),
        "VRA-TRUST-6": ("HIGH", None),
        "VRA-TRUST-7": ("LOW", None),
        "VRA-INVENTORY-1": ("INFORMATIONAL", None),
        "VRA-PURPOSE-1": ("HIGH", "MEDIUM"),
        "VRA-PURPOSE-2": ("HIGH", "MEDIUM"),
        "VRA-PURPOSE-3": ("MEDIUM", "LOW"),
        "VRA-PURPOSE-4": ("MEDIUM", None),
    }
    assert {code: (c.severity, c.warning_severity) for code, c in checks.CATALOGUE.items()} == expected


def test_finding_ids_are_deterministic_and_ignore_policy_text() -> None:
    arn = "arn:aws:iam::111122223333:role/veeam/Repo"
    assert finding_id("aws", "111122223333", "VRA-TRUST-1", arn) == (
        "veeam-role-auditor/aws/111122223333/VRA-TRUST-1/arn:aws:iam::111122223333:role/veeam/Repo"
    )
    assert finding_id("aws", "111122223333", "VRA-TRUST-1", arn) != finding_id(
        "aws", "111122223333", "VRA-TRUST-2", arn
    )


def test_very_long_role_arns_give_ids_within_the_security_hub_limit() -> None:
    arn = "arn:aws:iam::111122223333:role/" + "p/" * 250 + "R" * 64
    identifier = finding_id("aws-us-gov", "111122223333", "VRA-TRUST-1", arn)
    assert len(identifier) <= 512
    assert identifier == finding_id("aws-us-gov", "111122223333", "VRA-TRUST-1", arn)
    assert identifier.startswith("veeam-role-auditor/aws-us-gov/111122223333/VRA-TRUST-1/sha256:")


@pytest.mark.parametrize("check", list(checks.CATALOGUE.values()), ids=list(checks.CATALOGUE))
def test_titles_say_what_should_hold_so_a_failure_never_reads_as_a_pass(check: checks.Check) -> None:
    # Security Hub's own controls are named "... should ...": the same title fits PASSED and FAILED.
    assert " should " in check.title
    assert check.holds
    assert " should " not in check.holds
    assert checks.problem_for(check, "PASSED") == check.holds
    assert checks.problem_for(check, "FAILED") == check.problem


@pytest.mark.parametrize(
    "check",
    [c for c in checks.CATALOGUE.values() if c.warning_severity is not None],
    ids=[c.code for c in checks.CATALOGUE.values() if c.warning_severity is not None],
)
def test_a_warning_says_may_not_never_cannot(check: checks.Check) -> None:
    warning = checks.problem_for(check, "WARNING")
    assert " may not " in warning
    assert "cannot" not in warning
    assert (
        checks.problem_for(checks.TRUST_CAN_ASSUME, "WARNING")
        == "the Veeam appliance may not be able to assume the role"
    )
