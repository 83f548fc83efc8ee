"""Rendering cost at 1280x720 from an 18x10 class grid: seg_ros.render against the naive full-frame approach.

Run: ``python benchmarks/bench_render.py``. Prints median milliseconds and the speed-up measured in this run.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from seg_ros import render
from seg_ros.model import parse_colors

WIDTH, HEIGHT, GRID_W, GRID_H = 1280, 720, 18, 10
DEEPSCENE_COLORS = ["200 155 75 180", "85 210 100", "15 100 20", "255 185 0", "0 120 255 150"]


def naive_overlay(image: np.ndarray, class_map: np.ndarray, colors: np.ndarray, alpha: float = 150.0) -> np.ndarray:
    """The obvious way: upsample the class map, paint each class at full resolution, blend with one alpha."""
    height, width = image.shape[:2]
    full = cv2.resize(class_map, (width, height), interpolation=cv2.INTER_NEAREST)
    painted = np.zeros_like(image)
    for class_id, color in enumerate(colors):
        painted[full == class_id] = color[:3]
    return cv2.addWeighted(image, 1.0 - alpha / 255.0, painted, alpha / 255.0, 0.0)


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main(repeat: int = 100) -> dict[str, float]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    colors, explicit = parse_colors(DEEPSCENE_COLORS, "DeepScene")
    colors[~explicit, 3] = 150.0
    uniform = colors.copy()
    uniform[:, 3] = 150.0
    # Blobs rather than noise, like a real segmentation (the cost does not depend on the content).
    class_map = cv2.resize(rng.integers(0, len(colors), (3, 5), dtype=np.uint8), (GRID_W, GRID_H),
                           interpolation=cv2.INTER_NEAREST)
    cases = {
        "overlay point (mixed alpha)": lambda: render.render_overlay(image, class_map, colors, "point"),
        "overlay linear (mixed alpha)": lambda: render.render_overlay(image, class_map, colors, "linear"),
        "overlay point (one alpha)": lambda: render.render_overlay(image, class_map, uniform, "point"),
        "overlay linear (one alpha)": lambda: render.render_overlay(image, class_map, uniform, "linear"),
        "mask point": lambda: render.render_mask(class_map, colors, (WIDTH, HEIGHT), "point"),
        "mask linear": lambda: render.render_mask(class_map, colors, (WIDTH, HEIGHT), "linear"),
        "naive overlay": lambda: naive_overlay(image, class_map, colors),
    }
    results = {name: median_ms(fn, max(5, repeat // 5) if "naive" in name else repeat) for name, fn in cases.items()}
    print(f"render {WIDTH}x{HEIGHT} from a {GRID_W}x{GRID_H} grid, median of {repeat} runs "
          f"(OpenCV threads: {cv2.getNumThreads()})")
    for name, ms in results.items():
        print(f"  {name:<30s} {ms:7.3f} ms")
    naive = results["naive overlay"]
    for name in ("overlay point (mixed alpha)", "overlay linear (mixed alpha)",
                 "overlay point (one alpha)", "overlay linear (one alpha)"):
        print(f"  speed-up vs naive, {name:<28s} {naive / results[name]:5.1f}x")
    return results


if __name__ == "__main__":
    main()
