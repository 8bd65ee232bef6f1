"""Creating boto3 clients (command line and Lambda), and turning AWS errors a user can fix into messages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from .inventory import auditor_session, client_config, error_code
from .settings import DEFAULT_AWS_TIMEOUT

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


class AwsTimeoutError(Exception):
    """An AWS call found no answer within the time allowed (retries included)."""


class Clients:
    """The auditor's boto3 clients, one per service, made on first use and kept: for the command line's run
    and for a Lambda container's life (``Clients.for_lambda()``, made once at import by each handler).

    One session (:func:`.inventory.auditor_session`: response timestamps parsed without dateutil) and one
    retry configuration (:func:`.inventory.client_config`: botocore's adaptive mode, 10 attempts).

    With a ``timeout`` (the command line), every call, retries included, ends within ``timeout`` seconds:
    each attempt may wait at most a third of it for an answer, and a retry that could not finish in time
    is not started (botocore's retries alone would wait up to ten times the read timeout against an
    endpoint that never answers). ``on_retry`` hears of every retry, so a slow run says why it is slow.
    Without one (Lambda), the function's own timeout and :class:`.deadline.Deadline` bound the run.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        timeout: float | None = DEFAULT_AWS_TIMEOUT,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        if endpoint_url is not None:
            check_endpoint_url(endpoint_url)
        if timeout is not None and timeout <= 0:
            raise AwsSetupError(f"--timeout must be a positive number of seconds, got {timeout:g}")
        try:
            session = auditor_session(profile_name=profile, region_name=region)
        except ProfileNotFound as exc:
            raise AwsSetupError(f"{exc}; list your profiles with: aws configure list-profiles") from None
        self.region = session.region_name or "us-east-1"
        self.timeout = timeout
        self._session = session
        self._endpoint_url = endpoint_url
        self._config = client_config()
        if timeout is not None:
            attempt = max(1.0, timeout / 3)
            self._config = self._config.merge(Config(connect_timeout=min(10.0, attempt), read_timeout=attempt))
        self._on_retry = on_retry
        self.created: dict[str, Any] = {}
        """The clients made so far, by service name."""

    @classmethod
    def for_lambda(cls) -> Clients:
        """Clients for a Lambda container: the function's region (``AWS_REGION``) and credentials, no
        per-call time limit of their own."""
        return cls(timeout=None)

    def __call__(self, service: str) -> Any:
        if service not in self.created:
            client = self._session.client(
                service, region_name=self.region, endpoint_url=self._endpoint_url, config=self._config
            )
            if self.timeout is not None:
                events = client.meta.events
                events.register("before-call", self._started)
                events.register_first("needs-retry", self._within_time)
                events.register("request-created", self._announce_retry)
            self.created[service] = client
        return self.created[service]

    @staticmethod
    def _started(context: dict[str, Any], **_: Any) -> None:
        context["vra_started"] = time.monotonic()

    def _within_time(
        self,
        request_dict: dict[str, Any],
        operation: Any,
        attempts: int,
        caught_exception: Exception | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        """Observes every retry decision: records why, and stops a retry that could not end in time."""
        limit = self.timeout
        context = request_dict.get("context", {})
        if limit is None:
            return
        if caught_exception is None and (response is None or response[0].status_code < 400):
            return
        reason = (
            type(caught_exception).__name__
            if caught_exception is not None
            else str((response[1] or {}).get("Error", {}).get("Code") or f"HTTP {response[0].status_code}")
        )
        context["vra_last_error"] = reason
        elapsed = time.monotonic() - context.get("vra_started", time.monotonic())
        if elapsed + self._config.read_timeout > limit:
            raise AwsTimeoutError(
                f"no answer from AWS for {operation.name} within {limit:g} seconds ({attempts} "
                f"attempt{'s' * (attempts != 1)}, last: {reason}); check the network, a proxy or --endpoint-url, "
                "or allow more time with --timeout"
            )

    def _announce_retry(self, request: Any, operation_name: str, **_: Any) -> None:
        attempt = request.context.get("retries", {}).get("attempt", 1)
        if attempt > 1 and self._on_retry is not None:
            reason = request.context.get("vra_last_error", "an error")
            self._on_retry(f"retrying {operation_name} (attempt {attempt}) after {reason}")


def check_endpoint_url(endpoint_url: str) -> None:
    """--endpoint-url must be an http(s) URL with a host: botocore's own error comes late and cryptic."""
    parsed = urlsplit(endpoint_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise AwsSetupError(
            f"--endpoint-url {endpoint_url!r} is not a URL: expected http(s)://host[:port], "
            "for example http://127.0.0.1:5000"
        )


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
