"""Run a function from many threads at once, each with its own database connection."""

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection


def run_concurrently(fn: Callable[..., Any], calls: Sequence[tuple], workers: int) -> list[Any]:
    """Call fn(*args) for every args in calls on `workers` threads released together.

    Returns each call's result, or the exception it raised, in the order of `calls`.
    """
    barrier = threading.Barrier(min(workers, len(calls)))

    def call(index_args):
        index, args = index_args
        if index < barrier.parties:
            barrier.wait()
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the caller asserts on every outcome
            return exc

    def worker_batch(indexes):
        try:
            return [(i, call((i, calls[i]))) for i in indexes]
        finally:
            connection.close()

    batches = [range(w, len(calls), workers) for w in range(workers)]
    results: list[Any] = [None] * len(calls)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in pool.map(worker_batch, batches):
            for index, result in batch:
                results[index] = result
    return results
