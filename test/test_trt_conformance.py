"""The TensorRT backend and its stand-in against the real TensorRT Python API: 8.6.1, 10.3.0, 10.13.3.9, 11.4.0.106.

The binding wheels (``tensorrt-bindings``, ``tensorrt-cu12-bindings``; about 1 MB each) download from PyPI with
``pip download --no-deps`` into ``~/.cache/seg_ros/trt-bindings`` (``$SEG_ROS_TRT_BINDINGS_DIR``), once. Their
module cannot be imported here (its libraries come from NVIDIA's own index and need a GPU), but every name it
binds (classes, methods, properties, enum members) is a string in the extension module, and ``nptype`` and
``__version__`` are defined in its ``__init__.py``. For each version the test checks that

(a) every public ``tensorrt`` name the backend looked up while building (fp32, fp16, int8, a dynamic batch) and
    running an engine on that version's stand-in exists in that version, and
(b) the stand-in of that version offers nothing the real version lacks,

so the stand-in tests in test_tensorrt_backend.py exercise each version's real API. Without PyPI the test
skips with a message saying so. Limits: a name is checked to exist in the module, not on a given class, and
pycuda is not checked (its API is stable across these versions).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from trt_standin import VERSIONS, standin, write_conv_stack_model, write_tiny_model  # noqa: F401 - fixture

from seg_ros.backends.tensorrt_backend import TensorRTBackend, build_engine
from seg_ros.registry import resolve_model

WHEELS = {
    "8.6.1": "tensorrt-bindings==8.6.1",
    "10.3.0": "tensorrt-cu12-bindings==10.3.0",
    "10.13.3.9": "tensorrt-cu12-bindings==10.13.3.9",
    "11.4.0.106": "tensorrt-cu12-bindings==11.4.0.106",
}
BINDINGS_DIR_ENV = "SEG_ROS_TRT_BINDINGS_DIR"


def bindings_dir() -> Path:
    """The persistent wheel cache (test runs point XDG_CACHE_HOME at a fresh folder, so not under it)."""
    override = os.environ.get(BINDINGS_DIR_ENV)
    return Path(override) if override else Path.home() / ".cache" / "seg_ros" / "trt-bindings"


class BindingNames:
    """The names one binding wheel's ``tensorrt`` module offers, read from its files without importing it."""

    def __init__(self, wheel: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            members = archive.namelist()
            self.binary = archive.read(next(n for n in members if re.search(r"/tensorrt[^/]*\.so$", n)))
            init = archive.read(next(n for n in members if n.endswith("/__init__.py") and n.count("/") == 1))
        self.python: set[str] = set()
        for node in ast.parse(init).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                self.python.add(node.name)
            elif isinstance(node, ast.Assign):
                self.python.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def __contains__(self, name: str) -> bool:
        """``name`` is bound: defined in ``__init__.py``, or a NUL-terminated string of the extension module.

        The linker merges a string into the tail of a longer one (``num_errors`` lives inside
        ``get_num_errors``), so the character before the name may be a NUL, an identifier character, ``.`` or
        ``:``, but not a space (which would be prose in a docstring).
        """
        if name in self.python:
            return True
        return re.search(rb"[\x00A-Za-z0-9_.:]" + re.escape(name.encode()) + rb"\x00", self.binary) is not None


def _wheel(folder: Path, version: str) -> Path | None:
    project = WHEELS[version].split("==")[0].replace("-", "_")
    return next(iter(sorted(folder.glob(f"{project}-{version}-*.whl"))), None)


def _pypi_unreachable() -> str | None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/tensorrt-bindings/", timeout=10).close()
    except (urllib.error.URLError, OSError) as exc:
        return f"PyPI is unreachable ({getattr(exc, 'reason', exc)})"
    return None


@pytest.fixture(scope="module")
def real() -> dict[str, BindingNames]:
    """The four versions' names; downloads the wheels that are not cached yet, or skips without PyPI."""
    folder = bindings_dir()
    folder.mkdir(parents=True, exist_ok=True)
    missing = [v for v in WHEELS if _wheel(folder, v) is None]
    if missing:
        reason = _pypi_unreachable()
        if reason is not None:
            pytest.skip(f"cannot download the TensorRT binding wheels {', '.join(missing)}: {reason}")
        for version in missing:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                   "--disable-pip-version-check", "-q", "-d", str(folder), WHEELS[version]],
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0 and _wheel(folder, version), \
                f"pip download {WHEELS[version]} failed: {done.stderr.strip()[-500:]}"
    return {v: BindingNames(_wheel(folder, v)) for v in WHEELS}


@pytest.mark.parametrize("name, present_in", [
    ("execute_async_v2", {"8.6.1"}),  # bindings API: gone in 10
    ("num_bindings", {"8.6.1"}),
    ("get_binding_index", {"8.6.1"}),
    ("EXPLICIT_BATCH", {"8.6.1", "10.3.0", "10.13.3.9"}),  # deprecated in 10, removed in 11
    ("STRONGLY_TYPED", {"10.3.0", "10.13.3.9", "11.4.0.106"}),
    ("FP16", {"8.6.1", "10.3.0", "10.13.3.9"}),  # weak typing: removed in 11
    ("platform_has_fast_fp16", {"8.6.1", "10.3.0", "10.13.3.9"}),
    ("int8_calibrator", {"8.6.1", "10.3.0", "10.13.3.9"}),
    ("IInt8EntropyCalibrator2", {"8.6.1", "10.3.0", "10.13.3.9"}),
    ("execute_async_v3", set(VERSIONS)),
    ("set_tensor_address", set(VERSIONS)),
    ("num_errors", set(VERSIONS)),  # only as the tail of get_num_errors
    ("nptype", set(VERSIONS)),  # defined in __init__.py
    ("no_such_tensorrt_name", set()),
])
def test_name_extraction_reproduces_known_api_changes(real, name, present_in):
    """The reading of the binaries agrees with TensorRT's documented API changes (so the checks below can fail)."""
    assert {v for v in VERSIONS if name in real[v]} == present_in


def exercise(standin_factory, version: str, tmp_path: Path):  # noqa: ANN001, ANN201
    """Build fp32, fp16 and int8 engines, one with a dynamic batch, and run them on ``version``'s stand-in."""
    import cv2

    images = tmp_path / "calib"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), np.full((40, 80, 3), 60 * i, np.uint8))
    cache = tmp_path / "engines"
    s = standin_factory(version=version)
    tiny = resolve_model(str(write_tiny_model(tmp_path / "tiny")))
    dynamic = resolve_model(str(write_tiny_model(tmp_path / "dynamic", dynamic_batch=True)))
    stack = resolve_model(str(write_conv_stack_model(tmp_path / "stack")))
    for spec, precision in ((tiny, "fp32"), (tiny, "fp16"), (dynamic, "fp16")):
        backend = TensorRTBackend(spec, precision=precision, cache_dir=cache)
        backend.infer(np.zeros(backend.input_shape, np.float32))
        backend.close()
    build_engine(stack, "int8", cache_dir=cache, calibration_dir=images)
    backend = TensorRTBackend(stack, precision="int8", cache_dir=cache)  # deserialised from the cache
    backend.infer(np.zeros(backend.input_shape, np.float32))
    backend.close()
    return s


@pytest.mark.parametrize("version", VERSIONS)
def test_backend_uses_only_names_the_real_version_has(real, standin, tmp_path, monkeypatch, version):  # noqa: F811
    monkeypatch.setenv("SEG_ROS_PRECISION_DIR", str(tmp_path / "onnx"))
    s = exercise(standin, version, tmp_path)
    assert {"create_network", "build_serialized_network", "deserialize_cuda_engine"} <= s.used  # it ran
    assert ("execute_async_v2" in s.used) == (version == "8.6.1")
    assert ("FP16" in s.used) == (version == "8.6.1")  # builder flags only where strong typing is unavailable
    lacking = sorted(n for n in s.used if n not in real[version])
    assert lacking == [], f"the backend uses names TensorRT {version} does not have: {lacking}"


@pytest.mark.parametrize("version", VERSIONS)
def test_standin_offers_nothing_the_real_version_lacks(real, standin, tmp_path, monkeypatch, version):  # noqa: F811
    monkeypatch.setenv("SEG_ROS_PRECISION_DIR", str(tmp_path / "onnx"))
    s = exercise(standin, version, tmp_path)  # instance attributes are offered as they are set
    assert {"Builder", "OnnxParser", "Runtime"} <= s.offered
    extra = sorted(n for n in s.offered if n not in real[version])
    assert extra == [], f"the stand-in of TensorRT {version} offers names the real one lacks: {extra}"
