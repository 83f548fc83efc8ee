# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""Launch the seg_ros segmentation node with its parameters file, topic remappings and optionally RViz.

    ros2 launch seg_ros segnet.launch.py image:=/camera/image_raw network:=fcn-resnet18-deepscene-576x320 rviz:=true

Parameters come from ``params_file`` (default: the installed ``config/segnet.yaml``); ``network``, ``backend`` and
``use_compressed`` override it only when given, so the YAML file stays the one place for defaults.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "seg_ros"

# name, default, description ("" = not set: the params file decides)
ARGUMENTS = (
    ("network", "", "network name or model folder (overrides the params file when set)"),
    ("image", "/camera/image_raw", "input image topic (with use_compressed: its /compressed sibling is used)"),
    ("camera_info", "/camera/camera_info", "camera_info topic matching the image"),
    ("namespace", "", "namespace of the node (and of its topics)"),
    ("backend", "", "onnxruntime or tensorrt (overrides the params file when set)"),
    ("use_compressed", "", "true: subscribe to sensor_msgs/CompressedImage (overrides the params file when set)"),
    ("rviz", "false", "true: also start RViz with config/segnet.rviz"),
)


def _flag(value: str) -> bool:
    """Launch-argument boolean, as ROS launch spells it."""
    if value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _launch_setup(context, *_args, **_kwargs) -> list:
    """Build the node (and RViz) from the resolved launch arguments."""
    config = context.launch_configurations
    overrides = {}
    if config["network"]:
        overrides["network"] = config["network"]
    if config["backend"]:
        overrides["backend"] = config["backend"]
    if config["use_compressed"]:
        overrides["use_compressed"] = _flag(config["use_compressed"])
    image = config["image"]
    actions = [
        Node(
            package=PACKAGE,
            executable="segnet_node",
            name="segnet",
            namespace=config["namespace"] or None,
            output="screen",
            emulate_tty=True,
            parameters=[config["params_file"], overrides],
            remappings=[
                ("image", image),
                ("image/compressed", image.rstrip("/") + "/compressed"),
                ("camera_info", config["camera_info"]),
            ],
        )
    ]
    if _flag(config["rviz"]):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                output="log",
                arguments=["-d", config["rviz_config"]],
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments; the node is created once they are resolved."""
    share = FindPackageShare(PACKAGE)
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, default, text in ARGUMENTS]
    declared.append(DeclareLaunchArgument(
        "params_file", default_value=PathJoinSubstitution([share, "config", "segnet.yaml"]),
        description="ROS parameters file for the node (parameters under '/**: ros__parameters:')"))
    declared.append(DeclareLaunchArgument(
        "rviz_config", default_value=PathJoinSubstitution([share, "config", "segnet.rviz"]),
        description="RViz configuration used with rviz:=true"))
    return LaunchDescription([*declared, OpaqueFunction(function=_launch_setup)])
