"""Rendering cost at 1280x720 from the 18x10 DeepScene class grids: seg_ros.render against the naive approach.

Run: ``python benchmarks/bench_render.py [--repeat N] [--shared DIR]``. Every case runs over the nine real
DeepScene grids of jetson-inference's QA set (a synthetic blob grid when the shared data is absent), with the
DeepScene colours (trail alpha 180, the others 150) and with one alpha for all classes. Prints median and
minimum milliseconds per frame and the speed-ups over the naive overlay measured in the same run; the
machine's load average is printed because the median moves with it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from seg_ros import render
from seg_ros.model import parse_colors

WIDTH, HEIGHT, GRID_W, GRID_H = 1280, 720, 18, 10
DEEPSCENE_COLORS = ["200 155 75 180", "85 210 100", "15 100 20", "255 185 0", "0 120 255 150"]
DEFAULT_SHARED = Path(os.environ.get("SEG_ROS_SHARED") or Path(__file__).resolve().parents[2] / "shared")
GRIDS = Path("data/jetson-inference/qa/deepscene_class_grids.json")


def naive_overlay(image: np.ndarray, class_map: np.ndarray, colors: np.ndarray, alpha: float = 150.0) -> np.ndarray:
    """The obvious way: upsample the class map, paint each class at full resolution, blend with one alpha."""
    height, width = image.shape[:2]
    full = cv2.resize(class_map, (width, height), interpolation=cv2.INTER_NEAREST)
    painted = np.zeros_like(image)
    for class_id, color in enumerate(colors):
        painted[full == class_id] = color[:3]
    return cv2.addWeighted(image, 1.0 - alpha / 255.0, painted, alpha / 255.0, 0.0)


def load_grids(shared: Path) -> tuple[list[np.ndarray], str]:
    path = shared / GRIDS
    if path.exists():
        data = json.loads(path.read_text())
        return [np.array([[int(c) for c in row] for row in grid], np.uint8) for grid in data["grids"].values()], \
            f"{len(data['grids'])} DeepScene grids from {path}"
    rng = np.random.default_rng(0)
    blobs = cv2.resize(rng.integers(0, len(DEEPSCENE_COLORS), (3, 5), dtype=np.uint8), (GRID_W, GRID_H),
                       interpolation=cv2.INTER_NEAREST)
    return [blobs], "a synthetic blob grid (shared data not found)"


def timings_ms(fn, grids: list[np.ndarray], repeat: int) -> tuple[float, float]:
    """Median and minimum milliseconds of ``fn(grid)`` over ``repeat`` calls, cycling through the grids."""
    for grid in grids:
        fn(grid)
    times = []
    for i in range(repeat):
        grid = grids[i % len(grids)]
        start = time.perf_counter()
        fn(grid)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3, float(np.min(times)) * 1e3


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per case (default 200)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder")
    args = parser.parse_args(argv)

    grids, source = load_grids(args.shared)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    colors, explicit = parse_colors(DEEPSCENE_COLORS, "DeepScene")
    colors[~explicit, 3] = 150.0
    uniform = colors.copy()
    uniform[:, 3] = 150.0
    out = np.empty_like(image)
    size = (WIDTH, HEIGHT)
    cases = {
        "overlay point (180/150 alpha)": lambda g: render.render_overlay(image, g, colors, "point"),
        "overlay linear (180/150 alpha)": lambda g: render.render_overlay(image, g, colors, "linear"),
        "overlay point (one alpha)": lambda g: render.render_overlay(image, g, uniform, "point"),
        "overlay linear (one alpha)": lambda g: render.render_overlay(image, g, uniform, "linear"),
        "overlay point, out= reused": lambda g: render.render_overlay(image, g, colors, "point", out=out),
        "overlay linear, out= reused": lambda g: render.render_overlay(image, g, colors, "linear", out=out),
        "mask point": lambda g: render.render_mask(g, colors, size, "point"),
        "mask linear": lambda g: render.render_mask(g, colors, size, "linear"),
        "naive overlay (one alpha)": lambda g: naive_overlay(image, g, colors),
    }
    results = {}
    for name, fn in cases.items():
        results[name] = timings_ms(fn, grids, max(10, args.repeat // 10) if "naive" in name else args.repeat)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"render {WIDTH}x{HEIGHT} from {source}; {args.repeat} runs per case "
          f"(naive: {max(10, args.repeat // 10)}); OpenCV threads {cv2.getNumThreads()}, CPUs {os.cpu_count()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  {'case':<32s} {'median':>8s} {'min':>8s}  ms")
    for name, (median, best) in results.items():
        print(f"  {name:<32s} {median:8.3f} {best:8.3f}")
    naive_median, naive_min = results["naive overlay (one alpha)"]
    print("  speed-up vs naive (median / min):")
    for name in list(cases)[:6]:
        median, best = results[name]
        print(f"    {name:<30s} {naive_median / median:6.1f}x {naive_min / best:6.1f}x")
    return results


if __name__ == "__main__":
    main()
