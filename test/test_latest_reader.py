"""LatestReader over real DDS: frames stay in the middleware until the worker takes the newest one.

Latest frame wins (the newest sample, its header as sent), a frame nobody takes is never delivered to Python
(the executor never runs the subscription; gaps are counted as dropped from sequence numbers), ``close`` wakes
a waiting worker, and a take can wait for an imminent frame.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("rclpy")

from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from seg_ros.ros.harness import wait_for  # noqa: E402
from seg_ros.ros.latest_reader import LatestReader  # noqa: E402

QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


@pytest.fixture
def pair(ros_domain, local_node_factory):
    """(publisher, reader) on one domain, matched."""
    camera = local_node_factory(ros_domain)
    worker = local_node_factory(ros_domain)  # spun by its executor, as the node is
    publisher = camera.node.create_publisher(Header, "frames", QOS)
    reader = LatestReader(worker.node, Header, "frames", QOS)
    assert wait_for(lambda: publisher.get_subscription_count() > 0, 10.0), "no match"
    yield publisher, reader
    reader.destroy()


def _send(publisher, index: int) -> None:
    msg = Header(frame_id=f"frame {index}")
    msg.stamp.sec, msg.stamp.nanosec = 1000 + index, index
    publisher.publish(msg)


def test_take_returns_the_newest_frame_with_its_header_and_counts_the_rest_dropped(pair):
    publisher, reader = pair
    msg = wait_for(lambda: reader.take(timeout=0.05), 10.0, action=lambda: _send(publisher, 0), action_every=0.5)
    assert msg is not None and msg.frame_id == "frame 0"
    received, dropped = reader.received, reader.dropped
    for i in range(1, 11):  # nobody takes: the reader keeps only the newest
        _send(publisher, i)
    time.sleep(0.5)
    newest = reader.take(timeout=0)  # waiting already: no wait needed
    assert newest.frame_id == "frame 10" and (newest.stamp.sec, newest.stamp.nanosec) == (1010, 10)
    assert reader.take(timeout=0.2) is None  # nothing is queued behind it
    assert reader.taken == 2  # ten frames sent, one taken: nine never reached Python
    assert reader.received - received == 10 and reader.dropped - dropped == 9


def test_close_wakes_a_waiting_take(pair):
    _, reader = pair
    result = []
    worker = threading.Thread(target=lambda: result.append(reader.take(timeout=30.0)))
    worker.start()
    time.sleep(0.2)
    reader.close()
    worker.join(2.0)
    assert not worker.is_alive() and result == [None] and reader.closed


def test_wait_for_next_takes_the_imminent_frame(pair):
    publisher, reader = pair
    period = 0.2
    stop = threading.Event()
    sent = [-1]

    def camera():
        i = 0
        while not stop.is_set():
            _send(publisher, i)
            sent[0] = i
            i += 1
            time.sleep(period)

    thread = threading.Thread(target=camera)
    thread.start()
    try:
        assert wait_for(lambda: reader.take(timeout=0.5), 10.0)
        while reader.interval() is None:
            reader.take(timeout=1.0)
        reader.take(timeout=1.0)  # just after a frame: the next one is due within a period
        time.sleep(period * 0.3)
        waiting = sent[0]  # the frame in the reader now
        msg = reader.take(timeout=1.0, wait_for_next=period)
    finally:
        stop.set()
        thread.join()
    assert msg is not None
    assert int(msg.frame_id.split()[1]) > waiting  # it waited for the next frame instead of taking the waiting one
    assert abs(reader.interval() - period) < period * 0.5

