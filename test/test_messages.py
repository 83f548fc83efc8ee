"""seg_ros.ros.messages: messages built in memory from hand-made core results (no node, no DDS).

Expected field values are written out by hand from the message definitions and the grid / heading
conventions (nav_msgs/OccupancyGrid layout, REP 103 yaw about +z), not computed by the builders.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402

from seg_ros.errors import ImageConversionError  # noqa: E402
from seg_ros.image_conversion import compressed_to_rgb  # noqa: E402
from seg_ros.model import ModelSpec  # noqa: E402
from seg_ros.msg import SegmentationInfo, TrailHeading  # noqa: E402
from seg_ros.occupancy_grid import UNKNOWN_CLASS, GridResult, GridSpec  # noqa: E402
from seg_ros.ros import messages  # noqa: E402
from seg_ros.ros.messages import FrameCounters  # noqa: E402
from seg_ros.segmenter import Segmentation  # noqa: E402
from seg_ros.trail_heading import Heading  # noqa: E402

STAMP = Time(sec=12, nanosec=500)


def round_trip(msg):
    """The message after CDR serialisation: every field holds a value its type accepts."""
    return deserialize_message(serialize_message(msg), type(msg))


def test_class_mask_and_rgb_images_carry_the_header_and_pixels():
    header = messages.header_msg(STAMP, "camera")
    mask = messages.class_mask_msg(header, np.array([[0, 1, 2], [2, 1, 0]], np.uint8))
    assert (mask.header.stamp.sec, mask.header.stamp.nanosec, mask.header.frame_id) == (12, 500, "camera")
    assert (mask.height, mask.width, mask.step, mask.encoding) == (2, 3, 3, "mono8")
    assert bytes(mask.data) == bytes([0, 1, 2, 2, 1, 0])
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1] = (10, 20, 30)
    image = round_trip(messages.image_msg(header, rgb, "rgb8"))
    assert (image.height, image.width, image.step, image.encoding) == (1, 2, 6, "rgb8")
    assert bytes(image.data) == bytes([0, 0, 0, 10, 20, 30])


def test_segmentation_info_from_spec_segmentation_and_counters():
    spec = ModelSpec("net", Path("net.onnx"), ("trail", "grass", "sky"), np.zeros((3, 4)), np.zeros(3, bool))
    class_map = np.array([[0, 0], [2, 0]], np.uint8)  # 3 of 4 cells trail, none grass, 1 sky
    seg = Segmentation(class_map, np.zeros((3, 2, 2), np.float32), preprocess_ms=1.5, network_ms=2.5,
                       postprocess_ms=0.5)
    msg = messages.segmentation_info_msg(messages.header_msg(STAMP, "camera"), spec, "onnxruntime", seg,
                                         render_ms=4.0, latency_ms=12.25,
                                         counters=FrameCounters(received=10, processed=7, dropped=2, rejected=1))
    assert isinstance(msg, SegmentationInfo)
    msg = round_trip(msg)
    assert msg.header.frame_id == "camera" and msg.header.stamp.sec == 12
    assert (msg.network, msg.backend, list(msg.class_names)) == ("net", "onnxruntime", ["trail", "grass", "sky"])
    assert list(msg.class_fractions) == [0.75, 0.0, 0.25]
    assert (msg.grid_width, msg.grid_height) == (2, 2)
    assert (msg.preprocess_ms, msg.network_ms, msg.postprocess_ms, msg.render_ms, msg.latency_ms) == (
        1.5, 2.5, 0.5, 4.0, 12.25)
    assert (msg.frames_received, msg.frames_processed, msg.frames_dropped, msg.frames_rejected) == (10, 7, 2, 1)


def test_occupancy_grid_layout_origin_and_cells():
    # 4 cells along x (columns), 3 along y (rows), 0.5 m; grid starts 1 m behind the base origin, centred in y:
    # origin corner x = -1.0, y = -3 * 0.5 / 2 = -0.75, z = ground_z.
    spec = GridSpec(resolution=0.5, width=4, height=3, x_offset=1.0, max_range=0, ground_z=-0.25)
    values = np.array([[0, 30, 100, -1], [-1, 0, 0, 0], [100, 100, 30, 0]], np.int8)
    classes = np.where(values < 0, UNKNOWN_CLASS, 0).astype(np.uint8)
    msg = round_trip(messages.occupancy_grid_msg(GridResult(values, classes, spec), STAMP, "base_link"))
    assert msg.header.frame_id == "base_link" and (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 500)
    assert (msg.info.map_load_time.sec, msg.info.map_load_time.nanosec) == (12, 500)
    assert (msg.info.width, msg.info.height, msg.info.resolution) == (4, 3, 0.5)
    origin = msg.info.origin
    assert (origin.position.x, origin.position.y, origin.position.z) == (-1.0, -0.75, -0.25)
    assert (origin.orientation.x, origin.orientation.y, origin.orientation.z, origin.orientation.w) == (0, 0, 0, 1)
    assert list(msg.data) == [0, 30, 100, -1, -1, 0, 0, 0, 100, 100, 30, 0]  # row-major: data[row * width + col]
    # The ground point (0.6, 0.2) m lies in col floor((0.6 + 1.0) / 0.5) = 3, row floor((0.2 + 0.75) / 0.5) = 1.
    assert msg.data[1 * 4 + 3] == 0


def test_trail_heading_and_pose_point_along_the_heading():
    heading = Heading(target_xy=(3.0, 1.0), heading=math.atan2(1.0, 3.0), lookahead=math.hypot(3.0, 1.0),
                      confidence=0.75, left=0.25, straight=0.625, right=0.125, ground_z=-0.3)
    msg = messages.trail_heading_msg(heading, STAMP, "base_link")
    assert isinstance(msg, TrailHeading)
    msg = round_trip(msg)
    assert msg.header.frame_id == "base_link" and msg.header.stamp.sec == 12
    assert (msg.confidence, msg.left, msg.straight, msg.right) == (0.75, 0.25, 0.625, 0.125)
    assert msg.heading == pytest.approx(0.32175, abs=1e-5)  # atan2(1, 3), float32
    assert msg.lookahead_distance == pytest.approx(3.16228, abs=1e-5)  # sqrt(10)
    p, q = msg.target.position, msg.target.orientation
    assert (p.x, p.y, p.z) == (3.0, 1.0, -0.3)  # on the ground plane, not at z = 0
    # Rotating +x by the quaternion (yaw only) gives the direction towards the target: (3, 1) / sqrt(10).
    assert (q.x, q.y) == (0.0, 0.0) and q.z ** 2 + q.w ** 2 == pytest.approx(1.0)
    forward = (1 - 2 * q.z ** 2, 2 * q.z * q.w)
    assert forward == pytest.approx((3 / math.sqrt(10), 1 / math.sqrt(10)))
    pose = round_trip(messages.heading_pose_msg(heading, STAMP, "base_link"))
    assert pose.header.frame_id == "base_link" and pose.pose == msg.target


def test_no_trail_heading_is_all_zero_with_identity_orientation():
    msg = messages.trail_heading_msg(Heading(), STAMP, "base_link")
    assert msg.confidence == 0.0 and msg.heading == 0.0 and msg.lookahead_distance == 0.0
    assert (msg.target.position.x, msg.target.position.y, msg.target.orientation.w) == (0.0, 0.0, 1.0)


def test_confidence_image_is_mono8_under_the_mask_header():
    header = messages.header_msg(STAMP, "camera")
    msg = round_trip(messages.confidence_msg(header, np.array([[255, 128], [0, 191]], np.uint8)))
    assert (msg.height, msg.width, msg.step, msg.encoding, msg.header.frame_id) == (2, 2, 2, "mono8", "camera")
    assert bytes(msg.data) == bytes([255, 128, 0, 191])


def test_png_class_mask_decodes_to_exactly_the_mask():
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 21, (37, 53), dtype=np.uint8)  # odd size, every class id adjacent to others
    msg = round_trip(messages.png_mono8_msg(messages.header_msg(STAMP, "camera"), mask))
    assert isinstance(msg, CompressedImage)
    assert msg.format == "mono8; png compressed "  # image_transport's compressed plugin, trailing space included
    assert bytes(msg.data[:8]) == b"\x89PNG\r\n\x1a\n"
    decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, mask)
    assert msg.header.stamp.sec == 12 and msg.header.frame_id == "camera"
    with pytest.raises(ImageConversionError):
        messages.png_mono8_msg(msg.header, mask.astype(np.uint16))


def test_jpeg_overlay_holds_bgr_pixels_and_follows_quality():
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :16] = (200, 30, 10)  # red-ish in RGB order
    rgb[:, 16:32] = (10, 180, 40)
    header = messages.header_msg(STAMP, "camera")
    msg = round_trip(messages.jpeg_image_msg(header, rgb, quality=95))
    assert msg.format == "rgb8; jpeg compressed bgr8"
    assert bytes(msg.data[:2]) == b"\xff\xd8"  # JPEG SOI marker
    bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
    assert bgr.shape == (32, 48, 3)
    assert np.abs(bgr[16, 8].astype(int) - (10, 30, 200)).max() <= 6  # stored as BGR: blue first
    # what the node's own compressed input path reads back (by the format string) is RGB again
    assert np.abs(compressed_to_rgb(msg.format, msg.data)[16, 24].astype(int) - (10, 180, 40)).max() <= 6
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    small = messages.jpeg_image_msg(header, noisy, quality=10)
    large = messages.jpeg_image_msg(header, noisy, quality=95)
    assert len(small.data) < len(large.data) / 2
    with pytest.raises(ImageConversionError):
        messages.jpeg_image_msg(header, rgb[:, :, 0], quality=90)


@dataclass
class _VisionClass:  # vision_msgs/VisionClass field layout; the real package is built in test_node_outputs.py
    class_id: int = 0
    class_name: str = ""


@dataclass
class _LabelInfo:  # vision_msgs/LabelInfo field layout
    header: object = None
    class_map: list = field(default_factory=list)
    threshold: float = 0.0


def test_label_info_lists_class_ids_and_names_in_order():
    module = types.SimpleNamespace(LabelInfo=_LabelInfo, VisionClass=_VisionClass)
    msg = messages.label_info_msg(messages.header_msg(STAMP, ""), ("trail", "grass", "sky"), module)
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, "trail"), (1, "grass"), (2, "sky")]
    assert msg.threshold == 0.0 and msg.header.stamp.sec == 12
