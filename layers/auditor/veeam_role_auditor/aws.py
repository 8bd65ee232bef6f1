"""Creating boto3 clients for the command line, and turning AWS errors a user can fix into messages."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from .inventory import client_config, error_code

# Errors that mean "your credentials or permissions", not "the auditor is broken".
_CREDENTIAL_CODES = {
    "AccessDenied": "access denied",
    "AccessDeniedException": "access denied",
    "ExpiredToken": "the session token has expired",
    "ExpiredTokenException": "the session token has expired",
    "InvalidClientTokenId": "the access key id is not valid",
    "UnrecognizedClientException": "the access key id is not valid",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
}


class AwsSetupError(Exception):
    """Missing credentials, an unknown profile, access denied: a one-line message, no stack trace."""


class Clients:
    """The clients the auditor uses, all from one session and one retry configuration."""

    def __init__(self, *, region: str | None, profile: str | None, endpoint_url: str | None) -> None:
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as exc:
            raise AwsSetupError(f"{exc}; list your profiles with: aws configure list-profiles") from None
        self.region = session.region_name or "us-east-1"
        self._session = session
        self._endpoint_url = endpoint_url
        self._config = client_config()
        self._cache: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = self._session.client(
                service, region_name=self.region, endpoint_url=self._endpoint_url, config=self._config
            )
        return self._cache[service]


def describe_aws_error(error: Exception) -> str | None:
    """A one-line explanation for errors the user can fix, or None for anything else."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws configure"
        )
    if isinstance(error, ProfileNotFound):
        return f"{error}; list your profiles with: aws configure list-profiles"
    if isinstance(error, NoRegionError):
        return "no AWS region configured: pass --region or set AWS_REGION"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach AWS: {error}"
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in _CREDENTIAL_CODES:
            operation = error.operation_name
            message = error.response.get("Error", {}).get("Message", "")
            return f"{_CREDENTIAL_CODES[code]} calling {operation}: {message}".rstrip(": ")
    if isinstance(error, BotoCoreError):
        return str(error)
    return None
