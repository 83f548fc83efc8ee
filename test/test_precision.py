"""seg_ros.precision: FP16 / INT8 ONNX made from the FP32 model, cached, and accurate enough to run.

The accuracy test runs ESPNet-CamVid over all 78 CamVid test images on ONNX Runtime at fp32, fp16 and int8
(calibrated on the 62 disjoint training images of ../shared/data/camvid/calib), about a minute on 2 cores.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from shared_data import CAMVID_DATA, CAMVID_MODEL, require
from trt_standin import write_conv_stack_model

from seg_ros.errors import ConfigError, PrecisionError
from seg_ros.precision import (
    calibration_images,
    calibration_set_hash,
    convert_fp16,
    precision_model,
    spec_at_precision,
)
from seg_ros.registry import resolve_model

pytest.importorskip("onnxconverter_common")


@pytest.fixture
def spec(tmp_path):
    return resolve_model(str(write_conv_stack_model(tmp_path / "model")))


@pytest.fixture
def calib(tmp_path):
    folder = tmp_path / "calib"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (40, 80, 3), dtype=np.uint8))
    return folder


def test_fp16_keeps_float32_io_and_converts_weights(spec, tmp_path):
    model = precision_model(spec, "fp16", cache_dir=tmp_path / "cache")
    assert model.built and model.path.parent == tmp_path / "cache" and model.path.name.endswith("-fp16-r1.onnx")
    graph = onnx.load(str(model.path)).graph
    assert [v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)] == [TensorProto.FLOAT] * 2
    assert {i.data_type for i in graph.initializer} == {TensorProto.FLOAT16}
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((1, 3, 32, 64)).astype(np.float32)
    want = ort.InferenceSession(str(spec.onnx_path), providers=["CPUExecutionProvider"]).run(None, {"input_0": x})[0]
    got = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"]).run(None, {"input_0": x})[0]
    assert got.dtype == np.float32 and np.abs(got - want).max() < 0.02 * np.abs(want).max()
    assert np.abs(got - want).max() > 0  # really computed in FP16


def test_int8_is_symmetric_qdq_with_first_and_last_conv_in_float(spec, calib, tmp_path):
    model = precision_model(spec, "int8", calibration_dir=calib, cache_dir=tmp_path / "cache")
    graph = onnx.load(str(model.path)).graph
    assert model.calibration and model.path.name.endswith(f"-int8-r1-{model.calibration}.onnx")
    consumers = {i: n for n in graph.node for i in n.input}
    producers = {o: n for n in graph.node for o in n.output}
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    quantized = {name for name, n in convs.items() if producers.get(n.input[0]) is not None
                 and producers[n.input[0]].op_type == "DequantizeLinear"}
    assert quantized == {"conv1"}  # conv0 (first) and conv2 (last) stay in float
    w1 = producers[convs["conv1"].input[1]]
    assert w1.op_type == "DequantizeLinear"
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    assert inits[w1.input[1]].shape == (8,)  # one weight scale per output channel
    zero_points = [inits[n.input[2]] for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                   and len(n.input) > 2 and n.input[2] in inits]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)  # symmetric: TensorRT's form
    assert consumers["input_0"].name == "conv0"  # the network input is not quantized


def test_int8_calibration_goes_through_the_models_preprocessing(spec, calib, tmp_path, monkeypatch):
    from seg_ros import preprocess

    seen = []
    original = preprocess.Preprocessor.__call__

    def spy(self, image, out=None):  # noqa: ANN001, ANN202
        tensor = original(self, image, out)
        seen.append((image.copy(), tensor.copy()))
        return tensor

    monkeypatch.setattr(preprocess.Preprocessor, "__call__", spy)
    precision_model(spec, "int8", calibration_dir=calib, cache_dir=tmp_path / "cache")
    assert len(seen) == 4
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])  # default preprocessing (RGB)
    image, tensor = seen[0]
    assert tensor.shape == (1, 3, 32, 64)
    resized = cv2.resize(image, (64, 32), interpolation=cv2.INTER_NEAREST).astype(np.float64)
    np.testing.assert_allclose(tensor[0].transpose(1, 2, 0), (resized - mean) / std, rtol=1e-5, atol=1e-5)


def test_converted_models_are_cached_and_rebuilt_when_stale(spec, calib, tmp_path, caplog):
    cache = tmp_path / "cache"
    first = precision_model(spec, "fp16", cache_dir=cache)
    again = precision_model(spec, "fp16", cache_dir=cache)
    assert first.built and not again.built and again.path == first.path
    sidecar = json.loads(first.path.with_name(first.path.name + ".json").read_text())
    assert sidecar["key"] == {"source_sha256": first.source_sha256, "recipe_version": 1, "precision": "fp16",
                              "calibration": ""}
    first.path.write_bytes(first.path.read_bytes()[:100])  # truncated
    caplog.set_level(logging.INFO, "seg_ros")
    rebuilt = precision_model(spec, "fp16", cache_dir=cache)
    assert rebuilt.built and "does not match its sidecar" in caplog.text
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []

    write_conv_stack_model(spec.onnx_path.parent, seed=5)  # new weights: a new source sha, a new file
    other = precision_model(spec, "fp16", cache_dir=cache)
    assert other.built and other.path != first.path and other.source_sha256 != first.source_sha256


def test_int8_cache_follows_the_calibration_set(spec, calib, tmp_path):
    cache = tmp_path / "cache"
    first = precision_model(spec, "int8", calibration_dir=calib, cache_dir=cache)
    assert not precision_model(spec, "int8", calibration_dir=calib, cache_dir=cache).built
    reused = precision_model(spec, "int8", cache_dir=cache)  # no folder: the calibrated model is reused
    assert not reused.built and reused.path == first.path and reused.calibration == first.calibration
    cv2.imwrite(str(calib / "0.png"), np.zeros((40, 80, 3), np.uint8))  # same names, other contents
    second = precision_model(spec, "int8", calibration_dir=calib, cache_dir=cache)
    assert second.built and second.calibration != first.calibration and second.path != first.path


def test_calibration_set_hash_is_content_based(calib):
    images = calibration_images(calib)
    before = calibration_set_hash(images)
    assert len(before) == 16 and calibration_set_hash(images) == before
    data = images[1].read_bytes()
    images[1].write_bytes(data)  # rewritten (new mtime), same bytes
    assert calibration_set_hash(images) == before
    assert calibration_set_hash(images[:3]) != before


def test_int8_without_calibration_is_a_clear_error(spec, tmp_path):
    with pytest.raises(ConfigError, match=r"INT8 for model needs calibration images.*--calibration DIR"):
        precision_model(spec, "int8", cache_dir=tmp_path / "cache")


def test_calibration_folder_without_a_readable_image(spec, tmp_path, caplog):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(ConfigError, match=r"has no readable image \(no image files\)"):
        precision_model(spec, "int8", calibration_dir=folder, cache_dir=tmp_path / "cache")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ConfigError, match=r"has no readable image \(1 image file\(s\), none readable\)"):
        calibration_images(folder)
    with pytest.raises(ConfigError, match="does not exist"):
        calibration_images(tmp_path / "missing")
    cv2.imwrite(str(folder / "good.png"), np.zeros((8, 8, 3), np.uint8))
    caplog.set_level(logging.WARNING, "seg_ros")
    assert [p.name for p in calibration_images(folder)] == ["good.png"]
    assert "skipping 1 unreadable image(s)" in caplog.text and "broken.png" in caplog.text


def test_fp16_conversion_failure_names_the_op():
    # RandomNormalLike keeps its dtype attribute (FLOAT) while the converter declares its output FLOAT16.
    graph = helper.make_graph(
        [helper.make_node("RandomNormalLike", ["x"], ["noise"], dtype=TensorProto.FLOAT, name="noise32"),
         helper.make_node("Add", ["x", "noise"], ["y"], name="add_noise")],
        "mixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with pytest.raises(PrecisionError, match=r"FP16 conversion produced an invalid graph at op RandomNormalLike "
                                             r"\(node noise32\).*keep that op type in FP32"):
        convert_fp16(model)
    kept = convert_fp16(model, keep_fp32_ops=("RandomNormalLike",))  # what the message advises works
    assert [n.op_type for n in kept.graph.node if n.name == "noise32"] == ["RandomNormalLike"]

def test_unknown_precision_and_fp32_passthrough(spec, tmp_path):
    with pytest.raises(ConfigError, match="unknown precision 'int4'; choose one of fp32, fp16, int8"):
        precision_model(spec, "int4", cache_dir=tmp_path)
    assert precision_model(spec, "fp32", cache_dir=tmp_path).path == spec.onnx_path
    assert spec_at_precision(spec, "fp32") is spec
    assert not (tmp_path / "cache").exists()


def test_espnet_camvid_accuracy_at_each_precision(tmp_path):
    """FP16 agrees with FP32 on >= 99.5 % of pixels, mIoU within 0.3; INT8 mIoU within 1.5 (all 78 images)."""
    from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
    from seg_ros.classify import resize_class_map
    from seg_ros.cli.evaluate import pairs_from_list
    from seg_ros.evaluation import confusion_matrix, scores_from_confusion
    from seg_ros.media import read_image, read_label
    from seg_ros.model import load_model_dir
    from seg_ros.preprocess import Preprocessor

    spec = load_model_dir(require(CAMVID_MODEL))
    pairs = pairs_from_list(require(CAMVID_DATA) / "test.txt")
    labels = [read_label(label) for _, label in pairs]
    preprocessor = Preprocessor(spec.preprocessing, spec.input_size)
    tensors = [np.array(preprocessor(read_image(image))) for image, _ in pairs]
    results = {}
    for precision in ("fp32", "fp16", "int8"):
        calibration = CAMVID_DATA / "calib" if precision == "int8" else None
        run_spec = replace(spec, onnx_path=precision_model(spec, precision, calibration, tmp_path).path)
        backend = OnnxRuntimeBackend(run_spec, threads=2, optimization="extended")
        confusion = np.zeros((12, 12), np.int64)
        maps = []
        for tensor, label in zip(tensors, labels, strict=True):
            class_map = resize_class_map(backend.infer(tensor)[0].argmax(0).astype(np.uint8), label.shape[::-1])
            maps.append(class_map)
            confusion += confusion_matrix(label, class_map, 12, 11)
        results[precision] = (100 * scores_from_confusion(confusion, 11).mean_iou, np.stack(maps))
    fp32, fp16, int8 = (results[p][0] for p in ("fp32", "fp16", "int8"))
    assert round(fp32, 2) == 58.85  # the reference figure of ../shared/README.md
    assert (results["fp16"][1] == results["fp32"][1]).mean() >= 0.995
    assert abs(fp16 - fp32) <= 0.3
    assert abs(int8 - fp32) <= 1.5


def test_segnet_eval_precision_flags(spec, calib, tmp_path, capsys, caplog, monkeypatch):
    from seg_ros.cli.evaluate import main

    monkeypatch.setenv("SEG_ROS_PRECISION_DIR", str(tmp_path / "cache"))
    cv2.imwrite(str(tmp_path / "image.png"), np.full((32, 64, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "label.png"), np.zeros((32, 64), np.uint8))
    (tmp_path / "list.txt").write_text("image.png label.png\n")
    folder = str(spec.onnx_path.parent)
    common = [folder, "--list", str(tmp_path / "list.txt"), "--backend", "onnxruntime"]
    assert main([*common, "--precision", "int8"]) == 2
    assert "INT8 for model needs calibration images" in capsys.readouterr().err
    caplog.set_level(logging.INFO, "seg_ros")
    assert main([*common, "--precision", "int8", "--calibration", str(calib)]) == 0
    assert "inference backend: onnxruntime int8 (requested)" in caplog.text
    assert len(list((tmp_path / "cache").glob("*-int8-r1-*.onnx"))) == 1
    assert main([*common, "--precision", "fp16"]) == 0
    assert "inference backend: onnxruntime fp16 (requested)" in caplog.text


def test_int8_with_relative_paths_leaves_nothing_in_the_working_directory(spec, calib, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(tmp_path)
    relative = replace(spec, onnx_path=spec.onnx_path.relative_to(tmp_path))
    model = precision_model(relative, "int8", calibration_dir=calib.relative_to(tmp_path), cache_dir=tmp_path / "c")
    assert model.built and model.path.is_file()
    monkeypatch.chdir(work)
    precision_model(spec, "int8", calibration_dir=calib, cache_dir=tmp_path / "c", force=True)
    assert list(work.iterdir()) == []  # no augmented_model.onnx or other calibration leftovers


def test_segnet_precision_flags(spec, tmp_path, caplog, capsys, monkeypatch):
    from seg_ros.cli.segnet import main

    monkeypatch.setenv("SEG_ROS_PRECISION_DIR", str(tmp_path / "cache"))
    cv2.imwrite(str(tmp_path / "in.png"), np.full((32, 64, 3), 90, np.uint8))
    caplog.set_level(logging.INFO, "seg_ros")
    common = [str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--model", str(spec.onnx_path.parent),
              "--backend", "onnxruntime"]
    assert main([*common, "--precision", "fp16"]) == 0
    assert "inference backend: onnxruntime fp16 (requested)" in caplog.text and (tmp_path / "out.png").is_file()
    assert main([*common, "--precision", "int8", "--calibration", str(tmp_path / "nowhere")]) == 2
    assert "calibration folder" in capsys.readouterr().err
