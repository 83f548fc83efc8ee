"""Model description: the one place that knows a network's files, blobs, classes, colours and preprocessing.

A model is a folder holding an ONNX file, ``classes.txt`` and ``colors.txt`` and optionally a
``model.yaml`` (format of ``../shared/models/*/model.yaml``). Registry networks (``models/networks.yaml``)
state the facts of the jetson-inference FCN-ResNet18 family; the folder's model.yaml may override them.

Two frozen dataclasses carry the facts, each parsed once from its source:

- :class:`ModelFacts`: what a registry entry or a model.yaml *states* (file names, blob names, input size,
  preprocessing, fallback class names and colours); no file has been read yet.
- :class:`ModelSpec`: the resolved model (ONNX path, class names, numeric colours, blobs, input size,
  preprocessing) that preprocessing, backends and rendering take.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seg_ros.defaults import DEFAULT_ALPHA
from seg_ros.errors import ConfigError, GridConfigError, ModelError
from seg_ros.occupancy_grid import TraversabilityProfile


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become the network's input tensor: ``(x[c] - mean[c]) / std[c] * post_scale``.

    ``mean``/``std`` are in 0..255 units and listed in the network's ``channel_order``. The defaults are
    segNet's (jetson-inference FCN-ResNet18: RGB, ImageNet mean/std, nearest-neighbour resize). ``normalize``:
    whether that affine map is applied at all; None = by the input's dtype (float inputs yes, uint8 inputs
    take the raw pixels, normalisation being inside the graph). Raises ModelError for an unknown channel order
    or resize mode, or a mean/std that is not three values with std > 0.
    """

    channel_order: str = "rgb"  # "rgb" or "bgr"
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    post_scale: float = 1.0
    resize: str = "nearest"  # "nearest" (segNet) or "bilinear"
    normalize: bool | None = None  # None: float inputs are normalised, uint8 inputs get raw pixels

    def normalizes(self, dtype: np.dtype | type) -> bool:
        """Whether an input tensor of ``dtype`` gets the mean/std map (explicit ``normalize``, else float only)."""
        return self.normalize if self.normalize is not None else np.dtype(dtype).kind == "f"

    def __post_init__(self) -> None:
        if self.channel_order not in ("rgb", "bgr"):
            raise ModelError(f"preprocessing channel_order must be rgb or bgr, got {self.channel_order!r}")
        if self.resize not in ("nearest", "bilinear"):
            raise ModelError(f"preprocessing resize must be nearest or bilinear, got {self.resize!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ModelError("preprocessing mean/std need three values each and std > 0")

    @classmethod
    def from_yaml(cls, block: Mapping[str, Any], source: str) -> Preprocessing:
        """A ``preprocessing:`` block of model.yaml or networks.yaml; what it does not state keeps segNet's default.

        ``post_scale`` may be given as a number, or implied by model.yaml's ``scale_order`` wording:
        ``(x - mean) / std / 255`` means a trailing 1/255. ``resize`` may carry words after the mode
        (``bilinear to 480x360``). ``normalize: true/false`` states whether the mean/std map applies; stating
        ``mean``, ``std``, ``post_scale`` or ``scale_order`` implies true (so a uint8-input model normalises only
        when its model.yaml says so). Raises ModelError naming ``source`` for a bad block.
        """
        if not isinstance(block, Mapping):
            raise ModelError(f"{source}: preprocessing must be a mapping, got {block!r}")
        default = cls()
        try:
            order = str(block.get("channel_order", default.channel_order)).lower()
            mean = tuple(float(v) for v in block.get("mean", default.mean))
            std = tuple(float(v) for v in block.get("std", default.std))
            if "post_scale" in block:
                post_scale = float(block["post_scale"])
            else:
                formula = str(block.get("scale_order", "(x - mean) / std")).replace(" ", "")
                post_scale = 1.0 / 255.0 if formula.endswith("/255") else 1.0
            resize = str(block.get("resize", default.resize)).split()[0].lower()
            if "normalize" in block:
                if not isinstance(block["normalize"], bool):
                    raise ValueError(f"normalize must be true or false, got {block['normalize']!r}")
                normalize: bool | None = block["normalize"]
            else:
                stated = {"mean", "std", "post_scale", "scale_order"} & set(block)
                normalize = True if stated else None
            return cls(order, mean, std, post_scale, resize, normalize)  # type: ignore[arg-type]
        except (TypeError, ValueError, ModelError) as exc:
            raise ModelError(f"{source}: bad preprocessing block: {exc}") from exc


def _color_row(values: Sequence[Any], where: str, shown: str | None = None) -> tuple[float, ...]:
    """One ``R G B`` or ``R G B A`` row as floats within 0..255; else ModelError naming ``where`` and ``shown``."""
    shown = shown if shown is not None else repr(list(values) if isinstance(values, Iterable) else values)
    try:
        row = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: expected 'R G B' or 'R G B A' numbers, got {shown}") from None
    if len(row) not in (3, 4) or any(not 0 <= v <= 255 for v in row):
        raise ModelError(f"{where}: expected 3 or 4 values within 0..255, got {shown}")
    return row


def colors_from_rows(rows: Iterable[Sequence[float]], default_alpha: float = DEFAULT_ALPHA,
                     source: str = "colours") -> tuple[np.ndarray, np.ndarray]:
    """Numeric ``R G B`` / ``R G B A`` rows → (C,4) float32 RGBA colours (0..255) and a (C,) bool explicit-alpha mask.

    Rows without an alpha get ``default_alpha``. Raises ModelError for a malformed row or no rows.
    """
    checked = [_color_row(row, f"{source} row {i}") for i, row in enumerate(rows, 1)]
    if not checked:
        raise ModelError(f"colours file {source} has no colours")
    colors = np.asarray([row if len(row) == 4 else (*row, default_alpha) for row in checked], dtype=np.float32)
    return colors, np.asarray([len(row) == 4 for row in checked], dtype=bool)


def parse_colors(lines: Sequence[str], source: str,
                 default_alpha: float = DEFAULT_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """``colors.txt`` lines (``R G B`` or ``R G B A``, space or comma separated, ``#`` comments) → colours.

    Returns (C,4) float32 RGBA (0..255; ``default_alpha`` where no alpha is given) and a (C,) bool mask of
    the rows that gave an alpha. Format of jetson-inference's colors.txt. Raises ModelError naming
    ``source:line`` for a malformed line, or when no line holds a colour.
    """
    rows = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            rows.append(_color_row(re.split(r"[\s,]+", line), f"{source}:{lineno}", repr(raw.strip())))
    return colors_from_rows(rows, default_alpha, source)


def load_colors(path: Path, default_alpha: float = DEFAULT_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_colors` of a file; ModelError when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read colours {path}: {exc.strerror or exc}") from exc
    return parse_colors(text.splitlines(), str(path), default_alpha)


def load_class_names(path: Path) -> tuple[str, ...]:
    """One class name per line; blank lines skipped, whitespace stripped. ModelError if unreadable or empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read class names {path}: {exc.strerror or exc}") from exc
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise ModelError(f"class names file {path} is empty")
    return names


@dataclass(frozen=True)
class ModelFacts:
    """What a registry entry or a model.yaml states about a model folder, before any file is read.

    ``onnx``: the ONNX file's name in the folder (None: the folder's only ``.onnx``). ``input_size``:
    (width, height) in pixels (None: read from the ONNX). ``class_names`` / ``class_colors``: used only
    when the folder has no class names / colours file (registry networks state them); colour rows are
    3 or 4 numbers within 0..255, validated here. ``traversability``: the grid's default profile as stated —
    a profile, the name of a registry profile (``camvid``, ``none`` ...), or None (not stated: the registry's
    family rules decide).
    """

    name: str | None = None
    onnx: str | None = None
    classes_file: str = "classes.txt"
    colors_file: str = "colors.txt"
    input_blob: str = "input_0"
    output_blob: str = "output_0"
    input_size: tuple[int, int] | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    class_names: tuple[str, ...] = ()
    class_colors: tuple[tuple[float, ...], ...] = ()
    traversability: TraversabilityProfile | str | None = None

    def __post_init__(self) -> None:
        rows = tuple(_color_row(row, f"{self.name or 'model'} class colour {i}")
                     for i, row in enumerate(self.class_colors, 1))
        object.__setattr__(self, "class_colors", rows)
        if self.input_size is not None and (len(self.input_size) != 2 or min(self.input_size) <= 0):
            raise ModelError(f"{self.name or 'model'}: input size must be (width, height) > 0, got {self.input_size}")


def model_yaml_facts(folder: Path, base: ModelFacts | None = None) -> ModelFacts:
    """``base`` (default: plain defaults) updated by what the folder's optional ``model.yaml`` states.

    Read keys (format of ``../shared/models/*/model.yaml``): ``name``, ``onnx``, ``class_names`` and
    ``colors`` (file names), ``input.name``, ``input.size`` (``[W, H]``: the size to run an ONNX with a
    dynamic input size at), ``input.shape`` (NCHW, also gives the input size), ``output.name``,
    ``preprocessing``, ``traversability`` (a registry profile name, ``none``, or a mapping of ``class_costs``,
    ``default_cost``, ``trail_class``). Other keys (architecture, evaluation, licence ...) are documentation.
    Used for model folders and for ONNX files given by path, so a model.yaml beside ``--model x.onnx`` counts
    too. Raises ModelError for an unparsable file or a bad value.
    """
    base = base or ModelFacts()
    yaml_path = Path(folder) / "model.yaml"
    if not yaml_path.is_file():
        return base
    source = str(yaml_path)
    try:
        meta = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot parse {yaml_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{yaml_path} must be a mapping")
    inp, out = meta.get("input") or {}, meta.get("output") or {}
    if not isinstance(inp, dict) or not isinstance(out, dict):
        raise ModelError(f"{yaml_path}: input and output must be mappings")
    facts = base
    try:
        if "name" in meta:
            facts = replace(facts, name=str(meta["name"]))
        if "onnx" in meta:
            facts = replace(facts, onnx=str(meta["onnx"]))
        if isinstance(meta.get("class_names"), str):
            facts = replace(facts, classes_file=meta["class_names"])
        if isinstance(meta.get("colors"), str):
            facts = replace(facts, colors_file=meta["colors"])
        if "name" in inp:
            facts = replace(facts, input_blob=str(inp["name"]))
        if "name" in out:
            facts = replace(facts, output_blob=str(out["name"]))
        shape, from_shape = inp.get("shape"), None
        if isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) for d in shape[2:]):
            from_shape = (int(shape[3]), int(shape[2]))
            facts = replace(facts, input_size=from_shape)
        if "size" in inp:
            size = parse_input_size(inp["size"], f"{yaml_path}: input: size")
            if from_shape not in (None, size):
                raise ModelError(f"{yaml_path}: input: size {size[0]}x{size[1]} contradicts input: shape {shape}")
            facts = replace(facts, input_size=size)
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{yaml_path}: {exc}") from exc
    if "preprocessing" in meta:
        facts = replace(facts, preprocessing=Preprocessing.from_yaml(meta["preprocessing"], source))
    if "traversability" in meta:
        facts = replace(facts, traversability=_stated_profile(meta["traversability"], f"{yaml_path}: traversability"))
    return facts


def _stated_profile(value: Any, where: str) -> TraversabilityProfile | str:
    """model.yaml's ``traversability:`` value: a profile name (``none`` included) or a profile mapping."""
    if value is None or value is False:
        return "none"
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    try:
        return TraversabilityProfile.from_mapping(value, "model.yaml", where)
    except GridConfigError as exc:
        raise ModelError(str(exc)) from None


def parse_input_size(value: Any, where: str = "input size") -> tuple[int, int]:
    """``"WxH"`` (``"640x480"``), ``[W, H]`` or ``(W, H)`` → (width, height) > 0.

    The one way to give a dynamic-input ONNX its size: model.yaml ``input: size: [W, H]``, ``segnet
    --input-size WxH`` or the node parameter ``input_size``. Raises ConfigError naming ``where``.
    """
    try:
        if isinstance(value, str):
            parts = value.strip().lower().split("x")
            if len(parts) != 2:
                raise ValueError
            width, height = int(parts[0]), int(parts[1])
        else:
            if isinstance(value, str | bytes) or len(value) != 2 or not all(isinstance(v, int) for v in value):
                raise ValueError
            width, height = int(value[0]), int(value[1])
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be WxH (e.g. 640x480) or [W, H], got {value!r}") from None
    if width <= 0 or height <= 0:
        raise ConfigError(f"{where} must be positive, got {width}x{height}")
    return width, height


def _read_only(array: np.ndarray, dtype: type) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """Everything needed to run and render one segmentation network.

    ``colors``: (C,4) float32 RGBA in 0..255 units, one row per class (float because the overlay alpha,
    segNet's ``SetOverlayAlpha``, is a float); ``explicit_alpha``: (C,) bool, True where colors.txt gave the
    alpha (kept by :meth:`with_alpha`). Both are read-only copies. ``input_size``: (width, height) pixels,
    None = read from the ONNX. ``source``: where the spec came from, for messages; ``classes_source``: where
    the class names came from (a file, registry facts), for messages about the class count.
    ``traversability``: the grid's default profile (disabled = not a traversability model). Raises ModelError
    when there are no class names or the colours do not have one (RGBA) row per class. Compared by identity
    (its arrays have no single truth value).
    """

    name: str
    onnx_path: Path
    class_names: tuple[str, ...]
    colors: np.ndarray
    explicit_alpha: np.ndarray
    input_size: tuple[int, int] | None = None
    input_blob: str = "input_0"
    output_blob: str = "output_0"
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    source: str = ""
    classes_source: str = "the class names"
    traversability: TraversabilityProfile = TraversabilityProfile(source="no traversability profile")

    def __post_init__(self) -> None:
        colors = _read_only(self.colors, np.float32)
        explicit = _read_only(self.explicit_alpha, bool)
        n = len(self.class_names)
        if n == 0:
            raise ModelError(f"{self.source or self.name}: no class names")
        if colors.shape != (n, 4) or explicit.shape != (n,):
            raise ModelError(f"{self.source or self.name}: colours must be one RGBA row per class "
                             f"({n} classes), got {colors.shape} colours and {explicit.shape} alpha flags")
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "explicit_alpha", explicit)

    @property
    def num_classes(self) -> int:
        """Number of classes (= output channels the network must have)."""
        return len(self.class_names)

    def class_id(self, name: str) -> int | None:
        """Case-insensitive class lookup (as segNet's ignore class); None when absent."""
        lowered = name.strip().lower()
        for i, n in enumerate(self.class_names):
            if n.lower() == lowered:
                return i
        return None

    def with_alpha(self, alpha: float) -> ModelSpec:
        """Colours with ``alpha`` (0..255) for every class that has no explicit alpha in colors.txt."""
        if not 0.0 <= alpha <= 255.0:
            raise ModelError(f"alpha must be within 0..255, got {alpha}")
        colors = self.colors.copy()
        colors[~self.explicit_alpha, 3] = alpha
        return replace(self, colors=colors)

    def with_input_size(self, size: str | Sequence[int] | None) -> ModelSpec:
        """This spec run at ``size`` (``"WxH"`` or (W, H)); unchanged for None or ``""``.

        For an ONNX with a dynamic input size (``segnet --input-size``, node parameter ``input_size``); a fixed
        ONNX input of another size is refused when the backend loads. Raises ConfigError for a malformed size.
        """
        if size is None or (isinstance(size, str) and not size.strip()):
            return self
        return replace(self, input_size=parse_input_size(size))


IMPLICIT_BACKGROUND = "background"  # class 0 of a model whose classes.txt names one (foreground) class


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


ProfileResolver = Callable[[TraversabilityProfile | str | None, Sequence[str]], TraversabilityProfile]


def load_model_dir(folder: Path, name: str | None = None, defaults: ModelFacts | None = None,
                   profiles: ProfileResolver | None = None) -> ModelSpec:
    """A ModelSpec from a model folder; ``defaults`` are registry facts the folder's model.yaml may override.

    ``profiles`` turns the stated traversability (and the class names) into the spec's profile (the
    registry's; see :func:`build_spec`). Raises ModelError for a missing folder, no (or several unnamed) ONNX
    files, unreadable files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    facts = model_yaml_facts(folder, defaults)
    return build_spec(name or facts.name or folder.name, _find_onnx(folder, facts.onnx),
                      folder / facts.classes_file, folder / facts.colors_file, facts, source=str(folder),
                      profiles=profiles)


def build_spec(name: str, onnx_path: Path, classes_path: Path | None, colors_path: Path | None,
               facts: ModelFacts | None = None, source: str = "", profiles: ProfileResolver | None = None,
               ) -> ModelSpec:
    """Assemble a ModelSpec from explicit files (segNet's --model/--labels/--colors) plus known facts.

    Class names come from ``classes_path`` when it exists, else ``facts.class_names``; colours from
    ``colors_path``, else ``facts.class_colors``, else deterministic distinct colours. Colours beyond the
    class count are dropped. One class name means a binary model, *foreground over an implicit background*:
    the spec's classes are ``("background", name)``, background transparent black, the name's colour
    (first colour row) for the foreground. Two names are (background, foreground) as given.
    ``profiles(stated, class_names)`` gives the traversability profile (registry rules); without it only a
    profile mapping stated in model.yaml counts. Raises ModelError for a missing ONNX file, no class names,
    too few colours.
    """
    facts = facts or ModelFacts()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelError(f"ONNX file {onnx_path} does not exist")
    if classes_path is not None and Path(classes_path).is_file():
        class_names = load_class_names(Path(classes_path))
        classes_source = str(classes_path)
    elif facts.class_names:
        class_names = facts.class_names
        classes_source = f"{name} registry class names"
    else:
        raise ModelError(f"class names file {classes_path} does not exist")
    if colors_path is not None and Path(colors_path).is_file():
        colors, explicit = load_colors(Path(colors_path))
        where = str(colors_path)
    elif facts.class_colors:
        colors, explicit = colors_from_rows(facts.class_colors, source=f"{name} registry colours")
        where = f"{name} registry colours"
    else:
        colors, explicit = _default_colors(len(class_names))
        where = ""
    if len(colors) < len(class_names):
        raise ModelError(f"{where}: {len(colors)} colours for {len(class_names)} classes")
    if len(class_names) == 1:  # foreground over an implicit background
        class_names = (IMPLICIT_BACKGROUND, class_names[0])
        colors = np.concatenate([np.zeros((1, 4), np.float32), colors[:1]])
        explicit = np.concatenate([[True], explicit[:1]])
    stated = facts.traversability
    if profiles is not None:
        profile = profiles(stated, class_names)
    elif isinstance(stated, TraversabilityProfile):
        profile = stated
    else:
        profile = TraversabilityProfile(source="no traversability profile")
    return ModelSpec(
        name=name,
        onnx_path=onnx_path,
        class_names=class_names,
        colors=colors[: len(class_names)],
        explicit_alpha=explicit[: len(class_names)],
        input_size=facts.input_size,
        input_blob=facts.input_blob,
        output_blob=facts.output_blob,
        preprocessing=facts.preprocessing,
        source=source or str(onnx_path),
        classes_source=classes_source,
        traversability=profile,
    )


def _default_colors(num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic distinct colours for models without colors.txt (no explicit alphas)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(num_classes, 3)).astype(np.float32)
    colors = np.concatenate([rgb, np.full((num_classes, 1), DEFAULT_ALPHA, np.float32)], axis=1)
    return colors, np.zeros(num_classes, dtype=bool)
