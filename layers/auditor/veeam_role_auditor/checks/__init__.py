"""The checks: every check's catalogue entry and the function that decides it, registered once here.

A role check is one unit (:class:`~.base.RoleCheck`) in a family module (``trust``, ``identity``,
``inventory``, ...): its :class:`~.base.Check` entry (stable code, title, severity, ASFF types,
texts) and ``decide(facts) -> Decision``. ``ROLE_REGISTRY`` lists the units in the order a role's
findings are built; ``CATALOGUE`` every entry by code, in the order the ``checks`` command and the
README list them. DEVELOPERS.md, "Add a check", is the recipe.
"""

from __future__ import annotations

from .appliance import APPLIANCE_USABLE, decide_appliance
from .base import VEEAM_IAM_DOCS, Check, Decision, RoleCheck, RoleFacts, problem_for
from .identity import ALLOWS_ASSUME_ROLE, IDENTITY_ALLOWS
from .inventory import CARRIES_TAG, UNTAGGED_TRUSTING, untagged_trusting
from .purpose import (
    HAS_PERMISSIONS,
    HAS_SERVICE_TRUST,
    IS_UPGRADE_READY,
    KNOWN_PURPOSES,
    NAMES_KNOWN_PURPOSES,
    PERMISSIONS,
    SERVICE_TRUST,
    UPGRADE_READY,
    PurposeScan,
)
from .trust import (
    ACCOUNT_WIDE,
    CAN_ASSUME,
    DELETED_PRINCIPAL,
    FOREIGN_ACCOUNT,
    MALFORMED,
    NO_DELETED_PRINCIPAL,
    NO_FOREIGN_ACCOUNT,
    NO_NOT_PRINCIPAL,
    NO_WILDCARD_PRINCIPAL,
    NOT_ACCOUNT_WIDE,
    NOT_PRINCIPAL,
    TRUST_CAN_ASSUME,
    WELL_FORMED,
    WILDCARD_PRINCIPAL,
)

ROLE_REGISTRY: tuple[RoleCheck, ...] = (
    CAN_ASSUME,
    ALLOWS_ASSUME_ROLE,
    NO_DELETED_PRINCIPAL,
    NO_FOREIGN_ACCOUNT,
    NO_WILDCARD_PRINCIPAL,
    NO_NOT_PRINCIPAL,
    WELL_FORMED,
    NOT_ACCOUNT_WIDE,
    CARRIES_TAG,
    HAS_SERVICE_TRUST,
    HAS_PERMISSIONS,
    IS_UPGRADE_READY,
    NAMES_KNOWN_PURPOSES,
)
"""Every check a role in scope gets a finding for, in the order its findings are built."""

NEEDS_POLICIES: tuple[RoleCheck, ...] = (HAS_PERMISSIONS, IS_UPGRADE_READY)
"""The units that read a role's managed policies (``PurposeScan.managed``): a scan decides them last."""

CATALOGUE: dict[str, Check] = {
    check.code: check
    for check in (
        TRUST_CAN_ASSUME,
        IDENTITY_ALLOWS,
        APPLIANCE_USABLE,
        DELETED_PRINCIPAL,
        WILDCARD_PRINCIPAL,
        FOREIGN_ACCOUNT,
        NOT_PRINCIPAL,
        MALFORMED,
        ACCOUNT_WIDE,
        UNTAGGED_TRUSTING,
        SERVICE_TRUST,
        PERMISSIONS,
        UPGRADE_READY,
        KNOWN_PURPOSES,
    )
}
PURPOSE_CHECKS: tuple[Check, ...] = (SERVICE_TRUST, PERMISSIONS, UPGRADE_READY, KNOWN_PURPOSES)
"""The checks only a role that declares its Veeam purposes gets (see :mod:`.purpose`)."""
ROLE_CHECKS = tuple(
    check
    for check in CATALOGUE.values()
    if check.resource == "role" and check is not UNTAGGED_TRUSTING and check not in PURPOSE_CHECKS
)
"""The checks every role in scope gets, in catalogue order, without the inventory check (which untagged
roles get too) and the purpose checks."""

__all__ = [
    "ACCOUNT_WIDE",
    "APPLIANCE_USABLE",
    "CATALOGUE",
    "DELETED_PRINCIPAL",
    "FOREIGN_ACCOUNT",
    "IDENTITY_ALLOWS",
    "KNOWN_PURPOSES",
    "MALFORMED",
    "NEEDS_POLICIES",
    "NOT_PRINCIPAL",
    "PERMISSIONS",
    "PURPOSE_CHECKS",
    "ROLE_CHECKS",
    "ROLE_REGISTRY",
    "SERVICE_TRUST",
    "TRUST_CAN_ASSUME",
    "UNTAGGED_TRUSTING",
    "UPGRADE_READY",
    "VEEAM_IAM_DOCS",
    "WILDCARD_PRINCIPAL",
    "Check",
    "Decision",
    "PurposeScan",
    "RoleCheck",
    "RoleFacts",
    "decide_appliance",
    "problem_for",
    "untagged_trusting",
]
