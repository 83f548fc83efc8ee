"""Start ``segnet_node`` as a child process with DDS-safe settings (live demo, benchmark, tests).

DDS on a shared host (../shared/ROS_ON_PYPI.md): shared-memory transport only (no UDP, no multicast; 4 MB
messages carry a 720p rgb8 image) and a random ``ROS_DOMAIN_ID`` so concurrent runs never see each other.
``ROS_AUTOMATIC_DISCOVERY_RANGE`` would override the transport setting and is removed. No rclpy import here.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from seg_ros.paths import package_file

SHM_TRANSPORT = "SHM?max_msg_size=4MB&sockets_size=32MB"


def random_domain() -> int:
    """A random ROS_DOMAIN_ID, avoiding 100..199 (what `make` targets pick) and the top of the valid range."""
    rng = random.SystemRandom()
    return rng.randint(1, 99) if rng.random() < 0.5 else rng.randint(200, 230)


def dds_env(domain: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) set up for a DDS-safe ROS process."""
    env = dict(os.environ if base is None else base)
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    env["FASTDDS_BUILTIN_TRANSPORTS"] = SHM_TRANSPORT
    env["ROS_DOMAIN_ID"] = str(int(domain))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def make_process_dds_safe(domain: int) -> None:
    """Apply ``dds_env`` to this process; call before rclpy.init."""
    os.environ.update(dds_env(domain))
    os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)


def params_file() -> Path | None:
    """config/segnet.yaml of a source checkout, else the installed share/seg_ros/config copy."""
    try:
        return package_file("config", "segnet.yaml")
    except FileNotFoundError:
        return None


def node_command(params: Mapping[str, object], node_name: str | None = None,
                 remappings: Mapping[str, str] | None = None) -> list[str]:
    """The ``segnet_node`` command line (venv console script, else ``python -m seg_ros.ros.node``)."""
    exe = Path(sys.executable).with_name("segnet_node")
    cmd = [str(exe)] if exe.is_file() else ([shutil.which("segnet_node")] if shutil.which("segnet_node")
                                           else [sys.executable, "-m", "seg_ros.ros.node"])
    cmd.append("--ros-args")
    config = params_file()
    if config is not None:
        cmd += ["--params-file", str(config)]
    if node_name:
        cmd += ["-r", f"__node:={node_name}"]
    for src, dst in (remappings or {}).items():
        cmd += ["-r", f"{src}:={dst}"]
    for key, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        cmd += ["-p", f"{key}:={text}"]
    return cmd


def start_node(domain: int, params: Mapping[str, object], log: IO[bytes] | int | None = None,
               node_name: str | None = None, extra_env: Mapping[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.Popen:
    """Start ``segnet_node`` on ``domain``; stdout and stderr go to ``log``."""
    env = dds_env(domain)
    env.update(extra_env or {})
    return subprocess.Popen(node_command(params, node_name), env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=cwd)


def stop_node(proc: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGINT the node and wait for its exit code; kill it if it does not exit within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)
