"""SNS alerts: one message per transition, or one digest when a run has many.

Amazon SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
than 100 characters long"; messages are at most 256 KB; subscribers filter on the message attributes
(subscription filter policies). Each message carries the text for e-mail and every other protocol
and, for HTTPS subscribers such as Amazon Q Developer in chat applications, its chat schema.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .. import checks
from ..model import SEVERITY_ORDER, Finding
from ..text import escape_control, plural

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
    chat: dict[str, Any] | None = None
    """The same alert in the custom notification schema of Amazon Q Developer in chat applications."""

    def publish_arguments(self, topic_arn: str) -> dict[str, Any]:
        """SNS Publish arguments: with ``MessageStructure=json`` each protocol gets its own body.

        Amazon Q Developer in chat applications (formerly AWS Chatbot) subscribes to a topic over HTTPS
        and renders only its custom notification schema ("Custom notifications using Amazon Q Developer
        in chat applications"), so the ``https`` body is that; e-mail, SQS, Lambda and every other
        protocol get ``default``, today's text.
        """
        arguments: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Subject": self.subject,
            "Message": self.body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in self.attributes.items()
            },
        }
        if self.chat is not None:
            arguments["MessageStructure"] = "json"
            chat = json.dumps(self.chat, ensure_ascii=False)
            arguments["Message"] = json.dumps({"default": self.body, "https": chat}, ensure_ascii=False)
        return arguments


# Chat notifications are short by design: a few lines and a link, the full text stays in e-mail.
CHAT_DESCRIPTION_CHARS = 3500
CHAT_TITLE_CHARS = 250


def chat_notification(
    *,
    title: str,
    description: str,
    next_steps: Sequence[str],
    keywords: Sequence[str],
    event_type: str,
    thread_id: str,
    resources: Sequence[str],
) -> dict[str, Any]:
    """A custom notification: version 1.0, source custom, client-markdown content (see Message)."""
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": _cut(title, CHAT_TITLE_CHARS),
            "description": _cut(description, CHAT_DESCRIPTION_CHARS),
            "nextSteps": [_cut(step, 500) for step in next_steps[:5]],
            "keywords": [keyword for keyword in keywords if keyword][:5],
        },
        "metadata": {
            # One thread per finding: a resolution lands under the alert it resolves.
            "threadId": thread_id[:128],
            "summary": _cut(title, CHAT_TITLE_CHARS),
            "eventType": event_type,
            "relatedResources": list(resources[:5]),
        },
    }


def chat_text(text: str) -> str:
    """Policy text made inert for chat markdown: control characters escaped, and ``& < >`` written as
    entities and backticks as quotes, so ``<!here>`` or ``<https://…|link>`` in a condition value can
    neither mention a channel nor forge a link (Slack: "Escaping text"; Amazon Q Developer renders
    client-markdown in the platform's own markdown)."""
    return escape_control(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    why = [chat_text(detail) for detail in finding.details[:3]] if finding is not None else []
    steps = (
        [chat_text(finding.remediation)]
        if finding is not None and transition.kind not in ("resolved", "archived")
        else []
    )
    chat = chat_notification(
        title=subject_line(headline),
        description="\n".join(
            [
                f"*{chat_text(what)}*",
                f"Role: `{chat_text(transition.role_arn)}`",
                f"Check: {check.code} - {check.title}",
            ]
            + [f"• {line}" for line in why]
        ),
        next_steps=steps,
        keywords=[transition.alert_severity, check.code, transition.kind.replace("_", " ")],
        event_type=transition.kind,
        thread_id=transition.finding_id,
        resources=[transition.role_arn],
    )
    return Message(
        subject=subject_line(headline),
        body=_fit("\n".join(lines), reserve=len(json.dumps(json.dumps(chat, ensure_ascii=False)).encode())),
        attributes={
            "severity": transition.alert_severity,
            "check": transition.check,
            "status": "ARCHIVED" if transition.kind == "archived" else transition.status,
            "account": transition.account,
            "transition": transition.kind,
        },
        chat=chat,
    )


def _counted(kind: Kind, count: int) -> str:
    """``count`` transitions of ``kind`` in words: "14 new failures", "1 severity change", "2 resolved"."""
    words = kind.replace("_", " ")
    # nouns take a plural; the participles (resolved, archived) do not
    return plural(count, words, None if kind in ("new_failure", "severity_change") else words)


def digest_message(transitions: Sequence[Transition], account: str) -> Message:
    """One message for many transitions (the first scan of a large account, or a mass change)."""
    kinds = Counter(t.kind for t in transitions)
    severities = Counter(t.alert_severity for t in transitions if t.kind != "resolved")
    worst = max((t.alert_severity for t in transitions), key=SEVERITY_ORDER.__getitem__)
    summary = ", ".join(_counted(kind, count) for kind, count in sorted(kinds.items()))
    lines = [
        f"{plural(len(transitions), 'change')} in account {account}: {summary}.",
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
    subject = subject_line(f"[{worst}] Veeam role auditor: {plural(len(transitions), 'change')} in account {account}")
    chat = chat_notification(
        title=subject,
        description="\n".join([lines[0], lines[1], ""] + listed[:10] + (["…"] if len(listed) > 10 else [])),
        next_steps=["Review the findings in Security Hub (filter on the product veeam-role-auditor)."],
        keywords=[worst, "digest"],
        event_type="digest",
        thread_id=f"veeam-role-auditor/{account}/digest",
        resources=[],
    )
    reserve = len(json.dumps(json.dumps(chat, ensure_ascii=False)).encode())
    while len(body.encode()) + len(machine.encode()) + reserve > MAX_MESSAGE_BYTES and compact:
        compact = compact[: len(compact) // 2]
        machine = json.dumps({"truncated_to": len(compact), "changes": compact})
    return Message(
        subject=subject,
        chat=chat,
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


def _fit(body: str, *, reserve: int = 0) -> str:
    """The body cut to what fits beside ``reserve`` bytes (the chat body) in one SNS message.

    With MessageStructure=json the body travels JSON-encoded: escaping can double a character.
    """
    budget = MAX_MESSAGE_BYTES - reserve
    if len(json.dumps(body, ensure_ascii=False).encode()) <= budget:
        return body
    cut = body.encode()[: budget // 2].decode(errors="ignore")
    return cut + "\n... (cut: see Security Hub)"


class AlertSink:
    """Publishes messages to one SNS topic through an injected ``sns`` client."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, message: Message) -> str:
        response = self.client.publish(**message.publish_arguments(self.topic_arn))
        return str(response["MessageId"])
