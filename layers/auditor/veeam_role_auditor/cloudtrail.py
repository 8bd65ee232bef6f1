"""IAM CloudTrail events, as EventBridge delivers them: which role (or policy) changed, if any.

Pure: takes the event dict, returns a decision. Events for failed calls (``errorCode``) and event names
the auditor does not handle are skipped; malformed events are rejected with a reason, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .policy.arn import ROLE_NAME

DETAIL_TYPE = "AWS API Call via CloudTrail"
SOURCE = "aws.iam"
EVENT_SOURCE = "iam.amazonaws.com"

# Calls that change a role's trust, tags or permissions (name in requestParameters.roleName).
ROLE_EVENTS = frozenset(
    {
        "CreateRole",
        "DeleteRole",
        "UpdateAssumeRolePolicy",
        "TagRole",
        "UntagRole",
        "UpdateRole",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePermissionsBoundary",
        "DeleteRolePermissionsBoundary",
        "AddRoleToInstanceProfile",
        "RemoveRoleFromInstanceProfile",
    }
)
# Calls that change a managed policy's default version (requestParameters.policyArn): they matter
# when the policy is attached to an appliance role or is its permissions boundary.
POLICY_EVENTS = frozenset({"CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion"})
HANDLED_EVENTS = ROLE_EVENTS | POLICY_EVENTS
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\x21-\x7e]{1,1024}")


@dataclass(frozen=True)
class IamChange:
    event_id: str
    event_name: str
    event_time: str
    account: str
    role_name: str | None = None
    role_arn: str | None = None  # only CreateRole's response carries it
    policy_arn: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A well-formed event the auditor deliberately ignores."""

    reason: str
    event_id: str | None = None
    event_name: str | None = None


@dataclass(frozen=True)
class Rejected:
    """An event that is not what the rule should deliver: logged, not processed, not retried."""

    reason: str


Decision = IamChange | Skipped | Rejected


def parse_event(event: object) -> Decision:
    """What an EventBridge event means to the auditor."""
    if not isinstance(event, Mapping):
        return Rejected(f"the event is not a JSON object but {type(event).__name__}")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return Rejected(
            f"not an IAM CloudTrail event (source {event.get('source')!r}, detail-type {event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Rejected("the event has no detail object")
    event_id = _text(detail, "eventID")
    event_name = _text(detail, "eventName")
    if event_id is None or event_name is None:
        return Rejected("the CloudTrail record lacks eventID or eventName")
    if detail.get("eventSource") != EVENT_SOURCE:
        return Rejected(f"eventSource is {detail.get('eventSource')!r}, not {EVENT_SOURCE}")
    if detail.get("errorCode"):
        return Skipped(f"the call failed ({detail.get('errorCode')}): nothing changed", event_id, event_name)
    if event_name not in HANDLED_EVENTS:
        return Skipped(f"{event_name} cannot change a Veeam role", event_id, event_name)
    parameters = detail.get("requestParameters")
    if not isinstance(parameters, Mapping):
        return Rejected(f"{event_name} without requestParameters")
    account = _text(detail, "recipientAccountId") or _text(event, "account") or ""
    time = _text(detail, "eventTime") or _text(event, "time") or ""
    if event_name in POLICY_EVENTS:
        policy_arn = _text(parameters, "policyArn")
        if policy_arn is None or not POLICY_ARN.fullmatch(policy_arn):
            return Rejected(f"{event_name} without a valid requestParameters.policyArn")
        return IamChange(event_id, event_name, time, account, policy_arn=policy_arn)
    role_name = _text(parameters, "roleName")
    if role_name is None:
        return Rejected(f"{event_name} without requestParameters.roleName")
    if not ROLE_NAME.fullmatch(role_name):
        return Rejected(f"{event_name} names an invalid role name {role_name[:80]!r}")
    role_arn = None
    response = detail.get("responseElements")
    if isinstance(response, Mapping) and isinstance(response.get("role"), Mapping):
        role_arn = _text(response["role"], "arn")
    return IamChange(event_id, event_name, time, account, role_name=role_name, role_arn=role_arn)


def _text(source: Mapping[str, Any], key: str) -> str | None:
    value = source.get(key)
    return value if isinstance(value, str) and value else None
