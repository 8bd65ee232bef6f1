"""Known limits: where the IAM User Guide is silent or contradicts itself, the choice the engine makes.

Each entry names the page it rests on and what the engine does. The engine keeps "conditional" (or its
current, documented choice) in these places rather than guessing; the tests pin every choice
(tests/unit/test_limits.py), and the differential oracle (devtools/oracle) is not asked to agree on them.
"""

from __future__ import annotations

from typing import NamedTuple


class KnownLimit(NamedTuple):
    name: str
    page: str  # IAM User Guide page title (or the AWS guide named)
    guide: str  # what the page says, or that it is silent
    choice: str  # what the engine does


SINGLE_VALUED_OPERATOR_ON_MULTIVALUED_KEY = KnownLimit(
    "single_valued_operator_on_multivalued_key",
    "Single-valued vs. multivalued context keys",
    '"Multivalued context keys require a condition set operator" and "Do not use set operators with'
    ' single-valued condition keys"; the guide does not say how StringEquals (no ForAnyValue/ForAllValues)'
    " compares several request values.",
    "Read as ForAnyValue, as ForAllValues, or as never matching (as @cloud-copilot/iam-simulate does), a"
    " clause can differ; so for a multivalued key known only by a prefix or unknown (aws:PrincipalOrgPaths,"
    " aws:TagKeys) only a false result is decided (false under every reading: no value can match a positive"
    " operator, or every value matches a negated one); a true result stays conditional. (Known multivalued"
    " values, which the appliance's request has none of, would be read as ForAnyValue.)",
)

IF_EXISTS_WITH_SET_OPERATOR_ON_ABSENT_KEY = KnownLimit(
    "if_exists_with_set_operator_on_absent_key",
    "IAM JSON policy elements: Condition operators; Single-valued vs. multivalued context keys",
    '...IfExists: "If the key is not present, evaluate the condition element as true", while ForAnyValue'
    ' "tests whether at least one member of the set of request context key values matches" (none does'
    " when the key is missing); the guide does not say which wins in ForAnyValue:StringEqualsIfExists.",
    "IfExists wins: true when the key is absent (ForAllValues is true on an absent key either way).",
)

OPERATOR_NAME_CASE = KnownLimit(
    "operator_name_case",
    "IAM JSON policy elements: Condition operators; IAM JSON policy grammar",
    "Operators are written in one spelling (StringEquals, ForAnyValue:StringLike); the guide does not"
    " say whether other letter cases are accepted.",
    "Exact spelling only: any other case is an unknown operator, so the document is malformed.",
)

BOOL_VALUE_CASE = KnownLimit(
    "bool_value_case",
    "IAM JSON policy elements: Condition operators (Boolean condition operators)",
    'Examples use "true" and "false"; the guide does not say whether "True" or "TRUE" match.',
    "Boolean values compare without regard to case.",
)

MULTIVALUED_VARIABLE = KnownLimit(
    "multivalued_variable",
    "IAM policy elements: Variables and tags",
    '"You can\'t use a multivalued condition key as a variable"; the guide does not say what a policy'
    " that does so evaluates to.",
    "A variable of a key with several values, or known only by a prefix or a range, is unknown: conditional.",
)

NO_VALUE_VARIABLE = KnownLimit(
    "no_value_variable",
    "IAM policy elements: Variables and tags",
    'The page opens with "If AWS cannot resolve a variable this might cause the entire statement to be'
    ' invalid", and its principal key values table says a value "not present" "causes the statement to'
    ' be invalid"; its section "Policy variables with no value" says StringEquals or StringLike "do not'
    ' match" and "Inverted condition operators like StringNotEquals or StringNotLike do match against a'
    ' null value".',
    "The specific section wins: a value holding a variable with no value (and no default) equals and is"
    " like nothing, so a negated operator over it is true; in Resource/NotResource it matches no resource.",
)

NOT_PRINCIPAL_IN_TRUST = KnownLimit(
    "not_principal_in_trust",
    "AWS JSON policy elements: NotPrincipal",
    '"You cannot use the NotPrincipal element in an IAM identity-based policy nor in an IAM role trust'
    ' policy." No AWS statement saying otherwise was found.',
    "A trust policy with NotPrincipal is malformed (not in force): answer no, risks malformed and"
    " not_principal. A live role whose trust policy holds one contradicts the page; the findings say so.",
)

TOKEN_ISSUE_TIME_LOWER_BOUND = KnownLimit(
    "token_issue_time_lower_bound",
    "AWS global condition context keys (aws:TokenIssueTime)",
    "The key is the time the temporary credentials were issued; the IAM User Guide states no maximum age"
    " of instance profile credentials.",
    "Only the upper bound is used (issued not later than now): comparisons with an earlier date stay conditional.",
)

EC2_SESSION_NAME = KnownLimit(
    "ec2_session_name",
    "IAM policy elements: Variables and tags (principal key values); AWS JSON policy elements: Principal",
    'aws:userid of an EC2 instance role is "role-id:ec2-instance-id"; the guide does not state the'
    " session name in the assumed-role ARN of an instance profile session.",
    "A Principal naming an assumed-role session of the appliance role is conditional, whatever session name it lists.",
)

ARN_OPERATOR_WITHOUT_SIX_COMPONENTS = KnownLimit(
    "arn_operator_without_six_components",
    "IAM JSON policy elements: Condition operators (Amazon Resource Name (ARN) condition operators)",
    '"Each of the six colon-delimited components of the ARN is checked separately"; the guide does not'
    ' say what a pattern with fewer components (ArnLike "*") matches.',
    "A pattern without six components matches no ARN.",
)

KNOWN_LIMITS: tuple[KnownLimit, ...] = (
    SINGLE_VALUED_OPERATOR_ON_MULTIVALUED_KEY,
    IF_EXISTS_WITH_SET_OPERATOR_ON_ABSENT_KEY,
    OPERATOR_NAME_CASE,
    BOOL_VALUE_CASE,
    MULTIVALUED_VARIABLE,
    NO_VALUE_VARIABLE,
    NOT_PRINCIPAL_IN_TRUST,
    TOKEN_ISSUE_TIME_LOWER_BOUND,
    EC2_SESSION_NAME,
    ARN_OPERATOR_WITHOUT_SIX_COMPONENTS,
)

__all__ = ["KNOWN_LIMITS", "KnownLimit"]
