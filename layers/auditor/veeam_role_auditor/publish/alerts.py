"""SNS alerts: one message per transition, or one digest when a run has many.

Amazon SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
than 100 characters long"; messages are at most 256 KB; message attributes are delivered only with
the String message structure, and subscribers filter on them (subscription filter policies).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .. import checks
from ..model import SEVERITY_ORDER, Finding
from ..text import escape_control

Kind = Literal["new_failure", "severity_change", "resolved", "archived"]
MAX_SUBJECT = 99
# Leave room under 256 KB for the attributes and SNS's own envelope.
MAX_MESSAGE_BYTES = 240 * 1024


@dataclass(frozen=True)
class Transition:
    """A change a subscriber should hear about, for one finding."""

    kind: Kind
    finding_id: str
    check: str
    role_arn: str
    account: str
    status: str
    severity: str
    previous_status: str | None
    previous_severity: str | None
    finding: Finding | None = None  # None when archived: the role is gone

    @property
    def alert_severity(self) -> str:
        """The severity that decides whether to alert: the old one when a problem goes away."""
        if self.kind in ("resolved", "archived"):
            return self.previous_severity or self.severity
        return self.severity

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "transition": self.kind,
            "finding_id": self.finding_id,
            "check": self.check,
            "role_arn": self.role_arn,
            "account": self.account,
            "status": self.status,
            "severity": self.severity,
            "previous_status": self.previous_status,
            "previous_severity": self.previous_severity,
        }
        if self.finding is not None:
            data["finding"] = self.finding.summary()
        return data


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    attributes: dict[str, str]

    def publish_arguments(self, topic_arn: str) -> dict[str, Any]:
        return {
            "TopicArn": topic_arn,
            "Subject": self.subject,
            "Message": self.body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in self.attributes.items()
            },
        }


def subject_line(text: str) -> str:
    """A valid SNS subject: control characters and line breaks shown escaped, under 100 characters."""
    clean = escape_control(text).strip()
    return clean if len(clean) <= MAX_SUBJECT else clean[: MAX_SUBJECT - 1] + "…"


def transition_message(transition: Transition) -> Message:
    """The alert for one transition. Text from IAM (names, policy text in the details and remediation)
    is shown with control characters escaped: an e-mail or chat subscriber sees it as text."""
    check = checks.CATALOGUE[transition.check]
    role_name = escape_control(transition.role_arn.rsplit("/", 1)[-1])
    # A WARNING is a "maybe": its phrase says "may not", never "cannot" (checks.problem_for).
    problem = checks.problem_for(check, transition.status)
    if transition.kind == "new_failure":
        headline = f"[{transition.severity}] {role_name}: {problem}"
        what = f"New problem ({transition.status}, {transition.severity}): {problem}."
    elif transition.kind == "severity_change":
        headline = f"[{transition.previous_severity} to {transition.severity}] {role_name}: {problem}"
        what = (
            f"The problem changed from {transition.previous_status}/{transition.previous_severity} to "
            f"{transition.status}/{transition.severity}: {problem}."
        )
    elif transition.kind == "resolved":
        headline = f"[RESOLVED] {role_name}: {check.holds}"
        what = f"Resolved: {check.holds.lower()[0] + check.holds[1:]} again (was {transition.previous_severity})."
    else:
        headline = f"[ARCHIVED] {role_name}: {check.code} finding archived"
        what = (
            f"Archived: {role_name} was deleted, lost the Veeam tag or left the audited scope; its "
            f"{transition.previous_status} finding ({check.problem}) no longer applies."
        )
    lines = [
        f"Veeam role auditor: {what}",
        "",
        f"Role:    {escape_control(transition.role_arn)}",
        f"Account: {transition.account}",
        f"Check:   {check.code} - {check.title}",
    ]
    finding = transition.finding
    if finding is not None and transition.kind != "archived":
        if finding.details:
            lines += ["", "Why:"] + [f"  - {escape_control(detail)}" for detail in finding.details]
        if transition.kind != "resolved":
            lines += ["", "How to fix:", f"  {escape_control(finding.remediation)}"]
            if finding.statement_to_add is not None:
                lines += ["", "Statement to add:", _indent(json.dumps(finding.statement_to_add, indent=2))]
            if finding.corrected_policy is not None:
                lines += ["", "Corrected trust policy:", _indent(json.dumps(finding.corrected_policy, indent=2))]
    lines += [
        "",
        f"Security Hub finding id: {escape_control(transition.finding_id)}",
        f"Veeam IAM role requirements: {checks.VEEAM_IAM_DOCS}",
        "",
        "--- machine-readable ---",
        json.dumps(transition.as_json(), default=str),
    ]
    return Message(
        subject=subject_line(headline),
        body=_fit("\n".join(lines)),
        attributes={
            "severity": transition.alert_severity,
            "check": transition.check,
            "status": "ARCHIVED" if transition.kind == "archived" else transition.status,
            "account": transition.account,
            "transition": transition.kind,
        },
    )


def digest_message(transitions: Sequence[Transition], account: str) -> Message:
    """One message for many transitions (the first scan of a large account, or a mass change)."""
    kinds = Counter(t.kind for t in transitions)
    severities = Counter(t.alert_severity for t in transitions if t.kind != "resolved")
    worst = max((t.alert_severity for t in transitions), key=SEVERITY_ORDER.__getitem__)
    summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(kinds.items()))
    lines = [
        f"{len(transitions)} changes in account {account}: {summary}.",
        "By severity: "
        + ", ".join(f"{severities[name]} {name}" for name in reversed(SEVERITY_ORDER) if severities[name]),
        "",
        "Changes (most severe first):",
    ]
    ordered = sorted(transitions, key=lambda t: (-SEVERITY_ORDER[t.alert_severity], t.kind, t.role_arn, t.check))
    listed: list[str] = []
    budget = MAX_MESSAGE_BYTES - 4096
    used = sum(len(line) + 1 for line in lines)
    for transition in ordered:
        check = checks.CATALOGUE[transition.check]
        line = (
            f"  [{transition.alert_severity}] {transition.kind.replace('_', ' ')}: "
            f"{checks.problem_for(check, transition.status) if transition.kind != 'resolved' else check.holds} - "
            f"{escape_control(transition.role_arn)} ({check.code})"
        )
        if used + len(line) + 1 > budget // 2:
            listed.append(f"  ... and {len(ordered) - len(listed)} more: see Security Hub for the full list")
            break
        listed.append(line)
        used += len(line) + 1
    lines += listed
    lines += ["", f"Veeam IAM role requirements: {checks.VEEAM_IAM_DOCS}", "", "--- machine-readable ---"]
    compact = [
        {"transition": t.kind, "check": t.check, "role_arn": t.role_arn, "status": t.status, "severity": t.severity}
        for t in ordered
    ]
    body = "\n".join(lines)
    machine = json.dumps(compact)
    while len(body.encode()) + len(machine.encode()) > MAX_MESSAGE_BYTES and compact:
        compact = compact[: len(compact) // 2]
        machine = json.dumps({"truncated_to": len(compact), "changes": compact})
    return Message(
        subject=subject_line(f"[{worst}] Veeam role auditor: {len(transitions)} changes in account {account}"),
        body=body + "\n" + machine,
        attributes={
            "severity": worst,
            "check": "DIGEST",
            "status": "DIGEST",
            "account": account,
            "transition": "digest",
        },
    )


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _fit(body: str) -> str:
    encoded = body.encode()
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return body
    return encoded[: MAX_MESSAGE_BYTES - 64].decode(errors="ignore") + "\n... (cut: see Security Hub)"


class AlertSink:
    """Publishes messages to one SNS topic through an injected ``sns`` client."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, message: Message) -> str:
        response = self.client.publish(**message.publish_arguments(self.topic_arn))
        return str(response["MessageId"])
