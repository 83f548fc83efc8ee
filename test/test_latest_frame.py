"""LatestFrame: the one-slot hand-over between the subscription callback and the worker."""

import threading

from seg_ros.latest_frame import LatestFrame


def test_take_returns_item_once():
    slot = LatestFrame[int]()
    assert slot.put(1) is False
    assert slot.take(timeout=0) == 1
    assert slot.take(timeout=0) is None
    assert (slot.received, slot.dropped) == (1, 0)


def test_newer_item_replaces_waiting_one_and_counts_drop():
    slot = LatestFrame[str]()
    slot.put("a")
    assert slot.put("b") is True
    assert slot.put("c") is True
    assert slot.take(timeout=0) == "c"
    assert (slot.received, slot.dropped) == (3, 2)


def test_take_times_out_when_empty():
    slot = LatestFrame[int]()
    assert slot.take(timeout=0.01) is None


def test_falsy_items_are_delivered():
    slot = LatestFrame[int]()
    slot.put(0)
    assert slot.take(timeout=0) == 0


def test_close_wakes_a_blocked_worker_and_discards_waiting_item():
    slot = LatestFrame[int]()
    results = []
    worker = threading.Thread(target=lambda: results.append(slot.take(timeout=10)))
    worker.start()
    slot.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert results == [None]
    slot.put(5)
    assert slot.take(timeout=0) is None
    assert slot.closed


def test_worker_sees_newest_item_from_producer_thread():
    slot = LatestFrame[int]()
    done = threading.Event()

    def produce():
        for i in range(1000):
            slot.put(i)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    seen = []
    while not done.is_set():
        item = slot.take(timeout=0.01)
        if item is not None:
            seen.append(item)
    producer.join()
    last = slot.take(timeout=0)
    if last is not None:
        seen.append(last)
    assert seen == sorted(seen)  # never an older item after a newer one
    assert seen[-1] == 999  # the newest item is never lost
    assert slot.received == 1000
    assert slot.dropped + len(seen) == 1000  # every item was either processed or counted as dropped
