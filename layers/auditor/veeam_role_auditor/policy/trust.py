"""Decide whether the Veeam appliance can assume a role, from the role's trust policy alone.

IAM User Guide, "Policy evaluation logic": an explicit Deny in any applicable statement overrides
every Allow; without a matching Allow the request is implicitly denied. A statement applies when its
Principal (or NotPrincipal), Action (or NotAction) and every Condition match. Each of those is decided
in three-valued logic (see :mod:`.tri`): anything that depends on a value unknown offline makes the
answer "conditional", never a guess.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, NamedTuple

from .arn import AwsPrincipal, PrincipalKind, RoleArn, parse_role_arn
from .conditions import evaluate_clause, unknown_reason
from .context import Appliance, RequestContext
from .document import PolicyDocument, PrincipalSpec, Statement, parse_policy
from .tri import Tri
from .wildcard import glob_match

ASSUME_ROLE = "sts:AssumeRole"

Answer = Literal["yes", "no", "conditional"]
Via = Literal["role_arn", "account_root", "wildcard"]

RISKS = (
    "wildcard_principal",
    "account_root_trust",
    "foreign_account_trusted",
    "deleted_principal_unique_id",
    "not_principal",
    "malformed",
)


class RiskNote(NamedTuple):
    """One risk found in a trust policy, as data: which risk, which statement, why, and the account it names.

    ``reason`` is the text a finding's details show; ``TrustVerdict.reasons`` carries the same note as
    ``"risk <risk>: <reason>"`` (the JSON verdict's documented form). Code reads the notes, never that text.
    """

    risk: str
    statement: str
    reason: str
    account: str | None = None


_SPECIFICITY: dict[Via | None, int] = {None: 0, "wildcard": 1, "account_root": 2, "role_arn": 3}
_ANSWER = {Tri.TRUE: "yes", Tri.UNKNOWN: "conditional", Tri.FALSE: "no"}
# Which kinds of note decided each answer; those lines lead the reasons.
_DECISIVE = {"yes": {"allow"}, "conditional": {"unknown"}, "denied": {"deny"}, "no": {"none"}}


class TrustVerdict(NamedTuple):
    """The answer for one trust policy. ``to_dict`` gives exactly the four documented keys.

    A NamedTuple rather than a frozen dataclass: immutable as well, and several times cheaper to build,
    which matters at tens of thousands of evaluations per second.
    """

    appliance_can_assume: Answer
    via: Via | None
    risks: frozenset[str]
    reasons: tuple[str, ...]
    # Details the checks catalogue and remediation use; not part of the JSON verdict.
    errors: tuple[str, ...] = ()
    deleted_principal_ids: tuple[str, ...] = ()
    foreign_accounts: tuple[str, ...] = ()
    account_principals: tuple[str, ...] = ()
    # Positions (in Statement) of the Deny statements that do or may cover the appliance.
    blocking_denies: tuple[int, ...] = ()
    # The risks as data, in the order of their lines at the end of ``reasons``.
    risk_notes: tuple[RiskNote, ...] = ()

    def notes_for(self, risk: str) -> list[str]:
        """The reasons given for ``risk``, one per statement and principal that raised it."""
        return [note.reason for note in self.risk_notes if note.risk == risk]

    @property
    def explanation(self) -> tuple[str, ...]:
        """``reasons`` without the risk lines: what decided the answer (and why a document is malformed)."""
        count = len(self.risk_notes)
        return self.reasons[: len(self.reasons) - count] if count else self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "appliance_can_assume": self.appliance_can_assume,
            "via": self.via,
            "risks": sorted(self.risks),
            "reasons": list(self.reasons),
        }


def _risk_line(note: RiskNote) -> str:
    return f"risk {note.risk}: {note.reason}"


def make_appliance(
    role_arn: str,
    *,
    role_id: str | None = None,
    org_id: str | None = None,
    external_id: str | None = None,
    has_boundary: bool = False,
) -> Appliance:
    """Describe the appliance; raises :class:`~.arn.InvalidArnError` for a bad role ARN."""
    return Appliance(parse_role_arn(role_arn), role_id or None, org_id or None, external_id or None, has_boundary)


def action_applies(statement: Statement, action: str = ASSUME_ROLE) -> bool:
    """Action/NotAction match, case-insensitive with ``*`` and ``?`` (IAM User Guide, "Action")."""
    if statement.actions is not None:
        return any(glob_match(pattern, action, ignore_case=True) for pattern in statement.actions)
    assert statement.not_actions is not None
    return not any(glob_match(pattern, action, ignore_case=True) for pattern in statement.not_actions)


def evaluate_trust(
    document: object,
    role_arn: str | RoleArn,
    appliance: Appliance,
    *,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
) -> TrustVerdict:
    """Evaluate a trust policy (dict, JSON or percent-encoded JSON) for the appliance.

    ``role_arn`` is the audited role (the resource); ``role_tags`` its tags, for ``aws:ResourceTag``.
    Never raises for a bad document (that is a ``malformed`` verdict); raises
    :class:`~.arn.InvalidArnError` when ``role_arn`` is not an IAM role ARN.
    """
    role = role_arn if isinstance(role_arn, RoleArn) else parse_role_arn(role_arn)
    policy = parse_policy(document, "trust")
    context = RequestContext(appliance, resource=role, resource_tags=role_tags, now=now)
    return _TrustEvaluation(policy, role, appliance, context).verdict()


class _TrustEvaluation:
    def __init__(self, policy: PolicyDocument, role: RoleArn, appliance: Appliance, context: RequestContext):
        self.policy = policy
        self.role = role
        self.appliance = appliance
        self.context = context
        # (kind, text): the kind decides the order, so the line that decided the answer comes first.
        self.notes: list[tuple[str, str]] = []

    # -------------------------------------------------------------- decision

    def verdict(self) -> TrustVerdict:
        policy = self.policy
        risks, risk_notes, deleted, foreign, accounts = self._risks()
        if policy.malformed:
            reasons = [f"malformed: {error}" for error in policy.errors]
            reasons.append("IAM would reject this document as a trust policy, so it is not in force")
            not_principal = [
                RiskNote("not_principal", label, f"{label} uses NotPrincipal")
                for label in _not_principal_statements(policy)
            ]
            if not_principal:
                risks.add("not_principal")
            reasons.extend(_risk_line(note) for note in not_principal)
            return TrustVerdict(
                "no",
                None,
                frozenset(risks | {"malformed"}),
                tuple(reasons),
                policy.errors,
                deleted,
                foreign,
                accounts,
                risk_notes=tuple(not_principal),
            )
        # One pass: the strongest Allow (and its most specific principal form) and the strongest Deny.
        allow = deny = Tri.FALSE
        via: Via | None = None
        blocking: list[int] = []
        for statement in policy.statements:
            if not action_applies(statement):
                continue
            if statement.effect == "Allow":
                outcome, form = self._allow_applies(statement)
                if outcome > allow or (
                    outcome is allow and outcome is not Tri.FALSE and _SPECIFICITY[form] > _SPECIFICITY[via]
                ):
                    allow, via = outcome, form
            else:
                outcome = self._deny_applies(statement)
                if outcome is not Tri.FALSE:
                    blocking.append(statement.position)
                    deny = max(deny, outcome)

        notes = self.notes
        if deny is Tri.TRUE:
            answer: Answer = "no"
            via = None
            decisive = "denied"
        elif allow is Tri.FALSE:
            answer, via, decisive = "no", None, "no"
            notes.append(
                (
                    "none",
                    f"no Allow statement grants {ASSUME_ROLE} to the appliance role {self.appliance.role.arn}, "
                    f'its account {self.appliance.account} or "*"',
                )
            )
        else:
            answer = decisive = _ANSWER[min(allow, ~deny)]  # type: ignore[assignment]
        if len(notes) > 1:
            first = _DECISIVE[decisive]
            notes.sort(key=lambda note: note[0] not in first)  # stable: statement order otherwise
        reasons = [text for _, text in notes]
        reasons.extend(_risk_line(note) for note in risk_notes)
        return TrustVerdict(
            answer,
            via,
            frozenset(risks),
            tuple(reasons),
            (),
            deleted,
            foreign,
            accounts,
            tuple(blocking),
            tuple(risk_notes),
        )

    def _allow_applies(self, statement: Statement) -> tuple[Tri, Via | None]:
        assert statement.principal is not None  # NotPrincipal makes a trust policy malformed
        principal, via, how = self._principal_match(statement.principal)
        if principal is Tri.FALSE:
            return Tri.FALSE, None
        conditions, detail = self._conditions(statement)
        outcome = min(principal, conditions)
        label = statement.label
        if outcome is Tri.TRUE:
            self.notes.append(("allow", f"{label} allows {ASSUME_ROLE} to {how}"))
        elif conditions is Tri.FALSE:
            self.notes.append(("info", f"{label} names {how}, but {detail}"))
        elif principal is Tri.UNKNOWN:
            extra = f"; also only if {detail}" if conditions is Tri.UNKNOWN else ""
            self.notes.append(
                (
                    "unknown",
                    f"{label} allows {ASSUME_ROLE} to {how}, which depends on the appliance's session name,"
                    f" not known offline{extra}",
                )
            )
        else:
            self.notes.append(("unknown", f"{label} allows {ASSUME_ROLE} to {how} only if {detail}"))
        return outcome, via

    def _deny_applies(self, statement: Statement) -> Tri:
        assert statement.principal is not None  # NotPrincipal makes a trust policy malformed
        principal, _, how = self._principal_match(statement.principal)
        if principal is Tri.FALSE:
            return Tri.FALSE
        conditions, detail = self._conditions(statement)
        outcome = min(principal, conditions)
        label = statement.label
        if outcome is Tri.TRUE:
            self.notes.append(
                ("deny", f"{label} explicitly denies {ASSUME_ROLE} to {how}; an explicit Deny overrides any Allow")
            )
        elif conditions is Tri.FALSE:
            self.notes.append(("info", f"{label} would deny {ASSUME_ROLE} to {how}, but {detail}"))
        elif conditions is Tri.UNKNOWN:
            self.notes.append(("unknown", f"{label} denies {ASSUME_ROLE} to {how} if {detail}"))
        else:
            self.notes.append(("unknown", f"{label} may deny {ASSUME_ROLE} to {how}"))
        return outcome

    def _conditions(self, statement: Statement) -> tuple[Tri, str]:
        """The statement's Condition block and, unless TRUE, a phrase saying why."""
        if not statement.conditions:
            return Tri.TRUE, ""
        resolve = self.policy.resolves_variables
        result = Tri.TRUE
        undecided: list[str] = []
        false: list[str] = []
        for clause in statement.conditions:
            outcome = evaluate_clause(clause, self.context, resolve)
            if outcome is Tri.FALSE:
                false.append(clause.describe())
            elif outcome is Tri.UNKNOWN:
                undecided.append(unknown_reason(clause, self.context))
            result = min(result, outcome)
        if result is Tri.FALSE:
            return result, f"its condition {'; '.join(false)} is false for the appliance's session"
        if result is Tri.UNKNOWN:
            return result, "; ".join(undecided)
        return result, ""

    # -------------------------------------------------------------- principals

    def _principal_match(self, spec: PrincipalSpec) -> tuple[Tri, Via | None, str]:
        """Whether a Principal element names the appliance session, and in which form."""
        best: tuple[Tri, Via | None, str] = (Tri.FALSE, None, "")
        if spec.wildcard:
            best = (Tri.TRUE, "wildcard", 'any principal ("*")')
        for principal in spec.aws:
            candidate = self._aws_principal_match(principal)
            if candidate is None:
                continue
            if (candidate[0], _SPECIFICITY[candidate[1]]) > (best[0], _SPECIFICITY[best[1]]):
                best = candidate
        return best

    def _aws_principal_match(self, principal: AwsPrincipal) -> tuple[Tri, Via, str] | None:
        appliance = self.appliance
        role = appliance.role
        kind = principal.kind
        same_partition = principal.partition in (None, role.partition)
        if kind is PrincipalKind.ACCOUNT:
            if principal.account == role.account and same_partition:
                return Tri.TRUE, "account_root", f"the appliance's account {role.account}"
        elif kind is PrincipalKind.ROLE:
            if (
                same_partition
                and principal.account == role.account
                and principal.path == role.path
                and (principal.name or "").casefold() == role.name.casefold()
            ):
                return Tri.TRUE, "role_arn", f"the appliance role {principal.raw}"
        elif kind is PrincipalKind.UNIQUE_ID:
            if appliance.role_id and principal.raw == appliance.role_id:
                return Tri.TRUE, "role_arn", f"the appliance role's unique id {principal.raw}"
        elif kind is PrincipalKind.ROLE_SESSION and (
            same_partition
            and principal.account == role.account
            and (principal.name or "").casefold() == role.name.casefold()
        ):
            return Tri.UNKNOWN, "role_arn", f"the appliance role session {principal.raw}"
        return None

    # -------------------------------------------------------------- risks

    def _risks(self) -> tuple[set[str], list[RiskNote], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        risks: set[str] = set()
        reasons: list[RiskNote] = []
        deleted: list[str] = []
        foreign: list[str] = []
        accounts: list[str] = []
        own_accounts = {self.appliance.account, self.role.account}
        live_id = self.appliance.role_id
        for statement in self.policy.statements:
            label = statement.label
            spec = statement.principal
            if spec is None:  # NotPrincipal: the document is malformed and the risk named there
                continue
            for principal in spec.aws:
                if principal.kind is PrincipalKind.UNIQUE_ID and principal.raw != live_id:
                    risks.add("deleted_principal_unique_id")
                    deleted.append(principal.raw)
                    reasons.append(
                        RiskNote(
                            "deleted_principal_unique_id",
                            label,
                            f"{label} names {principal.raw}, the unique id of a deleted principal; re-creating"
                            " a role of that name does not restore trust",
                        )
                    )
            if statement.effect != "Allow":
                continue
            if spec.wildcard:
                risks.add("wildcard_principal")
                narrowing = [
                    clause.describe()
                    for clause in statement.conditions
                    if clause.key in _PRINCIPAL_KEYS and not clause.negated and not clause.if_exists
                ]
                text = f'{label} allows any principal ("*")'
                if narrowing:
                    text += f", limited only by its Condition ({'; '.join(narrowing)})"
                reasons.append(RiskNote("wildcard_principal", label, text))
            for principal in spec.aws:
                if principal.kind is PrincipalKind.ACCOUNT:
                    risks.add("account_root_trust")
                    accounts.append(principal.account or "")
                    reasons.append(
                        RiskNote(
                            "account_root_trust",
                            label,
                            f"{label} trusts the whole account {principal.account}",
                            principal.account,
                        )
                    )
                if principal.account and principal.account not in own_accounts:
                    risks.add("foreign_account_trusted")
                    foreign.append(principal.account)
                    reasons.append(
                        RiskNote(
                            "foreign_account_trusted",
                            label,
                            f"{label} trusts {principal.raw} in account {principal.account}, which is neither"
                            " the appliance's nor the role's",
                            principal.account,
                        )
                    )
        return (
            risks,
            reasons,
            tuple(dict.fromkeys(deleted)),
            tuple(dict.fromkeys(foreign)),
            tuple(dict.fromkeys(accounts)),
        )


# Condition keys that name who may assume: a "*" narrowed by them is still reported, with them shown.
_PRINCIPAL_KEYS = frozenset({"aws:principalarn", "aws:principalaccount", "aws:principalorgid", "aws:userid"})


def _not_principal_statements(policy: PolicyDocument) -> list[str]:
    """Labels of the statements that use NotPrincipal (read from the raw document: they do not parse)."""
    body = policy.raw.get("Statement") if policy.raw is not None else None
    items = body if isinstance(body, list) else [body]
    labels = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and "NotPrincipal" in item:
            sid = item.get("Sid")
            named = isinstance(sid, str) and sid
            labels.append(f'Statement[{index}] (Sid "{sid}")' if named else f"Statement[{index}]")
    return labels


def verdict_json(verdict: TrustVerdict) -> str:
    return json.dumps(verdict.to_dict(), indent=2)
