"""What Security Hub's BatchImportFindings accepts, checked locally (pure; no AWS calls, no boto3): for the tests.

The Security Hub emulator used in tests (moto) accepts almost any finding, and botocore's client-side
parameter validation only checks types, required members and minimum lengths. Maximum lengths,
enumerations, the Types taxonomy, timestamp formats and the batch limits are enforced only by the real
service, so a finding that passes the tests could still be rejected in production. This module states
those rules once, each next to the documentation it comes from; the limits the findings are built to
are in ``veeam_role_auditor.publish.asff_rules``, which Lambda runs.

``validate_finding`` and ``validate_batch`` return human-readable error strings; an empty list means
valid. Lengths are counted in characters (``len``), as the documentation states them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ..publish.asff_rules import (
    FIELD_LIMITS,
    MAX_FINDING_BYTES,
    MAX_FINDINGS_PER_CALL,
    MAX_REQUEST_BYTES,
    MAX_RESOURCE_TAGS,
    SCHEMA_VERSION,
    TAG_CHARACTERS,
    TAG_CHARSET,
)

# "AwsSecurityFinding" (API reference): "Array Members: Maximum number of 50 items" (Types),
# "Minimum number of 1 item. Maximum number of 32 items" (Resources), ProductFields "Can contain up to
# 50 key-value pairs"; "Compliance" (API reference): RelatedRequirements "Maximum number of 32 items".
MAX_TYPES: Final = 50
MAX_RESOURCES: Final = 32
MAX_PRODUCT_FIELDS: Final = 50
MAX_RELATED_REQUIREMENTS: Final = 32

# "Severity" (API reference): Label "Valid Values: INFORMATIONAL | LOW | MEDIUM | HIGH | CRITICAL";
# "FindingProviderSeverity" (API reference) lists the same values.
SEVERITY_LABELS: Final = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# "Compliance" (API reference): Status PASSED, WARNING, FAILED, NOT_AVAILABLE.
COMPLIANCE_STATUSES: Final = ("PASSED", "WARNING", "FAILED", "NOT_AVAILABLE")
# "AwsSecurityFinding" (API reference): RecordState ACTIVE, ARCHIVED.
RECORD_STATES: Final = ("ACTIVE", "ARCHIVED")
# "Workflow" (API reference): "Valid Values: NEW | NOTIFIED | RESOLVED | SUPPRESSED".
WORKFLOW_STATUSES: Final = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")
# "Resource" (API reference): Partition "Valid Values: aws | aws-cn | aws-us-gov".
PARTITIONS: Final = ("aws", "aws-cn", "aws-us-gov")

# "Types taxonomy for ASFF" (User Guide): the namespaces and, for each, its defined categories. The guide
# defines classifiers only under Software and Configuration Checks and does not require them, so the
# classifier level is free text. Categories are checked because this project only emits defined ones.
TYPE_TAXONOMY: Final[Mapping[str, frozenset[str]]] = {
    "Software and Configuration Checks": frozenset(
        {"Vulnerabilities", "AWS Security Best Practices", "Industry and Regulatory Standards"}
    ),
    "TTPs": frozenset(
        {
            "Initial Access",
            "Execution",
            "Persistence",
            "Privilege Escalation",
            "Defense Evasion",
            "Credential Access",
            "Discovery",
            "Lateral Movement",
            "Collection",
            "Command and Control",
        }
    ),
    "Effects": frozenset(
        {"Data Exposure", "Data Exfiltration", "Data Destruction", "Denial of Service", "Resource Consumption"}
    ),
    "Unusual Behaviors": frozenset(
        {
            "Application",
            "Network Flow",
            "IP address",
            "User",
            "VM",
            "Container",
            "Serverless",
            "Process",
            "Database",
            "Data",
        }
    ),
    "Sensitive Data Identifications": frozenset({"PII", "Passwords", "Legal", "Financial", "Security", "Business"}),
}

# "Required top-level ASFF attributes" (User Guide) lists these as required for every finding; the API
# model alone marks only ten of them (not Types or Severity), so botocore does not catch those two.
REQUIRED_ATTRIBUTES: Final = (
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
)

# "AwsSecurityFinding" (API reference), timestamp fields: "Timestamps can end with Z or ("+" / "-")
# time-hour [":" time-minute]. The time-secfrac after seconds is limited to a maximum of 9 digits. The
# offset is bounded by +/-18:00." The time part follows the pattern CloudFormation publishes for the same
# fields (AWS::SecurityHub::AutomationRule DateFilter), which also admits the leap second 23:59:60.
_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))"
    r"T(?P<time>(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]|23:59:60)"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?P<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?)",
    re.ASCII,
)
_MAX_OFFSET = timedelta(hours=18)
_TIMESTAMP_EXAMPLE = "2026-11-28T12:00:00.000Z"

# "Required top-level ASFF attributes" (User Guide), ProductArn: "The format of this field is
# arn:partition:securityhub:region:account-id:product/company-id/product-id"; the account-id is empty
# for AWS services. The Partition values of "Resource" are reused for the ARN partition.
_PRODUCT_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):securityhub:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
    r":(?P<account>[0-9]{12})?:product/(?P<company>[^/\s]+)/(?P<product>[^/\s]+)",
    re.ASCII,
)
_PRODUCT_ARN_FORMAT = "arn:<partition>:securityhub:<region>:<account-id>:product/<company-id>/<product-id>"
_ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)

# "AwsIamRoleDetails" (API reference): AssumeRolePolicyDocument
# "Pattern: [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]+".
_POLICY_DOCUMENT_OUTSIDE = re.compile(r"[^\t\n\r\x20-\x7e\xa1-\xff]")
_POLICY_DOCUMENT_CHARSET = "tab, LF, CR, U+0020-U+007E and U+00A1-U+00FF"


def validate_finding(finding: Mapping[str, Any]) -> list[str]:
    """Every reason Security Hub would reject ``finding`` in BatchImportFindings, as readable strings.

    Each string starts with the dotted path of the offending attribute (``"Title: ..."``,
    ``"Resources[0].Id: ..."``). An empty list means the finding passes every rule in this module.
    """
    if not isinstance(finding, Mapping):
        return [f"finding: must be an object, got {_kind(finding)}"]
    errors: list[str] = []
    for name in REQUIRED_ATTRIBUTES:
        if name not in finding:
            errors.append(f"{name}: required attribute is missing")
    _check_schema_version(errors, finding)
    for name in ("Id", "GeneratorId", "Title", "Description", "ProductName", "CompanyName"):
        if name in finding:
            _check_string(errors, name, finding[name], FIELD_LIMITS[name])
    _check_product_arn(errors, finding)
    _check_account(errors, finding)
    if "Types" in finding:
        _check_types(errors, "Types", finding["Types"], limit=MAX_TYPES, at_least_one=True)
    _check_timestamps(errors, finding)
    if "Severity" in finding:
        _check_severity(errors, "Severity", finding["Severity"], top_level=True)
    if "Resources" in finding:
        _check_resources(errors, finding["Resources"])
    if "ProductFields" in finding:
        _check_product_fields(errors, finding["ProductFields"])
    if "Remediation" in finding:
        _check_remediation(errors, finding["Remediation"])
    if "Compliance" in finding:
        _check_compliance(errors, finding["Compliance"])
    if "RecordState" in finding:
        _check_enum(errors, "RecordState", finding["RecordState"], RECORD_STATES)
    if "Workflow" in finding:
        workflow = _check_object(errors, "Workflow", finding["Workflow"])
        if workflow is not None and "Status" in workflow:
            _check_enum(errors, "Workflow.Status", workflow["Status"], WORKFLOW_STATUSES)
    if "FindingProviderFields" in finding:
        _check_finding_provider_fields(errors, finding["FindingProviderFields"])
    return errors


def validate_batch(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every reason one BatchImportFindings call with ``findings`` would fail, as readable strings.

    Per-finding errors from ``validate_finding`` are prefixed with ``findings[i]: ``; batch-wide errors
    start with ``batch: ``.
    """
    errors: list[str] = []
    # "Guidelines for using the BatchImportFindings API": up to 100 findings per batch; the API model
    # (BatchImportFindingsRequest.Findings) also sets a minimum of 1.
    if not findings:
        errors.append("batch: must contain at least 1 finding")
    elif len(findings) > MAX_FINDINGS_PER_CALL:
        errors.append(f"batch: {len(findings)} findings exceed the maximum of {MAX_FINDINGS_PER_CALL} per call")
    request_bytes = _json_bytes({"Findings": list(findings)})
    if request_bytes is None:
        errors.append("batch: request is not JSON-serializable")
    elif request_bytes > MAX_REQUEST_BYTES:
        errors.append(f"batch: request is {request_bytes} bytes JSON-encoded, over the maximum of {MAX_REQUEST_BYTES}")
    # Duplicate Ids are refused here: one call should not carry two versions of the same finding, whose
    # outcome the documentation does not define.
    first_index: dict[str, int] = {}
    for index, finding in enumerate(findings):
        prefix = f"findings[{index}]"
        errors.extend(f"{prefix}: {error}" for error in validate_finding(finding))
        finding_bytes = _json_bytes(finding)
        if finding_bytes is None:
            errors.append(f"{prefix}: not JSON-serializable")
        elif finding_bytes > MAX_FINDING_BYTES:
            errors.append(f"{prefix}: {finding_bytes} bytes JSON-encoded, over the maximum of {MAX_FINDING_BYTES}")
        finding_id = finding.get("Id") if isinstance(finding, Mapping) else None
        if isinstance(finding_id, str):
            if finding_id in first_index:
                errors.append(f"{prefix}: Id {finding_id!r} duplicates findings[{first_index[finding_id]}]")
            else:
                first_index[finding_id] = index
    return errors


# --- helpers -----------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    """The JSON name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _json_bytes(value: object) -> int | None:
    """Size of ``value`` as botocore's REST-JSON serializer sends it (plain ``json.dumps``, UTF-8)."""
    try:
        return len(json.dumps(value).encode("utf-8"))
    except (TypeError, ValueError):
        return None


def _check_string(errors: list[str], path: str, value: object, limit: int | None = None) -> str | None:
    """A string matching the API's ``.*\\S.*`` pattern and at most ``limit`` characters long."""
    if not isinstance(value, str):
        errors.append(f"{path}: must be a string, got {_kind(value)}")
        return None
    if not value.strip():
        errors.append(f"{path}: must contain a non-whitespace character")
        return None
    if limit is not None and len(value) > limit:
        errors.append(f"{path}: length {len(value)} exceeds the maximum of {limit}")
    return value


def _check_object(errors: list[str], path: str, value: object) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be an object, got {_kind(value)}")
        return None
    return value


def _check_array(errors: list[str], path: str, value: object) -> Sequence[Any] | None:
    if not isinstance(value, list | tuple):
        errors.append(f"{path}: must be an array, got {_kind(value)}")
        return None
    return value


def _check_enum(errors: list[str], path: str, value: object, allowed: Sequence[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{path}: must be a string, got {_kind(value)}")
    elif value not in allowed:
        errors.append(f"{path}: {value!r} is not one of {', '.join(allowed)}")


def _parse_timestamp(errors: list[str], path: str, value: object) -> tuple[int, int] | None:
    """(UTC seconds since the epoch, nanoseconds) for a documented timestamp, else an error and ``None``."""
    if not isinstance(value, str):
        errors.append(f"{path}: must be a string, got {_kind(value)}")
        return None
    match = _TIMESTAMP.fullmatch(value)
    naive: datetime | None = None
    if match is not None:
        hour, minute, second = (int(part) for part in match["time"].split(":"))
        try:
            naive = datetime.strptime(match["date"], "%Y-%m-%d").replace(hour=hour, minute=minute)
        except ValueError:  # a day the month does not have, e.g. 2026-02-30
            naive = None
    if match is None or naive is None:
        errors.append(f"{path}: {value!r} is not a timestamp in a documented format (e.g. {_TIMESTAMP_EXAMPLE})")
        return None
    offset = _offset(match["offset"])
    if abs(offset) > _MAX_OFFSET:
        errors.append(f"{path}: the offset of {value!r} is outside +/-18:00")
        return None
    seconds = int((naive.replace(tzinfo=UTC) - offset).timestamp()) + second
    nanoseconds = int((match["fraction"] or "0").ljust(9, "0"))
    return seconds, nanoseconds


def _offset(text: str) -> timedelta:
    if text == "Z":
        return timedelta()
    digits = text[1:].replace(":", "")
    magnitude = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or "0"))
    return -magnitude if text[0] == "-" else magnitude


# --- rules ---------------------------------------------------------------------------------------------


def _check_schema_version(errors: list[str], finding: Mapping[str, Any]) -> None:
    # "Required top-level ASFF attributes": SchemaVersion "must be one of the officially published
    # versions identified by AWS", currently 2018-10-08.
    if "SchemaVersion" in finding and finding["SchemaVersion"] != SCHEMA_VERSION:
        errors.append(f"SchemaVersion: must be {SCHEMA_VERSION!r}, got {finding['SchemaVersion']!r}")


def _check_product_arn(errors: list[str], finding: Mapping[str, Any]) -> None:
    # "Required top-level ASFF attributes": the ProductArn format, and "For private products, the
    # company-id must be the account ID".
    if "ProductArn" not in finding:
        return
    arn = _check_string(errors, "ProductArn", finding["ProductArn"], FIELD_LIMITS["ProductArn"])
    if arn is None:
        return
    match = _PRODUCT_ARN.fullmatch(arn)
    if match is None:
        errors.append(f"ProductArn: {arn!r} does not match {_PRODUCT_ARN_FORMAT}")
        return
    account = match["account"] or ""
    if _ACCOUNT_ID.fullmatch(match["company"]) and match["company"] != account:
        errors.append(
            f"ProductArn: company-id {match['company']!r} of a private product must be the account ID {account!r}"
        )


def _check_account(errors: list[str], finding: Mapping[str, Any]) -> None:
    # "AwsSecurityFinding": AwsAccountId "Length Constraints: 12"; account IDs are 12 digits.
    if "AwsAccountId" not in finding:
        return
    account_id = _check_string(errors, "AwsAccountId", finding["AwsAccountId"])
    if account_id is None:
        return
    if not _ACCOUNT_ID.fullmatch(account_id):
        errors.append(f"AwsAccountId: must be 12 digits, got {account_id!r}")
        return
    # "BatchImportFindings" (API reference): with the default product ARN "the identifier of the account
    # that you are calling BatchImportFindings from needs to be the same as the AwsAccountId attribute",
    # and the default product ARN names the calling account.
    arn = finding.get("ProductArn")
    match = _PRODUCT_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is not None and match["product"] == "default" and match["account"] != account_id:
        arn_account = match["account"] or ""
        errors.append(
            f"AwsAccountId: {account_id!r} differs from the account {arn_account!r} of the default ProductArn,"
            " which BatchImportFindings accepts only from the finding's own account"
        )


def _check_types(errors: list[str], path: str, value: object, *, limit: int | None, at_least_one: bool) -> None:
    # "Types taxonomy for ASFF": namespace/category/classifier, where "A finding provider may define a
    # partial path"; "AwsSecurityFinding": Types "Array Members: Maximum number of 50 items".
    types = _check_array(errors, path, value)
    if types is None:
        return
    if at_least_one and not types:
        errors.append(f"{path}: must contain at least 1 type")
    if limit is not None and len(types) > limit:
        errors.append(f"{path}: {len(types)} types exceed the maximum of {limit}")
    for index, entry in enumerate(types):
        entry_path = f"{path}[{index}]"
        text = _check_string(errors, entry_path, entry)
        if text is None:
            continue
        levels = text.split("/")
        if len(levels) > 3:
            errors.append(f"{entry_path}: {text!r} has more than the 3 levels namespace/category/classifier")
        elif any(not level.strip() for level in levels):
            errors.append(f"{entry_path}: {text!r} has an empty level")
        elif levels[0] not in TYPE_TAXONOMY:
            errors.append(f"{entry_path}: namespace {levels[0]!r} is not one of {', '.join(TYPE_TAXONOMY)}")
        elif len(levels) > 1 and levels[1] not in TYPE_TAXONOMY[levels[0]]:
            errors.append(f"{entry_path}: category {levels[1]!r} is not defined for namespace {levels[0]!r}")


def _check_timestamps(errors: list[str], finding: Mapping[str, Any]) -> None:
    parsed: dict[str, tuple[int, int] | None] = {}
    for name in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        if name in finding:
            parsed[name] = _parse_timestamp(errors, name, finding[name])
    # "Required top-level ASFF attributes", UpdatedAt: "Upon creation of a finding record, the CreatedAt
    # and UpdatedAt timestamps must be the same. After an update ... the value of this field must be more
    # recent". FirstObservedAt/LastObservedAt are the first and the most recent observation, so the first
    # cannot come after the last.
    for earlier, later in (("CreatedAt", "UpdatedAt"), ("FirstObservedAt", "LastObservedAt")):
        first, last = parsed.get(earlier), parsed.get(later)
        if first is not None and last is not None and first > last:
            errors.append(f"{later}: {finding[later]!r} is earlier than {earlier} {finding[earlier]!r}")


def _check_severity(errors: list[str], path: str, value: object, *, top_level: bool) -> None:
    severity = _check_object(errors, path, value)
    if severity is None:
        return
    # "Severity" (API reference): "The finding must have either Label or Normalized populated ... If
    # neither attribute is populated, then the finding is invalid."
    if top_level and "Label" not in severity and "Normalized" not in severity:
        errors.append(f"{path}: must have Label or Normalized")
    if "Label" in severity:
        _check_enum(errors, f"{path}.Label", severity["Label"], SEVERITY_LABELS)
    if "Normalized" in severity:
        normalized = severity["Normalized"]
        if isinstance(normalized, bool) or not isinstance(normalized, int):
            errors.append(f"{path}.Normalized: must be an integer, got {_kind(normalized)}")
        elif not 0 <= normalized <= 100:
            errors.append(f"{path}.Normalized: {normalized} is outside 0-100")
    if "Original" in severity:
        _check_string(errors, f"{path}.Original", severity["Original"], FIELD_LIMITS[f"{path}.Original"])


def _check_resources(errors: list[str], value: object) -> None:
    # "Resources ASFF object" (User Guide): "an array of up to 32 resource objects"; "AwsSecurityFinding":
    # Resources "Minimum number of 1 item"; "Resource" (API reference): Type and Id are required.
    resources = _check_array(errors, "Resources", value)
    if resources is None:
        return
    if not resources:
        errors.append("Resources: must contain at least 1 resource")
    if len(resources) > MAX_RESOURCES:
        errors.append(f"Resources: {len(resources)} resources exceed the maximum of {MAX_RESOURCES}")
    for index, item in enumerate(resources):
        path = f"Resources[{index}]"
        resource = _check_object(errors, path, item)
        if resource is None:
            continue
        for name in ("Type", "Id"):
            if name not in resource:
                errors.append(f"{path}.{name}: required attribute is missing")
        resource_type = None
        if "Type" in resource:
            resource_type = _check_string(errors, f"{path}.Type", resource["Type"], FIELD_LIMITS["Resources.Type"])
        if "Id" in resource:
            _check_string(errors, f"{path}.Id", resource["Id"])
        if "Partition" in resource:
            _check_enum(errors, f"{path}.Partition", resource["Partition"], PARTITIONS)
        if "Region" in resource:
            _check_string(errors, f"{path}.Region", resource["Region"], FIELD_LIMITS["Resources.Region"])
        if "Tags" in resource:
            _check_tags(errors, f"{path}.Tags", resource["Tags"])
        if "Details" in resource:
            details = _check_object(errors, f"{path}.Details", resource["Details"])
            if details is not None and resource_type == "AwsIamRole" and "AwsIamRole" in details:
                _check_iam_role(errors, f"{path}.Details.AwsIamRole", details["AwsIamRole"])


def _check_tags(errors: list[str], path: str, value: object) -> None:
    # "Resource attributes" (User Guide), Tags; see TAG_CHARACTERS.
    tags = _check_object(errors, path, value)
    if tags is None:
        return
    if len(tags) > MAX_RESOURCE_TAGS:
        errors.append(f"{path}: {len(tags)} tags exceed the maximum of {MAX_RESOURCE_TAGS}")
    for key, tag_value in tags.items():
        for part, text, limit in (
            ("key", key, FIELD_LIMITS["Resources.Tags.key"]),
            ("value", tag_value, FIELD_LIMITS["Resources.Tags.value"]),
        ):
            where = f"{path}[{key!r}]" if part == "value" else f"{path}: key {key!r}"
            checked = _check_string(errors, where, text, limit)
            if checked is not None and not TAG_CHARACTERS.fullmatch(checked):
                outside = next(char for char in checked if not TAG_CHARACTERS.fullmatch(char))
                errors.append(f"{where}: character {outside!r} is outside {TAG_CHARSET}")


def _check_iam_role(errors: list[str], path: str, value: object) -> None:
    # "AwsIamRoleDetails" (API reference): AssumeRolePolicyDocument is a string of 1-131072 characters from
    # a restricted set; RoleName, RoleId and Path are non-empty strings; CreateDate is a timestamp;
    # MaxSessionDuration is an integer.
    role = _check_object(errors, path, value)
    if role is None:
        return
    if "AssumeRolePolicyDocument" in role:
        limit = FIELD_LIMITS["Resources.Details.AwsIamRole.AssumeRolePolicyDocument"]
        document = _check_string(errors, f"{path}.AssumeRolePolicyDocument", role["AssumeRolePolicyDocument"], limit)
        outside = _POLICY_DOCUMENT_OUTSIDE.search(document) if document is not None else None
        if outside is not None:
            errors.append(
                f"{path}.AssumeRolePolicyDocument: character {outside.group()!r} at position {outside.start()}"
                f" is outside {_POLICY_DOCUMENT_CHARSET}"
            )
    for name in ("RoleName", "RoleId", "Path"):
        if name in role:
            _check_string(errors, f"{path}.{name}", role[name])
    if "CreateDate" in role:
        _parse_timestamp(errors, f"{path}.CreateDate", role["CreateDate"])
    if "MaxSessionDuration" in role:
        duration = role["MaxSessionDuration"]
        if isinstance(duration, bool) or not isinstance(duration, int):
            errors.append(f"{path}.MaxSessionDuration: must be an integer, got {_kind(duration)}")


def _check_product_fields(errors: list[str], value: object) -> None:
    # "AwsSecurityFinding": ProductFields "Can contain up to 50 key-value pairs. For each key-value pair,
    # the key can contain up to 128 characters, and the value can contain up to 2048 characters."
    fields = _check_object(errors, "ProductFields", value)
    if fields is None:
        return
    if len(fields) > MAX_PRODUCT_FIELDS:
        errors.append(f"ProductFields: {len(fields)} pairs exceed the maximum of {MAX_PRODUCT_FIELDS}")
    key_limit, value_limit = FIELD_LIMITS["ProductFields.key"], FIELD_LIMITS["ProductFields.value"]
    for key, field_value in fields.items():
        if not isinstance(key, str):
            errors.append(f"ProductFields: key {key!r} must be a string, got {_kind(key)}")
            continue
        if len(key) > key_limit:
            errors.append(f"ProductFields[{key!r}]: key length {len(key)} exceeds the maximum of {key_limit}")
        if not isinstance(field_value, str):
            errors.append(f"ProductFields[{key!r}]: must be a string, got {_kind(field_value)}")
        elif len(field_value) > value_limit:
            errors.append(f"ProductFields[{key!r}]: length {len(field_value)} exceeds the maximum of {value_limit}")


def _check_remediation(errors: list[str], value: object) -> None:
    remediation = _check_object(errors, "Remediation", value)
    if remediation is None or "Recommendation" not in remediation:
        return
    recommendation = _check_object(errors, "Remediation.Recommendation", remediation["Recommendation"])
    if recommendation is None:
        return
    # "Remediation" (User Guide): "If the recommendation object is present, then either the Text or Url
    # field must be present and populated"; "Recommendation" (API reference): Text at most 512.
    if "Text" not in recommendation and "Url" not in recommendation:
        errors.append("Remediation.Recommendation: must have Text or Url")
    if "Text" in recommendation:
        limit = FIELD_LIMITS["Remediation.Recommendation.Text"]
        _check_string(errors, "Remediation.Recommendation.Text", recommendation["Text"], limit)
    if "Url" in recommendation:
        _check_string(errors, "Remediation.Recommendation.Url", recommendation["Url"])


def _check_compliance(errors: list[str], value: object) -> None:
    # "Compliance" (API reference): Status enum, RelatedRequirements at most 32; "StatusReason" (API
    # reference): ReasonCode required, Description optional, both non-empty strings without a maximum.
    compliance = _check_object(errors, "Compliance", value)
    if compliance is None:
        return
    if "Status" in compliance:
        _check_enum(errors, "Compliance.Status", compliance["Status"], COMPLIANCE_STATUSES)
    if "RelatedRequirements" in compliance:
        requirements = _check_array(errors, "Compliance.RelatedRequirements", compliance["RelatedRequirements"])
        if requirements is not None:
            if len(requirements) > MAX_RELATED_REQUIREMENTS:
                errors.append(
                    f"Compliance.RelatedRequirements: {len(requirements)} requirements exceed the maximum"
                    f" of {MAX_RELATED_REQUIREMENTS}"
                )
            for index, requirement in enumerate(requirements):
                _check_string(errors, f"Compliance.RelatedRequirements[{index}]", requirement)
    if "StatusReasons" in compliance:
        reasons = _check_array(errors, "Compliance.StatusReasons", compliance["StatusReasons"])
        for index, item in enumerate(reasons or ()):
            path = f"Compliance.StatusReasons[{index}]"
            reason = _check_object(errors, path, item)
            if reason is None:
                continue
            if "ReasonCode" not in reason:
                errors.append(f"{path}.ReasonCode: required attribute is missing")
            else:
                _check_string(errors, f"{path}.ReasonCode", reason["ReasonCode"])
            if "Description" in reason:
                _check_string(errors, f"{path}.Description", reason["Description"])


def _check_finding_provider_fields(errors: list[str], value: object) -> None:
    # "FindingProviderFields" / "FindingProviderSeverity" (API reference): the provider's own Severity
    # (same Label values) and Types (same taxonomy). No array maximum is documented for these Types.
    fields = _check_object(errors, "FindingProviderFields", value)
    if fields is None:
        return
    if "Severity" in fields:
        _check_severity(errors, "FindingProviderFields.Severity", fields["Severity"], top_level=False)
    if "Types" in fields:
        _check_types(errors, "FindingProviderFields.Types", fields["Types"], limit=None, at_least_one=False)
