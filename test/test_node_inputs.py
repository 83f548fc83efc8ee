"""segnet_node over real DDS with the inputs cameras and bags carry: YUV, Bayer, 16-bit, compressed 16-bit.

Two node processes (ESPNet-CamVid): one on raw ``image``, one on ``image/compressed``. The same frame sent raw
and compressed must give the same class mask; the expected class map comes from the pure ``Segmenter`` on
RGB pixels converted here by OpenCV directly (YUV, Bayer) or from the raw frame.
"""

from __future__ import annotations

import array
import time

import cv2
import numpy as np
import pytest
from conftest import node_session
from shared_data import CAMVID_DATA, CAMVID_MODEL, require

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from seg_ros.image_conversion import image_to_rgb  # noqa: E402
from seg_ros.registry import resolve_model  # noqa: E402
from seg_ros.ros.harness import (  # noqa: E402
    CameraFrame,
    CameraStream,
    DiagnosticsReader,
    OutputCollector,
    Stamp,
    camera_info_for,
    grid_params,
    wait_for,
)
from seg_ros.segmenter import Segmenter  # noqa: E402

SegmentationInfo = pytest.importorskip("seg_ros.msg", reason="seg_ros messages not built").SegmentationInfo

START_TIMEOUT = 60.0  # model load + discovery on a busy 2-core machine
OUTPUT_TIMEOUT = 20.0
FRAME_ID = "test_camera_optical"
OK_LEVEL, WARN_LEVEL = 0, 1  # diagnostic_msgs/DiagnosticStatus levels


class Feed:
    """One node as seen from here: a camera publisher (CameraInfo too, with ``info_topic``) and the node's outputs."""

    def __init__(self, session, input_topic: str, compressed: bool, info_topic: str | None = None) -> None:
        self.session = session
        self.stream = CameraStream(session.local, input_topic, info_topic=info_topic, compressed=compressed,
                                   info_lead=0.15 if info_topic else 0.0)  # the node holds CameraInfo first
        self.out = OutputCollector(session.local)
        self.out.subscribe("/segnet/class_mask", Image)
        self.out.subscribe("/segnet/info", SegmentationInfo)
        self._stamp = 2000
        session.node.wait_until(self.stream.subscribed, START_TIMEOUT, "subscribe to its input")

    def next_stamp(self) -> Stamp:
        self._stamp += 1
        return Stamp(self._stamp, 0)

    def send(self, msg, info=None, outputs: tuple[str, ...] = ("/segnet/class_mask", "/segnet/info")) -> list:
        """Publish ``msg`` (and ``info``) again every 3 s until answered; the ``outputs`` stamped like it."""
        msg.header.frame_id = FRAME_ID
        stamp = self.next_stamp()
        found = self.stream.send(CameraFrame(msg, info), self.out, list(outputs), stamp, OUTPUT_TIMEOUT)
        assert found, f"no outputs for {stamp}; node alive={self.session.node.alive()}\n{self.session.node.log()}"
        return found

    def segment(self, msg) -> tuple[np.ndarray, object]:
        """The class mask (H, W) and SegmentationInfo the node answers ``msg`` with."""
        mask_msg, info = self.send(msg)
        assert mask_msg.encoding == "mono8"
        rows = np.frombuffer(mask_msg.data, np.uint8).reshape(mask_msg.height, mask_msg.step)
        return rows[:, : mask_msg.width].copy(), info

    def publish_unanswered(self, msg, settle: float = 0.5) -> None:
        """Publish a frame that gets no outputs (rejected), and give the idle node time to take it."""
        msg.header.frame_id = FRAME_ID
        self.stream.publish(CameraFrame(msg), self.next_stamp())
        time.sleep(settle)
        assert self.session.node.alive(), self.session.node.log()


@pytest.fixture(scope="module")
def reference() -> Segmenter:
    return Segmenter(resolve_model(str(require(CAMVID_MODEL))))


@pytest.fixture(scope="module")
def raw_feed(tmp_path_factory):
    require(CAMVID_MODEL)
    with node_session({"model_path": CAMVID_MODEL}, tmp_path_factory.mktemp("raw") / "segnet.log") as ns:
        yield Feed(ns, "/image", compressed=False)


@pytest.fixture(scope="module")
def compressed_feed(tmp_path_factory):
    require(CAMVID_MODEL)
    params = {"model_path": CAMVID_MODEL, "use_compressed": True}
    with node_session(params, tmp_path_factory.mktemp("compressed") / "segnet.log") as ns:
        yield Feed(ns, "/image/compressed", compressed=True)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A CamVid street frame at the network size (480x360: even, as every YUV layout needs)."""
    names = require(CAMVID_DATA / "test.txt").read_text().split()
    bgr = cv2.resize(cv2.imread(str(CAMVID_DATA / names[0])), (480, 360), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(bgr[..., ::-1])


def raw_image(encoding: str, pixels: np.ndarray, width: int) -> Image:
    """A ``sensor_msgs/Image`` holding packed ``pixels`` (rows first) as ``encoding``."""
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(pixels.shape[0], -1)
    height = {"nv12": rows.shape[0] * 2 // 3}.get(encoding, rows.shape[0])
    return Image(encoding=encoding, height=height, width=width, step=rows.shape[1], is_bigendian=0,
                 data=array.array("B", rows.tobytes()))


def bt601(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    return (16 + 0.257 * r + 0.504 * g + 0.098 * b, 128 - 0.148 * r - 0.291 * g + 0.439 * b,
            128 + 0.439 * r - 0.368 * g - 0.071 * b)


def camera_bytes(encoding: str, rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """(pixels as a camera sends them, OpenCV code that turns them into RGB) for yuyv, uyvy, nv12, bayer_rggb8."""
    y, u, v = bt601(rgb)
    u2, v2 = (u[:, 0::2] + u[:, 1::2]) / 2, (v[:, 0::2] + v[:, 1::2]) / 2
    if encoding in ("yuyv", "uyvy"):
        quad = [y[:, 0::2], u2, y[:, 1::2], v2] if encoding == "yuyv" else [u2, y[:, 0::2], v2, y[:, 1::2]]
        packed = np.clip(np.rint(np.stack(quad, axis=-1)), 0, 255).astype(np.uint8).reshape(rgb.shape[0], -1, 2)
        return packed, cv2.COLOR_YUV2RGB_YUY2 if encoding == "yuyv" else cv2.COLOR_YUV2RGB_UYVY
    if encoding == "nv12":
        u4, v4 = (u2[0::2] + u2[1::2]) / 2, (v2[0::2] + v2[1::2]) / 2
        chroma = np.stack([u4, v4], axis=-1).reshape(rgb.shape[0] // 2, -1)
        planes = np.concatenate([y, chroma], axis=0)
        return np.clip(np.rint(planes), 0, 255).astype(np.uint8), cv2.COLOR_YUV2RGB_NV12
    mosaic = np.empty(rgb.shape[:2], np.uint8)  # bayer_rggb8: R at (0,0), G at (0,1) and (1,0), B at (1,1)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = rgb[1::2, 0::2, 1], rgb[1::2, 1::2, 2]
    return mosaic, cv2.COLOR_BayerBG2RGB  # OpenCV's name for the ROS RGGB pattern


@pytest.mark.parametrize("encoding", ["yuyv", "uyvy", "nv12", "bayer_rggb8"])
def test_camera_encodings_are_segmented_like_their_rgb(encoding, raw_feed, reference, scene):
    """The camera's own format over DDS: the class map of the RGB OpenCV makes of the same bytes, none rejected."""
    pixels, code = camera_bytes(encoding, scene)
    mask, info = raw_feed.segment(raw_image(encoding, pixels, scene.shape[1]))
    expected = reference.segment(cv2.cvtColor(pixels, code)).class_map
    assert info.frames_rejected == 0, raw_feed.session.node.log()
    np.testing.assert_array_equal(mask, expected)
    assert len(np.unique(expected)) >= 4  # a street scene, not one class everywhere


def _twelve_bit(scene: np.ndarray) -> np.ndarray:
    return (scene.astype(np.uint16) * 16 + 3)  # 0..4083: what a 12-bit sensor delivers in 16-bit words


@pytest.mark.parametrize("encoding", ["mono16", "rgb16"])
def test_compressed_16bit_png_equals_raw_16bit(encoding, raw_feed, compressed_feed, reference, scene):
    """image_transport's ``"mono16; png compressed "`` (16-bit PNG) gives the raw mono16 class mask, stretched."""
    values = _twelve_bit(scene)
    if encoding == "mono16":
        values = np.ascontiguousarray(cv2.cvtColor(values, cv2.COLOR_RGB2GRAY))
        fmt, stored = "mono16; png compressed ", values
    else:
        fmt, stored = "rgb16; png compressed bgr16", np.ascontiguousarray(values[..., ::-1])  # cv_bridge's bgr16
    ok, png = cv2.imencode(".png", stored)
    assert ok
    compressed_mask, info = compressed_feed.segment(CompressedImage(format=fmt, data=array.array("B", png.tobytes())))
    raw_mask, _ = raw_feed.segment(raw_image(encoding, values, scene.shape[1]))
    assert info.frames_rejected == 0, compressed_feed.session.node.log()
    np.testing.assert_array_equal(compressed_mask, raw_mask)
    h, w = scene.shape[:2]
    stretched = image_to_rgb(encoding, h, w, values.strides[0], 0, values.tobytes())
    assert stretched.max() == 255  # automatic range: the 12-bit frame fills 0..255
    np.testing.assert_array_equal(compressed_mask, reference.segment(stretched).class_map)
    # What the node segmented before: the high byte only, a nearly black frame; its class map differs widely.
    dark = np.repeat((values >> 8).astype(np.uint8)[..., None], 3, axis=2) if values.ndim == 2 else \
        (values >> 8).astype(np.uint8)
    assert (reference.segment(np.ascontiguousarray(dark)).class_map != compressed_mask).mean() > 0.2


def test_unsupported_inputs_are_rejected_by_name_and_survived(raw_feed, compressed_feed, scene):
    """A signed image and a compressedDepth stream: one warning naming each, the node goes on segmenting."""
    height, width = scene.shape[:2]
    raw_feed.publish_unanswered(raw_image("16SC1", np.zeros((height, width), np.uint16), width))
    depth = CompressedImage(format="16UC1; compressedDepth png", data=array.array("B", bytes(64)))
    compressed_feed.publish_unanswered(depth)
    _, raw_info = raw_feed.segment(raw_image("rgb8", scene, width))
    ok, png = cv2.imencode(".png", np.ascontiguousarray(scene[..., ::-1]))
    _, compressed_info = compressed_feed.segment(CompressedImage(format="rgb8; png compressed bgr8",
                                                                 data=array.array("B", png.tobytes())))
    assert raw_info.frames_rejected >= 1 and compressed_info.frames_rejected >= 1
    assert "unsupported image encoding '16SC1' (signed integer values" in raw_feed.session.node.log()
    assert "'16UC1; compressedDepth png': compressedDepth streams" in compressed_feed.session.node.log()


# ---------------------------------------------------------------------------------------------- diagnostics now

@pytest.fixture(scope="module")
def grid_feed(tmp_path_factory, reference):
    """A grid node (camera pose from parameters) with a 0.5 s diagnostics period, fed images and CameraInfo."""
    require(CAMVID_MODEL)
    params = {"model_path": CAMVID_MODEL, "diagnostics_period": 0.5, **grid_params(reference.spec.class_names)}
    with node_session(params, tmp_path_factory.mktemp("grid") / "segnet.log") as ns:
        feed = Feed(ns, "/image", compressed=False, info_topic="/camera_info")
        feed.diagnostics = DiagnosticsReader(ns.local)
        yield feed


def _status_after(feed: Feed, since: float, predicate, timeout: float = 10.0):
    return feed.diagnostics.wait(lambda s: s.receive_monotonic > since and predicate(s), timeout)


def _send_until(feed: Feed, msg, info, predicate, timeout: float = 20.0):
    """Send ``msg`` with ``info`` until a later status satisfies ``predicate``; that status, or None.

    One answered frame at a time: the first frame may reach the node before its CameraInfo.
    """
    since = time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        feed.send(msg, info, outputs=("/segnet/class_mask",))
        found = _status_after(feed, since, predicate, timeout=1.5)
        if found:
            return found
    return None


def _periods_after(feed: Feed, since: float, count: int = 3, timeout: float = 10.0) -> list:
    """The next ``count`` statuses received after ``since``."""
    assert wait_for(lambda: len([s for s in feed.diagnostics.statuses() if s.receive_monotonic > since]) >= count,
                    timeout), "the node publishes no /diagnostics"
    return [s for s in feed.diagnostics.statuses() if s.receive_monotonic > since][:count]


def test_diagnostics_describe_the_current_period(grid_feed, scene):
    """Rejections warn only while they happen; a current grid problem is the message, not just a key."""
    feed, height, width = grid_feed, scene.shape[0], scene.shape[1]
    good_info = camera_info_for(width, height, frame_id=FRAME_ID)
    rgb8 = raw_image("rgb8", scene, width)
    assert _send_until(feed, rgb8, good_info, lambda s: s.level == OK_LEVEL and "Hz" in s.message), "no OK status"

    # A rejected frame and nothing else: the period's problem is the rejection, with its reason.
    signed = raw_image("16SC1", np.zeros((height, width), np.uint16), width)
    started = time.monotonic()
    feed.publish_unanswered(signed)
    warn = _status_after(feed, started, lambda s: "rejected" in s.message)
    assert warn and warn.level == WARN_LEVEL and "16SC1" in warn.message, warn

    # Good frames again: the next periods are OK again, even those without a new frame.
    ok = _send_until(feed, rgb8, good_info, lambda s: s.level == OK_LEVEL and int(s.get("frames rejected", "0")) >= 1)
    assert ok, [(s.level, s.message) for s in feed.diagnostics.statuses()[-6:]]
    idle = time.monotonic()
    assert all("rejected" not in s.message for s in _periods_after(feed, idle, 3)), "the old rejection came back"

    # An all-zero K: the grid problem is the message of every later period, with or without new frames.
    broken_info = camera_info_for(width, height, frame_id=FRAME_ID)
    broken_info.k = [0.0] * 9
    grid = _send_until(feed, rgb8, broken_info, lambda s: "no grid" in s.message)
    assert grid and grid.level == WARN_LEVEL and "K" in grid.message, grid
    later = time.monotonic()
    assert all(s.level == WARN_LEVEL and "no grid" in s.message for s in _periods_after(feed, later, 3))

    # Rejections while the grid is broken: nothing is segmented at all, the more important problem.
    rejecting = time.monotonic()
    feed.publish_unanswered(signed)
    both = _status_after(feed, rejecting, lambda s: "rejected" in s.message)
    assert both and both.level == WARN_LEVEL, both
    # ... and once they stop, the grid problem is the message again.
    after = time.monotonic()
    assert _status_after(feed, after, lambda s: "no grid" in s.message and "rejected" not in s.message)

    # A good CameraInfo: OK again.
    assert _send_until(feed, rgb8, good_info, lambda s: s.level == OK_LEVEL), "the grid problem outlived its cause"


def test_compressed_input_honours_mono16_range(tmp_path, reference, scene):
    """A fixed ``mono16_range`` applies to a compressed 16-bit PNG as to the raw frame (not the automatic range)."""
    require(CAMVID_MODEL)
    values = np.ascontiguousarray(cv2.cvtColor(_twelve_bit(scene), cv2.COLOR_RGB2GRAY))
    ok, png = cv2.imencode(".png", values)
    params = {"model_path": CAMVID_MODEL, "use_compressed": True, "mono16_range": [0.0, 8190.0]}
    with node_session(params, tmp_path / "segnet.log") as ns:
        feed = Feed(ns, "/image/compressed", compressed=True)
        mask, _ = feed.segment(CompressedImage(format="mono16; png compressed ", data=array.array("B", png.tobytes())))
    h, w = values.shape
    fixed = image_to_rgb("mono16", h, w, w * 2, 0, values.tobytes(), (0.0, 8190.0))
    assert fixed.max() <= 128  # half the range used: a darker frame than the automatic stretch
    np.testing.assert_array_equal(mask, reference.segment(fixed).class_map)
    auto = reference.segment(image_to_rgb("mono16", h, w, w * 2, 0, values.tobytes())).class_map
    assert (auto != mask).any()
