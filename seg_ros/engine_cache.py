"""TensorRT engine cache: what an engine was built from, where it lives, and crash-safe writes.

Pure module (no TensorRT import): an engine is only valid for the ONNX bytes, TensorRT version, GPU
(name and compute capability), precision and input shape it was built with. Those facts form the
:class:`EngineKey`; each engine file has a JSON sidecar recording the key plus the engine's own sha256,
so a stale, truncated or foreign engine is detected before TensorRT ever sees it.

Layout of the cache folder (``$SEG_ROS_ENGINE_DIR``, else ``$XDG_CACHE_HOME/seg_ros/engines``)::

    <model>-<W>x<H>-<precision>.engine        serialized engine (one slot per model, size and precision)
    <model>-<W>x<H>-<precision>.engine.json   sidecar: key facts, engine sha256 and size, build time
    timing-trt<version>-<gpu>-sm<cc>.cache     TensorRT timing cache shared by builds on that GPU
    <model>-<W>x<H>-<onnx sha>-<set>.calib    INT8 calibration cache of one calibration image set
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

# atomic_write_bytes and file_sha256 are used here and re-exported for the TensorRT backend
from seg_ros.cache import atomic_write_bytes, cache_root, file_sha256, file_slug  # noqa: F401

ENGINE_DIR_ENV = "SEG_ROS_ENGINE_DIR"
PRECISIONS = ("fp16", "fp32", "int8")


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on; any change means the engine must be rebuilt.

    ``onnx_sha256`` is the ONNX TensorRT parsed: the model's own for builder-flag networks (TensorRT 8), the
    converted FP16 / INT8 ONNX of seg_ros.precision for strongly typed ones. ``calibration`` identifies the INT8
    calibration image set (content hash); ``None`` on a lookup means "whichever set the cached engine was
    calibrated with" (a robot reusing an engine built ahead of time). ``typing`` is how precision was chosen.
    """

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_shape: tuple[int, int, int, int]
    calibration: str | None = ""
    typing: str = "builder-flags"  # or "strongly-typed" (TensorRT 10/11: precision from the ONNX's types)

    def to_dict(self) -> dict:
        """The key as JSON-ready data (the sidecar's ``key``)."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data


def default_cache_dir() -> Path:
    """``$SEG_ROS_ENGINE_DIR`` if set, else ``$XDG_CACHE_HOME/seg_ros/engines`` (default ~/.cache/...)."""
    override = os.environ.get(ENGINE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return cache_root() / "engines"


def engine_path(cache_dir: Path, model_name: str, key: EngineKey) -> Path:
    """The engine slot of one model, input size and precision; other key facts live in the sidecar."""
    _, _, height, width = key.input_shape
    return Path(cache_dir) / f"{file_slug(model_name)}-{width}x{height}-{key.precision}.engine"


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def timing_cache_path(cache_dir: Path, key: EngineKey) -> Path:
    """Timing caches are only valid for one TensorRT version on one GPU model."""
    return Path(cache_dir) / (f"timing-trt{file_slug(key.tensorrt_version)}-{file_slug(key.gpu_name)}"
                              f"-sm{key.compute_capability.replace('.', '')}.cache")


def calibration_cache_path(cache_dir: Path, model_name: str, key: EngineKey) -> Path:
    _, _, height, width = key.input_shape
    return Path(cache_dir) / f"{file_slug(model_name)}-{width}x{height}-{key.onnx_sha256[:12]}-{key.calibration}.calib"


def key_changes(recorded: dict, key: EngineKey) -> list[str]:
    """Human-readable differences between a sidecar's recorded key and the wanted key (empty = match)."""
    changes = []
    for f in fields(EngineKey):
        want = getattr(key, f.name)
        if want is None:  # "any": see EngineKey
            continue
        have = recorded.get(f.name)
        if f.name == "input_shape":
            have = tuple(have) if isinstance(have, list) else have
        if have != want:
            if f.name == "onnx_sha256" and isinstance(have, str):
                have, want = have[:12], want[:12]
            changes.append(f"{f.name} changed ({have} -> {want})")
    return changes


def load_cached_engine(engine: Path, key: EngineKey) -> tuple[bytes | None, str]:
    """The cached engine bytes if they are valid for ``key``; otherwise None and why not."""
    if not engine.is_file():
        return None, f"no cached engine at {engine}"
    try:
        recorded = json.loads(sidecar_path(engine).read_text(encoding="utf-8"))
        if not isinstance(recorded, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return None, f"sidecar {sidecar_path(engine).name} missing or unreadable ({exc})"
    changes = key_changes(recorded.get("key") or {}, key)
    if changes:
        return None, "; ".join(changes)
    try:
        data = engine.read_bytes()
    except OSError as exc:
        return None, f"cannot read cached engine {engine}: {exc.strerror or exc}"
    if len(data) != recorded.get("engine_bytes") or hashlib.sha256(data).hexdigest() != recorded.get("engine_sha256"):
        return None, f"cached engine {engine.name} does not match its sidecar (truncated or overwritten)"
    return data, "cached engine is up to date"


def store_engine(engine: Path, key: EngineKey, data: bytes, build_seconds: float, model_name: str) -> None:
    """Atomically write the engine, then its sidecar.

    A crash between the two leaves a new engine next to an old sidecar whose recorded sha256 does not
    match, so the next lookup rebuilds instead of trusting it.
    """
    atomic_write_bytes(engine, data)
    sidecar = {
        "model": model_name,
        "key": key.to_dict(),
        "engine_sha256": hashlib.sha256(data).hexdigest(),
        "engine_bytes": len(data),
        "build_seconds": round(build_seconds, 3),
    }
    atomic_write_bytes(sidecar_path(engine), (json.dumps(sidecar, indent=2) + "\n").encode())
