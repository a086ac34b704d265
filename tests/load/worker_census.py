"""A helper locustfile for the distributed smoke test (add it with ``-f a.py,worker_census.py``
to the master and every worker): on a worker, each request is counted once more as a
``worker`` request named ``worker-<index>``, so the master's stats (``--csv``) show how many
requests every worker contributed to the aggregate.  Defines no users."""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import Runner, WorkerRunner

CENSUS = "worker"


def _count_requests_per_worker(environment: Environment, runner: Runner, **_: Any) -> None:
    if not isinstance(runner, WorkerRunner):
        return

    def on_request(request_type: str, exception: BaseException | None, **_: Any) -> None:
        if request_type == CENSUS:
            return
        environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type=CENSUS,
            name=f"worker-{runner.worker_index}",
            response_time=0,
            response_length=0,
            exception=exception,
            context={},
        )

    environment.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]


events.init.add_listener(_count_requests_per_worker)  # type: ignore[no-untyped-call]
