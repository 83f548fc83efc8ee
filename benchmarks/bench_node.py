"""segnet_node under camera load, against a naive peer node and the bare inference limit, in one run.

    .venv/bin/python benchmarks/bench_node.py            # the whole story (about 10 minutes)
    .venv/bin/python benchmarks/bench_node.py --quick    # a smoke run: one camera size, short windows

A camera (rgb8, best effort, in this process) feeds one node process at a time over real DDS (shared memory,
``seg_ros.ros.harness``); what arrives back is timed here. Two sections:

- **overhead**: an *instant* network written by the benchmark (``seg_ros.synthetic.write_instant_onnx``:
  FCN-ResNet18's 576x320 → 18x10 interface, a 32x32 average pool and a 1x1 convolution, well under 1 ms), so
  everything measured is the node's own cost: receiving, converting, preprocessing, argmax, rendering,
  publishing — what is left of a GPU robot's CPU when TensorRT runs the network in a few milliseconds. Camera
  640x480, 1280x720 and 1920x1080 at 30 Hz and 1280x720 at 60 Hz; all outputs (class_mask, color_mask,
  overlay, info) and class mask only; ``segnet_node`` and the naive peer (``benchmarks/naive_peer.py``:
  inference inline in the subscription callback) on the same stream, one after the other. Figures: share of
  camera frames processed, camera-stamp → class_mask latency median / p99, **CPU ms per processed frame of the
  node process** (utime + stime from /proc/<pid>/stat over the window), node / peer ratios.
- **real networks** (ESPNet-CamVid from ../shared, a random-weight FCN-ResNet18-shaped 576x320): bare inference
  (this process, nothing else running) before and after the node runs; the node with the class mask only and
  with every output (the traversability grid and trail heading included: a CameraInfo goes with every frame):
  processed rate / bare inference rate, in-node network time / bare, latency median / p99, node memory growth
  from the first to the last third of the window.

Targets (issue 10; default parameters): overhead 1280x720@30 all outputs <= 8 ms CPU per frame, every frame
processed, latency median <= 0.7 x peer; 1920x1080@30 <= 15 ms CPU per frame, latency <= peer; 1280x720@60 every
frame processed; real networks class mask only >= 0.85 x bare rate, all outputs >= 0.75 x; p99 <= 2 x median;
memory flat. Figures depend on what else runs on the machine: the load average is printed with them. The JSON
goes to bench_output/bench_node.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
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
PEER_SCRIPT = Path(__file__).resolve().with_name("naive_peer.py")
PEER_NAME = "naive_peer"
SHARED = shared_root()
DEEPSCENE_CLASSES = ["trail", "grass", "vegetation", "obstacle", "sky"]
DEEPSCENE_COLORS = ["200 155 75 180", "85 210 100", "15 100 20", "255 185 0", "0 120 255 150"]
IMAGE_OUTPUTS = ("class_mask", "color_mask", "overlay", "info")  # what the node and the peer both publish
GRID_OUTPUTS = ("traversable_grid", "trail_heading")
OVERHEAD_SCENARIOS = ((640, 480, 30.0), (1280, 720, 30.0), (1920, 1080, 30.0), (1280, 720, 60.0))
EVERY_FRAME = 0.97  # share of camera frames with a class mask that counts as "every frame processed"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime (s) of every thread of process ``pid`` from /proc/<pid>/stat; None when unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bare_inference_times(spec: ModelSpec, threads: int, runs: int = 20) -> list[float]:
    """Times (ms) of backend.infer alone on a fixed tensor (no pre/post-processing, no ROS, nothing else running)."""
    backend = create_backend(spec, "auto", threads)
    dtype = getattr(backend, "input_dtype", np.float32)
    tensor = np.random.default_rng(0).standard_normal(backend.input_shape).astype(dtype)
    for _ in range(3):
        backend.infer(tensor)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.infer(tensor)
        times.append((time.perf_counter() - start) * 1000.0)
    backend.close()
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


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


@dataclass(frozen=True)
class Scenario:
    """One camera stream and output set: ``outputs`` "all" or "class_mask"; ``grid``: CameraInfo and grid too."""

    width: int
    height: int
    rate_hz: float
    outputs: str
    grid: bool = False

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}@{self.rate_hz:g} {self.outputs}"

    def topics(self) -> tuple[str, ...]:
        if self.outputs == "class_mask":
            return ("class_mask",)
        return IMAGE_OUTPUTS + (GRID_OUTPUTS if self.grid else ())


@dataclass(frozen=True)
class ProcessRun:
    """What one process (``segnet`` or ``naive_peer``) measured on one scenario: Hz, ms, MiB, counts."""

    process: str
    network: str
    scenario: str
    duration_s: float
    published: int
    processed: int
    processed_rate_hz: float
    processed_fraction: float
    latency_median_ms: float
    latency_p99_ms: float
    latency_median_first_third_ms: float
    latency_median_last_third_ms: float
    cpu_ms_per_frame: float
    cpu_cores: float
    rss_first_third_mb: float
    rss_last_third_mb: float
    outputs_received: dict[str, int]
    stage_median_ms: dict[str, float]
    frames_dropped: int | None
    diagnostics: dict[str, str | None] = field(default_factory=dict)
    exit_code: int | None = None

    @property
    def every_frame(self) -> bool:
        return self.processed_fraction >= EVERY_FRAME


def run_process(process: str, network: str, model: str, scenario: Scenario, args: argparse.Namespace,
                domain: int, log_path: Path, duration: float) -> ProcessRun:
    """Start ``process`` on ``model``, feed it ``scenario``'s camera, measure ``duration`` s after the warm-up."""
    from nav_msgs.msg import OccupancyGrid
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from seg_ros.msg import SegmentationInfo, TrailHeading

    types = {"class_mask": Image, "color_mask": Image, "overlay": Image, "info": SegmentationInfo,
             "traversable_grid": OccupancyGrid, "trail_heading": TrailHeading}
    topics = scenario.topics()
    if process == NODE_NAME:
        params: dict[str, object] = {"model_path": model, "threads": args.threads}
        if scenario.grid:
            params.update(grid_params(resolve_model(model).class_names))
        else:
            params["publish_grid"] = False
        params.update(kv.split(":=", 1) for kv in args.param)
        options: dict[str, Any] = {}
    else:
        params = {}
        peer_outputs = [t for t in topics if t in IMAGE_OUTPUTS]
        options = {"command": [sys.executable, str(PEER_SCRIPT), "--model", model, "--outputs",
                               ",".join(peer_outputs)]}
    memory: list[float] = []
    with node_session(params, log_path, domain, "bench_camera", stop_timeout=60.0, **options) as session:
        collector = OutputCollector(session.local)
        for name in topics:  # images raw and not kept (no deserializing here); class masks for their stamps
            big = name in ("color_mask", "overlay")
            collector.subscribe(f"/{process}/{name}", types[name], 5, raw=big, keep=name == "info", key=name)
        diagnostics = DiagnosticsReader(session.local, NODE_NAME, qos=5) if process == NODE_NAME else None
        stream = CameraStream(session.local, qos=qos_profile_sensor_data,
                              info_topic="camera_info" if scenario.grid else None)
        frame = CameraFrame(image_message(camera_image(scenario.width, scenario.height)),
                            camera_info_for(scenario.width, scenario.height) if scenario.grid else None)
        session.node.wait_until(stream.subscribed, 120.0, "subscribe to the camera")
        session.node.wait_until(lambda: all(session.local.node.count_publishers(f"/{process}/{name}") > 0
                                            for name in topics), 60.0, "advertise its outputs")
        stream.start([frame], scenario.rate_hz)
        try:
            time.sleep(args.warmup)  # discovery of the output subscriptions, first frames, allocator warm-up
            pid = session.node.proc.pid
            t0, cpu0 = time.monotonic(), process_cpu_seconds(pid)
            end = t0 + duration
            while time.monotonic() < end:
                value = session.node.rss_mb()
                if value is not None:
                    memory.append(value)
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            t1, cpu1 = time.monotonic(), process_cpu_seconds(pid)
        finally:
            stream.stop()
        status = diagnostics.newest() if diagnostics is not None else None

    def measured(key: str) -> list:
        return [r for r in collector.received(key) if t0 <= r.receive_monotonic < t1]

    elapsed = t1 - t0
    published = sum(1 for f in stream.sent if t0 <= f.sent_monotonic < t1)
    counts = {name: len(measured(name)) for name in topics}
    lat = [r.latency_ms() for r in measured("class_mask")]
    processed = counts["class_mask"]
    infos = [r.message for r in measured("info")] if "info" in topics else []
    stage: dict[str, float] = {}
    for name in ("preprocess", "network", "postprocess", "render", "latency"):
        values = [getattr(i, f"{name}_ms") for i in infos]
        if values:
            stage[name] = _median(values)
        elif status is not None and status.get(f"{name} median (ms)") is not None:
            stage[name] = float(status.get(f"{name} median (ms)"))
    cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else float("nan")
    lat_first, lat_last = thirds(lat)
    mem_first, mem_last = thirds(memory)
    keys = ("frames dropped", "grid", "grids published", "grid median (ms)", "render cpu median (ms)")
    diag = {k: status.get(k) for k in keys} if status is not None else {}
    dropped = diag.get("frames dropped")
    return ProcessRun(
        process=process, network=network, scenario=scenario.label, duration_s=elapsed, published=published,
        processed=processed, processed_rate_hz=processed / elapsed,
        processed_fraction=processed / published if published else float("nan"),
        latency_median_ms=_median(lat), latency_p99_ms=float(np.percentile(lat, 99)) if lat else float("nan"),
        latency_median_first_third_ms=lat_first, latency_median_last_third_ms=lat_last,
        cpu_ms_per_frame=cpu * 1000.0 / processed if processed else float("nan"), cpu_cores=cpu / elapsed,
        rss_first_third_mb=mem_first, rss_last_third_mb=mem_last, outputs_received=counts,
        stage_median_ms=stage, frames_dropped=int(dropped) if dropped is not None else None, diagnostics=diag,
        exit_code=session.node.exit_code)


# ---------------------------------------------------------------------------------------------- overhead

def overhead_targets(scenario: str, node: ProcessRun, peer: ProcessRun) -> dict[str, bool]:
    """Issue 10's overhead targets that apply to ``scenario`` (all outputs)."""
    if scenario == "1280x720@30 all":
        return {"cpu <= 8 ms/frame": node.cpu_ms_per_frame <= 8.0, "every frame": node.every_frame,
                "latency <= 0.7 x peer": node.latency_median_ms <= 0.7 * peer.latency_median_ms}
    if scenario == "1920x1080@30 all":
        return {"cpu <= 15 ms/frame": node.cpu_ms_per_frame <= 15.0,
                "latency <= peer": node.latency_median_ms <= peer.latency_median_ms}
    if scenario == "1280x720@60 all":
        return {"every frame": node.every_frame}
    return {}


def overhead_row(node: ProcessRun, peer: ProcessRun | None) -> str:
    def cols(r: ProcessRun) -> str:
        return (f"{100 * r.processed_fraction:5.1f}% {r.latency_median_ms:6.1f} /{r.latency_p99_ms:6.1f} ms "
                f"{r.cpu_ms_per_frame:6.1f} ms {r.cpu_cores:4.2f}")
    text = f"  {node.scenario:<22} segnet {cols(node)}"
    if peer is not None:
        text += (f" | peer {cols(peer)} | node/peer latency {node.latency_median_ms / peer.latency_median_ms:4.2f}"
                 f" cpu {node.cpu_ms_per_frame / peer.cpu_ms_per_frame:4.2f}")
    return text


def run_overhead(args: argparse.Namespace, domain: int, tmp: Path) -> list[dict[str, Any]]:
    folder = write_model_dir(tmp / "instant-576x320", (576, 320), 5, DEEPSCENE_CLASSES, DEEPSCENE_COLORS,
                             instant=True)
    spec = resolve_model(str(folder))
    bare = _median(bare_inference_times(spec, args.threads, args.bare_runs))
    print(f"== overhead: instant network 576x320 -> 18x10 (bare inference {bare:.2f} ms); columns: frames "
          "processed, class_mask latency median / p99, CPU per processed frame, CPU cores", flush=True)
    results = []
    for width, height, rate in args.scenarios:
        for outputs in args.outputs:
            scenario = Scenario(width, height, rate, outputs)
            runs = {}
            for process in (NODE_NAME, PEER_NAME) if args.peer else (NODE_NAME,):
                log = args.output.parent / f"bench_node_overhead_{process}.log"
                runs[process] = run_process(process, "instant", str(folder), scenario, args, domain, log,
                                            args.overhead_duration)
            node, peer = runs[NODE_NAME], runs.get(PEER_NAME)
            targets = overhead_targets(scenario.label, node, peer) if peer is not None else {}
            line = overhead_row(node, peer)
            if targets:
                line += "  targets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in targets.items())
            print(line, flush=True)
            results.append({"scenario": scenario.label, "bare_inference_ms": bare,
                            "node": asdict(node), "peer": asdict(peer) if peer is not None else None,
                            "latency_ratio": node.latency_median_ms / peer.latency_median_ms if peer else None,
                            "cpu_ratio": node.cpu_ms_per_frame / peer.cpu_ms_per_frame if peer else None,
                            "targets": targets})
    return results


# ---------------------------------------------------------------------------------------------- real networks

def real_report(label: str, bare: float, before: float, after: float, runs: dict[str, ProcessRun]) -> str:
    lines = [f"== {label}: bare inference {bare:.1f} ms = {1000.0 / bare:.1f} Hz (median before {before:.1f}, "
             f"after {after:.1f} ms)"]
    for outputs, r in runs.items():
        ratio = r.processed_rate_hz * bare / 1000.0
        target = 0.85 if outputs == "class_mask" else 0.75
        net = r.stage_median_ms.get("network", float("nan"))
        p99_ok = r.latency_p99_ms <= 2.0 * r.latency_median_ms
        lines.append(
            f"  {outputs:<10} processed {r.processed_rate_hz:5.2f} Hz = {ratio:.2f} x bare (target >= {target}: "
            f"{'ok' if ratio >= target else 'MISSED'}); in-node network {net:.1f} ms = {net / bare:.2f} x bare; "
            f"latency median {r.latency_median_ms:.1f} / p99 {r.latency_p99_ms:.1f} ms (p99 <= 2 x median: "
            f"{'ok' if p99_ok else 'MISSED'}); CPU {r.cpu_ms_per_frame:.0f} ms/frame ({r.cpu_cores:.2f} cores); "
            f"RSS {r.rss_first_third_mb:.0f} -> {r.rss_last_third_mb:.0f} MB, latency "
            f"{r.latency_median_first_third_ms:.0f} -> {r.latency_median_last_third_ms:.0f} ms (first -> last "
            f"third); dropped {r.frames_dropped}")
        if outputs == "all":
            lines.append(f"  {'':<10} stages (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r.stage_median_ms.items())
                         + f"; grid {r.diagnostics.get('grid')!r}, {r.diagnostics.get('grids published')} published")
    return "\n".join(lines)


def run_real(args: argparse.Namespace, domain: int, tmp: Path) -> list[dict[str, Any]]:
    width, height = args.size
    results = []
    for name in args.networks:
        if name == "espnet":
            folder = SHARED / "models" / "espnet-camvid-480x360"
            if not folder.is_dir():
                print(f"bench_node: skipping espnet: {folder} not found")
                continue
            label = "espnet-camvid-480x360"
        elif name == "fcn-synthetic":
            folder = write_model_dir(tmp / "fcn-resnet18-synthetic-576x320", (576, 320), 5,
                                     DEEPSCENE_CLASSES, DEEPSCENE_COLORS)
            label = "fcn-resnet18-shaped 576x320 (random weights)"
        else:
            raise SystemExit(f"bench_node: unknown network {name!r} (espnet, fcn-synthetic)")
        spec = resolve_model(str(folder))
        # Bare inference just before and just after the node runs: the machine's load drifts (shared CPU).
        before = bare_inference_times(spec, args.threads, args.bare_runs)
        runs = {}
        for outputs in args.outputs:
            scenario = Scenario(width, height, args.rate, outputs, grid=outputs == "all")
            log = args.output.parent / f"bench_node_{name}.log"
            runs[outputs] = run_process(NODE_NAME, label, str(folder), scenario, args, domain, log, args.duration)
        after = bare_inference_times(spec, args.threads, args.bare_runs)
        bare = _median(before + after)
        print(real_report(label, bare, _median(before), _median(after), runs), flush=True)
        results.append({"network": label, "bare_inference_ms": bare, "bare_inference_before_ms": _median(before),
                        "bare_inference_after_ms": _median(after),
                        "runs": {k: {**asdict(r), "rate_ratio": r.processed_rate_hz * bare / 1000.0,
                                     "network_ratio": r.stage_median_ms.get("network", float("nan")) / bare}
                                 for k, r in runs.items()}})
    return results


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def _scenario(text: str) -> tuple[int, int, float]:
    size, _, rate = text.partition("@")
    return (*_size(size), float(rate or 30))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1280x720@30 overhead and the FCN-shaped network, short windows")
    parser.add_argument("--sections", default="overhead,real", help="comma list of overhead, real")
    parser.add_argument("--scenarios", default=",".join(f"{w}x{h}@{r:g}" for w, h, r in OVERHEAD_SCENARIOS),
                        help="overhead camera streams WxH@Hz, comma separated")
    parser.add_argument("--outputs", default="all,class_mask", help="comma list of all, class_mask")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="overhead without the naive peer")
    parser.add_argument("--overhead-duration", type=float, default=10.0, help="measured seconds per overhead run")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per real-network run")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds of camera input before measuring")
    parser.add_argument("--rate", type=float, default=30.0, help="real networks: camera frame rate (Hz)")
    parser.add_argument("--size", type=_size, default=(1280, 720), help="real networks: camera image size WxH")
    parser.add_argument("--bare-runs", type=int, default=20, help="timed bare inference runs before and after")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0 = backend default)")
    parser.add_argument("--networks", default="espnet,fcn-synthetic", help="comma list of espnet, fcn-synthetic")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra segnet_node parameter (repeatable), e.g. fresh_frame_budget:=0")
    parser.add_argument("--output", type=Path, default=REPO / "bench_output" / "bench_node.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.scenarios, args.networks = "1280x720@30", "fcn-synthetic"
        args.overhead_duration, args.duration, args.warmup, args.bare_runs = 3.0, 3.0, 2.0, 5
    args.scenarios = [_scenario(s) for s in args.scenarios.split(",") if s.strip()]
    args.outputs = [o.strip() for o in args.outputs.split(",") if o.strip()]
    args.networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    args.output.parent.mkdir(parents=True, exist_ok=True)

    domain = random_domain()  # this process and the node: shared memory only (harness), private domain
    start_load = os.getloadavg()
    print(f"bench_node: ROS_DOMAIN_ID {domain}, threads {args.threads or 'default'}; load average "
          f"{start_load[0]:.2f} on {os.cpu_count()} CPUs (other processes on this machine affect every figure)",
          flush=True)
    out: dict[str, Any] = {"load_average_start": start_load, "threads": args.threads, "params": args.param}
    with tempfile.TemporaryDirectory(prefix="bench_node_") as tmp:
        if "overhead" in sections:
            out["overhead"] = run_overhead(args, domain, Path(tmp))
        if "real" in sections:
            out["real"] = run_real(args, domain, Path(tmp))
    out["load_average_end"] = os.getloadavg()
    print(f"bench_node: load average now {out['load_average_end'][0]:.2f}")
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"bench_node: results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
