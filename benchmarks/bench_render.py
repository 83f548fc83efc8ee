"""Rendering cost at 1280x720 from the 18x10 DeepScene class grids and from 480x360 (ESPNet-sized) class maps.

Run: ``python benchmarks/bench_render.py [--repeat N] [--shared DIR] [--contend]``. The coarse cases run over
the nine real DeepScene grids of jetson-inference's QA set (a synthetic blob grid when the shared data is
absent), with the DeepScene colours (trail alpha 180, the others 150) and with one alpha for all classes; the
fine cases over blobby 480x360 maps of 12 classes with per-class alphas, to 1280x720 and to their own size.
The node cases repeat segnet_node's render worker: per frame an overlay at camera size (1280x720) and a colour
mask at network input size (576x320 for 18x10 grids, 480x360 for ESPNet), on a thread of its own at nice
``render_thread_nice`` (10), timed in wall and in thread CPU time. With ``--contend`` the ESPNet ONNX network
runs inference without pause on another thread meanwhile, as the node's segment worker does: the niced
renderer then waits for the CPU, and its wall time grows far beyond its CPU time.
Prints median and minimum milliseconds per frame and the speed-ups over the naive overlay measured in the same
run; the machine's load average is printed because the median moves with it.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from seg_ros import render
from seg_ros.model import parse_colors
from seg_ros.paths import shared_root

WIDTH, HEIGHT, GRID_W, GRID_H = 1280, 720, 18, 10
DEEPSCENE_COLORS = ["200 155 75 180", "85 210 100", "15 100 20", "255 185 0", "0 120 255 150"]
DEFAULT_SHARED = shared_root()
GRIDS = Path("data/jetson-inference/qa/deepscene_class_grids.json")
ESPNET = Path("models/espnet-camvid-480x360/espnet.onnx")
NODE_NICE = 10


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


def fine_maps(count: int = 4, classes: int = 12) -> list[np.ndarray]:
    """Blobby 480x360 class maps (ESPNet's output size)."""
    rng = np.random.default_rng(1)
    return [cv2.resize(rng.integers(0, classes, (18, 24), dtype=np.uint8), (480, 360), interpolation=cv2.INTER_NEAREST)
            for _ in range(count)]


def node_pattern_ms(frame: Callable[[np.ndarray], None], grids: list[np.ndarray], repeat: int,
                    nice: int = NODE_NICE) -> tuple[float, float, float, float]:
    """Median/min wall and median/min thread-CPU ms of ``frame(grid)`` on a fresh thread at ``nice``.

    A short sleep between frames stands for the wait on the next inference result.
    """
    walls: list[float] = []
    cpus: list[float] = []

    def worker() -> None:
        if nice > 0 and hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            except OSError:
                pass
        for i in range(repeat + len(grids)):
            grid = grids[i % len(grids)]
            wall, cpu = time.perf_counter(), time.thread_time()
            frame(grid)
            if i >= len(grids):  # the first round warms up
                walls.append(time.perf_counter() - wall)
                cpus.append(time.thread_time() - cpu)
            time.sleep(0.005)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    walls_ms, cpus_ms = np.array(walls) * 1e3, np.array(cpus) * 1e3
    return float(np.median(walls_ms)), float(walls_ms.min()), float(np.median(cpus_ms)), float(cpus_ms.min())


class Contention:
    """ESPNet inference without pause on a thread of its own (onnxruntime's default threads), like the node's."""

    def __init__(self, model: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        shape = [d if isinstance(d, int) else 1 for d in self.session.get_inputs()[0].shape]
        self.feed = {self.session.get_inputs()[0].name: np.zeros(shape, np.float32)}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.session.run(None, self.feed)

    def __enter__(self) -> Contention:
        self.thread.start()
        time.sleep(1.0)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per case (default 200)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder")
    parser.add_argument("--contend", action="store_true", help="node cases also with ESPNet inference running")
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
    fine = fine_maps()
    fine_colors = np.random.default_rng(2).integers(0, 256, (12, 4)).astype(np.float32)
    image_fine = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
    fine_cases = {}
    for mode in render.FILTER_MODES:
        fine_cases[f"480x360 mask {mode} -> 720p"] = lambda g, m=mode: render.render_mask(g, fine_colors, size, m)
        fine_cases[f"480x360 mask {mode} -> 480x360"] = (
            lambda g, m=mode: render.render_mask(g, fine_colors, (480, 360), m))
        fine_cases[f"480x360 overlay {mode} -> 720p"] = (
            lambda g, m=mode: render.render_overlay(image, g, fine_colors, m, out=out))
        fine_cases[f"480x360 overlay {mode} -> 480x360"] = (
            lambda g, m=mode: render.render_overlay(image_fine, g, fine_colors, m))

    def node_frame(mask_size: tuple[int, int], frame_colors: np.ndarray) -> Callable[[np.ndarray], None]:
        def frame(grid: np.ndarray) -> None:  # _build_overlay, then _build_color_mask (fresh arrays, as the node)
            render.render_overlay(image, grid, frame_colors, "linear")
            render.render_mask(grid, frame_colors, mask_size, "linear")
        return frame

    node_cases = {
        "18x10: overlay 720p + mask 576x320": (node_frame((576, 320), colors), grids),
        "480x360: overlay 720p + mask 480x360": (node_frame((480, 360), fine_colors), fine),
    }

    results = {}
    for name, fn in cases.items():
        results[name] = timings_ms(fn, grids, max(10, args.repeat // 10) if "naive" in name else args.repeat)
    for name, fn in fine_cases.items():
        results[name] = timings_ms(fn, fine, args.repeat)
    node_results = {}
    for name, (frame, maps) in node_cases.items():
        node_results[f"{name}, nice {NODE_NICE}"] = node_pattern_ms(frame, maps, args.repeat)
    model = args.shared / ESPNET
    if args.contend and model.exists():
        with Contention(model):
            for name, (frame, maps) in node_cases.items():
                node_results[f"{name}, nice {NODE_NICE}, inference"] = node_pattern_ms(frame, maps, args.repeat)
                node_results[f"{name}, nice 0, inference"] = node_pattern_ms(frame, maps, args.repeat, nice=0)
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
    print("  node render worker per frame (linear):  wall median / min,  thread CPU median / min  ms")
    for name, (wall, wall_min, cpu, cpu_min) in node_results.items():
        print(f"    {name:<58s} {wall:7.2f} {wall_min:7.2f}   {cpu:7.2f} {cpu_min:7.2f}")
        results[f"node {name}"] = (wall, wall_min)
    return results


if __name__ == "__main__":
    main()
