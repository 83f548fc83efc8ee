"""A depth-1 subscription the worker reads itself: a frame leaves the middleware only when the worker is ready.

An ordinary subscription is taken by the executor the moment a sample arrives: with a camera faster than the
network every frame is copied out of DDS (and converted to Python) and most are then thrown away. Here the
subscription sits in a callback group that never lets the executor run it (``WorkerOnly``); the worker waits on
its own wait set and takes the newest sample when it wants one. The reader's depth-1 history keeps only that
newest sample, so a frame the worker never wants costs no copy and no Python object at all; the one frame taken
is deserialized once, into the message whose ``data`` the image conversion then views.

Skipped frames are counted from the publishers' sequence numbers (``seg_ros.latest_frame.ArrivalTracker``),
which also give the camera period for ``take(wait_for_next=...)``: wait for an imminent frame instead of taking
the one that is nearly a period old. The interface mirrors ``LatestFrame`` (``take``, ``close``, ``closed``,
``interval``, ``received``, ``dropped``) so the node's worker loop reads the same with either.

The wait set and ``Subscription.handle.take_message`` are what ``rclpy.wait_for_message`` uses (Humble and later).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from seg_ros.latest_frame import ArrivalTracker

WAIT_SLICE_S = 0.1  # longest single wait: how soon ``close`` is noticed by a waiting worker
DUE_MARGIN_S = 0.002  # waiting for an imminent frame: this long past its due time, for delivery


class WorkerOnly(CallbackGroup):
    """A callback group the executor never runs: its entities are taken by a worker thread, not by spinning.

    ``Executor`` leaves entities whose group cannot execute out of its wait set, so it neither takes their data
    nor wakes up for it.
    """

    def can_execute(self, entity: Any) -> bool:
        return False

    def beginning_execution(self, entity: Any) -> bool:
        return False

    def ending_execution(self, entity: Any) -> None:
        return None


def _never_called(msg: Any) -> None:  # pragma: no cover - WorkerOnly keeps the executor away
    raise RuntimeError("the executor took a frame from a worker-only subscription")


class LatestReader:
    """``msg_type`` on ``topic`` with ``qos`` (keep last 1): the newest message, taken on demand by one thread.

    ``qos_overriding_options`` go to ``Node.create_subscription``, which raises as it does. Call ``close`` (wakes
    a waiting ``take`` within ``WAIT_SLICE_S``), join the worker, then ``destroy``.
    """

    def __init__(self, node: Node, msg_type: type, topic: str, qos: Any, qos_overriding_options: Any = None) -> None:
        self._node = node
        self.msg_type = msg_type
        self.subscription = node.create_subscription(msg_type, topic, _never_called, qos, callback_group=WorkerOnly(),
                                                     qos_overriding_options=qos_overriding_options)
        self._wait_set = _rclpy.WaitSet(1, 0, 0, 0, 0, 0, node.context.handle)
        self._tracker = ArrivalTracker()
        self._closed = threading.Event()
        self.taken = 0

    @property
    def received(self) -> int:
        """Frames published to us so far: taken ones plus those skipped (sequence-number gaps)."""
        return self._tracker.received

    @property
    def dropped(self) -> int:
        """Frames replaced in the reader by a newer one before the worker wanted one (never copied)."""
        return self._tracker.dropped

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def interval(self) -> float | None:
        """The camera period (s) from the publishers' stamps and sequence numbers, or None while unknown."""
        return self._tracker.interval()

    def _ready(self, timeout: float) -> bool:
        handle = self.subscription.handle
        with handle:
            self._wait_set.clear_entities()
            self._wait_set.add_subscription(handle)
            self._wait_set.wait(int(timeout * 1e9))
            return handle.pointer in self._wait_set.get_ready_entities("subscription")

    def take(self, timeout: float | None = None, wait_for_next: float = 0.0) -> Any | None:
        """The newest message, taken from the middleware (and deserialized) now; None on timeout or once closed.

        ``wait_for_next`` > 0: when a message is waiting but the camera's next frame is due within that many
        seconds, wait for that one instead (the waiting one is then replaced in the reader: dropped uncopied).
        Raises what rclpy raises for a sample it cannot deserialize (the sample is gone: the next take goes on).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed.is_set():
            left = WAIT_SLICE_S if deadline is None else min(WAIT_SLICE_S, deadline - time.monotonic())
            if not self._ready(max(left, 0.0)):
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            if wait_for_next > 0:
                due = self._tracker.next_due(time.time())
                if due is not None and due <= wait_for_next and self._closed.wait(due + DUE_MARGIN_S):
                    return None
            handle = self.subscription.handle
            with handle:
                taken = handle.take_message(self.msg_type, False)
            if taken is None:  # woken, but the sample went (another reader of the same handle, a replaced sample)
                continue
            msg, info = taken
            publisher = info.get("publisher_gid") or {}
            self._tracker.record(bytes(publisher.get("data", b"")), info.get("publication_sequence_number"),
                                 info.get("source_timestamp", 0) / 1e9)
            self.taken += 1
            return msg
        return None

    def close(self) -> None:
        """Make ``take`` return None (a waiting one within ``WAIT_SLICE_S``); the subscription stays until destroy."""
        self._closed.set()

    def destroy(self) -> None:
        """Destroy the subscription (after the worker stopped taking; rclpy defers it while a take is in hand)."""
        self.close()
        if self.subscription is not None:
            self._node.destroy_subscription(self.subscription)
            self.subscription = None
