"""The pure policy engine: documents in, verdicts out. No AWS SDK is imported here."""

from .arn import InvalidArnError, RoleArn, parse_role_arn
from .context import Appliance
from .document import PolicyDocument, parse_policy
from .identity import IdentityVerdict, NamedPolicy, evaluate_identity
from .service import evaluate_service_trust
from .tri import Tri
from .trust import ASSUME_ROLE, RISKS, RiskNote, TrustVerdict, evaluate_trust, make_appliance

__all__ = [
    "ASSUME_ROLE",
    "RISKS",
    "Appliance",
    "IdentityVerdict",
    "InvalidArnError",
    "NamedPolicy",
    "PolicyDocument",
    "RiskNote",
    "RoleArn",
    "Tri",
    "TrustVerdict",
    "evaluate_identity",
    "evaluate_service_trust",
    "evaluate_trust",
    "make_appliance",
    "parse_policy",
    "parse_role_arn",
]
