"""moto's server in this process on 127.0.0.1 (a free port): the AWS emulator of the demo, the benchmarks
and the tests that run the command line as a separate process (the README's examples)."""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

REGION = "us-east-1"


class RequestCounter:
    """WSGI middleware that counts the requests (AWS API calls) an emulator serves."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            self.calls += 1
        return self.app(environ, start_response)


_GAAD_LISTS = (
    ("UserDetailList", "users"),
    ("GroupDetailList", "groups"),
    ("RoleDetailList", "roles"),
    ("Policies", "managed_policies"),
)


@contextmanager
def iam_paging() -> Iterator[None]:
    """moto's GetAccountAuthorizationDetails pages as IAM does, in this process, until the block ends.

    moto answers every entity in one page whatever MaxItems says (../shared/aws-facts.md). IAM returns at
    most MaxItems (default 100, at most 1,000) entities a page, with IsTruncated and a Marker for the next:
    a scan of 5,000 roles waits for five pages there, not one. The entities are paged in one sequence
    (users, groups, roles, policies), the Marker being the offset of the next one.
    """
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    def paged(self: Any) -> Any:
        details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
        items = [(field, item) for field, key in _GAAD_LISTS for item in details[key]]
        size = min(self._get_int_param("MaxItems", 100), 1000)
        start = int(self._get_param("Marker") or 0)
        chunk = items[start : start + size]
        result: dict[str, Any] = {field: [item for name, item in chunk if name == field] for field, _ in _GAAD_LISTS}
        result["IsTruncated"] = start + size < len(items)
        if result["IsTruncated"]:
            result["Marker"] = str(start + size)
        return ActionResult(result)

    original = IamResponse.get_account_authorization_details
    IamResponse.get_account_authorization_details = paged  # type: ignore[method-assign]
    try:
        yield
    finally:
        IamResponse.get_account_authorization_details = original  # type: ignore[method-assign]


@contextmanager
def counting_moto_server(*, paging: bool = False) -> Iterator[tuple[str, RequestCounter]]:
    """A fresh moto server's endpoint URL, and a counter of the API calls it has served (any client, any
    process); the server stops afterwards. ``paging``: GetAccountAuthorizationDetails pages as IAM
    does (see :func:`iam_paging`) while the server runs."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    # What moto's ThreadedMotoServer does, with the counter around its application.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    counter = RequestCounter(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, counter, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.port}"
    # moto keeps its state per process: start every server from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))  # noqa: S310
    try:
        with iam_paging() if paging else nullcontext():
            yield endpoint, counter
    finally:
        server.shutdown()
        thread.join()


@contextmanager
def moto_server() -> Iterator[str]:
    """Like :func:`counting_moto_server`, the endpoint URL alone."""
    with counting_moto_server() as (endpoint, _):
        yield endpoint


@contextmanager
def environment(values: Mapping[str, str], *, removed: tuple[str, ...] = ()) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``removed`` unset, exactly as it was afterwards."""
    saved = dict(os.environ)
    os.environ.update(values)
    for name in removed:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def client_environment(endpoint: str, *, key: str = "testing") -> dict[str, str]:
    """What any AWS client (boto3, the AWS CLI, this command line) needs to reach the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": key,
        "AWS_DEFAULT_REGION": REGION,
    }
