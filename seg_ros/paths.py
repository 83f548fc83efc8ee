"""Where seg_ros finds files that are not Python modules: the shared test material and its own package files.

One lookup for each, used by the CLIs, the demos, the benchmarks and the tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SHARED_ENV = "SEG_ROS_SHARED"
PACKAGE = "seg_ros"
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The shared material folder (models, CamVid, jetson-inference samples): ``$SEG_ROS_SHARED``, else ``../shared``.

    ``../shared`` is taken beside the source checkout (the folder holding ``seg_ros/``). The path is
    returned whether or not it exists; callers that need it check and say so.
    """
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else SOURCE_ROOT.parent / "shared"


def package_file(*parts: str) -> Path:
    """A file shipped with the package (``models/networks.yaml``, ``config/segnet.yaml``, ...).

    Looked up in the source checkout first, then the ament index's ``share/seg_ros`` (colcon), then
    ``<sys.prefix>/share/seg_ros`` (``pip install``). Raises FileNotFoundError naming every place looked in.
    """
    candidates = [SOURCE_ROOT.joinpath(*parts)]
    try:  # installed by colcon: share/seg_ros under the package's ament prefix
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)).joinpath(*parts))
    except Exception:  # noqa: BLE001 - ament_index is optional (absent off-ROS, raises when not found)
        pass
    candidates.append(Path(sys.prefix, "share", PACKAGE).joinpath(*parts))  # pip install
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(f"{'/'.join(parts)} not found (looked in: {', '.join(str(p) for p in candidates)})")
