# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""Launch the seg_ros segmentation node with its parameters file, topic remappings and optionally RViz.

    ros2 launch seg_ros segnet.launch.py image:=/camera/image_raw network:=fcn-resnet18-deepscene-576x320 rviz:=true

Parameters come from ``params_file`` (default: the installed ``config/segnet.yaml``); ``network``, ``backend``,
``use_compressed`` and ``base_frame`` override it only when given, so the YAML file stays the one place for
defaults. Everything is checked before any process starts: a missing ``params_file`` or, with ``rviz:=true``, a
missing rviz2 package stops the launch with one line naming the problem (no node is left running).

With ``managed:=true`` the node is ``segnet_managed_node`` (same parameters and topics, rclpy lifecycle): it
waits unconfigured for a lifecycle manager; nothing segments until it is configured and activated.

With ``namespace:=ns`` the node's outputs are ``/ns/segnet/...``; the input defaults are absolute and stay where
they are (pass ``image:=`` / ``camera_info:=`` for namespaced cameras). RViz gets a copy of ``rviz_config`` whose
``/segnet/`` topics follow the namespace and whose fixed frame is the node's ``base_frame`` (the pattern of Nav2's
namespaced rviz launch: rewrite the config, do not hard-code a robot).
"""

import os
import tempfile

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "seg_ros"
NODE_NAME = "segnet"
DEFAULT_BASE_FRAME = "base_link"
RVIZ_TOPIC_PREFIX = f"/{NODE_NAME}/"

# name, default, description ("" = not set: the params file decides)
ARGUMENTS = (
    ("network", "", "network name or model folder (overrides the params file when set)"),
    ("image", "/camera/image_raw", "input image topic, absolute by default: not moved by namespace "
                                   "(with use_compressed: its /compressed sibling is used)"),
    ("camera_info", "/camera/camera_info", "camera_info topic matching the image (absolute by default)"),
    ("namespace", "", "namespace of the node and of its output topics (inputs keep their absolute names)"),
    ("backend", "", "auto, onnxruntime or tensorrt (overrides the params file when set)"),
    ("use_compressed", "", "true: subscribe to sensor_msgs/CompressedImage (overrides the params file when set)"),
    ("base_frame", "", "frame of the grid and heading, also RViz's fixed frame (overrides the params file when set)"),
    ("rviz", "false", "true: also start RViz with rviz_config"),
    ("managed", "false", "true: run segnet_managed_node, a lifecycle node that starts unconfigured (configure and "
                         "activate it with Nav2's lifecycle_manager, bond_timeout: 0.0, or ros2 lifecycle set)"),
)


class LaunchConfigError(RuntimeError):
    """A launch argument that cannot work (missing file or package); launch prints its one-line message."""


def _flag(value: str) -> bool:
    """Launch-argument boolean, as ROS launch spells it."""
    if value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise LaunchConfigError(f"expected true or false, got {value!r}")


def _params_base_frame(params_file: str) -> str:
    """``base_frame`` as the params file sets it for this node (``/**`` or the node's own key), else base_link."""
    with open(params_file, encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    frame = DEFAULT_BASE_FRAME
    for key, section in data.items() if isinstance(data, dict) else ():
        params = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
        if key == "/**" or key.rstrip("/").split("/")[-1] == NODE_NAME:
            frame = str(params.get("base_frame", frame))
    return frame


def _rviz_config_for(source: str, namespace: str, base_frame: str) -> str:
    """Write a copy of the RViz config with topics under ``/<namespace>/segnet/`` and fixed frame ``base_frame``."""
    prefix = "/" + "/".join(p for p in (namespace.strip("/"), NODE_NAME) if p) + "/"
    lines = []
    with open(source, encoding="utf-8") as stream:
        for line in stream:
            stripped = line.strip()
            if stripped.startswith("Value: " + RVIZ_TOPIC_PREFIX):
                line = line.replace(RVIZ_TOPIC_PREFIX, prefix, 1)
            elif stripped.startswith("Fixed Frame: "):
                line = line[: line.index("Fixed Frame: ")] + f"Fixed Frame: {base_frame}\n"
            lines.append(line)
    handle, path = tempfile.mkstemp(prefix="segnet_", suffix=".rviz")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.writelines(lines)
    return path


def _check_package(name: str, why: str) -> None:
    """Raise LaunchConfigError naming the package when ``ros2 launch`` could not start it."""
    try:
        get_package_share_directory(name)
    except PackageNotFoundError:
        raise LaunchConfigError(f"package '{name}' not found ({why}); nothing was started") from None


def _launch_setup(context, *_args, **_kwargs) -> list:
    """Check the resolved launch arguments, then build the node (and RViz)."""
    config = context.launch_configurations
    params_file = config["params_file"]
    if not os.path.isfile(params_file):
        raise LaunchConfigError(f"params_file:={params_file} is not a file; nothing was started")
    rviz = _flag(config["rviz"])
    managed = _flag(config["managed"])
    if rviz:
        _check_package("rviz2", "needed by rviz:=true")
        if not os.path.isfile(config["rviz_config"]):
            raise LaunchConfigError(f"rviz_config:={config['rviz_config']} is not a file; nothing was started")
    overrides = {}
    for key in ("network", "backend", "base_frame"):
        if config[key]:
            overrides[key] = config[key]
    if config["use_compressed"]:
        overrides["use_compressed"] = _flag(config["use_compressed"])
    image = config["image"]
    namespace = config["namespace"]
    actions = [
        Node(
            package=PACKAGE,
            executable="segnet_managed_node" if managed else "segnet_node",
            name=NODE_NAME,
            namespace=namespace or None,
            output="screen",
            emulate_tty=True,
            parameters=[params_file, overrides],
            remappings=[
                ("image", image),
                ("image/compressed", image.rstrip("/") + "/compressed"),
                ("camera_info", config["camera_info"]),
            ],
        )
    ]
    if rviz:
        base_frame = config["base_frame"] or _params_base_frame(params_file)
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=namespace or None,
                output="log",
                arguments=["-d", _rviz_config_for(config["rviz_config"], namespace, base_frame)],
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments; the node is created once they are resolved and checked."""
    share = FindPackageShare(PACKAGE)
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, default, text in ARGUMENTS]
    declared.append(DeclareLaunchArgument(
        "params_file", default_value=PathJoinSubstitution([share, "config", "segnet.yaml"]),
        description="ROS parameters file for the node (parameters under '/**: ros__parameters:')"))
    declared.append(DeclareLaunchArgument(
        "rviz_config", default_value=PathJoinSubstitution([share, "config", "segnet.rviz"]),
        description="RViz configuration used with rviz:=true (its /segnet/ topics follow namespace)"))
    return LaunchDescription([*declared, OpaqueFunction(function=_launch_setup)])
