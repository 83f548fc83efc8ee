"""Build the vision_msgs stand-in (test/interfaces/vision_msgs: LabelInfo + VisionClass) for tests that need it.

vision_msgs is not on PyPI. Its two messages that ``~/label_info`` uses are built here from definitions with the
public field layout (ros-perception/vision_msgs, ros2 branch, 4.1.1), with plain CMake and the venv's rosidl
(../shared/ROS_ON_PYPI.md, "Custom interfaces"), into a private prefix. A process sees them through the
environment that ``build_vision_msgs`` returns; the test process itself never imports them unless asked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent / "interfaces" / "vision_msgs"


def build_vision_msgs(workdir: Path) -> dict[str, str]:
    """Configure, build and install the stand-in under ``workdir``; returns the env entries that make it importable.

    Skips the test (pytest.skip) when CMake is missing; fails with the build log when the build fails.
    """
    prefix, build = workdir / "prefix", workdir / "build"
    venv = Path(sys.prefix)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv))
    steps = [
        ["cmake", "-S", str(SOURCE), "-B", str(build), "-Wno-dev", f"-DCMAKE_PREFIX_PATH={venv}",
         f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        ["cmake", "--build", str(build), "-j2"],
        ["cmake", "--install", str(build)],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600)
        except FileNotFoundError:
            pytest.skip("cmake is not installed")
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    version = sysconfig.get_python_version()
    site = prefix / "lib" / f"python{version}" / "site-packages"
    assert (site / "vision_msgs" / "msg" / "__init__.py").is_file(), f"no vision_msgs module under {site}"
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p),
        "LD_LIBRARY_PATH": os.pathsep.join(p for p in (str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH", ""))
                                           if p),
        "AMENT_PREFIX_PATH": os.pathsep.join([str(prefix), str(venv)]),
    }
