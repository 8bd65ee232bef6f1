"""Sharing trust verdicts between roles changes no finding: memoised and unmemoised scans of generated accounts.

The accounts draw every role's trust policy from a small pool (so many roles share one), with conditions
on the role's tags, account and organization, on time, deleted unique ids, foreign and own accounts,
malformed documents, JSON text as well as objects, and roles in several accounts, paths and partitions,
some with ARNs the engine refuses.
"""

from __future__ import annotations

import gc
import itertools
import json
import weakref
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_policy_properties import ACCOUNT, APPLIANCE_ARN, policies, valid_policies
from veeam_role_auditor.assess import TrustMemo, assess_role, assess_untagged_role, prepare_appliances
from veeam_role_auditor.inventory import Caller
from veeam_role_auditor.model import ApplianceState, RoleSnapshot
from veeam_role_auditor.policy import NamedPolicy
from veeam_role_auditor.scan import Assessment, assess_account
from veeam_role_auditor.settings import ScanSettings

TAG = "veeam:backup-role"
OBSERVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECOND_APPLIANCE = "arn:aws:iam::444455556666:role/Imp2"
ASSUME_ANY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}
TAG_CONDITIONS = [
    {"StringEquals": {"aws:ResourceTag/team": "backup"}},
    {"StringLike": {"aws:resourcetag/Team": ["back*", "ops"]}},
    {"StringEquals": {"aws:PrincipalTag/x": "${aws:ResourceTag/team}"}},
    {"StringEquals": {"aws:ResourceAccount": ACCOUNT}},
    {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}},
    {"DateLessThan": {"aws:CurrentTime": "2026-11-28T12:00:30Z"}},
]
tags = st.sampled_from(
    [
        {TAG: "true"},
        {TAG: "true", "team": "backup"},
        {TAG: "true", "Team": "ops", "team": "backup"},
        {TAG: "true", "team": "ops"},
        {"team": "backup"},
        {},
    ]
)


@st.composite
def tag_reading_policies(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(valid_policies())
    for statement in document["Statement"]:
        if draw(st.booleans()):
            statement["Condition"] = draw(st.sampled_from(TAG_CONDITIONS))
    return document


documents = st.one_of(
    valid_policies(),
    tag_reading_policies(),
    policies(),  # malformed ones too
    valid_policies().map(json.dumps),
)


@st.composite
def roles(draw: st.DrawFn, pool: list[object]) -> RoleSnapshot:
    account = draw(st.sampled_from([ACCOUNT, ACCOUNT, "999988887777"]))
    partition = draw(st.sampled_from(["aws", "aws", "aws-cn"]))
    path = draw(st.sampled_from(["/", "/", "/veeam/", "/other/"]))
    name = draw(st.sampled_from(["Repo", "repo", "Backup-1", "Imp", "x" * 64]))
    arn = f"arn:{partition}:iam::{account}:role{path}{name}"
    if draw(st.integers(0, 30)) == 0:
        arn = draw(st.sampled_from(["not-an-arn", f"arn:aws:iam::{account}:user/{name}"]))
    return RoleSnapshot(
        arn=arn,
        name=name,
        role_id=f"AROA{draw(st.integers(0, 10**6)):016d}",
        path=path,
        trust_policy=draw(st.sampled_from(pool)),
        tags=draw(tags),
        observed_at=OBSERVED,
    )


@st.composite
def accounts(draw: st.DrawFn) -> tuple[list[RoleSnapshot], tuple[ApplianceState, ...], ScanSettings]:
    pool = draw(st.lists(documents, min_size=1, max_size=5))
    role_list = draw(st.lists(roles(pool), min_size=1, max_size=25))
    arns = draw(st.sampled_from([(APPLIANCE_ARN,), (APPLIANCE_ARN, SECOND_APPLIANCE)]))
    states = []
    for arn in arns:
        snapshot = RoleSnapshot(
            arn=arn,
            name=arn.rsplit("/", 1)[-1],
            role_id="AROAAPPLIANCEEXAMPLE1",
            path="/veeam/" if "/veeam/" in arn else "/",
            trust_policy={},
            tags={},
            observed_at=OBSERVED,
            instance_profile_arns=("arn:aws:iam::111122223333:instance-profile/Imp",),
        )
        states.append(
            ApplianceState(
                role_arn=arn,
                in_scanned_account=True,
                snapshot=snapshot,
                identity_policies=(NamedPolicy("inline policy assume", ASSUME_ANY),),
            )
        )
    scan_settings = ScanSettings(
        appliance_role_arns=arns,
        tag_key=TAG,
        trusted_accounts=draw(st.sampled_from([(), ("999988887777",)])),
        appliance_org_id=draw(st.sampled_from([None, "o-a1b2c3d4e5"])),
        external_id=draw(st.sampled_from([None, "veeam-1"])),
    )
    return role_list, prepare_appliances(states), scan_settings


def appliance_elsewhere() -> tuple[tuple[ApplianceState, ...], ScanSettings]:
    """The appliance role, in another account than the roles', and the settings naming it."""
    appliances = prepare_appliances([ApplianceState(role_arn=APPLIANCE_ARN, in_scanned_account=False)])
    return appliances, ScanSettings(appliance_role_arns=(APPLIANCE_ARN,), tag_key=TAG)


def repo(number: int, trust: object, tags: dict[str, str] | None = None) -> RoleSnapshot:
    """Role Repo<number> of the account, tagged for Veeam (and with ``tags``)."""
    return RoleSnapshot(
        arn=f"arn:aws:iam::{ACCOUNT}:role/Repo{number}",
        name=f"Repo{number}",
        role_id=f"AROA{number:016d}",
        path="/",
        trust_policy=trust,
        tags={TAG: "true", **(tags or {})},
        observed_at=OBSERVED,
    )


CALLER = Caller(partition="aws", account=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:role/auditor")


@given(accounts(), st.sampled_from([OBSERVED, datetime(2026, 11, 28, 12, 1, tzinfo=UTC)]))
@settings(max_examples=150, deadline=None)
def test_shared_verdicts_give_the_same_findings(account: Any, now: datetime) -> None:
    role_list, appliances, scan_settings = account
    previous = {"AROAOLDDELETEDROLE123": APPLIANCE_ARN}
    shared = assess_account(
        role_list, appliances, scan_settings, CALLER, previous_appliance_ids=previous, now=now, share_verdicts=True
    )
    alone = assess_account(
        role_list, appliances, scan_settings, CALLER, previous_appliance_ids=previous, now=now, share_verdicts=False
    )
    assert shared == alone


@given(accounts())
@settings(max_examples=100, deadline=None)
def test_shared_verdicts_at_the_present_time_give_the_same_findings(account: Any) -> None:
    role_list, appliances, scan_settings = account
    shared = assess_account(role_list, appliances, scan_settings, CALLER, share_verdicts=True)
    alone = assess_account(role_list, appliances, scan_settings, CALLER, share_verdicts=False)
    assert shared == alone


@given(accounts(), st.lists(st.integers(1, 6), min_size=1, max_size=8))
@settings(max_examples=100, deadline=None)
def test_shared_verdicts_a_page_at_a_time_give_the_same_findings(account: Any, sizes: list[int]) -> None:
    """As a scan shares them: the roles expected a page at a time, each policy's entry let go after its last
    role so far, and counted afresh when a later page holds it again."""
    role_list, appliances, scan_settings = account
    assessment = Assessment(appliances, scan_settings, CALLER, now=OBSERVED, share_verdicts=True)
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(role_list):
            break
        assessment.add(role_list[start : start + size])
        start += size
    alone = assess_account(role_list, appliances, scan_settings, CALLER, now=OBSERVED, share_verdicts=False)
    assert assessment.finish() == alone


def test_the_memo_lets_go_of_each_role_once_it_has_its_conclusions() -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"}],
    }
    appliances, scan_settings = appliance_elsewhere()
    role_list = [
        repo(number, json.loads(json.dumps(trust)) if number < 2 else {**trust, "Id": str(number)})
        for number in range(4)
    ]
    memo = TrustMemo(appliances, scan_settings, roles=role_list)
    refs = [weakref.ref(role) for role in role_list]
    statuses = []
    while role_list:
        statuses.append(assess_role(role_list.pop(0), appliances, scan_settings, now=OBSERVED, memo=memo)[0].status)
        gc.collect()
        assert [ref() is None for ref in refs] == [True] * (4 - len(role_list)) + [False] * len(role_list)
    assert (statuses, memo.hits) == (["PASSED"] * 4, 1)


def test_roles_from_one_template_share_one_evaluation() -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"}],
    }
    appliances, scan_settings = appliance_elsewhere()
    memo = TrustMemo(appliances, scan_settings)
    for number in range(50):
        role = repo(number, json.loads(json.dumps(trust)), {"n": str(number)})  # equal documents, not the same object
        findings = assess_role(role, appliances, scan_settings, now=OBSERVED, memo=memo)
        assert findings[0].title.endswith(f": Repo{number}")
    assert memo.hits == 49


def test_a_policy_reading_resource_tags_is_shared_only_by_roles_with_the_same_tags() -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": APPLIANCE_ARN},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:ResourceTag/Team": "backup"}},
            }
        ],
    }
    appliances, scan_settings = appliance_elsewhere()
    memo = TrustMemo(appliances, scan_settings)
    statuses = []
    for number, team in enumerate(["backup", "ops", "backup"]):
        role = repo(number, trust, {"team": team})
        statuses.append(assess_role(role, appliances, scan_settings, now=OBSERVED, memo=memo)[0].status)
    assert statuses == ["PASSED", "FAILED", "PASSED"]
    assert memo.hits == 1


@given(accounts())
@settings(max_examples=100, deadline=None)
def test_the_untagged_pre_check_skips_only_roles_that_name_no_appliance(account: Any) -> None:
    """Untagged roles are not parsed unless an AWS principal could name an appliance role: same drift findings."""
    from veeam_role_auditor import assess

    role_list, appliances, scan_settings = account
    untagged = [role for role in role_list if TAG not in role.tags]
    with_pre_check = [assess_untagged_role(role, appliances, scan_settings, now=OBSERVED) for role in untagged]
    original = assess._may_name
    assess._may_name = lambda *_: True  # type: ignore[assignment]
    try:
        without = [assess_untagged_role(role, appliances, scan_settings, now=OBSERVED) for role in untagged]
    finally:
        assess._may_name = original
    assert with_pre_check == without


@pytest.mark.parametrize("planner", ["plan_trust_fix", "with_role_instead_of_account", "without_deleted_principals"])
def test_a_correction_that_raises_is_not_remembered_as_none(monkeypatch: pytest.MonkeyPatch, planner: str) -> None:
    """A defect in planning makes each role sharing the verdict NOT_AVAILABLE, as it does without sharing."""
    from veeam_role_auditor import conclusions

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("planning defect")

    monkeypatch.setattr(conclusions, planner, broken)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:root", "AROAOLDDELETEDROLE123"]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "x"}},
            },
        ],
    }
    appliances, scan_settings = appliance_elsewhere()
    role_list = [repo(number, trust) for number in range(3)]
    shared, _ = assess_account(role_list, appliances, scan_settings, CALLER, now=OBSERVED, share_verdicts=True)
    alone, _ = assess_account(role_list, appliances, scan_settings, CALLER, now=OBSERVED, share_verdicts=False)
    # (the appliance's own finding, observed now since it is in another account, aside)
    assert shared[1:] == alone[1:]
    assert {finding.status for finding in shared if finding.role_arn.endswith("Repo2")} == {"NOT_AVAILABLE"}
