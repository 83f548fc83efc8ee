"""Stage timing bookkeeping (seg_ros.timing)."""

import time

from seg_ros.timing import StageTimer


def test_stage_timer_records_and_summarises():
    timer = StageTimer(window=3)
    for ms in (1.0, 2.0, 3.0, 10.0):
        timer.add("network", ms)
    with timer.stage("preprocess"):
        time.sleep(0.002)
    summary = timer.summary()
    assert list(summary) == ["preprocess", "network"]  # pipeline order, not insertion order
    assert summary["network"]["count"] == 3 and summary["network"]["median"] == 3.0  # window keeps the last 3
    assert summary["network"]["max"] == 10.0
    assert timer.last["preprocess"] >= 2.0
    assert "network" in timer.format_table()


def test_stage_timer_shared_between_threads():
    import threading

    timer = StageTimer(window=2)
    done = threading.Event()

    def writer(prefix):
        for i in range(20000):  # new stage names keep appearing while the main thread reads
            timer.add(f"{prefix}{i}", 1.0)
        done.set()

    threads = [threading.Thread(target=writer, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    try:
        while not done.is_set():
            timer.stages()  # raised "dictionary changed size during iteration" without the lock
    finally:
        for t in threads:
            t.join()
    assert len(timer.stages()) == 40000
