"""ONNX Runtime on CPU: the embedded default backend."""

from __future__ import annotations

import numpy as np

from seg_ros.backends import ort_tuning
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
        outputs = {o.name: o for o in self.session.get_outputs()}
        if spec.input_blob not in inputs:
            raise ModelError(f"{spec.onnx_path}: no input named {spec.input_blob!r} (inputs: {', '.join(inputs)})")
        if spec.output_blob not in outputs:
            raise ModelError(f"{spec.onnx_path}: no output named {spec.output_blob!r} (outputs: {', '.join(outputs)})")
        self._input, self._output = spec.input_blob, spec.output_blob
        dims = _static_dims(inputs[spec.input_blob].shape)
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
        self.input_shape = (1, 3, int(height), int(width))
        if optimization == "auto":
            self._tune(spec, threads)
        # Run once: validates the output against the class list and warms the session up.
        logits = self.infer(np.zeros(self.input_shape, np.float32))
        if logits.ndim != 4 or logits.shape[0] != 1:
            raise ModelError(f"{spec.onnx_path}: output {spec.output_blob!r} must be (1,C,h,w), got {logits.shape}")
        if logits.shape[1] != spec.num_classes:
            raise ModelError(f"{spec.onnx_path}: output has {logits.shape[1]} channels but "
                             f"{spec.num_classes} classes are listed in the class names")
        self.output_shape = tuple(int(d) for d in logits.shape)  # type: ignore[assignment]

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
