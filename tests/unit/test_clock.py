from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from veeam_role_auditor.publish.clock import MAX_CLOCK_SKEW, aws_time, describe_skew


def response(date: object) -> dict[str, object]:
    return {"ResponseMetadata": {"HTTPHeaders": {"date": date}}}


def test_aws_time_is_the_middle_of_the_second_the_date_header_names() -> None:
    assert aws_time(response("Mon, 30 Nov 2026 18:36:42 GMT")) == datetime(2026, 11, 30, 18, 36, 42, 500_000, UTC)


@pytest.mark.parametrize("headers", [{}, {"ResponseMetadata": {}}, response(None), response("yesterday")])
def test_no_usable_date_header_means_no_aws_time(headers: dict[str, object]) -> None:
    assert aws_time(headers) is None


@pytest.mark.parametrize(
    ("skew", "text"),
    [
        (timedelta(hours=2, minutes=5, seconds=7), "2 h 5 min ahead of"),
        (-timedelta(minutes=9, seconds=59.6), "10 min behind"),
        (timedelta(seconds=40.2), "40 s ahead of"),
        (timedelta(), "0 s behind"),
    ],
)
def test_describe_skew(skew: timedelta, text: str) -> None:
    assert describe_skew(skew) == text


def test_the_accepted_skew_is_five_minutes() -> None:
    assert timedelta(minutes=5) == MAX_CLOCK_SKEW
