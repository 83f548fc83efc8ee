"""Random-weight FCN-ResNet18-shaped networks: benchmark and test stand-ins for the 47 MB jetson-inference models.

The graph has the real network's interface (``input_0`` [1,3,H,W] → ``output_0`` [1,C,H/32,W/32]) and a
ResNet18-like compute profile (stride-2 stem, four stages of 3x3 convolutions, 1x1 classifier), so timings are
representative even though the weights are random.

``write_instant_onnx`` has the same interface with almost no compute (a 32x32 average pool and a 1x1
convolution, well under a millisecond): what a GPU engine's few milliseconds look like to the CPU, so a benchmark
with it measures everything around inference (the node's own overhead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _conv(nodes: list, inits: list, rng: np.random.Generator, name: str, x: str, cin: int, cout: int,
          k: int, stride: int, relu: bool = True) -> str:
    from onnx import helper, numpy_helper

    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
    b = np.zeros(cout, np.float32)
    inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
    out = f"{name}_y"
    nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], kernel_shape=[k, k],
                                  strides=[stride, stride], pads=[k // 2] * 4))
    if relu:
        nodes.append(helper.make_node("Relu", [out], [f"{name}_r"]))
        out = f"{name}_r"
    return out


def write_fcn_resnet18_onnx(path: Path, input_size: tuple[int, int] = (576, 320), num_classes: int = 5,
                            seed: int = 0) -> Path:
    """Write a random-weight ONNX with FCN-ResNet18's interface and approximate cost; returns the path."""
    from onnx import helper

    width, height = input_size
    if width % 32 or height % 32:
        raise ValueError(f"input size {width}x{height} must be a multiple of 32")
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    x = _conv(nodes, inits, rng, "stem", "input_0", 3, 64, 7, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool", 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if (block == 0 and stage > 0) else 1
            y = _conv(nodes, inits, rng, f"s{stage}b{block}a", x, cin, cout, 3, stride)
            y = _conv(nodes, inits, rng, f"s{stage}b{block}b", y, cout, cout, 3, 1, relu=False)
            if stride == 1 and cin == cout:
                nodes.append(helper.make_node("Add", [y, x], [f"s{stage}b{block}_add"]))
                y = f"s{stage}b{block}_add"
            nodes.append(helper.make_node("Relu", [y], [f"s{stage}b{block}_out"]))
            x, cin = f"s{stage}b{block}_out", cout
    logits = _conv(nodes, inits, rng, "classifier", x, cin, num_classes, 1, 1, relu=False)
    nodes.append(helper.make_node("Identity", [logits], ["output_0"]))
    return _save_fcn_interface(path, "fcn_resnet18_shaped", nodes, inits, input_size, num_classes)


def _save_fcn_interface(path: Path, name: str, nodes: list, inits: list, input_size: tuple[int, int],
                        num_classes: int) -> Path:
    """Check and save a graph with FCN-ResNet18's interface: input_0 [1,3,H,W] → output_0 [1,C,H/32,W/32]."""
    import onnx
    from onnx import TensorProto, helper

    width, height = input_size
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, num_classes, height // 32, width // 32])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="seg_ros.synthetic")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_instant_onnx(path: Path, input_size: tuple[int, int] = (576, 320), num_classes: int = 5,
                       seed: int = 0) -> Path:
    """Write an "instant" ONNX with FCN-ResNet18's interface: AveragePool 32x32 (stride 32) → 1x1 Conv → output_0.

    ``input_0`` [1,3,H,W] → ``output_0`` [1,C,H/32,W/32] float32 logits; random weights. Returns the path.
    """
    from onnx import helper, numpy_helper

    width, height = input_size
    if width % 32 or height % 32:
        raise ValueError(f"input size {width}x{height} must be a multiple of 32")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((num_classes, 3, 1, 1)).astype(np.float32)
    b = rng.standard_normal(num_classes).astype(np.float32) * 0.1
    nodes = [helper.make_node("AveragePool", ["input_0"], ["pooled"], kernel_shape=[32, 32], strides=[32, 32]),
             helper.make_node("Conv", ["pooled", "classifier_w", "classifier_b"], ["output_0"], kernel_shape=[1, 1])]
    inits = [numpy_helper.from_array(w, "classifier_w"), numpy_helper.from_array(b, "classifier_b")]
    return _save_fcn_interface(path, "instant_segmentation", nodes, inits, input_size, num_classes)


def write_model_dir(folder: Path, input_size: tuple[int, int] = (576, 320), num_classes: int = 5,
                    class_names: list[str] | None = None, colors: list[str] | None = None, seed: int = 0,
                    instant: bool = False) -> Path:
    """A complete model folder (fcn_resnet18.onnx, classes.txt, colors.txt) with a random-weight network.

    ``instant``: the almost compute-free network of ``write_instant_onnx`` instead of the FCN-ResNet18 shape.
    """
    folder = Path(folder)
    writer = write_instant_onnx if instant else write_fcn_resnet18_onnx
    writer(folder / "fcn_resnet18.onnx", input_size, num_classes, seed)
    names = class_names or [f"class_{i}" for i in range(num_classes)]
    rng = np.random.default_rng(seed)
    lines = colors or [" ".join(str(int(v)) for v in rng.integers(0, 256, 3)) for _ in range(num_classes)]
    (folder / "classes.txt").write_text("\n".join(names) + "\n")
    (folder / "colors.txt").write_text("\n".join(lines) + "\n")
    return folder
