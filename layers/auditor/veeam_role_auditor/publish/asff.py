"""Findings in the AWS Security Finding Format, for the account's own default product.

Field limits come from :mod:`.asff_rules` (the documented ASFF constraints); text longer than a limit
is shortened with an ellipsis rather than rejected, so no finding is lost to a long policy or name.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import checks
from ..model import Finding, iso
from ..text import escape_control
from .asff_rules import FIELD_LIMITS, MAX_RESOURCE_TAGS, SCHEMA_VERSION, TAG_CHARACTERS

PRODUCT_NAME = "veeam-role-auditor"
FIELD_PREFIX = "veeam-role-auditor/"
MAX_TAGS = MAX_RESOURCE_TAGS
MAX_TAG_KEY = FIELD_LIMITS["Resources.Tags.key"]
MAX_TAG_VALUE = FIELD_LIMITS["Resources.Tags.value"]
# "AwsIamRoleDetails" (API reference): AssumeRolePolicyDocument "Pattern: [\u0009\u000A\u000D\u0020-\u007E
# \u00A1-\u00FF]+". A document IAM returned as text (one that is not valid JSON) may hold anything else.
_OUTSIDE_POLICY_CHARSET = re.compile(r"[^\t\n\r\x20-\x7e\xa1-\xff]")


@dataclass(frozen=True)
class WorkflowChange:
    """One finding's new workflow status, with the note that says why (at most 512 characters)."""

    finding_id: str
    product_arn: str
    status: str
    note: str


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own default product, which accepts findings without any integration set-up."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def generator_id(check: str) -> str:
    return f"{PRODUCT_NAME}/{check}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(text: str, limit: int) -> str:
    """Text for a free-text ASFF field: control and format characters escaped, then fitted to ``limit``.

    Condition keys, role paths and other policy text are written by whoever edits a role; raw, an ESC
    sequence or a newline would reach every console and tool that shows the finding.
    """
    return shorten(escape_control(text), limit)


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
        statement = json.dumps(finding.statement_to_add, separators=(",", ":"))
        # As for the corrected policy: a cut JSON document would be wrong (a long permissions policy of a
        # purpose check); when too long, say where to get it instead.
        product_fields[f"{FIELD_PREFIX}StatementToAdd"] = (
            statement
            if len(statement) <= FIELD_LIMITS["ProductFields.value"]
            else "too long for this field: run veeam-role-auditor scan --format json (or required-policy)"
        )
    if finding.corrected_policy is not None:
        corrected = json.dumps(finding.corrected_policy, separators=(",", ":"))
        # A cut JSON document would be wrong; when too long, say where to get it instead.
        product_fields[f"{FIELD_PREFIX}CorrectedTrustPolicy"] = (
            corrected
            if len(corrected) <= FIELD_LIMITS["ProductFields.value"]
            else "too long for this field: run veeam-role-auditor fix --role-name "
            + finding.role_arn.rsplit("/", 1)[-1]
        )
    return _skeleton(
        finding_id=finding.id,
        check=finding.check,
        account=finding.account,
        partition=finding.partition,
        region=region,
        status=finding.status,
        severity=finding.severity,
        created_at=created_at,
        first_observed_at=first_observed_at,
        updated_at=updated_at,
        title=finding.title,
        description=description,
        remediation={
            "Recommendation": {
                "Text": shown(remediation, FIELD_LIMITS["Remediation.Recommendation.Text"]),
                "Url": checks.VEEAM_IAM_DOCS,
            }
        },
        product_fields={
            key: shown(value, FIELD_LIMITS["ProductFields.value"]) for key, value in product_fields.items()
        },
        record_state=record_state,
        resource=_resource(finding, region),
    )


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
    partition = role_arn.split(":")[1]
    name = role_arn.rsplit("/", 1)[-1]
    return _skeleton(
        finding_id=finding_id,
        check=check,
        account=account,
        partition=partition,
        region=region,
        status=status,
        severity=severity,
        created_at=created_at,
        first_observed_at=first_observed_at,
        updated_at=updated_at,
        title=f"{checks.CATALOGUE[check].title}: {name}",
        description=f"{name} was deleted, lost the Veeam tag or left the audited scope; this finding is archived.",
        remediation=None,
        product_fields={f"{FIELD_PREFIX}CheckCode": check, f"{FIELD_PREFIX}Status": status},
        record_state="ARCHIVED",
        resource={"Type": "AwsIamRole", "Id": role_arn, "Partition": partition, "Region": region},
    )


def _skeleton(
    *,
    finding_id: str,
    check: str,
    account: str,
    partition: str,
    region: str,
    status: str,
    severity: str,
    created_at: str,
    first_observed_at: str,
    updated_at: str,
    title: str,
    description: str,
    remediation: dict[str, Any] | None,
    product_fields: dict[str, str],
    record_state: str,
    resource: dict[str, Any],
) -> dict[str, Any]:
    """The fields every finding of this product has, active or archived, in one place.

    ``title`` and ``description`` are fitted here (:func:`shown`); ``product_fields`` and ``remediation``
    arrive fitted. LastObservedAt is UpdatedAt: both move with each import of a new observation.
    """
    types = list(checks.CATALOGUE[check].asff_types)
    document: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id,
        "ProductArn": product_arn(partition, region, account),
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": generator_id(check),
        "AwsAccountId": account,
        "Types": types,
        "CreatedAt": created_at,
        "UpdatedAt": updated_at,
        "FirstObservedAt": first_observed_at,
        "LastObservedAt": updated_at,
        "Severity": {"Label": severity, "Original": severity},
        "FindingProviderFields": {"Severity": {"Label": severity, "Original": severity}, "Types": list(types)},
        "Title": shown(title, FIELD_LIMITS["Title"]),
        "Description": shown(description, FIELD_LIMITS["Description"]),
    }
    if remediation is not None:
        document["Remediation"] = remediation
    document.update(
        {
            "ProductFields": product_fields,
            "Compliance": {"Status": status},
            "RecordState": record_state,
            "Resources": [resource],
        }
    )
    return document


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
        "RoleName": escape_control(role.name),
        "RoleId": escape_control(role.role_id),
        "Path": escape_control(role.path),
    }
    # json.dumps escapes every character outside ASCII, so only a document kept as text needs this.
    document = _policy_text(role.trust_policy) if isinstance(role.trust_policy, str) else json.dumps(role.trust_policy)
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


def _policy_text(document: str) -> str:
    """A trust policy kept as text, with every character ASFF refuses written as a JSON escape."""
    return _OUTSIDE_POLICY_CHARSET.sub(_json_escape, document)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The role's tags as ASFF accepts them (see asff_rules.TAG_CHARACTERS), for every tag IAM accepts.

    A key or value outside that set is written in it: accents dropped (Équipe -> Equipe), spaces of any
    kind as a space, any other character as its code point (日 -> U+65E5), cut with "..." when too long.
    A tag whose value is empty (IAM allows it, ASFF does not) is left out, as is a key that comes out the
    same as an earlier one.
    """
    result: dict[str, str] = {}
    for key, value in tags.items():
        if len(result) == MAX_TAGS:
            break
        if value is None:
            continue
        asff_key, asff_value = _tag_text(key, MAX_TAG_KEY), _tag_text(value, MAX_TAG_VALUE)
        if asff_key.strip() and asff_value.strip() and asff_key not in result:
            result[asff_key] = asff_value
    return result


def _tag_text(text: str, limit: int) -> str:
    if TAG_CHARACTERS.fullmatch(text) and len(text) <= limit:
        return text
    written: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        if TAG_CHARACTERS.fullmatch(char):
            written.append(char)
        elif unicodedata.combining(char):
            continue  # the accent of a decomposed é or ü: its letter was kept
        elif unicodedata.category(char).startswith("Z") or char.isspace():
            written.append(" ")
        else:
            written.append(f"U+{ord(char):04X}")
    result = "".join(written)
    return result if len(result) <= limit else result[: limit - 3] + "..."
