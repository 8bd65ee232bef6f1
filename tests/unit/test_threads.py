"""threads.carried: work handed to another thread takes along what the registered captures take."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from veeam_role_auditor import threads

LOCAL = threading.local()


@pytest.fixture(autouse=True)
def no_captures() -> Iterator[None]:
    saved = dict(threads._captures)
    threads._captures.clear()
    yield
    threads._captures.clear()
    threads._captures.update(saved)


def in_thread(work: Callable[[], object]) -> object:
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(work()))
    worker.start()
    worker.join()
    return result[0]


def read_local() -> object:
    return getattr(LOCAL, "value", None)


def capture_local() -> Callable[[], object]:
    value = read_local()  # in the handing thread
    return lambda: setattr(LOCAL, "value", value)  # in the worker


def test_without_captures_the_work_is_handed_over_as_it_is() -> None:
    assert threads.carried(read_local) is read_local
    LOCAL.value = "handler"
    assert in_thread(threads.carried(read_local)) is None  # a thread-local stays behind


def test_a_capture_takes_the_handing_threads_context_at_the_handover() -> None:
    threads.carry("local", capture_local)
    LOCAL.value = "first"
    first = threads.carried(read_local)
    LOCAL.value = "second"
    second = threads.carried(read_local)
    assert (in_thread(first), in_thread(second)) == ("first", "second")


def test_a_name_registered_again_is_carried_once() -> None:
    taken: list[str] = []

    def counting() -> Callable[[], object]:
        taken.append("x")
        return lambda: None

    threads.carry("xray", counting)
    threads.carry("xray", counting)
    in_thread(threads.carried(read_local))
    assert taken == ["x"]


def test_a_handler_whose_tracing_is_off_carries_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools import Tracer

    from veeam_role_auditor.lambda_app import carry_trace_context

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    carry_trace_context(Tracer(patch_modules=("boto3",)))
    assert threads._captures == {}
