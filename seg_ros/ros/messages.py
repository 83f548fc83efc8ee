"""ROS messages built straight from the pure core's results: the one place that fills message fields.

Each builder takes a core dataclass (``Segmentation``, ``GridResult``, ``Heading``, ``ModelSpec``) plus the
header facts (stamp, frame id) and returns a complete message; nothing goes through an intermediate dict of
fields. Pure functions over message *types*: no node, no graph, testable in memory (test/test_messages.py),
as nav2_simple_commander's message helpers are.

Conventions: grids and headings are stamped with the image stamp and given in the base frame
(REP 103: x forward, y left, z up); a heading's target pose is yawed by the heading (rotation about +z).
"""

from __future__ import annotations

import array
import importlib
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import cv2
import numpy as np
from geometry_msgs.msg import Pose, PoseStamped
from nav_msgs.msg import OccupancyGrid
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from seg_ros import render
from seg_ros.errors import ImageConversionError
from seg_ros.image_conversion import fill_image_msg
from seg_ros.model import ModelSpec
from seg_ros.msg import SegmentationInfo, TrailHeading
from seg_ros.occupancy_grid import GridResult
from seg_ros.segmenter import Segmentation
from seg_ros.trail_heading import Heading


class FrameCounters(NamedTuple):
    """Frame counts since the node started, as ~/info and /diagnostics report them."""

    received: int
    processed: int
    dropped: int  # replaced by a newer frame before processing (latest frame wins)
    rejected: int  # bad input (encoding, size, corrupt data)


def header_msg(stamp: Any, frame_id: str) -> Header:
    """std_msgs/Header with ``stamp`` (a builtin_interfaces/Time) and ``frame_id``."""
    return Header(stamp=stamp, frame_id=frame_id)


def image_msg(header: Header, pixels: np.ndarray, encoding: str) -> Image:
    """sensor_msgs/Image of ``pixels`` ((H,W) mono8 or (H,W,3) rgb8 uint8) under ``header``.

    Raises what ``image_conversion.fill_image_msg`` raises for an array that does not match ``encoding``.
    """
    msg = Image(header=header)
    fill_image_msg(msg, pixels, encoding)
    return msg


def class_mask_msg(header: Header, class_map: np.ndarray) -> Image:
    """The class ids as a mono8 image (pixel value = class id), at the class map's own size."""
    return image_msg(header, class_map, "mono8")


def confidence_msg(header: Header, confidence: np.ndarray) -> Image:
    """The winning class's probability x 255 per pixel as a mono8 image (``classify.confidence_from_logits``)."""
    return image_msg(header, confidence, "mono8")


# image_transport's compressed plugin (compressed_publisher.cpp) writes "<raw encoding>; <codec> compressed <target>",
# the target being bgr8 for colour images and empty for mono ones; its subscriber and republish decode by it.
JPEG_RGB8_FORMAT = "rgb8; jpeg compressed bgr8"
PNG_MONO8_FORMAT = "mono8; png compressed "
PNG_LEVEL = 3  # image_transport's default png_level: fast, and a class mask compresses well anyway


def _compressed_msg(header: Header, fmt: str, ext: str, pixels: np.ndarray, params: list[int]) -> CompressedImage:
    ok, data = cv2.imencode(ext, pixels, params)
    if not ok:
        raise ImageConversionError(f"OpenCV cannot encode a {pixels.shape} {pixels.dtype} image as {ext[1:]}")
    msg = CompressedImage(header=header, format=fmt)
    msg.data = array.array("B", data.tobytes())
    return msg


def jpeg_image_msg(header: Header, rgb: np.ndarray, quality: int) -> CompressedImage:
    """sensor_msgs/CompressedImage of an (H,W,3) uint8 RGB image as JPEG (``quality`` 1..100), image_transport style.

    Format ``"rgb8; jpeg compressed bgr8"``: the JPEG holds BGR pixels, as OpenCV and image_transport write them.
    Raises ImageConversionError for an array that is not (H,W,3) uint8.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(f"JPEG output needs an (H,W,3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    return _compressed_msg(header, JPEG_RGB8_FORMAT, ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def png_mono8_msg(header: Header, mono: np.ndarray, level: int = PNG_LEVEL) -> CompressedImage:
    """sensor_msgs/CompressedImage of an (H,W) uint8 image (a class mask) as lossless PNG, image_transport style.

    Format ``"mono8; png compressed "`` (the trailing space is image_transport's). Decoding gives back exactly
    ``mono``: class ids survive, which a JPEG would blur at class edges. Raises ImageConversionError for an
    array that is not (H,W) uint8.
    """
    if mono.dtype != np.uint8 or mono.ndim != 2:
        raise ImageConversionError(f"PNG mask output needs an (H,W) uint8 image, got {mono.shape} {mono.dtype}")
    return _compressed_msg(header, PNG_MONO8_FORMAT, ".png", np.ascontiguousarray(mono),
                           [cv2.IMWRITE_PNG_COMPRESSION, int(level)])


def vision_msgs_module() -> Any | None:
    """``vision_msgs.msg`` when importable (a ROS install with vision_msgs), else None: it is not on PyPI."""
    try:
        return importlib.import_module("vision_msgs.msg")
    except ImportError:
        return None


def label_info_msg(header: Header, class_names: Sequence[str], msg_module: Any, threshold: float = 0.0) -> Any:
    """vision_msgs/LabelInfo of a network's classes: ``class_map`` = one VisionClass (id = index, name) per class.

    ``msg_module`` is ``vision_msgs.msg`` (see :func:`vision_msgs_module`), passed in because vision_msgs is an
    optional dependency; ``threshold`` is LabelInfo's confidence threshold (0: every class id is published).
    """
    return msg_module.LabelInfo(
        header=header,
        class_map=[msg_module.VisionClass(class_id=i, class_name=str(name)) for i, name in enumerate(class_names)],
        threshold=float(threshold),
    )


def segmentation_info_msg(header: Header, spec: ModelSpec, backend: str, segmentation: Segmentation,
                          render_ms: float, latency_ms: float, counters: FrameCounters) -> SegmentationInfo:
    """seg_ros/msg/SegmentationInfo of one frame.

    Class fractions are the share of class-map cells per class (all of ``spec.class_names``, in order);
    stage timings come from ``segmentation``; ``render_ms`` is the newest render's wall time and
    ``latency_ms`` the input stamp → class map delay, both in milliseconds.
    """
    class_map = segmentation.class_map
    stats = render.class_statistics(class_map, spec.class_names)
    return SegmentationInfo(
        header=header,
        network=spec.name,
        backend=backend,
        class_names=list(spec.class_names),
        class_fractions=[s.fraction for s in stats],
        grid_width=int(class_map.shape[1]),
        grid_height=int(class_map.shape[0]),
        preprocess_ms=float(segmentation.preprocess_ms),
        network_ms=float(segmentation.network_ms),
        postprocess_ms=float(segmentation.postprocess_ms),
        render_ms=float(render_ms),
        latency_ms=float(latency_ms),
        frames_received=int(counters.received),
        frames_processed=int(counters.processed),
        frames_dropped=int(counters.dropped),
        frames_rejected=int(counters.rejected),
    )


def occupancy_grid_msg(result: GridResult, stamp: Any, frame_id: str) -> OccupancyGrid:
    """nav_msgs/OccupancyGrid of a grid: ``stamp`` (the image's) as header stamp and map_load_time.

    Layout from the grid's GridSpec: ``info.origin`` is the outer corner of cell (0, 0) at height
    ``ground_z``, identity orientation; ``data`` is row-major int8 (0 free .. 100 lethal, -1 unknown).
    """
    spec = result.spec
    msg = OccupancyGrid(header=header_msg(stamp, frame_id))
    msg.info.map_load_time = stamp
    msg.info.resolution = float(spec.resolution)
    msg.info.width, msg.info.height = int(spec.width), int(spec.height)
    origin_x, origin_y = spec.origin
    msg.info.origin.position.x, msg.info.origin.position.y = float(origin_x), float(origin_y)
    msg.info.origin.position.z = float(spec.ground_z)
    msg.info.origin.orientation.w = 1.0
    # an array.array assigns to the int8[] field in microseconds, a list of 40 000 ints in milliseconds
    msg.data = array.array("b", np.ascontiguousarray(result.values, dtype=np.int8).tobytes())
    return msg


def heading_target_pose(heading: Heading) -> Pose:
    """geometry_msgs/Pose of the heading's target: on the ground plane, yawed by the heading (about +z)."""
    pose = Pose()
    pose.position.x, pose.position.y = float(heading.target_xy[0]), float(heading.target_xy[1])
    pose.position.z = float(heading.ground_z)
    pose.orientation.z, pose.orientation.w = math.sin(0.5 * heading.heading), math.cos(0.5 * heading.heading)
    return pose


def trail_heading_msg(heading: Heading, stamp: Any, frame_id: str) -> TrailHeading:
    """seg_ros/msg/TrailHeading of a Heading; confidence 0 = no trail (the other fields are then zero)."""
    return TrailHeading(
        header=header_msg(stamp, frame_id),
        target=heading_target_pose(heading),
        heading=float(heading.heading),
        lookahead_distance=float(heading.lookahead),
        confidence=float(heading.confidence),
        left=float(heading.left),
        straight=float(heading.straight),
        right=float(heading.right),
    )


def heading_pose_msg(heading: Heading, stamp: Any, frame_id: str) -> PoseStamped:
    """geometry_msgs/PoseStamped of the heading's target (the rviz arrow)."""
    return PoseStamped(header=header_msg(stamp, frame_id), pose=heading_target_pose(heading))
