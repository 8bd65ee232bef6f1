"""Retried batch calls wait with capped, fully jittered exponential backoff, a bounded number of times.

moto never leaves BatchGetItem keys unprocessed nor fails single findings of BatchImportFindings, so each
test wraps the moto client to do that, and records the waits instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from veeam_role_auditor.publish.retry import Backoff
from veeam_role_auditor.publish.securityhub import RETRY_ROUNDS, SecurityHubSink
from veeam_role_auditor.publish.state import BATCH_GET_ATTEMPTS, StateStore, StoredFinding, create_table

TABLE = "state"


class Recorder:
    """Backoff parts for tests: every draw is ``fraction``, and the waits are recorded, not slept."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.waits: list[float] = []

    def backoff(self) -> Backoff:
        return Backoff(sleep=self.waits.append, draw=lambda: self.fraction)


def test_the_bound_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.05, cap=2.0)
    assert [backoff.bound(n) for n in range(1, 9)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.999])
def test_a_wait_is_the_draw_times_the_bound(fraction: float) -> None:
    recorder = Recorder(fraction)
    backoff = recorder.backoff()
    for attempt in (1, 2, 7):
        backoff.wait(attempt)
    assert recorder.waits == [fraction * 0.05, fraction * 0.1, fraction * 2.0]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield client


def _record(number: int) -> StoredFinding:
    return StoredFinding(
        finding_id=f"f{number}",
        account="123456789012",
        role_arn=f"arn:aws:iam::123456789012:role/r{number}",
        role_name=f"r{number}",
        check="VRA-TRUST-1",
        observed_at="2026-11-30T10:00:00.000Z",
        status="PASSED",
        severity="INFORMATIONAL",
        record_state="ACTIVE",
        digest="d",
        first_observed_at="2026-11-30T10:00:00.000Z",
        extra={"k": "v"},
    )


class Unprocessing:
    """The moto client, except that BatchGetItem leaves the first requested key unprocessed ``times`` times."""

    def __init__(self, client: Any, times: int) -> None:
        self.client = client
        self.times = times
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        ((table, request),) = RequestItems.items()
        if self.times == 0:
            return dict(self.client.batch_get_item(RequestItems=RequestItems))
        self.times -= 1
        first, *rest = request["Keys"]
        response: dict[str, Any] = {"Responses": {table: []}}
        if rest:
            response = dict(self.client.batch_get_item(RequestItems={table: {**request, "Keys": rest}}))
        response["UnprocessedKeys"] = {table: {**request, "Keys": [first]}}
        return response


def test_unprocessed_keys_are_read_again_after_jittered_waits(dynamodb: Any) -> None:
    writer = StateStore(dynamodb, TABLE)
    for number in range(3):
        writer.claim(_record(number), None)
    recorder = Recorder(0.5)
    flaky = Unprocessing(dynamodb, times=2)
    found = StateStore(flaky, TABLE, backoff=recorder.backoff()).load(["f0", "f1", "f2"])
    assert sorted(found) == ["f0", "f1", "f2"]
    assert found["f0"] == StoredFinding(**{**_record(0).__dict__, "version": 1})
    assert flaky.calls == 3
    assert recorder.waits == [0.025, 0.05]  # no wait before the first call


def test_keys_left_unprocessed_every_time_give_up_after_the_bounded_attempts(dynamodb: Any) -> None:
    StateStore(dynamodb, TABLE).claim(_record(0), None)
    recorder = Recorder(1.0)
    flaky = Unprocessing(dynamodb, times=100)
    with pytest.raises(RuntimeError, match=f"after {BATCH_GET_ATTEMPTS} attempts"):
        StateStore(flaky, TABLE, backoff=recorder.backoff()).load(["f0"])
    assert flaky.calls == BATCH_GET_ATTEMPTS == 8
    assert recorder.waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]


class AlwaysFailing:
    """BatchImportFindings through moto that reports every finding as failed with a retryable error."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        failures = [{"Id": f["Id"], "ErrorCode": "InternalException", "ErrorMessage": "try again"} for f in Findings]
        return {"FailedCount": len(failures), "SuccessCount": 0, "FailedFindings": failures}


def test_failed_imports_are_retried_after_jittered_waits_a_bounded_number_of_rounds() -> None:
    with mock_aws():
        flaky = AlwaysFailing(boto3.client("securityhub", region_name="us-east-1"))
        recorder = Recorder(0.5)
        result = SecurityHubSink(flaky, backoff=recorder.backoff()).import_findings([{"Id": "a"}, {"Id": "b"}])
    assert flaky.calls == RETRY_ROUNDS == 3
    assert recorder.waits == [0.025, 0.05]
    assert result.failed == {"a": "InternalException: try again", "b": "InternalException: try again"}
    assert result.imported == set()
