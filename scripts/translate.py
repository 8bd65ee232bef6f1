#!/usr/bin/env python3
"""Translate the SAM template into plain CloudFormation JSON (aws-sam-translator).

Service-managed StackSets refuse templates with the SAM transform, and cfn-lint does not look inside
AWS::Serverless::* resources: both need the translated template.

    scripts/translate.py PACKAGED_TEMPLATE OUTPUT.json
    scripts/translate.py --placeholder-code template.yaml OUTPUT.json   # local paths -> s3 placeholders

A packaged template (from `sam package`) already has S3 code locations; --placeholder-code replaces
local CodeUri/ContentUri paths with placeholders, for linting without uploading anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicyNames:
    """The template names no managed policy by its short name, so no IAM lookup is needed."""

    def load(self) -> dict[str, str]:
        return {}


def translate(document: dict[str, Any], *, placeholder_code: bool = False) -> dict[str, Any]:
    if placeholder_code:
        for name, resource in document.get("Resources", {}).items():
            properties = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri"):
                if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                    properties[key] = f"s3://artifacts-placeholder/{name}.zip"
    # The translator fills in pseudo parameters from a boto3 session, which needs a region.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    parameters = {"ApplianceRoleArns": "arn:aws:iam::123456789012:role/veeam/VeeamImpersonation"}
    # passthrough_metadata keeps resource Metadata (e.g. checkov suppressions with their reasons).
    return dict(transform(document, parameters, _NoManagedPolicyNames(), passthrough_metadata=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("template", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--placeholder-code", action="store_true")
    args = parser.parse_args(argv)
    translated = translate(yaml_parse(args.template.read_text()), placeholder_code=args.placeholder_code)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(translated, indent=2) + "\n")
    print(f"{args.output}: {len(translated['Resources'])} resources, no SAM transform")
    return 0


if __name__ == "__main__":
    sys.exit(main())
