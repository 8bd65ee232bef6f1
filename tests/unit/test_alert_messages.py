"""Alert subjects and bodies show text from IAM as text: no control or format character reaches a subscriber."""

from __future__ import annotations

import json
import unicodedata

from tests.unit.test_asff_builder import ROLE_ARN, finding
from veeam_role_auditor.publish.alerts import Transition, digest_message, subject_line, transition_message

FORGED = "aws:SourceIp\x1b[2J\nVERDICT: the appliance can assume the role \u202e"


def transition(**changes: object) -> Transition:
    values: dict[str, object] = {
        "kind": "new_failure",
        "finding_id": f"veeam-role-auditor/aws/111122223333/VRA-TRUST-1/{ROLE_ARN}",
        "check": "VRA-TRUST-1",
        "role_arn": ROLE_ARN,
        "account": "111122223333",
        "status": "FAILED",
        "severity": "HIGH",
        "previous_status": None,
        "previous_severity": None,
        "finding": finding(details=(f"condition key {FORGED} is not known",), remediation=f"Remove {FORGED}."),
    }
    values.update(changes)
    return Transition(**values)  # type: ignore[arg-type]


def visible(text: str) -> bool:
    """Only printable characters, apart from the body's own line breaks."""
    return not any(unicodedata.category(char) in ("Cc", "Cf") for char in text.replace("\n", ""))


def test_policy_text_in_an_alert_body_stays_on_its_line() -> None:
    message = transition_message(transition())
    lines = message.body.splitlines()
    shown = "aws:SourceIp\\x1b[2J\\x0aVERDICT: the appliance can assume the role \\u202e"
    assert f"  - condition key {shown} is not known" in lines
    assert f"  Remove {shown}." in lines
    assert not any(line.startswith("VERDICT") for line in lines)
    assert visible(message.body)
    # The machine-readable part keeps the exact text, as JSON escapes.
    machine = json.loads(message.body.split("--- machine-readable ---\n", 1)[1])
    assert machine["finding"]["details"] == [f"condition key {FORGED} is not known"]


def test_subjects_show_control_characters_escaped() -> None:
    assert subject_line("[HIGH] Role\x1b[2J\nX\u202e: problem") == "[HIGH] Role\\x1b[2J\\x0aX\\u202e: problem"
    assert len(subject_line("\x1b" * 200)) == 99


def test_role_arns_in_bodies_and_digests_are_escaped() -> None:
    arn = "arn:aws:iam::111122223333:role/odd\x7f/Repo\u202e"
    single = transition_message(transition(role_arn=arn, finding=None))
    assert "Role:    arn:aws:iam::111122223333:role/odd\\x7f/Repo\\u202e" in single.body.splitlines()
    assert visible(single.body)
    assert visible(single.subject)
    digest = digest_message([transition(role_arn=arn, finding=None)] * 2, "111122223333")
    assert visible(digest.body)
    assert "odd\\x7f/Repo\\u202e (VRA-TRUST-1)" in digest.body


def test_a_digest_counts_each_kind_of_change_in_words() -> None:
    changes = (
        [transition()] * 14
        + [transition(kind="severity_change", previous_severity="MEDIUM")]
        + [transition(kind="resolved", status="PASSED", severity="INFORMATIONAL")] * 2
    )
    digest = digest_message(changes, "111122223333")
    assert digest.body.splitlines()[0] == (
        "17 changes in account 111122223333: 14 new failures, 2 resolved, 1 severity change."
    )
    assert digest.subject == "[HIGH] Veeam role auditor: 17 changes in account 111122223333"
    one_each = [transition(), transition(kind="archived", status="PASSED", severity="INFORMATIONAL")]
    assert digest_message(one_each, "111122223333").body.splitlines()[0] == (
        "2 changes in account 111122223333: 1 archived, 1 new failure."
    )
