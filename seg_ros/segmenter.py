"""The segmentation pipeline: preprocess → network → class map, each stage timed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seg_ros.backends import Backend, create_backend
from seg_ros.backends.base import OutputLayout, output_layout
from seg_ros.classify import class_map_from_logits
from seg_ros.errors import ModelError
from seg_ros.model import ModelSpec
from seg_ros.preprocess import Preprocessor
from seg_ros.timing import StageTimer

log = logging.getLogger("seg_ros")


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One frame's result: class ids at the network's output resolution, the class scores, the stage timings.

    ``class_map``: (h, w) uint8 class ids; ``logits``: (C, h, w) float32 class scores (possibly the backend's
    buffer: valid until the next ``segment`` call of the same Segmenter), or None when the model outputs class
    ids only (ArgMax in the graph): then features that need scores use the class map. For a single-channel
    probability model the scores are (0, logit p), so their softmax is (1 - p, p). Timings in milliseconds,
    measured by ``segment``.
    """

    class_map: np.ndarray
    logits: np.ndarray | None
    preprocess_ms: float = 0.0
    network_ms: float = 0.0
    postprocess_ms: float = 0.0


def resolve_ignore_class(spec: ModelSpec, ignore_class: str | int | None) -> int | None:
    """segNet's ignore class: a name (case-insensitive; absent names ignore nothing) or an id."""
    if ignore_class is None or ignore_class == "":
        return None
    if isinstance(ignore_class, int) or str(ignore_class).lstrip("-").isdigit():
        idx = int(ignore_class)
        if idx < 0:
            return None
        if idx >= spec.num_classes:
            raise ModelError(f"ignore class id {idx} is out of range (model has {spec.num_classes} classes)")
        return idx
    return spec.class_id(str(ignore_class))


class Segmenter:
    """Holds a model and its backend; ``segment`` runs one RGB image through the network.

    ``layout``: what the model outputs (:class:`~seg_ros.backends.base.OutputLayout`: class scores channels
    first or last, a foreground probability, or class ids); ``has_scores`` is False for class-id models, which
    is logged once here (grid sampling and confidence then use the class map). The input tensor has the
    dtype the backend declares (``input_dtype``, float32 when it declares none). Raises ModelError for an
    output layout that does not fit the class names. ``backend`` is a backend or a backend name, created by
    ``backends.create_backend`` with ``threads``, ``precision`` and ``calibration_dir`` (the converted ONNX of
    ``seg_ros.precision``).
    """

    def __init__(self, spec: ModelSpec, backend: str | Backend = "auto", threads: int = 0,
                 ignore_class: str | int | None = "void", timer: StageTimer | None = None, *,
                 precision: str | None = None, calibration_dir: Path | None = None) -> None:
        self.spec = spec
        self.backend = (create_backend(spec, backend, threads, precision=precision, calibration_dir=calibration_dir)
                        if isinstance(backend, str) else backend)
        _, _, height, width = self.backend.input_shape
        self.input_size = (width, height)
        dtype = np.dtype(getattr(self.backend, "input_dtype", np.float32))
        self.preprocessor = Preprocessor(spec.preprocessing, self.input_size, dtype)
        self._input = np.empty(self.preprocessor.shape, dtype)  # reused each frame: segment() is not re-entrant
        self.ignore_id = resolve_ignore_class(spec, ignore_class)
        self.timer = timer or StageTimer()
        self.layout: OutputLayout = getattr(self.backend, "output_layout", None) or output_layout(
            spec, self.backend.output_shape, getattr(self.backend, "output_dtype", np.float32),
            input_shape=self.backend.input_shape)
        if not self.layout.has_scores:
            log.info("%s outputs %s: no class scores, so the grid samples the class map (nearest) and there is "
                     "no confidence; ignore_class does not apply", spec.name, self.layout.describe())

    @property
    def has_scores(self) -> bool:
        """Whether segmentations carry class scores (False for class-id models: class map only)."""
        return self.layout.has_scores

    @property
    def grid_size(self) -> tuple[int, int]:
        """(width, height) of the class map."""
        return int(self.layout.grid[1]), int(self.layout.grid[0])

    def segment(self, image_rgb: np.ndarray) -> Segmentation:
        """Segment an HxWx3 uint8 RGB image (any size: resized to the network's); each stage timed.

        The timings go into the result and into ``timer`` (the run's summary). Not re-entrant: one thread
        per Segmenter.
        """
        t0 = time.perf_counter()
        tensor = self.preprocessor(image_rgb, out=self._input)
        t1 = time.perf_counter()
        raw = self.backend.infer(tensor)
        t2 = time.perf_counter()
        logits = self.layout.scores(raw)
        class_map = self.layout.class_ids(raw) if logits is None else class_map_from_logits(logits, self.ignore_id)
        t3 = time.perf_counter()
        result = Segmentation(class_map, logits, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        self.timer.add("preprocess", result.preprocess_ms)
        self.timer.add("network", result.network_ms)
        self.timer.add("postprocess", result.postprocess_ms)
        return result
