"""Small stand-ins for the ``tensorrt`` and ``pycuda.driver`` modules that record every call.

TensorRT and pycuda cannot be installed on CI machines, so the logic around them (cache, selection,
precision, TRT 8 vs 10/11 paths, validation) is tested against these. The ``tensorrt`` stand-in simulates one
version's API: 8.x (bindings, builder precision flags, entropy calibrator, no strongly typed networks), 10.x
(tensors by name, strongly typed networks *and* the deprecated flags/calibrator) or 11.x (strongly typed only:
no ``BuilderFlag.FP16``/``INT8``, no calibrator, no ``platform_has_fast_fp16``, no ``EXPLICIT_BATCH``).
test_trt_conformance.py checks that every public name the stand-in of a version offers (``offered``) and every
name the backend looked up on it (``used``) exist in that version's real binding module.

"Device memory" is a dict of numpy byte arrays; an "engine" is JSON describing the ONNX graph's inputs and
outputs; executing it writes ``out[0, c, i, j] = in[0, 0, i*H//h, j*W//w] + c`` so tests can check data
really went through.
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
#: The real binding versions the conformance test downloads; the stand-in simulates each of them.
VERSIONS = ("8.6.1", "10.3.0", "10.13.3.9", "11.4.0.106")


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
    used: set = field(default_factory=set)  # public tensorrt names the code under test looked up (successfully)
    offered: set = field(default_factory=set)  # public names the stand-in's objects were given at run time

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def v10(self) -> bool:
        """Tensors bound by name (10.x and later); bindings before."""
        return self.major >= 10

    @property
    def strongly_typed(self) -> bool:
        """``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` exists (10.x, 11.x)."""
        return self.major >= 10

    @property
    def weakly_typed(self) -> bool:
        """Precision builder flags, the INT8 calibrator and ``platform_has_fast_*`` exist (up to 10.x)."""
        return self.major < 11

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def called(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]


def onnx_kind(data: bytes) -> str:
    """``int8-qdq`` (QuantizeLinear nodes), ``fp16`` (FP16 initializers) or ``fp32``: what TensorRT was given."""
    import onnx

    graph = onnx.load_from_string(data).graph
    if any(n.op_type == "QuantizeLinear" for n in graph.node):
        return "int8-qdq"
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer):
        return "fp16"
    return "fp32"


def _tensorrt(s: Standin) -> types.ModuleType:
    rec = s.calls.append

    def note(name: str) -> None:
        if not name.startswith("_"):
            s.used.add(name)

    class Meta(type):
        def __getattribute__(cls, name: str):  # noqa: ANN204 - class attributes (enum members, constants)
            value = type.__getattribute__(cls, name)
            note(name)
            return value

    class Rec(metaclass=Meta):
        """Records public attribute lookups and public attributes set (stand-in internals start with ``_``)."""

        def __getattribute__(self, name: str):  # noqa: ANN204
            value = object.__getattribute__(self, name)
            note(name)
            return value

        def __setattr__(self, name: str, value: object) -> None:
            if not name.startswith("_"):
                s.offered.add(name)
            object.__setattr__(self, name, value)

    class Module(types.ModuleType):
        def __getattribute__(self, name: str):  # noqa: ANN204
            value = super().__getattribute__(name)
            note(name)
            return value

    trt = Module("tensorrt")
    trt.__version__ = s.version

    class Logger(Rec):
        WARNING, INFO, ERROR = "WARNING", "INFO", "ERROR"

        def __init__(self, severity: str = "WARNING") -> None:
            self._severity = severity

    class MemoryPoolType(Rec):
        WORKSPACE = 0

    if s.weakly_typed:
        class BuilderFlag(Rec):
            FP16, INT8 = 0, 1
    else:  # TensorRT 11: the precision flags are gone (other flags remain)
        class BuilderFlag(Rec):
            STRIP_PLAN = 3

    if s.major >= 11:
        class NetworkDefinitionCreationFlag(Rec):
            STRONGLY_TYPED = 1
    elif s.strongly_typed:
        class NetworkDefinitionCreationFlag(Rec):
            EXPLICIT_BATCH, STRONGLY_TYPED = 0, 1
    else:
        class NetworkDefinitionCreationFlag(Rec):
            EXPLICIT_BATCH = 0

    class TensorIOMode(Rec):
        INPUT, OUTPUT = "INPUT", "OUTPUT"

    class DataType(Rec):
        FLOAT = "FLOAT"

    class IInt8EntropyCalibrator2:  # not Rec: the backend's subclass keeps its own attributes
        def __init__(self) -> None:
            rec(("IInt8EntropyCalibrator2.__init__",))

    class Tensor(Rec):
        def __init__(self, name: str, shape: list[int]) -> None:
            self.name, self.shape = name, shape

    class Network(Rec):
        def __init__(self, flags: int) -> None:
            self._flags, self._inputs, self._outputs = flags, [], []

        num_inputs = property(lambda self: len(self._inputs))
        num_outputs = property(lambda self: len(self._outputs))

        def get_input(self, i: int) -> Tensor:
            return self._inputs[i]

        def get_output(self, i: int) -> Tensor:
            return self._outputs[i]

    class OnnxParser(Rec):
        def __init__(self, network: Network, logger: Logger) -> None:
            self._network, self._errors = network, []

        def parse(self, data: bytes) -> bool:
            import onnx

            try:
                graph = onnx.load_from_string(data).graph
                kind = onnx_kind(data)
            except Exception as exc:  # noqa: BLE001
                rec(("parse", len(data), None))
                self._errors = [f"standin parser: {exc}"]
                return False
            rec(("parse", len(data), kind))
            self._network._kind = kind

            def dims(v):  # noqa: ANN001
                return [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]

            self._network._inputs = [Tensor(v.name, dims(v)) for v in graph.input]
            self._network._outputs = [Tensor(v.name, dims(v)) for v in graph.output]
            return True

        num_errors = property(lambda self: len(self._errors))

        def get_error(self, i: int) -> str:
            return self._errors[i]

    class TimingCache(Rec):
        def __init__(self, blob: bytes) -> None:
            self._blob = blob

        def serialize(self) -> bytes:
            return b"timing:" + str(len(self._blob)).encode()

    class OptimizationProfile(Rec):
        def set_shape(self, name: str, low: tuple, opt: tuple, high: tuple) -> None:
            rec(("set_shape", name, tuple(low), tuple(opt), tuple(high)))

    class Config(Rec):
        def __init__(self) -> None:
            self._flags: set = set()
            self._calibrator = None
            self._timing = None

        def __setattr__(self, name: str, value: object) -> None:
            if name == "int8_calibrator":
                if not s.weakly_typed:
                    raise AttributeError("'tensorrt.IBuilderConfig' object has no attribute 'int8_calibrator'")
                note(name)
                s.offered.add(name)
                name = "_calibrator"
            super().__setattr__(name, value)

        def set_memory_pool_limit(self, pool: int, size: int) -> None:
            rec(("set_memory_pool_limit", pool, size))

        def set_flag(self, flag: int) -> None:
            rec(("set_flag", flag))
            self._flags.add(flag)

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            rec(("create_timing_cache", bytes(blob)))
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            rec(("set_timing_cache", ignore_mismatch))
            self._timing = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self._timing

        def add_optimization_profile(self, profile: OptimizationProfile) -> int:
            rec(("add_optimization_profile",))
            return 0

    class Builder(Rec):
        def __init__(self, logger: Logger) -> None:
            if s.weakly_typed:
                self.platform_has_fast_fp16 = s.fast_fp16
                self.platform_has_fast_int8 = s.fast_int8

        def create_network(self, flags: int) -> Network:
            rec(("create_network", flags))
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> OptimizationProfile:
            return OptimizationProfile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            typed = s.strongly_typed and bool(network._flags & (1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED))
            flags = sorted(config._flags)
            rec(("build_serialized_network", flags, "strongly-typed" if typed else "weakly-typed"))
            if s.build_fails:
                return None
            if typed and (flags or config._calibrator is not None):
                return None  # TensorRT: a strongly typed network takes no precision flags and no calibrator
            if s.major < 10 and not network._flags & (1 << NetworkDefinitionCreationFlag.EXPLICIT_BATCH):
                return None  # TensorRT 8: ONNX networks need explicit batch
            calib = config._calibrator
            if calib is not None:
                rec(("calibrate", calib.get_batch_size()))
                if calib.read_calibration_cache() is None:
                    names = [t.name for t in network._inputs]
                    while (ptrs := calib.get_batch(names)) is not None:
                        s.calibration_batches.append(s.memory[int(ptrs[0])].view(np.float32).copy())
                    calib.write_calibration_cache(b"standin-calibration")
            desc = {"magic": MAGIC, "flags": flags, "typed": typed, "onnx": network._kind,
                    "inputs": [[t.name, t.shape] for t in network._inputs],
                    "outputs": [[t.name, t.shape] for t in network._outputs]}
            return json.dumps(desc).encode()

    class Context(Rec):
        def __init__(self, engine: Engine) -> None:
            self._engine, self._addresses = engine, {}

        def _run(self) -> bool:
            if not s.execute_ok:
                return False
            (iname, ishape), (oname, oshape) = self._engine._io[0], self._engine._io[-1]
            ishape, oshape = [abs(d) for d in ishape], [abs(d) for d in oshape]  # a dynamic batch (-1) runs as 1
            src = s.memory[self._addresses[iname]].view(np.float32).reshape(ishape)
            _, c, h, w = oshape
            rows = np.arange(h) * ishape[2] // h
            cols = np.arange(w) * ishape[3] // w
            out = src[0, 0][np.ix_(rows, cols)][None, None] + np.arange(c, dtype=np.float32)[None, :, None, None]
            s.memory[self._addresses[oname]][:] = out.astype(np.float32).ravel().view(np.uint8)
            return True

    class Context10(Context):
        def set_input_shape(self, name: str, shape: tuple) -> bool:
            rec(("set_input_shape", name, tuple(shape)))
            return True

        def get_tensor_shape(self, name: str) -> list[int]:
            return [1 if d < 0 else d for d in dict(self._engine._io)[name]]  # the batch of 1 set above

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            rec(("set_tensor_address", name, ptr))
            self._addresses[name] = ptr
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            rec(("execute_async_v3", stream_handle))
            return self._run()

    class Context8(Context):
        def set_binding_shape(self, index: int, shape: tuple) -> bool:
            rec(("set_binding_shape", index, tuple(shape)))
            return True

        def get_binding_shape(self, index: int) -> list[int]:
            return [1 if d < 0 else d for d in self._engine._io[index][1]]

        def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
            rec(("execute_async_v2", list(bindings), stream_handle))
            self._addresses = {name: ptr for (name, _), ptr in zip(self._engine._io, bindings, strict=True)}
            return self._run()

    class Engine(Rec):
        def __init__(self, desc: dict) -> None:
            self._inputs = [tuple(t) for t in desc["inputs"]]
            self._outputs = [tuple(t) for t in desc["outputs"]]
            self._io = self._inputs + self._outputs
            self._desc = desc

        def create_execution_context(self) -> Context:
            rec(("create_execution_context",))
            return (Context10 if s.v10 else Context8)(self)

        def _mode(self, name: str) -> str:
            return "INPUT" if name in dict(self._inputs) else "OUTPUT"

    class Engine10(Engine):
        num_io_tensors = property(lambda self: len(self._io))

        def get_tensor_name(self, i: int) -> str:
            return self._io[i][0]

        def get_tensor_mode(self, name: str) -> str:
            return self._mode(name)

        def get_tensor_shape(self, name: str) -> list[int]:
            return list(dict(self._io)[name])

        def get_tensor_dtype(self, name: str) -> str:
            return DataType.FLOAT

    class Engine8(Engine):
        num_bindings = property(lambda self: len(self._io))

        def get_binding_name(self, i: int) -> str:
            return self._io[i][0]

        def get_binding_index(self, name: str) -> int:
            return next((i for i, (n, _) in enumerate(self._io) if n == name), -1)

        def binding_is_input(self, i: int) -> bool:
            return self._mode(self._io[i][0]) == "INPUT"

        def get_binding_shape(self, i: int) -> list[int]:
            return list(self._io[i][1])

        def get_binding_dtype(self, i: int) -> str:
            return DataType.FLOAT

    class Runtime(Rec):
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

    exported = [Logger, MemoryPoolType, BuilderFlag, NetworkDefinitionCreationFlag, DataType, OnnxParser, Builder,
                Runtime]
    if s.weakly_typed:
        exported.append(IInt8EntropyCalibrator2)
    if s.v10:
        exported.append(TensorIOMode)
    for obj in exported:
        setattr(trt, obj.__name__, obj)
    trt.nptype = lambda dtype: np.float32
    # Every public name this stand-in offers: module attributes, and what its classes define.
    classes = [*exported, Tensor, Network, TimingCache, OptimizationProfile, Config, Context,
               Context10 if s.v10 else Context8, Engine, Engine10 if s.v10 else Engine8]
    s.offered.update(n for n in vars(trt) if not n.startswith("_"))
    for cls in classes:
        s.offered.update(n for c in cls.__mro__ if c not in (object, Rec) for n in vars(c) if not n.startswith("_"))
    s.used.clear()  # building the module is not a use
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
                     seed: int = 0, dynamic_batch: bool = False) -> Path:
    """A model folder with a one-convolution ONNX (input_0 [1,3,H,W] -> output_0 [1,C,H/32,W/32]): cheap to write.

    ``dynamic_batch`` names the batch dimension ``N`` instead of 1 (TensorRT then needs an optimisation profile).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width, height = input_size
    batch = "N" if dynamic_batch else 1
    weights = np.random.default_rng(seed).standard_normal((num_classes, 3, 32, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input_0", "w"], ["output_0"], kernel_shape=[32, 32], strides=[32, 32])],
        "tiny", [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [batch, 3, height, width])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [batch, num_classes, height // 32, width // 32])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "tiny.onnx"))
    (folder / "classes.txt").write_text("".join(f"class_{i}\n" for i in range(num_classes)))
    (folder / "colors.txt").write_text("".join(f"{i} {i} {i}\n" for i in range(num_classes)))
    return folder


def write_conv_stack_model(folder: Path, seed: int = 0) -> Path:
    """A model folder: input_0 [1,3,32,64] -> conv -> relu -> conv -> relu -> conv -> output_0 [1,3,32,64]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    shapes = {"w0": (8, 3, 3, 3), "w1": (8, 8, 3, 3), "w2": (3, 8, 1, 1)}
    inits = [numpy_helper.from_array((0.3 * rng.standard_normal(s)).astype(np.float32), n) for n, s in shapes.items()]
    nodes = [helper.make_node("Conv", ["input_0", "w0"], ["c0"], pads=[1, 1, 1, 1], name="conv0"),
             helper.make_node("Relu", ["c0"], ["r0"], name="relu0"),
             helper.make_node("Conv", ["r0", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["output_0"], name="conv2")]
    graph = helper.make_graph(nodes, "three",
                              [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, 32, 64])],
                              [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 3, 32, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "three.onnx"))
    (folder / "classes.txt").write_text("a\nb\nc\n")
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
