"""``scan --suppressions``: accepted exceptions are shown and marked, never alerted or failed on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.sample_account import SampleAccount

RULES = """
suppressions:
  - check: VRA-TRUST-3
    role: VeeamArchiveWildcard
    reason: archive role is reached through an SCP-guarded org only (ticket SEC-42)
    expires: 2999-12-31
  - check: "*"
    role: Veeam*Foreign*
    reason: partner account, reviewed yearly
    expires: 2001-01-01
"""


def scan(sample: SampleAccount, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict, str]:
    code = main(["scan", "--appliance-role-arn", sample.appliance_role_arn, "--format", "json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def test_a_suppressed_finding_is_still_reported_and_marked(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "suppressions.yaml"
    rules.write_text(RULES)
    code, document, err = scan(sample, capsys, "--suppressions", str(rules), "--fail-on", "CRITICAL")

    wildcard = [f for f in document["findings"] if f["check"] == "VRA-TRUST-3" and f["status"] == "FAILED"]
    assert [f["suppressed"] for f in wildcard] == [
        "archive role is reached through an SCP-guarded org only (ticket SEC-42)"
    ]
    assert code == 0  # the only CRITICAL failure is an accepted exception
    # The expired rule no longer applies, and says so once.
    assert err.count("has expired and no longer applies") == 1
    assert err.startswith(f"note: suppression {rules}, rule 2 (* on Veeam*Foreign*, until 2001-01-01) has expired")
    foreign = [f for f in document["findings"] if f["check"] == "VRA-TRUST-4" and f["status"] == "FAILED"]
    assert [f["suppressed"] for f in foreign] == [None]


def test_without_the_rules_the_same_scan_fails(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = scan(sample, capsys, "--fail-on", "CRITICAL")
    assert code == 1


def test_an_invalid_rule_file_stops_before_scanning(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "suppressions.yaml"
    rules.write_text("- check: VRA-TRUST-3\n  role: x\n  reason: y\n")
    code, document, err = scan(sample, capsys, "--suppressions", str(rules))
    assert (code, document) == (2, {})
    assert err == (
        f"veeam-role-auditor: error: --suppressions: {rules}, rule 1: missing expires: every rule needs check, "
        "role, reason, expires\n"
    )
