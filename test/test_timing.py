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
