"""Inference backends and the choice between them.

``auto`` runs TensorRT where it can (tensorrt and pycuda import and a CUDA GPU is present) and ONNX Runtime
on the CPU otherwise; the choice and its reason are logged once on the "seg_ros" logger.
"""

from __future__ import annotations

import logging
from pathlib import Path

from seg_ros.backends.base import Backend
from seg_ros.errors import BackendError
from seg_ros.model import ModelSpec

BACKENDS = ("auto", "onnxruntime", "tensorrt")

log = logging.getLogger("seg_ros")


def select_backend(backend: str = "auto") -> tuple[str, str]:
    """(backend to create, why), without creating it; raises BackendError for an impossible request."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        return "onnxruntime", "requested"
    from seg_ros.backends.tensorrt_backend import tensorrt_unavailable_reason

    reason = tensorrt_unavailable_reason()
    if backend == "tensorrt":
        if reason is not None:
            raise BackendError(f"backend 'tensorrt' was requested but TensorRT cannot run here: {reason}; "
                               "use backend 'auto' or 'onnxruntime'")
        return "tensorrt", "requested"
    if reason is not None:
        return "onnxruntime", f"auto: {reason}"
    return "tensorrt", "auto: tensorrt and pycuda import and a CUDA GPU is present"


def create_backend(spec: ModelSpec, backend: str = "auto", threads: int = 0, *, precision: str | None = None,
                   workspace_mb: int | None = None, engine_cache_dir: Path | None = None,
                   calibration_dir: Path | None = None) -> Backend:
    """Create the requested backend, logging which one and why.

    ``threads`` applies to ONNX Runtime; ``workspace_mb`` and ``engine_cache_dir`` to TensorRT. ``precision``
    (fp32, fp16, int8; default fp16 on TensorRT, fp32 on ONNX Runtime) and ``calibration_dir`` (INT8) pick the
    converted ONNX of seg_ros.precision that either backend runs. Under ``auto`` a TensorRT start-up failure
    (BackendError) falls back to ONNX Runtime; model errors (wrong blob names, class count) are raised as they
    would be on any backend.
    """
    choice, reason = select_backend(backend)
    if choice == "tensorrt":
        from seg_ros.backends.tensorrt_backend import DEFAULT_WORKSPACE_MB, TensorRTBackend

        trt_precision = precision or "fp16"
        try:
            trt_backend = TensorRTBackend(spec, precision=trt_precision,
                                          workspace_mb=workspace_mb or DEFAULT_WORKSPACE_MB,
                                          cache_dir=engine_cache_dir, calibration_dir=calibration_dir)
        except BackendError as exc:
            if backend == "tensorrt":
                raise
            reason = f"auto: TensorRT failed to start ({exc})"
        else:
            log.info("inference backend: tensorrt %s (%s)", trt_precision, reason)
            return trt_backend
    from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
    from seg_ros.precision import spec_at_precision

    ort_precision = precision or "fp32"
    ort_backend = OnnxRuntimeBackend(spec_at_precision(spec, ort_precision, calibration_dir), threads=threads)
    shown = "" if ort_precision == "fp32" else f" {ort_precision}"
    log.info("inference backend: onnxruntime%s (%s)", shown, reason)
    return ort_backend


__all__ = ["BACKENDS", "Backend", "create_backend", "select_backend"]
