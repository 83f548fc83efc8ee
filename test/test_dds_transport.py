"""The harness's shared-memory transport delivers large images intact between processes, on every distro.

Jazzy's Fast DDS 2.14 with ``SHM?max_msg_size=4MB`` (unfragmented samples) dropped the last 60 bytes of an
Image whose last 20 pixels are (128, 0, 0) — a CamVid colour mask ending in "building" — so the receiver failed
with "sequence size exceeds remaining buffer". ``harness.shm_transport()`` fragments at 64 KB under Fast DDS 2.x;
this test sends exactly that image from a child process (``dds_env``) to this one (``LocalNode``).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("sensor_msgs")

from seg_ros.ros.harness import LocalNode, OutputCollector, dds_env, random_domain, wait_for  # noqa: E402

PUBLISHER = """
import sys, time
import numpy as np
import rclpy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from seg_ros.image_conversion import fill_image_msg
rclpy.init(domain_id=int(sys.argv[1]))
node = rclpy.create_node("transport_probe")
pub = node.create_publisher(Image, "/transport_probe", 10)
pixels = np.random.default_rng(1).integers(0, 256, (360, 480, 3), dtype=np.uint8)
pixels[-1, -20:] = (128, 0, 0)
msg = Image()
fill_image_msg(msg, pixels, "rgb8")
raw = serialize_message(msg)
deadline = time.monotonic() + 30
while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
for _ in range(20):
    pub.publish(raw)
    time.sleep(0.25)
node.destroy_node()
rclpy.shutdown()
"""


def test_a_large_image_crosses_processes_intact():
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    domain = random_domain()
    local = LocalNode(domain, "transport_receiver")
    try:
        out = OutputCollector(local)
        out.subscribe("/transport_probe", Image, raw=True)
        child = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(domain)], env=dds_env(domain),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert wait_for(lambda: out.count("/transport_probe") >= 2, 40.0), "no sample arrived"
        finally:
            child.kill()
            log = child.communicate(timeout=10)[0]
        sizes = {len(bytes(raw)) for raw in out.messages("/transport_probe")}
        assert sizes == {360 * 480 * 3 + 48}, (sizes, log[-2000:])
        msg = deserialize_message(bytes(out.messages("/transport_probe")[0]), Image)
        pixels = np.frombuffer(msg.data, np.uint8).reshape(360, 480, 3)
        assert (pixels[-1, -20:] == (128, 0, 0)).all()
    finally:
        local.close()
