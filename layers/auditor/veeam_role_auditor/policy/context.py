"""The request context of the appliance's ``sts:AssumeRole`` call, as far as it can be known offline.

The Veeam appliance calls ``sts:AssumeRole`` with the credentials of its EC2 instance profile, i.e. as
a role session of the Impersonation role. Values come from the IAM User Guide pages "AWS global
condition context keys" and "IAM policy elements: Variables and tags" (principal key values table).
A key is one of: known (its values), absent, present with an unknown value, maybe present (unknown
whether and what), or present with a value unknown offline but within a range the documentation states:
a known prefix followed by an unknown suffix (``aws:userid``, ``aws:PrincipalOrgPaths``), one of a few
values (``aws:SecureTransport``), or a date not later than now (``aws:TokenIssueTime``).
Condition evaluation turns anything it cannot decide into UNKNOWN: never guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache

from .arn import RoleArn


class Presence(Enum):
    KNOWN = "known"
    ABSENT = "absent"
    PRESENT_UNKNOWN = "present_unknown"
    MAYBE = "maybe"
    # Present; every value is values[0] followed by a non-empty unknown suffix. For a multivalued key
    # (aws:PrincipalOrgPaths) there is at least one value and each has that prefix.
    PREFIX = "prefix"
    # Present; exactly one of ``values``, which one unknown offline.
    ONE_OF = "one_of"
    # Present; a date not later than values[0] (ISO 8601), how much earlier unknown offline.
    NOT_AFTER = "not_after"


@dataclass(frozen=True, slots=True)
class ContextValue:
    presence: Presence
    values: tuple[str, ...] = ()
    why: str = ""
    # A multivalued key ("Value type - Multivalued" in the global condition keys page): several values.
    multivalued: bool = False


ABSENT = ContextValue(Presence.ABSENT)


def known(*values: str) -> ContextValue:
    return ContextValue(Presence.KNOWN, tuple(values))


def unknown_present(why: str) -> ContextValue:
    return ContextValue(Presence.PRESENT_UNKNOWN, why=why)


def maybe(why: str, *, multivalued: bool = False) -> ContextValue:
    return ContextValue(Presence.MAYBE, why=why, multivalued=multivalued)


def with_prefix(prefix: str, why: str, *, multivalued: bool = False) -> ContextValue:
    return ContextValue(Presence.PREFIX, (prefix,), why=why, multivalued=multivalued)


def one_of(values: tuple[str, ...], why: str) -> ContextValue:
    return ContextValue(Presence.ONE_OF, values, why=why)


def organization_path_prefix(org_id: str) -> str:
    """What every AWS Organizations path of an account in ``org_id`` starts with.

    IAM User Guide, "AWS global condition context keys", aws:PrincipalOrgPaths: the path of an account
    attached to an OU is "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"; an OU path "is built
    using the IDs of the organization, root, and all OUs in the path" (Organizations entity path), and a
    root ID "begins with "r-" followed by from 4 to 32 lowercase letters or digits" (AWS Organizations
    API Reference, Parent).
    """
    return f"{org_id}/r-"


# Keys whose value the appliance's session carries but that cannot be read offline.
_PRESENT_UNKNOWN = {
    "aws:requestedregion": "the STS endpoint region the appliance calls",
    "aws:useragent": "the appliance's user agent",
    "aws:ec2instancesourcevpc": "the appliance instance's VPC",
    "aws:ec2instancesourceprivateipv4": "the appliance instance's private IP",
    "ec2:sourceinstancearn": "the appliance instance's ARN",
    "sts:rolesessionname": "the session name Veeam passes to AssumeRole",
}

# Keys that may or may not be in the request, with values unknown offline.
_MAYBE = {
    # "included in the request context, except when the requester uses a VPC endpoint" (global keys)
    "aws:sourceip": "the appliance's source IP address, absent when it calls STS through a VPC endpoint",
    "aws:sourcevpc": "whether the call goes through a VPC endpoint",
    "aws:sourcevpce": "whether the call goes through a VPC endpoint",
    "aws:vpcsourceip": "whether the call goes through a VPC endpoint",
    "aws:referer": "the HTTP referer",
    "aws:principalorgpaths": "the appliance account's organization path (pass --appliance-org-id)",
    "aws:tagkeys": "the session tags Veeam passes",
    "sts:transitivetagkeys": "the session tags Veeam passes",
    "aws:sourceidentity": "the source identity of the appliance session",
    "sts:sourceidentity": "the source identity Veeam passes",
    "aws:principaltag/": "the appliance role's principal tags",
    "aws:requesttag/": "the session tags Veeam passes",
}

# Multivalued keys among those ("AWS global condition context keys", Value type - Multivalued).
_MULTIVALUED = frozenset(
    {"aws:principalorgpaths", "aws:resourceorgpaths", "aws:tagkeys", "sts:transitivetagkeys", "aws:calledvia"}
)

# Keys that no service sets for a direct AssumeRole call by a role session. Any key not listed
# anywhere here is absent too: service-specific and federation keys (saml:*, <provider>:aud, ...)
# are only set for other actions.
_ABSENT = (
    "aws:username",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:multifactorauthage",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:federatedprovider",
    "aws:assumedroot",
)


@dataclass(frozen=True, slots=True)
class Appliance:
    """What is known about the Veeam appliance: its Impersonation role and optional facts."""

    role: RoleArn
    role_id: str | None = None
    org_id: str | None = None
    external_id: str | None = None
    # The Impersonation role has a permissions boundary (when known). Kept for callers; the trust
    # evaluation no longer needs it, since NotPrincipal (which a boundary would affect) makes a trust
    # policy malformed (see limits.NOT_PRINCIPAL_IN_TRUST).
    has_boundary: bool = False

    @property
    def account(self) -> str:
        return self.role.account

    @property
    def partition(self) -> str:
        return self.role.partition


@lru_cache(maxsize=64)
def _appliance_base(appliance: Appliance, now: datetime) -> dict[str, ContextValue]:
    moment = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    epoch = int(now.timestamp())
    base: dict[str, ContextValue] = {key: ABSENT for key in _ABSENT}
    base.update({key: unknown_present(why) for key, why in _PRESENT_UNKNOWN.items()})
    base.update(
        {
            "aws:principalarn": known(appliance.role.arn),
            "aws:principalaccount": known(appliance.account),
            "aws:principaltype": known("AssumedRole"),
            "aws:principalisawsservice": known("false"),
            "aws:viaawsservice": known("false"),
            # In the request context whenever temporary credentials sign it, as a role session's do;
            # an instance profile session is never MFA-authenticated (global condition keys page).
            "aws:multifactorauthpresent": known("false"),
            "aws:currenttime": known(moment),
            "aws:epochtime": known(str(epoch)),
            # Global condition keys: aws:SecureTransport is Boolean; ec2:RoleDelivery compares "the version
            # of the instance metadata service" (IMDSv1 or IMDSv2; example values 1.0, 2.0), "included in
            # the request context whenever the role session is created by an Amazon EC2 instance".
            "aws:securetransport": one_of(("true", "false"), "whether the STS call used TLS"),
            "ec2:roledelivery": one_of(("1.0", "2.0"), "the instance metadata service version"),
            # aws:TokenIssueTime: "the date and time that temporary security credentials were issued",
            # present for temporary credentials: issued before this request, so not later than now.
            "aws:tokenissuetime": ContextValue(
                Presence.NOT_AFTER, (moment,), why="when the instance profile credentials were issued"
            ),
            "aws:principalorgid": known(appliance.org_id)
            if appliance.org_id
            else maybe("the appliance account's AWS Organizations id (pass --appliance-org-id)"),
            "sts:externalid": known(appliance.external_id)
            if appliance.external_id
            else maybe("the external id Veeam passes (pass --external-id)"),
        }
    )
    # IAM User Guide, "IAM policy elements: Variables and tags", principal key values: for a "Role
    # assigned to an Amazon EC2 instance" aws:userid is "role-id:ec2-instance-id"; instance IDs begin
    # with "i-" (Amazon EC2 User Guide, "Resource IDs"), role unique ids with "AROA" ("IAM identifiers").
    if appliance.role_id:
        base["aws:userid"] = with_prefix(appliance.role_id + ":i-", "the appliance instance's id in aws:userid")
    else:
        base["aws:userid"] = with_prefix("AROA", "the appliance role's unique id (pass --appliance-role-id)")
    if appliance.org_id:
        # "This key is included in the request context only if the principal is a member of an
        # organization" (aws:PrincipalOrgPaths): with the organization id given, it is, and every value
        # is a path inside that organization.
        base["aws:principalorgpaths"] = with_prefix(
            organization_path_prefix(appliance.org_id),
            "the appliance account's OU path in its organization",
            multivalued=True,
        )
    return base


class RequestContext:
    """Looks up condition keys (lower-cased) for the appliance's AssumeRole on one audited role.

    Cheap to create: the appliance's part is built on the first lookup and shared (cached) between
    every role evaluated in the same second.
    """

    __slots__ = ("_appliance", "_base", "_now", "_resource", "_resource_tags")

    def __init__(
        self,
        appliance: Appliance,
        *,
        resource: RoleArn,
        resource_tags: dict[str, str] | None,
        now: datetime | None = None,
    ) -> None:
        self._appliance = appliance
        self._now = now
        self._base: dict[str, ContextValue] | None = None
        self._resource = resource
        self._resource_tags = resource_tags

    def lookup(self, key: str) -> ContextValue:
        """The value of condition key ``key`` (already lower-cased)."""
        base = self._base
        if base is None:
            moment = (self._now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            base = self._base = _appliance_base(self._appliance, moment)
        value = base.get(key)
        if value is not None:
            return value
        if key == "aws:resourceaccount":
            return known(self._resource.account)
        if key in ("aws:resourceorgid", "aws:resourceorgpaths"):
            appliance = self._appliance
            if appliance.org_id and self._resource.account == appliance.account:
                if key == "aws:resourceorgid":
                    return known(appliance.org_id)
                return with_prefix(
                    organization_path_prefix(appliance.org_id), "the audited role account's OU path", multivalued=True
                )
            paths = key.endswith("paths")
            return maybe(f"the audited role account's organization {'path' if paths else 'id'}", multivalued=paths)
        if key.startswith(("aws:resourcetag/", "iam:resourcetag/")):
            if self._resource_tags is None:
                return maybe("the audited role's tags")
            # Tag keys in condition keys are matched without regard to case, like key names.
            wanted = key.split("/", 1)[1]
            for tag_key, tag_value in self._resource_tags.items():
                if tag_key.lower() == wanted:
                    return known(tag_value)
            return ABSENT
        slash = key.find("/")
        if slash > 0 and key[: slash + 1] in _MAYBE:
            return maybe(_MAYBE[key[: slash + 1]])
        if key in _MAYBE:
            return maybe(_MAYBE[key], multivalued=key in _MULTIVALUED)
        return ABSENT


class ServiceRequestContext(RequestContext):
    """The request context of an AWS service principal (such as EC2) assuming a role.

    Only what the service itself implies is known; everything else is treated as unknown.
    """

    __slots__ = ("_service",)

    def __init__(self, service: str, now: datetime | None = None) -> None:
        self._service = service
        self._now = now

    def lookup(self, key: str) -> ContextValue:
        if key == "aws:principalservicename":
            return known(self._service)
        if key == "aws:principalisawsservice":
            return known("true")
        if key in ("aws:currenttime", "aws:epochtime"):
            moment = (self._now or datetime.now(UTC)).astimezone(UTC)
            if key == "aws:currenttime":
                return known(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
            return known(str(int(moment.timestamp())))
        return maybe(f"what {self._service} passes when it assumes the role")
