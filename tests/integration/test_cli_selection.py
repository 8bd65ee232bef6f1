"""Quiet by policy: choose the checks, trust known accounts, list the catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veeam_role_auditor import checks
from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.sample_account import SampleAccount
from veeam_role_auditor.settings import ScanSettings, SettingsError

PARTNER = "999988887777"


def scan_json(sample: SampleAccount, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[dict]]:
    code = main(["scan", "--appliance-role-arn", sample.appliance_role_arn, "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)["findings"]


def test_excluded_checks_are_not_reported(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    _, everything = scan_json(sample, capsys)
    _, fewer = scan_json(sample, capsys, "--exclude-checks", "VRA-TRUST-7,vra-inventory-1")
    assert {f["check"] for f in fewer} == {f["check"] for f in everything} - {"VRA-TRUST-7", "VRA-INVENTORY-1"}
    assert [f for f in everything if f["check"] not in ("VRA-TRUST-7", "VRA-INVENTORY-1")] == fewer


def test_only_the_chosen_checks_are_reported(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, only = scan_json(sample, capsys, "--checks", "VRA-TRUST-3", "--checks", "VRA-TRUST-4")
    assert {f["check"] for f in only} == {"VRA-TRUST-3", "VRA-TRUST-4"}
    assert code == 1  # the wildcard role is still CRITICAL


def test_an_unknown_check_is_a_usage_error(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "--appliance-role-arn", sample.appliance_role_arn, "--exclude-checks", "VRA-TRUST-99"])
    assert (code, capsys.readouterr().err) == (
        2,
        "veeam-role-auditor: error: --exclude-checks: unknown check VRA-TRUST-99 "
        "(list them with: veeam-role-auditor checks)\n",
    )


def test_a_trusted_account_is_not_foreign(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    _, before = scan_json(sample, capsys)
    _, after = scan_json(sample, capsys, "--trusted-account", PARTNER)
    foreign_before = [f for f in before if f["check"] == "VRA-TRUST-4" and f["status"] == "FAILED"]
    foreign_after = [f for f in after if f["check"] == "VRA-TRUST-4" and f["status"] == "FAILED"]
    assert len(foreign_before) == 1
    assert foreign_after == []
    (passed,) = [f for f in after if f["id"] == foreign_before[0]["id"]]
    assert passed["details"] == [f"trusted by configuration: {PARTNER}"]


def test_evaluate_drops_the_foreign_risk_for_a_trusted_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    appliance = "arn:aws:iam::111122223333:role/Imp"
    policy = tmp_path / "trust.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": appliance}, "Action": "sts:AssumeRole"},
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
                        "Action": "sts:AssumeRole",
                    },
                ],
            }
        )
    )
    argv = ["evaluate", "--appliance-role-arn", appliance, "--role-arn", "arn:aws:iam::111122223333:role/R"]
    assert main([*argv, "--policy-file", str(policy)]) == 0
    assert "foreign_account_trusted" in json.loads(capsys.readouterr().out)["risks"]
    assert main([*argv, "--policy-file", str(policy), "--trusted-account", PARTNER]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["risks"] == ["account_root_trust"]
    assert not any(PARTNER in reason and "neither" in reason for reason in verdict["reasons"])


def test_the_checks_command_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checks", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["code"], c["severity"], c["title"]) for c in listed] == [
        (check.code, check.severity, check.title) for check in checks.CATALOGUE.values()
    ]
    assert main(["checks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "VRA-TRUST-1      HIGH           The Veeam appliance should be able to assume the role"
    assert len(lines) == len(checks.CATALOGUE)


def test_the_lambda_settings_read_the_template_parameters() -> None:
    settings = ScanSettings.from_environment(
        {
            "VRA_APPLIANCE_ROLE_ARNS": "arn:aws:iam::111122223333:role/Imp",
            "VRA_EXCLUDED_CHECKS": "VRA-TRUST-7",
            "VRA_TRUSTED_ACCOUNT_IDS": f"{PARTNER}, 444455556666",
        }
    )
    assert (settings.excluded_checks, settings.trusted_accounts) == (("VRA-TRUST-7",), (PARTNER, "444455556666"))
    assert not settings.reports("VRA-TRUST-7")
    assert settings.reports("VRA-TRUST-1")
    with pytest.raises(SettingsError, match="unknown check VRA-NOPE-1"):
        ScanSettings.from_environment(
            {"VRA_APPLIANCE_ROLE_ARNS": "arn:aws:iam::111122223333:role/Imp", "VRA_EXCLUDED_CHECKS": "VRA-NOPE-1"}
        )
