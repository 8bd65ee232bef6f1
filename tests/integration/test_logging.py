"""What the functions log at INFO: summaries, never a policy document or a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.integration.harness import Deployment, make_deployment
from veeam_role_auditor.dev.handlers import load_event
from veeam_role_auditor.dev.sample_account import SampleAccount

EXTERNAL_ID = "veeam-ext-5b1f2a9c"


@pytest.fixture
def deployment(
    sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    monkeypatch.setenv("VRA_EXTERNAL_ID", EXTERNAL_ID)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    return make_deployment(sample, dynamodb, securityhub, sns, sqs, monkeypatch)


def test_no_policy_document_or_secret_is_logged(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    deployment.scheduled(load_event("scheduled_scan.json"))
    for path in sorted((EVENTS / "cloudtrail").glob("*.json")):
        deployment.iam_change(json.loads(path.read_text()))
    deployment.iam_change(load_event("recheck_sqs.json"))
    logged = capsys.readouterr().out + caplog.text
    records = [line for line in logged.splitlines() if line.startswith("{")]
    assert records  # the functions did log
    assert '"Statement"' not in logged
    assert "policyDocument" not in logged
    assert "AssumeRolePolicyDocument" not in logged
    assert EXTERNAL_ID not in logged
