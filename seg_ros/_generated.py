"""Where the rosidl-generated ``seg_ros.msg`` code lives, so the source package can expose it.

rosidl generates the ``seg_ros.msg`` subpackage and its compiled type-support modules at build time.
A colcon install merges them into the one installed ``seg_ros`` folder. In a venv with an editable
(``pip install -e .``) source package, ``tools/build_interfaces.sh`` installs them to
``<prefix>/lib/seg_ros/python/seg_ros`` instead, because a second ``seg_ros`` folder on ``sys.path`` would
shadow the editable sources; ``seg_ros/__init__.py`` appends that folder to ``seg_ros.__path__``.
"""

from __future__ import annotations

import sys
from pathlib import Path

GENERATED_SUBDIR = Path("lib", "seg_ros", "python", "seg_ros")


def generated_package_dirs(package_dirs: list[str], prefixes: list[str] | None = None) -> list[str]:
    """Folders with generated seg_ros modules to add to the package path; none if the package has its own msg/."""
    if any((Path(d) / "msg" / "__init__.py").is_file() for d in package_dirs):
        return []
    found = []
    for prefix in dict.fromkeys(prefixes if prefixes is not None else [sys.prefix]):
        candidate = Path(prefix) / GENERATED_SUBDIR
        if (candidate / "msg" / "__init__.py").is_file() and str(candidate) not in package_dirs:
            found.append(str(candidate))
    return found
