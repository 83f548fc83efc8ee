"""The segnet node's parameters: declared once with descriptors, read into typed settings, validated at runtime.

Descriptors carry the description, ranges and allowed values; alpha, filter_mode and visualize may change
while the node runs and are checked here before they take effect. The traversability-grid parameters become
a :class:`GridSettings` (grid geometry, class costs, camera mounting) through :func:`grid_settings`; class_costs,
default_cost and trail_class are declared without a value: not set, the network's traversability profile
applies (``seg_ros.registry.traversability_profile``), set, they override it.

ROS side only (imports rclpy); the rendering choices themselves live in ``seg_ros.render``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from seg_ros import render
from seg_ros.backends import BACKENDS
from seg_ros.defaults import (
    DEFAULT_ALPHA,
    DEFAULT_BACKEND,
    DEFAULT_DOWNLOAD,
    DEFAULT_FILTER_MODE,
    DEFAULT_IGNORE_CLASS,
    DEFAULT_NETWORK,
    DEFAULT_THREADS,
    DEFAULT_VISUALIZE,
)
from seg_ros.errors import ConfigError, GridConfigError, SegRosError
from seg_ros.model import parse_input_size
from seg_ros.occupancy_grid import GridSpec, parse_class_costs
from seg_ros.precision import PRECISIONS
from seg_ros.trail_heading import HeadingParams

_GRID = GridSpec()  # grid geometry defaults live in the core dataclasses
_HEADING = HeadingParams()
MASK_RESOLUTIONS = ("network_output", "network_input", "camera")
RUNTIME_PARAMETERS = ("alpha", "filter_mode", "visualize")


def _desc(description: str, *, read_only: bool = True, choices: tuple[str, ...] | None = None,
          float_range: tuple[float, float] | None = None, int_range: tuple[int, int] | None = None,
          ) -> ParameterDescriptor:
    d = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        d.additional_constraints = "one of: " + ", ".join(choices)
    if float_range:
        d.floating_point_range = [FloatingPointRange(from_value=float(float_range[0]), to_value=float(float_range[1]),
                                                     step=0.0)]
    if int_range:
        d.integer_range = [IntegerRange(from_value=int(int_range[0]), to_value=int(int_range[1]), step=1)]
    return d


def _unset(kind: Parameter.Type, descriptor: ParameterDescriptor) -> ParameterDescriptor:
    """``descriptor`` for a parameter declared with a type and no value (default None: the model's profile)."""
    descriptor.type = kind.value
    return descriptor


# name -> (default, descriptor); default None = declared with the descriptor's type and no value.
# Only RUNTIME_PARAMETERS are writable after start-up.
PARAMETERS: dict[str, tuple[object, ParameterDescriptor]] = {
    "network": (DEFAULT_NETWORK, _desc(
        "registry network name/alias or model folder name on SEG_ROS_MODEL_PATH (ignored when model_path is set)")),
    "model_path": ("", _desc("model folder or .onnx file; overrides network when not empty")),
    "input_size": ("", _desc("WxH network input size for an ONNX with a dynamic input size ('' = the model's)")),
    "download_missing": (DEFAULT_DOWNLOAD, _desc(
        "download and verify a registry network missing from the model cache at start-up (false: fail, naming "
        "segnet-download)")),
    "backend": (DEFAULT_BACKEND, _desc("inference backend", choices=BACKENDS)),
    "threads": (DEFAULT_THREADS, _desc("inference threads (0 = backend default)", int_range=(0, 256))),
    "precision": ("", _desc("network precision, the converted ONNX either backend runs: fp32 | fp16 | int8; '' = "
                            "the backend's default (fp16 on TensorRT, fp32 on ONNX Runtime)",
                            choices=("", *PRECISIONS))),
    "calibration_dir": ("", _desc("folder of representative images for int8 calibration; '' = a calibrated "
                                  "int8 model from the cache (segnet-build-engine / segnet-eval --calibration)")),
    "ignore_class": (DEFAULT_IGNORE_CLASS, _desc(
        "class name or id never chosen by argmax (segNet's ignore class); '' = none")),
    "alpha": (DEFAULT_ALPHA, _desc("overlay/mask alpha for classes without an explicit alpha in colors.txt",
                                   read_only=False, float_range=(0.0, 255.0))),
    "filter_mode": (DEFAULT_FILTER_MODE, _desc("upsampling filter of overlay and colour mask", read_only=False,
                                               choices=render.FILTER_MODES)),
    "visualize": (DEFAULT_VISUALIZE, _desc("which visualisations to render: overlay, mask or overlay,mask",
                                           read_only=False)),
    "mask_resolution": ("network_output", _desc("size of ~/class_mask (nearest upsampling)",
                                                choices=MASK_RESOLUTIONS)),
    "color_mask_resolution": ("network_input", _desc("size of ~/color_mask (filter_mode upsampling)",
                                                     choices=MASK_RESOLUTIONS)),
    "use_compressed": (False, _desc("subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image")),
    "publish_class_mask": (True, _desc("publish ~/class_mask (mono8 class ids)")),
    "publish_color_mask": (True, _desc("publish ~/color_mask (rgb8) when visualize includes mask")),
    "publish_overlay": (True, _desc("publish ~/overlay (rgb8) when visualize includes overlay")),
    "publish_info": (True, _desc("publish ~/info (seg_ros/msg/SegmentationInfo)")),
    "jpeg_quality": (90, _desc("JPEG quality of ~/overlay/compressed (image_transport's jpeg_quality)",
                               int_range=(1, 100))),
    "mono16_range": ([0.0, 0.0], _desc("[lo, hi] raw values mapped to black..white for every 16-bit and "
                                       "32FC1 input, raw or compressed; lo >= hi = automatic per-frame percentiles")),
    "fresh_frame_budget": (0.02, _desc(
        "fraction of processing time the worker may idle waiting for a camera frame due within moments instead of "
        "taking an older waiting one (lower latency for a little throughput); 0 = never wait",
        float_range=(0.0, 0.5))),
    "render_thread_nice": (10, _desc("nice value of the rendering thread (Linux): higher yields the CPU to inference "
                                     "on small CPUs, 0 renders at inference priority", int_range=(0, 19))),
    "diagnostics_period": (1.0, _desc("seconds between /diagnostics messages", float_range=(0.1, 60.0))),
    # ---- traversability grid and trail heading (ground projection of the class map)
    "publish_grid": (True, _desc("publish ~/traversable_grid and ~/trail_heading(_pose); subscribes to camera_info")),
    "rectified": (False, _desc("the images are rectified (image_rect): project with CameraInfo P, no distortion")),
    "base_frame": ("base_link", _desc("frame of the grid and heading (REP 105, x forward, y left, z up)")),
    "use_tf": (True, _desc("camera pose from tf2 (base_frame <- image frame_id at the image stamp) when tf2_ros is "
                           "importable; else (or false) from the camera_* parameters")),
    "tf_timeout": (0.05, _desc("seconds to wait for the camera transform at the image stamp",
                               float_range=(0.0, 1.0))),
    "camera_height": (1.0, _desc("camera height above the ground in base_frame (m); without tf",
                                 float_range=(0.01, 20.0))),
    "camera_pitch": (0.0, _desc("camera pitch (rad, + = looking down, REP 103); without tf",
                                float_range=(-math.pi / 2, math.pi / 2))),
    "camera_roll": (0.0, _desc("camera roll about its optical axis (rad, + = its left side up); without tf",
                               float_range=(-math.pi, math.pi))),
    "camera_yaw": (0.0, _desc("camera yaw (rad, + = left); without tf", float_range=(-math.pi, math.pi))),
    "camera_x": (0.0, _desc("camera position along base_frame x (m, forward); without tf",
                            float_range=(-20.0, 20.0))),
    "camera_y": (0.0, _desc("camera position along base_frame y (m, left); without tf",
                            float_range=(-20.0, 20.0))),
    "grid_resolution": (_GRID.resolution, _desc("cell size (m)", float_range=(0.005, 2.0))),
    "grid_width": (_GRID.width, _desc("cells along x (forward): metres = grid_width x grid_resolution",
                                      int_range=(1, 4000))),
    "grid_height": (_GRID.height, _desc("cells along y (lateral, centred on the robot): metres = grid_height x "
                                        "grid_resolution", int_range=(1, 4000))),
    "grid_x_offset": (_GRID.x_offset, _desc("metres of the grid behind the base_frame origin",
                                            float_range=(0.0, 100.0))),
    "grid_max_range": (_GRID.max_range, _desc(
        "cells farther than this from the base origin are unknown (m); 0 = no limit", float_range=(0.0, 1000.0))),
    "grid_samples_per_cell": (_GRID.samples_per_cell, _desc(
        "k: each cell sampled on a k x k lattice, highest cost wins", int_range=(1, 8))),
    "ground_z": (_GRID.ground_z, _desc(
        "height of the flat ground plane in base_frame (m; 0 for base_footprint-like frames)",
        float_range=(-20.0, 20.0))),
    "class_costs": (None, _unset(Parameter.Type.STRING_ARRAY, _desc(
        "grid value per class as 'name:cost' (0 free .. 100 lethal, -1 unknown), replacing the network's "
        "traversability profile; names are case-insensitive; not set = the profile's"))),
    "default_cost": (None, _unset(Parameter.Type.INTEGER, _desc(
        "grid value of classes class_costs does not name; not set = the profile's", int_range=(-1, 100)))),
    "trail_class": (None, _unset(Parameter.Type.STRING, _desc(
        "class followed by ~/trail_heading ('' = none: confidence always 0); not set = the profile's"))),
    "heading_lookahead": (_HEADING.lookahead, _desc("distance (m, along x) of the trail heading's target point",
                                                    float_range=(0.1, 100.0))),
}


@dataclass(frozen=True)
class RenderSettings:
    """The runtime-changeable rendering choices; replaced as a whole so the worker sees a consistent set."""

    alpha: float
    filter_mode: str
    overlay: bool
    mask: bool


@dataclass(frozen=True)
class GridSettings:
    """Traversability grid and trail heading settings (start-up only)."""

    enabled: bool
    rectified: bool
    base_frame: str
    use_tf: bool
    tf_timeout: float
    mounting: dict[str, float]  # Extrinsics.from_mounting keywords: height, pitch, roll, yaw, x, y
    spec: GridSpec
    class_costs: dict[str, int] | None  # None: the traversability profile's
    default_cost: int | None  # None: the profile's
    trail_class: str | None  # None: the profile's; "": no trail class
    heading: HeadingParams


@dataclass(frozen=True)
class NodeSettings:
    """Start-up parameters (read-only after declaration)."""

    model: str  # model_path when set, else network
    model_is_path: bool
    input_size: tuple[int, int] | None  # for a dynamic-input ONNX; None = the model's
    download_missing: bool
    backend: str
    threads: int
    precision: str | None  # None = the backend's default
    calibration_dir: Path | None
    ignore_class: str
    mask_resolution: str
    color_mask_resolution: str
    use_compressed: bool
    publish_class_mask: bool
    publish_color_mask: bool
    publish_overlay: bool
    publish_info: bool
    jpeg_quality: int
    mono16_range: tuple[float, float] | None
    fresh_frame_budget: float
    render_thread_nice: int
    diagnostics_period: float
    grid: GridSettings


def declare_parameters(node: Node) -> None:
    """Declare every parameter of :data:`PARAMETERS` on ``node`` with its default and descriptor."""
    for name, (default, descriptor) in PARAMETERS.items():
        node.declare_parameter(name, Parameter.Type(descriptor.type) if default is None else default, descriptor)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``; else ConfigError naming the parameter."""
    if value not in choices:
        raise ConfigError(f"parameter {name}={value!r} is not one of {', '.join(choices)}")
    return value


def read_settings(node: Node) -> NodeSettings:
    """Typed start-up settings; raises ConfigError for values the descriptors cannot express."""
    p = {name: node.get_parameter_or(name).value for name in PARAMETERS}  # declared without a value: None
    lo, hi = (list(p["mono16_range"]) + [0.0, 0.0])[:2] if p["mono16_range"] is not None else (0.0, 0.0)
    if len(p["mono16_range"] or []) not in (0, 2):
        raise ConfigError(f"parameter mono16_range needs two values [lo, hi], got {list(p['mono16_range'])}")
    return NodeSettings(
        model=str(p["model_path"]).strip() or str(p["network"]).strip(),
        model_is_path=bool(str(p["model_path"]).strip()),
        input_size=_input_size(str(p["input_size"])),
        download_missing=bool(p["download_missing"]),
        backend=check_choice("backend", str(p["backend"]), BACKENDS),
        threads=int(p["threads"]),
        precision=check_choice("precision", str(p["precision"]), ("", *PRECISIONS)) or None,
        calibration_dir=Path(str(p["calibration_dir"])).expanduser() if str(p["calibration_dir"]).strip() else None,
        ignore_class=str(p["ignore_class"]),
        mask_resolution=check_choice("mask_resolution", str(p["mask_resolution"]), MASK_RESOLUTIONS),
        color_mask_resolution=check_choice("color_mask_resolution", str(p["color_mask_resolution"]),
                                           MASK_RESOLUTIONS),
        use_compressed=bool(p["use_compressed"]),
        publish_class_mask=bool(p["publish_class_mask"]),
        publish_color_mask=bool(p["publish_color_mask"]),
        publish_overlay=bool(p["publish_overlay"]),
        publish_info=bool(p["publish_info"]),
        jpeg_quality=int(p["jpeg_quality"]),
        mono16_range=(float(lo), float(hi)) if float(lo) < float(hi) else None,
        fresh_frame_budget=float(p["fresh_frame_budget"]),
        render_thread_nice=int(p["render_thread_nice"]),
        diagnostics_period=float(p["diagnostics_period"]),
        grid=grid_settings(p),
    )


def _input_size(text: str) -> tuple[int, int] | None:
    """Parameter input_size ``"WxH"`` → (W, H); ``""`` → None; ConfigError naming the parameter otherwise."""
    return parse_input_size(text, "parameter input_size") if text.strip() else None


def grid_settings(p: Mapping[str, Any]) -> GridSettings:
    """GridSettings from parameter values; raises GridConfigError naming the bad parameter."""
    base_frame = str(p["base_frame"]).strip()
    if not base_frame:
        raise GridConfigError("parameter base_frame must not be empty")
    try:
        spec = GridSpec(resolution=float(p["grid_resolution"]), width=int(p["grid_width"]),
                        height=int(p["grid_height"]), x_offset=float(p["grid_x_offset"]),
                        max_range=float(p["grid_max_range"]), ground_z=float(p["ground_z"]),
                        samples_per_cell=int(p["grid_samples_per_cell"]))
    except GridConfigError as exc:
        raise GridConfigError(f"grid parameters: {exc}") from exc
    try:
        costs = None if p["class_costs"] is None else parse_class_costs([str(c) for c in p["class_costs"]])
        default = (None if p["default_cost"] is None
                   else parse_class_costs({"default_cost": p["default_cost"]})["default_cost"])
    except GridConfigError as exc:
        raise GridConfigError(f"parameter class_costs / default_cost: {exc}") from exc
    mounting = {key: float(p[f"camera_{key}"]) for key in ("height", "pitch", "roll", "yaw", "x", "y")}
    trail = None if p["trail_class"] is None else str(p["trail_class"]).strip()
    return GridSettings(
        enabled=bool(p["publish_grid"]), rectified=bool(p["rectified"]), base_frame=base_frame,
        use_tf=bool(p["use_tf"]), tf_timeout=float(p["tf_timeout"]), mounting=mounting,
        spec=spec, class_costs=costs, default_cost=default, trail_class=trail,
        heading=HeadingParams(lookahead=float(p["heading_lookahead"])),
    )


def render_settings(values: dict[str, object]) -> RenderSettings:
    """RenderSettings from alpha / filter_mode / visualize values; raises ConfigError with the reason."""
    alpha = float(values["alpha"])  # type: ignore[arg-type]
    if not 0.0 <= alpha <= 255.0:
        raise ConfigError(f"alpha must be within 0..255, got {alpha}")
    filter_mode = check_choice("filter_mode", str(values["filter_mode"]), tuple(render.FILTER_MODES))
    try:
        overlay, mask = render.parse_visualize(str(values["visualize"]))
    except (SegRosError, ValueError) as exc:
        raise ConfigError(f"visualize={values['visualize']!r}: {exc}") from exc
    return RenderSettings(alpha=alpha, filter_mode=filter_mode, overlay=overlay, mask=mask)


def current_render_settings(node: Node) -> RenderSettings:
    """The RenderSettings of the node's current alpha / filter_mode / visualize values."""
    return render_settings({name: node.get_parameter(name).value for name in RUNTIME_PARAMETERS})


def updated_render_settings(node: Node, changes: list[Parameter]) -> RenderSettings | None:
    """The RenderSettings these changes would give, or None when they touch no runtime parameter.

    Raises ConfigError with the reason for an invalid value or a wrongly typed one.
    """
    values = {name: node.get_parameter(name).value for name in RUNTIME_PARAMETERS}
    touched = False
    for param in changes:
        if param.name not in RUNTIME_PARAMETERS:
            continue
        touched = True
        if param.name == "alpha":
            if param.type_ not in (Parameter.Type.DOUBLE, Parameter.Type.INTEGER):
                raise ConfigError(f"alpha must be a number, got {param.type_.name.lower()}")
        elif param.type_ != Parameter.Type.STRING:
            raise ConfigError(f"{param.name} must be a string, got {param.type_.name.lower()}")
        values[param.name] = param.value
    return render_settings(values) if touched else None


__all__ = ["MASK_RESOLUTIONS", "PARAMETERS", "GridSettings", "NodeSettings", "RenderSettings", "RUNTIME_PARAMETERS",
           "current_render_settings", "declare_parameters", "grid_settings", "read_settings",
           "updated_render_settings"]
