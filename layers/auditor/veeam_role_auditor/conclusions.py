"""What a role's trust policy concludes for the configured appliances, shared by the checks (pure).

One :class:`Conclusions` per role (or per group of roles a :class:`TrustMemo` finds alike) holds the
trust verdict for every appliance, the best of them, and the corrections planned from them, each
planned when a check first asks for it. The checks in :mod:`.checks` read it; none re-evaluates.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .model import ApplianceState, RoleSnapshot
from .policy import (
    Appliance,
    InvalidArnError,
    PolicyDocument,
    RoleArn,
    TrustVerdict,
    evaluate_trust,
    make_appliance,
    parse_policy,
    parse_role_arn,
)
from .remediation import TrustFix, plan_trust_fix, with_role_instead_of_account, without_deleted_principals

if TYPE_CHECKING:
    from .settings import ScanSettings

ANSWER_RANK = {"no": 0, "conditional": 1, "yes": 2}
"""How sure an answer is: "yes" > "conditional" > "no"."""
_VIA_RANK = {None: 0, "wildcard": 1, "account_root": 2, "role_arn": 3}


@dataclass(frozen=True)
class Evaluated:
    """One appliance's trust verdict for a role."""

    state: ApplianceState
    appliance: Appliance
    verdict: TrustVerdict


def engine_appliance(state: ApplianceState, settings: ScanSettings) -> Appliance:
    """The engine's view of one appliance: its role, live unique id and configured facts."""
    return make_appliance(
        state.role_arn,
        role_id=state.role_id,
        org_id=settings.appliance_org_id,
        external_id=settings.external_id,
        has_boundary=state.snapshot is not None and state.snapshot.boundary_arn is not None,
    )


def evaluate_for(
    role: RoleSnapshot,
    state: ApplianceState,
    settings: ScanSettings,
    now: datetime | None,
    trust: PolicyDocument | None = None,
) -> Evaluated:
    """The trust verdict of ``role`` (its policy, or ``trust`` already parsed) for one appliance."""
    appliance = engine_appliance(state, settings)
    document = trust if trust is not None else role.trust_policy
    verdict = evaluate_trust(document, role.arn, appliance, role_tags=dict(role.tags), now=now)
    return Evaluated(state, appliance, verdict)


class Conclusions:
    """What one role's trust policy concludes for the configured appliances: the verdicts, and the
    corrections planned from them, each planned when a finding first asks for it (in the order the findings
    are built, so a defect surfaces where it did before). Shared by the roles a :class:`TrustMemo` finds
    alike, so it reads from ``role`` only what the memo's key holds."""

    __slots__ = ("_account_wide", "_fix", "_without_deleted", "best", "evaluated", "trust")

    def __init__(
        self, role: RoleSnapshot, appliances: Sequence[ApplianceState], settings: ScanSettings, now: datetime | None
    ) -> None:
        trust = parse_policy(role.trust_policy, "trust")  # parsed once, evaluated for every appliance
        self.trust = trust  # the purpose checks evaluate it for AWS services too
        self.evaluated = [evaluate_for(role, state, settings, now, trust) for state in appliances]
        self.best = max(
            self.evaluated, key=lambda e: (ANSWER_RANK[e.verdict.appliance_can_assume], _VIA_RANK[e.verdict.via])
        )
        self._fix: TrustFix | None = None
        self._without_deleted: dict[str, Any] | None = None
        self._account_wide: tuple[Evaluated, dict[str, Any]] | bool | None = False

    def fix(self, role: RoleSnapshot, now: datetime | None) -> TrustFix:
        if self._fix is None:
            best = self.best
            self._fix = plan_trust_fix(
                role.trust_policy, role.arn, best.appliance, role_tags=dict(role.tags), now=now, current=best.verdict
            )
        return self._fix

    def without_deleted(self, role: RoleSnapshot, deleted: tuple[str, ...]) -> dict[str, Any]:
        if self._without_deleted is None:
            self._without_deleted = without_deleted_principals(role.trust_policy, deleted)
        return self._without_deleted

    def account_wide(self, role: RoleSnapshot) -> tuple[Evaluated, dict[str, Any]] | None:
        """The first appliance whose whole account the policy names, and the policy naming its role instead."""
        if self._account_wide is False:
            found = None  # stored only once planned: a planning that raises is tried again by the next role
            for item in self.evaluated:
                account = item.appliance.account
                if account in item.verdict.account_principals:
                    corrected = with_role_instead_of_account(
                        role.trust_policy,
                        account,
                        item.appliance.role.arn,
                        known_valid="malformed" not in item.verdict.risks,
                    )
                    found = (item, corrected)
                    break
            self._account_wide = found
        return self._account_wide  # type: ignore[return-value]


class TrustMemo:
    """The trust conclusions of one scan, per distinct trust policy and evaluation context.

    A role's trust verdicts and planned corrections depend on its trust policy, its ARN's partition and
    account (aws:ResourceAccount, aws:ResourceOrgID, own-account risks), its tags when the policy reads
    aws:ResourceTag or iam:ResourceTag, the appliances and the time (to the second: the request context
    keeps no finer time). The key holds all of those and the ARN's path besides; the role's name only
    appears in the texts each role's findings are built with. Roles created from one template share one
    evaluation. tests/unit/test_trust_memo.py holds memoised and unmemoised scans equal.

    Given the ``roles`` to come, only conclusions that another role will share are kept, and only until
    its last role has them: keeping every one would cost more (in garbage collection) than sharing saves
    in an account whose policies are all distinct (bench/scan_bench.py --documents).
    """

    def __init__(
        self,
        appliances: Sequence[ApplianceState],
        settings: ScanSettings,
        roles: Iterable[RoleSnapshot] | None = None,
    ) -> None:
        self.appliances = appliances
        self.settings = settings
        self._entries: dict[tuple[object, ...], dict[tuple[object, ...], Conclusions]] = {}
        self._uses: Counter[tuple[object, ...]] | None = None
        self._left: Counter[tuple[object, ...]] = Counter()
        self._planned: dict[int, tuple[RoleSnapshot, tuple[object, ...] | None]] = {}
        self.hits = 0
        if roles is not None:
            self._uses = Counter()
            self.expect(roles)

    def expect(self, roles: Iterable[RoleSnapshot]) -> None:
        """Count ``roles`` among the roles to come (a memo made with ``roles``; a scan adds a page at a time).

        A policy whose roles so far have all been served is evaluated again for a later page's roles: the
        same conclusions, at worst once more per page.
        """
        if self._uses is None:
            raise ValueError("a TrustMemo made without roles keeps every conclusion: it expects none")
        for role in roles:
            try:
                arn = parse_role_arn(role.arn)
            except InvalidArnError:
                continue  # assessing it raises the same error before the memo is asked
            key = policy_key(role, arn)
            self._planned[id(role)] = (role, key)
            if key is not None:
                self._uses[key] += 1
                self._left[key] += 1

    def conclusions(self, role: RoleSnapshot, now: datetime | None) -> tuple[Conclusions, datetime | None]:
        """The conclusions for ``role`` and the time they were reached at (``now``, or this second)."""
        # As evaluate_for would, in its order: each appliance's ARN, then (after the first) the role's ARN.
        engine_appliances = []
        arn = None
        for state in self.appliances:
            engine_appliances.append(engine_appliance(state, self.settings))
            if arn is None:
                arn = parse_role_arn(role.arn)
        moment = now if now is not None else datetime.now(UTC).replace(microsecond=0)
        # Let go of what was planned for the role (the role itself, its key): a scan's pages of roles are let
        # go once assessed, and the memo must not keep them alive until the scan ends.
        planned = self._planned.pop(id(role), None)
        if planned is not None and planned[0] is role:
            key = planned[1]
        else:
            key = policy_key(role, arn) if arn is not None else None
        last = False
        uses = 0
        if key is not None and self._uses is not None:
            self._left[key] -= 1
            last = self._left[key] <= 0
            uses = self._uses[key]
            if last:  # as if never expected: a later page's roles with this key are counted afresh
                del self._left[key], self._uses[key]
        if key is None or (self._uses is not None and uses < 2):
            return Conclusions(role, self.appliances, self.settings, moment), moment
        entries = self._entries.setdefault(key, {})
        context = (tuple(engine_appliances), moment)
        entry = entries.get(context)
        if entry is None:
            entry = entries[context] = Conclusions(role, self.appliances, self.settings, moment)
        else:
            self.hits += 1
        if last:
            del self._entries[key]  # its last role so far: nobody asks again
        return entry, moment


def policy_key(role: RoleSnapshot, arn: RoleArn) -> tuple[object, ...] | None:
    """What of the role its trust conclusions read, besides appliances and time (None: not shared)."""
    try:
        # pickle tells every type apart (1, 1.0, True; list, tuple; str and int keys), unlike json.
        document = pickle.dumps(role.trust_policy, protocol=4)
    except Exception:  # noqa: BLE001 -- a document pickle cannot write is simply not shared
        return None
    # Condition keys and policy variables are compared lower-cased (str.lower) by the engine; no
    # non-ASCII character lowers to a letter of "resourcetag", and pickle writes strings as UTF-8.
    tags = tuple(role.tags.items()) if b"resourcetag" in document.lower() else None
    return (document, arn.partition, arn.account, arn.path, tags)
