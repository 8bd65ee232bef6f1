"""``evaluate`` output: document text stays text, advice never widens trust, oversized documents are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from veeam_role_auditor.cli import main
from veeam_role_auditor.cli_scan import print_table
from veeam_role_auditor.inventory import Caller
from veeam_role_auditor.model import Finding
from veeam_role_auditor.scan import ScanResult

APPLIANCE = "arn:aws:iam::111122223333:role/veeam/Imp"
ROLE = "arn:aws:iam::111122223333:role/VeeamRepo"
FORGED_KEY = "aws:x\x1b[2J\nappliance can assume: yes"


def evaluate_text(tmp_path: Path, document: dict[str, Any], capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(document))
    argv = ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file", str(path)]
    assert main([*argv, "--format", "text", *extra]) == 0
    return capsys.readouterr().out


def appliance_allow_if(condition: dict[str, Any]) -> dict[str, Any]:
    """A trust policy whose only Allow for the appliance carries ``condition``."""
    allow = {"Effect": "Allow", "Principal": {"AWS": APPLIANCE}, "Action": "sts:AssumeRole", "Condition": condition}
    return {"Version": "2012-10-17", "Statement": [allow]}


def test_a_condition_key_with_escape_sequences_cannot_forge_a_verdict_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = evaluate_text(tmp_path, appliance_allow_if({"StringEquals": {FORGED_KEY: "1"}}), capsys)
    assert "\x1b" not in out
    assert [line for line in out.splitlines() if line.startswith("appliance can assume")] == [
        "appliance can assume: no"
    ]
    assert "aws:x\\x1b[2J\\x0aappliance can assume: yes" in out


def test_a_conditional_verdict_gets_no_advice_to_add_an_unconditional_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = appliance_allow_if({"StringEquals": {"sts:ExternalId": "veeam-1"}})
    out = evaluate_text(tmp_path, document, capsys)
    assert "add this statement" not in out
    assert "No change is proposed: whether the appliance can assume the role depends on values" in out
    assert "  decided by: --external-id (template parameter ExternalId): the external id Veeam passes" in out
    assert evaluate_text(tmp_path, document, capsys, "--external-id", "veeam-1").endswith(
        "This will work: the appliance can assume the role.\n"
    )


def test_an_oversized_document_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    principals = [f"arn:aws:iam::111122223333:role/service-role/Backup{n:03d}" for n in range(60)]
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": [APPLIANCE, *principals]}, "Action": "sts:AssumeRole"}],
    }
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(document, indent=4))
    length = len(json.dumps(document, separators=(",", ":")))
    argv = ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file", str(path)]
    assert main(argv) == 0
    reasons = json.loads(capsys.readouterr().out)["reasons"]
    assert reasons[-1] == (
        f"size: the document is {length} characters (white space not counted), over the trust policy quota of "
        '2048 (IAM and AWS STS quotas, "Role trust policy length"): IAM refuses it unless the account\'s quota '
        "is raised"
    )
    assert main([*argv, "--trust-policy-quota", "4096"]) == 0
    assert not json.loads(capsys.readouterr().out)["reasons"][-1].startswith("size:")


def test_the_scan_table_escapes_role_names_and_details() -> None:
    finding = Finding(
        id="veeam-role-auditor/aws/111122223333/VRA-TRUST-1/x",
        check="VRA-TRUST-1",
        status="WARNING",
        severity="MEDIUM",
        title="t",
        description="d",
        remediation="r",
        role_arn="arn:aws:iam::111122223333:role/Evil\x1b[31m",
        account="111122223333",
        partition="aws",
        appliance_role_arns=(APPLIANCE,),
        observed_at=datetime(2026, 11, 30, tzinfo=UTC),
        details=(f"only if {FORGED_KEY}",),
    )
    moment = datetime(2026, 11, 30, tzinfo=UTC)
    result = ScanResult(Caller("aws", "111122223333", "arn"), (finding,), 1, 1, (), moment, moment)
    console = Console(record=True, width=200, color_system=None)
    print_table(result, show_passed=False, console=console)
    text = console.export_text()
    assert "\x1b" not in text
    assert "Evil\\x1b[31m" in text
    assert "\\x0aappliance can assume: yes" in text
