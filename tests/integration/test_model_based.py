"""Model-based runs of the real handlers against the independent oracle of tests/integration/model_based.py.

The short CI version; the long one is bench/soak.py. A failure message names the seed and the round, the
round's changes and deliveries, and the diff: replay with the same seed and size.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.model_based import (
    APPLIANCE_ARN,
    APPLIANCE_NAME,
    APPLIANCE_PATH,
    TAG_KEY,
    TAG_KEY_OTHER_CASE,
    TEMPLATES,
    AccountModel,
    Knobs,
    RoleState,
    Template,
    Told,
    World,
    finding_id,
    role_arn,
    role_expectations,
)
from veeam_role_auditor.assess import assess_role, assess_untagged_role, prepare_appliances
from veeam_role_auditor.model import ApplianceState, RoleSnapshot
from veeam_role_auditor.policy import NamedPolicy
from veeam_role_auditor.settings import ScanSettings

# Powertools warns when an invocation adds no metric (an event for a role never audited): expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

SETTINGS = ScanSettings(appliance_role_arns=(APPLIANCE_ARN,))
# Fewer changes per round and fewer undelivered events than the soak, so fewer catch-up scans: on moto a
# full scan costs 0.6 s at 30 roles (most of it serializing the state table's Scan), an event 0.2 s.
CI_KNOBS = Knobs(
    changes_per_round=(2, 4), event_delivered=0.8, extra_scan=0.1, appliance_toggle=0.1, instance_profile_toggle=0.08
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def world_factory(aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., World]:
    def make(**options: Any) -> World:
        return World(
            setenv=monkeypatch.setenv,
            unsetenv=lambda name: monkeypatch.delenv(name, raising=False),
            verify_security_hub_api_every=2,
            **options,
        )

    return make


# ---------------------------------------------------------------------- the runs


@pytest.mark.parametrize("seed", [20260101, 20260102])
def test_random_rounds_match_the_oracle(world_factory: Any, seed: int) -> None:
    world: World = world_factory(seed=seed, roles=30, knobs=CI_KNOBS)
    stats = world.run(rounds=6)
    totals = stats.summary()
    # The run did exercise what it claims to (the counts themselves depend on the seed).
    assert totals["rounds"] == 8  # the first scan, 6 random rounds and the settling round
    assert totals["changes"] > 0
    assert totals["events"] > 0
    assert totals["rechecks"] > 0
    assert totals["scans"] > 0
    assert totals["alerts"] > 0


def test_random_rounds_with_digests_and_low_alerts(world_factory: Any) -> None:
    """Runs with more than 3 transitions send one digest; LOW (VRA-TRUST-7) changes are alerted too."""
    world: World = world_factory(seed=7, roles=15, min_alert_severity="LOW", digest_threshold=3, knobs=CI_KNOBS)
    stats = world.run(rounds=3)
    assert stats.total("digests") >= 1


# ---------------------------------------------------------------------- scripted rounds (divergences found)


def _moved_role(world: World, *, delete_event_first: bool) -> None:
    """A Veeam role deleted and re-created under another path (IAM cannot change a role's path)."""
    world.initial_round()
    world.begin_round(1)
    world.deliver(world.create_role(RoleState("VeeamMoved", "/", "missing_trust", (TAG_KEY, "true"))))
    world.end_round()  # VRA-TRUST-1 FAILED HIGH for arn:...:role/VeeamMoved, alerted
    world.begin_round(2)
    deleted = world.delete_role("VeeamMoved")
    if delete_event_first:
        world.deliver(deleted)
    created = world.create_role(RoleState("VeeamMoved", "/veeam/", "healthy", (TAG_KEY, "true")))
    if not delete_event_first:
        world.deliver(deleted)
    world.deliver(created)
    world.end_round()


def test_a_role_moved_to_another_path_with_its_delete_event_on_time(world_factory: Any) -> None:
    _moved_role(world_factory(seed=1, roles=0), delete_event_first=True)


def test_a_role_moved_to_another_path_with_its_delete_event_late(world_factory: Any) -> None:
    _moved_role(world_factory(seed=1, roles=0), delete_event_first=False)


# ---------------------------------------------------------------------- outages: the sinks converge


OUTAGE_KNOBS = replace(CI_KNOBS, security_hub_outage=0.35, sns_outage=0.35)


def test_random_rounds_with_security_hub_and_sns_outages_match_the_oracle(world_factory: Any) -> None:
    world: World = world_factory(seed=20260103, roles=20, knobs=OUTAGE_KNOBS)
    stats = world.run(rounds=6)
    totals = stats.summary()
    assert totals["outages"] > 0
    assert totals["failed_runs"] > 0  # an AccessDenied outage failed runs, which were retried
    assert totals["alerts"] > 0


def _deleted_during_an_outage(world: World, outage: Callable[[], None]) -> None:
    """A failing, alerted role deleted while a sink refuses; the next round's scan must catch up."""
    world.initial_round()
    world.begin_round(1)
    world.deliver(world.create_role(RoleState("VeeamGone", "/", "wildcard", (TAG_KEY, "true"))))
    assert world.end_round().alerts == 1  # VRA-TRUST-3 FAILED CRITICAL
    world.begin_round(2)
    outage()
    world.deliver(world.delete_role("VeeamGone"))
    world.end_round()
    world.begin_round(3)
    world.scheduled_scan()
    world.end_round()


@pytest.mark.parametrize("code", ["InvalidAccessException", "AccessDeniedException"], ids=["disabled", "denied"])
def test_a_role_deleted_while_security_hub_refuses_is_archived_there_after_the_outage(
    world_factory: Any, code: str
) -> None:
    world: World = world_factory(seed=4, roles=0)
    _deleted_during_an_outage(world, lambda: world.security_hub_outage(code))
    assert world.stats.rounds[2].alerts == 1  # "archived", sent although Security Hub refused


def test_a_role_deleted_while_sns_refuses_is_announced_after_the_outage(world_factory: Any) -> None:
    world: World = world_factory(seed=5, roles=0)
    _deleted_during_an_outage(world, world.sns_outage)
    assert [stats.alerts for stats in world.stats.rounds[2:]] == [0, 1]  # "archived", once SNS is back


def test_the_appliance_leaving_its_instance_profile_and_coming_back(world_factory: Any) -> None:
    """VRA-APPLIANCE-1 goes CRITICAL through the event (an in-process full scan), then back by the scan."""
    world: World = world_factory(seed=3, roles=6)
    world.initial_round()
    world.begin_round(1)
    world.deliver(world.toggle_instance_profile())
    stats = world.end_round()
    assert (stats.full_scans, stats.alerts) == (1, 1)  # new_failure CRITICAL
    world.begin_round(2)
    world.toggle_instance_profile()  # not delivered: the scheduled scan finds it
    world.scheduled_scan()
    assert world.end_round().alerts == 1  # resolved


# ---------------------------------------------------------------------- the oracle's table, pinned once


def _appliance(allows: bool) -> tuple[ApplianceState, ...]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    snapshot = RoleSnapshot(
        arn=APPLIANCE_ARN,
        name=APPLIANCE_NAME,
        role_id="AROAMODELAPPLIANCE001",
        path=APPLIANCE_PATH,
        trust_policy=trust,
        tags={},
        observed_at=NOW,
        instance_profile_arns=(f"arn:aws:iam::123456789012:instance-profile/{APPLIANCE_NAME}",),
    )
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    policies = (NamedPolicy("inline policy AssumeVeeamRoles", document),) if allows else ()
    state = ApplianceState(APPLIANCE_ARN, in_scanned_account=True, snapshot=snapshot, identity_policies=policies)
    return prepare_appliances([state])


def _product_results(
    template: Template, *, tags: dict[str, str], path: str, allows: bool
) -> dict[str, tuple[str, str]]:
    name = f"Pinned{template.name}"
    role = RoleSnapshot(
        arn=role_arn(name, path),
        name=name,
        role_id="AROAMODELROLE00000001",
        path=path,
        trust_policy=json.dumps(template.document()),
        tags=tags,
        observed_at=NOW,
    )
    appliances = _appliance(allows)
    if SETTINGS.in_scope(role.tags, role.path):
        findings = assess_role(role, appliances, SETTINGS)
    else:
        drift = assess_untagged_role(role, appliances, SETTINGS)
        findings = [drift] if drift else []
    assert all(f.id == finding_id(f.check, role.arn) for f in findings)
    return {f.check: (f.status, f.severity) for f in findings}


@pytest.mark.parametrize("allows", [True, False], ids=["appliance-allows", "appliance-policy-removed"])
@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_oracle_table_matches_the_product(template: Template, allows: bool) -> None:
    for tags in ({TAG_KEY: "true"}, {TAG_KEY_OTHER_CASE: "repository"}, {}, {"team": "apps"}):
        for path in ("/", "/backup/team/"):
            tagged = bool({key.lower() for key in tags} & {TAG_KEY})
            expected = role_expectations(template, tagged=tagged, appliance_allows=allows)
            assert _product_results(template, tags=tags, path=path, allows=allows) == expected, (tags, path)


@pytest.mark.parametrize("in_profile", [True, False])
def test_the_appliance_finding_of_the_oracle_matches_the_product(in_profile: bool) -> None:
    from veeam_role_auditor.assess import assess_appliance

    model = AccountModel()
    model.appliance_in_profile = in_profile
    ((identifier, expected),) = model.expected().items()
    for allows in (True, False):
        (state,) = _appliance(allows)
        if not in_profile:
            assert state.snapshot is not None
            state = replace(state, snapshot=replace(state.snapshot, instance_profile_arns=()))
        finding = assess_appliance(state, SETTINGS, partition="aws", account="123456789012")
        assert (finding.id, (finding.status, finding.severity)) == (identifier, expected)


def test_oracle_transitions_follow_the_documented_rules() -> None:
    model = AccountModel("MEDIUM")
    failing = finding_id("VRA-TRUST-1", role_arn("A"))
    low = finding_id("VRA-TRUST-7", role_arn("A"))
    model.told = {
        failing: Told("FAILED", "HIGH", True),
        low: Told("FAILED", "LOW", True),
        finding_id("VRA-TRUST-3", role_arn("B")): Told("FAILED", "CRITICAL", True),
        finding_id("VRA-TRUST-1", role_arn("C")): Told("WARNING", "MEDIUM", True),
        finding_id("VRA-TRUST-4", role_arn("D")): Told("FAILED", "HIGH", False),
    }
    model.roles = {}
    alerts = model.advance()
    # Everything is gone: archived alerts for what was failing and alerted at MEDIUM or above; the LOW
    # one and the already archived one say nothing.
    assert sorted(alerts) == sorted(
        [
            (failing, "archived"),
            (finding_id("VRA-TRUST-3", role_arn("B")), "archived"),
            (finding_id("VRA-TRUST-1", role_arn("C")), "archived"),
            # the appliance's finding appears, PASSED: nothing to tell
        ]
    )
    assert model.advance() == []
