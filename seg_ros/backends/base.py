"""The interface every inference backend implements, and the model checks all backends share.

Backends feed the input dtype the model declares (:func:`input_dtype`: float32, float16 or uint8) and return
the output as the graph produces it; :func:`output_layout` recognises what that output is, from its shape,
dtype and the class count, once at load time:

=====================  ==========================================  ==============================================
layout                 output shape, dtype                         class map, scores
=====================  ==========================================  ==============================================
``scores``             (1,C,h,w) float, C = classes                argmax over C; scores = the output
``scores_nhwc``        (1,h,w,C) float, C = classes (channels      the same after moving C first
                       last, as TensorFlow / Keras exports)
``probability``        (1,1,h,w), (1,h,w,1) or (1,h,w) float,      foreground where p > 0.5; scores (0, logit p)
                       2 classes (background, foreground)          so softmax gives back (1 - p, p)
``class_ids``          (1,1,h,w), (1,h,w), (1,h,w,1) or (h,w) of    the ids themselves (ArgMax in the graph, as
                       any integer type                            mmsegmentation/mmdeploy exports); no scores
=====================  ==========================================  ==============================================

Anything else is refused with a message naming the layout found; the class names are blamed only when the
class count is what does not fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from seg_ros.errors import ModelError
from seg_ros.model import ModelSpec

SCORES = "scores"
SCORES_NHWC = "scores_nhwc"
PROBABILITY = "probability"
CLASS_IDS = "class_ids"
INPUT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.uint8))
_PROBABILITY_EPS = 1e-6


class Backend(Protocol):
    """Runs one network on a (1,3,H,W) input of ``input_dtype`` and returns its output as the graph gives it."""

    name: str
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, ...]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """(1,3,H,W) input of ``input_shape`` → the output tensor of ``output_shape`` (any :func:`output_layout`).

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


DYNAMIC_SIZE_HINT = ("give one with `input: size: [W, H]` in model.yaml, `segnet --input-size WxH` "
                     "or the node parameter input_size")


def input_shape_from_dims(spec: ModelSpec, dims: Sequence[int | None]) -> tuple[int, int, int, int]:
    """(1,3,H,W) from the ONNX input's dims (None = dynamic), reconciled with the spec's input_size.

    Raises ModelError for a non-NCHW or non-3-channel input, a fixed size that differs from the stated one,
    or a dynamic size with none stated (the message names the three ways to state it).
    """
    dims = list(dims)
    if len(dims) != 4:
        raise ModelError(f"{spec.onnx_path}: input {spec.input_blob!r} must be NCHW, has shape {dims}")
    if dims[1] not in (None, 3):
        raise ModelError(f"{spec.onnx_path}: input {spec.input_blob!r} has {dims[1]} channels, expected 3 "
                         f"(NCHW, shape {dims})")
    width, height = dims[3], dims[2]
    if spec.input_size is not None:
        if (width or spec.input_size[0], height or spec.input_size[1]) != spec.input_size:
            raise ModelError(f"{spec.onnx_path}: input is {width}x{height}, model description says "
                             f"{spec.input_size[0]}x{spec.input_size[1]}")
        width, height = spec.input_size
    if width is None or height is None:
        shown = "x".join("?" if d is None else str(d) for d in (dims[3], dims[2]))
        raise ModelError(f"{spec.onnx_path}: input {spec.input_blob!r} has a dynamic size ({shown}); "
                         + DYNAMIC_SIZE_HINT)
    return (1, 3, int(height), int(width))


def input_dtype(spec: ModelSpec, dtype: np.dtype | type | str) -> np.dtype:
    """The numpy dtype to feed: the model's declared input type if seg_ros can make it, else ModelError."""
    try:
        found = np.dtype(dtype)
    except TypeError:
        found = None
    if found not in INPUT_DTYPES:
        raise ModelError(f"{spec.onnx_path}: input {spec.input_blob!r} is {dtype}; seg_ros feeds float32, "
                         "float16 or uint8 images")
    return found


@dataclass(frozen=True)
class OutputLayout:
    """What a model's output is (module table): ``kind``, the raw ``shape`` and ``dtype``, the (h, w) ``grid``.

    :meth:`class_map` and :meth:`scores` turn one raw output into the (h,w) uint8 class map and the (C,h,w)
    float32 class scores (None for class ids).
    """

    kind: str
    shape: tuple[int, ...]
    dtype: str
    grid: tuple[int, int]
    num_classes: int

    @property
    def has_scores(self) -> bool:
        """False for class-id outputs: no per-class scores (grid sampling and confidence use the class map)."""
        return self.kind != CLASS_IDS

    def describe(self) -> str:
        """e.g. ``class ids (1, 1, 360, 480) int64``."""
        words = {SCORES: "class scores, channels first", SCORES_NHWC: "class scores, channels last",
                 PROBABILITY: "foreground probability (threshold 0.5)", CLASS_IDS: "class ids"}[self.kind]
        return f"{words} {self.shape} {self.dtype}"

    def scores(self, raw: np.ndarray) -> np.ndarray | None:
        """(C,h,w) float32 scores of a raw output (a view when already so); None for class ids."""
        if self.kind == CLASS_IDS:
            return None
        h, w = self.grid
        if self.kind == SCORES:
            out = raw.reshape(self.num_classes, h, w)
        elif self.kind == SCORES_NHWC:
            out = np.ascontiguousarray(np.moveaxis(raw.reshape(h, w, self.num_classes), -1, 0))
        else:  # probability p -> scores (0, log(p / (1 - p))): argmax = p > 0.5, softmax = (1 - p, p)
            p = np.clip(raw.reshape(h, w).astype(np.float32, copy=False), _PROBABILITY_EPS, 1.0 - _PROBABILITY_EPS)
            out = np.empty((2, h, w), np.float32)
            out[0] = 0.0
            np.log(p / (1.0 - p), out=out[1])
        return out if out.dtype == np.float32 else out.astype(np.float32)

    def class_ids(self, raw: np.ndarray) -> np.ndarray:
        """(h,w) uint8 class ids of a class-id output; ModelError for an id the class names do not list."""
        ids = raw.reshape(self.grid)
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.num_classes:
            bad = hi if hi >= self.num_classes else lo
            raise ModelError(f"the model output class id {bad}, but only {self.num_classes} classes are listed "
                             f"(ids 0..{self.num_classes - 1})")
        return ids.astype(np.uint8)


def _fits_input(grid: tuple[int, int], input_shape: Sequence[int] | None, channels: int) -> bool:
    """Whether (h, w) can be the output grid: the same stride along both axes as the (1,3,H,W) input (25 %).

    Without the input shape: the channel count is smaller than both grid sides (class maps are larger than
    the class count).
    """
    h, w = grid
    if input_shape is None:
        return channels < h and channels < w
    sy, sx = input_shape[2] / h, input_shape[3] / w
    return abs(sy - sx) <= 0.25 * max(sy, sx)


def output_layout(spec: ModelSpec, shape: Sequence[int], dtype: np.dtype | type | str = np.float32,
                  source: str = "", input_shape: Sequence[int] | None = None) -> OutputLayout:
    """Recognise the model's output (module table) from its shape, dtype and the spec's class count.

    Channels first wins when axis 1 has one channel per class; channels last is taken only when axis 3
    does and axes 1-2 fit the ``input_shape`` (1,3,H,W) with one stride (see :func:`_fits_input`). Raises
    ModelError naming the layout found when it is none of them, and naming the class names' source only
    when the class count is what does not fit.
    """
    shape, source = tuple(int(d) for d in shape), source or str(spec.onnx_path)
    dt = np.dtype(dtype)
    n = spec.num_classes
    found = f"{source}: output {spec.output_blob!r} is {shape} {dt.name}"
    forms = ("class scores must be (1,C,h,w) or (1,h,w,C) float, a foreground probability (1,1,h,w) or (1,h,w) "
             "float, class ids (1,1,h,w) or (1,h,w) of an integer type")

    def layout(kind: str, h: int, w: int) -> OutputLayout:
        return OutputLayout(kind, shape, dt.name, (h, w), n)

    if dt.kind in "iu":
        if len(shape) == 4 and shape[0] == 1 and 1 in (shape[1], shape[3]):
            return layout(CLASS_IDS, *(shape[2:] if shape[1] == 1 else shape[1:3]))
        if len(shape) == 3 and shape[0] == 1:
            return layout(CLASS_IDS, shape[1], shape[2])
        if len(shape) == 2:
            return layout(CLASS_IDS, shape[0], shape[1])
        raise ModelError(f"{found}: an integer output is read as class ids (1,1,h,w), (1,h,w) or (h,w), "
                         "not this shape")
    if dt.kind != "f":
        raise ModelError(f"{found}: seg_ros reads float class scores or integer class ids, not {dt.name}")
    if len(shape) == 4 and shape[0] != 1:
        raise ModelError(f"{found}: a batch of {shape[0]}; seg_ros runs one image at a time (batch 1)")
    if len(shape) == 4:
        _, c, h, w = shape
        if c == n and n >= 2:
            return layout(SCORES, h, w)
        if w == n and n >= 2 and _fits_input((c, h), input_shape, w):
            return layout(SCORES_NHWC, c, h)
        if 1 in (c, w):
            if n == 2:
                return layout(PROBABILITY, *((h, w) if c == 1 else (c, h)))
            raise _single_channel(found, spec)
        raise ModelError(f"{source}: output has {c} channels but {n} classes are listed in {spec.classes_source} "
                         f"(output {spec.output_blob!r} is {shape} {dt.name}: class scores, channels first; "
                         f"{w} channels if channels last)")
    if len(shape) == 3 and shape[0] == 1:
        if n == 2:
            return layout(PROBABILITY, shape[1], shape[2])
        raise _single_channel(found, spec)
    raise ModelError(f"{found}: {forms}")


def _single_channel(found: str, spec: ModelSpec) -> ModelError:
    return ModelError(f"{found}: one channel, read as a foreground probability, which needs one class name "
                      f"(foreground over an implicit background) or two (background, foreground); "
                      f"{spec.classes_source} lists {spec.num_classes}")


