"""Model description: the one place that knows a network's files, blobs, classes, colours and preprocessing.

A model is a folder holding an ONNX file, ``classes.txt`` and ``colors.txt`` and optionally a
``model.yaml`` (format of ``../shared/models/*/model.yaml``). Registry networks (``models/networks.yaml``)
add the facts of the jetson-inference FCN-ResNet18 family on top of the folder's files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from seg_ros.errors import ModelError

DEFAULT_ALPHA = 150.0


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become the network's input tensor: ``(x[c] - mean[c]) / std[c] * post_scale``.

    ``mean``/``std`` are in 0..255 units and listed in the network's ``channel_order``.
    """

    channel_order: str = "rgb"  # "rgb" or "bgr"
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    post_scale: float = 1.0
    resize: str = "nearest"  # "nearest" (segNet) or "bilinear"

    def __post_init__(self) -> None:
        if self.channel_order not in ("rgb", "bgr"):
            raise ModelError(f"preprocessing channel_order must be rgb or bgr, got {self.channel_order!r}")
        if self.resize not in ("nearest", "bilinear"):
            raise ModelError(f"preprocessing resize must be nearest or bilinear, got {self.resize!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ModelError("preprocessing mean/std need three values each and std > 0")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to run and render one segmentation network."""

    name: str
    onnx_path: Path
    class_names: tuple[str, ...]
    colors: np.ndarray  # (C, 4) float32 RGBA, 0..255
    explicit_alpha: np.ndarray  # (C,) bool: colors.txt gave an alpha for this class
    input_size: tuple[int, int] | None = None  # (width, height); None = read from the ONNX
    input_blob: str = "input_0"
    output_blob: str = "output_0"
    output_stride: int | None = None  # None = read from the ONNX output shape
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    source: str = ""  # where the spec came from, for messages

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_id(self, name: str) -> int | None:
        """Case-insensitive class lookup (as segNet's ignore class); None when absent."""
        lowered = name.strip().lower()
        for i, n in enumerate(self.class_names):
            if n.lower() == lowered:
                return i
        return None

    def with_alpha(self, alpha: float) -> ModelSpec:
        """Colours with ``alpha`` for every class that has no explicit alpha in colors.txt."""
        if not 0.0 <= alpha <= 255.0:
            raise ModelError(f"alpha must be within 0..255, got {alpha}")
        colors = self.colors.copy()
        colors[~self.explicit_alpha, 3] = alpha
        return replace(self, colors=colors)


def load_class_names(path: Path) -> tuple[str, ...]:
    """One class name per line; blank lines are skipped, surrounding whitespace removed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read class names {path}: {exc.strerror or exc}") from exc
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise ModelError(f"class names file {path} is empty")
    return names


def parse_colors(lines: list[str], source: str, default_alpha: float = DEFAULT_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``R G B`` or ``R G B A`` lines into (C,4) float32 colours and an explicit-alpha mask."""
    colors, explicit = [], []
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"[\s,]+", line)
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ModelError(f"{source}:{lineno}: expected 'R G B' or 'R G B A' numbers, got {raw.strip()!r}") from None
        if len(values) not in (3, 4) or any(not 0 <= v <= 255 for v in values):
            raise ModelError(f"{source}:{lineno}: expected 3 or 4 values within 0..255, got {raw.strip()!r}")
        explicit.append(len(values) == 4)
        colors.append(values if len(values) == 4 else values + [default_alpha])
    if not colors:
        raise ModelError(f"colours file {source} has no colours")
    return np.asarray(colors, dtype=np.float32), np.asarray(explicit, dtype=bool)


def load_colors(path: Path, default_alpha: float = DEFAULT_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read colours {path}: {exc.strerror or exc}") from exc
    return parse_colors(text.splitlines(), str(path), default_alpha)


def _preprocessing_from_yaml(pre: dict, source: str) -> Preprocessing:
    """Read a ``preprocessing:`` block of model.yaml or networks.yaml."""
    default = Preprocessing()  # a partial block keeps segNet's defaults for what it does not state
    order = str(pre.get("channel_order", default.channel_order)).lower()
    mean = tuple(float(v) for v in pre.get("mean", default.mean))
    std = tuple(float(v) for v in pre.get("std", default.std))
    if "post_scale" in pre:
        post_scale = float(pre["post_scale"])
    else:
        # model.yaml states the formula in words; "(x - mean) / std / 255" means a trailing 1/255.
        formula = str(pre.get("scale_order", "(x - mean) / std")).replace(" ", "")
        post_scale = 1.0 / 255.0 if formula.endswith("/255") else 1.0
    resize = str(pre.get("resize", default.resize)).split()[0].lower()
    try:
        return Preprocessing(order, mean, std, post_scale, resize)  # type: ignore[arg-type]
    except (TypeError, ModelError) as exc:
        raise ModelError(f"{source}: bad preprocessing block: {exc}") from exc


def _find_onnx(folder: Path, preferred: str | None) -> Path:
    if preferred:
        path = folder / preferred
        if path.is_file():
            return path
    found = sorted(folder.glob("*.onnx"))
    if not found:
        raise ModelError(f"model folder {folder} has no .onnx file")
    if len(found) > 1:
        raise ModelError(f"model folder {folder} has several .onnx files ({', '.join(p.name for p in found)}); "
                         "name one in model.yaml (onnx:) or pass --model")
    return found[0]


def load_model_dir(folder: Path, name: str | None = None, defaults: dict | None = None) -> ModelSpec:
    """Build a ModelSpec from a model folder; ``defaults`` are registry facts the folder may override."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    facts = {**(defaults or {}), **folder_facts(folder)}
    onnx_path = _find_onnx(folder, facts.get("onnx"))
    return build_spec(
        name=name or facts.get("name") or folder.name,
        onnx_path=onnx_path,
        classes_path=folder / facts.get("classes", "classes.txt"),
        colors_path=folder / facts.get("colors", "colors.txt"),
        facts=facts,
        source=str(folder),
    )


def folder_facts(folder: Path) -> dict:
    """The facts a folder's optional model.yaml states (blobs, sizes, preprocessing, file names); {} without one.

    Used for model folders and for ONNX files given by path, so a model.yaml beside ``--model x.onnx`` counts too.
    """
    yaml_path = Path(folder) / "model.yaml"
    if not yaml_path.is_file():
        return {}
    try:
        meta = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot parse {yaml_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{yaml_path} must be a mapping")
    return _facts_from_model_yaml(meta, str(yaml_path))


def _facts_from_model_yaml(meta: dict, source: str) -> dict:
    facts: dict = {}
    if "name" in meta:
        facts["name"] = str(meta["name"])
    if "onnx" in meta:
        facts["onnx"] = str(meta["onnx"])
    if isinstance(meta.get("class_names"), str):
        facts["classes"] = meta["class_names"]
    if isinstance(meta.get("colors"), str):
        facts["colors"] = meta["colors"]
    inp, out = meta.get("input") or {}, meta.get("output") or {}
    if "name" in inp:
        facts["input_blob"] = str(inp["name"])
    if "name" in out:
        facts["output_blob"] = str(out["name"])
    if "shape" in inp and len(inp["shape"]) == 4:
        facts["input_size"] = [int(inp["shape"][3]), int(inp["shape"][2])]
    if "output_stride" in meta:
        facts["output_stride"] = int(meta["output_stride"])
    if isinstance(meta.get("preprocessing"), dict):
        facts["preprocessing"] = _preprocessing_from_yaml(meta["preprocessing"], source)
    return facts


def build_spec(name: str, onnx_path: Path, classes_path: Path | None, colors_path: Path | None,
               facts: dict | None = None, source: str = "") -> ModelSpec:
    """Assemble a ModelSpec from explicit files (segNet's --model/--labels/--colors) plus known facts."""
    facts = dict(facts or {})
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelError(f"ONNX file {onnx_path} does not exist")
    if classes_path is not None and Path(classes_path).is_file():
        class_names = load_class_names(Path(classes_path))
    elif facts.get("class_names"):
        class_names = tuple(facts["class_names"])
    else:
        raise ModelError(f"class names file {classes_path} does not exist")
    if colors_path is not None and Path(colors_path).is_file():
        colors, explicit = load_colors(Path(colors_path))
    elif facts.get("class_colors"):
        lines = [" ".join(str(v) for v in c) for c in facts["class_colors"]]
        colors, explicit = parse_colors(lines, f"{name} registry colours")
    else:
        colors, explicit = default_colors(len(class_names))
    if len(colors) < len(class_names):
        raise ModelError(f"{colors_path}: {len(colors)} colours for {len(class_names)} classes")
    colors, explicit = colors[: len(class_names)], explicit[: len(class_names)]
    pre = facts.get("preprocessing", Preprocessing())
    if isinstance(pre, dict):
        pre = _preprocessing_from_yaml(pre, source or name)
    size = facts.get("input_size")
    return ModelSpec(
        name=name,
        onnx_path=onnx_path,
        class_names=class_names,
        colors=colors,
        explicit_alpha=explicit,
        input_size=(int(size[0]), int(size[1])) if size else None,
        input_blob=str(facts.get("input_blob", "input_0")),
        output_blob=str(facts.get("output_blob", "output_0")),
        output_stride=int(facts["output_stride"]) if facts.get("output_stride") else None,
        preprocessing=pre,
        source=source or str(onnx_path),
    )


def default_colors(num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic distinct colours for models without colors.txt (no explicit alphas)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(num_classes, 3)).astype(np.float32)
    colors = np.concatenate([rgb, np.full((num_classes, 1), DEFAULT_ALPHA, np.float32)], axis=1)
    return colors, np.zeros(num_classes, dtype=bool)
