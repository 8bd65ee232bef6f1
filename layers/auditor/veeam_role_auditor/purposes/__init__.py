"""What Veeam Backup for AWS requires of a role, per purpose and appliance version (pure, no boto3).

The data lives in ``purposes/data/<version>.json``, one file per appliance version, each list with the
help-center page it was read from (see ``purposes/README.md`` for how the lists were verified and the
rules applied where Veeam's pages disagree). A file either lists every purpose (``purposes``) or is
derived from another version plus the additions its IAM Permissions Changelog names (``additions``).

Action names compare case-insensitively, as IAM matches them ("IAM JSON policy elements: Action").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources as package_files
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "PURPOSES",
    "PurposeProfile",
    "PurposeStatement",
    "RequiredPolicy",
    "VersionDifference",
    "available_versions",
    "default_version",
    "load_extra_profiles",
    "load_version",
    "parse_purpose_tag",
    "policy_size",
    "purpose_actions",
    "required_policy",
    "required_trust_policy",
    "resolve_version",
    "split_policy",
    "validate_profile",
    "version_difference",
]

PURPOSES: tuple[str, ...] = (
    "organization-rescan",
    "ec2-backup",
    "ec2-restore",
    "rds-backup",
    "rds-instance-restore",
    "rds-database-restore",
    "dynamodb-backup",
    "dynamodb-restore",
    "redshift-backup",
    "redshift-restore",
    "redshift-serverless-backup",
    "redshift-serverless-restore",
    "efs-backup",
    "efs-restore",
    "fsx-backup",
    "fsx-restore",
    "vpc-backup",
    "vpc-restore",
    "repository",
    "worker-deployment",
    "worker-production",
    "worker-flr",
    "worker-configuration",
    "full-access",
)

CUSTOM_VERSION = "custom"
"""The ``version`` of a profile read from an operator's extra profile file: it applies to every version."""

# "IAM JSON policy elements: Action": service prefix, colon, action name. Required actions are concrete
# names: a wildcard would not say which action the role must be allowed.
_ACTION = re.compile(r"^[a-z0-9][a-z0-9-]*:[A-Za-z0-9]+$", re.IGNORECASE)
# "AWS JSON policy elements: Principal", service principals: <name>.amazonaws.com (.com.cn in aws-cn).
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")
_CUSTOM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TAG_SEPARATORS = re.compile(r"[\s,]+")

MANAGED_POLICY_SIZE = 6144
"""IAM and AWS STS quotas: a managed policy holds at most 6,144 characters, white space not counted."""


@dataclass(frozen=True)
class PurposeStatement:
    """One group of required actions with the resources Veeam documents for it and the page it is from."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    source: str
    sid: str = ""


@dataclass(frozen=True)
class PurposeProfile:
    """What one purpose requires of a role at one appliance version.

    ``actions`` are in the order and casing Veeam publishes, without case-insensitive duplicates;
    ``trust_services`` are the service principals the trust policy must also let assume the role
    (the appliance itself is always required and checked elsewhere); ``derived`` is True when the
    lists were not read from this version's pages but built from an earlier version and a changelog.
    """

    purpose: str
    version: str
    title: str
    actions: tuple[str, ...]
    statements: tuple[PurposeStatement, ...]
    trust_services: tuple[str, ...]
    instance_profile: bool
    sources: tuple[str, ...]
    notes: tuple[str, ...]
    derived: bool


@dataclass(frozen=True)
class RequiredPolicy:
    """The complete permissions policy, service principals and instance-profile need of a set of purposes."""

    document: dict[str, Any]
    trust_services: tuple[str, ...]
    instance_profile: bool


@dataclass(frozen=True)
class VersionDifference:
    """What a purpose gains (or loses) between two versions; actions compared case-insensitively."""

    purpose: str
    added_actions: tuple[str, ...]
    removed_actions: tuple[str, ...]
    added_trust_services: tuple[str, ...]
    instance_profile_added: bool

    def __bool__(self) -> bool:
        return bool(self.added_actions or self.removed_actions or self.added_trust_services)


class _DataError(ValueError):
    pass


def _dedupe(actions: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept: list[str] = []
    for action in actions:
        key = action.lower()
        if key not in seen:
            seen.add(key)
            kept.append(action)
    return tuple(kept)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@cache
def _raw_versions() -> Mapping[str, Mapping[str, Any]]:
    folder = package_files.files(__name__).joinpath("data")
    raw: dict[str, Mapping[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            document = json.loads(entry.read_text(encoding="utf-8"))
            if document.get("version") != entry.name.removesuffix(".json"):
                raise _DataError(f"purposes/data/{entry.name}: its version is {document.get('version')!r}")
            raw[document["version"]] = document
    return MappingProxyType(raw)


def available_versions() -> tuple[str, ...]:
    """Every appliance version with data, oldest first."""
    return tuple(sorted(_raw_versions(), key=_version_key))


def default_version() -> str:
    """The newest version whose lists were all read from its own pages (not derived from a changelog)."""
    complete = [version for version in available_versions() if _raw_versions()[version].get("complete")]
    return complete[-1]


def resolve_version(version: str | None) -> str:
    """The known version ``version`` names: the full build, or its leading parts when one build matches.

    None means the default version. "10" and "10.0" name "10.0.0.232"; "11.0.0.5" names "11", a version
    known only by its leading parts. A name that matches no version or several raises ValueError naming
    the known versions.
    """
    if version is None:
        return default_version()
    wanted = version.strip()
    known = available_versions()
    if wanted in known:
        return wanted
    parts = wanted.split(".")
    matches = [candidate for candidate in known if candidate.split(".")[: len(parts)] == parts]
    if not matches:
        # A version known only by its leading parts ("11": the build is not published) stands for its line.
        matches = [candidate for candidate in known if parts[: len(candidate.split("."))] == candidate.split(".")]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(known)
    if matches:
        raise ValueError(f"Veeam version {version!r} is ambiguous: it matches {', '.join(matches)} (known: {listed})")
    raise ValueError(f"unknown Veeam version {version!r}: known versions are {listed}")


def _statement(raw: Mapping[str, Any]) -> PurposeStatement:
    return PurposeStatement(
        actions=tuple(raw["actions"]),
        resources=tuple(raw.get("resources") or ("*",)),
        source=raw.get("source") or "",
        sid=raw.get("sid") or "",
    )


def _profile(purpose: str, version: str, raw: Mapping[str, Any], *, derived: bool) -> PurposeProfile:
    statements = tuple(_statement(item) for item in raw["statements"])
    sources = [statement.source for statement in statements if statement.source]
    if raw.get("trust_source"):
        sources.append(raw["trust_source"])
    return PurposeProfile(
        purpose=purpose,
        version=version,
        title=raw.get("title", purpose),
        actions=_dedupe(action for statement in statements for action in statement.actions),
        statements=statements,
        trust_services=tuple(raw.get("trust_services", ())),
        instance_profile=bool(raw.get("instance_profile", False)),
        sources=tuple(dict.fromkeys(sources)),
        notes=tuple(raw.get("notes", ())),
        derived=derived,
    )


def _derive(base: Mapping[str, PurposeProfile], raw: Mapping[str, Any]) -> dict[str, PurposeProfile]:
    version = raw["version"]
    source = raw["changelog"]["source"]
    note = f"Derived: the {base[PURPOSES[0]].version} list plus the additions of the changelog for {version}."
    derived: dict[str, PurposeProfile] = {}
    for purpose, profile in base.items():
        have = {action.lower() for action in profile.actions}
        added = _dedupe(a for a in raw.get("additions", {}).get(purpose, ()) if a.lower() not in have)
        statements = profile.statements
        if added:
            statements = (*statements, PurposeStatement(added, ("*",), source, f"Changelog{version.split('.')[0]}"))
        derived[purpose] = PurposeProfile(
            purpose=purpose,
            version=version,
            title=profile.title,
            actions=(*profile.actions, *added),
            statements=statements,
            trust_services=profile.trust_services,
            instance_profile=profile.instance_profile,
            sources=tuple(dict.fromkeys((*profile.sources, source))),
            notes=(*profile.notes, note, *raw.get("notes", ())),
            derived=True,
        )
    return derived


@cache
def _load(version: str) -> Mapping[str, PurposeProfile]:
    raw = _raw_versions()[version]
    if raw.get("derived_from"):
        profiles = _derive(_load(raw["derived_from"]), raw)
    else:
        profiles = {name: _profile(name, version, item, derived=False) for name, item in raw["purposes"].items()}
    return MappingProxyType({name: profiles[name] for name in PURPOSES if name in profiles})


def load_version(version: str | None = None) -> Mapping[str, PurposeProfile]:
    """Every purpose's profile at ``version`` (see ``resolve_version``; None = the default version)."""
    return _load(resolve_version(version))


def _check_list(value: object, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _DataError(f"{where}: {what} must be a list of strings")
    return value


def validate_profile(profile: PurposeProfile, where: str) -> None:
    """Raise ValueError (naming ``where``) when a profile breaks the rules every data file follows."""
    if not profile.actions:
        raise _DataError(f"{where}: no actions")
    for action in (a for statement in profile.statements for a in statement.actions):
        if not _ACTION.match(action):
            raise _DataError(f"{where}: {action!r} is not an IAM action name (service:Action, no wildcards)")
    for statement in profile.statements:
        keys = [action.lower() for action in statement.actions]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise _DataError(f"{where}: actions listed twice: {', '.join(duplicates)}")
        if not statement.resources or not all(r == "*" or r.startswith("arn:") for r in statement.resources):
            raise _DataError(f'{where}: resources must be "*" or ARNs, not {list(statement.resources)}')
    for service in profile.trust_services:
        if not _SERVICE.match(service):
            raise _DataError(f"{where}: {service!r} is not a service principal (name.amazonaws.com)")


def load_extra_profiles(path: str | Path) -> Mapping[str, PurposeProfile]:
    """Custom purposes from an operator's JSON file; they apply to every version.

    Format: ``{"purposes": {"<name>": {"actions": [...]} }}``, where a purpose gives either ``actions``
    (on Resource "*") or ``statements`` (``[{"actions": [...], "resources": [...]}]``), and optionally
    ``trust_services``, ``instance_profile``, ``title``, ``notes`` and ``sources``. Names are lower-case
    letters, digits and hyphens and may not redefine one of Veeam's purposes. Any defect raises ValueError
    naming the file, the purpose and the defect.
    """
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{file}: cannot read the extra profile file ({error.strerror or error})") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{file}: not JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(document, dict) or not isinstance(document.get("purposes"), dict) or not document["purposes"]:
        raise ValueError(f'{file}: expected an object {{"purposes": {{"<name>": {{...}}}}}} with at least one purpose')
    return MappingProxyType({name: _extra_profile(file, name, raw) for name, raw in document["purposes"].items()})


_EXTRA_FIELDS = frozenset({"title", "actions", "statements", "trust_services", "instance_profile", "notes", "sources"})


def _extra_statements(raw: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    if ("actions" in raw) == ("statements" in raw):
        raise _DataError(f'{where}: give either "actions" or "statements"')
    if "actions" in raw:
        return [{"actions": _check_list(raw["actions"], where, "actions"), "resources": ["*"]}]
    if not isinstance(raw["statements"], list) or not raw["statements"]:
        raise _DataError(f"{where}: statements must be a non-empty list")
    statements = []
    for index, item in enumerate(raw["statements"]):
        if not isinstance(item, dict) or set(item) - {"actions", "resources"}:
            raise _DataError(f'{where}: statement {index} must be {{"actions": [...], "resources": [...]}}')
        actions = _check_list(item.get("actions"), where, f"statement {index} actions")
        resources = _check_list(item.get("resources", ["*"]), where, f"statement {index} resources")
        statements.append({"actions": actions, "resources": resources})
    return statements


def _extra_profile(file: Path, name: str, raw: object) -> PurposeProfile:
    where = f"{file}: purpose {name!r}"
    if not _CUSTOM_NAME.match(name):
        raise _DataError(f"{where}: a name is lower-case letters, digits and hyphens (at most 63)")
    if name in PURPOSES:
        raise _DataError(f"{where}: is one of Veeam's purposes; give the custom purpose its own name")
    if not isinstance(raw, dict):
        raise _DataError(f"{where}: must be an object")
    unknown = sorted(set(raw) - _EXTRA_FIELDS)
    if unknown:
        raise _DataError(
            f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_EXTRA_FIELDS))})"
        )
    if not isinstance(raw.get("instance_profile", False), bool):
        raise _DataError(f"{where}: instance_profile must be true or false")
    profile = _profile(
        name,
        CUSTOM_VERSION,
        {
            "title": raw.get("title", name),
            "statements": _extra_statements(raw, where),
            "trust_services": _check_list(raw.get("trust_services", []), where, "trust_services"),
            "instance_profile": raw.get("instance_profile", False),
            "notes": _check_list(raw.get("notes", []), where, "notes"),
        },
        derived=False,
    )
    profile = replace(profile, sources=tuple(_check_list(raw.get("sources", [str(file)]), where, "sources")))
    validate_profile(profile, where)
    return profile


def parse_purpose_tag(value: str, extra: Iterable[str] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a purpose tag value into (known purposes, unknown names).

    Purposes are separated by spaces (commas are accepted too) and read case-insensitively: a tag is
    typed by hand and "EC2-Backup" can only mean ec2-backup. Both results keep the tag's order without
    repeats (compared case-insensitively); unknown names keep their first spelling so that the finding
    can quote them. ``extra`` adds the names of custom purposes (from an extra profile file).
    """
    known_names = {*PURPOSES, *(name.lower() for name in extra)}
    known: list[str] = []
    unknown: list[str] = []
    for word in _TAG_SEPARATORS.split(value.strip()):
        if not word:
            continue
        name = word.lower()
        if name in known_names:
            if name not in known:
                known.append(name)
        elif name not in (seen.lower() for seen in unknown):
            unknown.append(word)
    return tuple(known), tuple(unknown)


def _profiles_for(
    purposes: Iterable[str], version: str | None, extra: Mapping[str, PurposeProfile] | None
) -> list[PurposeProfile]:
    profiles = load_version(version)
    chosen: list[PurposeProfile] = []
    for purpose in dict.fromkeys(purposes):
        if purpose in profiles:
            chosen.append(profiles[purpose])
        elif extra is not None and purpose in extra:
            chosen.append(extra[purpose])
        else:
            known = ", ".join((*PURPOSES, *(extra or {})))
            raise ValueError(f"unknown purpose {purpose!r}: known purposes are {known}")
    return chosen


def purpose_actions(
    purposes: Iterable[str],
    version: str | None = None,
    extra: Mapping[str, PurposeProfile] | None = None,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every (action, documented resources) pair these purposes need at ``version``, each once.

    Pairs are compared with the action case-insensitively; the first spelling met is kept, purposes in
    the order given, then statement order. This is what a permissions check evaluates for a role
    (``policy.permissions.RequiredAction(action, resources)``).
    """
    seen: set[tuple[str, tuple[str, ...]]] = set()
    pairs: list[tuple[str, tuple[str, ...]]] = []
    for profile in _profiles_for(purposes, version, extra):
        for statement in profile.statements:
            resources = tuple(sorted(set(statement.resources)))
            for action in statement.actions:
                key = (action.lower(), resources)
                if key not in seen:
                    seen.add(key)
                    pairs.append((action, resources))
    return tuple(pairs)


def required_policy(
    purposes: Iterable[str],
    version: str | None = None,
    extra: Mapping[str, PurposeProfile] | None = None,
) -> RequiredPolicy:
    """The complete policy Veeam requires of a role with these purposes at ``version``.

    One Allow statement per distinct resource list ("*" first), actions de-duplicated case-insensitively
    (the first spelling met, purposes in the order given) and sorted case-insensitively; the service
    principals its trust policy must also allow (sorted); whether it must be in an instance profile.
    An action already required on "*" is not repeated under narrower resources.
    """
    chosen = _profiles_for(purposes, version, extra)
    if not chosen:
        raise ValueError("no purposes given")
    by_resources: dict[tuple[str, ...], dict[str, str]] = {}
    for profile in chosen:
        for statement in profile.statements:
            group = by_resources.setdefault(tuple(sorted(set(statement.resources))), {})
            for action in statement.actions:
                group.setdefault(action.lower(), action)
    everywhere = set(by_resources.get(("*",), {}))
    ordered = sorted(by_resources, key=lambda arns: (arns != ("*",), arns))
    statements: list[dict[str, Any]] = []
    for resources in ordered:
        group = by_resources[resources]
        keys = sorted(key for key in group if resources == ("*",) or key not in everywhere)
        if not keys:
            continue
        statements.append(
            {
                "Sid": f"VeeamRequired{len(statements) + 1}",
                "Effect": "Allow",
                "Action": [group[key] for key in keys],
                "Resource": resources[0] if len(resources) == 1 else list(resources),
            }
        )
    services = sorted({service for profile in chosen for service in profile.trust_services})
    return RequiredPolicy(
        document={"Version": "2012-10-17", "Statement": statements},
        trust_services=tuple(services),
        instance_profile=any(profile.instance_profile for profile in chosen),
    )


def required_trust_policy(appliance_principal: str, trust_services: Iterable[str] = ()) -> dict[str, Any]:
    """The trust policy Veeam documents for an added role, plus the services its purposes need.

    ``appliance_principal`` is the Impersonation role's ARN or the appliance account's ARN (Before You
    Begin, byb_roles.html: "Principal": {"AWS": "<Role ARN>"}); the services (``RequiredPolicy.
    trust_services``) get one statement, as the Full List page writes it.
    """
    if not appliance_principal.startswith("arn:"):
        raise ValueError(f"the appliance principal must be an ARN, not {appliance_principal!r}")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "VeeamAppliance",
            "Effect": "Allow",
            "Principal": {"AWS": appliance_principal},
            "Action": "sts:AssumeRole",
        }
    ]
    services = sorted(set(trust_services))
    if services:
        statements.append(
            {
                "Sid": "VeeamServices",
                "Effect": "Allow",
                "Principal": {"Service": services[0] if len(services) == 1 else services},
                "Action": "sts:AssumeRole",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def version_difference(purpose: str, current: str | None, target: str) -> VersionDifference:
    """What ``purpose`` requires at ``target`` that it did not at ``current`` (and what it no longer does)."""
    before = load_version(current)[purpose]
    after = load_version(target)[purpose]
    had = {action.lower() for action in before.actions}
    has = {action.lower() for action in after.actions}
    return VersionDifference(
        purpose=purpose,
        added_actions=tuple(action for action in after.actions if action.lower() not in had),
        removed_actions=tuple(action for action in before.actions if action.lower() not in has),
        added_trust_services=tuple(s for s in after.trust_services if s not in before.trust_services),
        instance_profile_added=after.instance_profile and not before.instance_profile,
    )


def policy_size(document: Mapping[str, Any]) -> int:
    """The characters IAM counts against its policy quotas: the JSON text without white space."""
    return sum(not character.isspace() for character in json.dumps(document, separators=(",", ":")))


def split_policy(document: Mapping[str, Any], limit: int = MANAGED_POLICY_SIZE) -> list[dict[str, Any]]:
    """``document`` cut into policies of at most ``limit`` characters each (IAM's count), in order.

    Veeam publishes its full list as three managed policies for this reason (Full List page). Statements
    are split between their actions; each part keeps the statement's Sid (numbered when split), Effect
    and Resource. A single action too long for the limit raises ValueError.
    """
    parts: list[dict[str, Any]] = []
    current: dict[str, Any] = {"Version": document.get("Version", "2012-10-17"), "Statement": []}
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        piece = 0
        chunk: dict[str, Any] | None = None
        for action in actions:
            if chunk is None:
                piece += 1
                chunk = {**statement, "Action": []}
                if piece > 1 and "Sid" in statement:
                    chunk["Sid"] = f"{statement['Sid']}Part{piece}"
                current["Statement"].append(chunk)
            chunk["Action"].append(action)
            if policy_size(current) <= limit:
                continue
            chunk["Action"].pop()
            if not chunk["Action"]:
                current["Statement"].pop()
                piece -= 1
            if not current["Statement"]:
                raise ValueError(f"{action!r} alone does not fit in a policy of {limit} characters")
            parts.append(current)
            piece += 1
            chunk = {**statement, "Action": [action]}
            if piece > 1 and "Sid" in statement:
                chunk["Sid"] = f"{statement['Sid']}Part{piece}"
            current = {"Version": current["Version"], "Statement": [chunk]}
            if policy_size(current) > limit:
                raise ValueError(f"{action!r} alone does not fit in a policy of {limit} characters")
    if current["Statement"]:
        parts.append(current)
    return parts
