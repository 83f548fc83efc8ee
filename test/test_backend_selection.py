"""backend: auto | tensorrt | onnxruntime — which backend is created, the logged reason, and the fallbacks."""

import logging
import sys

import numpy as np
import pytest
from trt_standin import standin, write_tiny_model  # noqa: F401 - standin is a pytest fixture

from seg_ros.backends import create_backend, select_backend
from seg_ros.errors import BackendError, ModelError
from seg_ros.registry import resolve_model
from seg_ros.segmenter import Segmenter


@pytest.fixture
def spec(tmp_path):
    return resolve_model(str(write_tiny_model(tmp_path / "tiny", (64, 32), 3)))


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import raises ImportError


def choice_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("inference backend:")]


def test_auto_without_tensorrt_uses_onnxruntime_and_says_why(spec, no_tensorrt, caplog):
    caplog.set_level(logging.INFO, "seg_ros")
    backend = create_backend(spec, "auto", threads=1)
    assert backend.name == "onnxruntime"
    assert backend.infer(np.zeros((1, 3, 32, 64), np.float32)).shape == (1, 3, 1, 2)
    (line,) = choice_lines(caplog)
    assert line.startswith("inference backend: onnxruntime (auto: tensorrt is not importable")
    assert caplog.records[0].name == "seg_ros"


def test_auto_without_pycuda_or_gpu(standin, monkeypatch):  # noqa: F811
    standin()
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    assert select_backend("auto")[0] == "onnxruntime" and "pycuda is not importable" in select_backend("auto")[1]
    standin(gpus=0)
    assert select_backend("auto") == ("onnxruntime", "auto: no CUDA GPU found")


def test_tensorrt_requested_where_it_cannot_run(spec, no_tensorrt):
    with pytest.raises(BackendError, match="'tensorrt' was requested but TensorRT cannot run here: tensorrt is not"):
        create_backend(spec, "tensorrt")


def test_tensorrt_requested_without_gpu(spec, standin):  # noqa: F811
    standin(gpus=0)
    with pytest.raises(BackendError, match="cannot run here: no CUDA GPU found"):
        create_backend(spec, "tensorrt")


def test_auto_with_tensorrt_and_gpu_uses_tensorrt(spec, standin, tmp_path, caplog):  # noqa: F811
    standin()
    caplog.set_level(logging.INFO, "seg_ros")
    backend = create_backend(spec, "auto", engine_cache_dir=tmp_path / "engines", precision="fp32")
    assert backend.name == "tensorrt" and backend.output_shape == (1, 3, 1, 2)
    (line,) = choice_lines(caplog)
    assert line.startswith("inference backend: tensorrt fp32 (auto: tensorrt and pycuda import")


def test_auto_falls_back_when_tensorrt_fails_to_start(spec, standin, tmp_path, caplog):  # noqa: F811
    standin(build_fails=True)
    caplog.set_level(logging.INFO, "seg_ros")
    backend = create_backend(spec, "auto", engine_cache_dir=tmp_path / "engines")
    assert backend.name == "onnxruntime"
    (line,) = choice_lines(caplog)
    assert "auto: TensorRT failed to start (TensorRT could not build an engine" in line


def test_requested_tensorrt_failure_is_raised(spec, standin, tmp_path):  # noqa: F811
    standin(build_fails=True)
    with pytest.raises(BackendError, match="could not build an engine"):
        create_backend(spec, "tensorrt", engine_cache_dir=tmp_path / "engines")


def test_model_errors_are_not_hidden_by_the_fallback(spec, standin, tmp_path):  # noqa: F811
    standin(engine_override={"outputs": [["output_0", [1, 7, 1, 2]]]})
    with pytest.raises(ModelError, match="output has 7 channels but 3 classes"):
        create_backend(spec, "auto", engine_cache_dir=tmp_path / "engines")


def test_onnxruntime_requested_never_touches_tensorrt(spec, monkeypatch, caplog):
    class Poison:
        def __getattr__(self, name):  # noqa: ANN001, ANN204
            raise AssertionError("tensorrt was consulted")

    monkeypatch.setitem(sys.modules, "tensorrt", Poison())
    caplog.set_level(logging.INFO, "seg_ros")
    assert create_backend(spec, "onnxruntime").name == "onnxruntime"
    assert choice_lines(caplog) == ["inference backend: onnxruntime (requested)"]


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'cuda'"):
        select_backend("cuda")


def test_segmenter_runs_on_the_tensorrt_standin(spec, standin, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SEG_ROS_ENGINE_DIR", str(tmp_path / "engines"))
    standin()
    seg = Segmenter(spec, backend="tensorrt", ignore_class=None)
    result = seg.segment(np.zeros((48, 80, 3), np.uint8))
    # Stand-in logits are channel 0 + class index, so the last class wins everywhere.
    assert seg.grid_size == (2, 1) and result.class_map.tolist() == [[2, 2]]
