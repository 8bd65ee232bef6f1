"""Integration tests run every AWS call against moto (in-process ``mock_aws``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from veeam_role_auditor.dev.sample_account import SampleAccount, create_sample_account
from veeam_role_auditor.inventory import Inventory, client_config

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can ever reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def iam(aws: None) -> Any:
    return boto3.client("iam", region_name=REGION, config=client_config())


@pytest.fixture
def sts(aws: None) -> Any:
    return boto3.client("sts", region_name=REGION, config=client_config())


@pytest.fixture
def account(sts: Any) -> str:
    return str(sts.get_caller_identity()["Account"])


@pytest.fixture
def sample(iam: Any, account: str) -> SampleAccount:
    return create_sample_account(iam, account)


@pytest.fixture
def inventory(iam: Any, sts: Any) -> Inventory:
    return Inventory(iam, sts)


@pytest.fixture
def dynamodb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION, config=client_config())


@pytest.fixture
def securityhub(aws: None) -> Any:
    client = boto3.client("securityhub", region_name=REGION, config=client_config())
    client.enable_security_hub()
    return client


@pytest.fixture
def sns(aws: None) -> Any:
    return boto3.client("sns", region_name=REGION, config=client_config())


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION, config=client_config())
