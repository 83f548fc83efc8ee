"""Per-stage timings of the core pipeline at 1280x720 input: an FCN-ResNet18-shaped network and ESPNet-CamVid.

Run: ``python benchmarks/bench_pipeline.py [--shared ../shared] [--frames 30] [--threads 2]``.
Prints a table per network (preprocess / network / postprocess / render median and p99) and the end-to-end frame rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from seg_ros.model import load_model_dir
from seg_ros.paths import shared_root
from seg_ros.registry import resolve_model
from seg_ros.render import render_mask, render_overlay
from seg_ros.segmenter import Segmenter
from seg_ros.synthetic import write_model_dir


def _frame(shared: Path) -> np.ndarray:
    sample = shared / "data" / "jetson-inference" / "images" / "trail_0.jpg"
    image = cv2.imread(str(sample)) if sample.is_file() else None
    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(image, (1280, 720))[:, :, ::-1])


def bench(name: str, segmenter: Segmenter, frame: np.ndarray, frames: int) -> None:
    colors = segmenter.spec.with_alpha(150).colors
    for _ in range(3):  # warm-up, not recorded below
        segmenter.segment(frame)
    segmenter.timer = type(segmenter.timer)()
    start = time.perf_counter()
    for _ in range(frames):
        result = segmenter.segment(frame)
        with segmenter.timer.stage("render"):
            render_overlay(frame, result.class_map, colors, "linear")
            render_mask(result.class_map, colors, (frame.shape[1], frame.shape[0]), "linear")
    elapsed = time.perf_counter() - start
    w, h = segmenter.input_size
    print(segmenter.timer.format_table(f"{name} (network {w}x{h}, grid {segmenter.grid_size[0]}x"
                                       f"{segmenter.grid_size[1]}, input 1280x720) — ms"))
    print(f"  end to end: {frames / elapsed:.1f} FPS over {frames} frames\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=shared_root())
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    frame = _frame(args.shared)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_model_dir(Path(tmp) / "fcn", (576, 320), 5)
        bench("FCN-ResNet18-shaped (random weights)", Segmenter(resolve_model(str(folder)), threads=args.threads),
              frame, args.frames)
    camvid = args.shared / "models" / "espnet-camvid-480x360"
    if camvid.is_dir():
        bench("ESPNet-CamVid", Segmenter(load_model_dir(camvid), threads=args.threads, ignore_class=None),
              frame, args.frames)
    else:
        print(f"ESPNet-CamVid skipped: {camvid} not found")


if __name__ == "__main__":
    main()
