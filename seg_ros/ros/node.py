"""segnet_node: the ROS 2 segmentation node (thin adapter over the pure Segmenter / render modules).

Threads: the executor never touches images. The *segment* worker takes the newest frame from the depth-1 input
reader when it is ready for one (``seg_ros.ros.latest_reader``: latest frame wins inside DDS, so a frame that is
never processed is never copied), converts it (a view of the message data), runs the network, publishes the
cheap, latency-critical ``immediate`` outputs (class mask, info) and hands the frame to the niced *output*
worker through a second one-slot holder, so rendering frame N overlaps inference of frame N+1 without slowing
it. Per-frame outputs are one list of ``FrameOutput`` (publisher + message builder): an output is built only
when it is enabled and has a subscriber, so nothing is rendered for nobody; the latched traversability grid is
the exception (a late subscriber gets the last one). The grid and trail heading are built on the segment
worker (``seg_ros.ros.ground_outputs``: the mapper is not thread-safe and its tables are cached across frames).

The node body is :class:`SegNetPipeline`, in stages a lifecycle maps onto: parameters (construction), model and
outputs (*configure*), input subscription and workers (*activate*; undone by *deactivate*), release (*cleanup*).
``SegNetNode`` runs them all at start-up and pauses / resumes its input through ``~/enable`` (std_srvs/SetBool);
``seg_ros.ros.managed_node.SegNetManagedNode`` runs them from lifecycle transitions.

Outputs beside the raw ones: ``~/confidence`` (mono8, the winning class's probability x 255, same size and header
as ``~/class_mask``; advertised only for models that output class scores), ``~/label_info`` (vision_msgs/LabelInfo,
reliable + transient_local, when vision_msgs is importable), and image_transport-style ``~/overlay/compressed``
(JPEG) and ``~/class_mask/compressed`` (lossless PNG).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import InvalidQosOverridesError, QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from seg_ros import render
from seg_ros.classify import confidence_from_logits, resize_class_map
from seg_ros.errors import (
    EXIT_USER_ERROR,
    ConfigError,
    ImageConversionError,
    ModelError,
    RuntimeFailure,
    SegRosError,
)
from seg_ros.image_conversion import compressed_to_rgb, image_msg_to_rgb
from seg_ros.latest_frame import LatestFrame, fresh_frame_wait
from seg_ros.msg import SegmentationInfo, TrailHeading
from seg_ros.registry import resolve_model
from seg_ros.ros import messages
from seg_ros.ros.ground_outputs import GRID_QOS, OK, GroundProjector
from seg_ros.ros.latest_reader import LatestReader
from seg_ros.ros.messages import FrameCounters
from seg_ros.ros.params import (
    NodeSettings,
    RenderSettings,
    current_render_settings,
    declare_parameters,
    read_settings,
    updated_render_settings,
)
from seg_ros.segmenter import Segmentation, Segmenter

WARN_THROTTLE_S = 5.0
OUTPUT_QOS = QoSProfile(depth=1)
# Latched like Nav2 expects its label list: a late subscriber (semantic_segmentation_layer) gets it at once.
LABEL_INFO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)


def input_qos() -> QoSProfile:
    """Sensor data (best effort, volatile) with depth 1: a queue would only hold stale frames.

    A fresh profile per subscription: rclpy writes the YAML overrides (``qos_overrides.<resolved topic>.
    subscription.*``, the topic name after remapping) into the profile it is given.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def _lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value (Linux: per thread); a no-op where unsupported."""
    if nice <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass  # reliable, volatile: a late consumer gets the next frame, not a backlog


@dataclass
class FrameResult:
    """One segmented frame on its way through the outputs."""

    header: Header
    image_rgb: np.ndarray
    segmentation: Segmentation
    latency_ms: float  # input stamp -> class map ready
    settings: RenderSettings
    render_ms: float = 0.0  # wall ms spent rendering this frame so far (~/info of the next frame reports it)
    cache: dict[str, Any] = field(default_factory=dict)  # shared intermediate results (resized maps, colours)


@dataclass
class FrameOutput:
    """A per-frame output: built and published only when ``enabled()`` and someone subscribes."""

    name: str
    publisher: Publisher
    build: Callable[[FrameResult], Any]  # returns the message, or None to skip this frame
    enabled: Callable[[], bool] = lambda: True
    immediate: bool = False  # published by the segment worker at once (cheap, latency-critical outputs)
    latched: bool = False  # transient_local: published without subscribers too, for late joiners

    def active(self) -> bool:
        return self.enabled() and (self.latched or self.publisher.get_subscription_count() > 0)


class SegNetPipeline:
    """The segnet node's body, shared by ``SegNetNode`` and the lifecycle ``SegNetManagedNode``.

    A mixin for an rclpy ``Node`` subclass (it calls the node's create_* / destroy_* methods). Stages, each
    undone by the next-but-one:

    - ``_init_pipeline``: parameters declared (with the runtime-parameter callback), counters zeroed.
    - ``_load_model``: settings read, model resolved (downloaded if missing) and its backend loaded: the slow part.
    - ``_open_outputs``: publishers, ``~/label_info``, the ground projector (camera_info), the diagnostics timer.
    - ``_start_input`` / ``_stop_input``: the image subscription and the two workers; stopped, nothing is taken
      from the camera and no thread runs, but counters, grid tables and the latched outputs stay.
    - ``_close_outputs`` and ``_release_model``: publishers destroyed, backend released.
    """

    def _init_pipeline(self) -> None:
        """Declare the parameters and zero the counters (construction: nothing loaded yet)."""
        declare_parameters(self)
        self.render_settings: RenderSettings = current_render_settings(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.settings: NodeSettings | None = None
        self.segmenter: Segmenter | None = None
        self.spec: Any = None
        self.ground: GroundProjector | None = None
        self.outputs: list[FrameOutput] = []
        self.label_info_pub: Publisher | None = None
        self._vision_msgs: Any = None
        self._diag_timer: Any = None
        self._reader: LatestReader | None = None  # the image input while it is active
        self._results: LatestFrame[FrameResult] = LatestFrame()
        self._workers: list[threading.Thread] = []
        self._backend_closed = True
        self._slot_counts = (0, 0)  # (received, dropped) of image readers already closed (paused / deactivated)
        self._inactive_message = "input paused"  # diagnostics message while the input is stopped
        self.switches: dict[str, int] = {}  # enable / disable (activate / deactivate) counts, in /diagnostics
        self.frames_processed = 0
        self.frames_rejected = 0
        self.frames_failed = 0
        self._last_rejection = ""  # why the newest rejected frame was rejected (in /diagnostics)
        self._latencies: deque[float] = deque(maxlen=1000)
        self._warned: dict[str, float] = {}
        self._stats_lock = threading.Lock()
        self._colors_cache: tuple[float, np.ndarray] | None = None
        self._last_render_ms = 0.0

    def _load_model(self) -> None:
        """Read the start-up settings, resolve the model and load its backend. Raises SegRosError subclasses."""
        self.settings = read_settings(self)
        if self.settings.model_is_path and not Path(self.settings.model).expanduser().exists():
            raise ModelError(f"model_path {self.settings.model} does not exist")
        # A registry network missing from the cache is fetched and verified here (download_missing); a path never.
        spec = resolve_model(self.settings.model,
                             download=self.settings.download_missing and not self.settings.model_is_path,
                             input_size=self.settings.input_size)
        self.segmenter = Segmenter(spec, self.settings.backend, self.settings.threads,
                                   ignore_class=self.settings.ignore_class, precision=self.settings.precision,
                                   calibration_dir=self.settings.calibration_dir)
        self.spec = spec
        self._backend_closed = False
        self._colors_cache = None

    @property
    def has_scores(self) -> bool:
        """True when the loaded model outputs class scores, so ``~/confidence`` is advertised.

        Class-id models (ArgMax in the graph) have none: no ``~/confidence`` topic at all. A single-channel
        probability model's scores are (0, logit p): its confidence is max(p, 1 - p), as a two-class softmax.
        """
        return self.segmenter is not None and self.segmenter.has_scores

    def _open_outputs(self) -> None:
        """Publishers (outputs, ``~/label_info``, /diagnostics), the ground projector and the diagnostics timer."""
        assert self.settings is not None and self.segmenter is not None
        spec = self.spec
        self._last_render_ms = 0.0
        self.ground = None
        if self.settings.grid.enabled:
            self.ground = GroundProjector.for_model(self, self.settings.grid, spec, self.segmenter.ignore_id,
                                                    self._warn, has_scores=self.segmenter.has_scores)
        self.outputs = []
        self._create_outputs()
        self._vision_msgs = messages.vision_msgs_module()
        if self._vision_msgs is None:
            self.get_logger().info("vision_msgs is not installed: no ~/label_info (class names are in ~/info)")
        else:
            self.label_info_pub = self.create_publisher(self._vision_msgs.LabelInfo, "~/label_info", LABEL_INFO_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        counters = self.counters()
        self._diag_last = (time.monotonic(), counters.processed, counters.rejected, self.frames_failed)
        self._diag_timer = self.create_timer(self.settings.diagnostics_period, self._publish_diagnostics)
        grid_w, grid_h = self.segmenter.grid_size
        in_w, in_h = self.segmenter.input_size
        self.get_logger().info(
            f"network {spec.name} ({self.segmenter.backend.name}, input {in_w}x{in_h}, grid {grid_w}x{grid_h}, "
            f"{spec.num_classes} classes) from {spec.source}")

    def _publish_label_info(self) -> None:
        """Publish (latched) the model's class ids and names on ``~/label_info``, when vision_msgs is importable."""
        if self.label_info_pub is None:
            return
        header = messages.header_msg(self.get_clock().now().to_msg(), "")
        self.label_info_pub.publish(messages.label_info_msg(header, self.spec.class_names, self._vision_msgs))

    @property
    def input_active(self) -> bool:
        """True while the image subscription exists (frames are taken and segmented)."""
        return self._reader is not None

    def _start_input(self) -> None:
        """Subscribe to the images and start the workers; frames arriving before they run wait in the slot.

        Raises ConfigError for a bad ``qos_overrides.*`` value and RuntimeFailure when a worker of the previous
        run is still busy.
        """
        if self._reader is not None:
            return
        if not self._join_workers(5.0):
            raise RuntimeFailure("a worker of the previous run is still busy; try again")
        assert self.settings is not None
        if self.settings.use_compressed:
            topic, self._input_type = "image/compressed", CompressedImage
        else:
            topic, self._input_type = "image", Image
        # The segment worker takes the newest frame from the depth-1 reader when it is ready for one (LatestReader):
        # frames it never wants stay in DDS, replaced there by newer ones: no copy, no Python object, no callback.
        try:
            frames = LatestReader(self, self._input_type, topic, input_qos(),
                                  qos_overriding_options=QoSOverridingOptions.with_default_policies())
        except (RuntimeError, InvalidQosOverridesError) as exc:  # a bad qos_overrides.* value
            resolved = self.resolve_topic_name(topic)
            raise ConfigError(f"invalid QoS override for {resolved} (parameters qos_overrides.{resolved}."
                              f"subscription.*): {exc}") from exc
        self._reader = frames
        results = self._results
        self._workers = [
            threading.Thread(target=self._segment_loop, args=(frames, results), name="segnet-segment", daemon=True),
            threading.Thread(target=self._output_loop, args=(results,), name="segnet-output", daemon=True)]
        for worker in self._workers:
            worker.start()
        self.get_logger().info(f"subscribed to {frames.subscription.topic_name}")

    def _stop_input(self, timeout: float = 5.0) -> bool:
        """Unsubscribe and stop the workers (they finish the frame in hand); True when none is left running.

        The counters carry on: a fresh result slot is made for the next ``_start_input``.
        """
        reader = self._reader
        if reader is None:
            return self._join_workers(timeout)
        reader.close()
        self._results.close()
        stopped = self._join_workers(timeout)
        reader.destroy()  # after the join: the worker may be taking from it
        self._reader = None
        received, dropped = self._slot_counts
        self._slot_counts = (received + reader.received, dropped + reader.dropped)
        self._results = LatestFrame()
        return stopped

    def _join_workers(self, timeout: float) -> bool:
        for worker in self._workers:
            worker.join(timeout)
        alive = any(worker.is_alive() for worker in self._workers)
        if not alive:
            self._workers = []
        return not alive

    def _close_outputs(self) -> None:
        """Destroy what ``_open_outputs`` made (publishers, timer, camera_info subscription, tf listener)."""
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        publishers = [o.publisher for o in self.outputs]
        publishers += [p for p in (self.label_info_pub, getattr(self, "diagnostics_pub", None)) if p is not None]
        for publisher in publishers:
            self.destroy_publisher(publisher)
        self.outputs, self.label_info_pub, self.diagnostics_pub = [], None, None
        if self.ground is not None:
            self.destroy_subscription(self.ground.subscription)
            listener = getattr(self.ground, "_tf_listener", None)  # tf2_ros only; its /tf subscriptions
            if listener is not None and hasattr(listener, "unregister"):
                listener.unregister()
            self.ground = None

    def _release_model(self) -> None:
        """Release the backend once no worker runs (freeing it under a running inference would crash)."""
        if self._backend_closed or self.segmenter is None:
            return
        if any(worker.is_alive() for worker in self._workers):
            self.get_logger().warning("a worker is still running; the backend is left to exit")
            return
        self._backend_closed = True
        self.segmenter.backend.close()

    # ----------------------------------------------------------------- outputs
    def _create_outputs(self) -> None:
        s = self.settings
        assert s is not None
        if s.publish_class_mask:
            self.outputs.append(FrameOutput("class_mask", self.create_publisher(Image, "~/class_mask", OUTPUT_QOS),
                                            self._build_class_mask, immediate=True))
            if self.has_scores:  # the mask's companion for Nav2's semantic_segmentation_layer
                self.outputs.append(FrameOutput(
                    "confidence", self.create_publisher(Image, "~/confidence", OUTPUT_QOS), self._build_confidence,
                    immediate=True))
        if s.publish_info:
            self.outputs.append(FrameOutput("info", self.create_publisher(SegmentationInfo, "~/info", OUTPUT_QOS),
                                            self._build_info, immediate=True))
        if self.ground is not None:
            self._add_ground_outputs()
        if s.publish_overlay:
            self.outputs.append(FrameOutput("overlay", self.create_publisher(Image, "~/overlay", OUTPUT_QOS),
                                            self._build_overlay, lambda: self.render_settings.overlay))
            self.outputs.append(FrameOutput(
                "overlay/compressed", self.create_publisher(CompressedImage, "~/overlay/compressed", OUTPUT_QOS),
                self._build_overlay_jpeg, lambda: self.render_settings.overlay))
        if s.publish_color_mask:
            self.outputs.append(FrameOutput("color_mask", self.create_publisher(Image, "~/color_mask", OUTPUT_QOS),
                                            self._build_color_mask, lambda: self.render_settings.mask))
        if s.publish_class_mask:  # PNG on the output worker: the raw mask leaves first, unencoded
            self.outputs.append(FrameOutput(
                "class_mask/compressed", self.create_publisher(CompressedImage, "~/class_mask/compressed", OUTPUT_QOS),
                self._build_class_mask_png))

    def _add_ground_outputs(self) -> None:
        self.outputs.append(FrameOutput("grid", self.create_publisher(OccupancyGrid, "~/traversable_grid", GRID_QOS),
                                        self._build_grid, immediate=True, latched=True))
        self.outputs.append(FrameOutput("trail_heading",
                                        self.create_publisher(TrailHeading, "~/trail_heading", OUTPUT_QOS),
                                        self._build_heading, immediate=True))
        self.outputs.append(FrameOutput("trail_heading_pose",
                                        self.create_publisher(PoseStamped, "~/trail_heading_pose", OUTPUT_QOS),
                                        self._build_heading_pose, immediate=True))

    def _size_for(self, resolution: str, frame: FrameResult) -> tuple[int, int]:
        if resolution == "camera":
            return frame.image_rgb.shape[1], frame.image_rgb.shape[0]
        if resolution == "network_input":
            return self.segmenter.input_size
        return self.segmenter.grid_size

    def _colors(self, alpha: float) -> np.ndarray:
        cached = self._colors_cache
        if cached is None or cached[0] != alpha:
            cached = (alpha, self.spec.with_alpha(alpha).colors)
            self._colors_cache = cached
        return cached[1]

    @staticmethod
    def _clocks() -> tuple[float, float]:
        """(wall, this thread's CPU) seconds, to time a render both ways."""
        return time.perf_counter(), time.thread_time()

    def _add_render_time(self, frame: FrameResult, start: tuple[float, float]) -> None:
        """Wall time (what ~/info reports: includes waiting for the CPU, the thread being niced) and CPU time.

        The CPU time ("render cpu" in /diagnostics) is the rendering's own cost; wall minus CPU is how long
        inference and other threads held the CPU meanwhile.
        """
        wall, cpu = self._clocks()
        ms, cpu_ms = (wall - start[0]) * 1000.0, (cpu - start[1]) * 1000.0
        frame.render_ms += ms
        self.segmenter.timer.add("render", ms)
        self.segmenter.timer.add("render cpu", cpu_ms)
        self._last_render_ms = frame.render_ms

    def _class_mask(self, frame: FrameResult) -> np.ndarray:
        """The class map at ``mask_resolution``, resized once per frame for the raw and the PNG mask."""
        mask = frame.cache.get("class_mask")
        if mask is None:
            mask = resize_class_map(frame.segmentation.class_map, self._size_for(self.settings.mask_resolution, frame))
            frame.cache["class_mask"] = mask
        return mask

    def _build_class_mask(self, frame: FrameResult) -> Image:
        return messages.class_mask_msg(frame.header, self._class_mask(frame))

    def _build_class_mask_png(self, frame: FrameResult) -> CompressedImage:
        return messages.png_mono8_msg(frame.header, self._class_mask(frame))

    def _build_confidence(self, frame: FrameResult) -> Image | None:
        """Winning-class probability x 255 at the class mask's size; None for a frame without scores.

        Immediate (segment worker): the logits are the backend's buffer, valid until the next inference.
        """
        logits = frame.segmentation.logits
        if logits is None:
            return None
        size = self._size_for(self.settings.mask_resolution, frame)
        return messages.confidence_msg(frame.header, confidence_from_logits(logits, self.segmenter.ignore_id, size))

    def _build_color_mask(self, frame: FrameResult) -> Image:
        start = self._clocks()
        mask = render.render_mask(frame.segmentation.class_map, self._colors(frame.settings.alpha),
                                  size=self._size_for(self.settings.color_mask_resolution, frame),
                                  filter_mode=frame.settings.filter_mode)
        self._add_render_time(frame, start)
        return messages.image_msg(frame.header, mask, "rgb8")

    def _overlay(self, frame: FrameResult) -> np.ndarray:
        """The overlay, rendered (and timed) once per frame for the raw and the JPEG output."""
        overlay = frame.cache.get("overlay")
        if overlay is None:
            start = self._clocks()
            overlay = render.render_overlay(frame.image_rgb, frame.segmentation.class_map,
                                            self._colors(frame.settings.alpha), frame.settings.filter_mode)
            self._add_render_time(frame, start)
            frame.cache["overlay"] = overlay
        return overlay

    def _build_overlay(self, frame: FrameResult) -> Image:
        return messages.image_msg(frame.header, self._overlay(frame), "rgb8")

    def _build_overlay_jpeg(self, frame: FrameResult) -> CompressedImage:
        return messages.jpeg_image_msg(frame.header, self._overlay(frame), self.settings.jpeg_quality)

    def _build_grid(self, frame: FrameResult) -> OccupancyGrid | None:
        """The grid (and, when someone listens, the trail heading for the outputs after it), timed as "grid"."""
        assert self.ground is not None
        start = time.perf_counter()
        result = self.ground.grid(frame.header, (frame.image_rgb.shape[1], frame.image_rgb.shape[0]),
                                  frame.segmentation)
        if result is None:
            return None
        if any(o.active() for o in self.outputs if o.name.startswith("trail_heading")):
            frame.cache["heading"] = self.ground.heading(result)
        msg = messages.occupancy_grid_msg(result, frame.header.stamp, self.settings.grid.base_frame)
        ms = (time.perf_counter() - start) * 1000.0
        self.segmenter.timer.add("grid", ms)
        return msg

    def _build_heading(self, frame: FrameResult) -> TrailHeading | None:
        heading = frame.cache.get("heading")
        return None if heading is None else messages.trail_heading_msg(heading, frame.header.stamp,
                                                                       self.settings.grid.base_frame)

    def _build_heading_pose(self, frame: FrameResult) -> PoseStamped | None:
        heading = frame.cache.get("heading")
        if heading is None or not heading.valid:  # no trail in view: no arrow
            return None
        return messages.heading_pose_msg(heading, frame.header.stamp, self.settings.grid.base_frame)

    def _build_info(self, frame: FrameResult) -> SegmentationInfo:
        # ~/info leaves with the class mask, before this frame is rendered: it reports the newest render's wall
        # time (the niced thread's waits for the CPU included; its CPU time is "render cpu" in /diagnostics).
        return messages.segmentation_info_msg(frame.header, self.spec, self.segmenter.backend.name,
                                              frame.segmentation, self._last_render_ms, frame.latency_ms,
                                              self.counters())

    # ----------------------------------------------------------------- workers
    def counters(self) -> FrameCounters:
        """(received, processed, dropped, rejected) since start."""
        with self._stats_lock:
            processed, rejected = self.frames_processed, self.frames_rejected
        received, dropped = self._slot_counts
        reader = self._reader
        if reader is not None:
            received, dropped = received + reader.received, dropped + reader.dropped
        return FrameCounters(received, processed, dropped, rejected)

    def _warn(self, text: str, error: bool = False) -> None:
        """Log at most once per WARN_THROTTLE_S for each kind of problem (numbers do not make a new kind)."""
        key = re.sub(r"\d+", "#", text)
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= WARN_THROTTLE_S:
            self._warned[key] = now
            (self.get_logger().error if error else self.get_logger().warning)(text)

    def _to_rgb(self, msg: Any) -> np.ndarray:
        """RGB pixels of an Image / CompressedImage (a view of its data where no conversion is needed)."""
        if self._input_type is CompressedImage:
            return compressed_to_rgb(msg.format, msg.data, self.settings.mono16_range)
        return image_msg_to_rgb(msg, self.settings.mono16_range)

    def _segment_loop(self, frames: LatestReader, results: LatestFrame[FrameResult]) -> None:
        """Take the newest frame from ``frames``, segment it, hand it to ``results``; until ``frames`` closes."""
        cycles: deque[float] = deque(maxlen=15)  # seconds from taking one frame to being ready for the next
        while not frames.closed:
            cycle = sorted(cycles)[len(cycles) // 2] if cycles else None
            wait = fresh_frame_wait(frames.interval(), cycle, self.settings.fresh_frame_budget)
            try:
                msg = frames.take(timeout=0.5, wait_for_next=wait)
            except Exception as exc:  # noqa: BLE001 - malformed CDR from a foreign publisher
                self._reject(f"cannot deserialize {self._input_type.__name__}: {exc}")
                continue
            if msg is None:
                continue
            started = time.monotonic()
            if not self._process(msg, results):
                return
            cycles.append(time.monotonic() - started)

    def _process(self, msg: Any, results: LatestFrame[FrameResult]) -> bool:
        """Convert and segment one taken frame, publish its immediate outputs, pass it to the renderer.

        The message is the one copy out of DDS (taken, deserialized once); the RGB image is a view of its data
        wherever no conversion is needed. False once ROS is shutting down.
        """
        header = msg.header
        try:
            image_rgb = self._to_rgb(msg)
        except ImageConversionError as exc:
            self._reject(str(exc))
            return True
        try:
            segmentation = self.segmenter.segment(image_rgb)
        except Exception as exc:  # noqa: BLE001 - a failing frame must not stop the node
            with self._stats_lock:
                self.frames_failed += 1
            self._warn(f"segmentation failed: {exc}", error=True)
            return True
        latency_ms = (self.get_clock().now() - Time.from_msg(header.stamp)).nanoseconds / 1e6
        with self._stats_lock:
            self.frames_processed += 1
            self._latencies.append(latency_ms)
        frame = FrameResult(header, image_rgb, segmentation, latency_ms, self.render_settings)
        if not self._publish(frame, immediate=True):
            return False
        results.put(frame)
        return True

    def _reject(self, reason: str) -> None:
        with self._stats_lock:
            self.frames_rejected += 1
            rejected = self.frames_rejected
            self._last_rejection = reason
        self._warn(f"frame rejected ({rejected} so far): {reason}")

    def _output_loop(self, results: LatestFrame[FrameResult]) -> None:
        # Rendering is for people: niced, it yields the CPU to inference instead of stealing a render's worth of
        # time from every inference on a small CPU.
        _lower_thread_priority(self.settings.render_thread_nice)
        while not results.closed:
            frame = results.take(timeout=0.5)
            if frame is not None and not self._publish(frame, immediate=False):
                return

    def _publish(self, frame: FrameResult, immediate: bool) -> bool:
        """Build and publish the active outputs of one kind; False once ROS is shutting down."""
        for output in self.outputs:
            if output.immediate != immediate:
                continue
            try:
                if output.active():
                    msg = output.build(frame)
                    if msg is not None:
                        output.publisher.publish(msg)
            except Exception as exc:  # noqa: BLE001 - one output failing must not stop the others
                if not rclpy.ok(context=self.context):
                    return False
                self._warn(f"output {output.name} failed: {exc}", error=True)
        return True

    # ----------------------------------------------------------------- parameters, diagnostics, shutdown
    def _on_set_parameters(self, params: list) -> SetParametersResult:
        try:
            settings = updated_render_settings(self, params)
        except SegRosError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if settings is not None:
            self.render_settings = settings
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        received, processed, dropped, rejected = self.counters()
        with self._stats_lock:
            latencies = np.asarray(self._latencies, dtype=np.float64)
            self._latencies.clear()
            failed, last_rejection = self.frames_failed, self._last_rejection
        # The status describes this period: its counts, and the grid status of the newest frame.
        last_time, last_processed, last_rejected, last_failed = self._diag_last
        self._diag_last = (now, processed, rejected, failed)
        rate = (processed - last_processed) / max(now - last_time, 1e-6)
        processed_now, rejected_now, failed_now = (processed - last_processed, rejected - last_rejected,
                                                   failed - last_failed)
        status = DiagnosticStatus(name=f"{self.get_name()}: semantic segmentation", hardware_id=self.spec.name)
        if not self.input_active:
            status.level, status.message = DiagnosticStatus.OK, self._inactive_message
        elif received == 0:
            status.level, status.message = DiagnosticStatus.OK, "waiting for images"
        elif failed_now and not processed_now:
            status.level, status.message = DiagnosticStatus.ERROR, f"segmentation is failing ({failed_now} frames)"
        elif rejected_now and not processed_now:
            status.level, status.message = DiagnosticStatus.WARN, f"input frames are being rejected: {last_rejection}"
        elif self.ground is not None and processed and self.ground.status != OK:
            status.level, status.message = DiagnosticStatus.WARN, f"{rate:.1f} Hz, no grid: {self.ground.status}"
        elif rejected_now or failed_now:
            problem = f"{rejected_now} frames rejected: {last_rejection}" if rejected_now else f"{failed_now} failed"
            status.level, status.message = DiagnosticStatus.WARN, f"{rate:.1f} Hz, {problem}"
        else:
            status.level, status.message = DiagnosticStatus.OK, f"{rate:.1f} Hz"
        values = {"processing rate (Hz)": f"{rate:.2f}",
                  "latency median (ms)": f"{np.median(latencies):.1f}" if latencies.size else "n/a",
                  "latency max (ms)": f"{latencies.max():.1f}" if latencies.size else "n/a",
                  "frames received": str(received), "frames processed": str(processed),
                  "frames dropped": str(dropped), "frames rejected": str(rejected),
                  "frames failed": str(failed), "backend": self.segmenter.backend.name,
                  "input": "active" if self.input_active else "stopped"}
        values.update({key: str(count) for key, count in self.switches.items()})
        if self.ground is not None:
            values.update({"grid": self.ground.status, "grids published": str(self.ground.grids),
                           "camera pose source": self.ground.pose_source,
                           "projection table builds": str(self.ground.mapper.table_builds)})
        for stage, s in self.segmenter.timer.summary().items():
            values[f"{stage} median (ms)"] = f"{s['median']:.2f}"
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the input and the workers (they finish the frame in hand), then release the backend. Idempotent."""
        self._stop_input(timeout)
        self._release_model()  # warns and keeps the backend while a worker still infers


class SegNetNode(SegNetPipeline, Node):
    """Subscribes to camera images, segments the newest one, publishes masks, overlay, info and diagnostics.

    Everything is loaded and started in the constructor; ``~/enable`` (std_srvs/SetBool) stops and restarts the
    input without unloading anything (false: no subscription, no worker; true: back where it was).
    """

    def __init__(self, node_name: str = "segnet", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._init_pipeline()
        self._inactive_message = "paused (~/enable false)"
        self.switches = {"enable requests": 0, "disable requests": 0}
        try:
            self._load_model()
            self._open_outputs()
            self._publish_label_info()
            self.enable_service = self.create_service(SetBool, "~/enable", self._on_enable)
            self._start_input()  # last: no worker runs if anything before failed
        except BaseException:
            self.close()  # nothing may outlive a failed start: workers, backend, ROS entities
            self.destroy_node()
            raise

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """``~/enable``: true resumes taking frames, false stops (both idempotent; each request counted)."""
        key = "enable requests" if request.data else "disable requests"
        self.switches[key] += 1
        try:
            if request.data:
                was = self.input_active
                self._start_input()
                response.message = "already enabled" if was else "enabled"
            else:
                was = self.input_active
                stopped = self._stop_input()
                response.message = ("disabled" if was else "already disabled") + (
                    "" if stopped else "; the frame in hand is still being processed")
            response.success = True
        except SegRosError as exc:
            response.success, response.message = False, str(exc)
        self.get_logger().info(f"~/enable {str(request.data).lower()}: {response.message}")
        return response


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, log_name: str = "segnet") -> int:
    """Create the node with ``make_node``, spin it until Ctrl-C or shutdown, close it; the exit status.

    The one policy (seg_ros.cli.entry): 2 for a bad model or parameter, 1 for a runtime failure, else 0.
    """
    rclpy.init(args=args)
    node: Any = None
    code = 0
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SegRosError as exc:
        rclpy.logging.get_logger(log_name).fatal(f"cannot start: {exc}")
        code = exc.exit_code
    except rclpy.exceptions.ParameterException as exc:
        rclpy.logging.get_logger(log_name).fatal(f"bad parameter: {exc}")
        code = EXIT_USER_ERROR
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def main(args: list[str] | None = None) -> int:
    """``segnet_node``: the plain (unmanaged) node."""
    return run_node(SegNetNode, args)


if __name__ == "__main__":
    sys.exit(main())
