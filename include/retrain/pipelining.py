"""Work on a stream in a few threads, results in the stream's order, with bounded look-ahead."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_order(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    ahead: int,
    name: str,
    size: Callable[[T], int] | None = None,
    max_bytes: int | None = None,
) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for each item, in the order of ``items``, computed by ``workers``
    threads named ``name``. At most ``ahead`` items are in flight or waiting to be taken, so memory
    stays bounded by that many results, however long the stream (an exception is raised where its
    item's turn comes).

    With ``size`` and ``max_bytes``, the items in flight or waiting also weigh at most ``max_bytes``
    together (by ``size(item)``), so a stream of large files holds a few of them, not ``ahead``;
    one item larger than the budget still goes, alone.
    """
    pending: deque[tuple[T, Future[R], int]] = deque()
    held = 0
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        for item in items:
            weight = size(item) if size and max_bytes is not None else 0
            while pending and (len(pending) >= ahead or (max_bytes is not None and held + weight > max_bytes)):
                first, future, w = pending.popleft()
                held -= w
                yield first, future.result()
            pending.append((item, pool.submit(fn, item), weight))
            held += weight
        while pending:
            first, future, _ = pending.popleft()
            yield first, future.result()
