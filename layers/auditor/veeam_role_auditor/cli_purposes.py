"""The command line's Veeam purpose options and the ``required-policy`` command (issue 14).

``required-policy`` prints what Veeam Backup for AWS requires of a role for a set of purposes at a
version, so that an administrator can create a correct role from it: the permissions policy (cut into
managed policies within IAM's size quota when it is long), the trust policy (the appliance plus the
services the purposes need) and whether the role must be in an instance profile.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .checks.purpose import DEFAULT_PURPOSE_TAG_KEY
from .errors import EXIT_OK, UsageError
from .purposes import (
    MANAGED_POLICY_SIZE,
    PURPOSES,
    available_versions,
    default_version,
    load_extra_profiles,
    parse_purpose_tag,
    policy_size,
    required_policy,
    required_trust_policy,
    resolve_version,
    split_policy,
)


def add_purpose_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the purpose checks (VRA-PURPOSE-*), for ``scan``."""
    group = parser.add_argument_group("purpose checks (roles that declare what Veeam uses them for)")
    group.add_argument(
        "--purpose-tag-key",
        default=None,
        metavar="KEY",
        help=f"tag listing a role's Veeam purposes, separated by spaces (default {DEFAULT_PURPOSE_TAG_KEY})",
    )
    _version_arguments(group)
    group.add_argument(
        "--upgrade-to",
        default=None,
        metavar="VERSION",
        help="also check that the roles have what this newer appliance version needs (VRA-PURPOSE-3)",
    )


def _version_arguments(group: Any) -> None:
    group.add_argument(
        "--veeam-version",
        default=None,
        metavar="VERSION",
        help=f"the appliance version whose requirements apply (known: {', '.join(available_versions())}; "
        f"default {default_version()}, the newest whose lists are complete)",
    )
    group.add_argument(
        "--purpose-profiles",
        default=None,
        metavar="FILE",
        help="a JSON file of custom purposes (see README, Veeam role purposes)",
    )


def add_required_policy_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "required-policy",
        parents=[common],
        help="print the permissions and trust policy Veeam requires for a set of purposes",
        description="What Veeam Backup for AWS requires of a role with these purposes, as JSON: the "
        "permissions policy (cut into managed policies of at most 6,144 characters when longer), the trust "
        "policy and whether the role must be in an instance profile.",
    )
    parser.add_argument(
        "--purpose",
        action="append",
        required=True,
        metavar="PURPOSE",
        help=f"a purpose (repeatable, or several separated by spaces): {', '.join(PURPOSES)}",
    )
    parser.add_argument(
        "--appliance-role-arn",
        required=True,
        metavar="ARN",
        help="the Impersonation role ARN (or the appliance account's arn:aws:iam::ACCOUNT:root) to trust",
    )
    _version_arguments(parser)


def command_required_policy(args: argparse.Namespace) -> int:
    """Print the required policies as one JSON object; an unknown purpose or version is a usage error."""
    try:
        version = resolve_version(args.veeam_version)
        extra = load_extra_profiles(args.purpose_profiles) if args.purpose_profiles else {}
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    purposes, unknown = parse_purpose_tag(" ".join(args.purpose), tuple(extra))
    if unknown:
        known = ", ".join((*PURPOSES, *extra))
        raise UsageError(f"unknown purpose {', '.join(unknown)}: the purposes are {known}")
    if not args.appliance_role_arn.startswith("arn:"):
        raise UsageError(f"--appliance-role-arn must be an ARN, not {args.appliance_role_arn!r}")
    required = required_policy(purposes, version, extra)
    parts = (
        split_policy(required.document) if policy_size(required.document) > MANAGED_POLICY_SIZE else [required.document]
    )
    output: dict[str, Any] = {
        "veeam_version": version,
        "purposes": list(purposes),
        "permissions_policies": parts,
        "trust_policy": required_trust_policy(args.appliance_role_arn, required.trust_services),
        "instance_profile": required.instance_profile,
    }
    print(json.dumps(output, indent=2))
    return EXIT_OK
