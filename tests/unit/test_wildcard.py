from __future__ import annotations

import pytest

from veeam_role_auditor.policy.tri import Tri
from veeam_role_auditor.policy.wildcard import arn_match, glob_match, glob_match_with_unknown_suffix


@pytest.mark.parametrize(
    ("pattern", "value", "ignore_case", "expected"),
    [
        ("sts:AssumeRole", "sts:AssumeRole", False, True),
        ("sts:assumerole", "sts:AssumeRole", True, True),
        ("sts:assumerole", "sts:AssumeRole", False, False),
        ("sts:*", "sts:AssumeRole", False, True),
        ("*", "", False, True),
        ("sts:Assume?ole", "sts:AssumeRole", False, True),
        ("sts:AssumeRole?", "sts:AssumeRole", False, False),
        ("a*b*c", "aXXbYYc", False, True),
        ("a*b*c", "aXXbYY", False, False),
        ("a.b", "aXb", False, False),  # regex metacharacters are literal
        ("role/[x]", "role/[x]", False, True),
        ("line*", "line1\nline2", False, True),  # * spans newlines too
    ],
)
def test_glob_match(pattern: str, value: str, ignore_case: bool, expected: bool) -> None:
    assert glob_match(pattern, value, ignore_case=ignore_case) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("arn:aws:iam::111122223333:role/veeam/*", "arn:aws:iam::111122223333:role/veeam/Imp", True),
        ("arn:aws:iam::*:role/veeam/Imp", "arn:aws:iam::111122223333:role/veeam/Imp", True),
        ("arn:*:iam::*:role/*", "arn:aws-cn:iam::111122223333:role/x", True),
        # A wildcard does not cross the colon that separates ARN components.
        ("arn:aws:*:role/x", "arn:aws:iam::111122223333:role/x", False),
        ("arn:aws:iam::111122223333:*", "arn:aws:iam::111122223333:role/a:b", True),
        ("arn:aws:iam::111122223333:role/X", "arn:aws:iam::111122223333:role/x", False),
        ("*", "arn:aws:iam::111122223333:role/x", False),
        ("arn:aws:iam::111122223333:role/x", "not-an-arn", False),
    ],
)
def test_arn_match_checks_each_component(pattern: str, value: str, expected: bool) -> None:
    assert arn_match(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "prefix", "expected"),
    [
        ("AROAX:*", "AROAX:", Tri.TRUE),
        ("AROAX*", "AROAX:", Tri.TRUE),
        ("*", "AROAX:", Tri.TRUE),
        ("AROAX:i-*", "AROAX:", Tri.UNKNOWN),
        ("AROAX:?", "AROAX:", Tri.UNKNOWN),
        ("AROAY:*", "AROAX:", Tri.FALSE),
        ("AROAX:", "AROAX:", Tri.FALSE),  # the session name is never empty
        ("AROA", "AROAX:", Tri.FALSE),
        ("*:i-0abc", "AROAX:", Tri.UNKNOWN),
    ],
)
def test_glob_against_known_prefix_and_unknown_suffix(pattern: str, prefix: str, expected: Tri) -> None:
    assert glob_match_with_unknown_suffix(pattern, prefix) is expected
