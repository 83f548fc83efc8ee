"""Live demo: replay the trail sample images into a real ``segnet_node`` over DDS and record what it publishes.

    python -m seg_ros.ros.live_demo --shared ../shared --output demo_output

Starts the node (its own process, shared-memory transport, a random ROS_DOMAIN_ID), publishes
``trail_*.jpg`` as rgb8 images (plus a plausible camera_info: 90 degree field of view, no calibration ships
with them) at a fixed rate for a few loops, records every output topic of the node and /diagnostics to an
MCAP bag (``rosbags``), writes a contact sheet (input | overlay | colour mask | traversability grid with the
trail heading) and prints stage timings, the processed rate and the drop count. Network:
``fcn-resnet18-deepscene`` when downloaded, else a fallback from the search path (``<shared>/models`` is added;
``espnet-camvid-480x360`` preferred, with road-like classes as the "trail"). The camera pose comes from
parameters (1 m high, pitched 15 degrees down): the demo publishes no tf.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seg_ros.demo import DEFAULT_NETWORK, add_model_path, choose_network
from seg_ros.errors import SegRosError
from seg_ros.image_conversion import fill_image_msg, image_msg_to_rgb
from seg_ros.media import natural_key, read_image, write_image
from seg_ros.paths import shared_root
from seg_ros.ros.process import make_process_dds_safe, random_domain, start_node, stop_node
from seg_ros.timing import StageTimer

SAMPLES = Path("data") / "jetson-inference" / "images"
NODE_NAME = "segnet"
FRAME_ID = "camera_optical_frame"
PANEL_HEIGHT = 240
START_TIMEOUT = 90.0
CAMERA_HFOV_DEG = 90.0
CAMERA_SIZE = (864, 480)  # the trail samples are 861..907 x 464..497 pixels
# Camera pose parameters (no tf in the demo): 1 m above the ground, looking 15 degrees down.
MOUNTING = {"use_tf": False, "camera_height": 1.0, "camera_pitch": math.radians(15.0)}
# Grid costs for networks without DeepScene classes (CamVid, Cityscapes): paved ground is the "trail"; CamVid's
# "tree" holds all vegetation, grass included (DeepScene: grass 30, vegetation 100); unnamed classes are lethal.
ROAD_COSTS = {"road": 0, "pavement": 10, "sidewalk": 10, "terrain": 30, "tree": 70, "sky": -1, "void": -1}


def message_class(type_name: str) -> type:
    """``pkg/msg/Name`` → the rclpy message class."""
    pkg, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def typestore_with_seg_ros() -> Any:
    """rosbags' kilted typestore plus this package's messages (from msg/*.msg)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    here = Path(__file__).resolve().parents[1]
    for folder in (here / "msg", Path(sys.prefix) / "share" / "seg_ros" / "msg"):
        if folder.is_dir():
            types: dict = {}
            for path in sorted(folder.glob("*.msg")):
                types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"seg_ros/msg/{path.stem}"))
            store.register(types)
            break
    return store


class Recorder:
    """Raw (serialized) subscriptions on the node's outputs, written to an MCAP bag as they arrive."""

    def __init__(self, node: Any, bag_path: Path) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.node = node
        self.store = typestore_with_seg_ros()
        self.writer = Writer(bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.lock = threading.Lock()
        self.connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.latest: dict[tuple[str, int, int], bytes] = {}  # (topic, sec, nanosec) of kept frames -> raw
        self.keep_topics: set[str] = set()
        self.info: list[Any] = []
        self.node_status: dict[str, str] = {}  # key/values of the node's newest /diagnostics status
        self.skipped: dict[str, str] = {}
        self._subs: list[Any] = []

    def discover(self, prefixes: tuple[str, ...]) -> None:
        """Subscribe to every new topic under ``prefixes`` that the graph shows."""
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.connections or topic in self.skipped or not topic.startswith(prefixes):
                continue
            type_name = types[0]
            if type_name not in self.store.types:
                self.skipped[topic] = f"type {type_name} unknown to rosbags"
                continue
            try:
                msg_type = message_class(type_name)
            except (ImportError, AttributeError, ValueError) as exc:
                self.skipped[topic] = f"cannot import {type_name}: {exc}"
                continue
            with self.lock:
                self.connections[topic] = self.writer.add_connection(topic, type_name, typestore=self.store)
                self.counts[topic] = 0
            self._subs.append(self.node.create_subscription(
                msg_type, topic, lambda raw, t=topic, m=msg_type: self._on_message(t, m, raw), 10, raw=True))

    def _on_message(self, topic: str, msg_type: type, raw: bytes) -> None:
        try:
            self._record(topic, msg_type, raw)
        except Exception as exc:  # noqa: BLE001 - keep recording the other messages
            print(f"live demo: cannot record a {topic} message: {exc}", file=sys.stderr)

    def _record(self, topic: str, msg_type: type, raw: bytes) -> None:
        from rclpy.serialization import deserialize_message

        with self.lock:
            if self.writer is None:
                return
            self.writer.write(self.connections[topic], time.time_ns(), raw)
            self.counts[topic] += 1
        if topic.endswith("/info"):
            self.info.append(deserialize_message(raw, msg_type))
        elif topic == "/diagnostics":
            for status in deserialize_message(raw, msg_type).status:
                if status.name.startswith(NODE_NAME):
                    self.node_status = {kv.key: kv.value for kv in status.values}
        elif topic in self.keep_topics:
            msg = deserialize_message(raw, msg_type)
            self.latest[(topic, msg.header.stamp.sec, msg.header.stamp.nanosec)] = raw

    def close(self) -> None:
        with self.lock:
            writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()


def grid_params(class_names: list[str]) -> dict[str, object]:
    """Node parameters of the demo's grid: parameter camera pose; road-like costs for non-DeepScene networks."""
    params: dict[str, object] = dict(MOUNTING)
    names = {n.strip().lower() for n in class_names}
    if "trail" not in names:
        params["class_costs"] = [f"{n}:{c}" for n, c in ROAD_COSTS.items() if n in names] or ["void:-1"]
        params["default_cost"] = 100
        params["trail_class"] = "road" if "road" in names else ""
    return params


def camera_info_for(width: int, height: int, hfov_deg: float = CAMERA_HFOV_DEG) -> Any:
    """A pinhole CameraInfo for the sample images (no calibration ships with them)."""
    from sensor_msgs.msg import CameraInfo

    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def grid_image(msg: Any, heading: Any = None, size: int = 2 * PANEL_HEIGHT) -> np.ndarray:
    """OccupancyGrid → RGB picture, forward (+x) up, left (+y) left: free white, lethal black, unknown mid-grey.

    The robot (base origin) is a blue dot; a TrailHeading with confidence > 0 is drawn as an orange arrow from
    the robot to its target.
    """
    info = msg.info
    data = np.asarray(msg.data, dtype=np.int16).reshape(info.height, info.width)
    grey = np.where(data < 0, 128, 255 - np.clip(data, 0, 100) * 255 // 100).astype(np.uint8)
    grey = np.ascontiguousarray(grey.T[::-1, ::-1])  # rows: x descending, cols: y descending
    scale = max(1, size // max(grey.shape))
    image = cv2.cvtColor(cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST),
                         cv2.COLOR_GRAY2RGB)
    res, ox, oy = info.resolution, info.origin.position.x, info.origin.position.y

    def pixel(x: float, y: float) -> tuple[int, int]:
        return (round((info.height - (y - oy) / res) * scale), round((info.width - (x - ox) / res) * scale))

    robot = pixel(0.0, 0.0)
    if heading is not None and heading.confidence > 0:
        target = pixel(heading.target.position.x, heading.target.position.y)
        cv2.arrowedLine(image, robot, target, (255, 120, 0), max(2, scale), cv2.LINE_AA, tipLength=0.12)
    cv2.circle(image, robot, max(8, 4 * scale), (30, 90, 255), -1, cv2.LINE_AA)
    return image


def _panel(image: np.ndarray | None, label: str, width_hint: int) -> np.ndarray:
    if image is None:
        panel = np.zeros((PANEL_HEIGHT, width_hint, 3), np.uint8)
        label += " (none)"
    else:
        scale = PANEL_HEIGHT / image.shape[0]
        interp = cv2.INTER_NEAREST if image.shape[0] < PANEL_HEIGHT else cv2.INTER_AREA
        panel = cv2.resize(image, (max(1, round(image.shape[1] * scale)), PANEL_HEIGHT), interpolation=interp)
    panel = np.ascontiguousarray(panel)
    cv2.putText(panel, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(panel, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def contact_sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Stack rows of equal-height panels; rows are padded to the widest."""
    lines = [np.concatenate(panels, axis=1) for panels in rows]
    width = max(line.shape[1] for line in lines)
    return np.concatenate([np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0))) for line in lines], axis=0)


def run(shared: Path, output: Path, network: str, rate: float, loops: int, threads: int) -> dict:
    domain = random_domain()
    make_process_dds_safe(domain)  # before any DDS participant exists in this process
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, Image

    paths = sorted((shared / SAMPLES).glob("trail_*.jpg"), key=natural_key)
    if not paths:
        raise SegRosError(f"no trail_*.jpg sample images under {shared / SAMPLES}")
    if (shared / "models").is_dir():
        add_model_path(shared / "models")
    spec = choose_network(network)
    model = spec.source if Path(spec.source).exists() else spec.name
    # One camera, one size: the samples differ by a few pixels, and each size would need its own CameraInfo.
    images = [cv2.resize(read_image(p), CAMERA_SIZE, interpolation=cv2.INTER_AREA) for p in paths]
    output.mkdir(parents=True, exist_ok=True)
    bag_path = output / "segnet_live_bag"
    if bag_path.exists():
        import shutil

        shutil.rmtree(bag_path)

    print(f"live demo: network {spec.name} ({model}), ROS_DOMAIN_ID {domain}, shared-memory transport")
    log = open(output / "node.log", "wb")  # noqa: SIM115 - closed below
    node_params = {"model_path": model, "threads": threads, **grid_params(list(spec.class_names))}
    node_proc = start_node(domain, node_params, log, node_name=NODE_NAME)
    rclpy.init(args=[], domain_id=domain)  # not sys.argv: the demo options are no ROS arguments
    node = rclpy.create_node("segnet_live_demo")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    recorder = Recorder(node, bag_path)
    prefix = f"/{NODE_NAME}/"
    recorder.keep_topics = {prefix + name for name in ("overlay", "color_mask", "traversable_grid", "trail_heading")}
    image_pub = node.create_publisher(Image, "image", 2)
    info_pub = node.create_publisher(CameraInfo, "camera_info", 2)
    stamps: dict[tuple[int, int], int] = {}
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while image_pub.get_subscription_count() == 0:
            if node_proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (output / "node.log").read_text(errors="replace")[-2000:]
                raise SegRosError(f"segnet_node did not start (exit code {node_proc.poll()}):\n{tail}")
            time.sleep(0.05)
        recorder.discover((prefix, "/diagnostics"))
        time.sleep(1.0)  # let the recorder's subscriptions match before the first frame
        recorder.discover((prefix, "/diagnostics"))

        msgs = []
        for rgb in images:
            msg = Image()
            fill_image_msg(msg, rgb, "rgb8")
            msg.header.frame_id = FRAME_ID
            cam = camera_info_for(rgb.shape[1], rgb.shape[0])
            cam.header.frame_id = FRAME_ID
            msgs.append((msg, cam))
        period = 1.0 / rate
        start = time.monotonic()
        sent = 0
        for _ in range(loops):
            for index, (msg, cam) in enumerate(msgs):
                target = start + sent * period
                time.sleep(max(0.0, target - time.monotonic()))
                stamp = node.get_clock().now().to_msg()
                msg.header.stamp = cam.header.stamp = stamp
                stamps[(stamp.sec, stamp.nanosec)] = index
                info_pub.publish(cam)
                image_pub.publish(msg)
                sent += 1
            recorder.discover((prefix, "/diagnostics"))
        replay_s = time.monotonic() - start
        time.sleep(1.5)  # the last frames' outputs and one more /diagnostics
        replay_stamps = set(stamps)
        # Contact-sheet pass: each image once more, waiting for its outputs (the timed replay may have
        # dropped some images entirely when the network is slower than the replay rate).
        for index, (msg, cam) in enumerate(msgs):
            stamp = node.get_clock().now().to_msg()
            msg.header.stamp = cam.header.stamp = stamp
            stamps[(stamp.sec, stamp.nanosec)] = index
            info_pub.publish(cam)
            image_pub.publish(msg)
            names = ["overlay", "color_mask"] + (["traversable_grid"] if recorder.counts.get(
                prefix + "traversable_grid") else [])
            wanted = [(prefix + name, stamp.sec, stamp.nanosec) for name in names]
            deadline = time.monotonic() + 30.0
            while not all(k in recorder.latest for k in wanted) and time.monotonic() < deadline:
                time.sleep(0.02)
        time.sleep(0.3)
    finally:
        node_code = stop_node(node_proc, 20)
        log.close()
        recorder.close()
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        rclpy.try_shutdown()

    # Contact sheet: the newest outputs of each sample image (from the last loop that produced them).
    newest: dict[tuple[str, int], bytes] = {}
    for (topic, sec, nsec), raw in sorted(recorder.latest.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if (sec, nsec) in stamps:
            newest[(topic, stamps[(sec, nsec)])] = raw
    from nav_msgs.msg import OccupancyGrid

    has_grid = any(topic.endswith("traversable_grid") for topic, _ in newest)
    try:
        heading_type: type | None = message_class("seg_ros/msg/TrailHeading")
    except (ImportError, AttributeError):
        heading_type = None
    rows = []
    for index, rgb in enumerate(images):
        row = [_panel(rgb, paths[index].name, 320)]
        for name, label in (("overlay", "overlay"), ("color_mask", "colour mask")):
            raw = newest.get((prefix + name, index))
            row.append(_panel(image_msg_to_rgb(deserialize_message(raw, Image)) if raw else None, label, 320))
        if has_grid:
            raw = newest.get((prefix + "traversable_grid", index))
            heading_raw = newest.get((prefix + "trail_heading", index))
            heading = deserialize_message(heading_raw, heading_type) if heading_raw and heading_type else None
            label = "grid" + (f" {math.degrees(heading.heading):+.0f} deg ({heading.confidence:.2f})"
                              if heading is not None and heading.confidence > 0 else "")
            grid = grid_image(deserialize_message(raw, OccupancyGrid), heading) if raw else None
            row.append(_panel(grid, label, PANEL_HEIGHT))
        rows.append(row)
    sheet_path = output / "live_contact_sheet.png"
    write_image(sheet_path, contact_sheet(rows))

    replay_infos = [i for i in recorder.info if (i.header.stamp.sec, i.header.stamp.nanosec) in replay_stamps]
    after = [i for i in recorder.info if (i.header.stamp.sec, i.header.stamp.nanosec) not in replay_stamps]
    # Counters at the end of the replay: the first contact-sheet frame's info, less that frame itself.
    if after:
        received, processed = after[0].frames_received - 1, after[0].frames_processed - 1
        dropped, rejected = after[0].frames_dropped, after[0].frames_rejected
    else:
        received = processed = dropped = rejected = 0
    timer = StageTimer()
    latencies = []
    for info in replay_infos:
        for stage in ("preprocess", "network", "postprocess", "render"):
            timer.add(stage, float(getattr(info, f"{stage}_ms")))
        latencies.append(info.latency_ms)
    summary = {
        "network": spec.name, "model": model, "frames_published": sent, "rate_hz": rate, "loops": loops,
        "note": "counters and timings cover the timed replay; a contact-sheet pass follows it",
        "frames_received": received, "frames_processed": processed, "frames_dropped": dropped,
        "frames_rejected": rejected,
        "processed_rate_hz": processed / replay_s if replay_s > 0 else 0.0,
        "latency_median_ms": float(np.median(latencies)) if latencies else None,
        "messages_recorded": dict(recorder.counts), "topics_not_recorded": recorder.skipped,
        "bag": str(bag_path), "contact_sheet": str(sheet_path), "node_exit_code": node_code,
        "timing_ms": timer.summary(),
        "grid": {key: recorder.node_status.get(key) for key in (
            "grid", "grids published", "grid median (ms)", "projection table builds", "camera pose source")},
    }
    (output / "live_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"live demo: published {sent} frames at {rate:g} Hz ({loops} loops of {len(images)} images) in "
          f"{replay_s:.1f} s; node received {summary['frames_received']}, processed {processed} "
          f"({summary['processed_rate_hz']:.1f} Hz), dropped {summary['frames_dropped']} (latest frame wins), "
          f"rejected {summary['frames_rejected']}")
    if latencies:
        print(f"live demo: camera stamp -> class map latency median {summary['latency_median_ms']:.1f} ms, "
              f"max {max(latencies):.1f} ms")
    print(timer.format_table("node stage timings (ms, from ~/info)"))
    grid = summary["grid"]
    print(f"live demo: traversability grid: {grid['grids published']} published, grid stage median "
          f"{grid['grid median (ms)']} ms, projection table builds {grid['projection table builds']}, "
          f"status {grid['grid']!r}; camera pose from {grid['camera pose source']}")
    print("live demo: recorded " + ", ".join(f"{t} ({n})" for t, n in sorted(recorder.counts.items()))
          + f" to {bag_path}")
    for topic, why in recorder.skipped.items():
        print(f"live demo: not recorded {topic}: {why}")
    print(f"live demo: contact sheet {sheet_path}; node exited with code {node_code}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seg_ros.ros.live_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=shared_root(), help="the shared data folder")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="where results are written")
    parser.add_argument("--network", default=DEFAULT_NETWORK, help="network to try first")
    parser.add_argument("--rate", type=float, default=10.0, help="images per second")
    parser.add_argument("--loops", type=int, default=5, help="times the sample images are replayed")
    parser.add_argument("--threads", type=int, default=0, help="inference threads of the node (0 = default)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.loops <= 0:
        parser.error("--rate and --loops must be positive")
    try:
        summary = run(args.shared.expanduser().resolve(), args.output, args.network, args.rate, args.loops,
                      args.threads)
    except SegRosError as exc:
        print(f"live demo: error: {exc}", file=sys.stderr)
        return 2
    return 0 if summary["frames_processed"] > 0 and summary["node_exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
