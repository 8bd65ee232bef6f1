"""The state of one finding as the state table holds it: a plain record, no I/O (see :mod:`.state`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class StoredFinding:
    """The state of one finding. Timestamps are ISO 8601 UTC strings, which sort as times."""

    finding_id: str
    account: str
    role_arn: str
    role_name: str
    check: str
    observed_at: str
    status: str
    severity: str
    record_state: str
    digest: str
    first_observed_at: str
    version: int = 0
    created_at: str | None = None
    # What Security Hub has: f"{digest}|{record_state}" and the UpdatedAt it was imported with.
    sh_key: str | None = None
    sh_updated_at: str | None = None
    # The workflow status this auditor last set on the finding in Security Hub (BatchUpdateFindings):
    # SUPPRESSED while a suppression rule applies, NEW once it ended; None when it never set one.
    sh_workflow: str | None = None
    # What subscribers were last told: f"{status}|{severity}|{record_state}".
    alert_key: str | None = None
    # An alert claimed by a run and not yet confirmed sent: the token of that run and when.
    alert_pending: str | None = None
    alert_pending_since: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def content_key(self) -> str:
        return f"{self.digest}|{self.record_state}"

    @property
    def status_key(self) -> str:
        return f"{self.status}|{self.severity}|{self.record_state}"

    def to_item(self) -> dict[str, Any]:
        item = {key: value for key, value in asdict(self).items() if value is not None and key != "extra"}
        if self.extra:
            item["extra"] = json.dumps(self.extra, sort_keys=True)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredFinding:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in item.items() if key in known}
        values["version"] = int(values.get("version", 0))
        values["extra"] = json.loads(item["extra"]) if "extra" in item else {}
        return cls(**values)
