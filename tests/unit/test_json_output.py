"""``scan --format json`` is written in batches: character for character what one json.dump writes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from veeam_role_auditor import cli_scan
from veeam_role_auditor.cli_scan import write_json

# Everything json.dump(default=str) accepts: JSON values, tuples, numbers json writes specially (NaN,
# Infinity), non-string keys it converts, and objects it turns into strings (datetime).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # newlines, quotes, backslashes, control characters, non-ASCII, U+2028
    st.datetimes(timezones=st.just(UTC)),
)
keys = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)
findings = st.lists(st.dictionaries(st.text(max_size=8), values, max_size=6), max_size=12)


def reference(document: dict[str, Any], items: list[dict[str, Any]]) -> str:
    stream = io.StringIO()
    json.dump({**document, "findings": items}, stream, indent=2, default=str)
    return stream.getvalue()


def written(document: dict[str, Any], items: list[dict[str, Any]]) -> str:
    stream = io.StringIO()
    write_json(document, iter(items), stream)
    return stream.getvalue()


@given(st.dictionaries(st.text(max_size=8).filter(lambda key: key != "findings"), values, max_size=4), findings)
@settings(max_examples=200)
def test_batches_write_what_one_dump_writes(document: dict[str, Any], items: list[dict[str, Any]]) -> None:
    assert written(document, items) == reference(document, items)


@given(findings, st.integers(min_value=1, max_value=5))
@settings(max_examples=200)
def test_the_batch_size_changes_nothing(items: list[dict[str, Any]], batch: int) -> None:
    original = cli_scan.JSON_BATCH
    cli_scan.JSON_BATCH = batch
    try:
        assert written({"schema_version": "1"}, items) == reference({"schema_version": "1"}, items)
    finally:
        cli_scan.JSON_BATCH = original


def test_no_findings_is_an_empty_list() -> None:
    document = {"schema_version": "1", "summary": {"roles_read": 0}, "findings": []}
    assert (
        written(document, [])
        == reference(document, [])
        == ('{\n  "schema_version": "1",\n  "summary": {\n    "roles_read": 0\n  },\n  "findings": []\n}')
    )


def test_a_finding_like_document_round_trips() -> None:
    finding = {
        "id": "veeam-role-auditor/aws/111122223333/VRA-TRUST-1/arn:aws:iam::111122223333:role/R",
        "details": ["line one\nline two", 'quote " and backslash \\', "é ü \u2028"],
        "corrected_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {}}]},
        "statement_to_add": None,
        "observed": datetime(2026, 1, 2, tzinfo=UTC),
    }
    text = written({"schema_version": "1"}, [finding, finding])
    assert text == reference({"schema_version": "1"}, [finding, finding])
    assert json.loads(text)["findings"][1]["details"][0] == "line one\nline two"
