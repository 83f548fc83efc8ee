# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""launch/segnet.launch.py without ROS launch installed: parsed with ast, then run against recording stand-ins.

launch / launch_ros are not installable here (see ROS_ON_PYPI.md). Small stand-in modules that record what the
launch file builds are injected into sys.modules, so the declared arguments, the node and its parameters and
remappings, and the RViz condition are checked. The real thing is tested in test_launch_ros.py where available.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "segnet.launch.py"
EXPECTED_ARGUMENTS = {"network", "image", "camera_info", "params_file", "namespace", "backend", "use_compressed",
                      "rviz"}


# --- recording stand-ins for the launch / launch_ros API surface ---------------------------------------------
class _Recorded:
    """Keeps its constructor arguments, like the real actions keep their configuration."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchDescription(_Recorded):
    @property
    def entities(self) -> list:
        return list(self.args[0]) if self.args else []


class DeclareLaunchArgument(_Recorded):
    @property
    def name(self) -> str:
        return self.args[0]


class OpaqueFunction(_Recorded):
    pass


class Node(_Recorded):
    pass


class PathJoinSubstitution(_Recorded):
    pass


class FindPackageShare(_Recorded):
    pass


def _stand_in_modules() -> dict[str, types.ModuleType]:
    modules = {name: types.ModuleType(name) for name in (
        "launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions",
        "launch_ros.substitutions")}
    modules["launch"].LaunchDescription = LaunchDescription
    modules["launch.actions"].DeclareLaunchArgument = DeclareLaunchArgument
    modules["launch.actions"].OpaqueFunction = OpaqueFunction
    modules["launch.substitutions"].PathJoinSubstitution = PathJoinSubstitution
    modules["launch_ros.actions"].Node = Node
    modules["launch_ros.substitutions"].FindPackageShare = FindPackageShare
    return modules


@pytest.fixture(scope="module")
def launch_module():
    """The launch file imported against the stand-ins (sys.modules restored afterwards)."""
    saved = {name: sys.modules.get(name) for name in _stand_in_modules()}
    sys.modules.update(_stand_in_modules())
    try:
        spec = importlib.util.spec_from_file_location("segnet_launch_under_test", LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


@pytest.fixture(scope="module")
def description(launch_module) -> LaunchDescription:
    return launch_module.generate_launch_description()


def _arguments(description: LaunchDescription) -> dict[str, DeclareLaunchArgument]:
    return {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}


def _resolve(value) -> str:
    """Turn the recorded share-path substitution into '<share:pkg>/a/b' (strings pass through)."""
    if isinstance(value, PathJoinSubstitution):
        return "/".join(_resolve(part) for part in value.args[0])
    if isinstance(value, FindPackageShare):
        return f"<share:{value.args[0]}>"
    return value


def _configurations(description: LaunchDescription, **given: str) -> dict[str, str]:
    """What launch would hold after resolving the arguments: defaults, overridden by `given`."""
    values = {name: _resolve(arg.kwargs["default_value"]) for name, arg in _arguments(description).items()}
    unknown = set(given) - set(values)
    assert not unknown, f"not declared: {unknown}"
    values.update(given)
    return values


def _run(description: LaunchDescription, **given: str) -> list[Node]:
    context = types.SimpleNamespace(launch_configurations=_configurations(description, **given))
    opaque = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    assert len(opaque) == 1
    actions = opaque[0].kwargs["function"](context)
    assert all(isinstance(a, Node) for a in actions)
    return actions


def _segnet(actions: list[Node]) -> Node:
    nodes = [a for a in actions if a.kwargs.get("package") == "seg_ros"]
    assert len(nodes) == 1
    return nodes[0]


# --- static checks ----------------------------------------------------------------------------------------------
def test_launch_file_parses_and_defines_generate_launch_description() -> None:
    tree = ast.parse(LAUNCH_FILE.read_text(encoding="utf-8"), filename=str(LAUNCH_FILE))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    imported = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    # a launch file runs inside `ros2 launch`: only launch APIs, not the package's own (rclpy-free) modules
    assert imported <= {"launch", "launch_ros", "os", "pathlib"}, imported


def test_declared_arguments(description) -> None:
    arguments = _arguments(description)
    assert EXPECTED_ARGUMENTS <= set(arguments)
    for name, arg in arguments.items():
        assert arg.kwargs.get("description"), f"launch argument {name} has no description"
    assert arguments["rviz"].kwargs["default_value"] == "false"


def test_default_files_are_in_the_package_share_and_exist_in_the_repo(description) -> None:
    config = _configurations(description)
    for key, relative in (("params_file", "config/segnet.yaml"), ("rviz_config", "config/segnet.rviz")):
        assert config[key] == f"<share:seg_ros>/{relative}"
        assert (REPO / relative).is_file(), f"{relative} is missing"


def test_referenced_share_files_are_installed_by_both_builds() -> None:
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r'foreach\(_share_glob "launch/\*\.py" "config/\*" "models/\*\.yaml"\)', cmake)
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    assert '(f"share/{PACKAGE}/launch", glob("launch/*.py"))' in setup
    assert '(f"share/{PACKAGE}/config", glob("config/*"))' in setup


def test_node_defaults(description) -> None:
    actions = _run(description)
    assert len(actions) == 1, "rviz defaults to false"
    node = _segnet(actions).kwargs
    assert node["executable"] == "segnet_node" and node["name"] == "segnet"
    assert node["parameters"] == ["<share:seg_ros>/config/segnet.yaml", {}], "defaults come from the params file"
    assert dict(node["remappings"]) == {"image": "/camera/image_raw",
                                        "image/compressed": "/camera/image_raw/compressed",
                                        "camera_info": "/camera/camera_info"}
    assert node["namespace"] is None


def test_arguments_reach_the_node(description) -> None:
    node = _segnet(_run(description, network="fcn-resnet18-cityscapes", backend="onnxruntime",
                        use_compressed="true", image="/front/image", camera_info="/front/info",
                        namespace="robot1", params_file="/tmp/mine.yaml")).kwargs
    assert node["parameters"] == ["/tmp/mine.yaml", {"network": "fcn-resnet18-cityscapes", "backend": "onnxruntime",
                                                     "use_compressed": True}]
    assert dict(node["remappings"]) == {"image": "/front/image", "image/compressed": "/front/image/compressed",
                                        "camera_info": "/front/info"}
    assert node["namespace"] == "robot1"
    assert _segnet(_run(description, use_compressed="False")).kwargs["parameters"][1] == {"use_compressed": False}


def test_rviz_on_request(description) -> None:
    actions = _run(description, rviz="true")
    rviz = [a.kwargs for a in actions if a.kwargs.get("package") == "rviz2"]
    assert len(rviz) == 1 and rviz[0]["executable"] == "rviz2"
    assert rviz[0]["arguments"] == ["-d", "<share:seg_ros>/config/segnet.rviz"]


def test_bad_boolean_is_refused(description) -> None:
    with pytest.raises(ValueError, match="true or false"):
        _run(description, rviz="maybe")


def test_params_file_sets_every_overridable_parameter() -> None:
    """The node parameters the launch file may override exist in the default params file."""
    data = yaml.safe_load((REPO / "config" / "segnet.yaml").read_text(encoding="utf-8"))
    params = data["/**"]["ros__parameters"]
    assert {"network", "backend", "use_compressed"} <= set(params)


def test_rviz_config_shows_the_outputs() -> None:
    config = yaml.safe_load((REPO / "config" / "segnet.rviz").read_text(encoding="utf-8"))
    displays = {d["Topic"]["Value"]: d["Class"] for d in config["Visualization Manager"]["Displays"] if "Topic" in d}
    assert displays == {
        "/segnet/overlay": "rviz_default_plugins/Image",
        "/segnet/color_mask": "rviz_default_plugins/Image",
        "/segnet/traversable_grid": "rviz_default_plugins/Map",
        "/segnet/trail_heading_pose": "rviz_default_plugins/Pose",
    }
    pose = next(d for d in config["Visualization Manager"]["Displays"] if d["Class"].endswith("/Pose"))
    assert pose["Shape"] == "Arrow"
