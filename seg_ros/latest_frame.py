"""A one-slot, thread-safe hand-over from a producer (subscription callback) to a worker: latest frame wins.

The producer never blocks and never queues: an item that arrives while one is still waiting replaces it and
the replaced one is counted as dropped, so the worker always processes the newest frame and latency cannot
grow with load (the camera_calibration pattern).

A worker slower than the camera finds a frame of random age waiting (up to one camera period). ``take`` can
instead wait briefly for the next frame when the camera's rhythm says it is imminent (``wait_for_next``):
a little idle time buys a much fresher frame.

``ArrivalTracker`` does the same bookkeeping for a reader that leaves frames in the middleware until the worker
takes one (``seg_ros.ros.latest_reader``): the publishers' sequence numbers say how many frames were skipped
(dropped without ever being copied), their source stamps give the camera period and when the next frame is due.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrame(Generic[T]):
    """Holds at most one waiting item; ``put`` replaces it, ``take`` waits for one."""

    def __init__(self, interval_window: int = 15) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._arrivals: deque[float] = deque(maxlen=interval_window + 1)
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced a waiting (now dropped) item. Ignored once closed."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._has_item
            self._item, self._has_item = item, True
            self._arrivals.append(time.monotonic())
            self.received += 1
            if replaced:
                self.dropped += 1
            self._cond.notify_all()
            return replaced

    def interval(self) -> float | None:
        """Median seconds between recent arrivals (the camera period), or None before three arrivals."""
        with self._cond:
            return self._interval()

    def _interval(self) -> float | None:
        times = list(self._arrivals)
        if len(times) < 3:
            return None
        gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
        return gaps[len(gaps) // 2]

    def take(self, timeout: float | None = None, wait_for_next: float = 0.0) -> T | None:
        """The waiting item (emptying the slot), or None after ``timeout`` seconds or once closed.

        ``wait_for_next`` > 0: when the next arrival is due within that many seconds (by the median interval),
        wait up to that long for it and return it instead of the older waiting item (which counts as dropped).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if wait_for_next > 0:
                interval = self._interval()
                if interval is not None:
                    due = self._arrivals[-1] + interval - time.monotonic()
                    if 0.0 < due <= wait_for_next:
                        seen = self.received
                        self._cond.wait_for(lambda: self.received != seen or self._closed, wait_for_next)
            if self._closed:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        """Wake every waiting ``take`` and make later ones return None at once (shutdown)."""
        with self._cond:
            self._closed = True
            self._item, self._has_item = None, False
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def fresh_frame_wait(interval: float | None, cycle: float | None, budget: float) -> float:
    """How long a worker may wait for an imminent frame: idle at most ``budget`` x its ``cycle`` on average.

    Waiting whenever the next frame is due within ``w`` costs ``w**2 / (2 * interval)`` idle time per cycle on
    average (arrival phase uniform), and the frame taken is then at most ``interval - w`` old instead of
    ``interval``. Capped at half the interval; 0 when unknown or when the worker keeps up with the camera.
    """
    if not interval or not cycle or budget <= 0 or cycle <= interval:
        return 0.0
    return min(interval / 2.0, math.sqrt(2.0 * interval * budget * cycle))


class ArrivalTracker:
    """Frames received / dropped and the camera period, from what a depth-1 reader took (thread-safe counters).

    ``record`` gets each taken frame's publisher id, publication sequence number and source time (s). A gap in one
    publisher's sequence numbers is frames the middleware replaced before anyone took them: counted as received
    and dropped. Without sequence numbers (rclpy before Iron) every frame counts once and nothing as dropped; the
    period is then unknown. The first frame of a publisher counts only itself (what it sent before is not ours).
    """

    def __init__(self, interval_window: int = 15) -> None:
        self._lock = threading.Lock()
        self._last: dict[object, tuple[int, float]] = {}
        self._periods: deque[float] = deque(maxlen=interval_window)
        self._newest_time: float | None = None
        self.received = 0
        self.dropped = 0

    def record(self, publisher: object, sequence: int | None, source_time: float) -> int:
        """Count one taken frame; returns how many frames of that publisher were skipped since its previous one."""
        with self._lock:
            skipped = 0
            last = self._last.get(publisher) if sequence is not None else None
            if last is not None and sequence > last[0]:
                skipped = sequence - last[0] - 1
                period = (source_time - last[1]) / (sequence - last[0])
                if period > 0:
                    self._periods.append(period)
            if sequence is not None:
                self._last[publisher] = (sequence, source_time)
            self._newest_time = source_time
            self.received += 1 + skipped
            self.dropped += skipped
            return skipped

    def interval(self) -> float | None:
        """Median camera period (s) over recent frames, or None before two frames of one publisher."""
        with self._lock:
            if not self._periods:
                return None
            periods = sorted(self._periods)
            return periods[len(periods) // 2]

    def next_due(self, now: float) -> float | None:
        """Seconds from ``now`` (the source clock) until the camera's next frame is due, or None when unknown."""
        interval = self.interval()
        with self._lock:
            newest = self._newest_time
        if interval is None or newest is None:
            return None
        return interval - ((now - newest) % interval)
