"""A one-slot, thread-safe hand-over from a producer (subscription callback) to a worker: latest frame wins.

The producer never blocks and never queues: an item that arrives while one is still waiting replaces it and
the replaced one is counted as dropped, so the worker always processes the newest frame and latency cannot
grow with load (the camera_calibration pattern).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrame(Generic[T]):
    """Holds at most one waiting item; ``put`` replaces it, ``take`` waits for one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced a waiting (now dropped) item. Ignored once closed."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._has_item
            self._item, self._has_item = item, True
            self.received += 1
            if replaced:
                self.dropped += 1
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The waiting item (emptying the slot), or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
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
