from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from veeam_role_auditor.policy.arn import PrincipalKind, classify_aws_principal
from veeam_role_auditor.policy.document import decode_document, parse_policy

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Veeam",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/Imp"},
            "Action": "sts:AssumeRole",
            "Condition": {"ForAnyValue:StringLikeIfExists": {"AWS:TagKeys": ["a", True, 3]}},
        }
    ],
}


@pytest.mark.parametrize(
    "document",
    [
        TRUST,
        json.dumps(TRUST),
        quote(json.dumps(TRUST)),
        json.dumps(TRUST).encode(),
        "  " + json.dumps(TRUST),
    ],
    ids=["dict", "json", "percent-encoded", "bytes", "leading-space"],
)
def test_every_input_form_decodes_to_the_same_statements(document: object) -> None:
    policy = parse_policy(document, "trust")
    assert policy.errors == ()
    (statement,) = policy.statements
    assert statement.sid == "Veeam"
    assert statement.label == 'Statement[0] (Sid "Veeam")'
    (clause,) = statement.conditions
    assert (clause.family, clause.qualifier, clause.if_exists, clause.negated) == (
        "string_like",
        "any",
        True,
        False,
    )
    # Key names are case-insensitive; JSON booleans and numbers become their text.
    assert (clause.key, clause.values) == ("aws:tagkeys", ("a", "true", "3"))


def test_missing_version_means_2008_and_no_variables() -> None:
    policy = parse_policy({"Statement": TRUST["Statement"]}, "trust")
    assert (policy.version, policy.resolves_variables) == ("2008-10-17", False)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ("{", "the policy is not valid JSON"),
        ("[]", "the policy must be a JSON object, not a list"),
        (42, "the policy must be a JSON object, not int"),
        ('{"Version": "2012-10-17", "Statement": [], "Statement": NaN}', "the policy is not valid JSON"),
        (b"\xff\xfe", "the policy is not UTF-8 text"),
        ("%7B%22Version", "the policy is not valid JSON"),
    ],
)
def test_undecodable_input_is_a_malformed_policy_not_an_exception(document: object, error: str) -> None:
    policy = parse_policy(document, "trust")
    assert policy.malformed
    assert policy.errors[0].startswith(error)


def test_all_errors_are_collected_with_the_statement_they_belong_to() -> None:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Extra": 1,
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"},
                {"Effect": "Permit", "Principal": {"Group": "x"}, "Action": "sts:AssumeRole"},
            ],
        },
        "trust",
    )
    assert policy.errors == (
        "unknown top-level element 'Extra' (allowed: Version, Id, Statement)",
        "Statement[0]: Resource is not allowed in a trust policy",
        "Statement[0] Action: a trust policy may only specify STS actions, not 's3:GetObject'",
        "Statement[1]: Effect must be 'Allow' or 'Deny' ('Permit')",
        "Statement[1] Principal: unknown principal type 'Group'",
    )


def test_identity_policy_rules_differ_from_trust_rules() -> None:
    identity = parse_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}, "identity"
    )
    assert identity.errors == ("Statement[0]: exactly one of Resource or NotResource is required",)
    with_principal = parse_policy(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}, "identity"
    )
    assert with_principal.errors == ("Statement[0]: Principal is not allowed in an identity-based policy",)


@pytest.mark.parametrize(
    ("value", "kind", "account"),
    [
        ("*", PrincipalKind.WILDCARD, None),
        ("111122223333", PrincipalKind.ACCOUNT, "111122223333"),
        ("arn:aws:iam::111122223333:root", PrincipalKind.ACCOUNT, "111122223333"),
        ("arn:aws:iam::111122223333:role/a/b/Name", PrincipalKind.ROLE, "111122223333"),
        ("arn:aws:iam::111122223333:user/u", PrincipalKind.USER, "111122223333"),
        ("arn:aws:sts::111122223333:assumed-role/Name/session", PrincipalKind.ROLE_SESSION, "111122223333"),
        ("arn:aws:sts::111122223333:federated-user/bob", PrincipalKind.FEDERATED_USER, "111122223333"),
        ("AROAABCDEFGHIJKLMNOPQ", PrincipalKind.UNIQUE_ID, None),
        ("arn:aws:iam::111122223333:role/*", PrincipalKind.INVALID, None),
        ("arn:aws:iam::11112222333:root", PrincipalKind.INVALID, None),
        ("arn:aws:iam::111122223333:group/g", PrincipalKind.INVALID, None),
        ("arn:aws:sts::111122223333:assumed-role/Name", PrincipalKind.INVALID, None),
        ("ec2.amazonaws.com", PrincipalKind.INVALID, None),
    ],
)
def test_aws_principal_classification(value: str, kind: PrincipalKind, account: str | None) -> None:
    principal = classify_aws_principal(value)
    assert (principal.kind, principal.account) == (kind, account)


def test_role_principal_keeps_its_path() -> None:
    principal = classify_aws_principal("arn:aws:iam::111122223333:role/veeam/backup/Imp")
    assert (principal.path, principal.name) == ("/veeam/backup/", "Imp")


def test_decode_document_returns_mappings_unchanged() -> None:
    assert decode_document(TRUST) is TRUST


@pytest.mark.parametrize("effect", ["Deny", "Allow"])
def test_not_principal_cannot_be_used_in_a_trust_policy(effect: str) -> None:
    # IAM User Guide, "AWS JSON policy elements: NotPrincipal": "You cannot use the NotPrincipal element
    # in an IAM identity-based policy nor in an IAM role trust policy."
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "NotPrincipal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}],
        },
        "trust",
    )
    assert policy.errors == ("Statement[0]: NotPrincipal cannot be used in an IAM role trust policy",)
