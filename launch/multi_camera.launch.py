# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""Several cameras: one ``segnet_node`` per camera, each in its own namespace with its own topics and parameters.

    ros2 launch seg_ros multi_camera.launch.py cameras:=front,rear
    ros2 launch seg_ros multi_camera.launch.py cameras:=front,rear camera_params_dir:=/robot/config/segnet

Camera ``front`` gets node ``/front/segnet`` (outputs ``/front/segnet/...``), reading ``/front/image_raw`` and
``/front/camera_info`` (``image_name`` / ``camera_info_name`` change the last part). Its parameters are
``<camera_params_dir>/front.yaml`` when ``camera_params_dir`` is given (the file must exist), else the shared
``params_file``. Each camera is ``segnet.launch.py`` included with those arguments, so every check and default of
the single-camera launch applies; all files are checked before anything starts.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PACKAGE = "seg_ros"
SINGLE_CAMERA_LAUNCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "segnet.launch.py")

ARGUMENTS = (
    ("cameras", "camera", "comma-separated camera names; each is a namespace holding image and camera_info"),
    ("image_name", "image_raw", "image topic inside each camera's namespace"),
    ("camera_info_name", "camera_info", "camera_info topic inside each camera's namespace"),
    ("camera_params_dir", "", "folder with <camera>.yaml per camera (replaces params_file for that camera)"),
    ("network", "", "network for every camera (overrides the params files when set)"),
    ("backend", "", "auto, onnxruntime or tensorrt for every camera (overrides the params files when set)"),
    ("use_compressed", "", "true: every camera subscribes to <image>/compressed (overrides when set)"),
)


class LaunchConfigError(RuntimeError):
    """A launch argument that cannot work; launch prints its one-line message."""


def camera_names(value: str) -> list[str]:
    """``"front, rear"`` → ``["front", "rear"]``; empty, repeated or non-name entries raise LaunchConfigError."""
    names = [n.strip().strip("/") for n in value.split(",") if n.strip()]
    bad = [n for n in names if not n.replace("_", "").replace("/", "").isalnum() or n[0].isdigit()]
    if not names or bad or len(set(names)) != len(names):
        raise LaunchConfigError(f"cameras:={value!r} must be distinct ROS names separated by commas")
    return names


def _launch_setup(context, *_args, **_kwargs) -> list:
    """One include of segnet.launch.py per camera, after checking every camera's parameter file."""
    config = context.launch_configurations
    includes = []
    for camera in camera_names(config["cameras"]):
        params_file = config["params_file"]
        if config["camera_params_dir"]:
            params_file = os.path.join(config["camera_params_dir"], f"{camera}.yaml")
        if not os.path.isfile(params_file):
            raise LaunchConfigError(f"params file for camera '{camera}' not found: {params_file}; "
                                    "nothing was started")
        arguments = {
            "namespace": camera,
            "image": f"/{camera}/{config['image_name']}",
            "camera_info": f"/{camera}/{config['camera_info_name']}",
            "params_file": params_file,
            "rviz": "false",
        }
        arguments.update({k: config[k] for k in ("network", "backend", "use_compressed") if config[k]})
        includes.append(IncludeLaunchDescription(PythonLaunchDescriptionSource(SINGLE_CAMERA_LAUNCH),
                                                 launch_arguments=arguments.items()))
    return includes


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments; the cameras are expanded once they are resolved."""
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, default, text in ARGUMENTS]
    declared.append(DeclareLaunchArgument(
        "params_file", default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "segnet.yaml"]),
        description="parameters file for cameras without their own <camera>.yaml"))
    return LaunchDescription([*declared, OpaqueFunction(function=_launch_setup)])
