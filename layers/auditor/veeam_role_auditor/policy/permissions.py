"""Decide whether a role's own identity policies allow the actions Veeam needs for the role's purposes.

IAM User Guide, "Policy evaluation logic" (identity-based policies with permissions boundaries): a
request is allowed when an identity-based policy allows it, the permissions boundary (if the role has
one) also allows it, and no statement of either explicitly denies it. A statement applies when its
Action (or NotAction), Resource (or NotResource) and every Condition match; each is decided in
three-valued logic (:mod:`.tri`), so anything that depends on a value unknown offline makes the answer
"conditional", never a guess.

What "allowed" means for a resource Veeam cannot name in advance. Veeam documents most actions with
``Resource: "*"``: it acts on whatever instances, snapshots, buckets or keys the administrator later
picks. A required resource is therefore a pattern standing for the resources Veeam may touch, and a
statement's Resource is compared with that pattern (:func:`.wildcard.glob_relation`):
- an Allow counts as TRUE only when its Resource matches *every* resource the pattern stands for
  (``"*"``, or a pattern covering the documented one); an Allow limited to some of them (specific
  ARNs, one bucket) is UNKNOWN: the action works on those resources only, so the answer is
  "conditional" (a WARNING), not "yes";
- a Deny counts as TRUE only when it matches every such resource, UNKNOWN when it matches some (Veeam
  fails on those), FALSE when it matches none.
A Resource element with several patterns covers the required pattern only if one of them does (their
union might, but deciding that is not worth the cost): "conditional" there errs on the side of a warning.

What cannot be seen. Service control policies, resource control policies, session policies and
resource-based policies (a KMS key policy, an S3 bucket policy) are not part of what IAM returns for a
role; each verdict carries :data:`UNSEEN_POLICIES` saying so, and no answer guesses at them.

The request context is the role's own session (Veeam assumes the role and calls AWS with its
credentials): :class:`PrincipalContext`.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .arn import RoleArn, parse_role_arn
from .conditions import NO_VALUE, _template, evaluate_clause, pattern_match, resolve_policy_string, unknown_reason
from .context import ABSENT, ContextValue, RequestContext, known, maybe, with_prefix
from .document import PolicyDocument, Statement, parse_policy
from .tri import Tri, tri_all, tri_any
from .trust import Answer, action_applies
from .wildcard import glob_relation, has_wildcard

if TYPE_CHECKING:
    from .identity import NamedPolicy

_ANSWER: dict[Tri, Answer] = {Tri.TRUE: "yes", Tri.UNKNOWN: "conditional", Tri.FALSE: "no"}

UNSEEN_POLICIES = (
    "service control policies, resource control policies, session policies and resource-based policies"
    " (such as KMS key policies and S3 bucket policies) cannot be read from the role: an action allowed"
    " here may still be denied by them, and this verdict does not guess at them"
)


class RequiredAction(NamedTuple):
    """One action Veeam needs, on the resources it documents (``"*"``: resources it cannot name in advance)."""

    action: str
    resources: tuple[str, ...] = ("*",)


class ActionDecision(NamedTuple):
    """Whether one required action is allowed, and the statements that decided it."""

    action: str
    resources: tuple[str, ...]
    answer: Answer
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resources": list(self.resources),
            "answer": self.answer,
            "reasons": list(self.reasons),
        }


class PermissionsVerdict(NamedTuple):
    """The answers for a list of required actions, in the order asked (each action and resources once)."""

    decisions: tuple[ActionDecision, ...]
    malformed: tuple[str, ...] = ()
    notes: tuple[str, ...] = (UNSEEN_POLICIES,)

    @property
    def missing_actions(self) -> tuple[str, ...]:
        """The actions not allowed on (all of) their resources, each once."""
        return tuple(dict.fromkeys(decision.action for decision in self.decisions if decision.answer == "no"))

    @property
    def conditional_actions(self) -> tuple[str, ...]:
        """The actions allowed only under conditions not known offline or on some resources, each once."""
        missing = set(self.missing_actions)
        return tuple(
            dict.fromkeys(
                decision.action
                for decision in self.decisions
                if decision.answer == "conditional" and decision.action not in missing
            )
        )

    @property
    def answer(self) -> Answer:
        if self.missing_actions:
            return "no"
        return "conditional" if self.conditional_actions else "yes"

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "missing_actions": list(self.missing_actions),
            "conditional_actions": list(self.conditional_actions),
            "decisions": [decision.to_dict() for decision in self.decisions],
            "malformed_policies": list(self.malformed),
            "notes": list(self.notes),
        }


def required_actions(items: Iterable[str | RequiredAction]) -> tuple[RequiredAction, ...]:
    """Required actions from names or RequiredActions; raises ValueError for a wildcard in an action name.

    An action Veeam needs is one API action: a wildcard there would make "allowed" ambiguous.
    """
    result = []
    for item in items:
        required = item if isinstance(item, RequiredAction) else RequiredAction(item)
        if has_wildcard(required.action) or ":" not in required.action:
            raise ValueError(f"a required action must be one service:Action name, not {required.action!r}")
        if not required.resources:
            raise ValueError(f'{required.action}: at least one resource is required ("*" for any)')
        result.append(required)
    return tuple(result)


# ---------------------------------------------------------------- request context


class PrincipalContext(RequestContext):
    """The request context of a call Veeam makes with the role's own credentials (a role session).

    Known: the principal keys of a role session (IAM User Guide, "AWS global condition context keys":
    aws:PrincipalArn is the role's ARN for an assumed-role session, aws:PrincipalAccount its account,
    aws:PrincipalType "AssumedRole", aws:PrincipalTag/<key> the role's tags; "IAM policy elements:
    Variables and tags", principal key values: aws:userid is "role-id:caller-specified-role-name" and
    aws:username is not present for a role), and the time. Everything else (the resource, its tags and
    account, the region, the network, session tags, the organization) depends on the request Veeam
    makes: unknown, maybe absent. Session tags with the key of a role tag would override it; Veeam
    documents none, so the role's tags are taken as the principal tags.
    """

    __slots__ = ("_role", "_role_id", "_role_tags")

    def __init__(
        self,
        role: RoleArn,
        *,
        role_tags: dict[str, str] | None,
        role_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        self._role = role
        self._role_tags = role_tags
        self._role_id = role_id
        self._now = now

    def lookup(self, key: str) -> ContextValue:
        if key == "aws:principalarn":
            return known(self._role.arn)
        if key == "aws:principalaccount":
            return known(self._role.account)
        if key == "aws:principaltype":
            return known("AssumedRole")
        if key == "aws:principalisawsservice":
            return known("false")
        if key == "aws:username":
            return ABSENT
        if key == "aws:userid":
            if self._role_id:
                return with_prefix(self._role_id + ":", "the session name Veeam gives its session of the role")
            return with_prefix("AROA", "the role's unique id and Veeam's session name")
        if key in ("aws:currenttime", "aws:epochtime"):
            moment = (self._now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            if key == "aws:currenttime":
                return known(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
            return known(str(int(moment.timestamp())))
        if key.startswith("aws:principaltag/"):
            if self._role_tags is None:
                return maybe("the role's tags")
            wanted = key.split("/", 1)[1]
            for tag_key, tag_value in self._role_tags.items():
                if tag_key.lower() == wanted:
                    return known(tag_value)
            return ABSENT
        return maybe(f"the value of {key} in Veeam's requests")


def context_keys(policy: PolicyDocument) -> frozenset[str]:
    """The condition keys (lower-cased) a policy's evaluation may look up: its Condition keys and variables."""
    keys: set[str] = set()
    resolve = policy.resolves_variables
    for statement in policy.statements:
        texts: list[str] = []
        for clause in statement.conditions:
            keys.add(clause.key)
            texts.extend(clause.values)
        texts.extend(statement.resources or statement.not_resources or ())
        if resolve:
            for text in texts:
                if "${" in text:
                    keys.update(key for _, key, _ in _template(text) if key is not None and not key.startswith("\0"))
    return frozenset(keys)


# ---------------------------------------------------------------- one statement


def resource_applies(
    policy: PolicyDocument, statement: Statement, resource: str, context: RequestContext, *, literal: bool = False
) -> Tri:
    """Whether the statement's Resource/NotResource covers every (TRUE), some (UNKNOWN) or none of ``resource``.

    ``resource`` is a pattern standing for the resources a request may name (see the module docstring),
    or with ``literal`` one resource's ARN (an IAM path may hold "*" or "?", which are then characters).
    For a pattern without wildcards the two are the same plain match.
    """
    resolve = policy.resolves_variables
    literal = literal or not has_wildcard(resource)
    if statement.resources is not None:
        return tri_any(_resource_relation(item, resource, context, resolve, literal) for item in statement.resources)
    assert statement.not_resources is not None
    return ~tri_any(_resource_relation(item, resource, context, resolve, literal) for item in statement.not_resources)


def statement_applies(
    policy: PolicyDocument, statement: Statement, resource: str, context: RequestContext, *, literal: bool = False
) -> Tri:
    """Resource (or NotResource) and every Condition of a statement whose Action already matched."""
    outcome = resource_applies(policy, statement, resource, context, literal=literal)
    if outcome is Tri.FALSE:
        return outcome
    resolve = policy.resolves_variables
    return min(outcome, tri_all(evaluate_clause(clause, context, resolve) for clause in statement.conditions))


def _resource_relation(pattern: str, resource: str, context: RequestContext, resolve: bool, literal: bool) -> Tri:
    resolved = resolve_policy_string(pattern, context, resolve)
    if resolved is None:
        return Tri.UNKNOWN
    if resolved is NO_VALUE:
        # "Policy variables with no value": "the resource that includes a policy variable with no value
        # will not match any resource" (Resource and NotResource alike).
        return Tri.FALSE
    if literal:
        return Tri.of(pattern_match(resolved, resource))
    if isinstance(resolved, str):
        return glob_relation(resolved, resource)
    # Text substituted from a variable is literal: only a substituted "*" or "?" cannot be told from a
    # wildcard in the glob comparison, and then all that is known is that it may match some.
    assert isinstance(resolved, tuple)
    if any(not is_pattern and has_wildcard(text) for text, is_pattern in resolved):
        return Tri.UNKNOWN
    return glob_relation("".join(text for text, _ in resolved), resource)


# ---------------------------------------------------------------- a set of policies


class _Parsed(NamedTuple):
    name: str
    document: PolicyDocument
    keys: frozenset[str]
    identity: object  # what tells this document apart in a memo key


def _parse(named: NamedPolicy, identity: object = None) -> _Parsed:
    document = parse_policy(named.document, "identity")
    return _Parsed(named.name, document, context_keys(document), identity)


def _decide(
    policies: Sequence[_Parsed],
    boundary: _Parsed | None,
    required: RequiredAction,
    context: RequestContext,
) -> ActionDecision:
    action = required.action
    reasons: list[str] = []
    decisive: list[str] = []
    shown = required.resources[0] if len(required.resources) == 1 else list(required.resources)

    def outcomes(parsed: _Parsed, effect: str, resource: str) -> list[Tri]:
        policy = parsed.document
        if policy.malformed:
            return []
        results: list[Tri] = []
        for statement in policy.statements:
            if statement.effect != effect or not action_applies(statement, action):
                continue
            where = resource_applies(policy, statement, resource, context)
            if where is Tri.FALSE:
                continue
            resolve = policy.resolves_variables
            undecided: list[str] = []
            conditions = Tri.TRUE
            for clause in statement.conditions:
                outcome = evaluate_clause(clause, context, resolve)
                if outcome is Tri.UNKNOWN:
                    undecided.append(unknown_reason(clause, context))
                conditions = min(conditions, outcome)
                if conditions is Tri.FALSE:
                    break
            if conditions is Tri.FALSE:
                continue
            results.append(min(where, conditions))
            verb = "allows" if effect == "Allow" else "explicitly denies"
            text = f"{parsed.name} {statement.label} {verb} {action}"
            if where is Tri.UNKNOWN:
                text += f" only on some of the resources Veeam needs it on ({_describe(statement)})"
            if undecided:
                text += f" only if {'; '.join(undecided)}"
            reasons.append(text)
        return results

    result = Tri.TRUE
    for resource in required.resources:
        allow = tri_any(outcome for parsed in policies for outcome in outcomes(parsed, "Allow", resource))
        deny = tri_any(outcome for parsed in policies for outcome in outcomes(parsed, "Deny", resource))
        if allow is Tri.FALSE:
            decisive.append(f"no identity policy of the role allows {action} on {resource}")
        outcome = min(allow, ~deny)
        if boundary is not None:
            bounded = tri_any(outcomes(boundary, "Allow", resource))
            boundary_deny = tri_any(outcomes(boundary, "Deny", resource))
            if bounded is Tri.FALSE:
                decisive.append(f"the permissions boundary ({boundary.name}) does not allow {action} on {resource}")
            outcome = tri_all((outcome, bounded, ~boundary_deny))
        result = min(result, outcome)
    if result is Tri.FALSE and not decisive:
        decisive.append(f"an explicit Deny overrides any Allow of {action} on {shown}")
    # The line that decided a denial comes first: it is what a finding needs to show.
    return ActionDecision(action, required.resources, _ANSWER[result], tuple(decisive + reasons))


def _describe(statement: Statement) -> str:
    if statement.resources is not None:
        return "Resource " + ", ".join(statement.resources)
    assert statement.not_resources is not None
    return "NotResource " + ", ".join(statement.not_resources)


def _malformed(policies: Iterable[_Parsed]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names: list[str] = []
    notes: list[str] = []
    for parsed in policies:
        if parsed.document.malformed:
            names.append(parsed.name)
            notes.extend(f"{parsed.name} is malformed and ignored: {error}" for error in parsed.document.errors)
    return tuple(names), tuple(notes)


def evaluate_actions(
    policies: Sequence[NamedPolicy],
    required: Iterable[str | RequiredAction],
    *,
    boundary: NamedPolicy | None = None,
    role_arn: str | RoleArn,
    role_tags: dict[str, str] | None = None,
    role_id: str | None = None,
    now: datetime | None = None,
    memo: PermissionsMemo | None = None,
) -> PermissionsVerdict:
    """Whether ``policies`` (inline and attached managed default versions) and ``boundary`` allow each action.

    ``role_arn``/``role_tags``/``role_id`` describe the role whose policies these are (the principal of
    the requests). A malformed document is not in force: it is listed in ``malformed`` and ignored (a
    malformed boundary allows nothing). With a ``memo``, each (policy set, what the policies read of the
    context, action) is decided once across calls. Raises :class:`~.arn.InvalidArnError` for a bad
    ``role_arn`` and ValueError for a required action that is not one action name.
    """
    role = role_arn if isinstance(role_arn, RoleArn) else parse_role_arn(role_arn)
    actions = tuple(dict.fromkeys(required_actions(required)))
    # The clock is read once: every decision of one verdict is reached at the same second.
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if memo is not None:
        return memo.evaluate(
            policies, actions, boundary=boundary, role=role, role_tags=role_tags, role_id=role_id, now=moment
        )
    parsed = [_parse(named) for named in policies]
    bound = _parse(boundary) if boundary is not None else None
    context = PrincipalContext(role, role_tags=role_tags, role_id=role_id, now=moment)
    decisions = tuple(_decide(parsed, bound, item, context) for item in actions)
    names, notes = _malformed([*parsed, *([bound] if bound else [])])
    return PermissionsVerdict(decisions, names, (*notes, UNSEEN_POLICIES))


class PermissionsMemo:
    """The decisions of one scan, per distinct (policy set, context the policies read, required action).

    Many roles share managed policies (and roles made from one template share inline ones): a decision
    depends only on the documents and names of the role's policies and boundary, and on the values of
    the condition keys those documents read (:func:`context_keys`: the role's ARN or tags only when a
    policy reads aws:PrincipalArn or aws:PrincipalTag, the time only when a policy reads it). Those are
    the key. A document is told apart by the object itself while the memo holds it (the scan's reader
    gives every role the same object for one managed policy version) and otherwise by its pickled content.
    """

    def __init__(self) -> None:
        self._by_object: dict[int, tuple[object, _Parsed]] = {}
        self._by_content: dict[bytes, _Parsed] = {}
        self._decisions: dict[tuple[object, ...], ActionDecision] = {}
        self.hits = 0
        self.misses = 0

    def _parsed(self, named: NamedPolicy) -> _Parsed:
        entry = self._by_object.get(id(named))
        if entry is not None and entry[0] is named:
            return entry[1]
        try:
            content = pickle.dumps((named.name, named.document), protocol=4)
        except Exception:  # noqa: BLE001 -- a document pickle cannot write is keyed by the object itself
            parsed = _parse(named, ("object", id(named)))
        else:
            cached = self._by_content.get(content)
            if cached is None:
                cached = self._by_content[content] = _parse(named, content)
            parsed = cached
        self._by_object[id(named)] = (named, parsed)  # holding ``named`` keeps its id from being reused
        return parsed

    def evaluate(
        self,
        policies: Sequence[NamedPolicy],
        actions: Sequence[RequiredAction],
        *,
        boundary: NamedPolicy | None,
        role: RoleArn,
        role_tags: dict[str, str] | None,
        role_id: str | None,
        now: datetime,
    ) -> PermissionsVerdict:
        parsed = [self._parsed(named) for named in policies]
        bound = self._parsed(boundary) if boundary is not None else None
        every = [*parsed, *([bound] if bound else [])]
        context = PrincipalContext(role, role_tags=role_tags, role_id=role_id, now=now)
        keys = sorted({key for item in every for key in item.keys})
        read = tuple((key, context.lookup(key)) for key in keys)
        base = (tuple(item.identity for item in parsed), bound.identity if bound else None, read)
        decisions = []
        for item in actions:
            key = (base, item)
            decision = self._decisions.get(key)
            if decision is None:
                self.misses += 1
                decision = self._decisions[key] = _decide(parsed, bound, item, context)
            else:
                self.hits += 1
            decisions.append(decision)
        names, notes = _malformed(every)
        return PermissionsVerdict(tuple(decisions), names, (*notes, UNSEEN_POLICIES))
