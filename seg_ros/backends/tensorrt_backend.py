"""TensorRT on an NVIDIA GPU: engine build and cache, and pycuda-driven inference.

Written against TensorRT 8.5-11.x and pycuda; the identifiers used on each version's path are checked against
the real binding modules of 8.6.1, 10.3.0, 10.13.3.9 and 11.4.0.106 (test/test_trt_conformance.py).

- **Precision.** Where TensorRT has strongly typed networks (10.x, 11.x: ``STRONGLY_TYPED``), the engine is
  built strongly typed from the reduced-precision ONNX of :mod:`seg_ros.precision` (FP16 graph, or INT8 Q/DQ
  graph calibrated on a folder of images): no precision builder flags, no calibrator; TensorRT 11 has no other
  way. Where it has not (8.5, 8.6: JetPack 5), the FP32 ONNX is built with ``BuilderFlag.FP16`` / ``INT8`` and
  an entropy calibrator, as TensorRT 8 documents.
- **Binding.** TensorRT 8 binds tensors by binding index (``execute_async_v2``); TensorRT 10 and 11 removed
  bindings and bind by tensor name (``set_tensor_address`` + ``execute_async_v3``).
- A major version outside 8, 10 and 11 logs a warning, then is tried with the path its API offers.

Engines are cached by :mod:`seg_ros.engine_cache`; a missing or stale engine is rebuilt with one log line
saying why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from seg_ros.backends.base import DYNAMIC_SIZE_HINT, check_blob_names, input_shape_from_dims, output_layout
from seg_ros.engine_cache import (
    PRECISIONS,
    EngineKey,
    atomic_write_bytes,
    calibration_cache_path,
    default_cache_dir,
    engine_path,
    file_sha256,
    load_cached_engine,
    store_engine,
    timing_cache_path,
)
from seg_ros.errors import BackendError, ConfigError, ModelError
from seg_ros.model import ModelSpec

log = logging.getLogger("seg_ros")

DEFAULT_WORKSPACE_MB = 1024
#: TensorRT major versions this backend is tested against (8.5/8.6, 10.x, 11.x); others warn, then are tried.
TESTED_MAJORS = (8, 10, 11)
STRONGLY_TYPED = "strongly-typed"
BUILDER_FLAGS = "builder-flags"
_warned_versions: set[str] = set()


def _import_runtime() -> tuple[Any, Any]:
    """(tensorrt, pycuda.driver), or a BackendError saying which one is missing."""
    try:
        import tensorrt as trt
    except Exception as exc:  # noqa: BLE001 - a broken install raises more than ImportError
        raise BackendError(f"tensorrt is not importable ({exc})") from exc
    try:
        import pycuda.driver as cuda
    except Exception as exc:  # noqa: BLE001
        raise BackendError(f"pycuda is not importable ({exc})") from exc
    return trt, cuda


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT can run here (tensorrt and pycuda import, a CUDA GPU is present), else why not."""
    try:
        trt, cuda = _import_runtime()
    except BackendError as exc:
        return str(exc)
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # noqa: BLE001 - pycuda raises its own LogicError/RuntimeError types
        return f"CUDA driver initialisation failed ({exc})"
    if count < 1:
        return "no CUDA GPU found"
    return None


def trt_major(trt: Any) -> int:
    """The major version of an imported tensorrt module (``"10.3.0"`` -> 10)."""
    return int(str(trt.__version__).split(".")[0])


def network_typing(trt: Any) -> str:
    """How precision is chosen: ``strongly-typed`` (from the ONNX's types) where TensorRT offers it, else flags.

    TensorRT 10 and 11 have ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (11 builds nothing else); 8.x has
    not, and takes ``BuilderFlag.FP16`` / ``INT8`` plus a calibrator. An untested major version gets a warning
    (once) and whichever of the two its API offers.
    """
    version = str(trt.__version__)
    major = trt_major(trt)
    typed = hasattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "STRONGLY_TYPED")
    typing = STRONGLY_TYPED if typed else BUILDER_FLAGS
    if major not in TESTED_MAJORS and version not in _warned_versions:
        _warned_versions.add(version)
        log.warning("TensorRT %s is outside the tested versions (8.5-8.6, 10.x, 11.x); trying it with %s networks",
                    version, typing)
    return typing


def gpu_facts(cuda: Any, device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of a CUDA device."""
    dev = cuda.Device(device)
    major, minor = dev.compute_capability()
    return str(dev.name()), f"{major}.{minor}"


def model_input_shape(spec: ModelSpec) -> tuple[int, int, int, int]:
    """(1,3,H,W) the engine is built for: the model's input_size, else the ONNX input's static shape."""
    if spec.input_size is not None:
        width, height = spec.input_size
        return (1, 3, int(height), int(width))
    try:
        import onnx
    except ImportError as exc:
        raise BackendError("reading the ONNX input size needs the onnx package; or " + DYNAMIC_SIZE_HINT) from exc
    try:
        graph = onnx.load(str(spec.onnx_path), load_external_data=False).graph
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and others
        raise ModelError(f"cannot load ONNX model {spec.onnx_path}: {exc}") from exc
    check_blob_names(spec, (v.name for v in graph.input), (v.name for v in graph.output))
    value = next(v for v in graph.input if v.name == spec.input_blob)
    return input_shape_from_dims(spec, [d.dim_value if d.HasField("dim_value") else None
                                        for d in value.type.tensor_type.shape.dim])


class CudaContext:
    """The device's primary CUDA context (the one TensorRT's runtime API uses), made current on demand.

    ``active()`` pushes it for the calling thread and pops it afterwards, so inference may run from any
    thread (the node's worker thread, say).
    """

    def __init__(self, cuda: Any, device: int = 0) -> None:
        try:
            cuda.init()
            if cuda.Device.count() < 1:
                raise BackendError("no CUDA GPU found")
            self.device = cuda.Device(device)
            self.context = self.device.retain_primary_context()
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"cannot open CUDA device {device}: {exc}") from exc

    @contextmanager
    def active(self) -> Iterator[None]:
        self.context.push()
        try:
            yield
        finally:
            self.context.pop()

    def release(self) -> None:
        self.context.detach()


@dataclass(frozen=True)
class EngineBuild:
    """Where an engine came from: its cache path and key, whether it was just built, and why."""

    path: Path
    key: EngineKey
    built: bool
    seconds: float
    reason: str


def _make_calibrator(trt: Any, cuda: Any, spec: ModelSpec, images: list[Path], shape: tuple[int, ...],
                     cache_path: Path) -> Any:
    """An IInt8EntropyCalibrator2 feeding ``images`` through the model's own Preprocessor."""
    from seg_ros.media import read_image
    from seg_ros.preprocess import Preprocessor

    preprocessor = Preprocessor(spec.preprocessing, (shape[3], shape[2]))

    class Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.remaining = list(images)
            self.batches = 0
            self.device = cuda.mem_alloc(int(np.prod(shape)) * np.dtype(np.float32).itemsize)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            # TensorRT swallows exceptions raised here, so log them and end the calibration run instead.
            try:
                if not self.remaining:
                    return None
                tensor = np.ascontiguousarray(preprocessor(read_image(self.remaining.pop(0))), np.float32)
                cuda.memcpy_htod(self.device, tensor)
                self.batches += 1
                return [int(self.device)]
            except Exception as exc:  # noqa: BLE001
                log.error("INT8 calibration stopped: %s", exc)
                return None

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            try:
                atomic_write_bytes(cache_path, bytes(cache))
            except OSError as exc:
                log.warning("cannot write INT8 calibration cache %s: %s", cache_path, exc)

    return Calibrator()


def _build_serialized(trt: Any, cuda: Any, trt_logger: Any, spec: ModelSpec, key: EngineKey, workspace_mb: int,
                      timing_path: Path, calibrator_factory: Any) -> bytes:
    """Parse ``spec``'s ONNX and build a serialized engine for ``key`` (precision, input shape, typing)."""
    builder = trt.Builder(trt_logger)
    creation = getattr(trt, "NetworkDefinitionCreationFlag", None)
    if key.typing == STRONGLY_TYPED:
        flags = 1 << int(creation.STRONGLY_TYPED)
    elif trt_major(trt) < 10 and hasattr(creation, "EXPLICIT_BATCH"):
        flags = 1 << int(creation.EXPLICIT_BATCH)  # TensorRT 8 needs it; 10 ignores it, 11 removed it
    else:
        flags = 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(spec.onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "unknown error"
        raise BackendError(f"TensorRT cannot parse {spec.onnx_path}: {errors}")
    inputs = {network.get_input(i).name: network.get_input(i) for i in range(network.num_inputs)}
    check_blob_names(spec, inputs, (network.get_output(i).name for i in range(network.num_outputs)))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if any(int(d) < 0 for d in inputs[spec.input_blob].shape):
        profile = builder.create_optimization_profile()
        profile.set_shape(spec.input_blob, key.input_shape, key.input_shape, key.input_shape)
        config.add_optimization_profile(profile)

    # Strongly typed: the precision is in the ONNX's types (seg_ros.precision), no flags. Builder flags: 8.x only.
    if key.typing == BUILDER_FLAGS and key.precision in ("fp16", "int8"):
        if getattr(builder, "platform_has_fast_fp16", True):
            config.set_flag(trt.BuilderFlag.FP16)
        elif key.precision == "fp16":
            log.warning("%s has no fast FP16; the fp16 engine is built in FP32", key.gpu_name)
    if key.typing == BUILDER_FLAGS and key.precision == "int8":
        if not getattr(builder, "platform_has_fast_int8", True):
            log.warning("%s has no fast INT8; the int8 engine may be slow", key.gpu_name)
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator_factory()

    blob = b""
    if timing_path.is_file():
        try:
            blob = timing_path.read_bytes()
        except OSError:
            blob = b""
    try:
        timing_cache = config.create_timing_cache(blob)
    except Exception:  # noqa: BLE001 - a corrupt timing cache only costs build time: start a fresh one
        timing_cache = None
    if timing_cache is None:
        log.warning("TensorRT timing cache %s is unreadable; starting a new one", timing_path)
        timing_cache = config.create_timing_cache(b"")
    config.set_timing_cache(timing_cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT could not build an engine for {spec.onnx_path} (see the TensorRT log)")
    try:
        atomic_write_bytes(timing_path, bytes(config.get_timing_cache().serialize()))
    except OSError as exc:
        log.warning("cannot write TensorRT timing cache %s: %s", timing_path, exc)
    return bytes(serialized)


def _typed_onnx(spec: ModelSpec, precision: str, calibration_dir: Path | None) -> tuple[Path, str]:
    """(ONNX to build strongly typed, calibration-set hash) from seg_ros.precision; clear error for INT8 without."""
    from seg_ros.precision import precision_model

    try:
        model = precision_model(spec, precision, calibration_dir)
    except ConfigError as exc:
        if precision == "int8" and calibration_dir is None:
            raise BackendError(f"no usable INT8 engine for {spec.name} (no calibrated INT8 model is cached); build "
                               f"one ahead of time with `segnet-build-engine {spec.source or spec.name} --precision "
                               "int8 --calibration DIR`") from exc
        raise
    return model.path, model.calibration


def _prepare_engine(trt: Any, cuda: Any, trt_logger: Any, spec: ModelSpec, precision: str, workspace_mb: int,
                    cache_dir: Path | None, calibration_dir: Path | None,
                    force_reason: str | None = None) -> tuple[bytes, EngineBuild]:
    """The engine for ``spec``: from the cache when valid, else built (with one log line saying why) and cached.

    Needs the CUDA context current (the INT8 calibrator allocates device memory).
    """
    if precision not in PRECISIONS:
        raise BackendError(f"unknown TensorRT precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    typing = network_typing(trt)
    images: list[Path] = []
    calibration: str | None = ""
    if typing == STRONGLY_TYPED:
        onnx_path, calibration = _typed_onnx(spec, precision, calibration_dir)
        spec = replace(spec, onnx_path=onnx_path)
    elif precision == "int8":
        calibration = None  # reuse whichever calibration the cached engine has
        if calibration_dir is not None:
            from seg_ros.precision import calibration_images, calibration_set_hash

            images = calibration_images(Path(calibration_dir))
            calibration = calibration_set_hash(images)
    gpu_name, capability = gpu_facts(cuda)
    key = EngineKey(onnx_sha256=file_sha256(spec.onnx_path), tensorrt_version=str(trt.__version__),
                    gpu_name=gpu_name, compute_capability=capability, precision=precision,
                    input_shape=model_input_shape(spec), calibration=calibration, typing=typing)
    path = engine_path(cache_dir, spec.name, key)
    if force_reason is None:
        data, reason = load_cached_engine(path, key)
        if data is not None:
            return data, EngineBuild(path, key, False, 0.0, reason)
    else:
        reason = force_reason
    if calibration is None:
        raise BackendError(f"no usable INT8 engine for {spec.name} ({reason}); build one ahead of time with "
                           f"`segnet-build-engine {spec.source or spec.name} --precision int8 --calibration DIR`")
    log.info("building TensorRT %s engine for %s (%s, %s)", precision, spec.name, typing, reason)
    started = time.perf_counter()
    calib_path = calibration_cache_path(cache_dir, spec.name, key)
    data = _build_serialized(trt, cuda, trt_logger, spec, key, workspace_mb, timing_cache_path(cache_dir, key),
                             lambda: _make_calibrator(trt, cuda, spec, images, key.input_shape, calib_path))
    seconds = time.perf_counter() - started
    try:
        store_engine(path, key, data, seconds, spec.name)
    except OSError as exc:
        log.warning("cannot cache the TensorRT engine at %s: %s (it will be rebuilt next start)", path, exc)
    return data, EngineBuild(path, key, True, seconds, reason)


def build_engine(spec: ModelSpec, precision: str = "fp16", workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 cache_dir: Path | None = None, calibration_dir: Path | None = None,
                 force: bool = False) -> EngineBuild:
    """Build (or validate the cached) engine ahead of time, without creating an inference context."""
    trt, cuda = _import_runtime()
    gpu = CudaContext(cuda)
    try:
        with gpu.active():
            trt_logger = trt.Logger(trt.Logger.WARNING)
            _, result = _prepare_engine(trt, cuda, trt_logger, spec, precision, workspace_mb, cache_dir,
                                        calibration_dir, "rebuild requested" if force else None)
    finally:
        gpu.release()
    return result


class TensorRTBackend:
    """Runs the cached engine: page-locked host buffers, device buffers and one stream, bound by tensor name."""

    name = "tensorrt"

    def __init__(self, spec: ModelSpec, precision: str = "fp16", workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 cache_dir: Path | None = None, calibration_dir: Path | None = None) -> None:
        self._trt, self._cuda = _import_runtime()
        self._gpu = CudaContext(self._cuda)
        self._lock = threading.Lock()
        self._device_buffers: list[Any] = []
        try:
            with self._gpu.active():
                self._load(spec, precision, workspace_mb, cache_dir, calibration_dir)
        except Exception:
            self.close()
            raise

    def _load(self, spec: ModelSpec, precision: str, workspace_mb: int, cache_dir: Path | None,
              calibration_dir: Path | None) -> None:
        trt = self._trt
        self._trt_logger = trt.Logger(trt.Logger.WARNING)
        data, self.build = _prepare_engine(trt, self._cuda, self._trt_logger, spec, precision, workspace_mb,
                                           cache_dir, calibration_dir)
        self._runtime = trt.Runtime(self._trt_logger)
        engine = self._runtime.deserialize_cuda_engine(data)
        if engine is None and not self.build.built:
            data, self.build = _prepare_engine(trt, self._cuda, self._trt_logger, spec, precision, workspace_mb,
                                               cache_dir, calibration_dir,
                                               f"cached engine {self.build.path.name} failed to deserialise")
            engine = self._runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise BackendError(f"TensorRT cannot deserialise the engine it just built for {spec.onnx_path}")
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
        self._v10 = trt_major(trt) >= 10
        self._bind(spec, self.build.key.input_shape)

    def _io(self) -> list[tuple[str, bool, tuple[int, ...], Any]]:
        """(name, is_input, shape, numpy dtype) of every engine I/O tensor."""
        trt, engine = self._trt, self._engine
        if self._v10:
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            return [(n, engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT, tuple(engine.get_tensor_shape(n)),
                     trt.nptype(engine.get_tensor_dtype(n))) for n in names]
        return [(engine.get_binding_name(i), bool(engine.binding_is_input(i)), tuple(engine.get_binding_shape(i)),
                 trt.nptype(engine.get_binding_dtype(i))) for i in range(engine.num_bindings)]

    def _bind(self, spec: ModelSpec, expected: tuple[int, int, int, int]) -> None:
        cuda, context, source = self._cuda, self._context, spec.onnx_path
        io = self._io()
        inputs = [t for t in io if t[1]]
        outputs = [t for t in io if not t[1]]
        by_name = {t[0]: t for t in io}
        if spec.input_blob not in {t[0] for t in inputs}:
            raise ModelError(f"{source}: engine has no input named {spec.input_blob!r} "
                             f"(inputs: {', '.join(t[0] for t in inputs)})")
        if spec.output_blob not in {t[0] for t in outputs}:
            raise ModelError(f"{source}: engine has no output named {spec.output_blob!r} "
                             f"(outputs: {', '.join(t[0] for t in outputs)})")
        if len(inputs) != 1:
            raise ModelError(f"{source}: the engine has {len(inputs)} inputs; seg_ros feeds exactly one")
        _, _, in_shape, in_dtype = by_name[spec.input_blob]
        if len(in_shape) != 4 or any(d not in (-1, e) for d, e in zip(in_shape, expected, strict=True)):
            raise ModelError(f"{source}: engine input {spec.input_blob!r} has shape {in_shape}, expected {expected}")
        if any(d < 0 for d in in_shape):  # built with an optimisation profile: fix the shape for this context
            if self._v10:
                context.set_input_shape(spec.input_blob, expected)
            else:
                context.set_binding_shape(self._engine.get_binding_index(spec.input_blob), expected)
        shapes = {}
        for name, _, shape, _ in io:
            if any(d < 0 for d in shape):
                shape = tuple(context.get_tensor_shape(name) if self._v10
                              else context.get_binding_shape(self._engine.get_binding_index(name)))
            shapes[name] = tuple(int(d) for d in shape)
        self.input_shape = expected
        # Layout hook (seg_ros.backends.base.output_layout): the Segmenter reads the dtypes to feed and decode.
        self.input_dtype, self.output_dtype = np.dtype(in_dtype), np.dtype(by_name[spec.output_blob][3])
        self.output_shape = shapes[spec.output_blob]
        self.output_layout = output_layout(spec, self.output_shape, self.output_dtype, source, input_shape=expected)

        self._host_in = cuda.pagelocked_empty(expected, in_dtype)
        self._host_out = cuda.pagelocked_empty(self.output_shape, by_name[spec.output_blob][3])
        self._stream = cuda.Stream()
        addresses = {}
        for name, _, _, dtype in io:
            buffer = cuda.mem_alloc(int(np.prod(shapes[name])) * np.dtype(dtype).itemsize)
            self._device_buffers.append(buffer)
            addresses[name] = buffer
        self._dev_in, self._dev_out = addresses[spec.input_blob], addresses[spec.output_blob]
        if self._v10:
            for name, buffer in addresses.items():
                if not context.set_tensor_address(name, int(buffer)):
                    raise BackendError(f"TensorRT rejected the device address of tensor {name!r}")
        else:
            self._bindings = [int(addresses[name]) for name, *_ in io]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        if tensor.shape != self.input_shape:
            raise BackendError(f"TensorRT input must have shape {self.input_shape}, got {tensor.shape}")
        cuda = self._cuda
        with self._lock:
            if self._gpu is None:
                raise BackendError("TensorRT backend is closed")
            try:
                with self._gpu.active():
                    np.copyto(self._host_in, tensor, casting="same_kind")
                    cuda.memcpy_htod_async(self._dev_in, self._host_in, self._stream)
                    if self._v10:
                        ok = self._context.execute_async_v3(self._stream.handle)
                    else:
                        ok = self._context.execute_async_v2(bindings=self._bindings, stream_handle=self._stream.handle)
                    cuda.memcpy_dtoh_async(self._host_out, self._dev_out, self._stream)
                    self._stream.synchronize()
            except Exception as exc:  # noqa: BLE001 - pycuda and TensorRT raise their own types
                raise BackendError(f"TensorRT inference failed: {exc}") from exc
            if not ok:
                raise BackendError("TensorRT inference failed: the execution context reported an error")
            return np.array(self._host_out, dtype=np.float32, copy=True)

    def close(self) -> None:
        """Free device and pinned host memory, the stream and the CUDA context (also safe after a failed start).

        Everything is released while the context is current: freed later by the garbage collector, after the
        context is gone, CUDA reports invalid-context errors (or the memory stays pinned).
        """
        gpu = getattr(self, "_gpu", None)
        if gpu is None:
            return
        with self._lock:  # not in the middle of an inference on another thread
            try:
                with gpu.active():
                    stream = getattr(self, "_stream", None)
                    if stream is not None:
                        stream.synchronize()
                    for buffer in self._device_buffers:
                        buffer.free()
                    self._device_buffers = []
                    for attr in ("_host_in", "_host_out"):
                        array = getattr(self, attr, None)
                        free = getattr(getattr(array, "base", None), "free", None)  # pycuda HostAllocation
                        if free is not None:
                            free()
                    for attr in ("_host_in", "_host_out", "_dev_in", "_dev_out", "_bindings", "_stream",
                                 "_context", "_engine", "_runtime"):
                        if hasattr(self, attr):
                            delattr(self, attr)  # the last reference: pycuda destroys the stream here
                    del stream
            finally:
                gpu.release()
                self._gpu = None
