"""Exported models as real training tool-chains write them (issue 9 C): each a small ONNX built here.

The networks are 1x1 convolutions whose class is the dominant colour channel, run on a red | green | blue
stripes image: the left third must be class 0 (red), the middle class 1 (green), the right class 2 (blue).
Variants end in ArgMax (class ids, several integer types, with and without the channel axis), a sigmoid on one
channel (binary models), channels-last logits, fp16 and uint8 inputs, a dynamic input size, and a graph that
fails only when run (warm-up and tuning must fail like a frame does).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from seg_ros.backends import ort_tuning  # noqa: E402
from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from seg_ros.defaults import DEFAULT_ALPHA  # noqa: E402
from seg_ros.errors import BackendError, ConfigError, ModelError  # noqa: E402
from seg_ros.registry import resolve_model  # noqa: E402
from seg_ros.segmenter import Segmenter  # noqa: E402

W, H = 48, 24  # network input; the stripes image has the same size, so class map columns are image columns
RGB_NAMES = "red\ngreen\nblue\n"
# Pixel values reach the network as x / 255 (model.yaml below): red (255, 0, 0) -> (1, 0, 0).
PLAIN = "preprocessing:\n  mean: [0, 0, 0]\n  std: [255, 255, 255]\n"


def stripes(width: int = W, height: int = H) -> np.ndarray:
    """HxWx3 uint8 RGB: red, green, blue vertical thirds."""
    image = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    for c in range(3):
        image[:, c * third:(c + 1) * third, c] = 255
    return image


def expected_thirds(width: int = W, height: int = H, ids: tuple[int, int, int] = (0, 1, 2)) -> np.ndarray:
    out = np.zeros((height, width), np.uint8)
    third = width // 3
    for c, class_id in enumerate(ids):
        out[:, c * third:(c + 1) * third] = class_id
    return out


def write_model(folder, nodes, inits, output, *, input_type=TensorProto.FLOAT, input_dims=(1, 3, H, W),
                classes=RGB_NAMES, model_yaml=PLAIN, opset=13):
    """A model folder: model.onnx (input ``input_0``, output ``output_0`` as ``output`` describes), classes.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(nodes, "layouts", [helper.make_tensor_value_info("input_0", input_type,
                                                                               list(input_dims))],
                              [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "classes.txt").write_text(classes)
    if model_yaml is not None:
        (folder / "model.yaml").write_text(model_yaml)
    return folder


def colour_conv(x: str, out: str, inits: list, weight: np.ndarray | None = None, bias: np.ndarray | None = None):
    """A 1x1 convolution node: ``out[c] = sum_k weight[c, k] * x[k] + bias[c]`` (default: the identity on RGB)."""
    weight = np.eye(3, dtype=np.float32) if weight is None else weight.astype(np.float32)
    inits.append(numpy_helper.from_array(weight.reshape(weight.shape[0], 3, 1, 1), f"{out}_w"))
    inputs = [x, f"{out}_w"]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias.astype(np.float32), f"{out}_b"))
        inputs.append(f"{out}_b")
    return helper.make_node("Conv", inputs, [out])


def segment_stripes(folder, **kwargs):
    segmenter = Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1, **kwargs)
    return segmenter, segmenter.segment(stripes())


# ---- class ids in the graph (mmsegmentation / mmdeploy: ArgMax at the end) ---------------------------------------
@pytest.mark.parametrize("keepdims, dims", [(1, [1, 1, H, W]), (0, [1, H, W])])
@pytest.mark.parametrize("cast", [None, TensorProto.INT32, TensorProto.UINT8])
def test_argmax_class_ids_of_any_integer_type_with_or_without_channel_axis(tmp_path, keepdims, dims, cast, caplog):
    inits: list = []
    nodes = [colour_conv("input_0", "logits", inits),
             helper.make_node("ArgMax", ["logits"], ["ids" if cast else "output_0"], axis=1, keepdims=keepdims)]
    if cast:
        nodes.append(helper.make_node("Cast", ["ids"], ["output_0"], to=cast))
    out_type = cast or TensorProto.INT64
    # Four names for three colours: the example ("output has 1 channels but 4 classes" was the refusal).
    folder = write_model(tmp_path / "argmax", nodes, inits, helper.make_tensor_value_info("output_0", out_type, dims),
                         classes=RGB_NAMES + "other\n")
    caplog.set_level(logging.INFO, "seg_ros")
    segmenter, seg = segment_stripes(folder)
    np.testing.assert_array_equal(seg.class_map, expected_thirds())
    assert seg.class_map.dtype == np.uint8 and segmenter.grid_size == (W, H)
    assert np.bincount(seg.class_map.ravel(), minlength=4).tolist() == [H * W // 3] * 3 + [0]
    assert seg.logits is None and not segmenter.has_scores
    assert segmenter.layout.kind == "class_ids"
    notes = [r.getMessage() for r in caplog.records if "no class scores" in r.getMessage()]
    type_name = {None: "int64", TensorProto.INT32: "int32", TensorProto.UINT8: "uint8"}[cast]
    assert notes == [f"argmax outputs class ids {tuple(dims)} {type_name}: no class scores, so the grid samples "
                     "the class map (nearest) and there is no confidence; ignore_class does not apply"]
    segmenter.segment(stripes())
    assert len([r for r in caplog.records if "no class scores" in r.getMessage()]) == 1  # said once


def test_class_id_beyond_the_class_names_is_a_model_error(tmp_path):
    inits: list = []
    nodes = [colour_conv("input_0", "logits", inits),
             helper.make_node("ArgMax", ["logits"], ["output_0"], axis=1, keepdims=1)]
    folder = write_model(tmp_path / "argmax", nodes, inits,
                         helper.make_tensor_value_info("output_0", TensorProto.INT64, [1, 1, H, W]),
                         classes="red\ngreen\n")
    segmenter = Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1)
    with pytest.raises(ModelError) as err:
        segmenter.segment(stripes())
    assert str(err.value) == "the model output class id 2, but only 2 classes are listed (ids 0..1)"


# ---- single-channel sigmoid probabilities (binary models) -------------------------------------------------------
def sigmoid_model(folder, classes: str, dims=(1, 1, H, W)):
    """p = sigmoid(8 * (red - 0.5)): about 0.98 on the red stripe, 0.02 elsewhere."""
    inits: list = []
    nodes = [colour_conv("input_0", "z", inits, weight=np.array([[8.0, 0.0, 0.0]]), bias=np.array([-4.0])),
             helper.make_node("Sigmoid", ["z"], ["p" if len(dims) == 3 else "output_0"])]
    if len(dims) == 3:
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "axes"))
        nodes.append(helper.make_node("Squeeze", ["p", "axes"], ["output_0"]))
    return write_model(folder, nodes, inits,
                       helper.make_tensor_value_info("output_0", TensorProto.FLOAT, list(dims)), classes=classes)


@pytest.mark.parametrize("classes, names", [("person\n", ("background", "person")),
                                            ("background\nroad\n", ("background", "road"))])
@pytest.mark.parametrize("dims", [(1, 1, H, W), (1, H, W)])
def test_single_channel_sigmoid_is_foreground_over_background(tmp_path, classes, names, dims):
    folder = sigmoid_model(tmp_path / "binary", classes, dims)
    segmenter, seg = segment_stripes(folder)
    assert segmenter.spec.class_names == names and segmenter.layout.kind == "probability"
    # Red third is the foreground (class 1), green and blue thirds the background (class 0): 1/3 foreground.
    np.testing.assert_array_equal(seg.class_map, expected_thirds(ids=(1, 0, 0)))
    assert np.bincount(seg.class_map.ravel(), minlength=2).tolist() == [2 * H * W // 3, H * W // 3]
    # Scores (0, logit p): their softmax gives back the graph's probability, sigmoid(8 * (x - 0.5)).
    exp = np.exp(seg.logits.astype(np.float64))
    prob = exp[1] / exp.sum(axis=0)
    red = stripes()[:, :, 0] / 255.0
    np.testing.assert_allclose(prob, 1.0 / (1.0 + np.exp(-8.0 * (red - 0.5))), atol=1e-5)


def test_single_name_gets_a_transparent_background_and_its_own_colour(tmp_path):
    folder = sigmoid_model(tmp_path / "binary", "person\n")
    (folder / "colors.txt").write_text("200 30 40\n")
    spec = resolve_model(str(folder))
    assert spec.class_names == ("background", "person")
    np.testing.assert_array_equal(spec.colors, [[0, 0, 0, 0], [200, 30, 40, DEFAULT_ALPHA]])
    assert spec.explicit_alpha.tolist() == [True, False]


def test_single_channel_with_more_class_names_names_the_layout(tmp_path):
    folder = sigmoid_model(tmp_path / "binary", RGB_NAMES)
    with pytest.raises(ModelError) as err:
        Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1)
    assert str(err.value) == (f"{folder / 'model.onnx'}: output 'output_0' is (1, 1, {H}, {W}) float32: one channel, "
                              "read as a foreground probability, which needs one class name (foreground over an "
                              "implicit background) or two (background, foreground); "
                              f"{folder / 'classes.txt'} lists 3")


# ---- other output layouts ---------------------------------------------------------------------------------------
def test_channels_last_logits_are_recognised(tmp_path):
    inits: list = []
    nodes = [colour_conv("input_0", "logits", inits),
             helper.make_node("Transpose", ["logits"], ["output_0"], perm=[0, 2, 3, 1])]
    folder = write_model(tmp_path / "nhwc", nodes, inits,
                         helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, H, W, 3]))
    segmenter, seg = segment_stripes(folder)
    assert segmenter.layout.kind == "scores_nhwc" and segmenter.grid_size == (W, H)
    np.testing.assert_array_equal(seg.class_map, expected_thirds())
    assert seg.logits.shape == (3, H, W) and seg.logits.flags.c_contiguous
    np.testing.assert_allclose(seg.logits[:, 0, 0], [1.0, 0.0, 0.0])  # red pixel / 255 through the identity


def test_unsupported_layout_is_named_without_blaming_the_class_names(tmp_path):
    inits: list = [numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [colour_conv("input_0", "logits", inits), helper.make_node("Unsqueeze", ["logits", "axes"], ["output_0"])]
    folder = write_model(tmp_path / "5d", nodes, inits,
                         helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 1, 3, H, W]))
    with pytest.raises(ModelError) as err:
        Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1)
    assert str(err.value) == (f"{folder / 'model.onnx'}: output 'output_0' is (1, 1, 3, {H}, {W}) float32: class "
                              "scores must be (1,C,h,w) or (1,h,w,C) float, a foreground probability (1,1,h,w) or "
                              "(1,h,w) float, class ids (1,1,h,w) or (1,h,w) of an integer type")
    assert "classes.txt" not in str(err.value)


def test_batch_of_several_is_named(tmp_path):
    inits: list = []
    nodes = [colour_conv("input_0", "logits", inits),
             helper.make_node("Concat", ["logits", "logits"], ["output_0"], axis=0)]
    folder = write_model(tmp_path / "batch", nodes, inits,
                         helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [2, 3, H, W]))
    with pytest.raises(ModelError) as err:
        Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1)
    assert str(err.value).endswith(f"output 'output_0' is (2, 3, {H}, {W}) float32: a batch of 2; seg_ros runs one "
                                   "image at a time (batch 1)")


# ---- inputs that are not float32 --------------------------------------------------------------------------------
def fp16_model(folder):
    """fp16 input, float32 output (an fp16 export that keeps float32 outputs)."""
    inits: list = []
    nodes = [helper.make_node("Cast", ["input_0"], ["x"], to=TensorProto.FLOAT), colour_conv("x", "output_0", inits)]
    return write_model(folder, nodes, inits, helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 3, H, W]),
                       input_type=TensorProto.FLOAT16)


def test_fp16_input_is_fed_fp16_including_the_tuning_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = fp16_model(tmp_path / "fp16")
    spec = resolve_model(str(folder))
    backend = OnnxRuntimeBackend(spec, threads=1)  # optimization auto: the one-time tuning runs here
    assert backend.input_dtype == np.float16 and backend.optimization in ("all", "extended")
    (entry,) = json.loads(ort_tuning.tuning_file().read_text()).values()  # tuning finished and was cached
    assert entry["level"] == backend.optimization
    seg = Segmenter(spec, backend=backend).segment(stripes())
    np.testing.assert_array_equal(seg.class_map, expected_thirds())
    np.testing.assert_allclose(seg.logits[:, 0, 0], [1.0, 0.0, 0.0], atol=1e-3)


def uint8_model(folder, model_yaml=None):
    """uint8 input, normalisation inside the graph (Cast, x / 255), then the colour convolution."""
    inits: list = [numpy_helper.from_array(np.array(1 / 255, np.float32), "k")]
    nodes = [helper.make_node("Cast", ["input_0"], ["x"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "k"], ["xs"]), colour_conv("xs", "output_0", inits)]
    return write_model(folder, nodes, inits, helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 3, H, W]),
                       input_type=TensorProto.UINT8, model_yaml=model_yaml)


def test_uint8_input_gets_raw_pixels(tmp_path):
    segmenter, seg = segment_stripes(uint8_model(tmp_path / "u8"))
    assert segmenter.backend.input_dtype == np.uint8
    tensor = segmenter.preprocessor(stripes())
    assert tensor.dtype == np.uint8
    np.testing.assert_array_equal(tensor[0], stripes().transpose(2, 0, 1))  # no mean/std: the pixels themselves
    np.testing.assert_array_equal(seg.class_map, expected_thirds())
    np.testing.assert_allclose(seg.logits[:, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)


def test_uint8_input_keeps_channel_order_and_normalises_only_when_model_yaml_says(tmp_path):
    # BGR: the red stripe reaches input channel 2, so it becomes class 2 (and blue class 0).
    _, seg = segment_stripes(uint8_model(tmp_path / "bgr", "preprocessing:\n  channel_order: bgr\n"))
    np.testing.assert_array_equal(seg.class_map, expected_thirds(ids=(2, 1, 0)))
    # Stated normalisation: (x - 55) / 1, rounded and clipped to 0..255 -> 200 on the coloured channel, 0 elsewhere.
    segmenter, _ = segment_stripes(uint8_model(tmp_path / "norm", "preprocessing:\n  mean: [55, 55, 55]\n"
                                                                 "  std: [1, 1, 1]\n"))
    tensor = segmenter.preprocessor(stripes())
    assert sorted(np.unique(tensor).tolist()) == [0, 200]


# ---- dynamic input size: one documented way -----------------------------------------------------------------------
def dynamic_model(folder, model_yaml=PLAIN):
    inits: list = []
    return write_model(folder, [colour_conv("input_0", "output_0", inits)], inits,
                       helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 3, "height", "width"]),
                       input_dims=(1, 3, "height", "width"), model_yaml=model_yaml)


def test_dynamic_size_without_a_size_names_the_three_ways(tmp_path):
    folder = dynamic_model(tmp_path / "dyn")
    with pytest.raises(ModelError) as err:
        Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1)
    assert str(err.value) == (f"{folder / 'model.onnx'}: input 'input_0' has a dynamic size (?x?); give one with "
                              "`input: size: [W, H]` in model.yaml, `segnet --input-size WxH` or the node parameter "
                              "input_size")


def test_dynamic_size_from_model_yaml_or_given_size(tmp_path):
    folder = dynamic_model(tmp_path / "dyn", PLAIN + "input:\n  size: [60, 30]\n")
    segmenter = Segmenter(resolve_model(str(folder)), backend="onnxruntime", threads=1)
    assert segmenter.input_size == (60, 30) and segmenter.grid_size == (60, 30)
    np.testing.assert_array_equal(segmenter.segment(stripes(60, 30)).class_map, expected_thirds(60, 30))
    # resolve_model(input_size=...) is what the node parameter input_size and segnet --input-size use
    given = Segmenter(resolve_model(str(folder), input_size="36x12"), backend="onnxruntime", threads=1)
    assert given.input_size == (36, 12)
    np.testing.assert_array_equal(given.segment(stripes(36, 12)).class_map, expected_thirds(36, 12))


def test_fixed_input_refuses_another_size(tmp_path):
    inits: list = []
    folder = write_model(tmp_path / "fixed", [colour_conv("input_0", "output_0", inits)], inits,
                         helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 3, H, W]))
    with pytest.raises(ModelError) as err:
        Segmenter(resolve_model(str(folder), input_size="64x64"), backend="onnxruntime", threads=1)
    assert str(err.value) == f"{folder / 'model.onnx'}: input is {W}x{H}, model description says 64x64"


@pytest.mark.parametrize("text", ["640", "640x", "ax480", "640x480x3", "0x480"])
def test_bad_input_size_text(text):
    from seg_ros.model import parse_input_size

    with pytest.raises(ConfigError, match="input size must"):
        parse_input_size(text)


def test_segnet_cli_input_size_flag(tmp_path, capsys):
    import cv2

    from seg_ros.cli.segnet import main

    folder = dynamic_model(tmp_path / "dyn")
    image = tmp_path / "stripes.png"
    cv2.imwrite(str(image), stripes(60, 30)[:, :, ::-1])
    rc = main([str(image), "--model", str(folder / "model.onnx"), "--backend", "onnxruntime", "--stats"])
    assert rc == 2 and "`segnet --input-size WxH`" in capsys.readouterr().err
    rc = main([str(image), "--model", str(folder / "model.onnx"), "--backend", "onnxruntime", "--stats",
               "--input-size", "60x30"])
    out = capsys.readouterr().out
    assert rc == 0
    for name in ("red", "green", "blue"):
        assert any(name in line and "600" in line for line in out.splitlines()), out  # 20x30 pixels each


# ---- a graph that fails only when run: warm-up and tuning fail as a frame does -------------------------------------
def failing_model(folder):
    """Reshape to (1, 7, -1): 3 * H * W values do not split into 7 rows, which ORT finds only at run time."""
    inits: list = [numpy_helper.from_array(np.array([1, 7, -1], np.int64), "shape")]
    nodes = [colour_conv("input_0", "logits", inits), helper.make_node("Reshape", ["logits", "shape"], ["output_0"])]
    return dynamic_model_like(folder, nodes, inits)


def dynamic_model_like(folder, nodes, inits):
    return write_model(folder, nodes, inits,
                       helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 7, "n"]),
                       input_dims=(1, 3, "height", "width"), model_yaml=PLAIN + "input:\n  size: [10, 10]\n")


@pytest.mark.parametrize("optimization", ["auto", "all"])  # auto: fails in the tuning run; all: in the warm-up
def test_failure_in_tuning_or_warm_up_is_the_inference_error(tmp_path, monkeypatch, optimization):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = resolve_model(str(failing_model(tmp_path / "bad")))
    with pytest.raises(BackendError) as err:
        OnnxRuntimeBackend(spec, threads=1, optimization=optimization)
    message = str(err.value)
    assert message.startswith("ONNX Runtime inference failed: ") and "\n" not in message
    assert "Reshape" in message or "reshape" in message.lower()


# ---- through the real node over DDS: ~/class_mask and ~/info of a binary and of a class-id model ------------------
def _node_outputs(folder, log_path, image):
    rclpy = pytest.importorskip("rclpy")  # noqa: F841 - the ROS side is optional on a bare machine
    pytest.importorskip("seg_ros.msg", reason="seg_ros messages not built")
    from conftest import node_session
    from test_node_segnet import Session, as_array

    from seg_ros.ros.harness import image_message

    params = {"model_path": folder, "backend": "onnxruntime", "publish_grid": False, "diagnostics_period": 0.5}
    with node_session(params, log_path) as ns:
        session = Session(ns.local, ns.node)
        session.wait_ready()
        mask_msg, info = session.send(image_message(image), ("class_mask", "info"))
        return as_array(mask_msg), info, ns.node.log()


@pytest.mark.ros
def test_node_binary_sigmoid_model_class_mask_and_info(tmp_path):
    mask, info, log = _node_outputs(sigmoid_model(tmp_path / "binary", "person\n"), tmp_path / "node.log", stripes())
    np.testing.assert_array_equal(mask, expected_thirds(ids=(1, 0, 0)))
    assert list(info.class_names) == ["background", "person"]
    np.testing.assert_allclose(info.class_fractions, [2 / 3, 1 / 3], atol=1e-6)


@pytest.mark.ros
def test_node_argmax_model_class_mask_and_info(tmp_path):
    inits: list = []
    nodes = [colour_conv("input_0", "logits", inits),
             helper.make_node("ArgMax", ["logits"], ["output_0"], axis=1, keepdims=1)]
    folder = write_model(tmp_path / "argmax", nodes, inits,
                         helper.make_tensor_value_info("output_0", TensorProto.INT64, [1, 1, H, W]),
                         classes=RGB_NAMES + "other\n")
    mask, info, _ = _node_outputs(folder, tmp_path / "node.log", stripes())
    np.testing.assert_array_equal(mask, expected_thirds())
    assert list(info.class_names) == ["red", "green", "blue", "other"]
    np.testing.assert_allclose(info.class_fractions, [1 / 3, 1 / 3, 1 / 3, 0.0], atol=1e-6)


def test_segnet_cli_binary_sigmoid_model_stats(tmp_path, capsys):
    import cv2

    from seg_ros.cli.segnet import main

    folder = sigmoid_model(tmp_path / "binary", "person\n")
    image = tmp_path / "stripes.png"
    cv2.imwrite(str(image), stripes()[:, :, ::-1])
    rc = main([str(image), str(tmp_path / "mask.png"), "--model", str(folder / "model.onnx"), "--backend",
               "onnxruntime", "--stats", "--visualize", "mask", "--filter-mode", "point", "--alpha", "255"])
    out, err = capsys.readouterr()
    assert rc == 0 and "warn" not in err.lower(), err
    lines = out.splitlines()
    assert any("person" in line and str(H * W // 3) in line for line in lines), out  # the red third
    assert any("background" in line and str(2 * H * W // 3) in line for line in lines), out


@pytest.mark.parametrize("make", [fp16_model, uint8_model], ids=["fp16", "uint8"])
def test_segnet_cli_fp16_and_uint8_input_models(tmp_path, capsys, monkeypatch, make):
    import cv2

    from seg_ros.cli.segnet import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the tuning run happens in this start
    folder = make(tmp_path / "m")
    image = tmp_path / "stripes.png"
    cv2.imwrite(str(image), stripes()[:, :, ::-1])
    for _ in range(2):  # first start tunes and caches, the second reads the cached level
        rc = main([str(image), "--model", str(folder / "model.onnx"), "--backend", "onnxruntime", "--stats"])
        out, err = capsys.readouterr()
        assert rc == 0 and "Traceback" not in err, err
        for name in ("red", "green", "blue"):
            assert any(name in line and str(H * W // 3) in line for line in out.splitlines()), out
    assert len(json.loads(ort_tuning.tuning_file().read_text())) == 1
