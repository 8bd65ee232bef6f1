"""The state table adapter on moto: items through boto3's TypeSerializer, claims alone and together."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from veeam_role_auditor.publish.state import (
    MAX_TRANSACTION_ITEMS,
    StateConflictError,
    StateStore,
    StoredFinding,
    create_table,
)

TABLE = "state"


@pytest.fixture
def store() -> Iterator[StateStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield StateStore(client, TABLE)


def record(number: int, observed: str = "2026-11-30T10:00:00.000Z", **changes: Any) -> StoredFinding:
    return replace(
        StoredFinding(
            finding_id=f"f{number}",
            account="123456789012",
            role_arn=f"arn:aws:iam::123456789012:role/r{number}",
            role_name=f"r{number}",
            check="VRA-TRUST-1",
            observed_at=observed,
            status="FAILED",
            severity="HIGH",
            record_state="ACTIVE",
            digest="d",
            first_observed_at="2026-11-30T09:00:00.000Z",
        ),
        **changes,
    )


def test_an_item_reads_back_as_it_was_written(store: StateStore) -> None:
    full = record(1, sh_key="d|ACTIVE", alert_key="FAILED|HIGH|ACTIVE", extra={"why": "é 日"}, sh_workflow="NEW")
    store.claim(full, None)
    raw = store.dynamodb.get_item(TableName=TABLE, Key={"finding_id": {"S": "f1"}})["Item"]
    assert raw["version"] == {"N": "1"}
    assert raw["extra"] == {"S": '{"why": "\\u00e9 \\u65e5"}'}
    assert "created_at" not in raw  # None is not written
    assert store.load(["f1"]) == {"f1": replace(full, version=1)}
    assert type(store.load(["f1"])["f1"].version) is int


def test_claims_together_are_written_with_the_next_versions(store: StateStore) -> None:
    store.claim(record(1), None)
    written = store.claim_together(
        [(record(1, "2026-11-30T11:00:00.000Z"), 1), (record(2), None)], future_after="2026-11-30T12:00:00.000Z"
    )
    assert written == [record(1, "2026-11-30T11:00:00.000Z", version=2), record(2, version=1)]
    assert store.load(["f1", "f2"]) == {"f1": written[0], "f2": written[1]}


def test_one_lost_condition_writes_nothing_and_says_so(store: StateStore) -> None:
    store.claim(record(1, "2026-11-30T12:00:00.000Z"), None)  # a newer observation is stored
    assert store.claim_together([(record(1, "2026-11-30T11:00:00.000Z"), 1), (record(2), None)]) is None
    assert store.load(["f1", "f2"]) == {"f1": record(1, "2026-11-30T12:00:00.000Z", version=1)}
    with pytest.raises(StateConflictError) as lost:  # claimed alone, it names the winner
        store.claim(record(1, "2026-11-30T11:00:00.000Z"), 1)
    assert lost.value.current == record(1, "2026-11-30T12:00:00.000Z", version=1)


@pytest.mark.parametrize("count", [0, MAX_TRANSACTION_ITEMS + 1])
def test_a_transaction_holds_one_to_a_hundred_claims(store: StateStore, count: int) -> None:
    with pytest.raises(ValueError, match="1 to 100 claims"):
        store.claim_together([(record(n), None) for n in range(count)])
