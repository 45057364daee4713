"""Streams worked on in threads: order kept, look-ahead bounded by count and by bytes."""

import threading
import time

from include.retrain.pipelining import map_in_order


def test_results_come_in_order_and_the_bytes_ahead_stay_under_the_budget():
    sizes = [100] * 10 + [1000] + [100] * 5  # one item alone above the budget
    lock, state = threading.Lock(), {"held": 0, "peak": 0, "alone": True}
    inflight = []

    def work(i: int) -> int:
        with lock:  # an item is held from when it starts until the consumer takes it
            inflight.append(i)
            state["held"] += sizes[i]
            state["peak"] = max(state["peak"], state["held"] if sizes[i] <= 250 else 0)
            if sizes[i] > 250 and len(inflight) > 1:
                state["alone"] = False
        time.sleep(0.01 * (i % 3))  # finishing out of order
        return i * i

    out = []
    for i, result in map_in_order(work, range(len(sizes)), 4, 32, "t", size=sizes.__getitem__, max_bytes=250):
        with lock:
            inflight.remove(i)
            state["held"] -= sizes[i]
        out.append((i, result))
    assert out == [(i, i * i) for i in range(len(sizes))]
    assert 0 < state["peak"] <= 250
    assert state["alone"]


def test_without_a_budget_the_count_bounds_the_look_ahead():
    started, taken = [], []
    for i, _ in map_in_order(lambda i: started.append(i), range(20), 2, 3, "t"):
        taken.append(i)
        assert len(started) - len(taken) <= 2  # at most 3 in flight or waiting, one just taken
    assert taken == list(range(20))
