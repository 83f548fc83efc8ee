"""Engine cache keys, staleness reasons and crash-safe writes (seg_ros.engine_cache, no TensorRT needed)."""

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from seg_ros.engine_cache import (
    EngineKey,
    atomic_write_bytes,
    default_cache_dir,
    engine_path,
    file_sha256,
    key_changes,
    load_cached_engine,
    sidecar_path,
    store_engine,
    timing_cache_path,
)

KEY = EngineKey(onnx_sha256="a" * 64, tensorrt_version="10.3.0", gpu_name="Orin (nvgpu)", compute_capability="8.7",
                precision="fp16", input_shape=(1, 3, 320, 576))


REAL_FDOPEN = os.fdopen


class Crash(BaseException):
    """Stands for the process dying (power loss, SIGKILL) in the middle of a write."""


def test_default_cache_dir_env_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("SEG_ROS_ENGINE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "seg_ros" / "engines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "seg_ros" / "engines"
    monkeypatch.setenv("SEG_ROS_ENGINE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_file_sha256_of_known_content(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_paths_are_per_model_size_and_precision(tmp_path):
    path = engine_path(tmp_path, "fcn-resnet18-deepscene", KEY)
    assert path == tmp_path / "fcn-resnet18-deepscene-576x320-fp16.engine"
    path = engine_path(tmp_path, "My Model/v2", replace(KEY, precision="int8"))
    assert path.name == "my-model-v2-576x320-int8.engine"
    assert sidecar_path(tmp_path / "m.engine") == tmp_path / "m.engine.json"
    assert timing_cache_path(tmp_path, KEY).name == "timing-trt10.3.0-orin-nvgpu-sm87.cache"


@pytest.mark.parametrize("field, value, text", [
    ("onnx_sha256", "b" * 64, "onnx_sha256 changed (aaaaaaaaaaaa -> bbbbbbbbbbbb)"),
    ("tensorrt_version", "10.4.0", "tensorrt_version changed (10.3.0 -> 10.4.0)"),
    ("gpu_name", "RTX 4090", "gpu_name changed (Orin (nvgpu) -> RTX 4090)"),
    ("compute_capability", "8.9", "compute_capability changed (8.7 -> 8.9)"),
    ("precision", "fp32", "precision changed (fp16 -> fp32)"),
    ("input_shape", (1, 3, 512, 1024), "input_shape changed ((1, 3, 320, 576) -> (1, 3, 512, 1024))"),
    ("calibration", "0123456789abcdef", "calibration changed ( -> 0123456789abcdef)"),
    ("typing", "strongly-typed", "typing changed (builder-flags -> strongly-typed)"),
])
def test_each_key_component_is_reported(field, value, text):
    recorded = json.loads(json.dumps(KEY.to_dict()))  # as read back from a sidecar
    assert key_changes(recorded, KEY) == []
    assert key_changes(recorded, replace(KEY, **{field: value})) == [text]


def test_unknown_calibration_matches_any():
    recorded = replace(KEY, precision="int8", calibration="0123456789abcdef").to_dict()
    assert key_changes(recorded, replace(KEY, precision="int8", calibration=None)) == []


def test_lookup_reasons(tmp_path):
    engine = tmp_path / "m.engine"
    assert load_cached_engine(engine, KEY) == (None, f"no cached engine at {engine}")
    engine.write_bytes(b"engine")
    data, reason = load_cached_engine(engine, KEY)
    assert data is None and "sidecar m.engine.json missing or unreadable" in reason
    sidecar_path(engine).write_text("{ not json")
    assert "missing or unreadable" in load_cached_engine(engine, KEY)[1]

    store_engine(engine, KEY, b"engine-bytes", 1.5, "m")
    assert load_cached_engine(engine, KEY) == (b"engine-bytes", "cached engine is up to date")
    facts = json.loads(sidecar_path(engine).read_text())
    assert facts["model"] == "m" and facts["build_seconds"] == 1.5 and facts["engine_bytes"] == 12
    assert facts["key"]["gpu_name"] == "Orin (nvgpu)" and facts["key"]["input_shape"] == [1, 3, 320, 576]

    assert load_cached_engine(engine, replace(KEY, tensorrt_version="8.6.1"))[1] == \
        "tensorrt_version changed (10.3.0 -> 8.6.1)"
    engine.write_bytes(b"engine-bytez")  # same size, different content
    assert "does not match its sidecar" in load_cached_engine(engine, KEY)[1]


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and [p.name for p in target.parent.iterdir()] == ["f.bin"]


@pytest.mark.parametrize("stage", ["write", "fsync", "replace"])
def test_crash_mid_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch, stage):
    target = tmp_path / "f.engine"
    target.write_bytes(b"old complete engine")
    fresh = tmp_path / "new.engine"

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003
        raise Crash()

    if stage == "write":
        data = b"x" * 100
        monkeypatch.setattr("seg_ros.engine_cache.os.fdopen", lambda fd, mode: _HalfWriter(fd))
    else:
        data = b"new engine"
        monkeypatch.setattr(f"seg_ros.engine_cache.os.{stage}", crash)
    for path in (target, fresh):
        with pytest.raises(Crash):
            atomic_write_bytes(path, data)
    assert target.read_bytes() == b"old complete engine"
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["f.engine"]


class _HalfWriter:
    """A file object that writes half the data, then dies."""

    def __init__(self, fd: int) -> None:
        self._file = REAL_FDOPEN(fd, "wb")

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc):  # noqa: ANN002, ANN204
        self._file.close()

    def write(self, data: bytes) -> None:
        self._file.write(data[: len(data) // 2])
        self._file.flush()
        raise Crash()


def test_crash_between_engine_and_sidecar_is_detected(tmp_path, monkeypatch):
    engine = tmp_path / "m.engine"
    store_engine(engine, KEY, b"old engine", 1.0, "m")
    new_key = replace(KEY, tensorrt_version="10.4.0")
    real = atomic_write_bytes

    def crash_on_sidecar(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise Crash()
        real(path, data)

    monkeypatch.setattr("seg_ros.engine_cache.atomic_write_bytes", crash_on_sidecar)
    with pytest.raises(Crash):
        store_engine(engine, new_key, b"new engine", 1.0, "m")
    # The new engine sits next to the old sidecar: neither key can trust it.
    assert engine.read_bytes() == b"new engine"
    assert "does not match its sidecar" in load_cached_engine(engine, KEY)[1]
    assert load_cached_engine(engine, new_key)[0] is None


def test_sidecar_without_typing_is_rebuilt_as_strongly_typed():
    """Sidecars written before typing was recorded hold builder-flag engines: a strongly typed key rebuilds."""
    recorded = KEY.to_dict()
    del recorded["typing"]
    assert key_changes(recorded, replace(KEY, typing="strongly-typed")) == [
        "typing changed (None -> strongly-typed)"]
