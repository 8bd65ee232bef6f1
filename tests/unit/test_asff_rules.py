"""The local ASFF / BatchImportFindings rules: a complete valid finding, then each rule's exact message."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from veeam_role_auditor.dev.asff_validation import validate_batch, validate_finding
from veeam_role_auditor.publish.asff_rules import (
    FIELD_LIMITS,
    MAX_FINDING_BYTES,
    MAX_FINDINGS_PER_CALL,
    MAX_REQUEST_BYTES,
)

ACCOUNT = "111122223333"
PRODUCT_ARN = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/veeam/VeeamBackupRole"
APPLIANCE_ARN = f"arn:aws:iam::{ACCOUNT}:role/veeam/Impersonation"
TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": APPLIANCE_ARN}, "Action": "sts:AssumeRole"}],
    }
)
TYPES = [
    "Software and Configuration Checks/AWS Security Best Practices/Veeam Backup Role Trust",
    "Effects/Denial of Service",
]
SEVERITIES = "INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL"
NAMESPACES = "Software and Configuration Checks, TTPs, Effects, Unusual Behaviors, Sensitive Data Identifications"
BAD_TIMESTAMP = "is not a timestamp in a documented format (e.g. 2026-11-28T12:00:00.000Z)"

_VALID: dict[str, Any] = {
    "SchemaVersion": "2018-10-08",
    "Id": f"{ROLE_ARN}/VRA-TRUST-1",
    "ProductArn": PRODUCT_ARN,
    "GeneratorId": "VRA-TRUST-1",
    "AwsAccountId": ACCOUNT,
    "Types": TYPES,
    "CreatedAt": "2026-11-28T12:00:00.000Z",
    "UpdatedAt": "2026-11-28T12:00:00.000Z",
    "FirstObservedAt": "2026-11-28T11:59:00Z",
    "LastObservedAt": "2026-11-28T12:00:00.000Z",
    "Severity": {"Label": "HIGH", "Original": "HIGH"},
    "Title": "The Veeam appliance can assume the role: VeeamBackupRole",
    "Description": "The trust policy of VeeamBackupRole does not let the Veeam appliance assume it.",
    "ProductName": "Veeam Role Auditor",
    "CompanyName": "veeam-role-auditor",
    "Remediation": {
        "Recommendation": {
            "Text": "Add the Veeam statement to the trust policy of VeeamBackupRole.",
            "Url": "https://helpcenter.veeam.com/docs/vbaws/guide/iam_roles.html",
        }
    },
    "ProductFields": {"veeam-role-auditor/check": "VRA-TRUST-1", "veeam-role-auditor/appliance": APPLIANCE_ARN},
    "Resources": [
        {
            "Type": "AwsIamRole",
            "Id": ROLE_ARN,
            "Partition": "aws",
            "Region": "us-east-1",
            "Details": {
                "AwsIamRole": {
                    "AssumeRolePolicyDocument": TRUST_POLICY,
                    "RoleName": "VeeamBackupRole",
                    "RoleId": "AROAEXAMPLEROLEID0001",
                    "Path": "/veeam/",
                    "CreateDate": "2025-01-15T09:30:00Z",
                    "MaxSessionDuration": 3600,
                }
            },
        }
    ],
    "Compliance": {
        "Status": "FAILED",
        "RelatedRequirements": ["Veeam Backup for AWS IAM roles"],
        "StatusReasons": [{"ReasonCode": "TRUST_MISSING", "Description": "No statement lets the appliance in."}],
    },
    "FindingProviderFields": {"Severity": {"Label": "HIGH", "Original": "HIGH"}, "Types": TYPES},
    "RecordState": "ACTIVE",
    "Workflow": {"Status": "NEW"},
}


def valid() -> dict[str, Any]:
    return copy.deepcopy(_VALID)


def with_(path: str, value: object) -> dict[str, Any]:
    """The valid finding with the attribute at a dotted path (integers index arrays) replaced."""
    finding = valid()
    *parents, last = path.split(".")
    node: Any = finding
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return finding


def without(name: str) -> dict[str, Any]:
    finding = valid()
    del finding[name]
    return finding


def role_detail(name: str, value: object) -> dict[str, Any]:
    return with_(f"Resources.0.Details.AwsIamRole.{name}", value)


# --- a complete valid finding ---------------------------------------------------------------------------


def test_a_complete_aws_iam_role_finding_is_valid() -> None:
    assert validate_finding(valid()) == []
    assert validate_batch([valid()]) == []


def test_the_documented_aws_service_product_arn_form_is_valid() -> None:
    assert validate_finding(with_("ProductArn", "arn:aws:securityhub:us-west-2::product/aws/guardduty")) == []


def test_severity_may_be_given_as_normalized_only() -> None:
    assert validate_finding(with_("Severity", {"Normalized": 70})) == []


def test_public_constants() -> None:
    assert (MAX_FINDINGS_PER_CALL, MAX_FINDING_BYTES, MAX_REQUEST_BYTES) == (100, 245_760, 6_291_456)
    assert FIELD_LIMITS == {
        "Id": 512,
        "GeneratorId": 512,
        "ProductArn": 2048,
        "ProductName": 128,
        "CompanyName": 128,
        "Title": 256,
        "Description": 1024,
        "ProductFields.key": 128,
        "ProductFields.value": 2048,
        "Severity.Original": 64,
        "FindingProviderFields.Severity.Original": 64,
        "Remediation.Recommendation.Text": 512,
        "Resources.Type": 256,
        "Resources.Region": 16,
        "Resources.Details.AwsIamRole.AssumeRolePolicyDocument": 131072,
        "Resources.Tags.key": 128,
        "Resources.Tags.value": 256,
    }


# --- required attributes and their types ----------------------------------------------------------------

REQUIRED = [
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_each_required_attribute_is_reported_when_missing(name: str) -> None:
    assert validate_finding(without(name)) == [f"{name}: required attribute is missing"]


def test_every_missing_attribute_is_reported_in_order() -> None:
    assert validate_finding({}) == [f"{name}: required attribute is missing" for name in REQUIRED]


def test_a_finding_that_is_not_an_object() -> None:
    assert validate_finding(cast(Any, ["not", "a", "finding"])) == ["finding: must be an object, got array"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("Title", 42, "Title: must be a string, got integer"),
        ("Description", None, "Description: must be a string, got null"),
        ("Id", "   ", "Id: must contain a non-whitespace character"),
        ("GeneratorId", "", "GeneratorId: must contain a non-whitespace character"),
        ("Types", "TTPs", "Types: must be an array, got string"),
        ("Severity", "HIGH", "Severity: must be an object, got string"),
        ("Resources", {"Type": "AwsIamRole"}, "Resources: must be an array, got object"),
        ("CreatedAt", 1764331200, "CreatedAt: must be a string, got integer"),
        ("ProductFields", ["a"], "ProductFields: must be an object, got array"),
        ("Workflow", "NEW", "Workflow: must be an object, got string"),
    ],
)
def test_wrong_types(path: str, value: object, expected: str) -> None:
    assert validate_finding(with_(path, value)) == [expected]


def test_schema_version_must_be_2018_10_08() -> None:
    assert validate_finding(with_("SchemaVersion", "2019-01-01")) == [
        "SchemaVersion: must be '2018-10-08', got '2019-01-01'"
    ]


def test_account_id_must_be_twelve_digits() -> None:
    assert validate_finding(with_("AwsAccountId", "11112222333")) == [
        "AwsAccountId: must be 12 digits, got '11112222333'"
    ]


def test_account_id_must_match_the_default_product_arn() -> None:
    assert validate_finding(with_("AwsAccountId", "444455556666")) == [
        "AwsAccountId: '444455556666' differs from the account '111122223333' of the default ProductArn,"
        " which BatchImportFindings accepts only from the finding's own account"
    ]


# --- ProductArn -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/default",
        f"arn:aws:securityhub::{ACCOUNT}:product/{ACCOUNT}/default",
        f"arn:aws:security-hub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default",
        f"arn:aws-iso:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default",
        f"arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default",
    ],
)
def test_product_arn_must_have_the_documented_format(arn: str) -> None:
    assert validate_finding(with_("ProductArn", arn)) == [
        f"ProductArn: {arn!r} does not match"
        " arn:<partition>:securityhub:<region>:<account-id>:product/<company-id>/<product-id>"
    ]


def test_a_private_product_arn_names_its_own_account_as_company() -> None:
    arn = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/444455556666/default"
    assert validate_finding(with_("ProductArn", arn)) == [
        "ProductArn: company-id '444455556666' of a private product must be the account ID '111122223333'"
    ]


# --- lengths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("Id", 512),
        ("GeneratorId", 512),
        ("Title", 256),
        ("Description", 1024),
        ("ProductName", 128),
        ("CompanyName", 128),
        ("Remediation.Recommendation.Text", 512),
        ("Resources.0.Type", 256),
        ("Resources.0.Region", 16),
        ("Severity.Original", 64),
        ("FindingProviderFields.Severity.Original", 64),
    ],
)
def test_length_limits_accept_the_maximum_and_reject_one_more(path: str, limit: int) -> None:
    message_path = path.replace(".0.", "[0].")
    assert validate_finding(with_(path, "x" * limit)) == []
    assert validate_finding(with_(path, "x" * (limit + 1))) == [
        f"{message_path}: length {limit + 1} exceeds the maximum of {limit}"
    ]


def test_an_over_long_title_and_description_are_both_reported() -> None:
    finding = with_("Title", "T" * 300)
    finding["Description"] = "D" * 2000
    assert validate_finding(finding) == [
        "Title: length 300 exceeds the maximum of 256",
        "Description: length 2000 exceeds the maximum of 1024",
    ]


def test_product_arn_longer_than_2048_is_reported_once() -> None:
    arn = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/" + "p" * 2048
    assert validate_finding(with_("ProductArn", arn)) == [
        f"ProductArn: length {len(arn)} exceeds the maximum of 2048",
    ]


# --- enumerations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("Severity.Label", "SEVERE", f"Severity.Label: 'SEVERE' is not one of {SEVERITIES}"),
        (
            "FindingProviderFields.Severity.Label",
            "high",
            f"FindingProviderFields.Severity.Label: 'high' is not one of {SEVERITIES}",
        ),
        ("Compliance.Status", "PASS", "Compliance.Status: 'PASS' is not one of PASSED, WARNING, FAILED, NOT_AVAILABLE"),
        ("RecordState", "DELETED", "RecordState: 'DELETED' is not one of ACTIVE, ARCHIVED"),
        ("Workflow.Status", "OPEN", "Workflow.Status: 'OPEN' is not one of NEW, NOTIFIED, RESOLVED, SUPPRESSED"),
        ("Resources.0.Partition", "aws-iso", "Resources[0].Partition: 'aws-iso' is not one of aws, aws-cn, aws-us-gov"),
        ("RecordState", 1, "RecordState: must be a string, got integer"),
    ],
)
def test_bad_enum_values(path: str, value: object, expected: str) -> None:
    assert validate_finding(with_(path, value)) == [expected]


@pytest.mark.parametrize("label", ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"])
def test_every_documented_severity_label_is_accepted(label: str) -> None:
    assert validate_finding(with_("Severity.Label", label)) == []


@pytest.mark.parametrize("status", ["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"])
def test_every_documented_compliance_status_is_accepted(status: str) -> None:
    assert validate_finding(with_("Compliance.Status", status)) == []


def test_severity_needs_label_or_normalized() -> None:
    assert validate_finding(with_("Severity", {"Original": "8.3"})) == ["Severity: must have Label or Normalized"]


@pytest.mark.parametrize(
    ("normalized", "expected"),
    [
        (101, "Severity.Normalized: 101 is outside 0-100"),
        (-1, "Severity.Normalized: -1 is outside 0-100"),
        (40.5, "Severity.Normalized: must be an integer, got number"),
        (True, "Severity.Normalized: must be an integer, got boolean"),
    ],
)
def test_severity_normalized_is_an_integer_from_0_to_100(normalized: object, expected: str) -> None:
    assert validate_finding(with_("Severity", {"Normalized": normalized})) == [expected]


# --- Types taxonomy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "finding_type",
    [
        "TTPs",
        "TTPs/Defense Evasion",
        "TTPs/Defense Evasion/CloudTrailStopped",
        "Unusual Behaviors/IP address",
        "Sensitive Data Identifications/Passwords/Any classifier",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ],
)
def test_documented_types_and_partial_paths_are_accepted(finding_type: str) -> None:
    assert validate_finding(with_("Types", [finding_type])) == []


@pytest.mark.parametrize(
    ("finding_type", "expected"),
    [
        (
            "Software and Configuration Check/Vulnerabilities/CVE",
            f"Types[0]: namespace 'Software and Configuration Check' is not one of {NAMESPACES}",
        ),
        ("Effects/Data Leak", "Types[0]: category 'Data Leak' is not defined for namespace 'Effects'"),
        ("TTPs/Exfiltration/S3", "Types[0]: category 'Exfiltration' is not defined for namespace 'TTPs'"),
        (
            "TTPs/Discovery/Scan/Deep",
            "Types[0]: 'TTPs/Discovery/Scan/Deep' has more than the 3 levels namespace/category/classifier",
        ),
        ("TTPs//CloudTrailStopped", "Types[0]: 'TTPs//CloudTrailStopped' has an empty level"),
        ("Effects/", "Types[0]: 'Effects/' has an empty level"),
        ("ttps/Discovery", f"Types[0]: namespace 'ttps' is not one of {NAMESPACES}"),
    ],
)
def test_types_outside_the_taxonomy(finding_type: str, expected: str) -> None:
    assert validate_finding(with_("Types", [finding_type])) == [expected]


def test_finding_provider_field_types_follow_the_same_taxonomy() -> None:
    assert validate_finding(with_("FindingProviderFields.Types", [TYPES[0], "Effects/Data Leak"])) == [
        "FindingProviderFields.Types[1]: category 'Data Leak' is not defined for namespace 'Effects'"
    ]


def test_at_most_fifty_types() -> None:
    assert validate_finding(with_("Types", ["Effects/Data Exposure"] * 50)) == []
    assert validate_finding(with_("Types", ["Effects/Data Exposure"] * 51)) == [
        "Types: 51 types exceed the maximum of 50"
    ]


def test_at_least_one_type() -> None:
    assert validate_finding(with_("Types", [])) == ["Types: must contain at least 1 type"]


def test_a_type_entry_must_be_a_string() -> None:
    assert validate_finding(with_("Types", [TYPES[0], 7])) == ["Types[1]: must be a string, got integer"]


# --- timestamps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2019-01-31T23:00:00Z",
        "2019-01-31T23:00:00.123456789Z",
        "2024-01-04T15:25:10+17:59",
        "2024-01-04T15:25:10-1759",
        "2024-01-04T15:25:10.123456789+17:59",
        "2024-01-04T15:25:10+02",
        "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00Z",
    ],
)
def test_documented_timestamp_formats_are_accepted(timestamp: str) -> None:
    assert validate_finding(with_("CreatedAt", timestamp)) == []


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-28 12:00:00Z",
        "2026-11-28T12:00:00",
        "2026-11-28",
        "2026-11-28T12:00:00.1234567890Z",
        "2026-11-28T12:00:00.Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T12:00:60Z",
        "2026-13-01T12:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-11-28t12:00:00z",
        "2026-11-28T12:00:00+1",
        "28/11/2026 12:00",
    ],
)
def test_undocumented_timestamp_formats_are_rejected(timestamp: str) -> None:
    assert validate_finding(with_("FirstObservedAt", timestamp)) == [f"FirstObservedAt: {timestamp!r} {BAD_TIMESTAMP}"]


def test_timestamp_offset_is_bounded_by_18_hours() -> None:
    assert validate_finding(with_("FirstObservedAt", "2026-11-28T12:00:00+18:00")) == []
    assert validate_finding(with_("FirstObservedAt", "2026-11-28T12:00:00+18:01")) == [
        "FirstObservedAt: the offset of '2026-11-28T12:00:00+18:01' is outside +/-18:00"
    ]


def test_first_observed_after_last_observed() -> None:
    finding = with_("FirstObservedAt", "2026-11-28T12:00:01Z")
    assert validate_finding(finding) == [
        "LastObservedAt: '2026-11-28T12:00:00.000Z' is earlier than FirstObservedAt '2026-11-28T12:00:01Z'"
    ]


def test_observation_order_compares_instants_not_text() -> None:
    # 13:30 at +02:00 is 11:30 UTC, before LastObservedAt (12:00 UTC) although it sorts after it as text.
    assert validate_finding(with_("FirstObservedAt", "2026-11-28T13:30:00+02:00")) == []
    assert validate_finding(with_("FirstObservedAt", "2026-11-28T12:00:00.000000001Z")) == [
        "LastObservedAt: '2026-11-28T12:00:00.000Z' is earlier than FirstObservedAt '2026-11-28T12:00:00.000000001Z'"
    ]


def test_updated_before_created() -> None:
    assert validate_finding(with_("UpdatedAt", "2026-11-28T11:59:59.999Z")) == [
        "UpdatedAt: '2026-11-28T11:59:59.999Z' is earlier than CreatedAt '2026-11-28T12:00:00.000Z'"
    ]


def test_a_bad_timestamp_is_not_also_reported_as_out_of_order() -> None:
    assert validate_finding(with_("UpdatedAt", "yesterday")) == [f"UpdatedAt: 'yesterday' {BAD_TIMESTAMP}"]


# --- ProductFields --------------------------------------------------------------------------------------


def test_at_most_fifty_product_fields() -> None:
    assert validate_finding(with_("ProductFields", {f"k{n}": "v" for n in range(50)})) == []
    assert validate_finding(with_("ProductFields", {f"k{n}": "v" for n in range(51)})) == [
        "ProductFields: 51 pairs exceed the maximum of 50"
    ]


def test_product_field_key_and_value_lengths() -> None:
    long_key = "k" * 129
    assert validate_finding(with_("ProductFields", {"k" * 128: "v" * 2048})) == []
    assert validate_finding(with_("ProductFields", {long_key: "v", "value": "v" * 2049})) == [
        f"ProductFields[{long_key!r}]: key length 129 exceeds the maximum of 128",
        "ProductFields['value']: length 2049 exceeds the maximum of 2048",
    ]


def test_product_field_values_are_strings() -> None:
    assert validate_finding(with_("ProductFields", {"count": 3})) == [
        "ProductFields['count']: must be a string, got integer"
    ]


# --- Resources ------------------------------------------------------------------------------------------


def test_resources_must_not_be_empty() -> None:
    assert validate_finding(with_("Resources", [])) == ["Resources: must contain at least 1 resource"]


def test_at_most_thirty_two_resources() -> None:
    resource = valid()["Resources"][0]
    assert validate_finding(with_("Resources", [resource] * 32)) == []
    assert validate_finding(with_("Resources", [resource] * 33)) == ["Resources: 33 resources exceed the maximum of 32"]


def test_each_resource_needs_type_and_id() -> None:
    assert validate_finding(with_("Resources", [{"Partition": "aws"}, "role"])) == [
        "Resources[0].Type: required attribute is missing",
        "Resources[0].Id: required attribute is missing",
        "Resources[1]: must be an object, got string",
    ]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "AssumeRolePolicyDocument",
            {"Version": "2012-10-17"},
            "AssumeRolePolicyDocument: must be a string, got object",
        ),
        ("AssumeRolePolicyDocument", "", "AssumeRolePolicyDocument: must contain a non-whitespace character"),
        ("RoleName", 7, "RoleName: must be a string, got integer"),
        ("RoleId", " ", "RoleId: must contain a non-whitespace character"),
        ("Path", None, "Path: must be a string, got null"),
        ("CreateDate", "2025-01-15", f"CreateDate: '2025-01-15' {BAD_TIMESTAMP}"),
        ("CreateDate", datetime(2025, 1, 15, tzinfo=UTC), "CreateDate: must be a string, got datetime"),
        ("MaxSessionDuration", "3600", "MaxSessionDuration: must be an integer, got string"),
    ],
)
def test_aws_iam_role_details_types(name: str, value: object, expected: str) -> None:
    assert validate_finding(role_detail(name, value)) == [f"Resources[0].Details.AwsIamRole.{expected}"]


def test_assume_role_policy_document_length() -> None:
    assert validate_finding(role_detail("AssumeRolePolicyDocument", "x" * 131072)) == []
    assert validate_finding(role_detail("AssumeRolePolicyDocument", "x" * 131073)) == [
        "Resources[0].Details.AwsIamRole.AssumeRolePolicyDocument: length 131073 exceeds the maximum of 131072"
    ]


def test_assume_role_policy_document_character_set() -> None:
    assert validate_finding(role_detail("AssumeRolePolicyDocument", '{"Sid": "caf\u00e9"}\n\t')) == []
    assert validate_finding(role_detail("AssumeRolePolicyDocument", '{"Sid": "\u0100"}')) == [
        "Resources[0].Details.AwsIamRole.AssumeRolePolicyDocument: character '\u0100' at position 9"
        " is outside tab, LF, CR, U+0020-U+007E and U+00A1-U+00FF"
    ]


def test_resource_tags_within_the_documented_character_set_and_lengths_are_valid() -> None:
    tags = {"veeam:backup-role": "true", "Team Name": "Backup_Ops/eu-west-1 +=.@:", "k" * 128: "v" * 256}
    assert validate_finding(with_("Resources.0.Tags", tags)) == []


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"team": "\u00c9quipe"}, "Resources[0].Tags['team']: character '\u00c9' is outside ASCII letters, digits,"),
        ({"\u00e9quipe": "x"}, "Resources[0].Tags: key '\u00e9quipe': character '\u00e9' is outside ASCII letters,"),
        ({"team": "a\u00a0b"}, "Resources[0].Tags['team']: character '\\xa0' is outside ASCII letters, digits,"),
        ({"team": ""}, "Resources[0].Tags['team']: must contain a non-whitespace character"),
        ({"team": "  "}, "Resources[0].Tags['team']: must contain a non-whitespace character"),
        ({"team": "v" * 257}, "Resources[0].Tags['team']: length 257 exceeds the maximum of 256"),
        ({"k" * 129: "v"}, f"Resources[0].Tags: key {'k' * 129!r}: length 129 exceeds the maximum of 128"),
        ({"team": 7}, "Resources[0].Tags['team']: must be a string, got integer"),
    ],
)
def test_resource_tags_outside_what_security_hub_accepts(tags: dict[str, Any], expected: str) -> None:
    (error,) = validate_finding(with_("Resources.0.Tags", tags))
    assert error.startswith(expected)


def test_at_most_fifty_resource_tags() -> None:
    assert validate_finding(with_("Resources.0.Tags", {f"k{i}": "v" for i in range(50)})) == []
    assert validate_finding(with_("Resources.0.Tags", {f"k{i}": "v" for i in range(51)})) == [
        "Resources[0].Tags: 51 tags exceed the maximum of 50"
    ]


def test_iam_role_details_are_only_checked_for_aws_iam_role_resources() -> None:
    finding = with_("Resources.0.Type", "Other")
    finding["Resources"][0]["Details"]["AwsIamRole"]["RoleName"] = 7
    assert validate_finding(finding) == []


# --- Remediation and Compliance -------------------------------------------------------------------------


def test_a_recommendation_needs_text_or_url() -> None:
    assert validate_finding(with_("Remediation", {"Recommendation": {}})) == [
        "Remediation.Recommendation: must have Text or Url"
    ]
    assert validate_finding(with_("Remediation", {"Recommendation": {"Url": "https://example.com/fix"}})) == []


def test_compliance_status_reasons_need_a_reason_code() -> None:
    assert validate_finding(with_("Compliance.StatusReasons", [{"Description": "no code"}])) == [
        "Compliance.StatusReasons[0].ReasonCode: required attribute is missing"
    ]


def test_at_most_thirty_two_related_requirements() -> None:
    assert validate_finding(with_("Compliance.RelatedRequirements", ["R"] * 33)) == [
        "Compliance.RelatedRequirements: 33 requirements exceed the maximum of 32"
    ]


# --- batches --------------------------------------------------------------------------------------------


def numbered(count: int) -> list[dict[str, Any]]:
    findings = []
    for n in range(count):
        finding = valid()
        finding["Id"] = f"{ROLE_ARN}/VRA-TRUST-1/{n}"
        findings.append(finding)
    return findings


def test_a_full_batch_of_one_hundred_is_valid() -> None:
    assert validate_batch(numbered(100)) == []


def test_a_batch_of_one_hundred_and_one() -> None:
    assert validate_batch(numbered(101)) == ["batch: 101 findings exceed the maximum of 100 per call"]


def test_an_empty_batch() -> None:
    assert validate_batch([]) == ["batch: must contain at least 1 finding"]


def test_duplicate_ids_in_a_batch() -> None:
    first, second, third = numbered(3)
    third["Id"] = first["Id"]
    assert validate_batch([first, second, third]) == [f"findings[2]: Id {first['Id']!r} duplicates findings[0]"]


def test_per_finding_errors_carry_their_index() -> None:
    first, second = numbered(2)
    second["Title"] = "T" * 257
    assert validate_batch([first, second]) == ["findings[1]: Title: length 257 exceeds the maximum of 256"]


def sized(total_bytes: int, n: int = 0) -> dict[str, Any]:
    """A valid finding whose JSON encoding is exactly ``total_bytes`` long (padding the resource Id,
    which has no documented maximum)."""
    finding = numbered(n + 1)[n]
    padding = total_bytes - len(json.dumps(finding).encode("utf-8"))
    finding["Resources"][0]["Id"] += "x" * padding
    assert len(json.dumps(finding).encode("utf-8")) == total_bytes
    return finding


def test_a_finding_of_exactly_240_kb_is_accepted() -> None:
    assert validate_batch([sized(MAX_FINDING_BYTES)]) == []


def test_a_finding_over_240_kb() -> None:
    assert validate_batch([sized(MAX_FINDING_BYTES + 1)]) == [
        "findings[0]: 245761 bytes JSON-encoded, over the maximum of 245760"
    ]


def test_a_request_over_6_mb() -> None:
    findings = [sized(240_000, n) for n in range(27)]
    request_bytes = len(json.dumps({"Findings": findings}).encode("utf-8"))
    assert request_bytes > MAX_REQUEST_BYTES
    assert validate_batch(findings) == [
        f"batch: request is {request_bytes} bytes JSON-encoded, over the maximum of 6291456"
    ]


def test_size_is_measured_as_botocore_sends_it_with_non_ascii_escaped() -> None:
    # "\u00e9" is sent as the six bytes \u00e9, so 41,000 of them make a finding over 240 KB.
    finding = with_("ProductFields", {f"note{n}": "\u00e9" * 1000 for n in range(41)})
    assert validate_finding(finding) == []
    size = len(json.dumps(finding).encode("utf-8"))
    assert validate_batch([finding]) == [f"findings[0]: {size} bytes JSON-encoded, over the maximum of 245760"]


def test_a_finding_that_cannot_be_json_encoded() -> None:
    finding = with_("ProductFields", {"seen": datetime(2026, 11, 28, tzinfo=UTC)})
    assert validate_batch([finding]) == [
        "batch: request is not JSON-serializable",
        "findings[0]: ProductFields['seen']: must be a string, got datetime",
        "findings[0]: not JSON-serializable",
    ]
