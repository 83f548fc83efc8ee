"""segnet_node: the ROS 2 segmentation node (thin adapter over the pure Segmenter / render modules).

Threads: the executor thread only stores incoming (serialized) images in a one-slot ``LatestFrame`` (latest
frame wins); the *segment* worker deserializes and converts the newest one, runs the network, publishes the
cheap, latency-critical ``immediate`` outputs (class mask, info) and hands the frame to the niced *output*
worker through a second one-slot holder, so rendering frame N overlaps inference of frame N+1 without slowing
it. Per-frame outputs are one list of ``FrameOutput`` (publisher + message builder): an output is built only
when it is enabled and has a subscriber, so nothing is rendered for nobody; the latched traversability grid is
the exception (a late subscriber gets the last one). The grid and trail heading are built on the segment
worker (``seg_ros.ros.ground_outputs``: the mapper is not thread-safe and its tables are cached across frames).
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
from rclpy.serialization import deserialize_message
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from seg_ros import render
from seg_ros.classify import resize_class_map
from seg_ros.errors import EXIT_USER_ERROR, ConfigError, ImageConversionError, ModelError, SegRosError
from seg_ros.image_conversion import compressed_to_rgb, image_msg_to_rgb
from seg_ros.latest_frame import LatestFrame, fresh_frame_wait
from seg_ros.msg import SegmentationInfo, TrailHeading
from seg_ros.registry import resolve_model
from seg_ros.ros import messages
from seg_ros.ros.ground_outputs import GRID_QOS, OK, GroundProjector
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
    timings: dict[str, float]  # ms of this frame's stages (preprocess, network, postprocess, render)
    latency_ms: float  # input stamp -> class map ready
    settings: RenderSettings
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


class SegNetNode(Node):
    """Subscribes to camera images, segments the newest one, publishes masks, overlay, info and diagnostics."""

    def __init__(self, node_name: str = "segnet", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.settings: NodeSettings = read_settings(self)
        self.render_settings: RenderSettings = current_render_settings(self)

        if self.settings.model_is_path and not Path(self.settings.model).expanduser().exists():
            raise ModelError(f"model_path {self.settings.model} does not exist")
        # A registry network missing from the cache is fetched and verified here (download_missing); a path never.
        spec = resolve_model(self.settings.model,
                             download=self.settings.download_missing and not self.settings.model_is_path)
        self.segmenter = Segmenter(spec, self.settings.backend, self.settings.threads, self.settings.ignore_class)
        self.spec = spec
        self._input: LatestFrame[Any] = LatestFrame()
        self._results: LatestFrame[FrameResult] = LatestFrame()
        self._workers: list[threading.Thread] = []
        self._backend_closed = False
        try:
            self._set_up()
        except BaseException:
            self.close()  # nothing may outlive a failed start: workers (none yet), backend, ROS entities
            self.destroy_node()
            raise

    def _set_up(self) -> None:
        """Outputs, input subscription, diagnostics, then the worker threads (last: nothing runs if this fails)."""
        spec = self.spec
        self._colors_cache: tuple[float, np.ndarray] | None = None
        self._last_render_ms = 0.0

        self.frames_processed = 0
        self.frames_rejected = 0
        self.frames_failed = 0
        self._latencies: deque[float] = deque(maxlen=1000)
        self._warned: dict[str, float] = {}
        self._stats_lock = threading.Lock()

        self.ground: GroundProjector | None = None
        if self.settings.grid.enabled:
            self.ground = GroundProjector(self, self.settings.grid, spec.class_names, self.segmenter.ignore_id,
                                          self._warn)

        self.outputs: list[FrameOutput] = []
        self._create_outputs()
        self.add_on_set_parameters_callback(self._on_set_parameters)

        if self.settings.use_compressed:
            topic, self._input_type = "image/compressed", CompressedImage
        else:
            topic, self._input_type = "image", Image
        # raw=True: the callback stores serialized bytes; only frames the worker takes are deserialized, so a
        # frame dropped under load costs one memcpy. Frames arriving before the workers start wait in _input.
        try:
            self.subscription = self.create_subscription(
                self._input_type, topic, self._input.put, input_qos(), raw=True,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
        except (RuntimeError, InvalidQosOverridesError) as exc:  # a bad qos_overrides.* value
            resolved = self.resolve_topic_name(topic)
            raise ConfigError(f"invalid QoS override for {resolved} (parameters qos_overrides.{resolved}."
                              f"subscription.*): {exc}") from exc
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_last = (time.monotonic(), 0)
        self.create_timer(self.settings.diagnostics_period, self._publish_diagnostics)

        grid_w, grid_h = self.segmenter.grid_size
        in_w, in_h = self.segmenter.input_size
        self.get_logger().info(
            f"network {spec.name} ({self.segmenter.backend.name}, input {in_w}x{in_h}, grid {grid_w}x{grid_h}, "
            f"{spec.num_classes} classes) from {spec.source}; subscribed to {self.subscription.topic_name}")

        self._workers = [threading.Thread(target=self._segment_loop, name="segnet-segment", daemon=True),
                         threading.Thread(target=self._output_loop, name="segnet-output", daemon=True)]
        for worker in self._workers:
            worker.start()

    # ----------------------------------------------------------------- outputs
    def _create_outputs(self) -> None:
        s = self.settings
        if s.publish_class_mask:
            self.outputs.append(FrameOutput("class_mask", self.create_publisher(Image, "~/class_mask", OUTPUT_QOS),
                                            self._build_class_mask, immediate=True))
        if s.publish_info:
            self.outputs.append(FrameOutput("info", self.create_publisher(SegmentationInfo, "~/info", OUTPUT_QOS),
                                            self._build_info, immediate=True))
        if self.ground is not None:
            self._add_ground_outputs()
        if s.publish_overlay:
            self.outputs.append(FrameOutput("overlay", self.create_publisher(Image, "~/overlay", OUTPUT_QOS),
                                            self._build_overlay, lambda: self.render_settings.overlay))
        if s.publish_color_mask:
            self.outputs.append(FrameOutput("color_mask", self.create_publisher(Image, "~/color_mask", OUTPUT_QOS),
                                            self._build_color_mask, lambda: self.render_settings.mask))

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
        frame.timings["render"] = frame.timings.get("render", 0.0) + ms
        frame.timings["render cpu"] = frame.timings.get("render cpu", 0.0) + cpu_ms
        self.segmenter.timer.add("render", ms)
        self.segmenter.timer.add("render cpu", cpu_ms)
        self._last_render_ms = frame.timings["render"]

    def _build_class_mask(self, frame: FrameResult) -> Image:
        class_map = resize_class_map(frame.segmentation.class_map,
                                     self._size_for(self.settings.mask_resolution, frame))
        return messages.class_mask_msg(frame.header, class_map)

    def _build_color_mask(self, frame: FrameResult) -> Image:
        start = self._clocks()
        mask = render.render_mask(frame.segmentation.class_map, self._colors(frame.settings.alpha),
                                  size=self._size_for(self.settings.color_mask_resolution, frame),
                                  filter_mode=frame.settings.filter_mode)
        self._add_render_time(frame, start)
        return messages.image_msg(frame.header, mask, "rgb8")

    def _build_overlay(self, frame: FrameResult) -> Image:
        start = self._clocks()
        overlay = render.render_overlay(frame.image_rgb, frame.segmentation.class_map,
                                        self._colors(frame.settings.alpha), frame.settings.filter_mode)
        self._add_render_time(frame, start)
        return messages.image_msg(frame.header, overlay, "rgb8")

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
        frame.timings["grid"] = ms
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
        return FrameCounters(self._input.received, processed, self._input.dropped, rejected)

    def _warn(self, text: str, error: bool = False) -> None:
        """Log at most once per WARN_THROTTLE_S for each kind of problem (numbers do not make a new kind)."""
        key = re.sub(r"\d+", "#", text)
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= WARN_THROTTLE_S:
            self._warned[key] = now
            (self.get_logger().error if error else self.get_logger().warning)(text)

    def _to_rgb(self, msg: Any) -> np.ndarray:
        if isinstance(msg, CompressedImage):
            return compressed_to_rgb(msg.format, msg.data)
        return image_msg_to_rgb(msg, self.settings.mono16_range)

    def _segment_loop(self) -> None:
        cycles: deque[float] = deque(maxlen=15)  # seconds from taking one frame to being ready for the next
        while not self._input.closed:
            cycle = sorted(cycles)[len(cycles) // 2] if cycles else None
            wait = fresh_frame_wait(self._input.interval(), cycle, self.settings.fresh_frame_budget)
            raw = self._input.take(timeout=0.5, wait_for_next=wait)
            if raw is None:
                continue
            started = time.monotonic()
            if not self._process(raw):
                return
            cycles.append(time.monotonic() - started)

    def _process(self, raw: bytes) -> bool:
        """Deserialize, convert and segment one frame, publish its immediate outputs, pass it to the renderer.

        False once ROS is shutting down.
        """
        try:
            msg = deserialize_message(raw, self._input_type)
        except Exception as exc:  # noqa: BLE001 - malformed CDR from a foreign publisher
            self._reject(f"cannot deserialize {self._input_type.__name__}: {exc}")
            return True
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
        timings = {"preprocess": segmentation.preprocess_ms, "network": segmentation.network_ms,
                   "postprocess": segmentation.postprocess_ms}
        latency_ms = (self.get_clock().now() - Time.from_msg(msg.header.stamp)).nanoseconds / 1e6
        with self._stats_lock:
            self.frames_processed += 1
            self._latencies.append(latency_ms)
        frame = FrameResult(msg.header, image_rgb, segmentation, timings, latency_ms, self.render_settings)
        if not self._publish(frame, immediate=True):
            return False
        self._results.put(frame)
        return True

    def _reject(self, reason: str) -> None:
        with self._stats_lock:
            self.frames_rejected += 1
            rejected = self.frames_rejected
        self._warn(f"frame rejected ({rejected} so far): {reason}")

    def _output_loop(self) -> None:
        # Rendering is for people: niced, it yields the CPU to inference instead of stealing a render's worth of
        # time from every inference on a small CPU.
        _lower_thread_priority(self.settings.render_thread_nice)
        while not self._results.closed:
            frame = self._results.take(timeout=0.5)
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
        last_time, last_processed = self._diag_last
        self._diag_last = (now, processed)
        rate = (processed - last_processed) / max(now - last_time, 1e-6)
        with self._stats_lock:
            latencies = np.asarray(self._latencies, dtype=np.float64)
            self._latencies.clear()
            failed = self.frames_failed
        status = DiagnosticStatus(name=f"{self.get_name()}: semantic segmentation", hardware_id=self.spec.name)
        if received == 0:
            status.level, status.message = DiagnosticStatus.OK, "waiting for images"
        elif rejected and latencies.size == 0:
            status.level, status.message = DiagnosticStatus.WARN, "input frames are being rejected"
        elif self.ground is not None and processed and self.ground.status != OK:
            status.level, status.message = DiagnosticStatus.WARN, f"{rate:.1f} Hz, no grid: {self.ground.status}"
        else:
            status.level, status.message = DiagnosticStatus.OK, f"{rate:.1f} Hz"
        values = {"processing rate (Hz)": f"{rate:.2f}",
                  "latency median (ms)": f"{np.median(latencies):.1f}" if latencies.size else "n/a",
                  "latency max (ms)": f"{latencies.max():.1f}" if latencies.size else "n/a",
                  "frames received": str(received), "frames processed": str(processed),
                  "frames dropped": str(dropped), "frames rejected": str(rejected),
                  "frames failed": str(failed), "backend": self.segmenter.backend.name}
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
        """Stop the workers (they finish the frame in hand), wait for them, then release the backend. Idempotent."""
        self._input.close()
        self._results.close()
        for worker in self._workers:
            worker.join(timeout)
        if self._backend_closed:
            return
        if any(worker.is_alive() for worker in self._workers):  # still inferring: freeing under it would crash
            self.get_logger().warning(f"a worker did not stop within {timeout:g} s; the backend is left to exit")
            return
        self._backend_closed = True
        self.segmenter.backend.close()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node: SegNetNode | None = None
    code = 0
    try:
        node = SegNetNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SegRosError as exc:
        rclpy.logging.get_logger("segnet").fatal(f"cannot start: {exc}")
        code = exc.exit_code  # the one policy (seg_ros.cli.entry): 2 bad model / parameter, 1 runtime failure
    except rclpy.exceptions.ParameterException as exc:
        rclpy.logging.get_logger("segnet").fatal(f"bad parameter: {exc}")
        code = EXIT_USER_ERROR
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
