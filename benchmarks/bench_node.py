"""segnet_node under camera load: 1280x720 rgb8 at 30 Hz from this process into a real node process over DDS.

    .venv/bin/python benchmarks/bench_node.py --duration 30

For each network (ESPNet-CamVid from ../shared and a random-weight FCN-ResNet18-shaped 576x320 network) it measures
the bare backend inference time in this process first, then runs the node with every output subscribed (the
traversability grid and trail heading included: a CameraInfo goes with every frame, the camera pose comes from
parameters as in the live demo) and reports: processed rate against 1/(bare inference), median and p99 camera-stamp
→ class_mask latency (received here), growth of latency and node memory from the first to the last third of the
run, drop counts and the node's own stage timings (the grid stage from /diagnostics). Targets: rate >= 0.95 /
inference, median latency <= inference + 15 ms, p99 <= 2 x median. Figures depend on what else runs on the machine
(the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seg_ros.backends import create_backend
from seg_ros.model import ModelSpec
from seg_ros.paths import shared_root
from seg_ros.registry import resolve_model
from seg_ros.ros.harness import (
    NODE_NAME,
    CameraFrame,
    CameraStream,
    DiagnosticsReader,
    OutputCollector,
    camera_info_for,
    grid_params,
    image_message,
    node_session,
    random_domain,
)
from seg_ros.synthetic import write_model_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()
DEEPSCENE_CLASSES = ["trail", "grass", "vegetation", "obstacle", "sky"]
DEEPSCENE_COLORS = ["200 155 75 180", "85 210 100", "15 100 20", "255 185 0", "0 120 255 150"]
OUTPUTS = ("class_mask", "color_mask", "overlay", "info", "traversable_grid", "trail_heading")


def bare_inference_times(spec: ModelSpec, threads: int, runs: int = 20) -> list[float]:
    """Times (ms) of backend.infer alone on a fixed tensor (no pre/post-processing, no ROS, nothing else running)."""
    backend = create_backend(spec, "auto", threads)
    tensor = np.random.default_rng(0).standard_normal(backend.input_shape).astype(np.float32)
    for _ in range(3):
        backend.infer(tensor)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.infer(tensor)
        times.append((time.perf_counter() - start) * 1000.0)
    del backend
    return times


def camera_image(width: int, height: int) -> np.ndarray:
    """trail_0.jpg resized to the camera size (RGB), or random pixels without the shared samples."""
    path = SHARED / "data" / "jetson-inference" / "images" / "trail_0.jpg"
    bgr = cv2.imread(str(path)) if path.is_file() else None
    if bgr is None:
        return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.cvtColor(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def thirds(values: list[float]) -> tuple[float, float]:
    n = len(values) // 3
    if n == 0:
        return float("nan"), float("nan")
    return float(np.median(values[:n])), float(np.median(values[-n:]))


@dataclass(frozen=True)
class NodeRun:
    """What one node run measured over its window: rates (Hz), latencies (ms), memory (MiB), counters."""

    network: str
    model: str
    duration_s: float
    published: int
    published_rate_hz: float
    outputs_received: dict[str, int]
    processed_rate_hz: float
    latency_median_ms: float
    latency_p99_ms: float
    latency_median_first_third_ms: float
    latency_median_last_third_ms: float
    rss_first_third_mb: float
    rss_last_third_mb: float
    frames_received: int
    frames_dropped: int
    frames_rejected: int
    node_stage_median_ms: dict[str, float]
    grid: dict[str, str | None]
    node_exit_code: int | None


@dataclass(frozen=True)
class NodeBenchResult:
    """A node run with the bare inference time (ms, median before and after it) and the targets it met."""

    run: NodeRun
    bare_inference_ms: float
    bare_inference_before_ms: float
    bare_inference_after_ms: float

    @property
    def rate_ratio(self) -> float:
        """Processed rate over 1 / bare inference."""
        return self.run.processed_rate_hz * self.bare_inference_ms / 1000.0

    def targets(self) -> dict[str, bool]:
        """rate >= 0.95 / inference, median latency <= inference + 15 ms, p99 <= 2 x median."""
        return {"rate": self.rate_ratio >= 0.95,
                "median_latency": self.run.latency_median_ms <= self.bare_inference_ms + 15.0,
                "p99_latency": self.run.latency_p99_ms <= 2.0 * self.run.latency_median_ms}

    def as_json(self) -> dict[str, Any]:
        """The run's fields, the bare inference times, rate_ratio and targets in one JSON object."""
        return {**asdict(self.run), "bare_inference_ms": self.bare_inference_ms,
                "bare_inference_before_ms": self.bare_inference_before_ms,
                "bare_inference_after_ms": self.bare_inference_after_ms, "rate_ratio": self.rate_ratio,
                "targets": self.targets()}


def run_node_bench(label: str, model: str, args: argparse.Namespace, domain: int, log_path: Path) -> NodeRun:
    """One node run under camera load: every output subscribed, figures over ``args.duration`` s after warm-up."""
    from nav_msgs.msg import OccupancyGrid
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from seg_ros.msg import SegmentationInfo, TrailHeading

    output_types = {"class_mask": Image, "color_mask": Image, "overlay": Image, "info": SegmentationInfo,
                    "traversable_grid": OccupancyGrid, "trail_heading": TrailHeading}
    params = {"model_path": model, "threads": args.threads, **grid_params(resolve_model(model).class_names)}
    params.update(kv.split(":=", 1) for kv in args.param)
    memory: list[float] = []
    with node_session(params, log_path, domain, "bench_camera", stop_timeout=60.0) as session:
        collector = OutputCollector(session.local)
        for name in OUTPUTS:  # only the infos are kept: the images would fill the memory
            collector.subscribe(f"/{NODE_NAME}/{name}", output_types[name], 5, keep=name == "info")
        diagnostics = DiagnosticsReader(session.local, NODE_NAME, qos=5)
        stream = CameraStream(session.local, qos=qos_profile_sensor_data)
        width, height = args.size
        frame = CameraFrame(image_message(camera_image(width, height)), camera_info_for(width, height))
        session.node.wait_until(stream.subscribed, 120.0, "subscribe to the camera")
        stream.start([frame], args.rate)
        try:
            time.sleep(args.warmup)  # discovery of the output subscriptions, first frames, allocator warm-up
            t0 = time.monotonic()
            end = t0 + args.duration
            while time.monotonic() < end:
                value = session.node.rss_mb()
                if value is not None:
                    memory.append(value)
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            t1 = time.monotonic()
        finally:
            stream.stop()
        status = diagnostics.newest()

    def measured(key: str) -> list:
        return [r for r in collector.received(key) if t0 <= r.receive_monotonic < t1]

    elapsed = t1 - t0
    published_n = sum(1 for f in stream.sent if t0 <= f.sent_monotonic < t1)
    counts = {name: len(measured(f"/{NODE_NAME}/{name}")) for name in OUTPUTS}
    lat = [r.latency_ms() for r in measured(f"/{NODE_NAME}/class_mask")]
    infos = [r.message for r in measured(f"/{NODE_NAME}/info")]
    rate = counts["class_mask"] / elapsed
    median = float(np.median(lat)) if lat else float("nan")
    p99 = float(np.percentile(lat, 99)) if lat else float("nan")
    lat_first, lat_last = thirds(lat)
    mem_first, mem_last = thirds(memory)
    stage = {}
    for name in ("preprocess", "network", "postprocess", "render", "latency"):
        values = [getattr(i, f"{name}_ms") for i in infos]
        stage[name] = float(np.median(values)) if values else float("nan")
    last = infos[-1] if infos else None
    return NodeRun(
        network=label, model=model, duration_s=elapsed, published=published_n,
        published_rate_hz=published_n / elapsed, outputs_received=counts, processed_rate_hz=rate,
        latency_median_ms=median, latency_p99_ms=p99,
        latency_median_first_third_ms=lat_first, latency_median_last_third_ms=lat_last,
        rss_first_third_mb=mem_first, rss_last_third_mb=mem_last,
        frames_received=last.frames_received if last else 0, frames_dropped=last.frames_dropped if last else 0,
        frames_rejected=last.frames_rejected if last else 0, node_stage_median_ms=stage,
        grid={key: status.get(key) if status is not None else None
              for key in ("grid", "grids published", "grid median (ms)", "projection table builds")},
        node_exit_code=session.node.exit_code)


def report(result: NodeBenchResult) -> str:
    """The figures of one network, as printed."""
    r, bare, t = result.run, result.bare_inference_ms, result.targets()
    ok = {True: "ok", False: "MISSED"}
    s = r.node_stage_median_ms
    return "\n".join([
        f"== {r.network}: bare inference {bare:.1f} ms (1/inference = {1000.0 / bare:.1f} Hz; median before "
        f"{result.bare_inference_before_ms:.1f}, after {result.bare_inference_after_ms:.1f} ms)",
        f"  camera {r.published_rate_hz:.1f} Hz for {r.duration_s:.0f} s; node processed "
        f"{r.processed_rate_hz:.2f} Hz = {result.rate_ratio:.2f} x 1/inference (target >= 0.95: {ok[t['rate']]})",
        f"  class_mask latency median {r.latency_median_ms:.1f} ms (target <= {bare + 15:.1f}: "
        f"{ok[t['median_latency']]}), p99 {r.latency_p99_ms:.1f} ms (target <= 2 x median: {ok[t['p99_latency']]})",
        f"  growth first -> last third: latency {r.latency_median_first_third_ms:.1f} -> "
        f"{r.latency_median_last_third_ms:.1f} ms, node RSS {r.rss_first_third_mb:.0f} -> "
        f"{r.rss_last_third_mb:.0f} MB",
        f"  outputs received {r.outputs_received}; node received {r.frames_received}, dropped "
        f"{r.frames_dropped} (latest frame wins), rejected {r.frames_rejected}; exit code {r.node_exit_code}",
        f"  node stage medians (ms): preprocess {s['preprocess']:.1f}, network {s['network']:.1f}, "
        f"postprocess {s['postprocess']:.1f}, render {s['render']:.1f}, node latency {s['latency']:.1f}",
        f"  grid: stage median {r.grid['grid median (ms)']} ms, {r.grid['grids published']} published, "
        f"projection table builds {r.grid['projection table builds']}, status {r.grid['grid']!r}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per network")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of camera input before measuring")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frame rate (Hz)")
    parser.add_argument("--size", type=lambda t: tuple(int(v) for v in t.lower().split("x")), default=(1280, 720),
                        help="camera image size WxH")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0 = backend default)")
    parser.add_argument("--networks", default="espnet,fcn-synthetic", help="comma list of espnet, fcn-synthetic")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter (repeatable), e.g. fresh_frame_budget:=0")
    parser.add_argument("--output", type=Path, default=REPO / "bench_output" / "bench_node.json")
    args = parser.parse_args(argv)

    domain = random_domain()  # this process and the node: shared memory only (harness), private domain
    print(f"bench_node: {args.size[0]}x{args.size[1]} rgb8 at {args.rate:g} Hz, {args.duration:g} s per network, "
          f"ROS_DOMAIN_ID {domain}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
          "(other processes on this machine affect every figure)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_node_") as tmp:
        for name in [n.strip() for n in args.networks.split(",") if n.strip()]:
            if name == "espnet":
                folder = SHARED / "models" / "espnet-camvid-480x360"
                if not folder.is_dir():
                    print(f"bench_node: skipping espnet: {folder} not found")
                    continue
                label = "espnet-camvid-480x360"
            elif name == "fcn-synthetic":
                folder = write_model_dir(Path(tmp) / "fcn-resnet18-synthetic-576x320", (576, 320), 5,
                                         DEEPSCENE_CLASSES, DEEPSCENE_COLORS)
                label = "fcn-resnet18-shaped 576x320 (random weights)"
            else:
                parser.error(f"unknown network {name!r}")
            spec = resolve_model(str(folder))
            # Bare inference just before and just after the node run: the machine's load drifts (shared CPU).
            before = bare_inference_times(spec, args.threads)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            log_path = args.output.parent / f"bench_node_{name}.log"
            run = run_node_bench(label, str(folder), args, domain, log_path)
            after = bare_inference_times(spec, args.threads)
            result = NodeBenchResult(run, float(np.median(before + after)), float(np.median(before)),
                                     float(np.median(after)))
            results.append(result.as_json())
            print(report(result), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    print(f"bench_node: load average now {os.getloadavg()[0]:.2f}")
    args.output.write_text(json.dumps({"load_average": os.getloadavg(), "results": results}, indent=2) + "\n")
    print(f"bench_node: results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
