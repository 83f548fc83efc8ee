"""Locate ../shared (real models and data) for tests; skip cleanly where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from seg_ros.paths import shared_root

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()
CAMVID_MODEL = SHARED / "models" / "espnet-camvid-480x360"
CITYSCAPES_MODEL = SHARED / "models" / "espnet-cityscapes-1024x512"
CAMVID_DATA = SHARED / "data" / "camvid"
JETSON_IMAGES = SHARED / "data" / "jetson-inference" / "images"
JETSON_QA = SHARED / "data" / "jetson-inference" / "qa"


def require(path: Path) -> Path:
    """Return ``path`` or skip the test when the shared material is not there."""
    if not path.exists():
        pytest.skip(f"shared test material missing: {path}")
    return path
