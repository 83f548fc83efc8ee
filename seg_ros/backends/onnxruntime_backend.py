"""ONNX Runtime on CPU: the embedded default backend."""

from __future__ import annotations

import numpy as np

from seg_ros.backends import ort_tuning
from seg_ros.backends.base import check_blob_names, check_output_shape, input_shape_from_dims
from seg_ros.errors import BackendError, ModelError
from seg_ros.model import ModelSpec


def _static_dims(shape: list) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def _session(spec: ModelSpec, threads: int, level: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(spec.onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises several private exception types
        raise ModelError(f"cannot load ONNX model {spec.onnx_path}: {exc}") from exc


class OnnxRuntimeBackend:
    """CPU inference with a configurable intra-op thread count and graph optimisation level.

    ``optimization="auto"`` measures EXTENDED against ALL once per model and machine (see ort_tuning).
    """

    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, threads: int = 0, optimization: str = "auto") -> None:
        if optimization not in ort_tuning.LEVELS:
            raise BackendError(f"unknown ONNX Runtime optimisation level {optimization!r}; "
                               f"choose one of {', '.join(ort_tuning.LEVELS)}")
        self.optimization = "all" if optimization == "auto" else optimization
        self.session = _session(spec, threads, self.optimization)
        inputs = {i.name: i for i in self.session.get_inputs()}
        check_blob_names(spec, inputs, (o.name for o in self.session.get_outputs()))
        self._input, self._output = spec.input_blob, spec.output_blob
        self.input_shape = input_shape_from_dims(spec, _static_dims(inputs[spec.input_blob].shape))
        if optimization == "auto":
            self._tune(spec, threads)
        # Run once: validates the output against the class list and warms the session up.
        logits = self.infer(np.zeros(self.input_shape, np.float32))
        self.output_shape = check_output_shape(spec, logits.shape)

    def _tune(self, spec: ModelSpec, threads: int) -> None:
        """Keep the faster of ALL (the session made above) and EXTENDED, measured once and cached."""
        import onnxruntime as ort

        key = ort_tuning.tuning_key(spec.onnx_path, threads, ort.__version__)
        level = ort_tuning.cached_level(key)
        if level is None:
            tensor = np.zeros(self.input_shape, np.float32)
            candidates = {"all": self.session, "extended": _session(spec, threads, "extended")}
            timings = {name: ort_tuning.median_run_ms(lambda x, s=session: s.run(None, {self._input: x}), tensor)
                       for name, session in candidates.items()}
            level = min(timings, key=timings.get)
            ort_tuning.remember_level(key, level, timings)
            self.session = candidates[level]
        elif level != self.optimization:
            self.session = _session(spec, threads, level)
        self.optimization = level

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        try:
            return self.session.run([self._output], {self._input: tensor})[0]
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"ONNX Runtime inference failed: {exc}") from exc

    def close(self) -> None:
        """Nothing to release early: the session is plain host memory, freed with the object."""
