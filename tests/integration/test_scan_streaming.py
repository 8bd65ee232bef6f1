"""The scan assesses each page of roles while the next is read (issue 15): the same findings, in the same
order, as assessing the whole account at once, wherever the appliance role and the purpose roles fall.

moto answers GetAccountAuthorizationDetails in one page; ``iam_paging`` makes it page as IAM does, and a
small page size makes the sample account span many pages.
"""

from __future__ import annotations

import gc
import json
import math
import threading
import time
import types
import weakref
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from veeam_role_auditor import inventory as inventory_module
from veeam_role_auditor import scan as scan_module
from veeam_role_auditor.assess import prepare_appliances
from veeam_role_auditor.dev.emulator import iam_paging
from veeam_role_auditor.dev.sample_account import (
    PURPOSE_TAG_KEY,
    TAG_KEY,
    UPGRADE_TARGET,
    VEEAM_VERSION,
    SampleAccount,
    create_sample_account,
)
from veeam_role_auditor.inventory import Inventory
from veeam_role_auditor.model import RoleSnapshot
from veeam_role_auditor.scan import ReadAhead, assess_account, read_account, read_managed_policies, scan_account
from veeam_role_auditor.settings import ScanSettings

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
EC2_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def gaad_calls(iam: Any) -> list[dict[str, Any]]:
    """The parameters of every GetAccountAuthorizationDetails call the client makes from now on."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    iam.meta.events.register("provide-client-params.iam.GetAccountAuthorizationDetails", record)
    return calls


def with_purposes(sample: SampleAccount) -> ScanSettings:
    """Settings for the sample account, its purpose checks on."""
    return ScanSettings(
        appliance_role_arns=(sample.appliance_role_arn,),
        tag_key=TAG_KEY,
        purpose_tag_key=PURPOSE_TAG_KEY,
        veeam_version=VEEAM_VERSION,
        upgrade_target=UPGRADE_TARGET,
    )


@pytest.mark.parametrize("page_size", [1, 3, 1000])
@pytest.mark.parametrize("roles_before", [0, 4])
def test_a_scan_a_page_at_a_time_finds_what_assessing_the_whole_account_finds(
    iam: Any, sts: Any, monkeypatch: pytest.MonkeyPatch, page_size: int, roles_before: int
) -> None:
    # roles_before roles created before the appliance role: with small pages it is read on a later page,
    # and the pages before it wait for it.
    for number in range(roles_before):
        tags = [{"Key": TAG_KEY, "Value": "true"}] if number % 2 else []
        iam.create_role(RoleName=f"Early{number}", AssumeRolePolicyDocument=EC2_TRUST, Tags=tags)
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    settings = with_purposes(sample)
    monkeypatch.setattr(inventory_module, "PAGE_SIZE", page_size)
    inventory = Inventory(iam, sts, now=lambda: NOW)
    calls = gaad_calls(iam)
    with iam_paging():
        result = scan_account(inventory, settings, now=NOW)
        role_calls = [call for call in calls if call["Filter"] == ["Role"]]
        roles = read_account(inventory)
        caller = inventory.caller()
        by_arn = {role.arn: role for role in roles}
        appliances = prepare_appliances([inventory.appliance_state(sample.appliance_role_arn, caller, by_arn)])
        managed = read_managed_policies(inventory, roles, settings)
    expected, in_scope = assess_account(roles, appliances, settings, caller, now=NOW, managed=managed)

    assert len(role_calls) == math.ceil(len(roles) / page_size)  # paged as IAM pages
    assert [call.get("Marker") for call in role_calls][1:] == [str(n * page_size) for n in range(1, len(role_calls))]
    assert result.findings == tuple(expected)
    assert result.in_scope_arns == frozenset(in_scope)
    assert result.roles_seen == len(roles) == len(sample.role_arns) + 1 + roles_before
    assert {finding.check for finding in result.findings} >= {"VRA-PURPOSE-2", "VRA-PURPOSE-3", "VRA-TRUST-1"}


def test_an_appliance_role_that_does_not_exist_holds_every_page_until_the_end(
    iam: Any, sts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    missing = sample.appliance_role_arn.replace("VeeamImpersonation", "Gone")
    settings = ScanSettings(appliance_role_arns=(missing,), tag_key=TAG_KEY)
    monkeypatch.setattr(inventory_module, "PAGE_SIZE", 2)
    inventory = Inventory(iam, sts, now=lambda: NOW)
    with iam_paging():
        result = scan_account(inventory, settings, now=NOW)
        roles = read_account(inventory)
        managed = read_managed_policies(inventory, roles, settings)
    caller = inventory.caller()
    appliances = prepare_appliances([inventory.appliance_state(missing, caller, {})])
    expected, _ = assess_account(roles, appliances, settings, caller, now=NOW, managed=managed)
    assert result.findings[1:] == tuple(expected[1:])
    # A missing appliance role's finding is observed when it is built (no snapshot says when it was read).
    assert result.findings[0] == replace(expected[0], observed_at=result.findings[0].observed_at)
    assert result.findings[0].check == "VRA-APPLIANCE-1"
    assert result.findings[0].details == (f"{missing} does not exist in account {sample.account}",)


def test_the_next_page_is_read_while_the_caller_works_on_this_one() -> None:
    asked_for_second = threading.Event()

    def pages() -> Iterator[str]:
        yield "first"
        asked_for_second.set()
        yield "second"

    reader = ReadAhead(pages())
    assert next(reader) == "first"
    # The caller has not asked for the second page yet; it is already being read.
    assert asked_for_second.wait(timeout=30)
    assert list(reader) == ["second"]


def test_an_error_reading_a_page_is_raised_where_that_page_was_due() -> None:
    def pages() -> Iterator[str]:
        yield "first"
        raise ConnectionError("page 2 failed")

    reader = ReadAhead(pages())
    assert next(reader) == "first"
    with pytest.raises(ConnectionError, match="page 2 failed"):
        next(reader)


@pytest.mark.parametrize("keep_snapshots", [True, False])
def test_a_scan_lets_each_role_go_once_assessed_unless_its_findings_keep_it(
    iam: Any, sts: Any, monkeypatch: pytest.MonkeyPatch, keep_snapshots: bool
) -> None:
    """keep_snapshots=False (findings only printed): the same findings without their role snapshots, and
    once a page is assessed no snapshot of an earlier page is alive but the appliance role's and those of
    the roles that wait for their managed policies; with them, the roles the findings name stay alive."""
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    settings = with_purposes(sample)
    made: list[weakref.ref[RoleSnapshot]] = []
    waiting: set[str] = set()
    leftovers: list[set[str]] = []
    make_snapshot = inventory_module.role_from_details
    add = scan_module.Assessment.add

    def tracked(item: Any, observed_at: datetime) -> RoleSnapshot:
        snapshot = make_snapshot(item, observed_at)
        made.append(weakref.ref(snapshot))
        return snapshot

    def checked(assessment: scan_module.Assessment, roles: list[RoleSnapshot]) -> list[RoleSnapshot]:
        first = next(index for index, ref in enumerate(made) if ref() is roles[0])
        returned = add(assessment, roles)
        waiting.update(role.arn for role in returned)
        gc.collect()
        leftovers.append({snapshot.arn for ref in made[:first] if (snapshot := ref()) is not None})
        return returned

    monkeypatch.setattr(inventory_module, "role_from_details", tracked)
    monkeypatch.setattr(scan_module.Assessment, "add", checked)
    monkeypatch.setattr(inventory_module, "PAGE_SIZE", 3)
    inventory = Inventory(iam, sts, now=lambda: NOW)
    with iam_paging():
        result = scan_account(inventory, settings, now=NOW, keep_snapshots=keep_snapshots)
        monkeypatch.undo()
        reference = scan_account(inventory, settings, now=NOW)

    assert len(leftovers) == math.ceil(len(made) / 3) > 3  # checked after every page
    assert waiting  # the sample account has roles that declare purposes
    if keep_snapshots:
        assert result.findings == reference.findings
        assert all(finding.role is not None for finding in result.findings)
        # so the findings keep earlier pages' roles alive, and the check below would see them
        assert any(leftover - waiting - {sample.appliance_role_arn} for leftover in leftovers)
    else:
        assert [replace(finding, role=None) for finding in reference.findings] == [
            replace(finding, role=None) for finding in result.findings
        ]
        assert [finding.summary() for finding in result.findings] == [f.summary() for f in reference.findings]
        assert {finding.role.arn for finding in result.findings if finding.role} == {sample.appliance_role_arn}
        for leftover in leftovers:
            assert leftover <= waiting | {sample.appliance_role_arn}


def test_the_first_page_of_roles_is_on_its_way_while_sts_answers_who_the_scan_runs_as(iam: Any, sts: Any) -> None:
    """STS GetCallerIdentity waits until GetAccountAuthorizationDetails has been sent: a scan that asked
    STS first (one round trip, on a connection of its own, before the first page) would time out here."""
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    page_sent = threading.Event()
    waited: list[bool] = []

    def sent(**_: Any) -> None:
        page_sent.set()

    def wait_for_the_page(**_: Any) -> None:
        waited.append(page_sent.wait(timeout=10))

    iam.meta.events.register("before-send.iam.GetAccountAuthorizationDetails", sent)
    sts.meta.events.register("before-send.sts.GetCallerIdentity", wait_for_the_page)
    settings = ScanSettings(appliance_role_arns=(sample.appliance_role_arn,), tag_key=TAG_KEY)

    result = scan_account(Inventory(iam, sts, now=lambda: NOW), settings, now=NOW)

    assert waited == [True]
    assert result.caller.account == sample.account
    assert result.roles_seen == len(iam.list_roles()["Roles"])


def test_an_sts_error_is_raised_once_the_first_page_read_meanwhile_has_ended(iam: Any, sts: Any) -> None:
    """The page's call is not left running behind the error (in a long-lived process its retries would
    still print notes, and in a test it could outlive the emulator)."""
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    page_read = threading.Event()

    def slow(**_: Any) -> None:
        time.sleep(0.3)

    def refuse(**_: Any) -> None:
        raise ConnectionError("STS is unreachable")

    iam.meta.events.register("before-send.iam.GetAccountAuthorizationDetails", slow)
    iam.meta.events.register("after-call.iam.GetAccountAuthorizationDetails", lambda **_: page_read.set())
    sts.meta.events.register("before-send.sts.GetCallerIdentity", refuse)
    settings = ScanSettings(appliance_role_arns=(sample.appliance_role_arn,), tag_key=TAG_KEY)

    with pytest.raises(ConnectionError, match="STS is unreachable"):
        scan_account(Inventory(iam, sts, now=lambda: NOW), settings, now=NOW)
    assert page_read.is_set()


def test_settle_waits_for_the_page_being_read_and_drops_its_error() -> None:
    release = threading.Event()
    ended: list[str] = []

    def pages() -> Iterator[str]:
        release.wait(timeout=30)
        ended.append("first")
        raise ConnectionError("page 1 failed")
        yield "never"

    reader = ReadAhead(pages())
    threading.Timer(0.2, release.set).start()
    reader.settle()  # returns once the read has failed, without raising its error
    assert ended == ["first"]
    assert list(reader) == []


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cycle_collector_is_off_during_a_scan_and_as_it_was_after_it(
    iam: Any, sts: Any, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off while the scan runs (reading pages and assessing), then on again only if it was on; the
    collector's state comes back when the scan raises, too."""
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    settings = ScanSettings(appliance_role_arns=(sample.appliance_role_arn,), tag_key=TAG_KEY)
    during: list[bool] = []
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        scan_account(
            Inventory(iam, sts, now=lambda: NOW),
            settings,
            now=NOW,
            progress=lambda pages, roles: during.append(gc.isenabled()),
        )
        after = gc.isenabled()

        def broken(*_: Any, **__: Any) -> None:
            raise RuntimeError("defect")

        monkeypatch.setattr(scan_module, "read_managed_policies", broken)
        with pytest.raises(RuntimeError, match="defect"):
            scan_account(Inventory(iam, sts, now=lambda: NOW), settings, now=NOW)
        after_error = gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()

    assert during == [False]
    assert after is enabled
    assert after_error is enabled


@pytest.mark.parametrize("keep_snapshots", [True, False])
def test_a_scan_makes_no_garbage_cycles_while_it_runs(
    iam: Any, sts: Any, monkeypatch: pytest.MonkeyPatch, keep_snapshots: bool
) -> None:
    """Why the collector can be off during a scan: reference counting frees what a scan drops while it
    runs, so nothing piles up. After every page (3 roles, purposes on: every kind of check, malformed and
    odd trust policies, drift), a collection finds no object of ours in a cycle that is garbage. (What the
    scan keeps until it ends, such as the purpose checks' memo, is freed when it ends, collector on again.)"""
    sample = create_sample_account(iam, str(sts.get_caller_identity()["Account"]))
    add = scan_module.Assessment.add
    found: list[list[str]] = []

    def collected(assessment: scan_module.Assessment, roles: list[RoleSnapshot]) -> list[RoleSnapshot]:
        returned = add(assessment, roles)
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            found.append(
                sorted({type(item).__qualname__ for item in gc.garbage if _ours(item)}),
            )
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        return returned

    monkeypatch.setattr(scan_module.Assessment, "add", collected)
    monkeypatch.setattr(inventory_module, "PAGE_SIZE", 3)
    inventory = Inventory(iam, sts, now=lambda: NOW)
    gc.collect()  # what earlier tests left
    with iam_paging():
        result = scan_account(inventory, with_purposes(sample), now=NOW, keep_snapshots=keep_snapshots)

    assert len(found) > 3  # collected after every page
    assert found == [[]] * len(found)
    assert {finding.status for finding in result.findings} >= {"PASSED", "FAILED", "WARNING"}
    assert any(finding.check.startswith("VRA-PURPOSE") for finding in result.findings)


def _ours(item: object) -> bool:
    module = getattr(type(item), "__module__", "") or ""
    if module.startswith("veeam_role_auditor"):
        return True
    if type(item) is types.MethodType:  # type(), not isinstance: gc.garbage may hold dead weak proxies
        item = item.__func__
    return type(item) is types.FunctionType and "veeam_role_auditor" in item.__code__.co_filename
