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

import operator
import pickle
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .arn import RoleArn, parse_role_arn
from .conditions import NO_VALUE, _template, evaluate_clause, pattern_match, resolve_policy_string, unknown_reason
from .context import ABSENT, ContextValue, RequestContext, known, maybe, with_prefix
from .document import PolicyDocument, Statement, parse_policy
from .tri import Tri, tri_all, tri_any
from .trust import Answer
from .wildcard import glob_match, glob_relation, has_wildcard

if TYPE_CHECKING:
    from .identity import NamedPolicy

_ANSWER: dict[Tri, Answer] = {Tri.TRUE: "yes", Tri.UNKNOWN: "conditional", Tri.FALSE: "no"}
_ANSWER_CODE: dict[Answer, int] = {"no": 0, "conditional": 1, "yes": 2}

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


_CODE_ANSWER: tuple[Answer, Answer, Answer] = ("no", "conditional", "yes")


class PermissionsVerdict:
    """The answers for a list of required actions, in the order asked (each action and resources once).

    ``answers`` are known at once; each action's :class:`ActionDecision` (its reasons) is built when first
    asked for (``decisions``, ``failing_decisions``): a scan needs the reasons of the actions a finding
    lists, not of the thousands allowed. A value: equal verdicts compare equal, reasons included.
    """

    __slots__ = ("_build", "_codes", "_decisions", "actions", "malformed", "notes")

    def __init__(
        self,
        actions: tuple[RequiredAction, ...],
        codes: bytes,
        build: Callable[[int], ActionDecision],
        malformed: tuple[str, ...] = (),
        notes: tuple[str, ...] = (UNSEEN_POLICIES,),
    ) -> None:
        self.actions = actions
        self._codes = codes  # per action: 0 no, 1 conditional, 2 yes (Tri's values)
        self._build = build
        self._decisions: list[ActionDecision | None] = [None] * len(actions)
        self.malformed = malformed
        self.notes = notes

    @property
    def answers(self) -> tuple[Answer, ...]:
        return tuple(_CODE_ANSWER[code] for code in self._codes)

    def decision(self, index: int) -> ActionDecision:
        decision = self._decisions[index]
        if decision is None:
            decision = self._decisions[index] = self._build(index)
        return decision

    @property
    def decisions(self) -> tuple[ActionDecision, ...]:
        return tuple(self.decision(index) for index in range(len(self.actions)))

    @property
    def failing_decisions(self) -> tuple[ActionDecision, ...]:
        """The decisions of the actions not allowed or only conditionally allowed."""
        return self.failing()

    def failing(self, limit: int | None = None) -> tuple[ActionDecision, ...]:
        """The first ``limit`` (all: None) decisions of actions not allowed or only conditionally allowed,
        in the order asked; only those decisions' reasons are put together."""
        indices = [index for index, code in enumerate(self._codes) if code != 2]
        return tuple(self.decision(index) for index in indices[:limit])

    @property
    def missing_actions(self) -> tuple[str, ...]:
        """The actions not allowed on (all of) their resources, each once."""
        if 0 not in self._codes:
            return ()
        return tuple(dict.fromkeys(self.actions[i].action for i, code in enumerate(self._codes) if code == 0))

    @property
    def conditional_actions(self) -> tuple[str, ...]:
        """The actions allowed only under conditions not known offline or on some resources, each once."""
        if 1 not in self._codes:
            return ()
        missing = set(self.missing_actions)
        return tuple(
            dict.fromkeys(
                self.actions[i].action
                for i, code in enumerate(self._codes)
                if code == 1 and self.actions[i].action not in missing
            )
        )

    @property
    def answer(self) -> Answer:
        return _CODE_ANSWER[min(self._codes, default=2)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "missing_actions": list(self.missing_actions),
            "conditional_actions": list(self.conditional_actions),
            "decisions": [decision.to_dict() for decision in self.decisions],
            "malformed_policies": list(self.malformed),
            "notes": list(self.notes),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PermissionsVerdict):
            return NotImplemented
        return (self.actions, self._codes, self.malformed, self.notes, self.decisions) == (
            other.actions,
            other._codes,
            other.malformed,
            other.notes,
            other.decisions,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"PermissionsVerdict(answer={self.answer!r}, missing={self.missing_actions!r},"
            f" conditional={self.conditional_actions!r})"
        )


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


class _Statement(NamedTuple):
    """A statement with its Action/NotAction ready for many lookups: literal names in a set."""

    statement: Statement
    literal: frozenset[str]  # casefolded action names without wildcards
    patterns: tuple[str, ...]  # the ones with wildcards
    negated: bool  # NotAction

    def applies_to(self, folded_action: str) -> bool:
        """Action/NotAction match, case-insensitive with ``*`` and ``?`` (as trust.action_applies)."""
        matched = folded_action in self.literal or any(
            glob_match(pattern, folded_action, ignore_case=True) for pattern in self.patterns
        )
        return matched != self.negated


class _Parsed(NamedTuple):
    name: str
    document: PolicyDocument
    keys: frozenset[str]
    identity: object  # what tells this document apart in a memo key
    statements: tuple[_Statement, ...]
    sorted_keys: tuple[str, ...]


def _parse(named: NamedPolicy, identity: object = None) -> _Parsed:
    document = parse_policy(named.document, "identity")
    statements = []
    if not document.malformed:
        for statement in document.statements:
            names = statement.actions if statement.actions is not None else statement.not_actions
            assert names is not None
            statements.append(
                _Statement(
                    statement,
                    frozenset(name.casefold() for name in names if not has_wildcard(name)),
                    tuple(name for name in names if has_wildcard(name)),
                    statement.actions is None,
                )
            )
    keys = context_keys(document)
    return _Parsed(named.name, document, keys, identity, tuple(statements), tuple(sorted(keys)))


class _Part(NamedTuple):
    """What one policy says about one required action on one of its resources."""

    allow: Tri
    allow_reasons: tuple[str, ...]
    deny: Tri
    deny_reasons: tuple[str, ...]


_SILENT = _Part(Tri.FALSE, (), Tri.FALSE, ())
_SILENT_ONE = (_SILENT,)


def _silent(count: int) -> tuple[_Part, ...]:
    return _SILENT_ONE if count == 1 else (_SILENT,) * count


def _policy_parts(parsed: _Parsed, required: RequiredAction, context: RequestContext) -> tuple[_Part, ...]:
    """One policy's Allow and Deny outcomes (and the statements behind them) per required resource."""
    if not parsed.statements:
        return _silent(len(required.resources))
    action = required.action
    folded = action.casefold()
    matching = [entry.statement for entry in parsed.statements if entry.applies_to(folded)]
    if not matching:
        return _silent(len(required.resources))
    policy = parsed.document
    resolve = policy.resolves_variables
    parts = []
    for resource in required.resources:
        outcomes: dict[str, list[Tri]] = {"Allow": [], "Deny": []}
        reasons: dict[str, list[str]] = {"Allow": [], "Deny": []}
        for statement in matching:
            where = resource_applies(policy, statement, resource, context)
            if where is Tri.FALSE:
                continue
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
            effect = statement.effect
            outcomes[effect].append(min(where, conditions))
            verb = "allows" if effect == "Allow" else "explicitly denies"
            text = f"{parsed.name} {statement.label} {verb} {action}"
            if where is Tri.UNKNOWN:
                text += f" only on some of the resources Veeam needs it on ({_describe(statement)})"
            if undecided:
                text += f" only if {'; '.join(undecided)}"
            reasons[effect].append(text)
        parts.append(
            _Part(
                tri_any(outcomes["Allow"]),
                tuple(reasons["Allow"]),
                tri_any(outcomes["Deny"]),
                tuple(reasons["Deny"]),
            )
        )
    return tuple(parts)


def _combine(
    required: RequiredAction,
    parts: Sequence[tuple[_Part, ...]],
    boundary: tuple[_Part, ...] | None,
    boundary_name: str,
) -> ActionDecision:
    """IAM's evaluation logic over the policies' parts: any Allow, no Deny, and the boundary's Allow."""
    action = required.action
    decisive: list[str] = []
    reasons: list[str] = []
    result = Tri.TRUE
    for index, resource in enumerate(required.resources):
        mine = [policy[index] for policy in parts]
        allow = tri_any(part.allow for part in mine)
        deny = tri_any(part.deny for part in mine)
        for part in mine:
            reasons.extend(part.allow_reasons)
        for part in mine:
            reasons.extend(part.deny_reasons)
        if allow is Tri.FALSE:
            decisive.append(f"no identity policy of the role allows {action} on {resource}")
        outcome = min(allow, ~deny)
        if boundary is not None:
            bound = boundary[index]
            reasons.extend(bound.allow_reasons)
            reasons.extend(bound.deny_reasons)
            if bound.allow is Tri.FALSE:
                decisive.append(f"the permissions boundary ({boundary_name}) does not allow {action} on {resource}")
            outcome = tri_all((outcome, bound.allow, ~bound.deny))
        result = min(result, outcome)
    if result is Tri.FALSE and not decisive:
        shown = required.resources[0] if len(required.resources) == 1 else list(required.resources)
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
    malformed boundary allows nothing). Each decision's reasons name every statement that allows or
    denies the action (policies in the order given, Allows before Denies), after the line that decided a
    "no". With a ``memo``, what each policy says about each action is decided once across calls (per
    policy, and the values of the condition keys that policy reads), and so is a whole verdict for a
    repeated set of policies and actions. Raises :class:`~.arn.InvalidArnError` for a bad ``role_arn``
    and ValueError for a required action that is not one action name.
    """
    role = role_arn if isinstance(role_arn, RoleArn) else parse_role_arn(role_arn)
    # The clock is read once: every decision of one verdict is reached at the same second.
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    context = PrincipalContext(role, role_tags=role_tags, role_id=role_id, now=moment)
    if memo is not None:
        return memo.evaluate(policies, required, boundary, context)
    actions = tuple(dict.fromkeys(required_actions(required)))
    parsed = [_parse(named) for named in policies]
    bound = _parse(boundary) if boundary is not None else None
    decisions = tuple(
        _combine(
            item,
            [_policy_parts(policy, item, context) for policy in parsed],
            _policy_parts(bound, item, context) if bound is not None else None,
            bound.name if bound is not None else "",
        )
        for item in actions
    )
    names, notes = _malformed([*parsed, *([bound] if bound else [])])
    codes = bytes(_ANSWER_CODE[decision.answer] for decision in decisions)
    return PermissionsVerdict(actions, codes, decisions.__getitem__, names, (*notes, UNSEEN_POLICIES))


class _Layout(NamedTuple):
    """A list of required actions as the memo uses it: one column per (action, resource)."""

    actions: tuple[RequiredAction, ...]
    owners: tuple[int, ...]  # per column, the index of its action
    single: bool  # one resource per action: columns are actions
    ids: tuple[int, ...]  # per action, its number in the memo (entries keep outcomes by number)


class _Vector(NamedTuple):
    """One policy's Allow and Deny outcomes per column of a list of required actions."""

    allow: bytes
    deny: bytes


_UNDECIDED = 255


# bytes.translate tables: a*3 for an Allow code a; min(a, NOT d) for a*3+d (Kleene: NOT d = 2 - d).
_TIMES3 = bytes((value * 3) % 256 for value in range(256))
_ALLOWED = bytes(min(value // 3, 2 - value % 3) if value < 9 else 0 for value in range(256))


def _max_codes(vectors: Sequence[bytes], width: int) -> bytes:
    if not vectors:
        return bytes(width)
    if len(vectors) == 1:
        return vectors[0]
    return bytes(map(max, *vectors))


def _allowed(allow: bytes, deny: bytes) -> bytes:
    """Per column min(allow, NOT deny), in C: (allow*3 + deny) through a table."""
    return bytes(map(operator.add, allow.translate(_TIMES3), deny)).translate(_ALLOWED)


class _Entry:
    """One policy in one evaluation context (the values of the keys it reads): its parts per action,
    and per list of required actions its vector."""

    __slots__ = ("allow", "deny", "parsed", "parts", "vectors")

    def __init__(self, parsed: _Parsed) -> None:
        self.parsed = parsed
        self.parts: dict[int, tuple[_Part, ...]] = {}  # by action number
        # By action number, the outcomes of single-resource actions (_UNDECIDED until decided), so that
        # a vector is built in C.
        self.allow = bytearray()
        self.deny = bytearray()
        self.vectors: dict[int, _Vector] = {}


class PermissionsMemo:
    """What a scan's policies say about the required actions, each decided once.

    Many roles share managed policies (and roles made from one template share inline ones). What one
    policy says about one action depends only on the document, its name (in the reasons) and the values
    of the condition keys that document reads (:func:`context_keys`: the role's ARN or tags only when the
    policy reads aws:PrincipalArn or aws:PrincipalTag, the time only when it reads the time): those are
    the key of a policy's parts, decided once per (policy, context, action). A role's answers combine its
    policies' outcomes with IAM's evaluation logic, a few byte operations per list of actions; reasons are
    put together when a verdict's decisions are asked for, each distinct combination once. A whole verdict
    is kept for roles with the same policies, context and required actions. A document is told apart by
    the object itself while the memo holds it (the scan's reader gives every role the same object for one
    managed policy version) and otherwise by its pickled content. ``misses`` counts the (policy, action)
    parts decided, ``hits`` the verdicts shared whole.
    """

    def __init__(self) -> None:
        self._by_object: dict[int, tuple[object, _Parsed]] = {}
        self._by_content: dict[bytes, _Parsed] = {}
        self._entries: dict[tuple[object, ...], _Entry] = {}
        self._layouts: dict[int, tuple[object, _Layout]] = {}
        self._by_actions: dict[tuple[RequiredAction, ...], _Layout] = {}
        self._numbers: dict[RequiredAction, int] = {}
        self._verdicts: dict[tuple[object, ...], PermissionsVerdict] = {}
        self._combined: dict[tuple[object, ...], ActionDecision] = {}
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

    def _entry(self, parsed: _Parsed, context: RequestContext) -> _Entry:
        read = tuple((key, context.lookup(key)) for key in parsed.sorted_keys) if parsed.keys else ()
        key = (parsed.identity, read)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(parsed)
        return entry

    def _layout(self, required: Iterable[str | RequiredAction]) -> _Layout:
        # A scan asks with the same list object for every role of one set of purposes: checked once.
        cached = self._layouts.get(id(required))
        if cached is not None and cached[0] is required:
            return cached[1]
        # Another tuple with the same actions (one built per role): found by content, checked before.
        layout = None
        if type(required) is tuple:
            try:
                layout = self._by_actions.get(required)
            except TypeError:  # an unhashable item: required_actions below says what is wrong
                layout = None
        if layout is not None:
            return layout
        actions = tuple(dict.fromkeys(required_actions(required)))
        layout = self._by_actions.get(actions)
        if layout is None:
            owners = tuple(index for index, item in enumerate(actions) for _ in item.resources)
            numbers = self._numbers
            ids = tuple(numbers.setdefault(item, len(numbers)) for item in actions)
            layout = self._by_actions[actions] = _Layout(actions, owners, len(owners) == len(actions), ids)
        if type(required) is tuple:
            self._by_actions.setdefault(required, layout)
        self._layouts[id(required)] = (required, layout)  # holding ``required`` keeps its id
        return layout

    def _vector(self, entry: _Entry, layout: _Layout, context: RequestContext) -> _Vector:
        vector = entry.vectors.get(id(layout))
        if vector is not None:
            return vector
        known = entry.parts
        if len(entry.allow) < len(self._numbers):
            grow = len(self._numbers) - len(entry.allow)
            entry.allow.extend(bytes([_UNDECIDED]) * grow)
            entry.deny.extend(bytes([_UNDECIDED]) * grow)
        for number, item in zip(layout.ids, layout.actions, strict=True):
            if number not in known:
                self.misses += 1
                parts = known[number] = _policy_parts(entry.parsed, item, context)
                if len(parts) == 1:
                    entry.allow[number], entry.deny[number] = parts[0].allow, parts[0].deny
        if layout.single:
            vector = _Vector(
                bytes(map(entry.allow.__getitem__, layout.ids)), bytes(map(entry.deny.__getitem__, layout.ids))
            )
        else:
            columns = [part for number in layout.ids for part in known[number]]
            vector = _Vector(bytes(part.allow for part in columns), bytes(part.deny for part in columns))
        entry.vectors[id(layout)] = vector
        return vector

    def evaluate(
        self,
        policies: Sequence[NamedPolicy],
        required: Iterable[str | RequiredAction],
        boundary: NamedPolicy | None,
        context: RequestContext,
    ) -> PermissionsVerdict:
        layout = self._layout(required)
        entries = [self._entry(self._parsed(named), context) for named in policies]
        bound = self._entry(self._parsed(boundary), context) if boundary is not None else None
        key = (tuple(map(id, entries)), id(bound), id(layout))
        verdict = self._verdicts.get(key)
        if verdict is not None:
            self.hits += 1
            return verdict
        vectors = [self._vector(entry, layout, context) for entry in entries]
        bound_vector = self._vector(bound, layout, context) if bound is not None else None
        width = len(layout.owners)
        # IAM's evaluation logic per column: some Allow and no Deny in the policies, and the same in the
        # boundary when there is one.
        columns = _allowed(
            _max_codes([vector.allow for vector in vectors], width), _max_codes([v.deny for v in vectors], width)
        )
        if bound_vector is not None:
            columns = bytes(map(min, columns, _allowed(bound_vector.allow, bound_vector.deny)))
        if layout.single:
            codes = columns
        else:
            worst = [2] * len(layout.actions)
            for column, owner in enumerate(layout.owners):
                worst[owner] = min(worst[owner], columns[column])
            codes = bytes(worst)
        bound_name = bound.parsed.name if bound is not None else ""

        def build(index: int) -> ActionDecision:
            item, number = layout.actions[index], layout.ids[index]
            silent = _SILENT_ONE if len(item.resources) == 1 else None
            # Only the policies that say something about the action take part; a decision is shared by
            # every role whose speaking policies (and boundary) say the same (the same part objects).
            speaking = [parts for entry in entries if (parts := entry.parts[number]) is not silent]
            bound_parts = bound.parts[number] if bound is not None else None
            key = (item, bound_name, id(bound_parts), *map(id, speaking))
            decision = self._combined.get(key)
            if decision is None:
                decision = self._combined[key] = _combine(item, speaking, bound_parts, bound_name)
            return decision

        every = [entry.parsed for entry in entries] + ([bound.parsed] if bound is not None else [])
        names, notes = _malformed(every)
        verdict = self._verdicts[key] = PermissionsVerdict(
            layout.actions, codes, build, names, (*notes, UNSEEN_POLICIES)
        )
        return verdict
