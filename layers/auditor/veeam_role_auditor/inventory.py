"""AWS adapter: reads roles, tags and the appliance role's policies from IAM (boto3 lives here).

A full scan reads every role with ``iam:GetAccountAuthorizationDetails`` (Filter Role), which returns
trust policy, tags, inline policies, attached policy ARNs, boundary and instance profiles in pages of
up to 1,000 roles: no per-role call, so 5,000 roles cost 5 calls. Throttling and transient errors are
retried by botocore's retry modes (``adaptive`` by default), not by a loop of our own.

Clients made by :func:`auditor_session` parse the timestamps of responses with :func:`parse_timestamp`,
query-protocol responses with :class:`QueryParser`, and decode IAM's policy documents with
:class:`PolicyDecoder`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from botocore import parsers as botocore_parsers
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.handlers import decode_quoted_jsondoc, json_decode_policies
from botocore.parsers import ResponseParserFactory
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from .model import ApplianceState, ManagedPolicyDocuments, RolePermissions, RoleSnapshot
from .policy import NamedPolicy, parse_role_arn

if TYPE_CHECKING:
    import boto3

# "MaxItems ... If you do not include this parameter, the number of items defaults to 100" and may be
# at most 1000 (IAM API reference, GetAccountAuthorizationDetails).
PAGE_SIZE = 1000

_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_MISSING = frozenset({"NoSuchEntity", "NoSuchEntityException"})


def client_config(retry_mode: str = "adaptive", max_attempts: int = 10) -> Config:
    """botocore retry configuration used by every client of the auditor."""
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="veeam-role-auditor",
    )


# The one form AWS query APIs such as IAM write timestamps in (CreateDate: "2024-05-06T07:08:09Z"), with
# fractional seconds and numeric offsets for good measure. ASCII digits only: re's \d would accept other
# scripts' digits, which botocore's parser treats otherwise.
_ISO_8601 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:Z|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)


def parse_timestamp(value: Any) -> datetime:
    """A response timestamp as botocore's own parser reads it, without dateutil for ISO 8601.

    botocore hands every timestamp of a response to dateutil, about 0.1 ms each: a 5,000-role
    GetAccountAuthorizationDetails spends half its parsing there (bench/scan_bench.py). This reads
    ``YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`` directly, to the same wall time, offset and
    microseconds (digits beyond six dropped, as dateutil does); everything else (epoch numbers, RFC 822
    dates, other ISO forms, invalid dates) goes to botocore's parser, which gives its own answer or error.
    The offset is a ``datetime.timezone`` where botocore gives one of dateutil's (``tzlocal()`` for UTC
    on a machine whose zone is UTC): the same instant and offset.
    """
    if type(value) is str:
        match = _ISO_8601.fullmatch(value)
        if match is not None:
            year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
            if sign is None:
                zone = UTC
            else:
                offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
                zone = timezone(-offset if sign == "-" else offset)
            micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
            try:
                return datetime(
                    int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=zone
                )
            except ValueError:
                pass  # such as 30 February: botocore's parser words the error
    parsed: datetime = botocore_parse_timestamp(value)
    return parsed


def auditor_session(*, profile_name: str | None = None, region_name: str | None = None) -> boto3.Session:
    """A boto3 session whose clients parse responses faster, to the same results as botocore's parsers.

    Response timestamps are read by :func:`parse_timestamp`, query-protocol responses (IAM, STS, SNS) by
    :class:`QueryParser` (see there), and IAM's policy documents decoded by :class:`PolicyDecoder`. A session
    of its own (botocore's ``response_parser_factory`` component and handlers are per session): clients other
    code makes from boto3's default session keep botocore's parsers and handlers.
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("response_parser_factory", AuditorParserFactory())
    core.unregister("after-call.iam", json_decode_policies)
    core.register("after-call.iam", PolicyDecoder())
    return boto3.Session(botocore_session=core, profile_name=profile_name, region_name=region_name)


class PolicyDecoder:
    """botocore's after-call handler of IAM responses (``handlers.json_decode_policies``: each
    ``policyDocumentType`` string decoded into its document), to the same results, visiting only the
    members whose shapes can hold such a string.

    botocore's handler walks every structure and list of a response by its shape: for a 5,000-role
    GetAccountAuthorizationDetails page, 70,000 calls (tags, timestamps, instance profiles...) to decode
    5,000 trust policies. Here each output shape gets, the first time it is met, the paths to its policy
    documents (the members botocore's walk would decode or descend into, with the subtrees that hold no
    policy document left out); each response follows only those. A shape that contains itself (none of
    IAM's does today) is left to botocore's handler itself.
    """

    POLICY_SHAPE = "policyDocumentType"  # as botocore's handler names it

    def __init__(self) -> None:
        self._plans: dict[int, tuple[Any, Any]] = {}  # by id of the output shape: (shape, plan)

    def __call__(self, parsed: Any, model: Any, **kwargs: Any) -> None:
        shape = model.output_shape
        if shape is None:
            return
        entry = self._plans.get(id(shape))
        if entry is None or entry[0] is not shape:  # (the shape kept: its id is not reused meanwhile)
            try:
                plan = self._plan(shape, ())
            except RecursionError:
                plan = _WALK
            entry = self._plans[id(shape)] = (shape, plan)
        plan = entry[1]
        if plan is _WALK:
            json_decode_policies(parsed, model)
        elif plan is not None:
            _follow(parsed, plan)

    def _plan(self, shape: Any, enclosing: tuple[str, ...]) -> Any:
        """None (nothing to decode below), or ("structure", ((member, plan or _DECODE), ...)) or ("list", plan)."""
        if shape.type_name == "structure":
            if shape.name in enclosing:
                raise RecursionError(shape.name)
            rows = []
            for member_name, member_shape in shape.members.items():
                if member_shape.type_name == "string" and member_shape.name == self.POLICY_SHAPE:
                    rows.append((member_name, _DECODE))
                elif (below := self._plan(member_shape, (*enclosing, shape.name))) is not None:
                    rows.append((member_name, below))
            return ("structure", tuple(rows)) if rows else None
        if shape.type_name == "list":
            below = self._plan(shape.member, enclosing)
            return None if below is None else ("list", below)
        return None  # botocore's walk goes no further (maps included)


_DECODE = "decode"
_WALK = "walk"


def _follow(parsed: Any, plan: Any) -> None:
    kind, below = plan
    if kind == "list":
        for item in parsed:
            _follow(item, below)
        return
    for member_name, action in below:
        if member_name in parsed:
            if action is _DECODE:
                parsed[member_name] = decode_quoted_jsondoc(parsed[member_name])
            else:
                _follow(parsed[member_name], action)


class AuditorParserFactory(ResponseParserFactory):  # type: ignore[misc]  # botocore has no type hints
    """botocore's parser factory, with :func:`parse_timestamp` for every protocol and one
    :class:`QueryParser` (its per-shape tables kept) for every query-protocol response of the session."""

    def __init__(self) -> None:
        super().__init__()
        self.set_parser_defaults(timestamp_parser=parse_timestamp)
        self._query = QueryParser(timestamp_parser=parse_timestamp)

    def create_parser(self, protocol_name: str) -> Any:
        # botocore asks for a parser per response; its parsers keep no state between responses (only this
        # one's tables, which any response of the session's service models may share, from any thread).
        return self._query if protocol_name == "query" else super().create_parser(protocol_name)


_Table = tuple[tuple[str, str, Any, Any], ...]
"""A structure's members in the body: (name, XML name, shape, handler)."""


class QueryParser(botocore_parsers.QueryParser):  # type: ignore[misc]  # botocore has no type hints
    """botocore's query-protocol parser, to the same results, with what it works out again for every XML
    element worked out once per shape and element name.

    For each structure in a response, botocore's parser reads every member's serialization (its XML name,
    its location, whether it is flattened) and looks up the handler of its type by name; for each element it
    strips the XML namespace from the tag with a regular expression. A 5,000-role
    GetAccountAuthorizationDetails response holds 15,000 structures and 65,000 elements: about half of
    its parsing time (bench/floor_bench.py --profile). Here each structure shape gets a table of its members
    (name, XML name, shape, handler) the first time it is met, and each tag its stripped name; the rest is
    botocore's own code (lists, maps, scalars, timestamps, errors, response metadata). A structure the table
    would not describe exactly (an error shape, a tagged union, a member with serialization details other
    than its XML name and flattening, such as an XML attribute) is parsed by botocore's method instead.
    """

    # Serialization keys the tables account for (botocore's _handle_structure and _member_key_name read
    # these); a member with any other key is parsed by botocore's own method.
    _PLAIN_SERIALIZATION = frozenset({"name", "flattened"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tags: dict[str, str] = {}
        self._handlers: dict[int, tuple[Any, Any]] = {}  # by id: (shape, handler)
        self._tables: dict[int, tuple[Any, _Table | None]] = {}  # by id: (shape, table)

    def _node_tag(self, node: Any) -> str:
        tag: str = node.tag
        name = self._tags.get(tag)
        if name is None:
            name = self._tags[tag] = super()._node_tag(node)
        return name

    def _handler(self, shape: Any) -> Any:
        # Keyed by id, the shape kept beside its entry: a shape is never equal to another, and holding it
        # keeps its id from being reused while the entry exists.
        entry = self._handlers.get(id(shape))
        if entry is None or entry[0] is not shape:
            entry = self._handlers[id(shape)] = (
                shape,
                getattr(self, f"_handle_{shape.type_name}", self._default_handle),
            )
        return entry[1]

    def _parse_shape(self, shape: Any, node: Any) -> Any:
        return self._handler(shape)(shape, node)

    def _handle_list(self, shape: Any, node: Any) -> Any:
        if shape.serialization.get("flattened") and not isinstance(node, list):
            node = [node]
        member = shape.member
        handler = self._handler(member)
        return [None if item is None else handler(member, item) for item in node]

    def _table(self, shape: Any) -> _Table | None:
        entry = self._tables.get(id(shape))
        if entry is not None and entry[0] is shape:
            return entry[1]
        table: _Table | None = None
        if not shape.metadata.get("exception", False) and not shape.is_tagged_union:
            rows = []
            for member_name, member_shape in shape.members.items():
                serialization = member_shape.serialization
                if serialization.get("location") in self.KNOWN_LOCATIONS or serialization.get("eventheader"):
                    continue  # not in the body: botocore skips these too
                if not self._PLAIN_SERIALIZATION.issuperset(serialization):
                    break
                xml_name = self._member_key_name(member_shape, member_name)
                rows.append((member_name, xml_name, member_shape, self._handler(member_shape)))
            else:
                table = tuple(rows)
        self._tables[id(shape)] = (shape, table)
        return table

    def _handle_structure(self, shape: Any, node: Any) -> Any:
        table = self._table(shape)
        if table is None:
            return super()._handle_structure(shape, node)
        elements = self._build_name_to_xml_node(node)
        parsed = {}
        for member_name, xml_name, member_shape, handler in table:
            element = elements.get(xml_name)
            if element is not None:
                parsed[member_name] = handler(member_shape, element)
        return parsed


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Caller:
    """Who the scan runs as: the account scanned and its partition."""

    partition: str
    account: str
    arn: str


class Inventory:
    """Reads IAM through injected clients (``iam`` and ``sts``)."""

    def __init__(self, iam: Any, sts: Any, *, now: Callable[[], datetime] | None = None) -> None:
        self.iam = iam
        self.sts = sts
        self._now = now or (lambda: datetime.now(UTC))

    def caller(self) -> Caller:
        identity = self.sts.get_caller_identity()
        arn = identity["Arn"]
        return Caller(partition=arn.split(":")[1], account=identity["Account"], arn=arn)

    def role_pages(self) -> Iterator[list[RoleSnapshot]]:
        """Every role in the account, a page at a time (one GetAccountAuthorizationDetails call each)."""
        paginator = self.iam.get_paginator("get_account_authorization_details")
        for page in paginator.paginate(Filter=["Role"], PaginationConfig={"PageSize": PAGE_SIZE}):
            observed_at = self._now()
            yield [role_from_details(item, observed_at) for item in page.get("RoleDetailList", [])]

    def role(self, role_name: str) -> RoleSnapshot | None:
        """One role, read directly (GetRole + ListRoleTags): for event-driven re-evaluation.

        Returns None when the role does not exist (any more).
        """
        try:
            role = self.iam.get_role(RoleName=role_name)["Role"]
            tags: list[dict[str, str]] = []
            for page in self.iam.get_paginator("list_role_tags").paginate(RoleName=role_name):
                tags.extend(page.get("Tags", []))
        except ClientError as error:
            if error_code(error) in _MISSING:
                return None
            raise
        role["Tags"] = tags
        return role_from_details(role, self._now())

    def appliance_state(self, role_arn: str, caller: Caller, roles: Mapping[str, RoleSnapshot]) -> ApplianceState:
        """What the scan can know about one Impersonation role.

        ``roles`` maps ARNs to the snapshots just read; the appliance's inline policies, attached
        policy ARNs and boundary come from there, and only its managed policies' default versions
        need targeted calls (GetPolicy + GetPolicyVersion each).
        """
        arn = parse_role_arn(role_arn)
        if arn.account != caller.account or arn.partition != caller.partition:
            return ApplianceState(
                role_arn=role_arn,
                in_scanned_account=False,
                unavailable_reason=(
                    f"the Impersonation role is in account {arn.account}; its permissions can only be "
                    f"read by an auditor deployed there (scanned account: {caller.account})"
                ),
            )
        snapshot = roles.get(role_arn) or _same_role(roles.values(), arn.path, arn.name)
        if snapshot is None:
            return ApplianceState(
                role_arn=role_arn,
                in_scanned_account=True,
                unavailable_reason=f"{role_arn} does not exist",
            )
        return self.appliance_policies(role_arn, snapshot)

    def appliance_state_direct(self, role_arn: str, caller: Caller) -> ApplianceState:
        """The same as :meth:`appliance_state`, read with a handful of targeted calls (for one event).

        GetRole, ListRolePolicies and GetRolePolicy, ListAttachedRolePolicies, ListInstanceProfilesForRole.
        """
        arn = parse_role_arn(role_arn)
        if arn.account != caller.account or arn.partition != caller.partition:
            return self.appliance_state(role_arn, caller, {})
        snapshot = self.role(arn.name)
        if snapshot is None or snapshot.path != arn.path:
            return ApplianceState(
                role_arn=role_arn, in_scanned_account=True, unavailable_reason=f"{role_arn} does not exist"
            )
        try:
            full = self._with_role_policies(snapshot)
        except ClientError as error:
            return _unreadable_policies(role_arn, snapshot, error)
        return self.appliance_policies(role_arn, full)

    def _with_role_policies(self, snapshot: RoleSnapshot) -> RoleSnapshot:
        """``snapshot`` (from GetRole, which lists no policies) with its inline policies, attached policy
        ARNs and instance profiles: ListRolePolicies + GetRolePolicy each, ListAttachedRolePolicies,
        ListInstanceProfilesForRole. Raises ClientError."""
        name = snapshot.name
        inline: list[NamedPolicy] = []
        for page in self.iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy_name in page.get("PolicyNames", []):
                document = self.iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
                inline.append(NamedPolicy(f"inline policy {policy_name}", document))
        attached: list[str] = []
        for page in self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            attached.extend(policy["PolicyArn"] for policy in page.get("AttachedPolicies", []))
        profiles: list[str] = []
        for page in self.iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=name):
            profiles.extend(profile["Arn"] for profile in page.get("InstanceProfiles", []))
        return replace(
            snapshot,
            inline_policies=tuple(inline),
            attached_policy_arns=tuple(attached),
            instance_profile_arns=tuple(profiles),
        )

    def role_permissions(self, snapshot: RoleSnapshot) -> tuple[RoleSnapshot, RolePermissions]:
        """One role's identity policies, read with targeted calls (the event path, for a role that
        declares a purpose): the calls of :meth:`_with_role_policies`, then GetPolicy + GetPolicyVersion
        for each attached managed policy and the boundary. Returns the completed snapshot (it now lists
        the role's policies and instance profiles) and the permissions, or why they could not be read.
        """
        try:
            full = self._with_role_policies(snapshot)
        except ClientError as error:
            code = error_code(error)
            if code not in _ACCESS_DENIED and code not in _MISSING:
                raise
            message = error.response.get("Error", {}).get("Message", "")
            return snapshot, RolePermissions(
                unavailable_reason=f"could not read the role's policies ({code}: {message})"
            )
        return full, self.managed_policy_documents([full], local_via="get").for_role(full)

    def managed_policy_documents(
        self, roles: Iterable[RoleSnapshot], *, local_via: Literal["details", "get"] = "details"
    ) -> ManagedPolicyDocuments:
        """The default versions of the managed policies (and boundaries) ``roles`` attach, each read once.

        Customer managed policies come from GetAccountAuthorizationDetails (Filter LocalManagedPolicy:
        every policy of the account with its versions, up to 1,000 a page) when ``local_via`` is
        "details", else like AWS managed policies from GetPolicy + GetPolicyVersion per distinct policy.
        AWS managed policies are always read that way: the LocalManagedPolicy filter leaves them out and
        the AWSManagedPolicy one pages through every AWS managed policy with every version
        (bench/purpose_bench.py measures the choices). No call per role. Access denied or a policy deleted
        meanwhile makes that policy unavailable (its roles' permissions cannot be judged); any other error
        raises, as reading the roles does.
        """
        wanted = dict.fromkeys(
            arn
            for role in roles
            for arn in (*role.attached_policy_arns, *((role.boundary_arn,) if role.boundary_arn else ()))
        )
        documents: dict[str, NamedPolicy] = {}
        unavailable: dict[str, str] = {}
        local = [arn for arn in wanted if not is_aws_managed(arn)]
        individually = [arn for arn in wanted if is_aws_managed(arn)]
        if local and local_via == "details":
            try:
                found = self._local_policies(set(local))
            except ClientError as error:
                reason = _policy_error(error)
                unavailable.update(dict.fromkeys(local, reason))
            else:
                documents.update(found)
                for arn in local:
                    if arn not in found:
                        unavailable[arn] = "NoSuchEntity: not among the account's managed policies any more"
        else:
            individually = local + individually
        for arn in individually:
            try:
                documents[arn] = self.managed_policy(arn)
            except ClientError as error:
                unavailable[arn] = _policy_error(error)
        return ManagedPolicyDocuments(documents, unavailable)

    def _local_policies(self, wanted: set[str]) -> dict[str, NamedPolicy]:
        found: dict[str, NamedPolicy] = {}
        paginator = self.iam.get_paginator("get_account_authorization_details")
        for page in paginator.paginate(Filter=["LocalManagedPolicy"], PaginationConfig={"PageSize": PAGE_SIZE}):
            for policy in page.get("Policies") or []:
                arn = policy.get("Arn")
                if arn not in wanted:
                    continue
                default = policy.get("DefaultVersionId")
                for version in policy.get("PolicyVersionList") or []:
                    if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                        found[arn] = NamedPolicy(
                            f"managed policy {arn} ({version.get('VersionId')})", version.get("Document", "")
                        )
                        break
        return found

    def appliance_policies(self, role_arn: str, snapshot: RoleSnapshot) -> ApplianceState:
        """Read the default versions of the appliance's managed policies and boundary."""
        try:
            managed = tuple(self.managed_policy(arn) for arn in snapshot.attached_policy_arns)
            boundary = self.managed_policy(snapshot.boundary_arn) if snapshot.boundary_arn else None
        except ClientError as error:
            return _unreadable_policies(role_arn, snapshot, error)
        return ApplianceState(
            role_arn=role_arn,
            in_scanned_account=True,
            snapshot=snapshot,
            identity_policies=snapshot.inline_policies + managed,
            boundary=boundary,
        )

    def managed_policy(self, policy_arn: str) -> NamedPolicy:
        version = self.iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        document = self.iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
        return NamedPolicy(f"managed policy {policy_arn} ({version})", document)


def is_aws_managed(policy_arn: str) -> bool:
    """AWS managed policies live in the account "aws": arn:aws:iam::aws:policy/... (IAM User Guide,
    "IAM identifiers", policy ARNs)."""
    parts = policy_arn.split(":", 5)
    return len(parts) == 6 and parts[4] == "aws"


def _policy_error(error: ClientError) -> str:
    code = error_code(error)
    if code not in _ACCESS_DENIED and code not in _MISSING:
        raise error
    message = error.response.get("Error", {}).get("Message", "")
    return f"{code}: {message}" if message else code


def _unreadable_policies(role_arn: str, snapshot: RoleSnapshot, error: ClientError) -> ApplianceState:
    """Access denied, or a policy deleted while being read: the identity check is NOT_AVAILABLE."""
    code = error_code(error)
    if code not in _ACCESS_DENIED and code not in _MISSING:
        raise error
    message = error.response.get("Error", {}).get("Message", "")
    return ApplianceState(
        role_arn=role_arn,
        in_scanned_account=True,
        snapshot=snapshot,
        unavailable_reason=f"could not read the Impersonation role's policies ({code}: {message})",
    )


def role_from_details(item: Mapping[str, Any], observed_at: datetime) -> RoleSnapshot:
    """A RoleSnapshot from a RoleDetailList item (GetAccountAuthorizationDetails) or a GetRole Role."""
    boundary = item.get("PermissionsBoundary") or {}
    create_date = item.get("CreateDate")
    return RoleSnapshot(
        arn=item["Arn"],
        name=item["RoleName"],
        role_id=item["RoleId"],
        path=item.get("Path", "/"),
        trust_policy=item.get("AssumeRolePolicyDocument", ""),
        tags={tag["Key"]: tag["Value"] for tag in item.get("Tags") or []},
        observed_at=observed_at,
        create_date=create_date if isinstance(create_date, datetime) else None,
        inline_policies=tuple(
            NamedPolicy(f"inline policy {policy['PolicyName']}", policy.get("PolicyDocument", ""))
            for policy in item.get("RolePolicyList") or []
        ),
        attached_policy_arns=tuple(policy["PolicyArn"] for policy in item.get("AttachedManagedPolicies") or []),
        boundary_arn=boundary.get("PermissionsBoundaryArn"),
        instance_profile_arns=tuple(profile["Arn"] for profile in item.get("InstanceProfileList") or []),
    )


def _same_role(roles: Iterable[RoleSnapshot], path: str, name: str) -> RoleSnapshot | None:
    # IAM role names are unique regardless of case; an ARN typed with another case still names the role.
    wanted = name.lower()
    return next((role for role in roles if role.path == path and role.name.lower() == wanted), None)


def snapshots_by_arn(roles: Sequence[RoleSnapshot]) -> dict[str, RoleSnapshot]:
    return {role.arn: role for role in roles}
