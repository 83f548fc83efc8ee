"""LatestFrame: the one-slot hand-over between the subscription callback and the worker."""

import threading
import time

from seg_ros.latest_frame import ArrivalTracker, LatestFrame, fresh_frame_wait


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


def test_interval_is_the_median_gap_between_arrivals():
    slot = LatestFrame[int]()
    assert slot.interval() is None
    slot._arrivals.extend([0.0, 0.1, 0.2, 0.35, 0.45])  # gaps 0.1 0.1 0.15 0.1
    assert abs(slot.interval() - 0.1) < 1e-9


def test_take_waits_for_an_imminent_frame_and_counts_the_older_one_as_dropped():
    slot = LatestFrame[str]()
    period = 0.3
    for name in "abc":
        slot.put(name)
        if name != "c":
            time.sleep(period)
    # c is waiting; d is due about 0.3 s after c: from 0.2 s on it is "imminent" for a 0.25 s wait.
    producer = threading.Timer(period, lambda: slot.put("d"))
    producer.start()
    time.sleep(0.2)
    dropped = slot.dropped  # a and b, replaced before anyone took them
    assert slot.take(timeout=0, wait_for_next=0.25) == "d"
    producer.join()
    assert slot.dropped == dropped + 1  # c


def test_take_without_wait_returns_the_waiting_frame_and_the_wait_is_bounded():
    slot = LatestFrame[str]()
    for name in "abc":
        slot.put(name)
        time.sleep(0.05)
    assert slot.take(timeout=0) == "c"
    slot.put("e")  # the camera then stops: waiting for a next frame gives up and returns e
    assert slot.take(timeout=0, wait_for_next=0.2) == "e"


def test_fresh_frame_wait_spends_the_idle_budget():
    assert fresh_frame_wait(None, 0.1, 0.02) == 0.0
    assert fresh_frame_wait(0.033, 0.02, 0.02) == 0.0  # the worker keeps up: frames are fresh anyway
    w = fresh_frame_wait(1 / 30, 0.075, 0.02)
    assert abs(w**2 / (2 / 30) - 0.02 * 0.075) < 1e-12  # average idle w^2/(2*interval) = budget x cycle
    assert fresh_frame_wait(1 / 30, 10.0, 0.5) == 1 / 60  # capped at half the interval


def test_arrival_tracker_counts_sequence_gaps_as_dropped_frames():
    tracker = ArrivalTracker()
    assert tracker.record(b"cam", 5, 10.0) == 0  # the first frame of a publisher: only itself
    assert tracker.record(b"cam", 6, 10.1) == 0
    assert tracker.record(b"cam", 9, 10.4) == 2  # 7 and 8 were replaced in the reader, never taken
    assert (tracker.received, tracker.dropped) == (5, 2)  # frames 5..9
    assert abs(tracker.interval() - 0.1) < 1e-9  # per-frame period, not the gap between takes
    assert tracker.record(b"other", 100, 10.45) == 0  # publishers are counted separately
    assert (tracker.received, tracker.dropped) == (6, 2)


def test_arrival_tracker_without_sequence_numbers_counts_frames_only():
    tracker = ArrivalTracker()
    for t in (1.0, 1.5, 2.5):
        assert tracker.record(b"cam", None, t) == 0
    assert (tracker.received, tracker.dropped) == (3, 0)
    assert tracker.interval() is None and tracker.next_due(3.0) is None


def test_arrival_tracker_next_due_follows_the_camera_rhythm():
    tracker = ArrivalTracker()
    tracker.record(b"cam", 1, 100.0)
    assert tracker.next_due(100.01) is None  # period unknown yet
    tracker.record(b"cam", 3, 100.2)  # period 0.1
    assert abs(tracker.next_due(100.23) - 0.07) < 1e-9
    assert abs(tracker.next_due(100.38) - 0.02) < 1e-9  # one frame (100.3) went by meanwhile
