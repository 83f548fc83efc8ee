"""Network registry and model search path: turns a name or a path into a ModelSpec.

Names resolve in this order: an existing path (model folder or ONNX file); a registry network or alias
(``models/networks.yaml``) found in a search-path folder; any folder on the search path named NAME.
The search path is ``SEG_ROS_MODEL_PATH`` (colon-separated) followed by the user cache directory.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from seg_ros.cache import cache_root
from seg_ros.errors import ModelError
from seg_ros.model import ModelFacts, ModelSpec, Preprocessing, build_spec, load_model_dir, model_yaml_facts
from seg_ros.paths import package_file

MODEL_PATH_ENV = "SEG_ROS_MODEL_PATH"


@dataclass(frozen=True)
class Network:
    """A registry entry: what a jetson-inference network is and where it comes from.

    ``dir``: the folder name once unpacked; ``archive``: the download's file name, fetched from ``urls`` in
    order; ``input_size``: (width, height) pixels; ``model``: the facts its folder is read with (file and blob
    names, preprocessing, class names and colours for a folder that lacks the files), which the folder's own
    model.yaml may override.
    """

    name: str
    aliases: tuple[str, ...]
    dir: str
    archive: str
    urls: tuple[str, ...]
    input_size: tuple[int, int]
    num_classes: int
    model: ModelFacts


def registry_file() -> Path:
    """models/networks.yaml in a source checkout, else the installed share/seg_ros copy."""
    try:
        return package_file("models", "networks.yaml")
    except FileNotFoundError as exc:
        raise ModelError(f"network registry {exc}") from None


def _family_facts(defaults: dict, source: str) -> ModelFacts:
    """The ``defaults:`` block's model facts, shared by every network of the registry."""
    base = ModelFacts()
    return ModelFacts(
        onnx=str(defaults["onnx"]) if "onnx" in defaults else None,
        classes_file=str(defaults.get("classes", base.classes_file)),
        colors_file=str(defaults.get("colors", base.colors_file)),
        input_blob=str(defaults.get("input_blob", base.input_blob)),
        output_blob=str(defaults.get("output_blob", base.output_blob)),
        preprocessing=Preprocessing.from_yaml(defaults.get("preprocessing", {}), f"{source} defaults"),
    )


@lru_cache(maxsize=4)
def _load_registry(path: Path) -> dict[str, Network]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    mirror = defaults.get("mirror", "")
    family = _family_facts(defaults, str(path))
    networks = {}
    for name, entry in data["networks"].items():
        size = (int(entry["input_size"][0]), int(entry["input_size"][1]))
        model = replace(family, input_size=size, class_names=tuple(str(n) for n in entry.get("class_names", ())),
                        class_colors=tuple(tuple(row) for row in entry.get("class_colors", ())))
        urls = (entry["url"],) + ((mirror + entry["archive"],) if mirror else ())
        networks[name] = Network(
            name=name, aliases=tuple(entry.get("alias", ())), dir=entry["dir"], archive=entry["archive"],
            urls=urls, input_size=size, num_classes=int(entry["num_classes"]), model=model)
    return networks


def networks() -> dict[str, Network]:
    """All registry networks by CLI name."""
    return _load_registry(registry_file())


def find_network(name: str) -> Network | None:
    """Registry lookup by CLI name or alias, case-insensitive."""
    key = name.strip().lower()
    for net in networks().values():
        if key == net.name or key in net.aliases:
            return net
    return None


def cache_dir() -> Path:
    """Where downloaded networks live: $XDG_CACHE_HOME/seg_ros/models (default ~/.cache/seg_ros/models)."""
    return cache_root() / "models"


def search_path() -> list[Path]:
    """SEG_ROS_MODEL_PATH entries, then the cache directory."""
    entries = [Path(p).expanduser() for p in os.environ.get(MODEL_PATH_ENV, "").split(":") if p]
    return entries + [cache_dir()]


def _folder_on_path(*names: str) -> Path | None:
    for root in search_path():
        for name in names:
            if name and (root / name).is_dir():
                return root / name
    return None


def local_models() -> list[str]:
    """Names of model folders found on the search path (folders with an .onnx file)."""
    found = []
    for root in search_path():
        if root.is_dir():
            found += sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.onnx")))
    return found


def network_folder(net: Network) -> Path | None:
    """The downloaded folder of a registry network, if any search-path entry has it."""
    return _folder_on_path(net.dir, net.name)


def model_from_onnx(path: Path, labels: Path | None = None, colors: Path | None = None,
                    input_blob: str | None = None, output_blob: str | None = None) -> ModelSpec:
    """An ONNX file given by path (segNet's ``--model``), with the facts of a model.yaml beside it.

    Class names and colours come from the files that model.yaml names (default classes.txt / colors.txt
    beside the ONNX) unless ``labels`` / ``colors`` are given; given files must exist. Given blob names
    override model.yaml's.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ONNX file {path} does not exist")
    for what, given in (("class names", labels), ("colours", colors)):
        if given is not None and not Path(given).is_file():
            raise ModelError(f"{what} file {given} does not exist")
    facts = model_yaml_facts(path.parent)  # a model.yaml beside the ONNX states its preprocessing and blobs
    facts = replace(facts, input_blob=input_blob or facts.input_blob, output_blob=output_blob or facts.output_blob)
    return build_spec(path.stem, path, labels or path.parent / facts.classes_file,
                      colors or path.parent / facts.colors_file, facts=facts, source=str(path))


def resolve_model(name_or_path: str, download: bool = False) -> ModelSpec:
    """A ModelSpec for a path, registry network name/alias, or search-path folder name.

    ``download``: a registry network missing from the search path is downloaded into the cache directory
    and verified first (``seg_ros.download``); otherwise its absence is an error naming the fix.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ModelError("no network or model path given")
    path = Path(text).expanduser()
    if path.is_dir():
        return load_model_dir(path)
    if path.suffix.lower() == ".onnx":
        return model_from_onnx(path)
    net = find_network(text)
    if net is not None:
        folder = network_folder(net)
        if folder is None and download:
            from seg_ros.download import download_network  # imports this module: import on use

            folder = download_network(net)
        if folder is None:
            raise ModelError(f"network {net.name} is not downloaded; run `segnet-download {net.name}` "
                             f"(or put its folder {net.dir}/ in {cache_dir()} or a {MODEL_PATH_ENV} entry)")
        spec = load_model_dir(folder, name=net.name, defaults=net.model)
        _check_registry_classes(spec, net)
        return spec
    folder = _folder_on_path(text)
    if folder is not None:
        return load_model_dir(folder)
    known = sorted(set(networks()) | {a for n in networks().values() for a in n.aliases} | set(local_models()))
    close = difflib.get_close_matches(text.lower(), known, n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known networks: {', '.join(sorted(networks()))}"
    raise ModelError(f"unknown network {text!r}{hint}")


def _check_registry_classes(spec: ModelSpec, net: Network) -> None:
    if spec.num_classes != net.num_classes:
        raise ModelError(f"{spec.source}: {spec.num_classes} classes in classes.txt, "
                         f"registry says {net.name} has {net.num_classes}")
