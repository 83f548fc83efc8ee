"""The segnet node's ground outputs: CameraInfo + camera pose → traversability grid and trail heading.

ROS side only (imports rclpy); the geometry is the pure core (camera_model, ground_projection, occupancy_grid,
trail_heading); ``seg_ros.ros.messages`` builds the messages from its results. Threads: the CameraInfo
callback (executor thread) only validates each message into an immutable ``CameraModel`` and swaps it in;
everything that touches the ``TraversabilityMapper`` (not thread-safe) runs on the segment worker through
:meth:`GroundProjector.grid`. The mapper lives as long as the node, so its projection table is built once and
rebuilt only when the intrinsics, the camera pose (beyond tf jitter) or the class-map size change.

Camera pose: tf2 (``base_frame`` ← image ``frame_id`` at the image stamp) when ``use_tf`` is set and tf2_ros is
importable (it is not on PyPI: imported lazily), otherwise the ``camera_*`` mounting parameters.

Costs: the network's traversability profile (``ModelSpec.traversability``: registry network, model.yaml or
family rule, see ``seg_ros.registry``) with the class_costs / default_cost / trail_class parameters that are set
replacing its values; the start-up log names the profile in force. A profile giving no class a cost (VOC, MHP,
SUN: not traversability models) and no class_costs parameter: :meth:`GroundProjector.for_model` returns None and
the node publishes no grid.

Input of the mapper: the class scores (logits, interpolated bilinearly per cell) together with the class map
already computed from them, so the mapper interpolates only where neighbouring pixels disagree and never redoes
the argmax. Coarse networks need the scores (far cells of a 18x10 class map would otherwise inherit one coarse
cell as a block); at full resolution they only refine boundaries, at a small cost per frame (README: measured
figures).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo

from seg_ros.camera_model import CameraModel
from seg_ros.errors import CameraModelError
from seg_ros.ground_projection import Extrinsics
from seg_ros.model import ModelSpec
from seg_ros.occupancy_grid import GridResult, TraversabilityMapper, TraversabilityProfile
from seg_ros.registry import traversability_profile
from seg_ros.ros.params import GridSettings
from seg_ros.segmenter import Segmentation
from seg_ros.trail_heading import Heading

# Best effort subscriber: matches reliable and best-effort camera drivers alike; only the newest info matters.
CAMERA_INFO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.VOLATILE)
# Latched like a map: a late subscriber (Nav2's StaticLayer with map_subscribe_transient_local) gets the last grid.
GRID_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
OK = "ok"


@dataclass(frozen=True)
class _CameraState:
    """The newest CameraInfo as a usable model, or why there is none (swapped as a whole between threads)."""

    camera: CameraModel | None = None
    problem: str | None = None


def _import_tf2() -> Any | None:
    """tf2_ros when importable (a ROS install), else None."""
    try:
        return importlib.import_module("tf2_ros")
    except ImportError:
        return None


def profile_in_force(profile: TraversabilityProfile, settings: GridSettings) -> TraversabilityProfile:
    """The model's profile with the class_costs / default_cost / trail_class parameters that are set."""
    return profile.with_overrides(settings.class_costs, settings.default_cost, settings.trail_class)


class GroundProjector:
    """Owns the camera_info subscription, the camera-pose source and the TraversabilityMapper of one node.

    ``profile``: the model's traversability profile before parameter overrides (default: the registry's
    family rule on ``class_names``); ``has_scores``: False for class-id models, whose grid samples the class
    map (said once in the log). ``profile_in_force`` is what the mapper uses.
    """

    @classmethod
    def for_model(cls, node: Node, settings: GridSettings, spec: ModelSpec, ignore_class: int | None,
                  warn: Callable[[str], None], has_scores: bool = True) -> GroundProjector | None:
        """The projector for ``spec``'s profile and the parameters, or None (logged) when no class has a cost."""
        profile = profile_in_force(spec.traversability, settings)
        if not profile.enabled:
            node.get_logger().info(f"no traversability grid for {spec.name}: {profile.describe()}; set class_costs "
                                   "to publish one")
            return None
        return cls(node, settings, spec.class_names, ignore_class, warn, profile=spec.traversability,
                   has_scores=has_scores)

    def __init__(self, node: Node, settings: GridSettings, class_names: Sequence[str], ignore_class: int | None,
                 warn: Callable[[str], None], *, profile: TraversabilityProfile | None = None,
                 has_scores: bool = True) -> None:
        self.settings = settings
        self._warn = warn
        base = profile if profile is not None else traversability_profile(None, class_names)
        self.profile = profile_in_force(base, settings)
        self.mapper = TraversabilityMapper(class_names, settings.spec, self.profile.costs, self.profile.default_cost,
                                           self.profile.trail_class, ignore_class, settings.heading)
        self.status = "no frame yet"  # OK or why the last frame gave no grid (read by diagnostics)
        self.grids = 0
        self._state = _CameraState()
        self.subscription = node.create_subscription(CameraInfo, "camera_info", self._on_camera_info,
                                                     CAMERA_INFO_QOS)
        self._tf_buffer: Any = None
        self._tf_listener: Any = None
        self._tf_errors: tuple[type[Exception], ...] = ()
        self._tf_failing = False  # the last lookup failed: look up without waiting until one succeeds
        tf2 = _import_tf2() if settings.use_tf else None
        if tf2 is not None:
            self._tf_buffer = tf2.Buffer()
            self._tf_listener = tf2.TransformListener(self._tf_buffer, node)
            self._tf_errors = (tf2.TransformException,)
            self.pose_source = f"tf2 ({settings.base_frame} <- image frame_id at the image stamp)"
        else:
            m = settings.mounting
            why = "tf2_ros not installed" if settings.use_tf else "use_tf is false"
            self.pose_source = (f"parameters ({why}): height {m['height']:g} m, pitch {m['pitch']:g}, roll "
                                f"{m['roll']:g}, yaw {m['yaw']:g} rad, x {m['x']:g}, y {m['y']:g} m")
            self.mapper.update_extrinsics(Extrinsics.from_mounting(**m))  # CameraModelError: fails the start-up
        log = node.get_logger()
        if settings.use_tf and tf2 is None:  # asked for tf, gets a fixed mounting: say so once, loudly
            log.warning("use_tf is true but tf2_ros cannot be imported (install ros-<distro>-tf2-ros): the camera "
                        "pose comes from the camera_* parameters")
        source = ("the class scores (bilinear)" if has_scores else
                  "the class map (nearest: the model outputs class ids, no class scores)")
        log.info(f"traversability grid in {settings.base_frame} from {source}; camera "
                 f"intrinsics from {self.subscription.topic_name}; camera pose from {self.pose_source}")
        log.info(f"traversability profile {self.profile.describe()}")
        names = ", ".join(class_names)
        if settings.class_costs is not None and self.mapper.unused_cost_names:
            log.warning(f"class_costs names classes the network does not have: "
                        f"{', '.join(self.mapper.unused_cost_names)} (network classes: {names})")
        if self.profile.trail_class and self.mapper.trail_id is None:
            log.warning(f"trail_class {self.profile.trail_class!r} is not a network class ({names}): "
                        "~/trail_heading will always have confidence 0")

    # ---- executor thread ----------------------------------------------------------------------------------
    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            camera = CameraModel.from_msg(msg, self.settings.rectified)
        except CameraModelError as exc:
            self._state = _CameraState(problem=f"CameraInfo on {self.subscription.topic_name} is unusable: {exc}")
            return
        if self._state.camera != camera:  # an equal model keeps the old object (and the cached tables)
            self._state = _CameraState(camera)

    # ---- segment thread -----------------------------------------------------------------------------------
    def grid(self, header: Any, image_size: tuple[int, int], segmentation: Segmentation) -> GridResult | None:
        """The grid of one frame, or None (with a throttled warning saying why) when it cannot be made."""
        result = None
        try:
            problem = self._update_geometry(header, image_size)
            if problem is None:
                result = self.mapper.build(segmentation.class_map, scores=segmentation.logits)
        except Exception as exc:  # noqa: BLE001 - no grid this frame, the node keeps running and says why
            problem = f"grid failed: {type(exc).__name__}: {exc}"
        if result is None:
            self.status = problem or "no grid"
            self._warn(f"traversability grid not published: {self.status}")
            return None
        self.status = OK
        self.grids += 1
        return result

    def _update_geometry(self, header: Any, image_size: tuple[int, int]) -> str | None:
        state = self._state
        if state.camera is None:
            return state.problem or f"no CameraInfo received on {self.subscription.topic_name} yet"
        try:
            state.camera.check_image_size(*image_size)
            self.mapper.update_camera(state.camera)  # unchanged model: no-op
            if self._tf_buffer is not None:
                pose = self._camera_pose_from_tf(header)
                if isinstance(pose, str):
                    return pose
                self.mapper.update_extrinsics(pose)  # within tolerance of the last pose: no-op
        except CameraModelError as exc:
            return str(exc)
        return None

    def _camera_pose_from_tf(self, header: Any) -> Extrinsics | str:
        base = self.settings.base_frame
        if not header.frame_id:
            return f"the image has no header.frame_id to look up the camera pose in {base}"
        # After a failed lookup, do not wait again until one succeeds: a missing transform would otherwise cost
        # every frame up to tf_timeout on the segment thread.
        timeout = 0.0 if self._tf_failing else self.settings.tf_timeout
        try:
            transform = self._tf_buffer.lookup_transform(base, header.frame_id, Time.from_msg(header.stamp),
                                                         timeout=Duration(seconds=timeout))
        except self._tf_errors as exc:
            self._tf_failing = True
            return f"no transform {base} <- {header.frame_id} at the image stamp: {exc}"
        self._tf_failing = False
        return Extrinsics.from_transform_msg(transform.transform)

    def heading(self, result: GridResult) -> Heading:
        """The trail heading on a grid this projector built (confidence 0 without a trail class or trail)."""
        return self.mapper.trail_heading(result)
