"""Alerts reach chat channels: HTTPS subscribers get Amazon Q Developer's custom notification schema.

The schema, from "Custom notifications using Amazon Q Developer in chat applications" (formerly AWS
Chatbot): version "1.0" and source "custom" are required, content.description is the message, textType
is only "client-markdown"; title, nextSteps, keywords and metadata are optional.
"""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_alert_messages import transition
from tests.unit.test_asff_builder import finding
from veeam_role_auditor.publish.alerts import MAX_MESSAGE_BYTES, digest_message, transition_message

TOPIC = "arn:aws:sns:us-east-1:111122223333:alerts"

# The documented event schema, as a checker: key -> (type, required).
CONTENT = {
    "textType": (str, False),
    "title": (str, False),
    "description": (str, True),
    "nextSteps": (list, False),
    "keywords": (list, False),
}
METADATA = {
    "threadId": (str, False),
    "summary": (str, False),
    "eventType": (str, False),
    "relatedResources": (list, False),
    "additionalContext": (dict, False),
}


def assert_custom_notification(payload: dict[str, Any]) -> None:
    assert set(payload) <= {"version", "source", "id", "content", "metadata"}
    assert payload["version"] == "1.0"
    assert payload["source"] == "custom"
    for block, schema in (("content", CONTENT), ("metadata", METADATA)):
        if block not in payload and block == "metadata":
            continue
        value = payload[block]
        assert set(value) <= set(schema), block
        for key, (kind, required) in schema.items():
            if required:
                assert key in value, key
            if key in value:
                assert isinstance(value[key], kind), key
    assert payload["content"].get("textType", "client-markdown") == "client-markdown"
    assert payload["content"]["description"].strip()
    for items in (payload["content"].get("nextSteps", []), payload["content"].get("keywords", [])):
        assert all(isinstance(item, str) and item for item in items)


def bodies(arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert arguments["MessageStructure"] == "json"
    structure = json.loads(arguments["Message"])
    assert set(structure) == {"default", "https"}
    assert len(arguments["Message"].encode()) <= MAX_MESSAGE_BYTES
    return structure["default"], json.loads(structure["https"])


def test_an_alert_carries_text_for_email_and_the_chat_schema_for_https() -> None:
    message = transition_message(transition())
    arguments = message.publish_arguments(TOPIC)
    text, chat = bodies(arguments)

    assert text == message.body  # e-mail, SQS, Lambda: today's text
    assert_custom_notification(chat)
    assert chat["content"]["title"] == message.subject
    assert chat["content"]["description"].startswith(
        "*New problem (FAILED, HIGH): the Veeam appliance cannot assume the role.*\n"
    )
    assert chat["content"]["keywords"] == ["HIGH", "VRA-TRUST-1", "new failure"]
    assert chat["metadata"]["threadId"] == transition().finding_id[:128]
    assert arguments["MessageAttributes"]["severity"] == {"DataType": "String", "StringValue": "HIGH"}


def test_chat_text_is_escaped_like_every_other_renderer() -> None:
    _, chat = bodies(transition_message(transition()).publish_arguments(TOPIC))
    text = json.dumps(chat, ensure_ascii=False)
    assert "\\u001b" not in text
    assert "\x1b" not in text
    assert "\u202e" not in text


def test_a_huge_finding_still_fits_one_sns_message_with_both_bodies() -> None:
    huge = finding(details=tuple(f"detail {n} " + "é" * 2000 for n in range(200)))
    arguments = transition_message(transition(finding=huge)).publish_arguments(TOPIC)
    text, chat = bodies(arguments)
    assert text.endswith("... (cut: see Security Hub)")
    assert_custom_notification(chat)


def test_a_digest_is_a_chat_notification_too() -> None:
    many = [transition(role_arn=f"arn:aws:iam::111122223333:role/Role{n}") for n in range(30)]
    _, chat = bodies(digest_message(many, "111122223333").publish_arguments(TOPIC))
    assert_custom_notification(chat)
    assert chat["metadata"]["eventType"] == "digest"
    assert chat["content"]["description"].splitlines()[0] == "30 changes in account 111122223333: 30 new failures."


def test_policy_text_cannot_mention_a_channel_or_forge_a_link_in_chat() -> None:
    forged = "aws:SourceVpce <!here> <https://evil.example|Veeam> `code` & more"
    message = transition_message(transition(finding=finding(details=(f"condition {forged} is unknown",))))
    _, chat = bodies(message.publish_arguments(TOPIC))
    description = chat["content"]["description"]
    assert "<!here>" not in description
    assert "<https://" not in description
    assert "condition aws:SourceVpce &lt;!here&gt; &lt;https://evil.example|Veeam&gt; 'code' &amp; more" in description
