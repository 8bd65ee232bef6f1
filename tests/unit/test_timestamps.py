"""The auditor's response timestamp parser against botocore's own, on every form a response can carry."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.utils import parse_timestamp as botocore_parse_timestamp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from veeam_role_auditor.inventory import auditor_session, client_config, parse_timestamp

# dateutil warns about the zone names some generated near misses contain ("GM", "UT").
pytestmark = pytest.mark.filterwarnings("ignore::dateutil.parser.UnknownTimezoneWarning")


def same_reading(value: object) -> None:
    """Both parsers give the same wall time, microseconds and UTC offset, or the same error."""
    assert outcome(parse_timestamp, value) == outcome(botocore_parse_timestamp, value)


def outcome(parse: Callable[[object], datetime], value: object) -> tuple[object, ...]:
    try:
        moment = parse(value)
    except Exception as error:  # noqa: BLE001 -- whatever botocore raises, ours must raise alike
        return (type(error), str(error))
    return reading(moment)


def reading(moment: datetime) -> tuple[datetime, object]:
    """Wall time with microseconds, and the UTC offset (or the error asking for it: dateutil accepts +24:00)."""
    try:
        offset: object = moment.utcoffset()
    except ValueError as error:
        offset = str(error)
    return moment.replace(tzinfo=None), offset


@st.composite
def iso_texts(draw: st.DrawFn) -> str:
    """ISO 8601 as AWS writes it, and the near misses: odd fractions, offsets, out-of-range fields."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0")
    if draw(st.booleans()):
        text += "." + draw(st.text("0123456789", min_size=0, max_size=12))
    zone = draw(
        st.one_of(
            st.just("Z"),
            st.builds(
                lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
                st.sampled_from("+-"),
                st.integers(0, 30),
                st.integers(0, 70),
            ),
            st.sampled_from(["", "z", "+0000", "+01", " UTC", "GMT", "+00:00:00"]),
        )
    )
    text += zone
    if draw(st.booleans()):
        # out-of-range or malformed fields in one position
        position = draw(st.integers(0, len(text) - 1))
        text = text[:position] + draw(st.sampled_from(list("9 t/:0٣"))) + text[position + 1 :]
    return text


@given(iso_texts())
@settings(max_examples=1500)
@example("2024-01-02T03:04:05Z")
@example("2024-01-02T03:04:05.123456789Z")
@example("2024-01-02T03:04:05.9999999+05:30")
@example("2024-01-02T03:04:05-00:00")
@example("2024-02-30T03:04:05Z")
@example("2024-01-02T24:00:00Z")
@example("2024-01-02T03:04:60Z")
@example("2024-01-02T03:04:05+24:00")
@example("0001-01-01T00:00:00Z")
@example("٢٠٢٤-01-02T03:04:05Z")
def test_iso_8601_reads_as_botocore_reads_it(text: str) -> None:
    same_reading(text)


@given(
    st.one_of(
        st.integers(min_value=0, max_value=4_102_444_800),
        st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
        st.integers(min_value=0, max_value=4_102_444_800).map(str),
        st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False).map(repr),
    )
)
@settings(max_examples=500)
def test_epoch_seconds_are_botocores_reading(value: object) -> None:
    same_reading(value)


@given(st.text(max_size=40))
@settings(max_examples=1000)
@example("Tue, 07 May 2024 08:09:10 GMT")
@example("2024-05-07 08:09:10")
@example("20240507T080910Z")
@example("")
def test_any_other_text_is_botocores_reading(text: str) -> None:
    same_reading(text)


@contextmanager
def local_zone(name: str) -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_the_machines_time_zone_changes_nothing(zone: str) -> None:
    """botocore tries the local zone first (dateutil names it tzlocal() when it matches): same instants."""
    with local_zone(zone):
        for text in (
            "2024-01-02T03:04:05Z",
            "2024-07-02T03:04:05.5Z",
            "2024-01-02T03:04:05+00:00",
            "2024-07-02T03:04:05+01:00",
            "2024-07-02T03:04:05-04:00",
            "2024-07-02T03:04:05+05:30",
            "1700000000",
        ):
            same_reading(text)


def test_rfc_822_and_naive_forms_are_left_to_botocore() -> None:
    assert parse_timestamp("Tue, 07 May 2024 08:09:10 GMT") == datetime(2024, 5, 7, 8, 9, 10, tzinfo=UTC)
    assert parse_timestamp("2024-05-07T08:09:10") == botocore_parse_timestamp("2024-05-07T08:09:10")


def test_an_offset_keeps_its_wall_time() -> None:
    moment = parse_timestamp("2024-05-07T08:09:10.25-05:30")
    assert (moment.hour, moment.microsecond, moment.utcoffset()) == (8, 250000, -timedelta(hours=5, minutes=30))


def test_clients_of_the_auditor_session_use_it_and_default_clients_do_not() -> None:
    session = auditor_session(region_name="us-east-1")
    factory = session._session.get_component("response_parser_factory")
    assert factory._defaults == {"timestamp_parser": parse_timestamp}
    default = botocore.session.get_session().get_component("response_parser_factory")
    assert "timestamp_parser" not in default._defaults


def test_a_role_read_through_an_auditor_client_has_the_same_create_date() -> None:
    """The whole path: IAM's XML, botocore's query parser, our timestamp parser (Stubber, no sockets)."""
    trust = quote(json.dumps({"Version": "2012-10-17", "Statement": []}))
    body = (
        '<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult><Role>'
        "<Path>/</Path><RoleName>R</RoleName><RoleId>AROAEXAMPLEEXAMPLE1</RoleId>"
        "<Arn>arn:aws:iam::111122223333:role/R</Arn><CreateDate>2019-08-07T06:05:04.321Z</CreateDate>"
        f"<AssumeRolePolicyDocument>{trust}</AssumeRolePolicyDocument>"
        "</Role></GetRoleResult></GetRoleResponse>"
    ).encode()
    dates = []
    for client in (
        auditor_session(region_name="us-east-1").client(
            "iam", config=client_config(), aws_access_key_id="x", aws_secret_access_key="x"
        ),
        boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"),
    ):
        dates.append(parsed_create_date(client, body))
    ours, botocores = dates
    assert ours == botocores == datetime(2019, 8, 7, 6, 5, 4, 321000, tzinfo=UTC)
    assert ours.tzinfo is UTC


def parsed_create_date(client: Any, body: bytes) -> datetime:
    """Parse a raw response body with the client's own parser factory (as its endpoint would)."""
    operation = client.meta.service_model.operation_model("GetRole")
    factory = client._endpoint._response_parser_factory
    parser = factory.create_parser(client.meta.service_model.resolved_protocol)
    parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    value: datetime = parsed["Role"]["CreateDate"]
    return value


def test_stubbed_responses_still_pass_through(iam_stubbed: Any) -> None:
    assert iam_stubbed.get_role(RoleName="R")["Role"]["RoleName"] == "R"


@pytest.fixture
def iam_stubbed() -> Any:
    client = auditor_session(region_name="us-east-1").client(
        "iam", config=client_config(), aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    stubber.add_response(
        "get_role",
        {
            "Role": {
                "Path": "/",
                "RoleName": "R",
                "RoleId": "AROAEXAMPLEEXAMPLE1",
                "Arn": "arn:aws:iam::111122223333:role/R",
                "CreateDate": datetime(2019, 8, 7, tzinfo=UTC),
            }
        },
    )
    with stubber:
        yield client


def test_the_command_line_and_lambda_clients_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from veeam_role_auditor.aws import Clients

    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    command_line = Clients(region="us-east-1", profile=None, endpoint_url=None)("iam")
    lambda_client = Clients.for_lambda()("iam")
    for client in (command_line, lambda_client):
        assert client._endpoint._response_parser_factory._defaults == {"timestamp_parser": parse_timestamp}
