"""The check registry: every role check is one registered unit, run in order, and may not apply."""

from __future__ import annotations

from datetime import UTC, datetime

from veeam_role_auditor import checks
from veeam_role_auditor.assess import assess_role, prepare_appliances
from veeam_role_auditor.checks import PurposeScan
from veeam_role_auditor.model import ApplianceState, RoleSnapshot
from veeam_role_auditor.settings import ScanSettings

APPLIANCE = "arn:aws:iam::123456789012:role/VeeamImpersonation"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _role(tags: dict[str, str]) -> RoleSnapshot:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": APPLIANCE}, "Action": "sts:AssumeRole"}],
    }
    return RoleSnapshot(
        arn="arn:aws:iam::123456789012:role/Repo",
        name="Repo",
        role_id="AROAEXAMPLEREPO000001",
        path="/",
        trust_policy=trust,
        tags=tags,
        observed_at=NOW,
    )


def test_every_role_check_of_the_catalogue_has_exactly_one_unit() -> None:
    registered = [unit.check.code for unit in checks.ROLE_REGISTRY]
    role_checks = [code for code, check in checks.CATALOGUE.items() if check.resource == "role"]
    assert len(registered) == len(set(registered))
    assert sorted(registered) == sorted(role_checks)
    assert all(checks.CATALOGUE[unit.check.code] is unit.check for unit in checks.ROLE_REGISTRY)


def test_findings_follow_the_registry_order_and_a_unit_that_does_not_apply_makes_none() -> None:
    settings = ScanSettings(appliance_role_arns=(APPLIANCE,), tag_key="veeam")
    appliances = prepare_appliances([ApplianceState(role_arn=APPLIANCE, in_scanned_account=False)])
    purposes = PurposeScan.from_settings(settings)

    untagged = assess_role(_role({"veeam": "true"}), appliances, settings, now=NOW, purposes=purposes)
    assert [f.check for f in untagged] == [
        unit.check.code for unit in checks.ROLE_REGISTRY if unit.check not in checks.PURPOSE_CHECKS
    ]

    declaring = assess_role(
        _role({"veeam": "true", "veeam:role-purpose": "organization-rescan"}),
        appliances,
        settings,
        now=NOW,
        purposes=purposes,
    )
    assert [f.check for f in declaring] == [f.check for f in untagged] + [
        "VRA-PURPOSE-1",
        "VRA-PURPOSE-2",
        "VRA-PURPOSE-4",  # VRA-PURPOSE-3 only with an upgrade target
    ]
