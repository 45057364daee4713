"""Work on a stream in a few threads, results in the stream's order, with bounded look-ahead."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_order(
    fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int, name: str
) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for each item, in the order of ``items``, computed by ``workers``
    threads named ``name``. At most ``ahead`` items are in flight or waiting to be taken, so memory
    stays bounded by that many results, however long the stream (an exception is raised where its
    item's turn comes)."""
    pending: deque[tuple[T, Future[R]]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= ahead:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()
