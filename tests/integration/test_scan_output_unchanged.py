"""The faster scan prints what the plain one printed: the same account scanned both ways, outputs compared.

The plain way is the code as it was before the scan was brought to the floor (issue 15): clients from a
stock boto3 session (botocore's timestamp parser), every role evaluated on its own (no shared verdicts),
every untagged role parsed, the JSON written by one json.dump. The account is bench/workload.py's (as in
the 5,000-role bench, whose documents were compared by bench/floor_bench.py) at a smaller size, plus roles
that share one template and roles whose trust reads their tags, so that verdicts are shared.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from veeam_role_auditor import assess, aws, cli_scan
from veeam_role_auditor.assess import _Conclusions
from veeam_role_auditor.cli import main

TAG = "veeam:backup-role"
WORKLOAD = Path(__file__).resolve().parents[2] / "bench" / "workload.py"


def workload_policies(count: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("bench_workload", WORKLOAD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    policies: list[dict[str, Any]] = module.trust_policies(count)
    return policies


@pytest.fixture
def bench_account(iam: Any, account: str) -> str:
    appliance = iam.create_role(
        RoleName="ImpersonationRole",
        Path="/veeam/",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    template = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": appliance}, "Action": "sts:AssumeRole"}],
    }
    tag_reading = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "backup"}},
            }
        ],
    }
    documents = workload_policies(160) + [template] * 20 + [tag_reading] * 20
    for index, document in enumerate(documents):
        text = json.dumps(document).replace("111122223333", account)
        tags = [{"Key": TAG, "Value": "true"}] if index % 2 == 0 else []
        tags.append({"Key": "team", "Value": "backup" if index % 3 == 0 else "apps"})
        iam.create_role(RoleName=f"role-{index:05d}", AssumeRolePolicyDocument=text, Tags=tags)
    return str(appliance)


def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code paths as they were: stock session, no shared verdicts, no pre-check, one json.dump."""

    def stock_session(*, profile_name: str | None = None, region_name: str | None = None) -> boto3.Session:
        return boto3.Session(profile_name=profile_name, region_name=region_name)

    def alone(memo: assess.TrustMemo, role: Any, now: Any) -> tuple[_Conclusions, Any]:
        return _Conclusions(role, memo.appliances, memo.settings, now), now

    def json_dump(document: dict[str, Any], findings: Any, stream: Any) -> None:
        json.dump({**document, "findings": list(findings)}, stream, indent=2, default=str)

    monkeypatch.setattr(aws, "auditor_session", stock_session)
    monkeypatch.setattr(assess.TrustMemo, "conclusions", alone)
    monkeypatch.setattr(assess, "_may_name", lambda *_: True)
    monkeypatch.setattr(cli_scan, "write_json", json_dump)


def scan(capsys: pytest.CaptureFixture[str], appliance: str, *options: str) -> tuple[int, str]:
    code = main(["scan", "--appliance-role-arn", appliance, "--tag-key", TAG, *options])
    out = capsys.readouterr().out
    if options[:2] == ("--format", "json"):
        generated = json.loads(out)["generated_at"]
        out = out.replace(generated, "GENERATED_AT", 1)
    return code, out


@pytest.mark.parametrize(
    "options",
    [
        ("--format", "json"),
        ("--format", "json", "--status", "FAILED", "--status", "WARNING"),
        ("--format", "csv"),
        ("--format", "table", "--all"),
    ],
)
def test_the_scan_prints_what_the_plain_scan_printed(
    bench_account: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...]
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    fast = scan(capsys, bench_account, *options)
    with monkeypatch.context() as patched:
        plain(patched)
        reference = scan(capsys, bench_account, *options)
    assert fast[0] == reference[0] == 1
    assert fast[1] == reference[1]
    assert len(fast[1]) > 10_000


def test_the_plain_paths_are_really_taken(bench_account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the comparison above: with plain() the memo shares nothing and the clients parse with dateutil."""
    hits = []
    real = assess.TrustMemo.conclusions

    def counting(memo: assess.TrustMemo, role: Any, now: Any) -> Any:
        result = real(memo, role, now)
        hits.append(memo.hits)
        return result

    monkeypatch.setattr(assess.TrustMemo, "conclusions", counting)
    assert main(["scan", "--appliance-role-arn", bench_account, "--tag-key", TAG, "--format", "csv"]) == 1
    assert hits[-1] >= 15  # the tagged template roles and the tag-reading roles with equal tags share verdicts
    with monkeypatch.context() as patched:
        plain(patched)
        clients = cli_scan.Clients(region="us-east-1", profile=None, endpoint_url=None)
        assert "timestamp_parser" not in clients("iam")._endpoint._response_parser_factory._defaults
