"""Security Hub adapter: BatchImportFindings in batches within the documented limits.

"Security Hub CSPM accepts up to 100 findings per batch, up to 240 KB per finding, and up to 6 MB
per batch" (Guidelines for using the BatchImportFindings API). A call can succeed while single
findings fail: ``FailedCount``/``FailedFindings`` are read and those findings retried. When Security Hub
is not enabled, imports fail with InvalidAccess (per finding) or InvalidAccessException (per call).
Any other failed call (AccessDeniedException from an SCP, throttling beyond botocore's retries, a
timeout) ends the import: it is returned in ``ImportResult.error``, with what was imported before it,
so the caller can still confirm those and send its alerts before failing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..inventory import error_code
from .asff_rules import MAX_FINDING_BYTES, MAX_FINDINGS_PER_CALL, MAX_REQUEST_BYTES

LOGGER = logging.getLogger(__name__)
_DISABLED = frozenset({"InvalidAccessException", "InvalidAccess"})
# Errors that another attempt will not cure.
_PERMANENT = frozenset({"InvalidInput", "InvalidInputException", "LimitExceeded", "FindingSizeExceeded"})
RETRY_ROUNDS = 3


@dataclass
class ImportResult:
    imported: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    calls: int = 0
    # A call that failed for another reason than "not enabled"; the findings it and later calls carried
    # are in ``failed``.
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

    def __init__(self, client: Any) -> None:
        self.client = client

    def import_findings(self, findings: Sequence[Mapping[str, Any]]) -> ImportResult:
        result = ImportResult()
        pending: list[Mapping[str, Any]] = []
        for finding in findings:
            if len(json.dumps(finding).encode()) > MAX_FINDING_BYTES:
                result.failed[str(finding["Id"])] = "FindingSizeExceeded: larger than 240 KB"
            else:
                pending.append(finding)
        for _ in range(RETRY_ROUNDS):
            if not pending:
                break
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
