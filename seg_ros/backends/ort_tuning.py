"""Choose ONNX Runtime's graph optimisation level per model by measuring, and remember the choice.

``ORT_ENABLE_ALL`` adds layout transforms (NCHWc) that speed some networks up and slow others down: the
FCN-ResNet18 shape is faster with ALL, ESPNet-CamVid with EXTENDED (README: measured figures). ``auto`` times
both once per (model file, thread count, ONNX Runtime version, CPU) and caches the winner in
``$XDG_CACHE_HOME/seg_ros/ort_tuning.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seg_ros.cache import atomic_write_bytes, cache_root, file_sha256

LEVELS = ("auto", "basic", "extended", "all")
TIMED_RUNS = 3


def tuning_file() -> Path:
    return cache_root() / "ort_tuning.json"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def tuning_key(onnx_path: Path, threads: int, ort_version: str) -> str:
    return f"{file_sha256(onnx_path)}|threads={threads}|ort={ort_version}|cpu={_cpu_name()}|cores={os.cpu_count()}"


def _read() -> dict:
    try:
        data = json.loads(tuning_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(entries: dict) -> None:
    try:
        atomic_write_bytes(tuning_file(), json.dumps(entries, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # a read-only cache only costs a re-measurement next time


def median_run_ms(run: Callable[[np.ndarray], object], tensor: np.ndarray, runs: int = TIMED_RUNS) -> float:
    """Median wall time of ``runs`` calls after one warm-up call."""
    run(tensor)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(tensor)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def cached_level(key: str) -> str | None:
    entry = _read().get(key)
    level = entry.get("level") if isinstance(entry, dict) else None
    return level if level in ("basic", "extended", "all") else None


def remember_level(key: str, level: str, timings_ms: dict[str, float]) -> None:
    entries = _read()
    entries[key] = {"level": level, "median_ms": {k: round(v, 2) for k, v in timings_ms.items()}}
    _write(entries)
