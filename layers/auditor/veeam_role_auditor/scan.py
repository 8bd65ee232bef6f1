"""Orchestration: read the account, assess every role, return findings (publishing comes after)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from .assess import (
    TrustMemo,
    assess_appliance,
    assess_untagged_role,
    begin_role,
    prepare_appliances,
)
from .checks import NEEDS_POLICIES, PurposeScan, RoleCheck
from .deadline import NO_DEADLINE, Deadline, OutOfTimeError
from .inventory import Caller, Inventory
from .model import ApplianceState, Finding, ManagedPolicyDocuments, RoleSnapshot
from .policy import InvalidArnError, parse_role_arn
from .settings import ScanSettings
from .threads import carried

if TYPE_CHECKING:
    from .publish.publisher import Scope

T = TypeVar("T")

ProgressCallback = Callable[[int, int], None]
"""Called after each page of roles with (pages read, roles read)."""


@dataclass(frozen=True)
class ScanResult:
    """What one full scan found, and what it read."""

    caller: Caller
    findings: tuple[Finding, ...]
    roles_seen: int
    roles_in_scope: int
    appliances: tuple[ApplianceState, ...]
    started_at: datetime
    finished_at: datetime
    in_scope_arns: frozenset[str] = frozenset()

    def failing(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.failing]


def read_account(
    inventory: Inventory, progress: ProgressCallback | None = None, deadline: Deadline = NO_DEADLINE
) -> list[RoleSnapshot]:
    """Every role of the account. Raises on any error: a partial list must never look complete."""
    return [role for page in _pages(ReadAhead(inventory.role_pages()), progress, deadline) for role in page]


def _pages(
    reading: Iterator[list[RoleSnapshot]], progress: ProgressCallback | None, deadline: Deadline
) -> Iterator[list[RoleSnapshot]]:
    """The account's roles a page at a time, from ``reading`` (a :class:`ReadAhead` of ``Inventory.role_pages``).

    Raises :class:`OutOfTimeError` when the deadline passes before every role was read, and whatever
    reading a page raised: a partial list must never look complete.
    """
    read = 0
    for pages, page in enumerate(reading, start=1):
        read += len(page)
        if progress:
            progress(pages, read)
        if deadline.expired():
            raise OutOfTimeError(f"out of time after {pages} pages ({read} roles) of the account's roles")
        yield page


_END = object()


class ReadAhead(Generic[T]):
    """``pages``, the next one already being read (in a thread) while the caller works on this one.

    The first page is asked for at once, when this is made, not when the caller first asks for it: the
    caller can do something else meanwhile (a scan asks STS who it runs as).

    A scan's time is mostly the wait for GetAccountAuthorizationDetails pages: assessing a page while the
    next one is on its way hides the assessment in that wait. The same calls, in the same order, one at a
    time; an error reading a page is raised here, where that page was due. The thread is a daemon: a
    caller that stops early (out of time) leaves at most one call finishing behind it and never waits for
    it, unless it waits with :meth:`settle`.
    """

    def __init__(self, pages: Iterator[T]) -> None:
        self._pages = pages
        self._future: Future[object] | None = _next_in_thread(pages)

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._future is None:
            raise StopIteration
        page = self._future.result()
        if page is _END:
            self._future = None
            raise StopIteration
        self._future = _next_in_thread(self._pages)
        return page  # type: ignore[return-value]

    def settle(self) -> None:
        """Wait until the page being read has arrived or failed, and drop it (its error is not raised)."""
        if self._future is not None:
            self._future.exception()
            self._future = None


def _next_in_thread(pages: Iterator[T]) -> Future[object]:
    future: Future[object] = Future()

    def read() -> None:
        try:
            future.set_result(next(pages, _END))
        except BaseException as error:  # noqa: BLE001 -- raised again by the reader, from future.result()
            future.set_exception(error)

    threading.Thread(target=carried(read), name="vra-read-ahead", daemon=True).start()
    return future


def scan_account(
    inventory: Inventory,
    settings: ScanSettings,
    *,
    progress: ProgressCallback | None = None,
    previous_appliance_ids: Mapping[str, str] | None = None,
    now: datetime | None = None,
    deadline: Deadline = NO_DEADLINE,
    keep_snapshots: bool = True,
) -> ScanResult:
    """A full scan: every in-scope role gets every check, plus one finding per appliance role.

    Roles are assessed a page at a time while the next page is read, once the appliance roles the scanned
    account holds have been read (until then their pages wait); roles that declare Veeam purposes wait for
    the managed policies, read after the roles. The findings are those of :func:`assess_account` over
    every role, in the same order. Raises :class:`OutOfTimeError` when the deadline passes before every
    role was read.

    ``keep_snapshots=False`` is for findings that are only printed, never published: a role finding then
    leaves out ``role`` (its snapshot, which publishing reads), and the scan lets each role go once assessed
    instead of keeping every trust policy and tag set until it ends.
    """
    with _no_cycle_collection():
        return _scan_account(inventory, settings, progress, previous_appliance_ids, now, deadline, keep_snapshots)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No garbage collection (of reference cycles) while the scan runs; what it keeps joins the oldest generation.

    A scan makes hundreds of thousands of objects that live until it ends (snapshots, verdicts, findings) and
    no reference cycles: reference counting frees all that it drops (a full scan of the bench account leaves
    nothing for ``gc.collect()``, see the test). The collector would still walk those objects again and again
    as they pile up, and the modules and botocore's service models alive before the scan on each full pass,
    to find nothing: about 40 ms of a 5,000-role scan. It is switched off for the scan and back on after it,
    if it was on. ``gc.freeze`` then ``gc.unfreeze`` move the objects the scan made into the oldest
    generation at once, so that the first collections after the scan do not walk them either.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _scan_account(
    inventory: Inventory,
    settings: ScanSettings,
    progress: ProgressCallback | None,
    previous_appliance_ids: Mapping[str, str] | None,
    now: datetime | None,
    deadline: Deadline,
    keep_snapshots: bool,
) -> ScanResult:
    started_at = now or datetime.now(UTC)
    # The first page of roles is on its way while STS answers who the scan runs as (its account and
    # partition, needed once that page is in): one round trip (and connection) less to wait for.
    reading = ReadAhead(inventory.role_pages())
    try:
        caller = inventory.caller()
    except Exception:
        # No call left running behind the error (its retries would still print notes). An interrupt (^C)
        # does not wait: the process ends, and the reading thread (a daemon) with it.
        reading.settle()
        raise
    pages = _pages(reading, progress, deadline)
    # Every role read until the assessment starts (the appliance roles are among them), then only the roles
    # in scope that declare Veeam purposes (their managed policies are read after the roles): the others are
    # let go once assessed (those in scope stay alive in their findings while keep_snapshots).
    kept: list[RoleSnapshot] = []
    seen = 0
    assessment: Assessment | None = None

    def start() -> Assessment:
        by_arn = {role.arn: role for role in kept}
        appliances = prepare_appliances(
            [inventory.appliance_state(arn, caller, by_arn) for arn in settings.appliance_role_arns]
        )
        started = Assessment(
            appliances,
            settings,
            caller,
            previous_appliance_ids=previous_appliance_ids,
            now=now,
            keep_snapshots=keep_snapshots,
        )
        kept[:] = started.add(kept)
        return started

    for page in pages:
        seen += len(page)
        if assessment is not None:
            kept.extend(assessment.add(page))
        else:
            kept.extend(page)
            if appliances_read(settings, caller, kept):
                assessment = start()
    if assessment is None:
        assessment = start()
    managed = read_managed_policies(inventory, kept, settings, assessment.purposes)
    findings, in_scope = assessment.finish(managed)
    return ScanResult(
        caller=caller,
        findings=tuple(findings),
        roles_seen=seen,
        roles_in_scope=len(in_scope),
        appliances=assessment.appliances,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        in_scope_arns=frozenset(in_scope),
    )


def appliances_read(settings: ScanSettings, caller: Caller, roles: Sequence[RoleSnapshot]) -> bool:
    """Whether ``roles`` hold every appliance role of the scanned account (as Inventory.appliance_state finds them)."""
    for role_arn in settings.appliance_role_arns:
        try:
            arn = parse_role_arn(role_arn)
        except InvalidArnError:
            return False  # appliance_state decides what it is, after every role
        if arn.account != caller.account or arn.partition != caller.partition:
            continue  # read from elsewhere, never from these roles
        name = arn.name.lower()
        if not any(role.arn == role_arn or (role.path == arn.path and role.name.lower() == name) for role in roles):
            return False
    return True


def read_managed_policies(
    inventory: Inventory, roles: Sequence[RoleSnapshot], settings: ScanSettings, scan: PurposeScan | None = None
) -> ManagedPolicyDocuments | None:
    """The managed policies the in-scope roles that declare Veeam purposes attach (None: no such role).

    Read once per distinct policy, never per role (see ``Inventory.managed_policy_documents``).
    """
    scan = scan or PurposeScan.from_settings(settings)
    declaring = [role for role in roles if settings.in_scope(role.tags, role.path) and scan.declared(role) is not None]
    if not declaring:
        return None
    return inventory.managed_policy_documents(declaring)


class Assessment:
    """:func:`assess_account` a page of roles at a time: add the roles in order, then ``finish``.

    Pure, as assess_account: the findings are the same whatever the pages. The checks of a role that
    declares Veeam purposes that read its managed policies (read after the roles) are decided in ``finish``.
    """

    def __init__(
        self,
        appliances: Sequence[ApplianceState],
        settings: ScanSettings,
        caller: Caller,
        *,
        previous_appliance_ids: Mapping[str, str] | None = None,
        now: datetime | None = None,
        share_verdicts: bool = True,
        keep_snapshots: bool = True,
    ) -> None:
        self.appliances = tuple(appliances)
        self.keep_snapshots = keep_snapshots
        self.settings = settings
        self.caller = caller
        self.previous_appliance_ids = previous_appliance_ids
        self.now = now
        self.purposes = PurposeScan.from_settings(settings)
        self.memo = TrustMemo(self.appliances, settings, roles=[]) if share_verdicts else None
        self.in_scope: set[str] = set()
        self._parts: list[list[Finding] | Callable[[], list[Finding]]] = [
            [assess_appliance(state, settings, partition=caller.partition, account=caller.account)]
            for state in self.appliances
        ]

    def add(self, roles: Sequence[RoleSnapshot]) -> list[RoleSnapshot]:
        """Assess ``roles`` (the next ones of the account, in its order); returns those whose checks wait.

        The checks of a role in scope that declares purposes that read its managed policies wait for
        ``finish``: the roles returned, whose managed policies are to be read.
        """
        settings = self.settings
        scoped = [role for role in roles if settings.in_scope(role.tags, role.path)]
        if self.memo is not None:
            self.memo.expect(scoped)
        scoped_ids = {id(role) for role in scoped}
        waiting: list[RoleSnapshot] = []
        for role in roles:
            if id(role) in scoped_ids:
                self.in_scope.add(role.arn)
                # A role that declares purposes waits for the managed policies, read after the roles: the
                # checks that read them are decided in finish, the others now.
                later = NEEDS_POLICIES if self._declares_purposes(role) else ()
                started = self._begin(role, later)
                self._parts.append(started if later else started())
                if later:
                    waiting.append(role)
            else:
                drift = assess_untagged_role(
                    role, self.appliances, settings, now=self.now, keep_snapshot=self.keep_snapshots
                )
                if drift is not None:
                    self._parts.append([drift])
        return waiting

    def finish(self, managed: ManagedPolicyDocuments | None = None) -> tuple[list[Finding], set[str]]:
        """Every finding, in the roles' order (the waiting roles assessed with ``managed``), and the ARNs in scope."""
        self.purposes.managed = managed
        findings: list[Finding] = []
        for part in self._parts:
            findings.extend(part if isinstance(part, list) else part())
        self._parts = []
        return selected(findings, self.settings), self.in_scope

    def _declares_purposes(self, role: RoleSnapshot) -> bool:
        try:
            return self.purposes.declared(role) is not None
        except Exception:  # noqa: BLE001 -- tags that cannot be read: assess_role reports it, in finish
            return True

    def _begin(self, role: RoleSnapshot, later: tuple[RoleCheck, ...]) -> Callable[[], list[Finding]]:
        return begin_role(
            role,
            self.appliances,
            self.settings,
            previous_appliance_ids=self.previous_appliance_ids,
            now=self.now,
            account=self.caller.account,
            partition=self.caller.partition,
            memo=self.memo,
            purposes=self.purposes,
            later=later,
            keep_snapshot=self.keep_snapshots,
        )


def assess_account(
    roles: Sequence[RoleSnapshot],
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    caller: Caller,
    *,
    previous_appliance_ids: Mapping[str, str] | None = None,
    now: datetime | None = None,
    share_verdicts: bool = True,
    managed: ManagedPolicyDocuments | None = None,
) -> tuple[list[Finding], set[str]]:
    """Pure: every finding for these snapshots, and the ARNs of the roles in scope.

    Each appliance and role is assessed on its own and never raises (see ``assess_role``), so one odd
    role costs only its own findings. Roles whose trust policies conclude alike share one evaluation
    (``share_verdicts``, see :class:`~.assess.TrustMemo`; the findings are the same without it).
    ``managed`` holds the managed policy documents of the roles that declare Veeam purposes.
    """
    assessment = Assessment(
        appliances,
        settings,
        caller,
        previous_appliance_ids=previous_appliance_ids,
        now=now,
        share_verdicts=share_verdicts,
    )
    assessment.add(roles)
    return assessment.finish(managed)


def selected(findings: list[Finding], settings: ScanSettings) -> list[Finding]:
    """The findings of the checks the settings report (--checks, --exclude-checks)."""
    if not settings.checks and not settings.excluded_checks:
        return findings
    return [finding for finding in findings if settings.reports(finding.check)]


def full_scope(result: ScanResult) -> Scope:
    """A full scan speaks for every finding of the account: the ones it did not report get archived."""
    from .publish.publisher import Scope  # only publishing asks: a scan that prints loads no publishing

    return Scope(
        account=result.caller.account, partition=result.caller.partition, observed_at=result.started_at, full=True
    )
