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

import dataclasses
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seg_ros.cli.entry import run_cli
from seg_ros.demo import add_model_path, choose_network, demo_parser
from seg_ros.errors import MediaError
from seg_ros.image_conversion import image_msg_to_rgb
from seg_ros.media import natural_key, read_image, write_image
from seg_ros.paths import package_file
from seg_ros.ros.harness import (
    NODE_NAME,
    START_TIMEOUT,
    CameraFrame,
    CameraStream,
    DiagnosticsReader,
    NodeStatus,
    OutputCollector,
    Received,
    SentFrame,
    camera_info_for,
    grid_params,
    image_message,
    node_session,
    random_domain,
)
from seg_ros.timing import StageTimer

SAMPLES = Path("data") / "jetson-inference" / "images"
PANEL_HEIGHT = 240
CAMERA_SIZE = (864, 480)  # the trail samples are 861..907 x 464..497 pixels
SHEET_OUTPUTS = ("overlay", "color_mask", "traversable_grid", "trail_heading")
GRID_STATUS_KEYS = ("grid", "grids published", "grid median (ms)", "projection table builds", "camera pose source")


def typestore_with_seg_ros() -> Any:
    """rosbags' kilted typestore plus this package's messages (``msg/*.msg`` of the checkout or the install)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    try:
        folder = package_file("msg")
    except FileNotFoundError:
        return store
    types: dict = {}
    for path in sorted(folder.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"seg_ros/msg/{path.stem}"))
    store.register(types)
    return store


def write_bag(bag_path: Path, collector: OutputCollector, store: Any) -> dict[str, int]:
    """Every message ``collector`` received, serialized again, to an MCAP bag at its receive time; count per topic."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer

    records: list[tuple[Received, Any]] = []
    counts: dict[str, int] = {}
    writer = Writer(bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        for sub in collector.subscriptions():
            connection = writer.add_connection(sub.topic, sub.type_name, typestore=store)
            received = collector.received(sub.key)
            counts[sub.topic] = len(received)
            records += [(r, connection) for r in received]
        for record, connection in sorted(records, key=lambda rc: rc[0].receive_ns):
            writer.write(connection, record.receive_ns, serialize_message(record.message))
    finally:
        writer.close()
    return counts


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


@dataclass(frozen=True)
class LiveRun:
    """What one replay into the node left: every output received, the frames sent, the node's newest status.

    ``sent[:replay_frames]`` is the timed replay (``replay_s`` seconds), the rest the contact-sheet pass.
    """

    collector: OutputCollector
    sent: list[SentFrame]
    replay_frames: int
    replay_s: float
    status: NodeStatus | None
    node_exit_code: int | None


@dataclass(frozen=True)
class LiveSummary:
    """The demo's figures (written as live_summary.json); counters and timings cover the timed replay."""

    network: str
    model: str
    frames_published: int
    rate_hz: float
    loops: int
    note: str
    frames_received: int
    frames_processed: int
    frames_dropped: int
    frames_rejected: int
    processed_rate_hz: float
    latency_median_ms: float | None
    messages_recorded: dict[str, int]
    topics_not_recorded: dict[str, str]
    bag: str
    contact_sheet: str
    node_exit_code: int | None
    timing_ms: dict[str, Any]
    grid: dict[str, str | None]


def replay_into_node(domain: int, params: dict[str, object], frames: list[CameraFrame], rate: float, loops: int,
                     log_path: Path, skip: Any) -> LiveRun:
    """Start the node, replay ``frames`` ``loops`` times at ``rate`` Hz, then once more waiting for each output.

    Every topic under ``/segnet/`` and ``/diagnostics`` is collected (``skip(topic, type_name)`` may refuse
    one). Raises RuntimeFailure when the node does not come up.
    """
    prefix = f"/{NODE_NAME}/"
    with node_session(params, log_path, domain, "segnet_live_demo", node_name=NODE_NAME) as session:
        collector = OutputCollector(session.local)
        diagnostics = DiagnosticsReader(session.local, NODE_NAME)
        stream = CameraStream(session.local, qos=2)

        def discover() -> None:
            collector.discover((prefix, "/diagnostics"), skip)

        session.node.wait_until(stream.subscribed, START_TIMEOUT, "subscribe to the camera")
        discover()
        time.sleep(1.0)  # let the collector's subscriptions match before the first frame
        discover()
        start = time.monotonic()
        stream.replay(frames, rate, count=loops * len(frames), after_cycle=discover)
        replay_s = time.monotonic() - start
        replay_frames = stream.sent_count()
        time.sleep(1.5)  # the last frames' outputs and one more /diagnostics
        # Contact-sheet pass: each image once more, waiting for its outputs (the timed replay may have
        # dropped some images entirely when the network is slower than the replay rate).
        for index, frame in enumerate(frames):
            names = ["overlay", "color_mask"] + (["traversable_grid"] if collector.count(
                prefix + "traversable_grid") else [])
            stream.send(frame, collector, [prefix + name for name in names], timeout=30.0, repeat_every=None,
                        index=index)
        time.sleep(0.3)
        status = diagnostics.newest()
    code = session.node.exit_code
    return LiveRun(collector, list(stream.sent), replay_frames, replay_s, status, code)


def sheet_rows(live: LiveRun, images: list[np.ndarray], names: list[str]) -> list[list[np.ndarray]]:
    """Contact-sheet rows: each sample image with the newest outputs of its frames (from the last pass with them)."""
    prefix = f"/{NODE_NAME}/"
    index_of = {frame.stamp: frame.index for frame in live.sent}
    newest: dict[tuple[str, int], Any] = {}
    for output in SHEET_OUTPUTS:
        received = [r for r in live.collector.received(prefix + output) if r.stamp in index_of]
        for record in sorted(received, key=lambda r: r.stamp):
            newest[(output, index_of[record.stamp])] = record.message
    has_grid = any(output == "traversable_grid" for output, _ in newest)
    rows = []
    for index, rgb in enumerate(images):
        row = [_panel(rgb, names[index], 320)]
        for output, label in (("overlay", "overlay"), ("color_mask", "colour mask")):
            msg = newest.get((output, index))
            row.append(_panel(image_msg_to_rgb(msg) if msg is not None else None, label, 320))
        if has_grid:
            grid, heading = newest.get(("traversable_grid", index)), newest.get(("trail_heading", index))
            label = "grid" + (f" {math.degrees(heading.heading):+.0f} deg ({heading.confidence:.2f})"
                              if heading is not None and heading.confidence > 0 else "")
            row.append(_panel(grid_image(grid, heading) if grid is not None else None, label, PANEL_HEIGHT))
        rows.append(row)
    return rows


def summarize(live: LiveRun, network: str, model: str, rate: float, loops: int, recorded: dict[str, int],
              bag_path: Path, sheet_path: Path) -> tuple[LiveSummary, StageTimer, list[float]]:
    """The summary of a run, the node's stage timer over the replay and its latencies (ms)."""
    replay_stamps = {frame.stamp for frame in live.sent[:live.replay_frames]}
    infos = live.collector.received(f"/{NODE_NAME}/info")
    after = [r.message for r in infos if r.stamp not in replay_stamps]
    # Counters at the end of the replay: the first contact-sheet frame's info, less that frame itself.
    if after:
        received, processed = after[0].frames_received - 1, after[0].frames_processed - 1
        dropped, rejected = after[0].frames_dropped, after[0].frames_rejected
    else:
        received = processed = dropped = rejected = 0
    timer = StageTimer()
    latencies = []
    for info in (r.message for r in infos if r.stamp in replay_stamps):
        for stage in ("preprocess", "network", "postprocess", "render"):
            timer.add(stage, float(getattr(info, f"{stage}_ms")))
        latencies.append(info.latency_ms)
    status = live.status
    summary = LiveSummary(
        network=network, model=model, frames_published=live.replay_frames, rate_hz=rate, loops=loops,
        note="counters and timings cover the timed replay; a contact-sheet pass follows it",
        frames_received=received, frames_processed=processed, frames_dropped=dropped, frames_rejected=rejected,
        processed_rate_hz=processed / live.replay_s if live.replay_s > 0 else 0.0,
        latency_median_ms=float(np.median(latencies)) if latencies else None,
        messages_recorded=recorded, topics_not_recorded=dict(live.collector.skipped),
        bag=str(bag_path), contact_sheet=str(sheet_path), node_exit_code=live.node_exit_code,
        timing_ms=timer.summary(),
        grid={key: status.get(key) if status is not None else None for key in GRID_STATUS_KEYS})
    return summary, timer, latencies


def run(shared: Path, output: Path, network: str, rate: float, loops: int, threads: int) -> LiveSummary:
    """Replay the trail samples into a fresh ``segnet_node``; writes the bag, contact sheet and summary to ``output``.

    Raises MediaError or ModelError when the samples or a network are missing, RuntimeFailure when the node
    does not come up.
    """
    paths = sorted((shared / SAMPLES).glob("trail_*.jpg"), key=natural_key)
    if not paths:
        raise MediaError(f"no trail_*.jpg sample images under {shared / SAMPLES}")
    if (shared / "models").is_dir():
        add_model_path(shared / "models")
    spec = choose_network(network)
    model = spec.source if Path(spec.source).exists() else spec.name
    # One camera, one size: the samples differ by a few pixels, and each size would need its own CameraInfo.
    images = [cv2.resize(read_image(p), CAMERA_SIZE, interpolation=cv2.INTER_AREA) for p in paths]
    output.mkdir(parents=True, exist_ok=True)
    bag_path = output / "segnet_live_bag"
    if bag_path.exists():
        shutil.rmtree(bag_path)
    store = typestore_with_seg_ros()

    def skip(topic: str, type_name: str) -> str | None:
        return None if type_name in store.types else f"type {type_name} unknown to rosbags"

    domain = random_domain()
    print(f"live demo: network {spec.name} ({model}), ROS_DOMAIN_ID {domain}, shared-memory transport")
    params = {"model_path": model, "threads": threads, **grid_params(spec.class_names)}
    frames = [CameraFrame(image_message(rgb), camera_info_for(rgb.shape[1], rgb.shape[0])) for rgb in images]
    live = replay_into_node(domain, params, frames, rate, loops, output / "node.log", skip)
    recorded = write_bag(bag_path, live.collector, store)
    sheet_path = output / "live_contact_sheet.png"
    write_image(sheet_path, contact_sheet(sheet_rows(live, images, [p.name for p in paths])))
    summary, timer, latencies = summarize(live, spec.name, model, rate, loops, recorded, bag_path, sheet_path)
    (output / "live_summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n",
                                              encoding="utf-8")
    print(f"live demo: published {summary.frames_published} frames at {rate:g} Hz ({loops} loops of {len(images)} "
          f"images) in {live.replay_s:.1f} s; node received {summary.frames_received}, processed "
          f"{summary.frames_processed} ({summary.processed_rate_hz:.1f} Hz), dropped {summary.frames_dropped} "
          f"(latest frame wins), rejected {summary.frames_rejected}")
    if latencies:
        print(f"live demo: camera stamp -> class map latency median {summary.latency_median_ms:.1f} ms, "
              f"max {max(latencies):.1f} ms")
    print(timer.format_table("node stage timings (ms, from ~/info)"))
    grid = summary.grid
    print(f"live demo: traversability grid: {grid['grids published']} published, grid stage median "
          f"{grid['grid median (ms)']} ms, projection table builds {grid['projection table builds']}, "
          f"status {grid['grid']!r}; camera pose from {grid['camera pose source']}")
    print("live demo: recorded " + ", ".join(f"{t} ({n})" for t, n in sorted(recorded.items())) + f" to {bag_path}")
    for topic, why in summary.topics_not_recorded.items():
        print(f"live demo: not recorded {topic}: {why}")
    print(f"live demo: contact sheet {sheet_path}; node exited with code {summary.node_exit_code}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """``make demo``; exit status as in ``seg_ros.cli.entry``, and 1 when no frame came back or the node failed."""
    return run_cli("live demo", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = demo_parser("python -m seg_ros.ros.live_demo", __doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="images per second")
    parser.add_argument("--loops", type=int, default=5, help="times the sample images are replayed")
    parser.add_argument("--threads", type=int, default=0, help="inference threads of the node (0 = default)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.loops <= 0:
        parser.error("--rate and --loops must be positive")
    summary = run(args.shared.expanduser().resolve(), args.output, args.network, args.rate, args.loops,
                  args.threads)
    return 0 if summary.frames_processed > 0 and summary.node_exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
