"""ARNs and principal identifiers as IAM writes them in policies.

IAM User Guide, "AWS JSON policy elements: Principal": an AWS principal is ``*``, a 12-digit account
id or ``arn:<partition>:iam::<account>:root``, an IAM user or role ARN (roles keep their path), a role
session ``arn:<partition>:sts::<account>:assumed-role/<role name>/<session>`` (no path), a federated
user session, or, once the principal has been deleted, its unique id (``AROA...``, ``AIDA...``).
A wildcard may not stand for part of a principal ARN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

ACCOUNT_ID = re.compile(r"\d{12}")
PARTITION = re.compile(r"aws(?:-[a-z0-9]+)*")
# IAM unique ids: a four-letter type prefix and base32-like characters (IAM User Guide, "IAM
# identifiers", unique ID prefixes). Deleted principals surface in trust policies as these.
UNIQUE_ID = re.compile(r"(AROA|AIDA|AGPA|ANPA|ANVA|AIPA|ASIA|AKIA|APKA|ASCA|ACCA)[A-Z0-9]{12,}")
# Role names: 1-64 of [\w+=,.@-]; paths: "/" or /segment/.../ with printable ASCII (IAM API reference).
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
ROLE_PATH = re.compile(r"/(?:[\x21-\x7e]*/)?")


class PrincipalKind(Enum):
    WILDCARD = "wildcard"
    ACCOUNT = "account"
    ROLE = "role"
    ROLE_SESSION = "role_session"
    USER = "user"
    FEDERATED_USER = "federated_user"
    UNIQUE_ID = "unique_id"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class AwsPrincipal:
    """One value of a Principal ``AWS`` entry, classified."""

    raw: str
    kind: PrincipalKind
    partition: str | None = None
    account: str | None = None
    # ROLE: path + name ("/veeam/", "Impersonation"); ROLE_SESSION: role name + session name.
    path: str | None = None
    name: str | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class RoleArn:
    """A parsed IAM role ARN: ``arn:<partition>:iam::<account>:role<path><name>``."""

    arn: str
    partition: str
    account: str
    path: str
    name: str


class InvalidArnError(ValueError):
    """An argument that must be an IAM role ARN is not one."""


def parse_role_arn(arn: str) -> RoleArn:
    """Parse an IAM role ARN or raise :class:`InvalidArnError` saying what is wrong with it."""
    parsed = _parse_role_arn(arn) if isinstance(arn, str) else None
    if parsed is None:
        raise InvalidArnError(
            f"not an IAM role ARN: {arn!r} (expected arn:aws:iam::123456789012:role/optional/path/RoleName)"
        )
    return parsed


@lru_cache(maxsize=8192)
def _parse_role_arn(arn: str) -> RoleArn | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3] != "":
        return None
    partition, account, resource = parts[1], parts[4], parts[5]
    if not PARTITION.fullmatch(partition) or not ACCOUNT_ID.fullmatch(account):
        return None
    if not resource.startswith("role/"):
        return None
    path_and_name = resource[len("role") :]
    slash = path_and_name.rfind("/")
    path, name = path_and_name[: slash + 1], path_and_name[slash + 1 :]
    if not ROLE_PATH.fullmatch(path) or not ROLE_NAME.fullmatch(name) or len(path) > 512:
        return None
    return RoleArn(arn=arn, partition=partition, account=account, path=path, name=name)


@lru_cache(maxsize=16384)
def classify_aws_principal(value: str) -> AwsPrincipal:
    """Classify one ``"AWS"`` principal value; INVALID where IAM would reject it."""
    if value == "*":
        return AwsPrincipal(value, PrincipalKind.WILDCARD)
    if ACCOUNT_ID.fullmatch(value):
        return AwsPrincipal(value, PrincipalKind.ACCOUNT, account=value)
    if UNIQUE_ID.fullmatch(value):
        return AwsPrincipal(value, PrincipalKind.UNIQUE_ID)
    if "*" in value or "?" in value:
        # "You cannot use a wildcard to match part of a principal name or ARN."
        return AwsPrincipal(value, PrincipalKind.INVALID)
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[3] != "":
        return AwsPrincipal(value, PrincipalKind.INVALID)
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    if not PARTITION.fullmatch(partition) or not ACCOUNT_ID.fullmatch(account):
        return AwsPrincipal(value, PrincipalKind.INVALID)
    if service == "iam":
        if resource == "root":
            return AwsPrincipal(value, PrincipalKind.ACCOUNT, partition, account)
        role = _parse_role_arn(value)
        if role is not None:
            return AwsPrincipal(value, PrincipalKind.ROLE, partition, account, role.path, role.name)
        if resource.startswith("user/") and len(resource) > len("user/"):
            return AwsPrincipal(value, PrincipalKind.USER, partition, account, name=resource[5:])
        return AwsPrincipal(value, PrincipalKind.INVALID)
    if service == "sts":
        if resource.startswith("assumed-role/"):
            pieces = resource.split("/")
            if len(pieces) == 3 and ROLE_NAME.fullmatch(pieces[1]) and pieces[2]:
                return AwsPrincipal(
                    value, PrincipalKind.ROLE_SESSION, partition, account, name=pieces[1], session=pieces[2]
                )
        elif resource.startswith("federated-user/") and len(resource) > len("federated-user/"):
            return AwsPrincipal(value, PrincipalKind.FEDERATED_USER, partition, account)
    return AwsPrincipal(value, PrincipalKind.INVALID)
