from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeam_role_auditor.text import escape_control


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("aws:SourceAccount", "aws:SourceAccount"),
        ("Équipe-Sauvegarde ü 日本", "Équipe-Sauvegarde ü 日本"),
        ("a\u00a0b", "a\u00a0b"),  # a no-break space is a space, not a control
        ("key\x1b[2J\nVERDICT: OK", "key\\x1b[2J\\x0aVERDICT: OK"),
        ("tab\there\r", "tab\\x09here\\x0d"),
        ("nul\x00del\x7fcsi\x9b", "nul\\x00del\\x7fcsi\\x9b"),
        ("arn:aws:iam::1:role/\u202enimda", "arn:aws:iam::1:role/\\u202enimda"),
        ("zero\u200bwidth\u2066iso\u2069", "zero\\u200bwidth\\u2066iso\\u2069"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("lone\ud800surrogate", "lone\\ud800surrogate"),
        ("tag\U000e0041char", "tag\\U000e0041char"),
        ("", ""),
    ],
)
def test_escape_control_shows_controls_and_format_characters_as_escapes(raw: str, shown: str) -> None:
    assert escape_control(raw) == shown


@given(st.text())
def test_escaped_text_has_no_control_format_or_separator_character(raw: str) -> None:
    escaped = escape_control(raw)
    assert all(unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Zl", "Zp"} for char in escaped)
    # Printable text passes through unchanged, so escaping twice changes nothing.
    assert escape_control(escaped) == escaped
