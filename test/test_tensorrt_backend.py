"""TensorRT backend logic against recording stand-ins for tensorrt and pycuda (no GPU needed).

These check what the backend asks TensorRT and pycuda to do: engine cache use and invalidation, precision
flags, the TensorRT 8 (bindings) and 10 (tensor addresses) paths, validation errors and run-time failures.
The real engine is exercised by test_tensorrt_gpu.py where a GPU exists.
"""

import json
import logging
import threading

import numpy as np
import pytest
from trt_standin import standin, write_tiny_model  # noqa: F401 - standin is a pytest fixture

from seg_ros.backends.tensorrt_backend import TensorRTBackend, build_engine
from seg_ros.engine_cache import sidecar_path
from seg_ros.errors import BackendError, ModelError
from seg_ros.registry import resolve_model


@pytest.fixture
def spec(tmp_path):
    return resolve_model(str(write_tiny_model(tmp_path / "model", (64, 32), 3)))


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "engines"


def build_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "seg_ros" and "building TensorRT" in r.getMessage()]


def expected_output(tensor: np.ndarray, classes: int, h: int, w: int) -> np.ndarray:
    """What the stand-in engine computes: channel 0 of the input sampled on the grid, plus the class index."""
    rows, cols = np.arange(h) * tensor.shape[2] // h, np.arange(w) * tensor.shape[3] // w
    grid = tensor[0, 0][np.ix_(rows, cols)]
    return np.stack([grid + c for c in range(classes)])[None].astype(np.float32)


def test_trt10_builds_caches_and_binds_by_tensor_name(standin, spec, cache):  # noqa: F811
    s = standin(version="10.3.0")
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert backend.name == "tensorrt"
    assert backend.input_shape == (1, 3, 32, 64) and backend.output_shape == (1, 3, 1, 2)
    assert ("create_network", 0) in s.calls  # no EXPLICIT_BATCH flag in TensorRT 10
    assert {c[1] for c in s.called("set_tensor_address")} == {"input_0", "output_0"}
    tensor = np.random.default_rng(1).standard_normal((1, 3, 32, 64)).astype(np.float32)
    out = backend.infer(tensor)
    np.testing.assert_array_equal(out, expected_output(tensor, 3, 1, 2))
    assert s.called("execute_async_v3") == [("execute_async_v3", 4242)] and not s.called("execute_async_v2")
    assert s.context_depth == 0  # every push was popped

    engine = cache / "model-64x32-fp16.engine"
    sidecar = json.loads(sidecar_path(engine).read_text())
    assert sidecar["key"]["tensorrt_version"] == "10.3.0"
    assert sidecar["key"]["gpu_name"] == "Standin GPU" and sidecar["key"]["compute_capability"] == "8.7"
    assert sidecar["key"]["precision"] == "fp16" and sidecar["key"]["input_shape"] == [1, 3, 32, 64]
    assert sidecar["engine_bytes"] == engine.stat().st_size
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []
    backend.close()
    assert s.called("detach") and len(s.called("free")) == 2
    # Pinned host buffers and the stream go while the context is still current, before it is released.
    assert s.called("free_host") == [("free_host", 1), ("free_host", 1)]
    assert s.called("stream_destroyed") == [("stream_destroyed", 1)]
    names = s.names()
    assert max(names.index(n) for n in ("free", "free_host", "stream_destroyed")) < names.index("detach")
    backend.close()  # idempotent
    assert len(s.called("detach")) == 1 and len(s.called("free_host")) == 2
    with pytest.raises(BackendError, match="closed"):
        backend.infer(tensor)


def test_trt8_uses_explicit_batch_and_bindings(standin, spec, cache):  # noqa: F811
    s = standin(version="8.6.1")
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert ("create_network", 1) in s.calls  # 1 << EXPLICIT_BATCH
    tensor = np.full((1, 3, 32, 64), 2.5, np.float32)
    np.testing.assert_array_equal(backend.infer(tensor), expected_output(tensor, 3, 1, 2))
    (call,) = s.called("execute_async_v2")
    assert len(call[1]) == 2 and call[2] == 4242
    assert not s.called("set_tensor_address") and not s.called("execute_async_v3")


def test_second_start_reuses_the_engine(standin, spec, cache, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, "seg_ros")
    standin()
    TensorRTBackend(spec, cache_dir=cache).close()
    assert len(build_lines(caplog)) == 1 and "no cached engine" in build_lines(caplog)[0]
    caplog.clear()
    s = standin()
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert not s.called("build_serialized_network") and not backend.build.built
    assert build_lines(caplog) == []


@pytest.mark.parametrize("change, expect", [
    ({"version": "10.4.0"}, "tensorrt_version changed (10.3.0 -> 10.4.0)"),
    ({"gpu_name": "Other GPU"}, "gpu_name changed (Standin GPU -> Other GPU)"),
    ({"capability": (9, 0)}, "compute_capability changed (8.7 -> 9.0)"),
])
def test_key_change_rebuilds_with_one_line_naming_it(standin, spec, cache, caplog, change, expect):  # noqa: F811
    standin()
    TensorRTBackend(spec, cache_dir=cache)
    caplog.set_level(logging.INFO, "seg_ros")
    s = standin(**change)
    TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    assert len(build_lines(caplog)) == 1 and expect in build_lines(caplog)[0]


def test_changed_onnx_rebuilds(standin, spec, cache, caplog):  # noqa: F811
    standin()
    TensorRTBackend(spec, cache_dir=cache)
    write_tiny_model(spec.onnx_path.parent, (64, 32), 3, seed=7)  # new weights, same name and shape
    caplog.set_level(logging.INFO, "seg_ros")
    s = standin()
    TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    assert "onnx_sha256 changed" in build_lines(caplog)[0]


def test_precision_and_size_have_their_own_engines(standin, spec, cache, tmp_path):  # noqa: F811
    standin()
    TensorRTBackend(spec, cache_dir=cache)
    s = standin()
    TensorRTBackend(spec, precision="fp32", cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    other = resolve_model(str(write_tiny_model(tmp_path / "model2" / "model", (96, 64), 3)))
    TensorRTBackend(other, cache_dir=cache)
    assert sorted(p.name for p in cache.glob("*.engine")) == [
        "model-64x32-fp16.engine", "model-64x32-fp32.engine", "model-96x64-fp16.engine"]


def test_engine_that_fails_to_deserialise_is_rebuilt(standin, spec, cache, caplog):  # noqa: F811
    standin()
    TensorRTBackend(spec, cache_dir=cache)
    engine = cache / "model-64x32-fp16.engine"
    garbage = b"not an engine at all"
    engine.write_bytes(garbage)  # consistent sidecar, so only TensorRT can tell it is broken
    sidecar = json.loads(sidecar_path(engine).read_text())
    import hashlib

    sidecar.update(engine_bytes=len(garbage), engine_sha256=hashlib.sha256(garbage).hexdigest())
    sidecar_path(engine).write_text(json.dumps(sidecar))
    caplog.set_level(logging.INFO, "seg_ros")
    s = standin()
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("deserialize_cuda_engine")) == 2 and len(s.called("build_serialized_network")) == 1
    assert len(build_lines(caplog)) == 1 and "failed to deserialise" in build_lines(caplog)[0]
    assert backend.output_shape == (1, 3, 1, 2) and engine.read_bytes() != garbage


def test_truncated_engine_is_rebuilt(standin, spec, cache, caplog):  # noqa: F811
    standin()
    TensorRTBackend(spec, cache_dir=cache)
    engine = cache / "model-64x32-fp16.engine"
    engine.write_bytes(engine.read_bytes()[:10])
    caplog.set_level(logging.INFO, "seg_ros")
    s = standin()
    TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    assert "does not match its sidecar" in build_lines(caplog)[0]


def test_crash_while_writing_leaves_no_engine(standin, spec, cache, monkeypatch):  # noqa: F811
    class Crash(BaseException):
        pass

    def crash(fd):  # noqa: ANN001
        raise Crash()

    standin()
    monkeypatch.setattr("seg_ros.engine_cache.os.fsync", crash)
    with pytest.raises(Crash):
        TensorRTBackend(spec, cache_dir=cache)
    assert list(cache.glob("*.engine")) == [] and [p for p in cache.iterdir() if p.suffix == ".tmp"] == []
    monkeypatch.undo()
    s = standin()
    TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1


def test_fp16_flag_only_where_fp16_is_fast(standin, spec, cache, caplog):  # noqa: F811
    s = standin(fast_fp16=True)
    build_engine(spec, "fp16", cache_dir=cache)
    assert s.called("set_flag") == [("set_flag", "FP16")]
    caplog.set_level(logging.WARNING, "seg_ros")
    s = standin(fast_fp16=False, gpu_name="Old GPU")
    build_engine(spec, "fp16", cache_dir=cache)
    assert s.called("set_flag") == [] and "no fast FP16" in caplog.text
    s = standin()
    build_engine(spec, "fp32", cache_dir=cache)
    assert s.called("set_flag") == []


def test_workspace_and_timing_cache(standin, spec, cache):  # noqa: F811
    s = standin()
    build_engine(spec, "fp32", workspace_mb=256, cache_dir=cache)
    assert ("set_memory_pool_limit", "WORKSPACE", 256 * 1024 * 1024) in s.calls
    assert s.called("create_timing_cache") == [("create_timing_cache", b"")]
    timing = list(cache.glob("timing-*.cache"))
    assert [p.name for p in timing] == ["timing-trt10.3.0-standin-gpu-sm87.cache"]
    saved = timing[0].read_bytes()
    s = standin()
    result = build_engine(spec, "fp32", cache_dir=cache, force=True)
    assert result.built and result.reason == "rebuild requested"
    assert s.called("create_timing_cache") == [("create_timing_cache", saved)] and saved


def test_int8_calibrates_with_the_models_preprocessing(standin, spec, cache, tmp_path):  # noqa: F811
    import cv2

    images = tmp_path / "calib"
    images.mkdir()
    for i, value in enumerate((0, 100, 255)):
        cv2.imwrite(str(images / f"{i}.png"), np.full((40, 80, 3), value, np.uint8))
    (images / "notes.txt").write_text("not an image")
    s = standin()
    result = build_engine(spec, "int8", cache_dir=cache, calibration_dir=images)
    assert {c[1] for c in s.called("set_flag")} == {"INT8", "FP16"} and result.built
    assert s.called("IInt8EntropyCalibrator2.__init__") and s.called("calibrate") == [("calibrate", 1)]
    # write_model_dir's default preprocessing: RGB, ImageNet mean/std in 0..255 units.
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    assert len(s.calibration_batches) == 3
    for batch, value in zip(s.calibration_batches, (0, 100, 255), strict=True):
        chw = batch.reshape(3, 32, 64)
        np.testing.assert_allclose(chw[:, 0, 0], (value - mean) / std, rtol=1e-5)
    assert len(list(cache.glob("*.calib"))) == 1

    s = standin()  # same images: the calibration cache is read, no batches are requested
    build_engine(spec, "int8", cache_dir=cache, calibration_dir=images, force=True)
    assert s.called("calibrate") and s.calibration_batches == []

    s = standin()  # at run time without a calibration folder, the calibrated engine is reused
    backend = TensorRTBackend(spec, precision="int8", cache_dir=cache)
    assert not backend.build.built and not s.called("build_serialized_network")


def test_int8_without_engine_or_calibration_is_a_clear_error(standin, spec, cache):  # noqa: F811
    standin()
    with pytest.raises(BackendError, match="segnet-build-engine .* --precision int8 --calibration DIR"):
        TensorRTBackend(spec, precision="int8", cache_dir=cache)
    with pytest.raises(ModelError, match="has no images"):
        build_engine(spec, "int8", cache_dir=cache, calibration_dir=cache.parent / "model")


def test_wrong_blob_names_are_model_errors(standin, spec, cache):  # noqa: F811
    from dataclasses import replace

    standin()
    with pytest.raises(ModelError, match="no input named 'data'"):
        TensorRTBackend(replace(spec, input_blob="data"), cache_dir=cache)
    with pytest.raises(ModelError, match="no output named 'logits'"):
        TensorRTBackend(replace(spec, output_blob="logits"), cache_dir=cache)


def test_engine_validation_against_the_model(standin, spec, cache):  # noqa: F811
    standin(engine_override={"inputs": [["image", [1, 3, 32, 64]]]})
    with pytest.raises(ModelError, match="engine has no input named 'input_0'"):
        TensorRTBackend(spec, cache_dir=cache)
    standin(engine_override={"inputs": [["input_0", [1, 1, 32, 64]]]})
    with pytest.raises(ModelError, match=r"has shape \(1, 1, 32, 64\), expected \(1, 3, 32, 64\)"):
        TensorRTBackend(spec, cache_dir=cache)
    standin(engine_override={"outputs": [["output_0", [1, 5, 1, 2]]]})
    with pytest.raises(ModelError, match="output has 5 channels but 3 classes"):
        TensorRTBackend(spec, cache_dir=cache)
    s = standin(version="8.6.1", engine_override={"outputs": [["output_0", [3, 1, 2]]]})
    with pytest.raises(ModelError, match=r"must be \(1,C,h,w\)"):
        TensorRTBackend(spec, cache_dir=cache)
    assert s.context_depth == 0 and s.called("detach")  # a failed start releases the context


def test_class_count_mismatch_from_classes_txt(standin, spec, cache):  # noqa: F811
    (spec.onnx_path.parent / "classes.txt").write_text("a\nb\n")
    standin()
    with pytest.raises(ModelError, match="output has 3 channels but 2 classes"):
        TensorRTBackend(resolve_model(str(spec.onnx_path.parent)), cache_dir=cache)


def test_runtime_failures_become_backend_errors(standin, spec, cache):  # noqa: F811
    s = standin()
    backend = TensorRTBackend(spec, cache_dir=cache)
    with pytest.raises(BackendError, match="input must have shape"):
        backend.infer(np.zeros((1, 3, 64, 32), np.float32))
    s.execute_ok = False
    with pytest.raises(BackendError, match="execution context reported an error"):
        backend.infer(np.zeros((1, 3, 32, 64), np.float32))
    s.execute_ok, s.copy_error = True, "an illegal memory access was encountered"
    with pytest.raises(BackendError, match="illegal memory access"):
        backend.infer(np.zeros((1, 3, 32, 64), np.float32))
    s.copy_error = None
    assert backend.infer(np.zeros((1, 3, 32, 64), np.float32)).shape == (1, 3, 1, 2)
    assert s.context_depth == 0


def test_build_failure_is_a_backend_error(standin, spec, cache):  # noqa: F811
    standin(build_fails=True)
    with pytest.raises(BackendError, match="could not build an engine"):
        TensorRTBackend(spec, cache_dir=cache)
    assert list(cache.glob("*.engine")) == []


def test_unparsable_onnx_is_a_backend_error(standin, spec, cache):  # noqa: F811
    spec.onnx_path.write_bytes(b"\x00garbage")
    standin()
    from dataclasses import replace

    with pytest.raises(BackendError, match="TensorRT cannot parse"):
        TensorRTBackend(replace(spec, input_size=(64, 32)), cache_dir=cache)


def test_inference_from_another_thread(standin, spec, cache):  # noqa: F811
    s = standin()
    backend = TensorRTBackend(spec, cache_dir=cache)
    tensor = np.ones((1, 3, 32, 64), np.float32)
    results = []
    worker = threading.Thread(target=lambda: results.append(backend.infer(tensor)))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(results[0], expected_output(tensor, 3, 1, 2))
    assert s.context_depth == 0


def test_cache_dir_from_environment(standin, spec, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SEG_ROS_ENGINE_DIR", str(tmp_path / "env-engines"))
    standin()
    result = build_engine(spec)
    assert result.path == tmp_path / "env-engines" / "model-64x32-fp16.engine" and result.path.is_file()


def test_build_engine_cli_reports_time_and_path(standin, spec, cache, capsys):  # noqa: F811
    from seg_ros.cli.build_engine import main

    standin()
    folder = str(spec.onnx_path.parent)
    assert main([folder, "--precision", "fp32", "--workspace", "64", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("built fp32 engine for model in ") and str(cache / "model-64x32-fp32.engine") in out
    assert main([folder, "--precision", "fp32", "--cache-dir", str(cache)]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_build_engine_cli_without_tensorrt(spec, monkeypatch, capsys):
    import sys

    from seg_ros.cli.build_engine import main

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main([str(spec.onnx_path.parent)]) == 2
    assert "TensorRT cannot run on this machine: tensorrt is not importable" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(spec.onnx_path.parent), "--precision", "int8"])
    assert "--precision int8 needs --calibration DIR" in capsys.readouterr().err
