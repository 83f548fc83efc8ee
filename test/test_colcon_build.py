# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""`colcon build` of this repository in a temporary workspace, then the installed package is used as ROS would.

Slow (a minute or two: it compiles the message type support): deselect with `-m "not slow"`.
The installed segnet_node is started with shared-memory-only DDS on a random domain and stopped with SIGINT.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seg_ros.paths import shared_root
from seg_ros.ros.harness import dds_env, random_domain

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()
VENV_BIN = Path(sys.prefix) / "bin"
COLCON = VENV_BIN / "colcon"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not COLCON.is_file(), reason="colcon not installed in this environment (make venv)"),
    pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None, reason="needs cmake and cc"),
]


def _console_scripts() -> dict[str, str]:
    """name -> 'module:function' from setup.py's entry_points, read with ast (not with the build's regex)."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            entries = ast.literal_eval(node.value)["console_scripts"]
            return {name.strip(): target.strip() for name, target in (e.split("=") for e in entries)}
    raise AssertionError("setup.py has no entry_points")


def _ros_env() -> dict[str, str]:
    """This environment plus the venv as the underlay (the PyPI ROS wheels' prefix)."""
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = sys.prefix
    env["CMAKE_PREFIX_PATH"] = sys.prefix
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("colcon_ws")
    (ws / "src").mkdir()
    (ws / "src" / "seg_ros").symlink_to(REPO, target_is_directory=True)
    cmd = [str(COLCON), "build", "--base-paths", "src", "--event-handlers", "console_direct-",
           "--cmake-args", f"-DPython3_EXECUTABLE={VENV_BIN / 'python3'}", "-DBUILD_TESTING=OFF"]
    result = subprocess.run(cmd, cwd=ws, env=_ros_env(), capture_output=True, text=True, timeout=840)
    if result.returncode != 0:
        logs = "\n".join(p.read_text(errors="replace")[-4000:] for p in (ws / "log").glob("latest_build/seg_ros/*.log"))
        pytest.fail(f"colcon build failed ({result.returncode}):\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{logs}")
    return ws


def _in_workspace(ws: Path, command: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run a shell command with the workspace's install/setup.bash sourced (as a user would)."""
    return subprocess.run(["bash", "-c", f"source install/setup.bash && {command}"], cwd=ws,
                          env=env or _ros_env(), capture_output=True, text=True, timeout=timeout)


def test_executables_installed_for_every_console_script(workspace: Path) -> None:
    lib = workspace / "install" / "seg_ros" / "lib" / "seg_ros"
    scripts = _console_scripts()
    assert "segnet_node" in scripts
    for name, target in scripts.items():
        path = lib / name
        assert path.is_file() and os.access(path, os.X_OK), f"{path} missing or not executable"
        text = path.read_text(encoding="utf-8")
        module, function = target.split(":")
        assert text.startswith("#!") and f"from {module} import {function}" in text


def test_share_files_installed(workspace: Path) -> None:
    install = workspace / "install" / "seg_ros"
    share = install / "share" / "seg_ros"
    expected = ["package.xml", "launch/segnet.launch.py", "config/segnet.yaml", "config/segnet.rviz",
                "models/networks.yaml"] + [f"msg/{p.name}" for p in (REPO / "msg").glob("*.msg")]
    missing = [name for name in expected if not (share / name).is_file()]
    assert not missing, missing
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "seg_ros").is_file()


def test_installed_python_package_has_sources_and_messages(workspace: Path) -> None:
    code = ("import seg_ros, seg_ros.msg, seg_ros.registry, seg_ros.ros.node; "
            "from seg_ros.msg import SegmentationInfo, TrailHeading; "
            "from ament_index_python.packages import get_package_share_directory as share; "
            "print(seg_ros.registry.__file__); print(seg_ros.msg.__file__); print(share('seg_ros')); "
            "print(sorted(TrailHeading.get_fields_and_field_types()))")
    result = _in_workspace(workspace, f"{VENV_BIN / 'python3'} -c \"{code}\"")
    assert result.returncode == 0, result.stderr
    registry, msg, share, fields = result.stdout.strip().splitlines()
    site = workspace / "install" / "seg_ros" / "lib"
    assert Path(registry).is_relative_to(site) and Path(msg).is_relative_to(site), "not the colcon-installed package"
    assert Path(share) == workspace / "install" / "seg_ros" / "share" / "seg_ros"
    assert "'heading'" in fields and "'target'" in fields


def test_installed_segnet_node_runs_and_stops_on_sigint(workspace: Path) -> None:
    model = SHARED / "models" / "espnet-camvid-480x360"
    if not model.is_dir():
        pytest.skip(f"shared model missing: {model}")
    env = dds_env(random_domain(), _ros_env())
    log = workspace / "segnet_node.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"source install/setup.bash && exec install/seg_ros/lib/seg_ros/segnet_node "
                           f"--ros-args -p network:={model}"],
            cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None and "[segnet]" not in log.read_text():
                time.sleep(0.2)
            time.sleep(1.0)  # still alive a moment after start-up?
            assert proc.poll() is None, f"segnet_node exited ({proc.returncode}):\n{log.read_text()}"
            assert "[segnet]" in log.read_text(), f"no log from node 'segnet':\n{log.read_text()}"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
