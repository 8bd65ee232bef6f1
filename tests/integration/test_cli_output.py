"""``scan`` output an operator can use anywhere: JSON, CSV, files, filters, 80 columns, no stray colour."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from veeam_role_auditor.cli import main
from veeam_role_auditor.cli_scan import CSV_COLUMNS
from veeam_role_auditor.dev.sample_account import SampleAccount


def scan(sample: SampleAccount, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["scan", "--appliance-role-arn", sample.appliance_role_arn, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_is_one_versioned_object_with_a_summary(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = scan(sample, capsys, "--format", "json")
    document = json.loads(out)
    assert list(document) == ["schema_version", "tool", "account", "partition", "generated_at", "summary", "findings"]
    assert (document["schema_version"], document["account"], document["partition"]) == ("1", sample.account, "aws")
    assert document["generated_at"].endswith("Z")
    summary = document["summary"]
    findings = document["findings"]
    assert summary["by_status"] == {
        status: sum(1 for f in findings if f["status"] == status)
        for status in ("FAILED", "WARNING", "NOT_AVAILABLE", "PASSED")
    }
    assert (
        sum(summary["failing_by_severity"].values()) == summary["by_status"]["FAILED"] + summary["by_status"]["WARNING"]
    )
    assert (summary["roles_read"], summary["roles_in_scope"]) == (12, 9)


def test_filters_choose_what_is_shown_not_the_exit_code(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = scan(sample, capsys, "--format", "json", "--severity", "critical", "--status", "FAILED")
    findings = json.loads(out)["findings"]
    assert {(f["severity"], f["status"]) for f in findings} == {("CRITICAL", "FAILED")}
    code_low, out_low, _ = scan(sample, capsys, "--format", "json", "--severity", "LOW")
    assert {f["severity"] for f in json.loads(out_low)["findings"]} == {"LOW"}
    assert code == code_low == 1  # HIGH failures exist, shown or not


def test_csv_has_a_header_and_one_row_per_finding(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = scan(sample, capsys, "--format", "csv", "--status", "FAILED")
    rows = list(csv.reader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) > 1
    assert {row[2] for row in rows[1:]} == {"FAILED"}
    assert all(row[4].startswith(f"arn:aws:iam::{sample.account}:role/") for row in rows[1:])


def test_output_file_holds_the_evidence_without_colour(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "evidence.json"
    _, out, err = scan(sample, capsys, "--format", "json", "--output", str(target))
    document = json.loads(target.read_text())
    assert out == ""
    assert err == f"wrote {len(document['findings'])} findings to {target}\n"
    table = tmp_path / "evidence.txt"
    scan(sample, capsys, "--format", "table", "--output", str(table))
    assert "\x1b[" not in table.read_text()
    assert "Veeam roles in account" in table.read_text()


def test_an_unwritable_output_is_a_usage_error(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = scan(sample, capsys, "--format", "json", "--output", "/nonexistent/dir/x.json")
    assert code == 2
    assert err.startswith("veeam-role-auditor: error: cannot write /nonexistent/dir/x.json: No such file or directory")


def test_at_80_columns_each_finding_is_a_block_and_no_arn_is_broken(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = scan(sample, capsys, "--format", "table")
    lines = out.splitlines()
    assert "\x1b[" not in out  # captured output is not a terminal: no colour
    assert not any(line.startswith(("┏", "│", "┃")) for line in lines)  # no table at 80 columns
    arns = [line.strip() for line in lines if line.startswith("  arn:")]
    assert sample.role_arns["VeeamArchiveWildcard"] in arns  # whole, on a line of its own
    headlines = [line for line in lines if line.startswith(("CRITICAL ", "HIGH ", "MEDIUM ", "LOW ", "INFORMATIONAL "))]
    assert headlines[0] == 'CRITICAL FAILED VRA-TRUST-3  The role trusts every AWS principal ("*")'
    assert all(len(line) <= 80 for line in headlines)
    # Lines wrap between words; only a single word longer than the line (an ARN) may run on.
    assert all(len(line) <= 80 or " " not in line.strip() for line in lines)
    assert "12 roles read, 9 in scope: " in out


def test_a_wide_pipe_gets_the_table(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = scan(sample, capsys, "--format", "table")
    assert any(line.startswith("┏") for line in out.splitlines())
    assert max(len(line) for line in out.splitlines()) <= 200
