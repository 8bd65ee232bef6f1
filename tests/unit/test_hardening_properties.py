"""Properties: one odd role never changes what the others get; a fix never widens trust.

CI runs the "ci" hypothesis profile; ``make hypothesis-long`` runs these with 100,000 examples too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.unit.test_policy_properties import (
    APPLIANCE,
    APPLIANCE_ARN,
    NOW,
    ROLE,
    json_values,
    mutated_corpus_documents,
    policies,
    valid_policies,
)
from veeam_role_auditor.assess import ROLE_FINDING_CHECKS, prepare_appliances
from veeam_role_auditor.inventory import Caller
from veeam_role_auditor.model import ApplianceState, RoleSnapshot
from veeam_role_auditor.policy import NamedPolicy, evaluate_trust
from veeam_role_auditor.remediation import plan_trust_fix
from veeam_role_auditor.scan import assess_account
from veeam_role_auditor.settings import ScanSettings

ACCOUNT = "111122223333"
TAGS = {"veeam:backup-role": "true"}
SETTINGS = ScanSettings(appliance_role_arns=(APPLIANCE_ARN,))
CALLER = Caller(partition="aws", account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/auditor")
ALLOW_APPLIANCE = {"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"}


def snapshot(name: str, trust: object, *, arn: str | None = None, tags: dict[str, str] = TAGS) -> RoleSnapshot:
    return RoleSnapshot(
        arn=arn if arn is not None else f"arn:aws:iam::{ACCOUNT}:role/{name}",
        name=name,
        role_id=f"AROA{abs(hash(name)) % 10**17:017d}",
        path="/",
        trust_policy=trust,
        tags=tags,
        observed_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


APPLIANCES = prepare_appliances(
    [
        ApplianceState(
            role_arn=APPLIANCE_ARN,
            in_scanned_account=True,
            snapshot=snapshot(
                "Imp",
                {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "*"}]},
                arn=APPLIANCE_ARN,
                tags={},
            ),
            identity_policies=(
                NamedPolicy(
                    "assume", {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
                ),
            ),
        )
    ]
)
NEIGHBOURS = [
    snapshot("Healthy", {"Version": "2012-10-17", "Statement": [ALLOW_APPLIANCE]}),
    snapshot("Missing", {"Version": "2012-10-17", "Statement": []}),
    snapshot("Wildcard", {"Version": "2012-10-17", "Statement": [dict(ALLOW_APPLIANCE, Principal="*")]}),
]


def findings_by_id(roles: list[RoleSnapshot]) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    findings, _ = assess_account(roles, APPLIANCES, SETTINGS, CALLER, now=NOW)
    return {finding.id: (finding.role_arn, finding.status, finding.details) for finding in findings}


BASELINE = findings_by_id(NEIGHBOURS)

names = st.text(min_size=1, max_size=70)
arns = (
    st.builds(lambda name: f"arn:aws:iam::{ACCOUNT}:role/{name}", names)
    | st.text(max_size=40)
    | st.sampled_from(["", "arn", f"arn:aws:iam::{ACCOUNT}:user/Bob", "arn:aws:iam::12:role/x"])
)
odd_documents = json_values | policies() | valid_policies() | mutated_corpus_documents() | st.text(max_size=60)


@given(document=odd_documents, name=names, arn=arns, position=st.integers(0, 3))
def test_an_odd_role_costs_only_its_own_findings(document: object, name: str, arn: str, position: int) -> None:
    assume(arn not in {role.arn for role in NEIGHBOURS})
    odd = snapshot(name, document, arn=arn)
    roles = list(NEIGHBOURS)
    roles.insert(position, odd)

    findings, in_scope = assess_account(roles, APPLIANCES, SETTINGS, CALLER, now=NOW)

    assert len(in_scope) == len({role.arn for role in roles})
    own = [finding for finding in findings if finding.role_arn == arn]
    assert sorted(finding.check for finding in own) == sorted(check.code for check in ROLE_FINDING_CHECKS)
    others = {f.id: (f.role_arn, f.status, f.details) for f in findings if f.role_arn != arn}
    assert others == BASELINE


def check_fix(document: dict[str, Any]) -> None:
    verdict = evaluate_trust(document, ROLE, APPLIANCE, role_tags=TAGS, now=NOW)
    fix = plan_trust_fix(document, ROLE, APPLIANCE, role_tags=TAGS, now=NOW, current=verdict)
    if verdict.appliance_can_assume == "conditional":
        assert fix.document is None  # never decided for the operator
        return
    if fix.document is None:
        assert fix.refusal
        return
    after = evaluate_trust(fix.document, ROLE, APPLIANCE, role_tags=TAGS, now=NOW)
    assert after.appliance_can_assume == "yes"
    if fix.added is not None:
        # An unconditional Allow is only ever added where no Allow with conditions names the appliance.
        for statement in document["Statement"]:
            if statement.get("Effect") == "Allow" and statement.get("Condition"):
                bare = {k: v for k, v in statement.items() if k != "Condition"}
                alone = {"Version": document["Version"], "Statement": [bare]}
                assert evaluate_trust(alone, ROLE, APPLIANCE, role_tags=TAGS, now=NOW).appliance_can_assume == "no"
    if "malformed" in verdict.risks:
        return  # a document not in force is rebuilt from the statements IAM would accept
    # Nothing else changes: every statement the fix did not narrow is kept as it was.
    narrowed = {position for position, _ in fix.narrowed}
    kept = [s for position, s in enumerate(document["Statement"]) if position not in narrowed]
    assert all(statement in fix.document["Statement"] for statement in kept)


@given(document=valid_policies())
def test_a_fix_works_or_says_why_and_never_adds_an_unconditional_twin(document: dict[str, Any]) -> None:
    check_fix(document)


@given(document=odd_documents)
def test_planning_a_fix_never_raises(document: object) -> None:
    verdict = evaluate_trust(document, ROLE, APPLIANCE, role_tags=TAGS, now=NOW)
    fix = plan_trust_fix(document, ROLE, APPLIANCE, role_tags=TAGS, now=NOW)
    assert (fix.document is None) == (fix.refusal is not None)
    if verdict.appliance_can_assume == "conditional":
        assert fix.document is None
