"""A warm iam_change container reuses the appliance (Impersonation) role it read, for VRA_APPLIANCE_MAX_AGE.

Issue 13 section 4: reading the appliance costs about ten IAM calls per event although an event about
another role cannot change it. Events about the appliance itself, managed-policy events and full scans
never use the reused read; re-checks (300 s later) find it expired.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.harness import make_deployment
from veeam_role_auditor.cloudtrail import IamChange
from veeam_role_auditor.dev.handlers import load_event
from veeam_role_auditor.dev.sample_account import PURPOSES
from veeam_role_auditor.inventory import Caller
from veeam_role_auditor.lambda_app import ApplianceCache, AuditorApp, LambdaConfig
from veeam_role_auditor.model import finding_id
from veeam_role_auditor.publish.state import create_table

TABLE = "state"
ACCOUNT = "123456789012"
APPLIANCE = "VeeamImpersonation"
ROLE = "VeeamSnapshotMissingTrust"  # declares no purpose: its event reads only the role
CALLER = Caller(partition="aws", account=ACCOUNT, arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:iam-change")
# Every call reading the appliance role names it, or is a GetPolicy/GetPolicyVersion of its managed policies.
APPLIANCE_READS = frozenset(
    {
        "GetRole",
        "ListRoleTags",
        "ListRolePolicies",
        "GetRolePolicy",
        "ListAttachedRolePolicies",
        "ListInstanceProfilesForRole",
    }
)


@dataclass
class Calls:
    """The AWS calls the app's clients send: (operation, RoleName or PolicyArn or None)."""

    sent: list[tuple[str, str | None]] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        client.meta.events.register(
            "provide-client-params",
            lambda params, model, **_: self.sent.append(
                (model.name, params.get("RoleName") or params.get("PolicyArn"))
            ),
        )

    def take(self) -> list[tuple[str, str | None]]:
        taken, self.sent = self.sent, []
        return taken


def appliance_reads(calls: list[tuple[str, str | None]]) -> list[str]:
    return [
        operation
        for operation, role in calls
        if (operation in APPLIANCE_READS and role == APPLIANCE)
        or (operation in ("GetPolicy", "GetPolicyVersion") and not _purpose_policy(role))
    ]


def _purpose_policy(arn: str | None) -> bool:
    """A managed policy of a sample role that declares purposes (its own event reads it, not the appliance's)."""
    return arn is not None and any(arn.endswith(f":policy/{name}Permissions") for name in PURPOSES)


class Clock:
    """Starts 6 minutes back: the publisher refuses observations more than 5 minutes ahead of AWS's clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def deployment(
    sample: Any, iam: Any, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any
) -> tuple[dict[str, Any], Calls]:
    create_table(dynamodb, TABLE)
    clients = {
        "iam": iam,
        "dynamodb": dynamodb,
        "securityhub": securityhub,
        "sns": sns,
        "sqs": sqs,
        "lambda": None,
    }
    calls = Calls()
    for name in ("iam", "dynamodb", "securityhub", "sns", "sqs"):
        calls.attach(clients[name])
    environment = {
        "VRA_APPLIANCE_ROLE_ARNS": sample.appliance_role_arn,
        "VRA_STATE_TABLE": TABLE,
        "VRA_TOPIC_ARN": sns.create_topic(Name="alerts")["TopicArn"],
        "VRA_RECHECK_QUEUE_URL": sqs.create_queue(QueueName="recheck")["QueueUrl"],
    }
    calls.take()
    return {"clients": clients, "environment": environment}, calls


def make_app(deployment: dict[str, Any], cache: ApplianceCache | None, clock: Clock, **settings: Any) -> AuditorApp:
    config = LambdaConfig.from_environment(deployment["environment"], **settings)
    return AuditorApp(config, deployment["clients"].__getitem__, clock=clock, appliance_cache=cache)


def role_event(event_name: str, role_name: str, number: int) -> IamChange:
    return IamChange(f"event-{number}", event_name, "2026-01-01T00:00:00Z", ACCOUNT, role_name=role_name)


def test_a_second_event_within_the_window_reads_no_appliance_and_costs_only_the_role(
    deployment: tuple[dict[str, Any], Calls],
) -> None:
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    first = make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    first_calls = calls.take()
    assert appliance_reads(first_calls) == [
        "GetRole",
        "ListRoleTags",
        "ListRolePolicies",
        "GetRolePolicy",
        "ListAttachedRolePolicies",
        "ListInstanceProfilesForRole",
    ]
    assert first_calls.count(("GetItem", None)) == 1  # the appliance id history

    clock.advance(59)
    second = make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 2), CALLER)
    second_calls = calls.take()
    assert appliance_reads(second_calls) == []
    assert [call for call in second_calls if call[0] in APPLIANCE_READS] == [("GetRole", ROLE), ("ListRoleTags", ROLE)]
    assert ("GetItem", None) not in second_calls  # the history came with the appliance read
    assert (first["status"], first["role"], second["status"], second["role"]) == (
        "evaluated",
        "in scope",
        "evaluated",
        "in scope",
    )


def test_after_the_window_the_appliance_is_read_again(deployment: tuple[dict[str, Any], Calls]) -> None:
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    calls.take()
    clock.advance(60)
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 2), CALLER)
    assert len(appliance_reads(calls.take())) == 6


def test_a_window_of_zero_reads_the_appliance_for_every_event(deployment: tuple[dict[str, Any], Calls]) -> None:
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    for number in range(3):
        clock.advance(1)
        make_app(setup, cache, clock, appliance_max_age=0.0).on_iam_change(role_event("TagRole", ROLE, number), CALLER)
        assert len(appliance_reads(calls.take())) == 6


def test_an_event_about_the_appliance_never_uses_the_cache_and_empties_it(
    deployment: tuple[dict[str, Any], Calls], iam: Any
) -> None:
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    calls.take()

    clock.advance(5)
    iam.delete_role_policy(RoleName=APPLIANCE, PolicyName="AssumeVeeamRoles")
    calls.take()
    summary = make_app(setup, cache, clock).on_iam_change(role_event("DeleteRolePolicy", APPLIANCE, 2), CALLER)
    appliance_event_calls = calls.take()
    # A full scan, in process here (no scan function): one GetAccountAuthorizationDetails, no targeted read.
    assert (summary["status"], summary["reason"]) == ("evaluated", "DeleteRolePolicy on an appliance role")
    # (and a second pass, Filter LocalManagedPolicy, for the managed policies of the roles declaring purposes)
    assert appliance_event_calls.count(("GetAccountAuthorizationDetails", None)) == 2
    assert [call for call in appliance_event_calls if call[1] == APPLIANCE] == []

    clock.advance(5)
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 3), CALLER)
    assert appliance_reads(calls.take()) == [
        "GetRole",
        "ListRoleTags",
        "ListRolePolicies",
        "ListAttachedRolePolicies",
        "ListInstanceProfilesForRole",
    ]  # read again, without the inline policy just deleted


def test_an_appliance_event_handed_to_the_scan_function_also_empties_the_cache(
    deployment: tuple[dict[str, Any], Calls],
) -> None:
    setup, calls = deployment
    invoked: list[dict[str, Any]] = []

    class Lambda:
        def invoke(self, **arguments: Any) -> None:
            invoked.append(json.loads(arguments["Payload"]))

    setup["clients"]["lambda"] = Lambda()
    cache, clock = ApplianceCache(), Clock()
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    calls.take()
    clock.advance(1)
    app = make_app(setup, cache, clock, scan_function_name="scan")
    summary = app.on_iam_change(role_event("UpdateAssumeRolePolicy", APPLIANCE, 2), CALLER)
    assert summary == {"status": "full scan requested", "reason": "UpdateAssumeRolePolicy on an appliance role"}
    assert [call for call in calls.take() if call[0] != "SendMessage"] == []  # not even the appliance is read
    assert invoked == [
        {"source": "veeam-role-auditor", "reason": "UpdateAssumeRolePolicy on an appliance role", "event_id": "event-2"}
    ]
    clock.advance(1)
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 3), CALLER)
    assert len(appliance_reads(calls.take())) == 6


def test_a_managed_policy_event_reads_the_appliance_afresh(deployment: tuple[dict[str, Any], Calls]) -> None:
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    calls.take()
    clock.advance(1)
    policy = f"arn:aws:iam::{ACCOUNT}:policy/unrelated"
    change = IamChange("event-2", "CreatePolicyVersion", "2026-01-01T00:00:00Z", ACCOUNT, policy_arn=policy)
    summary = make_app(setup, cache, clock).on_iam_change(change, CALLER)
    assert summary == {"status": "skipped", "reason": f"{policy} is not attached to an appliance role"}
    assert len(appliance_reads(calls.take())) == 6
    clock.advance(1)
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 3), CALLER)
    assert appliance_reads(calls.take()) == []  # the fresh read serves the next events


def test_a_full_scan_reads_the_appliance_from_the_account_not_from_the_cache(
    deployment: tuple[dict[str, Any], Calls], iam: Any
) -> None:
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    iam.delete_role_policy(RoleName=APPLIANCE, PolicyName="AssumeVeeamRoles")
    calls.take()
    clock.advance(1)
    summary = make_app(setup, cache, clock).full_scan(CALLER, reason="schedule")
    assert summary["status"] == "complete"
    assert calls.take().count(("GetAccountAuthorizationDetails", None)) == 2  # roles, then purpose roles' policies
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    identity_id = finding_id("aws", ACCOUNT, "VRA-IDENTITY-1", role_arn)
    stored = make_app(setup, None, clock).store.load([identity_id])
    assert stored[identity_id].status == "FAILED"  # the scan saw the appliance without its inline policy


def test_a_read_from_before_an_appliance_change_elsewhere_is_corrected_by_the_recheck(
    deployment: tuple[dict[str, Any], Calls], iam: Any, sqs: Any
) -> None:
    """Another container processed the appliance change and ran the full scan: within the window this one
    still assesses with the appliance it read before (the documented cost); the event's re-check, 300 s
    later, reads the appliance again and publishes what the full scan found."""
    setup, calls = deployment
    cache, clock = ApplianceCache(), Clock()
    identity_id = finding_id("aws", ACCOUNT, "VRA-IDENTITY-1", f"arn:aws:iam::{ACCOUNT}:role/{ROLE}")
    store = make_app(setup, None, clock).store
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 1), CALLER)
    assert store.load([identity_id])[identity_id].status == "PASSED"

    clock.advance(10)
    iam.delete_role_policy(RoleName=APPLIANCE, PolicyName="AssumeVeeamRoles")
    assert make_app(setup, None, clock).full_scan(CALLER, reason="in another container")["status"] == "complete"
    assert store.load([identity_id])[identity_id].status == "FAILED"
    queue = setup["environment"]["VRA_RECHECK_QUEUE_URL"]
    sqs.purge_queue(QueueUrl=queue)
    calls.take()

    clock.advance(10)
    make_app(setup, cache, clock).on_iam_change(role_event("TagRole", ROLE, 2), CALLER)
    assert appliance_reads(calls.take()) == []
    assert store.load([identity_id])[identity_id].status == "PASSED"  # the appliance as read 20 s ago
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    recheck = json.loads(messages[0]["Body"])
    assert recheck == {"role_name": ROLE, "reason": "recheck", "source_event_id": "event-2"}

    clock.advance(300)  # the queue's DelaySeconds
    make_app(setup, cache, clock).recheck(recheck, CALLER)
    assert len(appliance_reads(calls.take())) == 5  # read again, without the inline policy
    assert store.load([identity_id])[identity_id].status == "FAILED"


def test_cached_and_uncached_events_publish_the_same_findings(deployment: tuple[dict[str, Any], Calls]) -> None:
    setup, calls = deployment
    clock = Clock()
    cached, uncached = ApplianceCache(), None
    outcomes = []
    for number, cache in enumerate((cached, cached, uncached)):
        clock.advance(1)
        summary = make_app(setup, cache, clock).on_iam_change(
            role_event("UpdateAssumeRolePolicy", ROLE, number), CALLER
        )
        outcomes.append({key: summary[key] for key in ("status", "role", "findings", "unchanged", "imported")})
    assert outcomes[1] == outcomes[2]
    assert Counter(operation for operation, _ in calls.take())["GetRole"] == 5  # 1 + 2 + 2


def test_the_iam_change_handler_keeps_the_appliance_read_between_invocations(
    sample: Any, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler module's cache lives as long as the container; an appliance event empties it."""
    deployment = make_deployment(sample, dynamodb, securityhub, sns, sqs, monkeypatch)
    calls = Calls()
    calls.attach(deployment.change.client("iam"))

    def deliver(name: str, event_id: str) -> dict[str, Any]:
        event = load_event(f"cloudtrail/{name}.json")
        event["detail"]["eventID"] = event_id
        return dict(deployment.iam_change(event))

    assert deliver("TagRole", "first")["status"] == "evaluated"
    assert len(appliance_reads(calls.take())) == 6
    assert deliver("UpdateAssumeRolePolicy", "second")["status"] == "evaluated"
    assert appliance_reads(calls.take()) == []
    monkeypatch.setenv("VRA_APPLIANCE_MAX_AGE", "0")
    deliver("TagRole", "third")
    assert len(appliance_reads(calls.take())) == 6
    monkeypatch.delenv("VRA_APPLIANCE_MAX_AGE")
    assert deliver("PutRolePolicy", "about the appliance")["reason"] == "PutRolePolicy on an appliance role"
    assert [call for call in calls.take() if call[1] == APPLIANCE] == []  # a full scan, in process here
    deliver("TagRole", "fourth")
    assert len(appliance_reads(calls.take())) == 6
