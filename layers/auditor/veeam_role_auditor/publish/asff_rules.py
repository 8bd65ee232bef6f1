"""The documented limits of Security Hub's BatchImportFindings that the findings are built to (pure).

Batch sizes, the schema version, maximum field lengths and the tag rules: :mod:`.asff` truncates and
filters to them and :mod:`.securityhub` splits batches by them. The full local check of a finding
against every documented rule (enumerations, the Types taxonomy, timestamps), which moto does not make,
is ``veeam_role_auditor.dev.asff_validation``: the tests use it, Lambda does not need it.
"""

from __future__ import annotations

import re
from typing import Final

# --- "Guidelines for using the BatchImportFindings API" (Security Hub partner guide): "Security Hub CSPM
# accepts up to 100 findings per batch, up to 240 KB per finding, and up to 6 MB per batch." The guide
# does not spell out bytes per KB/MB; binary units are used.
MAX_FINDINGS_PER_CALL: Final = 100
MAX_FINDING_BYTES: Final = 240 * 1024
MAX_REQUEST_BYTES: Final = 6 * 1024 * 1024

# --- "Required top-level ASFF attributes" (User Guide): "In the current release, the AWS Security Finding
# Format schema version is 2018-10-08."
SCHEMA_VERSION: Final = "2018-10-08"

# Maximum lengths, by dotted path. Array members are written without an index ("Resources.Type") and the
# keys and values of the ProductFields map as "ProductFields.key" / "ProductFields.value".
FIELD_LIMITS: Final[dict[str, int]] = {
    # "AwsSecurityFinding" (API reference): "Length Constraints: ... Maximum length of N".
    "Id": 512,
    "GeneratorId": 512,
    "ProductArn": 2048,
    "ProductName": 128,
    "CompanyName": 128,
    "Title": 256,
    "Description": 1024,
    # ... and for ProductFields: "the key can contain up to 128 characters, and the value can contain up
    # to 2048 characters".
    "ProductFields.key": 128,
    "ProductFields.value": 2048,
    # "Severity" and "FindingProviderSeverity" (API reference): Original "Maximum length of 64".
    "Severity.Original": 64,
    "FindingProviderFields.Severity.Original": 64,
    # "Recommendation" (API reference): Text "Maximum of 512 length"; Url has no documented maximum.
    "Remediation.Recommendation.Text": 512,
    # "Resource" (API reference): Type "Maximum length of 256", Region "Maximum length of 16"; Id has no
    # documented maximum.
    "Resources.Type": 256,
    "Resources.Region": 16,
    # "AwsIamRoleDetails" (API reference): AssumeRolePolicyDocument "Maximum length of 131072".
    "Resources.Details.AwsIamRole.AssumeRolePolicyDocument": 131072,
    # "Resource attributes" (User Guide), Tags: keys up to 128 and values up to 256 characters.
    "Resources.Tags.key": 128,
    "Resources.Tags.value": 256,
}
# "Resource attributes" (User Guide), Tags: at most 50 tags per resource.
MAX_RESOURCE_TAGS: Final = 50
# "Resource attributes" (User Guide), Tags: keys and values may contain only letters, numbers, spaces and
# _ . : / = + - @ (ASCII). IAM accepts more ("Tag" in the IAM API reference: [\p{L}\p{Z}\p{N}_.:/=+\-@]*,
# so é, ü, 日 and a no-break space). The API model types both as NonEmptyString (pattern .*\S.*), so an
# empty value, which IAM allows, is refused too.
TAG_CHARACTERS: Final = re.compile(r"[A-Za-z0-9 _.:/=+\-@]*", re.ASCII)
TAG_CHARSET: Final = "ASCII letters, digits, spaces and _ . : / = + - @"
