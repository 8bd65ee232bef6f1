"""DynamoDB state: per finding, what Security Hub has and what subscribers were told.

One item per finding id (deterministic from partition, account, check and role ARN). Every write is
conditional: on the item's ``version`` (optimistic locking) and on ``observed_at``, the time the role
was read, so a scheduled scan and an event-driven evaluation running together can never replace a
newer result with an older one. Security Hub and SNS progress are recorded separately, so a failure
of one never advances the other: what was not delivered is retried by the next run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..inventory import error_code
from .clock import aws_time
from .record import StoredFinding
from .retry import Backoff

__all__ = [
    "BATCH_GET_ATTEMPTS",
    "MAX_TRANSACTION_ITEMS",
    "StateConflictError",
    "StateStore",
    "StoredFinding",
    "create_table",
]

# BatchGetItem: "A single operation can retrieve up to 16 MB of data, which can contain as many as
# 100 items" (DynamoDB API reference).
BATCH_GET_LIMIT = 100
# Rounds of BatchGetItem for one batch of keys before giving up (the waits between them: .retry).
BATCH_GET_ATTEMPTS = 8
# TransactWriteItems "groups up to 100 action requests" (DynamoDB API reference).
MAX_TRANSACTION_ITEMS = 100
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class StateConflictError(Exception):
    """A conditional write lost: another writer has a newer observation or a newer version."""

    def __init__(self, current: StoredFinding | None) -> None:
        super().__init__("state changed concurrently")
        self.current = current


class StateStore:
    """The state table (partition key ``finding_id``), through an injected DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str, backoff: Backoff | None = None) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        self.backoff = backoff or Backoff()
        # AWS's clock at the last read (the Date header of DynamoDB's response), when it sent one.
        self.aws_now: datetime | None = None

    def _note_time(self, response: dict[str, Any]) -> None:
        self.aws_now = aws_time(response) or self.aws_now

    # ------------------------------------------------------------------ reads

    def load_account(self, account: str) -> dict[str, StoredFinding]:
        """Every stored finding of ``account`` (a consistent, paginated Scan)."""
        found: dict[str, StoredFinding] = {}
        paginator = self.dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table,
            ConsistentRead=True,
            FilterExpression="#a = :account",
            ExpressionAttributeNames={"#a": "account"},
            ExpressionAttributeValues=_typed({":account": account}),
        )
        for page in pages:
            self._note_time(page)
            for item in page.get("Items", []):
                stored = StoredFinding.from_item(_plain(item))
                found[stored.finding_id] = stored
        return found

    def role_arns_named(self, account: str, role_name: str) -> set[str]:
        """ARNs of stored roles with this name: a DeleteRole event carries only the name.

        A Scan with a filter: DeleteRole events are rare, so no index is kept for them.
        """
        arns: set[str] = set()
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            ConsistentRead=True,
            FilterExpression="#a = :account AND role_name = :name",
            ExpressionAttributeNames={"#a": "account"},
            ExpressionAttributeValues=_typed({":account": account, ":name": role_name}),
            ProjectionExpression="role_arn",
        )
        for page in pages:
            arns.update(_plain(item)["role_arn"] for item in page.get("Items", []))
        return arns

    def load(self, finding_ids: Iterable[str]) -> dict[str, StoredFinding]:
        """The stored findings with these ids (BatchGetItem, unprocessed keys retried)."""
        found: dict[str, StoredFinding] = {}
        ids = list(dict.fromkeys(finding_ids))
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            request = {
                self.table: {
                    "Keys": [_key(i) for i in ids[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(BATCH_GET_ATTEMPTS):
                if attempt:
                    self.backoff.wait(attempt)
                response = self.dynamodb.batch_get_item(RequestItems=request)
                self._note_time(response)
                for item in response.get("Responses", {}).get(self.table, []):
                    stored = StoredFinding.from_item(_plain(item))
                    found[stored.finding_id] = stored
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise RuntimeError(f"DynamoDB left keys unprocessed after {BATCH_GET_ATTEMPTS} attempts")
        return found

    def appliance_history(self, account: str) -> dict[str, str]:
        """Unique ids the appliance roles have had: id -> role ARN (to name a deleted one)."""
        response = self.dynamodb.get_item(TableName=self.table, Key=_key(_history_key(account)), ConsistentRead=True)
        item = response.get("Item")
        return dict(json.loads(_plain(item)["ids"])) if item else {}

    def remember_appliance_ids(self, account: str, ids: dict[str, str]) -> None:
        """Add the appliance roles' current unique ids to their history (kept small: a few ids)."""
        history = self.appliance_history(account)
        if ids.items() <= history.items():
            return
        history.update(ids)
        self.dynamodb.put_item(
            TableName=self.table,
            Item=_typed({"finding_id": _history_key(account), "ids": json.dumps(history, sort_keys=True)}),
        )

    # ------------------------------------------------------------------ writes

    def claim(
        self, record: StoredFinding, expected_version: int | None, future_after: str | None = None
    ) -> StoredFinding:
        """Write ``record`` (with version + 1) unless someone wrote a newer version or observation.

        A stored observation later than ``future_after`` is from the future (a clock that ran ahead) and
        does not count as newer. Raises :class:`StateConflictError` carrying the current item when the
        condition fails.
        """
        new, arguments = self._claim_arguments(record, expected_version, future_after)
        try:
            self.dynamodb.put_item(**arguments)
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            item = error.response.get("Item")
            raise StateConflictError(StoredFinding.from_item(_plain(item)) if item else None) from None
        return new

    def claim_together(
        self, claims: Sequence[tuple[StoredFinding, int | None]], future_after: str | None = None
    ) -> list[StoredFinding] | None:
        """:meth:`claim` several records in one TransactWriteItems call (at most 100): all or none.

        Each record keeps its own condition, so the transaction succeeds exactly when each claim alone
        would have. Returns the written records, or None when DynamoDB cancelled the transaction (a lost
        condition, a concurrent transaction on one of the items): nothing was written, and the caller
        claims them one by one to learn which lost. Transactional writes need only ``dynamodb:PutItem``
        ("Using IAM with DynamoDB transactions").
        """
        if not 0 < len(claims) <= MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a transaction holds 1 to {MAX_TRANSACTION_ITEMS} claims, not {len(claims)}")
        written: list[StoredFinding] = []
        actions: list[dict[str, Any]] = []
        for record, expected_version in claims:
            new, arguments = self._claim_arguments(record, expected_version, future_after)
            written.append(new)
            actions.append({"Put": arguments})
        try:
            self.dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            return None
        return written

    def _claim_arguments(
        self, record: StoredFinding, expected_version: int | None, future_after: str | None
    ) -> tuple[StoredFinding, dict[str, Any]]:
        """The record a claim writes and its conditional PutItem (see :meth:`claim`)."""
        new = _replace(record, version=(expected_version or 0) + 1)
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "Item": _typed(new.to_item()),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected_version is None:
            arguments["ConditionExpression"] = "attribute_not_exists(finding_id)"
        else:
            arguments["ConditionExpression"] = "#v = :expected AND observed_at <= :observed"
            arguments["ExpressionAttributeNames"] = {"#v": "version"}
            values: dict[str, Any] = {":expected": expected_version, ":observed": record.observed_at}
            if future_after is not None:
                arguments["ConditionExpression"] = (
                    "#v = :expected AND (observed_at <= :observed OR observed_at > :future)"
                )
                values[":future"] = future_after
            arguments["ExpressionAttributeValues"] = _typed(values)
        return new, arguments

    def confirm_security_hub(
        self, finding_id: str, version: int, content_key: str, updated_at: str, workflow: str | None = None
    ) -> bool:
        """Record what Security Hub now has (and the workflow status set on it, if this run set one);
        False if a newer claim replaced the item meanwhile."""
        expression = "SET sh_key = :key, sh_updated_at = :at, created_at = if_not_exists(created_at, :at)"
        values: dict[str, Any] = {":key": content_key, ":at": updated_at, ":version": version}
        if workflow is not None:
            expression += ", sh_workflow = :workflow"
            values[":workflow"] = workflow
        return self._update(finding_id, expression, "#v = :version", values, {"#v": "version"})

    def confirm_alert(self, finding_id: str, token: str, alert_key: str) -> bool:
        """The alert claimed with ``token`` was sent: record what subscribers now know."""
        return self._update(
            finding_id,
            "SET alert_key = :key REMOVE alert_pending, alert_pending_since",
            "alert_pending = :token",
            {":key": alert_key, ":token": token},
        )

    def release_alert(self, finding_id: str, token: str) -> bool:
        """The alert claimed with ``token`` could not be sent: let the next run try again."""
        return self._update(
            finding_id, "REMOVE alert_pending, alert_pending_since", "alert_pending = :token", {":token": token}
        )

    def _update(
        self,
        finding_id: str,
        expression: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(finding_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": _typed(values),
        }
        if names:
            arguments["ExpressionAttributeNames"] = names
        try:
            self.dynamodb.update_item(**arguments)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _history_key(account: str) -> str:
    # Not a finding: it has no "account" attribute, so account scans never return it.
    return f"appliance-history#{account}"


def _replace(record: StoredFinding, **changes: Any) -> StoredFinding:
    values = asdict(record)
    values.update(changes)
    return StoredFinding(**values)


def _key(finding_id: str) -> dict[str, Any]:
    return {"finding_id": _SERIALIZER.serialize(finding_id)}


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    """A plain item in DynamoDB's attribute-value form (boto3's own serializer)."""
    return {key: _SERIALIZER.serialize(value) for key, value in item.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item in attribute-value form as plain values; numbers (``version``) as int, not Decimal."""
    plain: dict[str, Any] = {}
    for key, typed in item.items():
        value = _DESERIALIZER.deserialize(typed)
        plain[key] = int(value) if isinstance(value, Decimal) else value
    return plain


def create_table(dynamodb: Any, table_name: str) -> None:
    """Create the state table as the SAM template does (for the demo, tests and local runs)."""
    dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=[{"AttributeName": "finding_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "finding_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=table_name)
