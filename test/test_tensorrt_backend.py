"""TensorRT backend logic against recording stand-ins for tensorrt and pycuda (no GPU needed).

These check what the backend asks TensorRT and pycuda to do: engine cache use and invalidation, precision
(builder flags and calibrator on 8.x, strongly typed networks from the converted ONNX on 10.x and 11.x), the
TensorRT 8 (bindings) and 10/11 (tensor addresses) paths, validation errors and run-time failures. Tests that
hold for every version run against the stand-in of each of VERSIONS (8.6.1, 10.3.0, 10.13.3.9, 11.4.0.106).
The real engine is exercised by test_tensorrt_gpu.py where a GPU exists.
"""

import json
import logging
import threading

import numpy as np
import pytest
from trt_standin import (  # noqa: F401 - standin is a pytest fixture
    VERSIONS,
    standin,
    write_conv_stack_model,
    write_tiny_model,
)

from seg_ros.backends.tensorrt_backend import TensorRTBackend, build_engine
from seg_ros.engine_cache import file_sha256, sidecar_path
from seg_ros.errors import BackendError, ConfigError, ModelError
from seg_ros.registry import resolve_model

TYPED = ("10.3.0", "10.13.3.9", "11.4.0.106")  # strongly typed networks
STRONGLY_TYPED_FLAG = 1 << 1  # the stand-in's NetworkDefinitionCreationFlag.STRONGLY_TYPED


@pytest.fixture(autouse=True)
def precision_dir(tmp_path, monkeypatch):
    """Converted FP16/INT8 ONNX files of this test only."""
    monkeypatch.setenv("SEG_ROS_PRECISION_DIR", str(tmp_path / "onnx"))
    return tmp_path / "onnx"


@pytest.fixture(params=VERSIONS)
def trt(request, standin):  # noqa: F811
    """``trt(**facts)``: the stand-in of each tested TensorRT version in turn (test parametrised over VERSIONS)."""
    return lambda **facts: standin(**{"version": request.param, **facts})


def write_calibration_images(folder, values=(0, 100, 255)):  # noqa: ANN001, ANN201
    import cv2

    folder.mkdir()
    for i, value in enumerate(values):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 80, 3), value, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


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


@pytest.mark.parametrize("version", TYPED)
def test_trt10_and_11_build_strongly_typed_and_bind_by_tensor_name(standin, spec, cache, version):  # noqa: F811
    s = standin(version=version)
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert backend.name == "tensorrt"
    assert backend.input_shape == (1, 3, 32, 64) and backend.output_shape == (1, 3, 1, 2)
    # Strongly typed network from the FP16 ONNX of seg_ros.precision: no precision flags, no EXPLICIT_BATCH.
    assert s.called("create_network") == [("create_network", STRONGLY_TYPED_FLAG)]
    assert [c[2] for c in s.called("parse")] == ["fp16"]
    assert s.called("set_flag") == [] and s.called("build_serialized_network") == [
        ("build_serialized_network", [], "strongly-typed")]
    assert {c[1] for c in s.called("set_tensor_address")} == {"input_0", "output_0"}
    tensor = np.random.default_rng(1).standard_normal((1, 3, 32, 64)).astype(np.float32)
    out = backend.infer(tensor)
    np.testing.assert_array_equal(out, expected_output(tensor, 3, 1, 2))
    assert s.called("execute_async_v3") == [("execute_async_v3", 4242)] and not s.called("execute_async_v2")
    assert s.context_depth == 0  # every push was popped

    engine = cache / "model-64x32-fp16.engine"
    sidecar = json.loads(sidecar_path(engine).read_text())
    assert sidecar["key"]["tensorrt_version"] == version and sidecar["key"]["typing"] == "strongly-typed"
    assert sidecar["key"]["onnx_sha256"] != file_sha256(spec.onnx_path)  # the converted model's
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


def test_trt8_uses_explicit_batch_builder_flags_and_bindings(standin, spec, cache):  # noqa: F811
    s = standin(version="8.6.1")
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert ("create_network", 1) in s.calls  # 1 << EXPLICIT_BATCH
    assert [c[2] for c in s.called("parse")] == ["fp32"] and s.called("set_flag") == [("set_flag", 0)]  # FP16
    assert s.called("build_serialized_network") == [("build_serialized_network", [0], "weakly-typed")]
    tensor = np.full((1, 3, 32, 64), 2.5, np.float32)
    np.testing.assert_array_equal(backend.infer(tensor), expected_output(tensor, 3, 1, 2))
    (call,) = s.called("execute_async_v2")
    assert len(call[1]) == 2 and call[2] == 4242
    assert not s.called("set_tensor_address") and not s.called("execute_async_v3")


def test_second_start_reuses_the_engine(trt, spec, cache, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, "seg_ros")
    trt()
    TensorRTBackend(spec, cache_dir=cache).close()
    assert len(build_lines(caplog)) == 1 and "no cached engine" in build_lines(caplog)[0]
    caplog.clear()
    s = trt()
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


def test_changed_onnx_rebuilds(trt, spec, cache, caplog):  # noqa: F811
    trt()
    TensorRTBackend(spec, cache_dir=cache)
    write_tiny_model(spec.onnx_path.parent, (64, 32), 3, seed=7)  # new weights, same name and shape
    caplog.set_level(logging.INFO, "seg_ros")
    s = trt()
    TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    assert "onnx_sha256 changed" in build_lines(caplog)[0]


def test_precision_and_size_have_their_own_engines(trt, spec, cache, tmp_path):  # noqa: F811
    trt()
    TensorRTBackend(spec, cache_dir=cache)
    s = trt()
    TensorRTBackend(spec, precision="fp32", cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    other = resolve_model(str(write_tiny_model(tmp_path / "model2" / "model", (96, 64), 3)))
    TensorRTBackend(other, cache_dir=cache)
    assert sorted(p.name for p in cache.glob("*.engine")) == [
        "model-64x32-fp16.engine", "model-64x32-fp32.engine", "model-96x64-fp16.engine"]


def test_engine_that_fails_to_deserialise_is_rebuilt(trt, spec, cache, caplog):  # noqa: F811
    trt()
    TensorRTBackend(spec, cache_dir=cache)
    engine = cache / "model-64x32-fp16.engine"
    garbage = b"not an engine at all"
    engine.write_bytes(garbage)  # consistent sidecar, so only TensorRT can tell it is broken
    sidecar = json.loads(sidecar_path(engine).read_text())
    import hashlib

    sidecar.update(engine_bytes=len(garbage), engine_sha256=hashlib.sha256(garbage).hexdigest())
    sidecar_path(engine).write_text(json.dumps(sidecar))
    caplog.set_level(logging.INFO, "seg_ros")
    s = trt()
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("deserialize_cuda_engine")) == 2 and len(s.called("build_serialized_network")) == 1
    assert len(build_lines(caplog)) == 1 and "failed to deserialise" in build_lines(caplog)[0]
    assert backend.output_shape == (1, 3, 1, 2) and engine.read_bytes() != garbage


def test_truncated_engine_is_rebuilt(trt, spec, cache, caplog):  # noqa: F811
    trt()
    TensorRTBackend(spec, cache_dir=cache)
    engine = cache / "model-64x32-fp16.engine"
    engine.write_bytes(engine.read_bytes()[:10])
    caplog.set_level(logging.INFO, "seg_ros")
    s = trt()
    TensorRTBackend(spec, cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1
    assert "does not match its sidecar" in build_lines(caplog)[0]


def test_crash_while_writing_leaves_no_engine(trt, spec, cache, monkeypatch):  # noqa: F811
    class Crash(BaseException):
        pass

    def crash(fd):  # noqa: ANN001
        raise Crash()

    trt()  # fp32: the source ONNX on every version, so the crash hits the engine write itself
    monkeypatch.setattr("seg_ros.engine_cache.os.fsync", crash)
    with pytest.raises(Crash):
        TensorRTBackend(spec, precision="fp32", cache_dir=cache)
    assert list(cache.glob("*.engine")) == [] and [p for p in cache.iterdir() if p.suffix == ".tmp"] == []
    monkeypatch.undo()
    s = trt()
    TensorRTBackend(spec, precision="fp32", cache_dir=cache)
    assert len(s.called("build_serialized_network")) == 1


def test_trt8_fp16_flag_only_where_fp16_is_fast(standin, spec, cache, caplog):  # noqa: F811
    s = standin(version="8.6.1", fast_fp16=True)
    build_engine(spec, "fp16", cache_dir=cache)
    assert s.called("set_flag") == [("set_flag", 0)]  # BuilderFlag.FP16
    caplog.set_level(logging.WARNING, "seg_ros")
    s = standin(version="8.6.1", fast_fp16=False, gpu_name="Old GPU")
    build_engine(spec, "fp16", cache_dir=cache)
    assert s.called("set_flag") == [] and "no fast FP16" in caplog.text
    s = standin(version="8.6.1")
    build_engine(spec, "fp32", cache_dir=cache)
    assert s.called("set_flag") == []


@pytest.mark.parametrize("version", TYPED)
@pytest.mark.parametrize("precision, onnx", [("fp32", "fp32"), ("fp16", "fp16")])
def test_strongly_typed_precision_comes_from_the_onnx(standin, spec, cache, version, precision, onnx):  # noqa: F811
    s = standin(version=version, fast_fp16=False)  # no fast FP16 does not matter: the graph's types decide
    result = build_engine(spec, precision, cache_dir=cache)
    assert s.called("create_network") == [("create_network", STRONGLY_TYPED_FLAG)]
    assert [c[2] for c in s.called("parse")] == [onnx] and s.called("set_flag") == []
    assert result.key.typing == "strongly-typed" and result.built


@pytest.mark.parametrize("version, typing, flags", [("12.0.1", "strongly-typed", STRONGLY_TYPED_FLAG),
                                                    ("7.2.3", "builder-flags", 1)])
def test_untested_major_version_warns_then_tries(standin, spec, cache, caplog, version, typing, flags):  # noqa: F811
    caplog.set_level(logging.WARNING, "seg_ros")
    s = standin(version=version)
    backend = TensorRTBackend(spec, cache_dir=cache)
    assert f"TensorRT {version} is outside the tested versions" in caplog.text and typing in caplog.text
    assert backend.build.key.typing == typing and s.called("create_network") == [("create_network", flags)]
    caplog.clear()
    TensorRTBackend(spec, cache_dir=cache)
    assert "outside the tested versions" not in caplog.text  # warned once per version


def test_workspace_and_timing_cache(trt, spec, cache):  # noqa: F811
    s = trt()
    build_engine(spec, "fp32", workspace_mb=256, cache_dir=cache)
    assert ("set_memory_pool_limit", 0, 256 * 1024 * 1024) in s.calls  # MemoryPoolType.WORKSPACE
    assert s.called("create_timing_cache") == [("create_timing_cache", b"")]
    timing = list(cache.glob("timing-*.cache"))
    assert [p.name for p in timing] == [f"timing-trt{s.version}-standin-gpu-sm87.cache"]
    saved = timing[0].read_bytes()
    s = trt()
    result = build_engine(spec, "fp32", cache_dir=cache, force=True)
    assert result.built and result.reason == "rebuild requested"
    assert s.called("create_timing_cache") == [("create_timing_cache", saved)] and saved


def test_trt8_int8_calibrates_with_the_models_preprocessing(standin, spec, cache, tmp_path):  # noqa: F811
    images = write_calibration_images(tmp_path / "calib")
    s = standin(version="8.6.1")
    result = build_engine(spec, "int8", cache_dir=cache, calibration_dir=images)
    assert {c[1] for c in s.called("set_flag")} == {1, 0} and result.built  # BuilderFlag.INT8 and FP16
    assert [c[2] for c in s.called("parse")] == ["fp32"]
    assert s.called("IInt8EntropyCalibrator2.__init__") and s.called("calibrate") == [("calibrate", 1)]
    # write_model_dir's default preprocessing: RGB, ImageNet mean/std in 0..255 units.
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    assert len(s.calibration_batches) == 3
    for batch, value in zip(s.calibration_batches, (0, 100, 255), strict=True):
        chw = batch.reshape(3, 32, 64)
        np.testing.assert_allclose(chw[:, 0, 0], (value - mean) / std, rtol=1e-5)
    assert len(list(cache.glob("*.calib"))) == 1

    s = standin(version="8.6.1")  # same images: the calibration cache is read, no batches are requested
    build_engine(spec, "int8", cache_dir=cache, calibration_dir=images, force=True)
    assert s.called("calibrate") and s.calibration_batches == []

    s = standin(version="8.6.1")  # at run time without a calibration folder, the calibrated engine is reused
    backend = TensorRTBackend(spec, precision="int8", cache_dir=cache)
    assert not backend.build.built and not s.called("build_serialized_network")


@pytest.mark.parametrize("version", TYPED)
def test_strongly_typed_int8_builds_the_qdq_onnx_without_calibrator(standin, cache, tmp_path, version):  # noqa: F811
    spec = resolve_model(str(write_conv_stack_model(tmp_path / "stack")))  # first/last conv stay float: 3 convs
    images = write_calibration_images(tmp_path / "calib")
    s = standin(version=version)
    result = build_engine(spec, "int8", cache_dir=cache, calibration_dir=images)
    assert s.called("create_network") == [("create_network", STRONGLY_TYPED_FLAG)]
    assert [c[2] for c in s.called("parse")] == ["int8-qdq"]
    assert s.called("set_flag") == [] and not s.called("IInt8EntropyCalibrator2.__init__")
    assert result.key.calibration and list(cache.glob("*.calib")) == []
    s = standin(version=version)  # at run time without a calibration folder: the cached INT8 ONNX and engine
    backend = TensorRTBackend(spec, precision="int8", cache_dir=cache)
    assert not backend.build.built and not s.called("build_serialized_network")
    assert backend.build.key == result.key


def test_int8_without_engine_or_calibration_is_a_clear_error(trt, spec, cache, tmp_path):  # noqa: F811
    trt()
    with pytest.raises(BackendError, match="segnet-build-engine .* --precision int8 --calibration DIR"):
        TensorRTBackend(spec, precision="int8", cache_dir=cache)
    with pytest.raises(ConfigError, match=r"has no readable image \(no image files\)"):
        build_engine(spec, "int8", cache_dir=cache, calibration_dir=write_calibration_images(tmp_path / "c", ()))


def test_wrong_blob_names_are_model_errors(trt, spec, cache):  # noqa: F811
    from dataclasses import replace

    trt()
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


def test_class_count_mismatch_from_classes_txt(trt, spec, cache):  # noqa: F811
    (spec.onnx_path.parent / "classes.txt").write_text("a\nb\n")
    trt()
    with pytest.raises(ModelError, match="output has 3 channels but 2 classes"):
        TensorRTBackend(resolve_model(str(spec.onnx_path.parent)), cache_dir=cache)


def test_runtime_failures_become_backend_errors(trt, spec, cache):  # noqa: F811
    s = trt()
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


def test_build_failure_is_a_backend_error(trt, spec, cache):  # noqa: F811
    trt(build_fails=True)
    with pytest.raises(BackendError, match="could not build an engine"):
        TensorRTBackend(spec, cache_dir=cache)
    assert list(cache.glob("*.engine")) == []


def test_unparsable_onnx_is_a_backend_error(trt, spec, cache):  # noqa: F811
    spec.onnx_path.write_bytes(b"\x00garbage")
    s = trt()
    from dataclasses import replace

    with pytest.raises(BackendError, match="TensorRT cannot parse"):
        TensorRTBackend(replace(spec, input_size=(64, 32)), precision="fp32", cache_dir=cache)
    if s.strongly_typed:  # fp16 first converts the ONNX, which says it cannot read it
        with pytest.raises(ModelError, match="cannot load ONNX model"):
            TensorRTBackend(replace(spec, input_size=(64, 32)), cache_dir=cache)


def test_inference_from_another_thread(trt, spec, cache):  # noqa: F811
    s = trt()
    backend = TensorRTBackend(spec, cache_dir=cache)
    tensor = np.ones((1, 3, 32, 64), np.float32)
    results = []
    worker = threading.Thread(target=lambda: results.append(backend.infer(tensor)))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(results[0], expected_output(tensor, 3, 1, 2))
    assert s.context_depth == 0


def test_cache_dir_from_environment(trt, spec, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SEG_ROS_ENGINE_DIR", str(tmp_path / "env-engines"))
    trt()
    result = build_engine(spec)
    assert result.path == tmp_path / "env-engines" / "model-64x32-fp16.engine" and result.path.is_file()


def test_build_engine_cli_reports_time_and_path(trt, spec, cache, capsys):  # noqa: F811
    from seg_ros.cli.build_engine import main

    trt()
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
