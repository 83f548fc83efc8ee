"""Live demo: replay a camera scene into a real ``segnet_node`` over DDS and record what it publishes.

    python -m seg_ros.ros.live_demo --shared ../shared --output demo_output

Starts the node (its own process, shared-memory transport, a random ROS_DOMAIN_ID), publishes a scene the
network knows as rgb8 images (plus a plausible camera_info; no calibration ships with the images) at a fixed rate,
records every output topic of the node and /diagnostics to an MCAP bag (``rosbags``), writes a contact sheet
(input | overlay | colour mask | traversability grid with the trail heading) and prints stage timings, the
processed rate and the drop count. The camera pose comes from parameters: the demo publishes no tf.

Scenes (``choose_scene``): the jetson-inference ``trail_*.jpg`` samples for a network with a ``trail`` class
(``fcn-resnet18-deepscene``, downloaded when possible); the CamVid test frames of ``<shared>/data/camvid`` for a
network with a ``road`` class (the fallback ``espnet-camvid-480x360``: an urban driving model labels forest trails
"tree"), with road-following costs. Where the scene has labels (CamVid), the class masks *received over DDS*
are scored against them and printed beside the same frames segmented offline in this process with the node's
settings: the two must be equal (the demo exits 1 otherwise).
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

from seg_ros.classify import resize_class_map
from seg_ros.cli.entry import run_cli
from seg_ros.demo import add_model_path, choose_network, demo_parser
from seg_ros.errors import MediaError
from seg_ros.evaluation import Scores, confusion_matrix, scores_from_confusion
from seg_ros.image_conversion import image_msg_to_rgb
from seg_ros.media import natural_key, read_image, read_label, write_image
from seg_ros.model import ModelSpec
from seg_ros.paths import package_file
from seg_ros.ros.harness import (
    CAMERA_HFOV_DEG,
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
from seg_ros.segmenter import Segmenter
from seg_ros.timing import StageTimer

SAMPLES = Path("data") / "jetson-inference" / "images"
CAMVID = Path("data") / "camvid"
PANEL_HEIGHT = 240
CAMERA_SIZE = (864, 480)  # the trail samples are 861..907 x 464..497 pixels
SHEET_ROWS = 9  # at most this many frames on the contact sheet (evenly spaced)
# CamVid: a dashboard camera (Brostow et al. 2009) about 1.3 m above the road, looking almost level; no calibration
# ships with the 480x360 test frames, so a 60 degree horizontal field of view is assumed.
CAMVID_HFOV_DEG = 60.0
CAMVID_MOUNTING: dict[str, object] = {"use_tf": False, "camera_height": 1.3, "camera_pitch": math.radians(4.0)}
# Road following: road free, pavement low cost, sky and void unknown, every other class lethal.
CAMVID_ROAD_COSTS = ("road:0", "pavement:20", "sky:-1", "void:-1")
SHEET_OUTPUTS = ("overlay", "color_mask", "traversable_grid", "trail_heading")
SCORED_OUTPUTS = (*SHEET_OUTPUTS, "class_mask")  # what the run's summary reads per frame
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
class Scene:
    """What the demo replays: images (and labels when scored), how they are sized, the grid and pose parameters."""

    name: str
    images: list[Path]
    labels: list[Path] | None  # one label image (class ids) per image, or None
    camera_size: tuple[int, int] | None  # (width, height) every image is resized to; None = as stored
    hfov_deg: float
    params: dict[str, object]  # node parameters: camera pose and grid costs
    rate_hz: float
    loops: int
    reason: str


def trail_scene(shared: Path, spec: ModelSpec, rate: float, loops: int, reason: str) -> Scene:
    """The nine jetson-inference trail samples (Freiburg Forest), 864x480, 1 m high camera pitched 15 degrees."""
    paths = sorted((shared / SAMPLES).glob("trail_*.jpg"), key=natural_key)
    if not paths:
        raise MediaError(f"no trail_*.jpg sample images under {shared / SAMPLES}")
    return Scene("trail samples (jetson-inference)", paths, None, CAMERA_SIZE, CAMERA_HFOV_DEG,
                 grid_params(spec.class_names), rate, loops, reason)


def camvid_scene(shared: Path, rate: float) -> Scene:
    """The CamVid test frames with their annotations (``test.txt``), as stored (480x360), replayed once."""
    listing = shared / CAMVID / "test.txt"
    pairs = [line.split() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    images = [shared / CAMVID / image for image, _ in pairs]
    labels = [shared / CAMVID / label for _, label in pairs]
    params = {**CAMVID_MOUNTING, "class_costs": list(CAMVID_ROAD_COSTS), "default_cost": 100, "trail_class": "road",
              "ignore_class": ""}
    return Scene("CamVid test frames (Cambridge driving)", images, labels, None, CAMVID_HFOV_DEG, params, rate, 1,
                 "")


def choose_scene(shared: Path, spec: ModelSpec, rate: float, loops: int) -> Scene:
    """A scene the network knows: trails for a network with a ``trail`` class, CamVid roads for one with ``road``.

    A road network is scored as ``segnet-eval`` scores (argmax over all channels: ``ignore_class`` off). A network
    with neither class gets the trail samples with road-like costs, and the reason says so.
    """
    names = {name.strip().lower() for name in spec.class_names}
    if "trail" in names:
        return trail_scene(shared, spec, rate, loops, f"{spec.name} has a trail class")
    if "road" in names and (shared / CAMVID / "test.txt").is_file():
        scene = camvid_scene(shared, rate)
        return dataclasses.replace(scene, reason=f"{spec.name} has no trail class but a road class (a driving "
                                                 "model labels forest trails as vegetation): replaying CamVid roads, "
                                                 "road free, pavement low cost, the rest lethal, sky unknown")
    return trail_scene(shared, spec, rate, loops, f"{spec.name} knows neither trails nor roads; trail samples "
                                                  "with road-like costs")


@dataclass(frozen=True)
class GraphAccuracy:
    """The same frames scored twice: class masks received over DDS, and segmented offline in this process."""

    frames: int
    graph: Scores
    offline: Scores
    identical: bool  # the two confusion matrices are equal


def class_mask_of(msg: Any) -> np.ndarray:
    """A mono8 ``~/class_mask`` message → (H, W) uint8 class ids (through the one image conversion)."""
    return np.ascontiguousarray(image_msg_to_rgb(msg)[..., 0])


def score_graph_masks(masks: dict[int, np.ndarray], images: list[np.ndarray], labels: list[np.ndarray],
                      segmenter: Segmenter) -> GraphAccuracy:
    """Score received class masks (by frame index) and the offline class maps of the same frames.

    Both are resized to the label size with the same nearest-neighbour rule as ``segnet-eval``; labels equal to
    the ``void`` class id (or the last id when there is none) are not scored.
    """
    spec = segmenter.spec
    names = [n.lower() for n in spec.class_names]
    ignore = names.index("void") if "void" in names else spec.num_classes - 1
    k = spec.num_classes
    graph = np.zeros((k, k), np.int64)
    offline = np.zeros((k, k), np.int64)
    for index, mask in sorted(masks.items()):
        label = labels[index]
        size = (label.shape[1], label.shape[0])
        graph += confusion_matrix(label, resize_class_map(mask, size), k, ignore)
        own = segmenter.segment(images[index]).class_map
        offline += confusion_matrix(label, resize_class_map(own, size), k, ignore)
    return GraphAccuracy(len(masks), scores_from_confusion(graph, ignore), scores_from_confusion(offline, ignore),
                         bool(np.array_equal(graph, offline)))


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
    scene: str = ""
    accuracy: dict[str, Any] | None = None  # graph vs offline scores where the scene has labels


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
            names = ["class_mask", "overlay", "color_mask"] + (["traversable_grid"] if collector.count(
                prefix + "traversable_grid") else [])
            stream.send(frame, collector, [prefix + name for name in names], timeout=30.0, repeat_every=None,
                        index=index)
        time.sleep(0.3)
        status = diagnostics.newest()
    code = session.node.exit_code
    return LiveRun(collector, list(stream.sent), replay_frames, replay_s, status, code)


def newest_outputs(live: LiveRun, outputs: tuple[str, ...]) -> dict[tuple[str, int], Any]:
    """(output name, frame index) → the newest message of that output for that image (the last pass that had it)."""
    prefix = f"/{NODE_NAME}/"
    index_of = {frame.stamp: frame.index for frame in live.sent}
    newest: dict[tuple[str, int], Any] = {}
    for output in outputs:
        received = [r for r in live.collector.received(prefix + output) if r.stamp in index_of]
        for record in sorted(received, key=lambda r: r.stamp):
            newest[(output, index_of[record.stamp])] = record.message
    return newest


def sheet_indices(count: int, rows: int = SHEET_ROWS) -> list[int]:
    """At most ``rows`` frame indices evenly spaced over ``count`` frames (all of them when there are few)."""
    if count <= rows:
        return list(range(count))
    return sorted({round(i * (count - 1) / (rows - 1)) for i in range(rows)})


def sheet_rows(newest: dict[tuple[str, int], Any], images: list[np.ndarray],
               names: list[str]) -> list[list[np.ndarray]]:
    """Contact-sheet rows: sample frames with the newest outputs of their frames (``newest_outputs``)."""
    has_grid = any(output == "traversable_grid" for output, _ in newest)
    rows = []
    for index in sheet_indices(len(images)):
        rgb = images[index]
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


def run(shared: Path, output: Path, network: str, rate: float, loops: int, threads: int,
        max_frames: int = 0) -> LiveSummary:
    """Replay a scene the network knows into a fresh ``segnet_node``; bag, contact sheet and summary go to ``output``.

    ``max_frames`` > 0 replays only the scene's first frames. Raises MediaError or ModelError when the scene or a
    network is missing, RuntimeFailure when the node does not come up.
    """
    if (shared / "models").is_dir():
        add_model_path(shared / "models")
    spec = choose_network(network)
    model = spec.source if Path(spec.source).exists() else spec.name
    scene = choose_scene(shared, spec, rate, loops)
    if max_frames > 0:
        scene = dataclasses.replace(scene, images=scene.images[:max_frames],
                                    labels=scene.labels[:max_frames] if scene.labels is not None else None)
    images = [read_image(p) for p in scene.images]
    if scene.camera_size is not None:  # one camera, one size: each size would need its own CameraInfo
        images = [cv2.resize(rgb, scene.camera_size, interpolation=cv2.INTER_AREA) for rgb in images]
    output.mkdir(parents=True, exist_ok=True)
    bag_path = output / "segnet_live_bag"
    if bag_path.exists():
        shutil.rmtree(bag_path)
    store = typestore_with_seg_ros()

    def skip(topic: str, type_name: str) -> str | None:
        return None if type_name in store.types else f"type {type_name} unknown to rosbags"

    domain = random_domain()
    print(f"live demo: network {spec.name} ({model}), scene: {scene.name}, {len(images)} frames, because "
          f"{scene.reason}")
    print(f"live demo: ROS_DOMAIN_ID {domain}, shared-memory transport")
    params = {"model_path": model, "threads": threads, **scene.params}
    frames = [CameraFrame(image_message(rgb), camera_info_for(rgb.shape[1], rgb.shape[0], scene.hfov_deg))
              for rgb in images]
    live = replay_into_node(domain, params, frames, scene.rate_hz, scene.loops, output / "node.log", skip)
    recorded = write_bag(bag_path, live.collector, store)
    sheet_path = output / "live_contact_sheet.png"
    newest = newest_outputs(live, SCORED_OUTPUTS)
    write_image(sheet_path, contact_sheet(sheet_rows(newest, images, [p.name for p in scene.images])))
    summary, timer, latencies = summarize(live, spec.name, model, scene.rate_hz, scene.loops, recorded, bag_path,
                                          sheet_path)
    accuracy = None
    if scene.labels is not None:
        masks = {index: class_mask_of(msg) for (output, index), msg in newest.items() if output == "class_mask"}
        segmenter = Segmenter(spec, threads=threads, ignore_class=scene.params.get("ignore_class") or None)
        accuracy = score_graph_masks(masks, images, [read_label(p) for p in scene.labels], segmenter)
        summary = dataclasses.replace(summary, scene=scene.name, accuracy={
            "frames": accuracy.frames, "identical": accuracy.identical,
            "graph": {"pixel_accuracy": accuracy.graph.pixel_accuracy, "mean_iou": accuracy.graph.mean_iou,
                      "mean_class_accuracy": accuracy.graph.mean_class_accuracy},
            "offline": {"pixel_accuracy": accuracy.offline.pixel_accuracy, "mean_iou": accuracy.offline.mean_iou,
                        "mean_class_accuracy": accuracy.offline.mean_class_accuracy}})
    else:
        summary = dataclasses.replace(summary, scene=scene.name)
    (output / "live_summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n",
                                              encoding="utf-8")
    print(f"live demo: published {summary.frames_published} frames at {scene.rate_hz:g} Hz ({scene.loops} loop(s) of "
          f"{len(images)} images) in {live.replay_s:.1f} s; node received {summary.frames_received}, processed "
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
    headings = [m for (output, _), m in newest.items() if output == "trail_heading" and m.confidence > 0]
    print(f"live demo: trail heading ({scene.params.get('trail_class', 'trail')}) found on {len(headings)} of "
          f"{len(images)} frames")
    if accuracy is not None:
        print(f"live demo: accuracy through the ROS graph ({accuracy.frames} class masks received over DDS vs the "
              "labels): " + _scores_line(accuracy.graph))
        print("live demo: the same frames offline (this process, same settings):  " + _scores_line(accuracy.offline)
              + ("  -> identical" if accuracy.identical else "  -> DIFFERENT"))
    print("live demo: recorded " + ", ".join(f"{t} ({n})" for t, n in sorted(recorded.items())) + f" to {bag_path}")
    for topic, why in summary.topics_not_recorded.items():
        print(f"live demo: not recorded {topic}: {why}")
    print(f"live demo: contact sheet {sheet_path}; node exited with code {summary.node_exit_code}")
    return summary


def _scores_line(scores: Scores) -> str:
    return (f"pixel accuracy {scores.pixel_accuracy * 100:.2f} %, mean IoU {scores.mean_iou * 100:.2f} %, "
            f"mean class accuracy {scores.mean_class_accuracy * 100:.2f} %")


def main(argv: list[str] | None = None) -> int:
    """``make demo``; exit status as in ``seg_ros.cli.entry``, and 1 when no frame came back or the node failed."""
    return run_cli("live demo", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = demo_parser("python -m seg_ros.ros.live_demo", __doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="images per second")
    parser.add_argument("--loops", type=int, default=5, help="times the trail samples are replayed (CamVid: once)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads of the node (0 = default)")
    parser.add_argument("--frames", type=int, default=0, help="replay only the scene's first N frames (0 = all)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.loops <= 0 or args.frames < 0:
        parser.error("--rate and --loops must be positive, --frames zero or positive")
    summary = run(args.shared.expanduser().resolve(), args.output, args.network, args.rate, args.loops,
                  args.threads, args.frames)
    accurate = summary.accuracy is None or summary.accuracy["identical"]
    return 0 if summary.frames_processed > 0 and summary.node_exit_code == 0 and accurate else 1


if __name__ == "__main__":
    sys.exit(main())
