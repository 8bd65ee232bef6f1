"""Every failure of ``scan`` is one line with its own exit code, and the findings are never lost."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.sample_account import SampleAccount, expected_count
from veeam_role_auditor.publish.state import create_table


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def scan(sample: SampleAccount, *extra: str) -> list[str]:
    return ["scan", "--appliance-role-arn", sample.appliance_role_arn, "--format", "json", *extra]


def test_a_missing_state_table_still_prints_the_findings(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(scan(sample, "--publish", "--state-table", "no-such-table", "--no-security-hub"), capsys)
    assert code == 3
    assert len(json.loads(out)["findings"]) == expected_count()
    assert err == (
        "veeam-role-auditor: error: nothing published: the state table 'no-such-table' does not exist in us-east-1 "
        "(deploy the stack, or pass the StateTableName output of the deployed one)\n"
    )


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("not-an-arn", "--topic-arn 'not-an-arn' is not an ARN: expected arn:aws:sns:REGION:ACCOUNT:TOPIC"),
        (
            "arn:aws:sqs:us-east-1:123456789012:inbox",
            "--topic-arn 'arn:aws:sqs:us-east-1:123456789012:inbox' is an SQS ARN, not an SNS topic: alerts are "
            "published to an SNS topic (subscribe the queue to the topic instead)",
        ),
        (
            "arn:aws:sns:us-east-1:123456789012:missing",
            "--topic-arn 'arn:aws:sns:us-east-1:123456789012:missing': no such SNS topic in this account and region",
        ),
    ],
    ids=["not-an-arn", "sqs-arn", "missing-topic"],
)
def test_a_bad_topic_is_refused_before_scanning(
    sample: SampleAccount, dynamodb: Any, capsys: pytest.CaptureFixture[str], topic: str, message: str
) -> None:
    create_table(dynamodb, "state")
    code, out, err = run(scan(sample, "--publish", "--state-table", "state", "--topic-arn", topic), capsys)
    assert (code, out, err) == (2, "", f"veeam-role-auditor: error: {message}\n")


@pytest.mark.parametrize("url", ["not-a-url", "ftp://127.0.0.1", "http://"])
def test_an_endpoint_that_is_not_a_url_is_a_usage_error(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, err = run(scan(sample, "--endpoint-url", url), capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"veeam-role-auditor: error: --endpoint-url {url!r} is not a URL: expected http(s)://")


def test_a_timeout_must_be_positive(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(scan(sample, "--timeout", "0"), capsys)
    assert (code, err) == (2, "veeam-role-auditor: error: --timeout must be a positive number of seconds, got 0\n")


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    server.close()


def test_an_endpoint_that_never_answers_gives_up_within_the_timeout(
    silent_endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    started = time.monotonic()
    argv = ["scan", "--appliance-role-arn", "arn:aws:iam::123456789012:role/I", "--format", "json"]
    code, out, err = run([*argv, "--endpoint-url", silent_endpoint, "--timeout", "4"], capsys)
    elapsed = time.monotonic() - started

    assert (code, out) == (3, "")
    lines = err.splitlines()
    # STS and the first page of roles (asked for meanwhile) both wait for an answer, and are both retried
    assert sorted(lines[:-1]) == [
        "note: retrying GetAccountAuthorizationDetails (attempt 2) after ReadTimeoutError",
        "note: retrying GetCallerIdentity (attempt 2) after ReadTimeoutError",
    ]
    assert lines[-1] == (
        "veeam-role-auditor: error: no answer from AWS for GetCallerIdentity within 4 seconds (2 attempts, last: "
        "ReadTimeoutError); check the network, a proxy or --endpoint-url, or allow more time with --timeout"
    )
    assert elapsed < 4 + 6  # the promised bound (with slack for a loaded machine), not a performance figure
