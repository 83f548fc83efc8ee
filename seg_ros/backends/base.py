"""The interface every inference backend implements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from seg_ros.errors import ModelError
from seg_ros.model import ModelSpec


class Backend(Protocol):
    """Runs one network on (1,3,H,W) float32 input and returns (1,C,h,w) float32 logits."""

    name: str
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """(1,3,H,W) float32 input of ``input_shape`` → (1,C,h,w) float32 logits of ``output_shape``.

        Raises BackendError when the runtime fails.
        """
        ...

    def close(self) -> None:
        """Release what the backend holds (GPU memory, contexts) now rather than at garbage collection.

        Idempotent; no inference may follow.
        """


def check_blob_names(spec: ModelSpec, inputs: Iterable[str], outputs: Iterable[str], source: str = "") -> None:
    """The model's input and output tensors exist under the names the spec gives (segNet's --input/output-blob)."""
    inputs, outputs, source = list(inputs), list(outputs), source or str(spec.onnx_path)
    if spec.input_blob not in inputs:
        raise ModelError(f"{source}: no input named {spec.input_blob!r} (inputs: {', '.join(inputs)})")
    if spec.output_blob not in outputs:
        raise ModelError(f"{source}: no output named {spec.output_blob!r} (outputs: {', '.join(outputs)})")


def input_shape_from_dims(spec: ModelSpec, dims: Sequence[int | None]) -> tuple[int, int, int, int]:
    """(1,3,H,W) from the ONNX input's dims (None = dynamic), reconciled with the spec's input_size."""
    dims = list(dims)
    if len(dims) != 4:
        raise ModelError(f"{spec.onnx_path}: input {spec.input_blob!r} must be NCHW, has shape {dims}")
    if dims[1] not in (None, 3):
        raise ModelError(f"{spec.onnx_path}: input {spec.input_blob!r} has {dims[1]} channels, expected 3")
    width, height = dims[3], dims[2]
    if spec.input_size is not None:
        if (width or spec.input_size[0], height or spec.input_size[1]) != spec.input_size:
            raise ModelError(f"{spec.onnx_path}: input is {width}x{height}, model description says "
                             f"{spec.input_size[0]}x{spec.input_size[1]}")
        width, height = spec.input_size
    if width is None or height is None:
        raise ModelError(f"{spec.onnx_path}: input size is dynamic; give input_size in model.yaml")
    return (1, 3, int(height), int(width))


def check_output_shape(spec: ModelSpec, shape: Sequence[int], source: str = "") -> tuple[int, int, int, int]:
    """The output is (1,C,h,w) with one channel per listed class; returns it as a tuple of ints."""
    shape, source = tuple(int(d) for d in shape), source or str(spec.onnx_path)
    if len(shape) != 4 or shape[0] != 1:
        raise ModelError(f"{source}: output {spec.output_blob!r} must be (1,C,h,w), got {shape}")
    if shape[1] != spec.num_classes:
        raise ModelError(f"{source}: output has {shape[1]} channels but "
                         f"{spec.num_classes} classes are listed in the class names")
    return shape  # type: ignore[return-value]
