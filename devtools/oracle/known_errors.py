"""Where @cloud-copilot/iam-simulate is known to be wrong, each with the page that shows it, and where the
IAM User Guide is silent (the engine's choices in veeam_role_auditor.policy.limits).

A disagreement between the engine and the oracle is excused only when a known error applies to the case
*and explains it*: the error's ``neutralize`` rewrites the policy into one that means the same according
to the page cited, but avoids the oracle's wrong behaviour; the engine must give the same answer for both,
and the oracle must then agree. Any other disagreement fails the differential test.
Checked against iam-simulate 0.1.173 (pinned by `make oracle`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from veeam_role_auditor.policy import Appliance
from veeam_role_auditor.policy.arn import PrincipalKind, classify_aws_principal
from veeam_role_auditor.policy.context import Presence, RequestContext
from veeam_role_auditor.policy.document import PolicyDocument

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NUMBER = re.compile(r"\s*-?\d+(\.\d+)?\s*")


@dataclass(frozen=True)
class Case:
    document: dict[str, Any]
    policy: PolicyDocument
    appliance: Appliance
    context: RequestContext


class KnownError(NamedTuple):
    name: str
    page: str
    passage: str  # what the page says
    oracle_does: str  # what iam-simulate does instead
    applies: Callable[[Case], bool]
    # The same policy as the page reads it (for a guide-silent case: as the engine reads it), written so
    # that the oracle's reading cannot show; given the document, the case and the world's context values.
    neutralize: Callable[[dict[str, Any], Case, dict[str, Any]], dict[str, Any]]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document.get("Statement")
    return [item for item in (body if isinstance(body, list) else [body]) if isinstance(item, dict)]


def _map_principals(document: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    rewritten = copy.deepcopy(document)
    for statement in _statements(rewritten):
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "AWS" in principal:
            values = principal["AWS"]
            principal["AWS"] = [change(v) for v in values] if isinstance(values, list) else change(values)
    return rewritten


def _map_conditions(
    document: dict[str, Any], change: Callable[[str, str, list[str]], dict[str, Any] | None]
) -> dict[str, Any]:
    """Rewrite every (operator, key, values) of every Condition; ``change`` returns {operator: {key: values}}
    to put in its place, or None to drop it."""
    rewritten = copy.deepcopy(document)
    for statement in _statements(rewritten):
        condition = statement.get("Condition")
        if not isinstance(condition, dict):
            continue
        new: dict[str, dict[str, Any]] = {}
        for operator, block in condition.items():
            for key, values in block.items():
                listed = values if isinstance(values, list) else [values]
                replacement = change(operator, key, [str(v) for v in listed])
                for new_operator, new_block in (replacement or {}).items():
                    new.setdefault(new_operator, {}).update(new_block)
        if new:
            statement["Condition"] = new
        else:
            del statement["Condition"]
    return rewritten


def _principal_values(case: Case) -> list[str]:
    values: list[str] = []
    for statement in case.policy.statements:
        if statement.principal is not None:
            values.extend(principal.raw for principal in statement.principal.aws)
    return values


def _clauses(case: Case) -> list[Any]:
    return [clause for statement in case.policy.statements for clause in statement.conditions]


def _names_live_unique_id(case: Case) -> bool:
    return case.appliance.role_id is not None and case.appliance.role_id in _principal_values(case)


def _variables_under_2008(case: Case) -> bool:
    return not case.policy.resolves_variables and any("${" in v for c in _clauses(case) for v in c.values)


def _role_arn_with_other_path(case: Case) -> bool:
    role = case.appliance.role
    for raw in _principal_values(case):
        principal = classify_aws_principal(raw)
        if (
            principal.kind is PrincipalKind.ROLE
            and principal.account == role.account
            and (principal.name or "").casefold() == role.name.casefold()
            and principal.path != role.path
        ):
            return True
    return False


def _arn_operator_with_variable(case: Case) -> bool:
    return case.policy.resolves_variables and any(
        c.family == "arn" and any("${" in v for v in c.values) for c in _clauses(case)
    )


def _date_compared_as_epoch(case: Case) -> bool:
    return any(
        c.family.startswith("date") and (c.key == "aws:epochtime" or any(_NUMBER.fullmatch(v) for v in c.values))
        for c in _clauses(case)
    )


def _not_principal(case: Case) -> bool:
    body = case.document.get("Statement")
    items = body if isinstance(body, list) else [body]
    return any(isinstance(item, dict) and "NotPrincipal" in item for item in items)


def _negated_operator_with_no_value_variable(case: Case) -> bool:
    if not case.policy.resolves_variables:
        return False
    for clause in _clauses(case):
        if not clause.negated or clause.family not in ("string", "string_ci", "string_like", "arn"):
            continue
        for value in clause.values:
            for inner in _VARIABLE.findall(value):
                if "," in inner or inner.strip() in ("*", "?", "$"):
                    continue
                looked_up = case.context.lookup(inner.strip().lower())
                if looked_up.presence in (Presence.ABSENT, Presence.MAYBE):
                    return True
    return False


def _same(operator: str, key: str, values: list[str]) -> dict[str, Any]:
    return {operator: {key: values if len(values) != 1 else values[0]}}


def _live_id_as_arn(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # The ARN and the live role's unique id name the same principal (the page's "transformation").
    return _map_principals(document, lambda v: case.appliance.role.arn if v == case.appliance.role_id else v)


def _literal_dollar_braces(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # Under 2008-10-17 "${...}" is literal text; "$_{...}" is literal text too and matches the same requests
    # (no request value drawn holds either).
    return _map_conditions(document, lambda op, key, vs: _same(op, key, [v.replace("${", "$_{") for v in vs]))


def _role_with_other_path_as_nobody(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # A role under another path is another role: for the appliance it names nobody, as this ARN does.
    role = case.appliance.role

    def change(value: str) -> str:
        principal = classify_aws_principal(value)
        if (
            principal.kind is PrincipalKind.ROLE
            and principal.account == role.account
            and (principal.name or "").casefold() == role.name.casefold()
            and principal.path != role.path
        ):
            return "arn:aws:iam::999988887777:role/NotTheAppliance"
        return value

    return _map_principals(document, change)


def _resolved(value: str, case: Case) -> str:
    """``value`` with the variables the engine knows substituted, as IAM does before comparing; a variable
    with no value makes a value that is like no ARN (as the placeholder is). Unknown ones stay as written."""

    def one(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition(",")
        if name.strip() in ("*", "?", "$"):
            return name.strip()
        looked_up = case.context.lookup(name.strip().lower())
        if looked_up.presence is Presence.KNOWN and len(looked_up.values) == 1:
            return looked_up.values[0]
        if looked_up.presence is Presence.ABSENT:
            return default.strip().strip("'") if default else "\0"
        return match.group(0)

    text = _VARIABLE.sub(one, value)
    return "arn:aws:iam::000000000000:role/no-value-variable" if "\0" in text else text


def _substitute_known_variables(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # Substitute the variables whose value the engine knows in ARN operators' values (see _resolved).
    def change(operator: str, key: str, listed: list[str]) -> dict[str, Any]:
        base = operator.rsplit(":", maxsplit=1)[-1].removesuffix("IfExists")
        if base in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"):
            return _same(operator, key, [_resolved(v, case) for v in listed])
        return _same(operator, key, listed)

    return _map_conditions(document, change)


def _epoch_as_iso(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # Epoch seconds and the ISO 8601 moment they stand for are the same date value.
    def change(operator: str, key: str, values: list[str]) -> dict[str, Any]:
        if not operator.rsplit(":", maxsplit=1)[-1].startswith("Date"):
            return _same(operator, key, values)
        iso = [
            datetime.fromtimestamp(float(v), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if _NUMBER.fullmatch(v) else v
            for v in values
        ]
        return _same(operator, "aws:CurrentTime" if key.lower() == "aws:epochtime" else key, iso)

    return _map_conditions(document, change)


def _rejected_document(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # A document IAM rejects is not in force: nobody can assume the role, as under a Deny for everyone.
    kept = [s for s in _statements(document) if "NotPrincipal" not in s]
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "*"}
    return {**copy.deepcopy(document), "Statement": [*copy.deepcopy(kept), deny_all]}


def _without_no_value_in_negated(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # A null value equals (is like) nothing: in a negated operator's values (NORed) it can be dropped. When
    # it is the only value: the clause is true whenever the key is present, and when absent as before.
    def no_value(value: str) -> bool:
        for inner in _VARIABLE.findall(value):
            name, _, default = inner.partition(",")
            if not default and name.strip() not in ("*", "?", "$"):
                looked_up = case.context.lookup(name.strip().lower())
                if looked_up.presence is Presence.ABSENT:
                    return True
        return False

    def change(operator: str, key: str, values: list[str]) -> dict[str, Any] | None:
        base = operator.rsplit(":", maxsplit=1)[-1].removesuffix("IfExists")
        negated = base.startswith(("StringNot", "ArnNot"))
        if not negated or not any(no_value(v) for v in values):
            return _same(operator, key, values)
        kept = [v for v in values if not no_value(v)]
        if kept:
            return _same(operator, key, kept)
        absent_false = operator.startswith("ForAnyValue:") and not operator.endswith("IfExists")
        return {"Null": {key: "false"}} if absent_false else None

    return _map_conditions(document, change)


KNOWN_ERRORS: tuple[KnownError, ...] = (
    KnownError(
        "live_unique_id_never_matches",
        "AWS JSON policy elements: Principal; Example: role trust policies (IAM User Guide)",
        '"When you save the policy, AWS transforms the ARN to a unique principal ID ... there is also a reverse'
        ' transformation back to the ARN when the trust policy is displayed": a trust policy names a live role'
        " by its unique id.",
        "never matches a unique id (AROA...) in Principal, even the appliance role's own",
        _names_live_unique_id,
        _live_id_as_arn,
    ),
    KnownError(
        "variables_substituted_under_2008",
        "IAM policy elements: Variables and tags",
        "\"If you don't include the Version element and set it to an appropriate version date, variables like"
        ' ${aws:username} are treated as literal strings in the policy."',
        "substitutes ${...} under Version 2008-10-17 (or no Version)",
        _variables_under_2008,
        _literal_dollar_braces,
    ),
    KnownError(
        "role_arn_path_ignored",
        "AWS JSON policy elements: Principal; IAM identifiers (IAM ARNs)",
        "A role ARN includes the role's path (arn:aws:iam::123456789012:role/application_abc/component_xyz/"
        "S3Access): the same name under another path is another role.",
        "matches a role ARN whatever its path, from the session's role name",
        _role_arn_with_other_path,
        _role_with_other_path_as_nobody,
    ),
    KnownError(
        "arn_split_before_substitution",
        "IAM JSON policy elements: Condition operators (ARN condition operators); IAM policy elements: Variables"
        " and tags",
        'Variables may be used "in any condition that involves ... the ARN operators"; a substituted value'
        " is part of the ARN that is then compared component by component.",
        "splits the policy ARN into its six components before substituting variables, so a variable whose"
        " value holds colons (${aws:PrincipalArn}) never matches",
        _arn_operator_with_variable,
        _substitute_known_variables,
    ),
    KnownError(
        "epoch_seconds_as_milliseconds",
        "IAM JSON policy elements: Condition operators (Date condition operators); AWS global condition context"
        " keys (aws:EpochTime)",
        'Date values are "W3C implementations of the ISO 8601 date formats or in epoch (UNIX) time", i.e.'
        " seconds since 1970.",
        "compares epoch seconds with milliseconds in date operators",
        _date_compared_as_epoch,
        _epoch_as_iso,
    ),
    KnownError(
        "not_principal_evaluated_in_trust_policy",
        "AWS JSON policy elements: NotPrincipal",
        '"You cannot use the NotPrincipal element in an IAM identity-based policy nor in an IAM role trust policy."',
        "evaluates a Deny with NotPrincipal in a trust policy instead of rejecting the document",
        _not_principal,
        _rejected_document,
    ),
    KnownError(
        "negated_operator_with_no_value_variable",
        "IAM policy elements: Variables and tags (Policy variables with no value)",
        '"Inverted condition operators like StringNotEquals or StringNotLike do match against a null value"',
        "treats a negated operator against a variable with no value as not matching",
        _negated_operator_with_no_value_variable,
        _without_no_value_in_negated,
    ),
)


# Where the guide is silent (veeam_role_auditor.policy.limits): a disagreement explained only by one of these
# is reported, not failed; the rewrite states the engine's reading so that causality is checked as above.
def _if_exists_with_set_operator(case: Case) -> bool:
    return any(c.qualifier is not None and c.if_exists for c in _clauses(case))


def _if_exists_as_engine(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # The engine: IfExists wins, the clause is true when the key is absent; when present, IfExists is moot.
    present = {key.lower() for key in values}

    def change(operator: str, key: str, listed: list[str]) -> dict[str, Any] | None:
        if ":" not in operator or not operator.endswith("IfExists"):
            return _same(operator, key, listed)
        return _same(operator.removesuffix("IfExists"), key, listed) if key.lower() in present else None

    return _map_conditions(document, change)


def _single_valued_operator_on_multivalued_key(case: Case) -> bool:
    multivalued = ("aws:principalorgpaths", "aws:resourceorgpaths", "aws:tagkeys", "aws:calledvia")
    return any(c.qualifier is None and c.key in multivalued and c.family != "null" for c in _clauses(case))


def _short_arn_pattern(value: str, case: Case) -> bool:
    text = _resolved(value, case) if case.policy.resolves_variables else value
    return text.count(":") < 5 and not (case.policy.resolves_variables and "${" in text)


def _arn_pattern_without_six_components(case: Case) -> bool:
    return any(c.family == "arn" and any(_short_arn_pattern(v, case) for v in c.values) for c in _clauses(case))


def _short_arn_as_nothing(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # The engine: a pattern without six components matches no ARN, as this well-formed one does not.
    def change(operator: str, key: str, listed: list[str]) -> dict[str, Any]:
        if not operator.rsplit(":", maxsplit=1)[-1].startswith("Arn"):
            return _same(operator, key, listed)
        nothing = "arn:aws:iam::000000000000:role/matches-nothing"
        return _same(operator, key, [nothing if _short_arn_pattern(v, case) else v for v in listed])

    return _map_conditions(document, change)


def _bool_value_case(case: Case) -> bool:
    return any(c.family == "bool" and any(v != v.lower() for v in c.values) for c in _clauses(case))


def _bool_lower_case(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    # The engine: Boolean values compare without regard to case.
    def change(operator: str, key: str, listed: list[str]) -> dict[str, Any]:
        if operator.rsplit(":", maxsplit=1)[-1].startswith("Bool"):
            return _same(operator, key, [v.lower() for v in listed])
        return _same(operator, key, listed)

    return _map_conditions(document, change)


def _unchanged(document: dict[str, Any], case: Case, values: dict[str, Any]) -> dict[str, Any]:
    return document


GUIDE_SILENT: tuple[KnownError, ...] = tuple(
    KnownError(name, "veeam_role_auditor.policy.limits", "the guide is silent", "reads it otherwise", applies, rewrite)
    for name, applies, rewrite in (
        ("if_exists_with_set_operator_on_absent_key", _if_exists_with_set_operator, _if_exists_as_engine),
        ("single_valued_operator_on_multivalued_key", _single_valued_operator_on_multivalued_key, _unchanged),
        ("arn_operator_without_six_components", _arn_pattern_without_six_components, _short_arn_as_nothing),
        ("bool_value_case", _bool_value_case, _bool_lower_case),
    )
)
