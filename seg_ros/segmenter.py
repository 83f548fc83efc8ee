"""The segmentation pipeline: preprocess → network → class map, each stage timed."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from seg_ros.backends import Backend, create_backend
from seg_ros.classify import class_map_from_logits
from seg_ros.errors import ModelError
from seg_ros.model import ModelSpec
from seg_ros.preprocess import Preprocessor
from seg_ros.timing import StageTimer


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One frame's result: class ids at the network's output resolution, the raw logits, the stage timings.

    ``class_map``: (h, w) uint8 class ids; ``logits``: (C, h, w) float32 (the backend's buffer: valid until
    the next ``segment`` call of the same Segmenter). Timings in milliseconds, measured by ``segment``.
    """

    class_map: np.ndarray
    logits: np.ndarray
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
    """Holds a model and its backend; ``segment`` runs one RGB image through the network."""

    def __init__(self, spec: ModelSpec, backend: str | Backend = "auto", threads: int = 0,
                 ignore_class: str | int | None = "void", timer: StageTimer | None = None) -> None:
        self.spec = spec
        self.backend = create_backend(spec, backend, threads) if isinstance(backend, str) else backend
        _, _, height, width = self.backend.input_shape
        self.input_size = (width, height)
        self.preprocessor = Preprocessor(spec.preprocessing, self.input_size)
        self._input = np.empty(self.preprocessor.shape, np.float32)  # reused each frame: segment() is not re-entrant
        self.ignore_id = resolve_ignore_class(spec, ignore_class)
        self.timer = timer or StageTimer()

    @property
    def grid_size(self) -> tuple[int, int]:
        """(width, height) of the class map."""
        return int(self.backend.output_shape[3]), int(self.backend.output_shape[2])

    def segment(self, image_rgb: np.ndarray) -> Segmentation:
        """Segment an HxWx3 uint8 RGB image (any size: resized to the network's); each stage timed.

        The timings go into the result and into ``timer`` (the run's summary). Not re-entrant: one thread
        per Segmenter.
        """
        t0 = time.perf_counter()
        tensor = self.preprocessor(image_rgb, out=self._input)
        t1 = time.perf_counter()
        logits = self.backend.infer(tensor)[0]
        t2 = time.perf_counter()
        class_map = class_map_from_logits(logits, self.ignore_id)
        t3 = time.perf_counter()
        result = Segmentation(class_map, logits, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        self.timer.add("preprocess", result.preprocess_ms)
        self.timer.add("network", result.network_ms)
        self.timer.add("postprocess", result.postprocess_ms)
        return result
