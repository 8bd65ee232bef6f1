"""GetAccountAuthorizationDetails paging with real-shaped responses (botocore Stubber, no sockets).

moto returns every role in one page whatever MaxItems says, so paging is pinned down here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from veeam_role_auditor.inventory import PAGE_SIZE, Inventory, client_config

APPLIANCE = "arn:aws:iam::111122223333:role/veeam/VeeamImpersonation"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": APPLIANCE}, "Action": "sts:AssumeRole"}],
}


def role_detail(number: int) -> dict[str, Any]:
    return {
        "Path": "/",
        "RoleName": f"Role{number}",
        "RoleId": f"AROAEXAMPLE{number:010d}",
        "Arn": f"arn:aws:iam::111122223333:role/Role{number}",
        "CreateDate": datetime(2026, 1, 1, tzinfo=UTC),
        # The IAM API returns policy documents URL-encoded; botocore decodes them.
        "AssumeRolePolicyDocument": quote(json.dumps(TRUST)),
        "InstanceProfileList": [],
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        "Tags": [{"Key": "veeam:backup-role", "Value": "true"}] if number % 2 else [],
        "RoleLastUsed": {},
    }


@pytest.fixture
def iam() -> Any:
    return boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=client_config()
    )


def test_every_page_is_read_with_the_largest_page_size_and_the_marker(iam: Any) -> None:
    stubber = Stubber(iam)
    pages = [list(range(0, 1000)), list(range(1000, 2000)), list(range(2000, 2500))]
    marker = None
    for index, numbers in enumerate(pages):
        last = index == len(pages) - 1
        expected = {"Filter": ["Role"], "MaxItems": PAGE_SIZE} | ({"Marker": marker} if marker else {})
        response: dict[str, Any] = {"RoleDetailList": [role_detail(n) for n in numbers], "IsTruncated": not last}
        if not last:
            marker = f"marker-{index}"
            response["Marker"] = marker
        stubber.add_response("get_account_authorization_details", response, expected)
    with stubber:
        roles = [role for page in Inventory(iam, sts=None).role_pages() for role in page]
    stubber.assert_no_pending_responses()
    assert len(roles) == 2500
    assert [role.name for role in roles[:2]] == ["Role0", "Role1"]
    assert roles[1].tags == {"veeam:backup-role": "true"}
    assert roles[0].trust_policy == TRUST  # decoded from the percent-encoded API value
    assert PAGE_SIZE == 1000


def test_a_failing_page_raises_instead_of_returning_a_partial_inventory(iam: Any) -> None:
    stubber = Stubber(iam)
    stubber.add_response(
        "get_account_authorization_details",
        {"RoleDetailList": [role_detail(1)], "IsTruncated": True, "Marker": "m"},
        {"Filter": ["Role"], "MaxItems": PAGE_SIZE},
    )
    stubber.add_client_error(
        "get_account_authorization_details", service_error_code="ServiceUnavailable", http_status_code=503
    )
    with stubber, pytest.raises(ClientError, match="ServiceUnavailable"):
        [role for page in Inventory(iam, sts=None).role_pages() for role in page]
