"""Small stand-ins for the ``tensorrt`` and ``pycuda.driver`` modules that record every call.

TensorRT and pycuda cannot be installed on CI machines, so the logic around them (cache, selection,
precision flags, TRT 8 vs 10 binding paths, validation) is tested against these. They implement only
the documented API surface ``seg_ros.backends.tensorrt_backend`` uses. "Device memory" is a dict of
numpy byte arrays; an "engine" is JSON describing the ONNX graph's inputs and outputs; executing it writes
``out[0, c, i, j] = in[0, 0, i*H//h, j*W//w] + c`` so tests can check data really went through.
"""

from __future__ import annotations

import itertools
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

MAGIC = "STANDIN-ENGINE"


@dataclass
class Standin:
    version: str = "10.3.0"
    gpus: int = 1
    gpu_name: str = "Standin GPU"
    capability: tuple[int, int] = (8, 7)
    fast_fp16: bool = True
    fast_int8: bool = True
    build_fails: bool = False
    execute_ok: bool = True
    copy_error: str | None = None
    engine_override: dict | None = None  # replaces the inputs/outputs an engine reports after deserialising
    calls: list = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    context_depth: int = 0
    calibration_batches: list = field(default_factory=list)

    @property
    def v10(self) -> bool:
        return int(self.version.split(".")[0]) >= 10

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def called(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]


def _tensorrt(s: Standin) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = s.version
    rec = s.calls.append

    class Logger:
        WARNING, INFO, ERROR = "WARNING", "INFO", "ERROR"

        def __init__(self, severity: str = "WARNING") -> None:
            self.severity = severity

    class MemoryPoolType:
        WORKSPACE = "WORKSPACE"

    class BuilderFlag:
        FP16, INT8 = "FP16", "INT8"

    class TensorIOMode:
        INPUT, OUTPUT = "INPUT", "OUTPUT"

    class DataType:
        FLOAT = "FLOAT"

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            rec(("IInt8EntropyCalibrator2.__init__",))

    class Tensor:
        def __init__(self, name: str, shape: list[int]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self) -> None:
            self.inputs: list = []
            self.outputs: list = []

        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        def get_output(self, i: int) -> Tensor:
            return self.outputs[i]

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network, self.errors = network, []

        def parse(self, data: bytes) -> bool:
            import onnx

            rec(("parse", len(data)))
            try:
                graph = onnx.load_from_string(data).graph
            except Exception as exc:  # noqa: BLE001
                self.errors = [f"standin parser: {exc}"]
                return False

            def dims(v):  # noqa: ANN001
                return [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]

            self.network.inputs = [Tensor(v.name, dims(v)) for v in graph.input]
            self.network.outputs = [Tensor(v.name, dims(v)) for v in graph.output]
            return True

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, i: int) -> str:
            return self.errors[i]

    class TimingCache:
        def __init__(self, blob: bytes) -> None:
            self.blob = blob

        def serialize(self) -> bytes:
            return b"timing:" + str(len(self.blob)).encode()

    class Config:
        def __init__(self) -> None:
            self.flags: set = set()
            self.int8_calibrator = None
            self.timing = None

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            rec(("set_memory_pool_limit", pool, size))

        def set_flag(self, flag: str) -> None:
            rec(("set_flag", flag))
            self.flags.add(flag)

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            rec(("create_timing_cache", bytes(blob)))
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            rec(("set_timing_cache", ignore_mismatch))
            self.timing = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.timing

        def add_optimization_profile(self, profile: object) -> int:
            rec(("add_optimization_profile",))
            return 0

    class Builder:
        def __init__(self, logger: Logger) -> None:
            self.platform_has_fast_fp16 = s.fast_fp16
            self.platform_has_fast_int8 = s.fast_int8

        def create_network(self, flags: int) -> Network:
            rec(("create_network", flags))
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            rec(("build_serialized_network", sorted(config.flags)))
            if s.build_fails:
                return None
            calib = config.int8_calibrator
            if calib is not None:
                rec(("calibrate", calib.get_batch_size()))
                if calib.read_calibration_cache() is None:
                    names = [t.name for t in network.inputs]
                    while (ptrs := calib.get_batch(names)) is not None:
                        s.calibration_batches.append(s.memory[int(ptrs[0])].view(np.float32).copy())
                    calib.write_calibration_cache(b"standin-calibration")
            desc = {"magic": MAGIC, "flags": sorted(config.flags),
                    "inputs": [[t.name, t.shape] for t in network.inputs],
                    "outputs": [[t.name, t.shape] for t in network.outputs]}
            return json.dumps(desc).encode()

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.addresses = engine, {}

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            rec(("set_tensor_address", name, ptr))
            self.addresses[name] = ptr
            return True

        def _run(self) -> bool:
            if not s.execute_ok:
                return False
            (iname, ishape), (oname, oshape) = self.engine.io[0], self.engine.io[-1]
            src = s.memory[self.addresses[iname]].view(np.float32).reshape(ishape)
            _, c, h, w = oshape
            rows = np.arange(h) * ishape[2] // h
            cols = np.arange(w) * ishape[3] // w
            out = src[0, 0][np.ix_(rows, cols)][None, None] + np.arange(c, dtype=np.float32)[None, :, None, None]
            s.memory[self.addresses[oname]][:] = out.astype(np.float32).ravel().view(np.uint8)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            rec(("execute_async_v3", stream_handle))
            return self._run()

        def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
            rec(("execute_async_v2", list(bindings), stream_handle))
            self.addresses = {name: ptr for (name, _), ptr in zip(self.engine.io, bindings, strict=True)}
            return self._run()

    class Engine:
        def __init__(self, desc: dict) -> None:
            self.inputs = [tuple(t) for t in desc["inputs"]]
            self.outputs = [tuple(t) for t in desc["outputs"]]
            self.io = self.inputs + self.outputs

        def create_execution_context(self) -> Context:
            rec(("create_execution_context",))
            return Context(self)

        def _mode(self, name: str) -> str:
            return "INPUT" if name in dict(self.inputs) else "OUTPUT"

    class Engine10(Engine):
        num_io_tensors = property(lambda self: len(self.io))

        def get_tensor_name(self, i: int) -> str:
            return self.io[i][0]

        def get_tensor_mode(self, name: str) -> str:
            return self._mode(name)

        def get_tensor_shape(self, name: str) -> list[int]:
            return list(dict(self.io)[name])

        def get_tensor_dtype(self, name: str) -> str:
            return DataType.FLOAT

    class Engine8(Engine):
        num_bindings = property(lambda self: len(self.io))

        def get_binding_name(self, i: int) -> str:
            return self.io[i][0]

        def get_binding_index(self, name: str) -> int:
            return next((i for i, (n, _) in enumerate(self.io) if n == name), -1)

        def binding_is_input(self, i: int) -> bool:
            return self._mode(self.io[i][0]) == "INPUT"

        def get_binding_shape(self, i: int) -> list[int]:
            return list(self.io[i][1])

        def get_binding_dtype(self, i: int) -> str:
            return DataType.FLOAT

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            rec(("deserialize_cuda_engine", len(data)))
            try:
                desc = json.loads(bytes(data))
                assert desc["magic"] == MAGIC
            except Exception:  # noqa: BLE001 - real TensorRT logs an error and returns None
                return None
            desc.update(s.engine_override or {})
            return (Engine10 if s.v10 else Engine8)(desc)

    for obj in (Logger, MemoryPoolType, BuilderFlag, DataType, IInt8EntropyCalibrator2, OnnxParser, Builder, Runtime):
        setattr(trt, obj.__name__, obj)
    if s.v10:
        trt.TensorIOMode = TensorIOMode
    else:  # removed in TensorRT 10
        trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    trt.nptype = lambda dtype: np.float32
    return trt


def _pycuda(s: Standin) -> tuple[types.ModuleType, types.ModuleType]:
    driver = types.ModuleType("pycuda.driver")
    rec = s.calls.append
    addresses = itertools.count(0x1000, 0x1000)

    class PrimaryContext:
        def push(self) -> None:
            s.context_depth += 1

        def pop(self) -> None:
            s.context_depth -= 1

        def detach(self) -> None:
            rec(("detach",))

    class Device:
        @staticmethod
        def count() -> int:
            return s.gpus

        def __init__(self, index: int) -> None:
            self.index = index

        def name(self) -> str:
            return s.gpu_name

        def compute_capability(self) -> tuple[int, int]:
            return s.capability

        def retain_primary_context(self) -> PrimaryContext:
            rec(("retain_primary_context", self.index))
            return PrimaryContext()

    class Allocation:
        def __init__(self, nbytes: int) -> None:
            self.ptr = next(addresses)
            s.memory[self.ptr] = np.zeros(nbytes, np.uint8)

        def __int__(self) -> int:
            return self.ptr

        def free(self) -> None:
            rec(("free", self.ptr))
            del s.memory[self.ptr]

    class Stream:
        handle = 4242

        def synchronize(self) -> None:
            rec(("synchronize",))

        def __del__(self) -> None:  # pycuda destroys the CUDA stream when the object goes
            rec(("stream_destroyed", s.context_depth))

    class HostAllocation(bytearray):
        """Pinned host memory: the ``base`` of the arrays pagelocked_empty returns, as in pycuda."""

        def free(self) -> None:
            rec(("free_host", s.context_depth))

    def need_context() -> None:
        assert s.context_depth > 0, "CUDA call without a current context"

    def mem_alloc(nbytes: int) -> Allocation:
        need_context()
        rec(("mem_alloc", nbytes))
        return Allocation(nbytes)

    def pagelocked_empty(shape: tuple, dtype: object) -> np.ndarray:
        rec(("pagelocked_empty", tuple(shape)))
        return np.ndarray(shape, dtype, buffer=HostAllocation(int(np.prod(shape)) * np.dtype(dtype).itemsize))

    def memcpy_htod(dst: Allocation, src: np.ndarray) -> None:
        need_context()
        s.memory[int(dst)][:] = np.ascontiguousarray(src).ravel().view(np.uint8)

    def memcpy_htod_async(dst: Allocation, src: np.ndarray, stream: Stream) -> None:
        rec(("memcpy_htod_async",))
        if s.copy_error:
            raise RuntimeError(s.copy_error)
        memcpy_htod(dst, src)

    def memcpy_dtoh_async(dst: np.ndarray, src: Allocation, stream: Stream) -> None:
        need_context()
        rec(("memcpy_dtoh_async",))
        dst.reshape(-1).view(np.uint8)[:] = s.memory[int(src)]

    def init() -> None:
        rec(("cuda.init",))

    for obj in (init, Device, Stream, mem_alloc, pagelocked_empty, memcpy_htod, memcpy_htod_async, memcpy_dtoh_async):
        setattr(driver, obj.__name__, obj)
    package = types.ModuleType("pycuda")
    package.driver = driver
    return package, driver


def write_tiny_model(folder: Path, input_size: tuple[int, int] = (64, 32), num_classes: int = 3,
                     seed: int = 0) -> Path:
    """A model folder with a one-convolution ONNX (input_0 [1,3,H,W] -> output_0 [1,C,H/32,W/32]): cheap to write."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width, height = input_size
    weights = np.random.default_rng(seed).standard_normal((num_classes, 3, 32, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input_0", "w"], ["output_0"], kernel_shape=[32, 32], strides=[32, 32])],
        "tiny", [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, num_classes, height // 32, width // 32])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "tiny.onnx"))
    (folder / "classes.txt").write_text("".join(f"class_{i}\n" for i in range(num_classes)))
    (folder / "colors.txt").write_text("".join(f"{i} {i} {i}\n" for i in range(num_classes)))
    return folder


@pytest.fixture
def standin(monkeypatch):
    """``standin(**facts)`` installs fresh stand-in modules into sys.modules and returns their recorder."""

    def install(**facts) -> Standin:
        s = Standin(**facts)
        package, driver = _pycuda(s)
        monkeypatch.setitem(sys.modules, "tensorrt", _tensorrt(s))
        monkeypatch.setitem(sys.modules, "pycuda", package)
        monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
        return s

    return install
