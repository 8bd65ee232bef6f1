"""Security Hub adapter: BatchImportFindings in batches within the documented limits.

"Security Hub CSPM accepts up to 100 findings per batch, up to 240 KB per finding, and up to 6 MB
per batch" (Guidelines for using the BatchImportFindings API). A call can succeed while single
findings fail: ``FailedCount``/``FailedFindings`` are read and those findings retried. When Security Hub
is not enabled, imports fail with InvalidAccess (per finding) or InvalidAccessException (per call).
Any other failed call (AccessDeniedException from an SCP, throttling beyond botocore's retries, a
timeout) ends the import: it is returned in ``ImportResult.error``, with what was imported before it,
so the caller can still confirm those and send its alerts before failing.

The workflow of a suppressed finding is the customer's side of a finding: "After a finding is created,
BatchImportFindings cannot be used to update the following finding fields and objects, which Security Hub
customers use to manage their investigation workflow: Note, UserDefinedFields, VerificationState,
Workflow" (BatchImportFindings, API reference). So it is set with BatchUpdateFindings ("BatchUpdateFindings
for customers"), up to 100 findings per call, one Workflow and one Note per call; findings it reports in
``UnprocessedFindings`` are returned as failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..inventory import error_code
from .asff import WorkflowChange
from .asff_rules import MAX_FINDING_BYTES, MAX_FINDINGS_PER_CALL, MAX_REQUEST_BYTES
from .retry import Backoff

__all__ = ["ImportResult", "SecurityHubSink", "WorkflowChange", "WorkflowResult", "batches"]

LOGGER = logging.getLogger(__name__)
_DISABLED = frozenset({"InvalidAccessException", "InvalidAccess"})
# Errors that another attempt will not cure.
_PERMANENT = frozenset({"InvalidInput", "InvalidInputException", "LimitExceeded", "FindingSizeExceeded"})
# Rounds of BatchImportFindings for the findings a round left failed with a retryable error; the waits
# between rounds: .retry.
RETRY_ROUNDS = 3
# BatchUpdateFindings, API reference: "BatchUpdateFindings can be used to update up to 100 findings at a time."
MAX_UPDATES_PER_CALL = 100
# NoteUpdate: UpdatedBy is "the principal that updated the note" (1 to 512 characters).
NOTE_AUTHOR = "veeam-role-auditor"


@dataclass
class ImportResult:
    imported: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    calls: int = 0
    # A call that failed for another reason than "not enabled"; the findings it and later calls carried
    # are in ``failed``.
    error: ClientError | BotoCoreError | None = None


@dataclass
class WorkflowResult:
    updated: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    # A call that failed as a whole; the findings it and later calls carried are in ``failed``.
    error: ClientError | BotoCoreError | None = None


def batches(findings: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Split into calls of at most 100 findings and 6 MB (JSON); oversized findings go alone."""
    result: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    size = 0
    for finding in findings:
        finding_size = len(json.dumps(finding).encode())
        if current and (len(current) >= MAX_FINDINGS_PER_CALL or size + finding_size > MAX_REQUEST_BYTES - 1024):
            result.append(current)
            current, size = [], 0
        current.append(finding)
        size += finding_size
    if current:
        result.append(current)
    return result


class SecurityHubSink:
    """Imports findings through an injected ``securityhub`` client."""

    def __init__(self, client: Any, backoff: Backoff | None = None) -> None:
        self.client = client
        self.backoff = backoff or Backoff()

    def import_findings(self, findings: Sequence[Mapping[str, Any]]) -> ImportResult:
        result = ImportResult()
        pending: list[Mapping[str, Any]] = []
        for finding in findings:
            if len(json.dumps(finding).encode()) > MAX_FINDING_BYTES:
                result.failed[str(finding["Id"])] = "FindingSizeExceeded: larger than 240 KB"
            else:
                pending.append(finding)
        for attempt in range(RETRY_ROUNDS):
            if not pending:
                break
            if attempt:
                self.backoff.wait(attempt)
            retry: list[Mapping[str, Any]] = []
            calls = batches(pending)
            for number, batch in enumerate(calls):
                by_id = {str(finding["Id"]): finding for finding in batch}
                try:
                    result.calls += 1
                    response = self.client.batch_import_findings(Findings=list(batch))
                except (ClientError, BotoCoreError) as error:
                    code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
                    unsent = [str(finding["Id"]) for later in calls[number:] for finding in later]
                    result.failed.update({i: code for i in unsent})
                    if code in _DISABLED:
                        result.disabled = True
                    else:
                        result.error = error
                    return result
                failures = {str(item["Id"]): item for item in response.get("FailedFindings", [])}
                if response.get("FailedCount", len(failures)) != len(failures):
                    LOGGER.warning("FailedCount %s but %s FailedFindings", response.get("FailedCount"), len(failures))
                for finding_id, finding in by_id.items():
                    failure = failures.get(finding_id)
                    if failure is None:
                        result.imported.add(finding_id)
                        result.failed.pop(finding_id, None)
                        continue
                    code = str(failure.get("ErrorCode", ""))
                    result.failed[finding_id] = f"{code}: {failure.get('ErrorMessage', '')}"
                    if code in _DISABLED:
                        result.disabled = True
                    elif code not in _PERMANENT:
                        retry.append(finding)
                if result.disabled:
                    # Every other batch would fail the same way; the caller keeps them for later.
                    return result
            pending = retry
        return result

    def update_workflow(self, changes: Sequence[WorkflowChange]) -> WorkflowResult:
        """Set workflow status and note: one call per identical (status, note), 100 findings at most each.

        Only findings Security Hub lists in ``ProcessedFindings`` count as updated. Calls go in a stable
        order (status, note, finding id), so a run's requests are reproducible.
        """
        result = WorkflowResult()
        groups: dict[tuple[str, str], list[WorkflowChange]] = {}
        for change in sorted(changes, key=lambda c: (c.status, c.note, c.finding_id)):
            groups.setdefault((change.status, change.note), []).append(change)
        calls = [
            (status, note, members[start : start + MAX_UPDATES_PER_CALL])
            for (status, note), members in groups.items()
            for start in range(0, len(members), MAX_UPDATES_PER_CALL)
        ]
        for number, (status, note, members) in enumerate(calls):
            try:
                result.calls += 1
                response = self.client.batch_update_findings(
                    FindingIdentifiers=[{"Id": c.finding_id, "ProductArn": c.product_arn} for c in members],
                    Workflow={"Status": status},
                    Note={"Text": note, "UpdatedBy": NOTE_AUTHOR},
                )
            except (ClientError, BotoCoreError) as error:
                code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
                result.failed.update(
                    {c.finding_id: f"BatchUpdateFindings: {code}" for _, _, later in calls[number:] for c in later}
                )
                result.error = error
                return result
            processed = {str(item.get("Id")) for item in response.get("ProcessedFindings", [])}
            unprocessed = {
                str(item.get("FindingIdentifier", {}).get("Id")): f"{item.get('ErrorCode', '')}: "
                f"{item.get('ErrorMessage', '')}"
                for item in response.get("UnprocessedFindings", [])
            }
            for change in members:
                if change.finding_id in processed and change.finding_id not in unprocessed:
                    result.updated.add(change.finding_id)
                else:
                    reason = unprocessed.get(change.finding_id, "not among the ProcessedFindings")
                    result.failed[change.finding_id] = f"BatchUpdateFindings: {reason}"
        return result
