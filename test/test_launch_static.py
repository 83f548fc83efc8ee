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
MULTI_LAUNCH_FILE = REPO / "launch" / "multi_camera.launch.py"
EXPECTED_ARGUMENTS = {"network", "image", "camera_info", "params_file", "namespace", "backend", "use_compressed",
                      "base_frame", "rviz", "rviz_config", "managed"}
INSTALLED_PACKAGES: set[str] = {"seg_ros", "rviz2"}  # what the ament_index stand-in finds (tests change it)


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


class IncludeLaunchDescription(_Recorded):
    @property
    def launch_arguments(self) -> dict[str, str]:
        return dict(self.kwargs["launch_arguments"])


class PythonLaunchDescriptionSource(_Recorded):
    pass


class PackageNotFoundError(KeyError):
    pass


def get_package_share_directory(name: str) -> str:
    if name not in INSTALLED_PACKAGES:
        raise PackageNotFoundError(name)
    return f"/opt/ros/share/{name}"


def _stand_in_modules() -> dict[str, types.ModuleType]:
    modules = {name: types.ModuleType(name) for name in (
        "launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions",
        "launch_ros.substitutions", "launch.launch_description_sources", "ament_index_python",
        "ament_index_python.packages")}
    modules["launch"].LaunchDescription = LaunchDescription
    modules["launch.actions"].DeclareLaunchArgument = DeclareLaunchArgument
    modules["launch.actions"].OpaqueFunction = OpaqueFunction
    modules["launch.substitutions"].PathJoinSubstitution = PathJoinSubstitution
    modules["launch_ros.actions"].Node = Node
    modules["launch_ros.substitutions"].FindPackageShare = FindPackageShare
    modules["launch.actions"].IncludeLaunchDescription = IncludeLaunchDescription
    modules["launch.launch_description_sources"].PythonLaunchDescriptionSource = PythonLaunchDescriptionSource
    modules["ament_index_python.packages"].PackageNotFoundError = PackageNotFoundError
    modules["ament_index_python.packages"].get_package_share_directory = get_package_share_directory
    return modules


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def launch_module():
    """The launch file imported against the stand-ins (sys.modules restored afterwards)."""
    saved = {name: sys.modules.get(name) for name in _stand_in_modules()}
    sys.modules.update(_stand_in_modules())
    try:
        yield _load(LAUNCH_FILE, "segnet_launch_under_test"), _load(MULTI_LAUNCH_FILE, "multi_launch_under_test")
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


@pytest.fixture(scope="module")
def description(launch_module) -> LaunchDescription:
    return launch_module[0].generate_launch_description()


@pytest.fixture(scope="module")
def multi_description(launch_module) -> LaunchDescription:
    return launch_module[1].generate_launch_description()


def _arguments(description: LaunchDescription) -> dict[str, DeclareLaunchArgument]:
    return {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}


def _resolve(value) -> str:
    """Resolve the recorded share-path substitution; seg_ros's share is this checkout (same config/ layout)."""
    if isinstance(value, PathJoinSubstitution):
        return "/".join(_resolve(part) for part in value.args[0])
    if isinstance(value, FindPackageShare):
        assert value.args[0] == "seg_ros"
        return str(REPO)
    return value


def _configurations(description: LaunchDescription, **given: str) -> dict[str, str]:
    """What launch would hold after resolving the arguments: defaults, overridden by `given`."""
    values = {name: _resolve(arg.kwargs["default_value"]) for name, arg in _arguments(description).items()}
    unknown = set(given) - set(values)
    assert not unknown, f"not declared: {unknown}"
    values.update(given)
    return values


def _run(description: LaunchDescription, **given: str) -> list:
    context = types.SimpleNamespace(launch_configurations=_configurations(description, **given))
    opaque = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    assert len(opaque) == 1
    return opaque[0].kwargs["function"](context)


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
    assert imported <= {"launch", "launch_ros", "ament_index_python", "yaml", "os", "tempfile"}, imported


def test_declared_arguments(description) -> None:
    arguments = _arguments(description)
    assert EXPECTED_ARGUMENTS <= set(arguments)
    for name, arg in arguments.items():
        assert arg.kwargs.get("description"), f"launch argument {name} has no description"
    assert arguments["rviz"].kwargs["default_value"] == "false"
    assert arguments["managed"].kwargs["default_value"] == "false"


def test_default_files_are_in_the_package_share_and_exist_in_the_repo(description) -> None:
    config = _configurations(description)
    for key, relative in (("params_file", "config/segnet.yaml"), ("rviz_config", "config/segnet.rviz")):
        assert config[key] == f"{REPO}/{relative}"
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
    assert node["parameters"] == [f"{REPO}/config/segnet.yaml", {}], "defaults come from the params file"
    assert dict(node["remappings"]) == {"image": "/camera/image_raw",
                                        "image/compressed": "/camera/image_raw/compressed",
                                        "camera_info": "/camera/camera_info"}
    assert node["namespace"] is None


def test_arguments_reach_the_node(description, tmp_path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters: {}\n")
    node = _segnet(_run(description, network="fcn-resnet18-cityscapes", backend="onnxruntime",
                        use_compressed="true", image="/front/image", camera_info="/front/info",
                        namespace="robot1", params_file=str(mine), base_frame="chassis")).kwargs
    assert node["parameters"] == [str(mine), {"network": "fcn-resnet18-cityscapes", "backend": "onnxruntime",
                                              "base_frame": "chassis", "use_compressed": True}]
    assert dict(node["remappings"]) == {"image": "/front/image", "image/compressed": "/front/image/compressed",
                                        "camera_info": "/front/info"}
    assert node["namespace"] == "robot1"
    assert _segnet(_run(description, use_compressed="False")).kwargs["parameters"][1] == {"use_compressed": False}


def _rviz_topics_and_frame(path: str) -> tuple[set[str], str]:
    """Every topic name in an RViz config (any display's Topic / Update Topic value) and its fixed frame."""
    config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["Visualization Manager"]

    def topics_in(node) -> set[str]:
        if isinstance(node, dict):
            found = set()
            for key, value in node.items():
                if key.endswith("Topic") and isinstance(value, dict):
                    found.add(value["Value"])
                found |= topics_in(value)
            return found
        return set().union(*(topics_in(v) for v in node)) if isinstance(node, list) else set()

    return topics_in(config["Displays"]), config["Global Options"]["Fixed Frame"]


def test_rviz_on_request(description) -> None:
    actions = _run(description, rviz="true")
    rviz = [a.kwargs for a in actions if a.kwargs.get("package") == "rviz2"]
    assert len(rviz) == 1 and rviz[0]["executable"] == "rviz2" and rviz[0]["namespace"] is None
    assert rviz[0]["arguments"][0] == "-d"
    topics, frame = _rviz_topics_and_frame(rviz[0]["arguments"][1])
    assert topics == {"/segnet/overlay", "/segnet/color_mask", "/segnet/traversable_grid",
                      "/segnet/traversable_grid_updates", "/segnet/trail_heading_pose"}
    assert frame == "base_link"


def test_managed_runs_the_lifecycle_executable_with_the_same_configuration(description, launch_module) -> None:
    plain = _segnet(_run(description, namespace="robot1", network="fcn-resnet18-cityscapes")).kwargs
    managed = _segnet(_run(description, managed="true", namespace="robot1", network="fcn-resnet18-cityscapes")).kwargs
    assert (plain["executable"], managed["executable"]) == ("segnet_node", "segnet_managed_node")
    assert {k: v for k, v in managed.items() if k != "executable"} == {k: v for k, v in plain.items()
                                                                      if k != "executable"}
    assert _segnet(_run(description, managed="False")).kwargs["executable"] == "segnet_node"
    with pytest.raises(launch_module[0].LaunchConfigError, match="true or false"):
        _run(description, managed="lifecycle")


def test_both_executables_are_console_scripts() -> None:
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    assert '"segnet_node = seg_ros.ros.node:main"' in setup
    assert '"segnet_managed_node = seg_ros.ros.managed_node:main"' in setup


def test_rviz_follows_namespace_and_base_frame(description, tmp_path) -> None:
    params = tmp_path / "robot.yaml"
    params.write_text("/**:\n  ros__parameters:\n    base_frame: chassis\n")
    rviz = _run(description, rviz="true", namespace="robot1", params_file=str(params))[1].kwargs
    topics, frame = _rviz_topics_and_frame(rviz["arguments"][1])
    assert topics == {"/robot1/segnet/overlay", "/robot1/segnet/color_mask", "/robot1/segnet/traversable_grid",
                      "/robot1/segnet/traversable_grid_updates", "/robot1/segnet/trail_heading_pose"}
    assert frame == "chassis" and rviz["namespace"] == "robot1"
    overridden = _run(description, rviz="true", params_file=str(params), base_frame="odom_link")[1].kwargs
    assert _rviz_topics_and_frame(overridden["arguments"][1])[1] == "odom_link"


def test_missing_rviz2_stops_before_anything_starts(description, launch_module) -> None:
    INSTALLED_PACKAGES.discard("rviz2")
    try:
        with pytest.raises(launch_module[0].LaunchConfigError,
                           match=r"^package 'rviz2' not found \(needed by rviz:=true\); nothing was started$"):
            _run(description, rviz="true")
    finally:
        INSTALLED_PACKAGES.add("rviz2")
    assert len(_run(description, rviz="false")) == 1, "without rviz the missing package does not matter"


def test_misspelled_params_file_is_refused(description, launch_module, tmp_path) -> None:
    missing = tmp_path / "segnet.yml"
    with pytest.raises(launch_module[0].LaunchConfigError,
                       match=rf"^params_file:={missing} is not a file; nothing was started$"):
        _run(description, params_file=str(missing))


def test_bad_boolean_is_refused(description, launch_module) -> None:
    with pytest.raises(launch_module[0].LaunchConfigError, match="true or false"):
        _run(description, rviz="maybe")


def test_multi_camera_declares_documented_arguments(multi_description) -> None:
    arguments = _arguments(multi_description)
    assert {"cameras", "image_name", "camera_info_name", "camera_params_dir", "params_file", "network",
            "backend", "use_compressed"} <= set(arguments)
    assert all(arg.kwargs.get("description") for arg in arguments.values())


def test_multi_camera_one_namespaced_node_per_camera(description, multi_description) -> None:
    includes = _run(multi_description, cameras="front, rear", network="fcn-resnet18-cityscapes")
    assert [type(i) for i in includes] == [IncludeLaunchDescription, IncludeLaunchDescription]
    assert includes[0].args[0].args[0] == str(LAUNCH_FILE)
    nodes = [_segnet(_run(description, **i.launch_arguments)).kwargs for i in includes]
    assert [n["namespace"] for n in nodes] == ["front", "rear"]
    assert [dict(n["remappings"])["image"] for n in nodes] == ["/front/image_raw", "/rear/image_raw"]
    assert [dict(n["remappings"])["camera_info"] for n in nodes] == ["/front/camera_info", "/rear/camera_info"]
    assert all(n["parameters"] == [f"{REPO}/config/segnet.yaml", {"network": "fcn-resnet18-cityscapes"}]
               for n in nodes)


def test_multi_camera_per_camera_params(description, multi_description, launch_module, tmp_path) -> None:
    (tmp_path / "front.yaml").write_text("/**:\n  ros__parameters: {}\n")
    (tmp_path / "rear.yaml").write_text("/**:\n  ros__parameters: {}\n")
    includes = _run(multi_description, cameras="front,rear", camera_params_dir=str(tmp_path), image_name="rgb")
    nodes = [_segnet(_run(description, **i.launch_arguments)).kwargs for i in includes]
    assert [n["parameters"][0] for n in nodes] == [str(tmp_path / "front.yaml"), str(tmp_path / "rear.yaml")]
    assert dict(nodes[1]["remappings"])["image"] == "/rear/rgb"
    with pytest.raises(launch_module[1].LaunchConfigError, match=r"camera 'left' not found: .*left\.yaml"):
        _run(multi_description, cameras="front,left", camera_params_dir=str(tmp_path))


@pytest.mark.parametrize("cameras", ["", "front,front", "3d,rear", "front;rear"])
def test_multi_camera_bad_camera_list(multi_description, launch_module, cameras) -> None:
    with pytest.raises(launch_module[1].LaunchConfigError, match="distinct ROS names"):
        _run(multi_description, cameras=cameras)


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
