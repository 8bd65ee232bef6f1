"""Findings in the AWS Security Finding Format, for the account's own default product.

Field limits come from :mod:`.asff_rules` (the documented ASFF constraints); text longer than a limit
is shortened with an ellipsis rather than rejected, so no finding is lost to a long policy or name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import checks
from ..model import Finding, iso
from .asff_rules import FIELD_LIMITS, SCHEMA_VERSION

PRODUCT_NAME = "veeam-role-auditor"
FIELD_PREFIX = "veeam-role-auditor/"
# "Tags" of a Resource (ASFF): up to 50 tags, keys up to 128 and values up to 256 characters.
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own default product, which accepts findings without any integration set-up."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def generator_id(check: str) -> str:
    return f"{PRODUCT_NAME}/{check}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_asff(
    finding: Finding,
    *,
    region: str,
    created_at: str,
    first_observed_at: str,
    updated_at: str,
    record_state: str = "ACTIVE",
) -> dict[str, Any]:
    """One Security Hub finding. All timestamps are ISO 8601 strings (see :func:`.state.iso`)."""
    check = checks.CATALOGUE[finding.check]
    details = "; ".join(finding.details)
    description = f"{finding.description} {details}".strip()
    remediation = finding.remediation
    if finding.statement_to_add is not None:
        remediation += " Statement to add: " + json.dumps(finding.statement_to_add, separators=(",", ":"))
    product_fields = {
        f"{FIELD_PREFIX}CheckCode": finding.check,
        f"{FIELD_PREFIX}ApplianceRoleArns": ",".join(finding.appliance_role_arns),
        f"{FIELD_PREFIX}Status": finding.status,
    }
    if finding.statement_to_add is not None:
        product_fields[f"{FIELD_PREFIX}StatementToAdd"] = json.dumps(finding.statement_to_add)
    if finding.corrected_policy is not None:
        corrected = json.dumps(finding.corrected_policy, separators=(",", ":"))
        # A cut JSON document would be wrong; when too long, say where to get it instead.
        product_fields[f"{FIELD_PREFIX}CorrectedTrustPolicy"] = (
            corrected
            if len(corrected) <= FIELD_LIMITS["ProductFields.value"]
            else "too long for this field: run veeam-role-auditor fix --role-name "
            + finding.role_arn.rsplit("/", 1)[-1]
        )
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding.id,
        "ProductArn": product_arn(finding.partition, region, finding.account),
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": generator_id(finding.check),
        "AwsAccountId": finding.account,
        "Types": list(check.asff_types),
        "CreatedAt": created_at,
        "UpdatedAt": updated_at,
        "FirstObservedAt": first_observed_at,
        "LastObservedAt": updated_at,
        "Severity": {"Label": finding.severity, "Original": finding.severity},
        "FindingProviderFields": {
            "Severity": {"Label": finding.severity, "Original": finding.severity},
            "Types": list(check.asff_types),
        },
        "Title": shorten(finding.title, FIELD_LIMITS["Title"]),
        "Description": shorten(description, FIELD_LIMITS["Description"]),
        "Remediation": {
            "Recommendation": {
                "Text": shorten(remediation, FIELD_LIMITS["Remediation.Recommendation.Text"]),
                "Url": checks.VEEAM_IAM_DOCS,
            }
        },
        "ProductFields": {
            key: shorten(value, FIELD_LIMITS["ProductFields.value"]) for key, value in product_fields.items()
        },
        "Compliance": {"Status": finding.status},
        "RecordState": record_state,
        "Resources": [_resource(finding, region)],
    }


def archived_asff(
    *,
    finding_id: str,
    check: str,
    role_arn: str,
    account: str,
    status: str,
    severity: str,
    region: str,
    created_at: str,
    first_observed_at: str,
    updated_at: str,
) -> dict[str, Any]:
    """The last state of a finding whose role is gone or out of scope, with RecordState ARCHIVED."""
    catalogue = checks.CATALOGUE[check]
    partition = role_arn.split(":")[1]
    name = role_arn.rsplit("/", 1)[-1]
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id,
        "ProductArn": product_arn(partition, region, account),
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": generator_id(check),
        "AwsAccountId": account,
        "Types": list(catalogue.asff_types),
        "CreatedAt": created_at,
        "UpdatedAt": updated_at,
        "FirstObservedAt": first_observed_at,
        "LastObservedAt": updated_at,
        "Severity": {"Label": severity, "Original": severity},
        "FindingProviderFields": {
            "Severity": {"Label": severity, "Original": severity},
            "Types": list(catalogue.asff_types),
        },
        "Title": shorten(f"{catalogue.title}: {name}", FIELD_LIMITS["Title"]),
        "Description": shorten(
            f"{name} was deleted, lost the Veeam tag or left the audited scope; this finding is archived.",
            FIELD_LIMITS["Description"],
        ),
        "ProductFields": {f"{FIELD_PREFIX}CheckCode": check, f"{FIELD_PREFIX}Status": status},
        "Compliance": {"Status": status},
        "RecordState": "ARCHIVED",
        "Resources": [{"Type": "AwsIamRole", "Id": role_arn, "Partition": partition, "Region": region}],
    }


def _resource(finding: Finding, region: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "Type": "AwsIamRole",
        "Id": finding.role_arn,
        "Partition": finding.partition,
        "Region": region,
    }
    role = finding.role
    if role is None:
        return resource
    details: dict[str, Any] = {
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Path": role.path,
    }
    document = role.trust_policy if isinstance(role.trust_policy, str) else json.dumps(role.trust_policy)
    limit = FIELD_LIMITS["Resources.Details.AwsIamRole.AssumeRolePolicyDocument"]
    if len(document) <= limit:
        details["AssumeRolePolicyDocument"] = document
    if role.create_date is not None:
        details["CreateDate"] = iso(role.create_date)
    resource["Details"] = {"AwsIamRole": details}
    tags = _tags(role.tags)
    if tags:
        resource["Tags"] = tags
    return resource


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {
        shorten(key, MAX_TAG_KEY): shorten(value, MAX_TAG_VALUE)
        for key, value in list(tags.items())[:MAX_TAGS]
        if value is not None
    }
