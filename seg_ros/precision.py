"""Reduced precision in the graph: the FP16 and INT8 (Q/DQ) ONNX files that every backend runs.

TensorRT 11 builds every network strongly typed: precision comes from the types in the ONNX graph, not from
builder flags. So the project makes the reduced-precision ONNX itself, once, and hands the very same file to
ONNX Runtime (CPU) and to TensorRT, which is how the accuracy a robot gets is measured on any machine.

- **fp16**: ``onnxconverter_common.float16`` converts weights and activations to FP16 with the graph's inputs
  and outputs kept FP32 (the preprocessing and the argmax stay as they are). Ops in
  :data:`FP16_KEEP_FP32_OPS` (on top of the converter's own list) stay in FP32. Measured on ESPNet-CamVid
  (``benchmarks/bench_precision.py``): with no extra op kept in FP32 the class maps agree with FP32 on 99.93 %
  of the pixels and mIoU moves by +0.01, so the list is empty.
- **int8**: ONNX Runtime's static quantization writes Q/DQ pairs (``QuantizeLinear``/``DequantizeLinear``),
  calibrated on a folder of images fed through the model's own :class:`~seg_ros.preprocess.Preprocessor`.
  The recipe is TensorRT's explicit-quantization form: symmetric INT8 (zero point 0) for activations and
  per-channel weights, biases left in float. Measured on ESPNet-CamVid (FP32 mIoU 58.85): symmetric min-max
  with every op quantized gives 28.4 (27.9 with per-channel weights); percentile calibration 55.6; quantizing
  only convolutions 57.4; also keeping the first and the last convolution in float 57.9; percentile 99.99
  instead of 99.999 58.2 (entropy calibration: 50.4). That last one is :data:`INT8_RECIPE`.

Converted files are cached in ``$XDG_CACHE_HOME/seg_ros/precision`` (see :func:`precision_cache_dir`), keyed by
the source ONNX's sha256, :data:`RECIPE_VERSION`, the precision and (INT8) the calibration set's content hash,
each with a JSON sidecar; files are written atomically (temp file, fsync, rename), the ONNX first, the sidecar
second, so a crash never leaves a converted model that is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from seg_ros.cache import atomic_write_bytes, cache_root, file_sha256, file_slug
from seg_ros.errors import ConfigError, ModelError, PrecisionError, SegRosError
from seg_ros.model import ModelSpec

log = logging.getLogger("seg_ros")

PRECISIONS = ("fp32", "fp16", "int8")
PRECISION_DIR_ENV = "SEG_ROS_PRECISION_DIR"
#: Bump whenever a recipe below changes: every converted model of an older recipe is then rebuilt.
RECIPE_VERSION = 1
#: Op types kept in FP32 beyond the converter's own block list (measured: none needed, see module docstring).
FP16_KEEP_FP32_OPS: tuple[str, ...] = ()
#: The INT8 recipe (measured on ESPNet-CamVid, see the module docstring).
INT8_RECIPE = {
    "calibration": "percentile",
    "percentile": 99.99,
    "per_channel_weights": True,
    "symmetric_activations": True,
    "quantize_bias": False,
    "op_types": ["Conv"],
    "keep_float": ["first convolution", "last convolution"],
}


@dataclass(frozen=True)
class PrecisionModel:
    """The ONNX file to run at one precision, and where it came from.

    ``calibration`` is the content hash of the INT8 calibration set ("" for fp32/fp16); ``built`` says whether
    it was converted just now (``seconds`` long) or found in the cache; ``reason`` says why it was (re)built.
    """

    path: Path
    precision: str
    source_sha256: str
    calibration: str
    built: bool
    seconds: float
    reason: str


def precision_cache_dir() -> Path:
    """``$SEG_ROS_PRECISION_DIR`` if set, else ``$XDG_CACHE_HOME/seg_ros/precision`` (default ~/.cache/...)."""
    override = os.environ.get(PRECISION_DIR_ENV)
    return Path(override).expanduser() if override else cache_root() / "precision"


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a ConfigError listing them."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def calibration_images(folder: Path) -> list[Path]:
    """The images of a calibration folder that decode; a ConfigError (a user error) when there is none.

    Files that are not readable images are skipped with a warning naming them.
    """
    from seg_ros.media import MediaError, list_images, read_image

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"calibration folder {folder} does not exist")
    candidates = list_images(folder)
    readable, broken = [], []
    for path in candidates:
        try:
            read_image(path)
            readable.append(path)
        except MediaError:
            broken.append(path.name)
    if broken:
        log.warning("calibration: skipping %d unreadable image(s) in %s: %s", len(broken), folder,
                    ", ".join(broken[:5]) + (" ..." if len(broken) > 5 else ""))
    if not readable:
        found = f"{len(candidates)} image file(s), none readable" if candidates else "no image files"
        raise ConfigError(f"calibration folder {folder} has no readable image ({found})")
    return readable


def calibration_set_hash(images: list[Path]) -> str:
    """A 16-hex-digit digest of a calibration set's contents (file names and bytes, in order)."""
    digest = hashlib.sha256()
    for path in images:
        digest.update(f"{Path(path).name}\0{file_sha256(Path(path))}\n".encode())
    return digest.hexdigest()[:16]


def converted_path(cache_dir: Path, model_name: str, source_sha256: str, precision: str, calibration: str) -> Path:
    """Where the converted ONNX of one (source, recipe, precision, calibration set) lives."""
    tail = f"-{calibration}" if calibration else ""
    return Path(cache_dir) / f"{file_slug(model_name)}-{source_sha256[:12]}-{precision}-r{RECIPE_VERSION}{tail}.onnx"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _key(source_sha256: str, precision: str, calibration: str) -> dict:
    return {"source_sha256": source_sha256, "recipe_version": RECIPE_VERSION, "precision": precision,
            "calibration": calibration}


def _load_cached(path: Path, key: dict) -> str | None:
    """None when the cached file at ``path`` is valid for ``key``, else why not."""
    if not path.is_file():
        return f"no converted model at {path}"
    try:
        recorded = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"sidecar {_sidecar(path).name} missing or unreadable ({exc})"
    if not isinstance(recorded, dict) or recorded.get("key") != key:
        return f"sidecar {_sidecar(path).name} records another source, recipe or calibration set"
    if recorded.get("onnx_sha256") != file_sha256(path):
        return f"converted model {path.name} does not match its sidecar (truncated or overwritten)"
    return None


def _store(path: Path, key: dict, data: bytes, seconds: float, model_name: str, recipe: dict) -> None:
    atomic_write_bytes(path, data)
    sidecar = {"model": model_name, "key": key, "recipe": recipe, "onnx_sha256": hashlib.sha256(data).hexdigest(),
               "onnx_bytes": len(data), "convert_seconds": round(seconds, 3)}
    atomic_write_bytes(_sidecar(path), (json.dumps(sidecar, indent=2) + "\n").encode())


def _failing_op(message: str, model) -> str:  # noqa: ANN001 - onnx.ModelProto
    """``op X (node Y)`` for the first node an ONNX checker or runtime message names, else ""."""
    found = re.search(r"op_type:\s*([\w.]+),\s*node name:\s*([^)]*)\)", message)
    if found:
        return f"op {found.group(1)} (node {found.group(2).strip() or '<unnamed>'})"
    for node in model.graph.node:
        if node.name and node.name in message:
            return f"op {node.op_type} (node {node.name})"
    return ""


def load_source_onnx(spec: ModelSpec):  # noqa: ANN201 - onnx.ModelProto
    """The model's FP32 ONNX as an ``onnx.ModelProto``; a ModelError when it cannot be read or parsed."""
    import onnx

    try:
        return onnx.load(str(spec.onnx_path))
    except Exception as exc:  # noqa: BLE001 - DecodeError, OSError and others
        raise ModelError(f"cannot load ONNX model {spec.onnx_path}: {exc}") from exc


def convert_fp16(model, keep_fp32_ops: tuple[str, ...] = FP16_KEEP_FP32_OPS):  # noqa: ANN001, ANN201 - onnx protos
    """The FP16 version of an FP32 ``onnx.ModelProto``: inputs and outputs stay FP32, ``keep_fp32_ops`` stay FP32.

    The result is checked (ONNX checker with full type inference); a failure is a PrecisionError naming the op.
    """
    import onnx
    from onnxconverter_common import float16

    default = list(float16.DEFAULT_OP_BLOCK_LIST)
    block = default + [op for op in keep_fp32_ops if op not in default]
    try:
        with warnings.catch_warnings():
            # "the float32 number 1e-30 will be truncated to 1e-07": tiny weights clamped to FP16's range, by design.
            warnings.simplefilter("ignore", UserWarning)
            converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    except Exception as exc:  # noqa: BLE001 - the converter raises ValueError, KeyError, ...
        where = _failing_op(str(exc), model) or _node_in_traceback(exc)
        raise PrecisionError(f"FP16 conversion failed{' at ' + where if where else ''}: {exc}") from exc
    _sort_topologically(converted.graph)
    try:
        onnx.checker.check_model(converted, full_check=True)
    except Exception as exc:  # noqa: BLE001 - ValidationError, InferenceError
        where = _failing_op(str(exc), converted) or "an unnamed op"
        raise PrecisionError(f"FP16 conversion produced an invalid graph at {where}: {str(exc).strip()}; keep that "
                             f"op type in FP32 (seg_ros.precision.FP16_KEEP_FP32_OPS)") from exc
    return converted


def _sort_topologically(graph) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Reorder ``graph.node`` so every node follows its inputs' producers, if it does not already.

    onnxconverter-common before 1.14 (Humble's stack) appends the input casts of ``keep_io_types`` at the end
    of the node list; ONNX Runtime sorts for itself, but the checker and TensorRT's parser want the order.
    """
    import onnx

    known = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    produced = set(known)
    in_order = True
    for node in graph.node:
        if not all(i in produced for i in node.input):
            in_order = False
            break
        produced.update(node.output)
    if in_order:
        return
    pending = [onnx.NodeProto() for _ in graph.node]
    for copy, node in zip(pending, graph.node, strict=True):
        copy.CopyFrom(node)
    ordered, available = [], set(known)
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            return  # a cycle or an outer-scope name: leave the order for the checker to report
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


def _node_in_traceback(exc: BaseException) -> str:
    """The node the converter was working on when it raised (a local named ``node`` in its frames), else ""."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        node = tb.tb_frame.f_locals.get("node")
        if hasattr(node, "op_type") and hasattr(node, "name"):
            where = f"op {node.op_type} (node {node.name or '<unnamed>'})"
        tb = tb.tb_next
    return where


def _input_hw(spec: ModelSpec, model) -> tuple[int, int]:  # noqa: ANN001
    """(width, height) the network is fed at: the spec's input_size, else the ONNX input's static shape."""
    if spec.input_size is not None:
        return int(spec.input_size[0]), int(spec.input_size[1])
    for value in model.graph.input:
        if value.name == spec.input_blob:
            dims = [d.dim_value if d.HasField("dim_value") else 0 for d in value.type.tensor_type.shape.dim]
            if len(dims) == 4 and dims[2] > 0 and dims[3] > 0:
                return dims[3], dims[2]
    raise ModelError(f"{spec.onnx_path}: the input size is dynamic; give input_size in model.yaml to calibrate")


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Quantize quietly: drop ONNX Runtime's pre-processing advice (root logger) and its calibration prints."""
    class Advice(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-process" not in record.getMessage()

    root, advice = logging.getLogger(), Advice()
    root.addFilter(advice)
    try:
        with redirect_stdout(io.StringIO()):  # "Collecting tensor data and making histogram ..."
            yield
    finally:
        root.removeFilter(advice)


@contextmanager
def _working_directory(folder: Path) -> Iterator[None]:
    """Run in ``folder``: older ONNX Runtime (1.12, Humble's stack) writes ./augmented_model.onnx while calibrating."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _float_convolutions(model) -> list[str]:  # noqa: ANN001
    """Names of the nodes INT8_RECIPE keeps in float: the first and the last convolution (by graph order)."""
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    if not convs:
        return []
    names = {convs[0].name, convs[-1].name} - {""}
    return sorted(names)


def quantize_int8(spec: ModelSpec, images: list[Path]) -> bytes:
    """The Q/DQ INT8 ONNX (serialized) of ``spec``'s FP32 ONNX, calibrated on ``images`` (see INT8_RECIPE)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from seg_ros.media import read_image
    from seg_ros.preprocess import Preprocessor

    model = load_source_onnx(spec)
    preprocessor = Preprocessor(spec.preprocessing, _input_hw(spec, model))

    source = Path(spec.onnx_path).resolve()  # absolute: the quantizer runs in a temporary folder
    absolute = [Path(path).resolve() for path in images]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(absolute)

        def get_next(self) -> dict | None:
            path = next(self.remaining, None)
            return None if path is None else {spec.input_blob: np.array(preprocessor(read_image(path)))}

    with tempfile.TemporaryDirectory(prefix="seg_ros-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        try:
            with _quiet_quantizer(), _working_directory(Path(tmp)):
                quantize_static(
                    str(source), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.Percentile, op_types_to_quantize=list(INT8_RECIPE["op_types"]),
                    nodes_to_exclude=_float_convolutions(model),
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                                   "CalibPercentile": INT8_RECIPE["percentile"]})
        except SegRosError:
            raise
        except Exception as exc:  # noqa: BLE001 - the quantizer raises many types
            where = _failing_op(str(exc), model)
            raise PrecisionError(f"INT8 quantization of {spec.onnx_path} failed{' at ' + where if where else ''}: "
                                 f"{exc}") from exc
        return out.read_bytes()


def _cached_int8(cache_dir: Path, model_name: str, source_sha256: str) -> Path | None:
    """The newest valid INT8 model of this source and recipe, whichever calibration set made it."""
    stem = converted_path(cache_dir, model_name, source_sha256, "int8", "x").name[:-len("x.onnx")]
    candidates = sorted(Path(cache_dir).glob(f"{stem}*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        calibration = path.name[len(stem):-len(".onnx")]
        if _load_cached(path, _key(source_sha256, "int8", calibration)) is None:
            return path
    return None


def precision_model(spec: ModelSpec, precision: str, calibration_dir: Path | None = None,
                    cache_dir: Path | None = None, force: bool = False) -> PrecisionModel:
    """The ONNX file that runs ``spec`` at ``precision``: the source for fp32, else converted (or cached).

    INT8 needs ``calibration_dir`` unless an INT8 model of this source and recipe is cached (a robot reusing a
    model calibrated ahead of time); without either it is a ConfigError saying how to give one.
    """
    check_precision(precision)
    source_sha = file_sha256(spec.onnx_path)
    if precision == "fp32":
        return PrecisionModel(Path(spec.onnx_path), "fp32", source_sha, "", False, 0.0, "source model")
    cache_dir = Path(cache_dir) if cache_dir else precision_cache_dir()
    images: list[Path] = []
    calibration = ""
    if precision == "int8":
        if calibration_dir is None:
            cached = None if force else _cached_int8(cache_dir, spec.name, source_sha)
            if cached is None:
                raise ConfigError(
                    f"INT8 for {spec.name} needs calibration images: give a folder of representative images "
                    "(--calibration DIR, node parameter calibration_dir); none was given and no calibrated INT8 "
                    f"model of it is cached in {cache_dir}")
            calibration = cached.name[:-len(".onnx")].rsplit("-", 1)[1]
            return PrecisionModel(cached, "int8", source_sha, calibration, False, 0.0, "cached INT8 model")
        images = calibration_images(Path(calibration_dir))
        calibration = calibration_set_hash(images)
    key = _key(source_sha, precision, calibration)
    path = converted_path(cache_dir, spec.name, source_sha, precision, calibration)
    reason = "rebuild requested" if force else _load_cached(path, key)
    if reason is None:
        return PrecisionModel(path, precision, source_sha, calibration, False, 0.0, "cached converted model")
    log.info("converting %s to %s (%s)", spec.name, precision, reason)
    started = time.perf_counter()
    if precision == "fp16":
        data = convert_fp16(load_source_onnx(spec)).SerializeToString()
        recipe: dict = {"converter": f"onnxconverter_common.float16 {_version('onnxconverter-common')}",
                        "keep_io_types": True, "keep_fp32_ops": list(FP16_KEEP_FP32_OPS)}
    else:
        data = quantize_int8(spec, images)
        recipe = {**INT8_RECIPE, "calibration_images": len(images),
                  "quantizer": f"onnxruntime.quantization {_version('onnxruntime')}"}
    seconds = time.perf_counter() - started
    _store(path, key, data, seconds, spec.name, recipe)
    log.info("%s %s model: %s (%.1f s)", spec.name, precision, path, seconds)
    return PrecisionModel(path, precision, source_sha, calibration, True, seconds, reason)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def spec_at_precision(spec: ModelSpec, precision: str, calibration_dir: Path | None = None,
                      cache_dir: Path | None = None) -> ModelSpec:
    """``spec`` with its ONNX replaced by the one for ``precision`` (the same spec for fp32)."""
    if precision == "fp32":
        return spec
    model = precision_model(spec, precision, calibration_dir, cache_dir)
    return replace(spec, onnx_path=model.path)


def add_precision_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser or an argument group
    """``--precision`` and ``--calibration DIR``, the same on segnet and segnet-eval."""
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network precision: the converted ONNX both backends run (default fp16 on TensorRT, "
                             "fp32 on ONNX Runtime)")
    parser.add_argument("--calibration", type=Path, metavar="DIR",
                        help="folder of representative images for INT8 calibration (else a cached INT8 model)")
