"""The segnet node's parameters: declared once with descriptors, read into typed settings, validated at runtime.

Descriptors carry the description, ranges and allowed values; alpha, filter_mode and visualize may change
while the node runs and are checked here before they take effect.

ROS side only (imports rclpy); the rendering choices themselves live in ``seg_ros.render``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from seg_ros import render
from seg_ros.backends import BACKENDS
from seg_ros.errors import SegRosError

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


# name -> (default, descriptor). Only RUNTIME_PARAMETERS are writable after start-up.
PARAMETERS: dict[str, tuple[object, ParameterDescriptor]] = {
    "network": ("fcn-resnet18-deepscene", _desc(
        "registry network name/alias or model folder name on SEG_ROS_MODEL_PATH (ignored when model_path is set)")),
    "model_path": ("", _desc("model folder or .onnx file; overrides network when not empty")),
    "backend": ("auto", _desc("inference backend", choices=BACKENDS)),
    "threads": (0, _desc("inference threads (0 = backend default)", int_range=(0, 256))),
    "ignore_class": ("void", _desc("class name or id never chosen by argmax (segNet's ignore class); '' = none")),
    "alpha": (150.0, _desc("overlay/mask alpha for classes without an explicit alpha in colors.txt",
                           read_only=False, float_range=(0.0, 255.0))),
    "filter_mode": ("linear", _desc("upsampling filter of overlay and colour mask", read_only=False,
                                    choices=render.FILTER_MODES)),
    "visualize": ("overlay,mask", _desc("which visualisations to render: overlay, mask or overlay,mask",
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
    "mono16_range": ([0.0, 0.0], _desc("[lo, hi] raw values mapped to black..white for mono16/16UC1 input; "
                                       "lo >= hi = automatic per-frame percentiles")),
    "fresh_frame_budget": (0.02, _desc(
        "fraction of processing time the worker may idle waiting for a camera frame due within moments instead of "
        "taking an older waiting one (lower latency for a little throughput); 0 = never wait",
        float_range=(0.0, 0.5))),
    "render_thread_nice": (10, _desc("nice value of the rendering thread (Linux): higher yields the CPU to inference "
                                     "on small CPUs, 0 renders at inference priority", int_range=(0, 19))),
    "diagnostics_period": (1.0, _desc("seconds between /diagnostics messages", float_range=(0.1, 60.0))),
}


@dataclass(frozen=True)
class RenderSettings:
    """The runtime-changeable rendering choices; replaced as a whole so the worker sees a consistent set."""

    alpha: float
    filter_mode: str
    overlay: bool
    mask: bool


@dataclass(frozen=True)
class NodeSettings:
    """Start-up parameters (read-only after declaration)."""

    model: str  # model_path when set, else network
    model_is_path: bool
    backend: str
    threads: int
    ignore_class: str
    mask_resolution: str
    color_mask_resolution: str
    use_compressed: bool
    publish_class_mask: bool
    publish_color_mask: bool
    publish_overlay: bool
    publish_info: bool
    mono16_range: tuple[float, float] | None
    fresh_frame_budget: float
    render_thread_nice: int
    diagnostics_period: float


def declare_parameters(node: Node) -> None:
    for name, (default, descriptor) in PARAMETERS.items():
        node.declare_parameter(name, default, descriptor)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SegRosError(f"parameter {name}={value!r} is not one of {', '.join(choices)}")
    return value


def read_settings(node: Node) -> NodeSettings:
    """Typed start-up settings; raises SegRosError for values the descriptors cannot express."""
    p = {name: node.get_parameter(name).value for name in PARAMETERS}
    lo, hi = (list(p["mono16_range"]) + [0.0, 0.0])[:2] if p["mono16_range"] is not None else (0.0, 0.0)
    if len(p["mono16_range"] or []) not in (0, 2):
        raise SegRosError(f"parameter mono16_range needs two values [lo, hi], got {list(p['mono16_range'])}")
    return NodeSettings(
        model=str(p["model_path"]).strip() or str(p["network"]).strip(),
        model_is_path=bool(str(p["model_path"]).strip()),
        backend=check_choice("backend", str(p["backend"]), BACKENDS),
        threads=int(p["threads"]),
        ignore_class=str(p["ignore_class"]),
        mask_resolution=check_choice("mask_resolution", str(p["mask_resolution"]), MASK_RESOLUTIONS),
        color_mask_resolution=check_choice("color_mask_resolution", str(p["color_mask_resolution"]),
                                           MASK_RESOLUTIONS),
        use_compressed=bool(p["use_compressed"]),
        publish_class_mask=bool(p["publish_class_mask"]),
        publish_color_mask=bool(p["publish_color_mask"]),
        publish_overlay=bool(p["publish_overlay"]),
        publish_info=bool(p["publish_info"]),
        mono16_range=(float(lo), float(hi)) if float(lo) < float(hi) else None,
        fresh_frame_budget=float(p["fresh_frame_budget"]),
        render_thread_nice=int(p["render_thread_nice"]),
        diagnostics_period=float(p["diagnostics_period"]),
    )


def render_settings(values: dict[str, object]) -> RenderSettings:
    """RenderSettings from alpha / filter_mode / visualize values; raises SegRosError with the reason."""
    alpha = float(values["alpha"])  # type: ignore[arg-type]
    if not 0.0 <= alpha <= 255.0:
        raise SegRosError(f"alpha must be within 0..255, got {alpha}")
    filter_mode = check_choice("filter_mode", str(values["filter_mode"]), tuple(render.FILTER_MODES))
    try:
        overlay, mask = render.parse_visualize(str(values["visualize"]))
    except (SegRosError, ValueError) as exc:
        raise SegRosError(f"visualize={values['visualize']!r}: {exc}") from exc
    return RenderSettings(alpha=alpha, filter_mode=filter_mode, overlay=overlay, mask=mask)


def current_render_settings(node: Node) -> RenderSettings:
    return render_settings({name: node.get_parameter(name).value for name in RUNTIME_PARAMETERS})


def updated_render_settings(node: Node, changes: list[Parameter]) -> RenderSettings | None:
    """The RenderSettings these changes would give, or None when they touch no runtime parameter.

    Raises SegRosError with the reason for an invalid value or a wrongly typed one.
    """
    values = {name: node.get_parameter(name).value for name in RUNTIME_PARAMETERS}
    touched = False
    for param in changes:
        if param.name not in RUNTIME_PARAMETERS:
            continue
        touched = True
        if param.name == "alpha":
            if param.type_ not in (Parameter.Type.DOUBLE, Parameter.Type.INTEGER):
                raise SegRosError(f"alpha must be a number, got {param.type_.name.lower()}")
        elif param.type_ != Parameter.Type.STRING:
            raise SegRosError(f"{param.name} must be a string, got {param.type_.name.lower()}")
        values[param.name] = param.value
    return render_settings(values) if touched else None


__all__ = ["MASK_RESOLUTIONS", "PARAMETERS", "NodeSettings", "RenderSettings", "RUNTIME_PARAMETERS",
           "current_render_settings", "declare_parameters", "read_settings", "updated_render_settings"]
