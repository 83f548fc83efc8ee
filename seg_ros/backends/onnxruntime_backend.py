"""ONNX Runtime on CPU: the embedded default backend."""

from __future__ import annotations

import numpy as np

from seg_ros.backends import ort_tuning
from seg_ros.backends.base import check_blob_names, input_dtype, input_shape_from_dims, output_layout
from seg_ros.errors import BackendError, ModelError
from seg_ros.model import ModelSpec

# ONNX Runtime's tensor type names -> numpy dtypes (the ones seg_ros can feed or read back)
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int16)": np.int16,
              "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(uint16)": np.uint16,
              "tensor(uint32)": np.uint32, "tensor(uint64)": np.uint64}


def _static_dims(shape: list) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def inference_failure(exc: BaseException) -> BackendError:
    """The one error every ONNX Runtime run failure becomes (warm-up, tuning or a frame): one line."""
    return BackendError("ONNX Runtime inference failed: " + " ".join(str(exc).split()))


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
    # No spin-waiting: by default ORT's pool threads busy-wait after every run for the next one, which for a node
    # that runs once per camera frame burns the cores the camera, DDS and rendering need. Measured (2 cores, a
    # 720p camera on the same machine): CPU per frame halved with the instant network, ESPNet-CamVid 1.5-2.5x
    # the rate with spinning off, at every thread count (benchmarks/bench_node.py, README).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(spec.onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises several private exception types
        raise ModelError(f"cannot load ONNX model {spec.onnx_path}: {' '.join(str(exc).split())}") from exc


class OnnxRuntimeBackend:
    """CPU inference with a configurable intra-op thread count and graph optimisation level.

    ``optimization="auto"`` measures EXTENDED against ALL once per model and machine (see ort_tuning). The
    input is fed in the dtype the model declares (``input_dtype``: float32, float16 or uint8); the output is
    returned as the graph gives it and described by ``output_layout`` (:func:`~seg_ros.backends.base.output_layout`).
    Raises ModelError for a model seg_ros cannot feed or read, BackendError when a run fails (warm-up and
    tuning included: the same one-line error as a failing frame).
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
        check_blob_names(spec, inputs, outputs)
        self._input, self._output = spec.input_blob, spec.output_blob
        declared = inputs[spec.input_blob].type
        self.input_dtype = input_dtype(spec, _ORT_TYPES.get(declared, declared))
        self.input_shape = input_shape_from_dims(spec, _static_dims(inputs[spec.input_blob].shape))
        if optimization == "auto":
            self._tune(spec, threads)
        # Run once: validates the output layout against the class list and warms the session up.
        output = self.infer(np.zeros(self.input_shape, self.input_dtype))
        self.output_shape = tuple(int(d) for d in output.shape)
        self.output_dtype = output.dtype
        self.output_layout = output_layout(spec, self.output_shape, self.output_dtype, input_shape=self.input_shape)

    def _tune(self, spec: ModelSpec, threads: int) -> None:
        """Keep the faster of ALL (the session made above) and EXTENDED, measured once and cached."""
        import onnxruntime as ort

        key = ort_tuning.tuning_key(spec.onnx_path, threads, ort.__version__)
        level = ort_tuning.cached_level(key)
        if level is None:
            tensor = np.zeros(self.input_shape, self.input_dtype)
            candidates = {"all": self.session, "extended": _session(spec, threads, "extended")}
            try:
                timings = {name: ort_tuning.median_run_ms(lambda x, s=session: s.run(None, {self._input: x}), tensor)
                           for name, session in candidates.items()}
            except Exception as exc:  # noqa: BLE001 - the same clean error as a failing frame
                raise inference_failure(exc) from exc
            level = min(timings, key=timings.get)
            ort_tuning.remember_level(key, level, timings)
            self.session = candidates[level]
        elif level != self.optimization:
            self.session = _session(spec, threads, level)
        self.optimization = level

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """(1,3,H,W) ``input_dtype`` tensor → the raw output; BackendError (one line) when the run fails."""
        try:
            return self.session.run([self._output], {self._input: tensor})[0]
        except Exception as exc:  # noqa: BLE001
            raise inference_failure(exc) from exc

    def close(self) -> None:
        """Nothing to release early: the session is plain host memory, freed with the object."""
