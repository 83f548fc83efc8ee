"""Traversability grid cost: one 200x200-cell grid (0.05 m) from class maps / scores, with precomputed tables.

Run: ``python benchmarks/bench_grid.py [--repeat N]``. Prints median milliseconds per stage; the target is a
grid from a class map in <= 1 ms. Uses a real DeepScene class grid from ../shared when present.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from seg_ros.camera_model import CameraModel
from seg_ros.ground_projection import Extrinsics
from seg_ros.occupancy_grid import GridSpec, TraversabilityMapper
from seg_ros.paths import shared_root

CLASSES = ("trail", "grass", "vegetation", "obstacle", "sky")
SHARED = shared_root()


def median_ms(fn, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU (this process) milliseconds; CPU time is the robust one on a shared machine."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)) * 1e3, float(np.median(cpu)) * 1e3


def deepscene_grid() -> np.ndarray:
    path = SHARED / "data/jetson-inference/qa/deepscene_class_grids.json"
    if path.is_file():
        rows = json.loads(path.read_text(encoding="utf-8"))["grids"]["trail_1.jpg"]
        return np.array([[int(c) for c in row] for row in rows], dtype=np.uint8)
    return np.random.default_rng(0).integers(0, len(CLASSES), (10, 18)).astype(np.uint8)


def mapper(samples: int = 1) -> TraversabilityMapper:
    m = TraversabilityMapper(CLASSES, GridSpec(resolution=0.05, width=200, height=200, samples_per_cell=samples))
    m.update_camera(CameraModel.from_fov(1280, 720, math.radians(80)))
    m.update_extrinsics(Extrinsics.from_mounting(1.0, pitch=math.radians(17)))
    return m


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    grid = deepscene_grid()
    scores = np.eye(len(CLASSES), dtype=np.float32)[grid].transpose(2, 0, 1) * 4.0
    rng = np.random.default_rng(1)
    scores += rng.normal(0, 0.5, scores.shape).astype(np.float32)
    net_map = np.kron(grid, np.ones((32, 32), np.uint8))  # 576x320, as an upsampled network map
    cam_map = np.kron(grid, np.ones((72, 71), np.uint8))  # ~1280x720
    m = mapper()
    results: dict[str, tuple[float, float]] = {}

    def rebuild() -> None:
        m._tables = None  # noqa: SLF001 - time the table build itself
        m.build(grid)

    results["table build (18x10 map)"] = median_ms(rebuild, max(5, args.repeat // 20))
    results["grid from 18x10 class map"] = median_ms(lambda: m.build(grid), args.repeat)
    m.build(net_map)
    results["grid from 576x320 class map"] = median_ms(lambda: m.build(net_map), args.repeat)
    m.build(cam_map)
    results["grid from 1278x720 class map"] = median_ms(lambda: m.build(cam_map), args.repeat)
    results["grid from 5x10x18 scores (bilinear)"] = median_ms(lambda: m.build(scores=scores), args.repeat)
    result = m.build(scores=scores)
    results["trail heading"] = median_ms(lambda: m.trail_heading(result), args.repeat)
    from builtin_interfaces.msg import Time

    from seg_ros.ros.messages import occupancy_grid_msg

    results["nav_msgs/OccupancyGrid message from the grid"] = median_ms(
        lambda: occupancy_grid_msg(result, Time(), "base_link"), args.repeat)
    m2 = mapper(samples=2)
    results["grid from 18x10 class map, 2x2 samples/cell"] = median_ms(lambda: m2.build(grid), args.repeat)
    print(f"traversability grid 200x200 cells @ 0.05 m, camera 1280x720 80 deg, median of {args.repeat} (ms):")
    print(f"  {'':<46} {'wall':>8} {'cpu':>8}")
    for name, (wall, cpu) in results.items():
        print(f"  {name:<46} {wall:8.3f} {cpu:8.3f}")
    return results


if __name__ == "__main__":
    main()
