"""The pure core never imports rclpy: only the node adapts ROS messages (STYLE.md, "pure core, thin node")."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import seg_ros

ROS_SIDE = {"seg_ros.node", "seg_ros.live_demo", "seg_ros.msg"}


def test_pure_modules_do_not_import_rclpy():
    modules = [m.name for m in pkgutil.walk_packages(seg_ros.__path__, "seg_ros.")
               if not any(m.name == r or m.name.startswith(r + ".") for r in ROS_SIDE)
               and not m.name.startswith("seg_ros.node_")]
    assert "seg_ros.segmenter" in modules and "seg_ros.model" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m == 'rclpy' or m.startswith('rclpy.'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(seg_ros.__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"rclpy imported by a pure module: {out.stdout}"
