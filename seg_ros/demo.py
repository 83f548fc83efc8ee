"""Offline demo (``make demo``): segment the jetson-inference ``trail_*.jpg`` samples and write what segnet shows.

Uses ``fcn-resnet18-deepscene`` when it is downloaded; otherwise says so in one line and falls back to a
network on the search path (``<shared>/models`` is added to it; ``espnet-camvid-480x360`` is preferred).
Writes overlays, masks, a legend and per-image class statistics (text + JSON) and prints the stage timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from seg_ros import render
from seg_ros.cli.entry import run_cli
from seg_ros.defaults import DEFAULT_ALPHA, DEFAULT_NETWORK
from seg_ros.errors import DownloadError, MediaError, ModelError
from seg_ros.media import natural_key, read_image, write_image
from seg_ros.model import ModelSpec
from seg_ros.paths import shared_root
from seg_ros.registry import MODEL_PATH_ENV, local_models, resolve_model
from seg_ros.segmenter import Segmenter

PREFERRED_FALLBACK = "espnet-camvid-480x360"
SAMPLES = Path("data") / "jetson-inference" / "images"


def add_model_path(folder: Path) -> None:
    """Put ``folder`` first on the model search path (for this process)."""
    entries = [e for e in os.environ.get(MODEL_PATH_ENV, "").split(":") if e]
    if str(folder) not in entries:
        os.environ[MODEL_PATH_ENV] = ":".join([str(folder), *entries])


def choose_network(network: str) -> ModelSpec:
    """``network`` if it resolves (downloaded if needed), else the preferred (or first) model on the search path."""
    try:
        return resolve_model(network, download=True)
    except (ModelError, DownloadError) as exc:
        available = local_models()
        if not available:
            raise ModelError(f"{exc}; and no other network was found on the search path") from exc
        fallback = PREFERRED_FALLBACK if PREFERRED_FALLBACK in available else available[0]
        spec = resolve_model(fallback)
        print(f"demo: {network} is unavailable ({str(exc).split(';')[0]}); using {fallback} from {spec.source}")
        return spec


def _plain(value: object) -> object:
    """JSON for numpy scalars (class statistics may carry them)."""
    return value.item() if hasattr(value, "item") else str(value)


def demo_filter_mode(segmenter: Segmenter) -> str:
    """Pick segNet's filter mode for the network's class-map resolution.

    ``linear`` for coarse class grids (FCN-ResNet18: 1/32 of the input), where it hides the cells; ``point`` for
    class maps already at the network's resolution (ESPNet), which need no smoothing.
    """
    return "point" if segmenter.grid_size == segmenter.input_size else "linear"


def run_demo(shared: Path, output: Path, network: str = DEFAULT_NETWORK, alpha: float = DEFAULT_ALPHA) -> dict:
    """Segment the trail samples into ``output``; returns the JSON summary that is also written to stats.json."""
    images = sorted((shared / SAMPLES).glob("trail_*.jpg"), key=natural_key)
    if not images:
        raise MediaError(f"no trail_*.jpg sample images under {shared / SAMPLES}")
    if (shared / "models").is_dir():
        add_model_path(shared / "models")
    spec = choose_network(network).with_alpha(alpha)
    segmenter = Segmenter(spec)
    timer = segmenter.timer
    filter_mode = demo_filter_mode(segmenter)
    output.mkdir(parents=True, exist_ok=True)
    write_image(output / "legend.png", render.render_legend(spec.class_names, spec.colors))
    per_image: dict[str, list[dict]] = {}
    text = [f"network {spec.name} ({spec.source}), class statistics over the {segmenter.grid_size[0]}x"
            f"{segmenter.grid_size[1]} class map"]
    for path in images:
        image = read_image(path)
        seg = segmenter.segment(image)
        with timer.stage("render"):
            overlay = render.render_overlay(image, seg.class_map, spec.colors, filter_mode)
            mask = render.render_mask(seg.class_map, spec.colors, (image.shape[1], image.shape[0]), filter_mode)
        with timer.stage("write"):
            write_image(output / "overlay" / f"{path.stem}.jpg", overlay)
            write_image(output / "mask" / f"{path.stem}.png", mask)
        stats = render.class_statistics(seg.class_map, spec.class_names)
        per_image[path.name] = [dataclasses.asdict(s) for s in stats]
        text += ["", f"{path.name}:", render.format_statistics(stats)]
    summary = {"network": spec.name, "model": spec.source, "backend": segmenter.backend.name,
               "class_names": list(spec.class_names), "filter_mode": filter_mode, "images": per_image,
               "timing_ms": timer.summary()}
    (output / "stats.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    (output / "stats.json").write_text(json.dumps(summary, indent=2, default=_plain) + "\n", encoding="utf-8")
    print(f"demo: {len(images)} images segmented with {spec.name}; overlays, masks, legend.png, stats.txt and "
          f"stats.json in {output}")
    print(timer.format_table(f"stage timings (ms), backend {segmenter.backend.name}, {filter_mode} filter"))
    return summary


def demo_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The arguments both demos take: ``--shared`` (data folder), ``--output`` and ``--network`` (tried first)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--shared", type=Path, default=shared_root(), help="the shared data folder")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="where results are written")
    parser.add_argument("--network", default=DEFAULT_NETWORK, help="network to try first")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m seg_ros.demo``; exit status as in ``seg_ros.cli.entry``."""
    return run_cli("demo", _main, argv)


def _main(argv: list[str] | None) -> int:
    args = demo_parser("python -m seg_ros.demo", __doc__.split("\n\n")[0]).parse_args(argv)
    run_demo(args.shared.expanduser().resolve(), args.output, args.network)
    return 0


if __name__ == "__main__":
    sys.exit(main())
