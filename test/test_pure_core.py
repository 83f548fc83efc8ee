"""The pure core never imports rclpy or a ROS message package: only ``seg_ros/ros/`` adapts ROS (STYLE.md).

The boundary is a folder, not a naming convention: every module outside ``seg_ros.ros`` (and the
generated ``seg_ros.msg``) is imported in a fresh interpreter, and none may pull in rclpy or ``*_msgs``.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import seg_ros

ROOT = Path(seg_ros.__file__).resolve().parent
ROS_PACKAGES = ("seg_ros.ros", "seg_ros.msg")


def is_ros_module(name: str) -> bool:
    """True for ``rclpy``, a ROS message package (``*_msgs``) or one of their submodules."""
    top = name.split(".")[0]
    return top == "rclpy" or top.endswith("_msgs")


def pure_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(seg_ros.__path__, "seg_ros.")
            if not any(m.name == r or m.name.startswith(r + ".") for r in ROS_PACKAGES)]


def test_is_ros_module_classifies_names():
    assert is_ros_module("rclpy.node") and is_ros_module("sensor_msgs.msg") and is_ros_module("nav_msgs")
    assert not is_ros_module("numpy") and not is_ros_module("seg_ros.render") and not is_ros_module("msgspec")


def test_pure_modules_do_not_import_ros_at_runtime():
    modules = pure_modules()
    assert "seg_ros.segmenter" in modules and "seg_ros.model" in modules
    assert not any(m.startswith("seg_ros.ros") for m in modules)
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'rclpy' or m.split('.')[0].endswith('_msgs'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"ROS imported by a pure module: {out.stdout}"


def test_no_source_outside_ros_folder_imports_ros():
    """Also lazy (function-level) imports: every import statement in every file outside seg_ros/ros/."""
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("ros", "msg"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                     else [])
            offenders += [f"{rel}:{node.lineno} {n}" for n in names if is_ros_module(n)]
    assert offenders == []
