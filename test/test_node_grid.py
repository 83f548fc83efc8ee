"""segnet_node's traversability grid and trail heading over real DDS, the node in its own process.

The camera pose comes from parameters (tf2_ros is not installable here) and, in one test, from a tf2_ros
stand-in on the node's path.

The expected grid comes from a ``TraversabilityMapper`` built in this process from the same CameraInfo, mounting
and grid parameters, fed with what the pure ``Segmenter`` computes on the same image; equality is exact.
One ESPNet-CamVid node (road as the "trail") is shared; the class-score path of coarse networks gets its own
small node with a random-weight FCN-shaped network.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import node_session, random_domain
from shared_data import CAMVID_DATA, CAMVID_MODEL, JETSON_IMAGES, require

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from geometry_msgs.msg import PoseStamped  # noqa: E402
from nav_msgs.msg import OccupancyGrid  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from seg_ros.ground_projection import Extrinsics  # noqa: E402
from seg_ros.occupancy_grid import GridSpec, TraversabilityMapper  # noqa: E402
from seg_ros.registry import resolve_model  # noqa: E402
from seg_ros.ros import harness  # noqa: E402
from seg_ros.ros.harness import Stamp  # noqa: E402
from seg_ros.segmenter import Segmenter  # noqa: E402
from seg_ros.synthetic import write_model_dir  # noqa: E402

TrailHeading = pytest.importorskip("seg_ros.msg", reason="seg_ros messages not built").TrailHeading

START_TIMEOUT = 60.0
OUTPUT_TIMEOUT = 20.0
CAMERA_FRAME = "test_camera_optical"
BASE = "test_base"
MOUNT = {"height": 1.2, "pitch": 0.3, "roll": 0.02, "yaw": 0.05, "x": 0.2, "y": -0.1}
GRID = {"resolution": 0.1, "width": 80, "height": 60, "x_offset": 1.0, "max_range": 7.0}
CAMVID_COSTS = ["road:0", "pavement:20", "sky:-1", "void:-1"]
CAMVID_DEFAULT = 100
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def node_params(model: str, **extra: object) -> dict[str, object]:
    params: dict[str, object] = {"model_path": model, "base_frame": BASE, "diagnostics_period": 0.5}
    params.update({f"camera_{k}": v for k, v in MOUNT.items()})
    params.update({"grid_resolution": GRID["resolution"], "grid_width": GRID["width"],
                   "grid_height": GRID["height"], "grid_x_offset": GRID["x_offset"],
                   "grid_max_range": GRID["max_range"]})
    params.update(extra)
    return params


def expected_mapper(names, ignore_id, costs=None, default_cost=-1, trail="trail") -> TraversabilityMapper:
    spec = GridSpec(GRID["resolution"], GRID["width"], GRID["height"], GRID["x_offset"], GRID["max_range"])
    mapper = TraversabilityMapper(names, spec, costs, default_cost, trail, ignore_id)
    mapper.update_extrinsics(Extrinsics.from_mounting(**MOUNT))
    return mapper


def camera_info(width: int, height: int, hfov_deg: float = 90.0, d=(-0.05, 0.01, 0.0, 0.0, 0.0)) -> CameraInfo:
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.d = [float(v) for v in d]
    info.k = [f, 0.0, (width - 1) / 2.0 + 3.0, 0.0, f * 1.01, (height - 1) / 2.0 - 2.0, 0.0, 0.0, 1.0]
    info.p = [info.k[0], 0.0, info.k[2], 0.0, 0.0, info.k[4], info.k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.frame_id = CAMERA_FRAME
    return info


def camvid_image(index: int = 0) -> np.ndarray:
    names = require(CAMVID_DATA / "test.txt").read_text().split()
    return cv2.cvtColor(cv2.imread(str(CAMVID_DATA / names[2 * index]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class GridSession:
    """Image + CameraInfo publishers and the node's output collector, in this process (outputs by key)."""

    def __init__(self, local: harness.LocalNode, node: harness.NodeProcess, prefix: str = "/segnet") -> None:
        self.local, self.node, self.prefix = local, node, prefix
        # The node holds a frame's CameraInfo before its image arrives.
        self.stream = harness.CameraStream(local, "/image", "/camera_info", info_lead=0.15)
        self.out = harness.OutputCollector(local)
        self.class_mask = self.out.subscribe(f"{prefix}/class_mask", Image)
        self.heading = self.out.subscribe(f"{prefix}/trail_heading", TrailHeading)
        self.pose = self.out.subscribe(f"{prefix}/trail_heading_pose", PoseStamped)
        self.diagnostics = harness.DiagnosticsReader(local)
        self._late = 0
        self.grids = self.latched_grids(depth=10)  # every grid from the start
        self._stamp = 2000

    def latched_grids(self, depth: int = 1) -> str:
        """A new transient-local grid subscription; its collector key."""
        self._late += 1
        profile = QoSProfile(depth=depth, reliability=LATCHED.reliability, durability=LATCHED.durability)
        return self.out.subscribe(f"{self.prefix}/traversable_grid", OccupancyGrid, profile, key=f"grid {self._late}")

    def wait_ready(self) -> None:
        self.node.wait_until(lambda: self.stream.subscribed() and self.local.node.count_publishers(
            f"{self.prefix}/traversable_grid") > 0, START_TIMEOUT, "come up")

    def has(self, key: str, stamp: Stamp) -> bool:
        return self.out.find(key, stamp) is not None

    def wait_message(self, key: str, stamp: Stamp, timeout: float = 10.0):
        return harness.wait_for(lambda: self.out.find(key, stamp), timeout)

    def send(self, rgb: np.ndarray, info: CameraInfo | None, outputs: list[str],
             frame_id: str = CAMERA_FRAME) -> Stamp:
        """Publish ``info`` (if any) then the image with one fresh stamp until every key in ``outputs`` has it."""
        self._stamp += 1
        stamp = Stamp(self._stamp, 456_000_000)
        frame = harness.CameraFrame(harness.image_message(rgb, frame_id), info)
        found = self.stream.send(frame, self.out, outputs, stamp, OUTPUT_TIMEOUT)
        assert found, f"no outputs for stamp {stamp}; node alive={self.node.alive()}\n{self.node.log()}"
        return stamp

    def diagnostic_values(self, predicate, timeout: float = 10.0) -> dict | None:
        status = self.diagnostics.wait(lambda s: predicate(s.values), timeout)
        return dict(status.values) if status is not None else None


@pytest.fixture(scope="module")
def reference() -> Segmenter:
    return Segmenter(resolve_model(str(require(CAMVID_MODEL))))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    require(CAMVID_MODEL)
    params = node_params(str(CAMVID_MODEL), class_costs=CAMVID_COSTS, default_cost=CAMVID_DEFAULT,
                         trail_class="road")
    with node_session(params, tmp_path_factory.mktemp("grid") / "segnet.log") as ns:
        s = GridSession(ns.local, ns.node)
        s.wait_ready()
        # A frame before any CameraInfo: masks must flow, no grid (checked by test_missing_camera_info_...).
        s.no_info_stamp = s.send(camvid_image(0), None, [s.class_mask])
        yield s


def test_missing_camera_info_gives_no_grid_but_masks_keep_coming(session):
    assert session.has(session.class_mask, session.no_info_stamp)
    rgb = camvid_image(0)
    later = session.send(rgb, camera_info(rgb.shape[1], rgb.shape[0]), [session.class_mask, session.heading])
    # A later frame's grid is out (reliable, in order on one topic): a grid of the first frame would be before it.
    assert session.wait_message(session.grids, later)
    assert not session.has(session.grids, session.no_info_stamp)
    assert "no CameraInfo received on /camera_info" in session.node.log()


def test_latched_grid_equals_the_mapper_and_trail_heading_follows_the_road(session, reference):
    rgb = camvid_image(0)
    info = camera_info(rgb.shape[1], rgb.shape[0])
    # The heading is published only after a grid was built: it tells that this frame's grid is out.
    stamp = session.send(rgb, info, [session.class_mask, session.heading])
    late = session.latched_grids()  # created after the grid was published: transient_local delivers it
    grid = session.wait_message(late, stamp)
    assert grid is not None, f"late subscriber got {[r.stamp for r in session.out.received(late)]}, wanted {stamp}"

    assert grid.header.frame_id == BASE
    assert (grid.info.width, grid.info.height) == (GRID["width"], GRID["height"])
    assert grid.info.resolution == pytest.approx(GRID["resolution"], rel=1e-6)  # float32 field
    origin = grid.info.origin
    assert (origin.position.x, origin.position.y, origin.position.z) == pytest.approx(
        (-GRID["x_offset"], -GRID["height"] * GRID["resolution"] / 2, 0.0))
    assert (origin.orientation.x, origin.orientation.y, origin.orientation.z, origin.orientation.w) == (0, 0, 0, 1)

    segmentation = reference.segment(rgb)
    mapper = expected_mapper(reference.spec.class_names, reference.ignore_id, CAMVID_COSTS, CAMVID_DEFAULT, "road")
    mapper.update_camera_info(info)
    # Scores interpolated per cell, the node's own class map reused as their argmax.
    expected = mapper.build(segmentation.class_map, scores=segmentation.logits)
    data = np.asarray(grid.data, dtype=np.int8).reshape(grid.info.height, grid.info.width)
    assert np.array_equal(data, expected.values)
    assert set(np.unique(data).tolist()) <= {-1, 0, 20, 100}
    assert (data == 0).sum() > 100 and (data == -1).sum() > 100  # road ahead, unknown outside the view

    heading = session.out.find(session.heading, stamp)
    want = mapper.trail_heading(expected)
    assert want.confidence > 0.3  # the road leads ahead in this image
    assert heading.header.frame_id == BASE
    assert heading.confidence == pytest.approx(want.confidence, rel=1e-6)
    assert heading.heading == pytest.approx(want.heading, rel=1e-6, abs=1e-7)
    assert (heading.target.position.x, heading.target.position.y) == pytest.approx(want.target_xy)
    assert heading.left + heading.straight + heading.right == pytest.approx(1.0, abs=1e-5)
    pose = session.wait_message(session.pose, stamp, 5.0)
    assert pose is not None and pose.header.frame_id == BASE
    assert (pose.pose.position.x, pose.pose.position.y) == pytest.approx(want.target_xy)
    assert pose.pose.orientation.z == pytest.approx(math.sin(want.heading / 2), abs=1e-6)

    values = session.diagnostic_values(lambda v: v.get("grid") == "ok")
    assert values, "no /diagnostics status with a published grid"
    assert values["camera pose source"].startswith("parameters")
    if importlib.util.find_spec("tf2_ros") is None:  # use_tf is true (default) but tf2_ros is missing: said loudly
        assert values["camera pose source"].startswith("parameters (tf2_ros not installed)"), values
        warnings = [line for line in session.node.log().splitlines() if "tf2_ros cannot be imported" in line]
        assert len(warnings) == 1 and "WARN" in warnings[0], session.node.log()
    assert "grid median (ms)" in values


def test_bad_camera_info_stops_the_grid_not_the_masks(session):
    rgb = camvid_image(1)
    good = camera_info(rgb.shape[1], rgb.shape[0])
    zeros = camera_info(rgb.shape[1], rgb.shape[0])
    zeros.k = [0.0] * 9
    nan = camera_info(rgb.shape[1], rgb.shape[0])
    nan.k[0] = float("nan")
    wrong_size = camera_info(640, 480)
    bad = {}
    for what, info, logged in (("zeros", zeros, "not calibrated"), ("NaN", nan, "finite"),
                               ("size", wrong_size, "describes a 640x480 image")):
        bad[what] = session.send(rgb, info, [session.class_mask])
        assert harness.wait_for(lambda logged=logged: logged in session.node.log(), 5.0), what
        assert session.node.alive()

    stamp = session.send(rgb, good, [session.class_mask, session.heading])
    assert session.wait_message(session.grids, stamp), "grid did not come back"
    # That later grid is out (reliable, in order on one topic): none came for the bad frames before it.
    assert not [what for what, s in bad.items() if session.has(session.grids, s)]
    # The same calibration as before the bad ones: the projection table was built once for all these frames.
    values = session.diagnostic_values(lambda v: int(v.get("grids published", 0)) >= 2)
    assert values and values["projection table builds"] == "1", values


def test_coarse_network_grid_comes_from_interpolated_class_scores(tmp_path):
    classes = ["trail", "grass", "vegetation", "obstacle", "sky"]
    folder = write_model_dir(tmp_path / "fcn-synthetic-320x192", (320, 192), 5, classes, seed=3)
    rgb = cv2.cvtColor(cv2.imread(str(require(JETSON_IMAGES / "trail_0.jpg"))), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (400, 240), interpolation=cv2.INTER_AREA)
    with node_session(node_params(str(folder)), tmp_path / "segnet.log") as ns:
        s = GridSession(ns.local, ns.node)
        s.wait_ready()
        info = camera_info(rgb.shape[1], rgb.shape[0], d=(0.0,) * 5)
        stamp = s.send(rgb, info, [s.class_mask, s.heading])
        grid = s.wait_message(s.grids, stamp)
        assert grid is not None
    segmenter = Segmenter(resolve_model(str(folder)))
    segmentation = segmenter.segment(rgb)
    assert segmentation.class_map.shape == (6, 10)  # 320x192 / 32: a coarse class map
    mapper = expected_mapper(classes, segmenter.ignore_id)  # DeepScene default costs
    mapper.update_camera_info(info)
    expected = mapper.build(scores=segmentation.logits)
    data = np.asarray(grid.data, dtype=np.int8).reshape(grid.info.height, grid.info.width)
    assert np.array_equal(data, expected.values)
    # Interpolated scores are not the nearest-cell class map: the two grids differ along class boundaries.
    assert not np.array_equal(expected.values, mapper.build(segmentation.class_map).values)


# A stand-in for tf2_ros (not installable here), put on the node's PYTHONPATH: it checks the Humble call
# signature (frames, rclpy Time, timeout Duration) and knows one transform, base <- camera optical frame.
TF2_STANDIN = '''
import json, os
from geometry_msgs.msg import TransformStamped
from rclpy.duration import Duration
from rclpy.time import Time

class TransformException(Exception):
    pass

class Buffer:
    def lookup_transform(self, target_frame, source_frame, time, timeout=None):
        if not isinstance(time, Time) or not isinstance(timeout, Duration):
            raise TypeError(f"lookup_transform needs rclpy Time and Duration, got {type(time)}, {type(timeout)}")
        with open(os.environ["SEG_ROS_TEST_TF_LOG"], "a") as log:
            log.write(json.dumps([source_frame, timeout.nanoseconds / 1e9]) + "\\n")
        known = json.loads(os.environ["SEG_ROS_TEST_TF"])
        if (target_frame, source_frame) != (known["target"], known["source"]):
            raise TransformException(f'"{source_frame}" passed to lookupTransform argument source_frame does not exist')
        msg = TransformStamped()
        msg.header.frame_id, msg.child_frame_id = target_frame, source_frame
        msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = known["t"]
        r = msg.transform.rotation
        r.x, r.y, r.z, r.w = known["q"]
        return msg

class TransformListener:
    def __init__(self, buffer, node, *args, **kwargs):
        self.buffer = buffer
'''


def quaternion_xyzw(R: np.ndarray) -> list[float]:
    """Rotation matrix → unit quaternion (x, y, z, w), Shepperd's method."""
    m = np.asarray(R, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        return [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    i = int(np.argmax(np.diag(m)))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = 2.0 * math.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
    q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
    q[i], q[j], q[k] = 0.25 * s, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
    return q


def stand_in_tf_env(tf_dir: Path, transform: dict) -> dict[str, str]:
    """Environment of a segnet_node with the tf2_ros stand-in importable; lookups logged to tf_dir/lookups.jsonl."""
    return {"PYTHONPATH": os.pathsep.join([str(tf_dir), os.environ.get("PYTHONPATH", "")]),
            "SEG_ROS_TEST_TF": json.dumps(transform), "SEG_ROS_TEST_TF_LOG": str(tf_dir / "lookups.jsonl")}


def test_camera_pose_from_tf2_when_importable_and_no_grid_without_the_transform(tmp_path, reference):
    (tmp_path / "tf2_ros").mkdir()
    (tmp_path / "tf2_ros" / "__init__.py").write_text(TF2_STANDIN)
    # tf says something else than the (deliberately wrong) camera_* parameters: the grid must follow tf.
    pose = Extrinsics.from_mounting(0.9, pitch=0.35, yaw=-0.08, x=0.1)
    transform = {"target": BASE, "source": CAMERA_FRAME, "q": quaternion_xyzw(pose.R), "t": pose.t.tolist()}
    params = node_params(str(require(CAMVID_MODEL)), class_costs=CAMVID_COSTS, default_cost=CAMVID_DEFAULT,
                         trail_class="road", camera_height=3.0, camera_pitch=1.2, tf_timeout=0.25)
    rgb = camvid_image(2)
    info = camera_info(rgb.shape[1], rgb.shape[0])
    with node_session(params, tmp_path / "segnet.log", extra_env=stand_in_tf_env(tmp_path, transform)) as ns:
        s = GridSession(ns.local, ns.node)
        s.wait_ready()
        stamp = s.send(rgb, info, [s.class_mask, s.heading])
        grid = s.wait_message(s.grids, stamp)
        assert grid is not None

        lost = [s.send(rgb, info, [s.class_mask], frame_id="camera_without_tf") for _ in range(2)]
        for _ in range(2):  # the transform is back: the first lookup does not wait, the next one may again
            back = s.send(rgb, info, [s.class_mask, s.heading])
        # The later frames' grids are out (reliable, in order): the lost frames' grids would have come first.
        assert s.wait_message(s.grids, back)
        assert not any(s.has(s.grids, stamp) for stamp in lost)
        log = ns.node.log()
    assert "camera pose from tf2" in log
    assert f"no transform {BASE} <- camera_without_tf" in log
    lookups = [json.loads(line) for line in (tmp_path / "lookups.jsonl").read_text().splitlines()]
    missing = [timeout for frame, timeout in lookups if frame == "camera_without_tf"]
    assert len(missing) >= 2 and missing[0] == 0.25 and set(missing[1:]) == {0.0}, lookups
    first_back = max(i for i, (frame, _) in enumerate(lookups) if frame == "camera_without_tf") + 1
    assert lookups[first_back] == [CAMERA_FRAME, 0.0] and lookups[-1] == [CAMERA_FRAME, 0.25], lookups

    mapper = expected_mapper(reference.spec.class_names, reference.ignore_id, CAMVID_COSTS, CAMVID_DEFAULT, "road")
    mapper.update_extrinsics(Extrinsics.from_quaternion(transform["q"], transform["t"]))
    mapper.update_camera_info(info)
    segmentation = reference.segment(rgb)
    expected = mapper.build(segmentation.class_map, scores=segmentation.logits)
    data = np.asarray(grid.data, dtype=np.int8).reshape(grid.info.height, grid.info.width)
    assert np.array_equal(data, expected.values)


def test_a_failing_mapper_sets_the_grid_status_and_the_next_frame_recovers():
    """Anything the mapper raises (not only CameraModelError) becomes the status /diagnostics reports."""
    from rclpy.context import Context
    from std_msgs.msg import Header

    from seg_ros.ros.ground_outputs import OK, GroundProjector
    from seg_ros.ros.params import PARAMETERS, grid_settings
    from seg_ros.segmenter import Segmentation

    values = {name: default for name, (default, _) in PARAMETERS.items()}
    values.update(use_tf=False, camera_height=1.0, camera_pitch=0.3)
    settings = grid_settings(values)
    context = Context()
    rclpy.init(context=context, domain_id=random_domain())
    try:
        node = rclpy.create_node("grid_unit", context=context)
        warnings: list[str] = []
        names = ["trail", "grass", "vegetation", "obstacle", "sky"]
        ground = GroundProjector(node, settings, names, None, lambda text, error=False: warnings.append(text))
        ground._on_camera_info(camera_info(480, 360))
        header = Header(frame_id=CAMERA_FRAME)
        broken = Segmentation(class_map=np.zeros(10, np.uint8), logits=np.zeros((5, 1, 10), np.float32))
        assert ground.grid(header, (480, 360), broken) is None
        assert ground.status.startswith("grid failed: ValueError") and ground.status != OK
        assert warnings and "ValueError" in warnings[-1]
        good = Segmentation(class_map=np.zeros((36, 48), np.uint8), logits=np.zeros((5, 36, 48), np.float32))
        assert ground.grid(header, (480, 360), good) is not None
        assert ground.status == OK and ground.grids == 1
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
