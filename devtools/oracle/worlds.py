"""Concrete request contexts ("worlds") consistent with what the engine knows of the appliance's request.

The engine answers "yes" or "no" only when every request the appliance could make gets that answer, so
in every world drawn here a second implementation must give the same answer. A world takes each key's
value from the engine's own model (veeam_role_auditor.policy.context): known values as they are, a
prefix with a random suffix, one of a documented set, a date not later than now, and for keys unknown
offline a value drawn from the policy's own values (so that conditions sometimes match) or a random one.
"""

from __future__ import annotations

import ipaddress
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from veeam_role_auditor.policy import Appliance, RoleArn
from veeam_role_auditor.policy.context import ContextValue, Presence, RequestContext
from veeam_role_auditor.policy.document import PolicyDocument

_VARIABLE = re.compile(r"\$\{([^},]*)(?:,[^}]*)?\}")

# Keys every signed request by a role session carries (IAM User Guide, "AWS global condition context keys"),
# always put in the world so that the second implementation sees the same session as the engine.
BASE_KEYS = (
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalType",
    "aws:userid",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalIsAWSService",
    "aws:ViaAWSService",
    "aws:SecureTransport",
    "aws:TokenIssueTime",
    "aws:ResourceAccount",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
)
IP_KEYS = frozenset({"aws:sourceip", "aws:vpcsourceip"})
MULTIVALUED = frozenset({"aws:principalorgpaths", "aws:resourceorgpaths", "aws:tagkeys", "aws:calledvia"})


def referenced_keys(policy: PolicyDocument) -> dict[str, str]:
    """Lower-cased key -> key as written, for every condition key and policy variable in the document."""
    keys: dict[str, str] = {key.lower(): key for key in BASE_KEYS}
    for statement in policy.statements:
        for clause in statement.conditions:
            keys.setdefault(clause.key, clause.key_as_written)
            for value in clause.values:
                for found in _VARIABLE.findall(value):
                    name = found.strip()
                    if name and name not in ("*", "?", "$"):
                        keys.setdefault(name.lower(), name)
    return keys


def policy_values(policy: PolicyDocument) -> dict[str, list[str]]:
    """Lower-cased key -> the literal values the policy compares it with (hints for unknown values)."""
    hints: dict[str, list[str]] = {}
    for statement in policy.statements:
        for clause in statement.conditions:
            if clause.family != "null":
                hints.setdefault(clause.key, []).extend(v for v in clause.values if "${" not in v)
    return hints


def draw_world(
    policy: PolicyDocument,
    appliance: Appliance,
    role: RoleArn,
    role_tags: dict[str, str] | None,
    now: datetime,
    rng: random.Random,
) -> tuple[str, dict[str, str | list[str]]]:
    """(principal ARN of the appliance's session, context keys) for one possible request."""
    context = RequestContext(appliance, resource=role, resource_tags=role_tags, now=now)
    hints = policy_values(policy)
    values: dict[str, str | list[str]] = {}
    for key, written in referenced_keys(policy).items():
        value = _concrete(key, context.lookup(key), hints.get(key, []), rng)
        if value is not None:
            values[written] = value
    userid = values.get("aws:userid")
    instance = userid.split(":", 1)[1] if isinstance(userid, str) and ":" in userid else "i-0123456789abcdef0"
    session = f"arn:{appliance.partition}:sts::{appliance.account}:assumed-role/{appliance.role.name}/{instance}"
    return session, values


def _concrete(key: str, known: ContextValue, hints: list[str], rng: random.Random) -> str | list[str] | None:
    presence = known.presence
    if presence is Presence.ABSENT:
        return None
    if presence is Presence.KNOWN:
        if not known.values:
            return None
        return list(known.values) if key in MULTIVALUED else known.values[0]
    if presence is Presence.ONE_OF:
        return rng.choice(known.values)
    if presence is Presence.NOT_AFTER:
        bound = datetime.fromisoformat(known.values[0])
        if rng.random() < 0.2:
            return known.values[0]
        earlier = bound - timedelta(seconds=rng.randrange(1, 3 * 365 * 86400))
        return earlier.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if presence is Presence.PREFIX:
        prefix = known.values[0]
        count = rng.randint(1, 2) if key in MULTIVALUED else 1
        drawn = [_with_prefix(key, prefix, hints, rng) for _ in range(count)]
        return drawn if key in MULTIVALUED else drawn[0]
    if presence is Presence.MAYBE and rng.random() < 0.35:
        return None
    count = rng.randint(1, 2) if key in MULTIVALUED else 1
    drawn = [_unknown(key, hints, rng) for _ in range(count)]
    return drawn if key in MULTIVALUED else drawn[0]


def _with_prefix(key: str, prefix: str, hints: list[str], rng: random.Random) -> str:
    usable = [_instance_of(h, rng) for h in hints if h.startswith(prefix)]
    usable = [u for u in usable if len(u) > len(prefix)]  # the suffix is never empty
    if usable and rng.random() < 0.5:
        return rng.choice(usable)
    if key == "aws:userid":
        return prefix + "".join(rng.choice("0123456789abcdef") for _ in range(17 if prefix.endswith("i-") else 20))
    root = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(4))
    ous = "".join(f"ou-{root}-{rng.randrange(10**7, 10**8)}/" for _ in range(rng.randint(0, 2)))
    return f"{prefix}{root}/{ous}" if prefix.endswith("/r-") else prefix + root


def _unknown(key: str, hints: list[str], rng: random.Random) -> str:
    if key in IP_KEYS:
        networks = []
        for hint in hints:
            try:
                networks.append(ipaddress.ip_network(hint.strip(), strict=False))
            except ValueError:
                continue
        if networks and rng.random() < 0.6:
            network = rng.choice(networks)
            return str(network[rng.randrange(network.num_addresses)])
        return f"198.51.100.{rng.randrange(1, 255)}"
    if hints and rng.random() < 0.6:
        return _instance_of(rng.choice(hints), rng)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz-") for _ in range(rng.randint(1, 12)))


def _instance_of(pattern: str, rng: random.Random) -> str:
    """A string the wildcard pattern matches: * and ? filled in."""
    out = []
    for char in pattern:
        if char == "*":
            out.append("".join(rng.choice("abcxyz019-/") for _ in range(rng.randint(0, 4))))
        elif char == "?":
            out.append(rng.choice("abcxyz019"))
        else:
            out.append(char)
    return "".join(out)


def oracle_case(
    policy: dict[str, Any], principal: str, role: RoleArn, context: dict[str, str | list[str]]
) -> dict[str, Any]:
    return {"policy": policy, "principal": principal, "resource": role.arn, "account": role.account, "context": context}
