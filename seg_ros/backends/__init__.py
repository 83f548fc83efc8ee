"""Inference backends and the choice between them."""

from __future__ import annotations

from seg_ros.backends.base import Backend
from seg_ros.errors import BackendError
from seg_ros.model import ModelSpec

BACKENDS = ("auto", "onnxruntime", "tensorrt")


def create_backend(spec: ModelSpec, backend: str = "auto", threads: int = 0) -> Backend:
    """Create the requested backend; ``auto`` picks ONNX Runtime on CPU (TensorRT comes with issue 5)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "tensorrt":
        raise BackendError("the TensorRT backend is not available in this build")
    from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(spec, threads=threads)


__all__ = ["BACKENDS", "Backend", "create_backend"]
