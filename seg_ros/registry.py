"""Network registry and model search path: turns a name or a path into a ModelSpec.

Names resolve in this order: an existing path (model folder or ONNX file); a registry network or alias
(``models/networks.yaml``) found in a search-path folder; any folder on the search path named NAME.
The search path is ``SEG_ROS_MODEL_PATH`` (colon-separated) followed by the user cache directory.

Traversability profiles (the grid's default class costs) live in the registry too: named profiles with a
``match`` list of class names. A model's profile is, in order: what its model.yaml states (``traversability:``
a profile name, ``none`` or a mapping); its registry network's ``profile``; the first profile whose ``match``
names are all among the model's classes (the family rule: an ESPNet-CamVid folder gets ``camvid``); else none
(the grid stays off unless the node is given class_costs).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from seg_ros.cache import cache_root
from seg_ros.errors import GridConfigError, ModelError
from seg_ros.model import ModelFacts, ModelSpec, Preprocessing, build_spec, load_model_dir, model_yaml_facts
from seg_ros.occupancy_grid import TraversabilityProfile
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


@dataclass(frozen=True)
class NamedProfile:
    """A registry traversability profile and the class names (``match``) that identify its network family."""

    profile: TraversabilityProfile
    match: tuple[str, ...]


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
def _load_data(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def _load_profiles(path: Path) -> dict[str, NamedProfile]:
    profiles = {}
    for name, block in (_load_data(path).get("traversability_profiles") or {}).items():
        where = f"{path}: traversability_profiles: {name}"
        try:
            profile = TraversabilityProfile.from_mapping(block, str(name), "")
        except GridConfigError as exc:
            raise ModelError(f"{where}: {exc}") from None
        profiles[str(name).lower()] = NamedProfile(profile, tuple(str(n).lower() for n in block.get("match", ())))
    return profiles


def profiles() -> dict[str, NamedProfile]:
    """The registry's traversability profiles by name (``deepscene``, ``cityscapes``, ``camvid``)."""
    return _load_profiles(registry_file())


def traversability_profile(stated: TraversabilityProfile | str | None, class_names: Sequence[str],
                           network: str | None = None) -> TraversabilityProfile:
    """The profile a model gets: stated (a profile, a registry profile name, ``none``) or by the family rule.

    ``stated`` comes from model.yaml or, for a registry network, from its entry (``network`` names it, for the
    log). Unstated: the first registry profile whose ``match`` class names are all among ``class_names``
    (case-insensitive); none matching: a disabled profile (no grid unless costs are given). Raises
    ModelError for an unknown profile name.
    """
    if isinstance(stated, TraversabilityProfile):
        return stated
    where = f"registry network {network}" if network else "model.yaml"
    if stated == "none":
        why = f"{where}: not a traversability model" if network else "model.yaml: traversability: none"
        return TraversabilityProfile(source=why)
    known = profiles()
    if stated is not None:
        if stated not in known:
            raise ModelError(f"{where}: unknown traversability profile {stated!r} "
                             f"(registry profiles: {', '.join(sorted(known))}, none)")
        return replace(known[stated].profile, source=f"{where} says {stated}")
    lowered = {n.strip().lower() for n in class_names}
    for entry in known.values():
        if entry.match and set(entry.match) <= lowered:
            return replace(entry.profile, source=f"family rule: the classes include {', '.join(entry.match)}")
    return TraversabilityProfile(source="no registry profile matches these classes")


@lru_cache(maxsize=4)
def _load_registry(path: Path) -> dict[str, Network]:
    data = _load_data(path)
    defaults = data.get("defaults", {})
    mirror = defaults.get("mirror", "")
    family = _family_facts(defaults, str(path))
    networks = {}
    for name, entry in data["networks"].items():
        size = (int(entry["input_size"][0]), int(entry["input_size"][1]))
        model = replace(family, input_size=size, class_names=tuple(str(n) for n in entry.get("class_names", ())),
                        class_colors=tuple(tuple(row) for row in entry.get("class_colors", ())),
                        traversability=str(entry["profile"]).lower() if "profile" in entry else None)
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
    override model.yaml's. The traversability profile as :func:`traversability_profile`.
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
                      colors or path.parent / facts.colors_file, facts=facts, source=str(path),
                      profiles=traversability_profile)


def resolve_model(name_or_path: str, download: bool = False, input_size: str | Sequence[int] | None = None,
                  ) -> ModelSpec:
    """A ModelSpec for a path, registry network name/alias, or search-path folder name.

    ``download``: a registry network missing from the search path is downloaded into the cache directory
    and verified first (``seg_ros.download``); otherwise its absence is an error naming the fix.
    ``input_size``: ``"WxH"`` or (W, H) to run a dynamic-input ONNX at (node parameter ``input_size``).
    The spec carries its traversability profile (:func:`traversability_profile`).
    """
    return _resolve(name_or_path, download).with_input_size(input_size)


def _resolve(name_or_path: str, download: bool) -> ModelSpec:
    text = str(name_or_path).strip()
    if not text:
        raise ModelError("no network or model path given")
    path = Path(text).expanduser()
    if path.is_dir():
        return load_model_dir(path, profiles=traversability_profile)
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
        spec = load_model_dir(folder, name=net.name, defaults=net.model,
                              profiles=lambda stated, names: traversability_profile(stated, names, net.name))
        _check_registry_classes(spec, net)
        return spec
    folder = _folder_on_path(text)
    if folder is not None:
        return load_model_dir(folder, profiles=traversability_profile)
    known = sorted(set(networks()) | {a for n in networks().values() for a in n.aliases} | set(local_models()))
    close = difflib.get_close_matches(text.lower(), known, n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known networks: {', '.join(sorted(networks()))}"
    raise ModelError(f"unknown network {text!r}{hint}")


def _check_registry_classes(spec: ModelSpec, net: Network) -> None:
    if spec.num_classes != net.num_classes:
        raise ModelError(f"{spec.source}: {spec.num_classes} classes in classes.txt, "
                         f"registry says {net.name} has {net.num_classes}")
