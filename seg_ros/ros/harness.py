"""One harness for driving ``segnet_node`` over real DDS: used by the live demo, ``bench_node`` and the node tests.

Small pieces, each usable alone:

- DDS-safe settings (../shared/ROS_ON_PYPI.md): ``SHM_TRANSPORT`` (shared memory only, no UDP, no multicast;
  4 MB messages carry a 720p rgb8 image), ``random_domain``, ``dds_env``, ``apply_dds_transport``.
  ``ROS_AUTOMATIC_DISCOVERY_RANGE`` would override the transport setting and is always removed.
- ``NodeProcess``: ``segnet_node`` in its own process with that environment, its output in a log file; waits
  until a condition holds (or says why the node is not up), stops it with SIGINT → wait → kill.
- ``LocalNode``: an rclpy node in this process (its own context on a given domain), spun in a background thread;
  ``node_session`` starts both on one domain and stops both.
- ``CameraStream``: publishes ``CameraFrame`` s (Image or CompressedImage plus CameraInfo, one stamp for both)
  once, until answered, or at a fixed rate; ``SentFrame`` records what went out.
- ``OutputCollector``: per-topic ``Received`` records (message raw or deserialized, receive times).
- ``DiagnosticsReader``: the node's ``/diagnostics`` statuses as ``NodeStatus`` values.
- ``camera_info_for`` and ``grid_params``: the camera and mounting the demo and the benchmark describe to the node.

rclpy and the message packages are imported inside the functions that use them: the DDS settings and process
helpers also serve where ROS is not installed (the pure core's Python 3.10 test run imports ``test/conftest.py``).
"""

from __future__ import annotations

import importlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seg_ros.errors import MediaError, RuntimeFailure
from seg_ros.paths import package_file

SHM_TRANSPORT = "SHM?max_msg_size=4MB&sockets_size=32MB"
# Fast DDS 2.x (Jazzy: 2.14) truncates some unfragmented shared-memory samples above 64 KB by 60 bytes (an Image
# ending in 20 pixels of 128,0,0: docs/humble.md): there samples are fragmented at 64 KB, still shared memory only.
SHM_TRANSPORT_FASTDDS2 = "SHM?max_msg_size=64KB&sockets_size=32MB"
TRANSPORT_VAR = "FASTDDS_BUILTIN_TRANSPORTS"
DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
NODE_NAME = "segnet"
FRAME_ID = "camera_optical_frame"
START_TIMEOUT = 90.0  # s: model load and discovery on a busy 2-core machine
CAMERA_HFOV_DEG = 90.0
# Camera pose parameters (no tf): 1 m above the ground, looking 15 degrees down.
MOUNTING: Mapping[str, object] = {"use_tf": False, "camera_height": 1.0, "camera_pitch": math.radians(15.0)}
# Grid costs for networks without DeepScene classes (CamVid, Cityscapes): paved ground is the "trail"; CamVid's
# "tree" holds all vegetation, grass included (DeepScene: grass 30, vegetation 100); unnamed classes are lethal.
ROAD_COSTS: Mapping[str, int] = {"road": 0, "pavement": 10, "sidewalk": 10, "terrain": 30, "tree": 70, "sky": -1,
                                 "void": -1}


# ---------------------------------------------------------------------------------------------- DDS settings

def random_domain() -> int:
    """A random ROS_DOMAIN_ID in 1..99 or 200..230: never 100..199 (what ``make`` targets pick), never 0."""
    rng = random.SystemRandom()
    return rng.randint(1, 99) if rng.random() < 0.5 else rng.randint(200, 230)


def shm_transport() -> str:
    """The DDS-safe shared-memory transport string for the installed Fast DDS.

    ``SHM_TRANSPORT_FASTDDS2`` under Fast DDS 2.x (the ros-fastrtps 2.x wheel of Jazzy, or a sourced Humble / Iron /
    Jazzy install: ``ROS_DISTRO``), else ``SHM_TRANSPORT``.
    """
    import importlib.metadata

    try:
        major = int(importlib.metadata.version("ros-fastrtps").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        major = 2 if os.environ.get("ROS_DISTRO", "") in ("humble", "iron", "jazzy") else 3
    return SHM_TRANSPORT_FASTDDS2 if major < 3 else SHM_TRANSPORT


def dds_env(domain: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) for a DDS-safe ROS process on ``domain``.

    Sets ``FASTDDS_BUILTIN_TRANSPORTS`` to ``shm_transport()``, ``ROS_DOMAIN_ID`` and ``PYTHONUNBUFFERED``;
    removes ``ROS_AUTOMATIC_DISCOVERY_RANGE``. ``base`` itself is not changed.
    """
    env = dict(os.environ if base is None else base)
    env.pop(DISCOVERY_RANGE_VAR, None)
    env[TRANSPORT_VAR] = shm_transport()
    env["ROS_DOMAIN_ID"] = str(int(domain))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def apply_dds_transport() -> None:
    """Shared-memory transport for DDS participants of this process (call before the first one is created).

    The domain is not touched: ``LocalNode`` passes it to ``rclpy.init`` explicitly.
    """
    os.environ[TRANSPORT_VAR] = shm_transport()
    os.environ.pop(DISCOVERY_RANGE_VAR, None)


# ---------------------------------------------------------------------------------------------- node process

def params_file() -> Path | None:
    """config/segnet.yaml of a source checkout, else the installed share/seg_ros/config copy; None if neither."""
    try:
        return package_file("config", "segnet.yaml")
    except FileNotFoundError:
        return None


def node_command(params: Mapping[str, object], node_name: str | None = None,
                 remappings: Mapping[str, str] | None = None) -> list[str]:
    """The ``segnet_node`` command line: the venv's console script, else one on PATH, else ``python -m``.

    ``params`` become ``-p name:=value`` (booleans lower-case, an empty string as YAML ``''``) after
    ``--params-file config/segnet.yaml``;
    ``node_name`` becomes ``-r __node:=name``; each remapping ``-r src:=dst``.
    """
    exe = Path(sys.executable).with_name("segnet_node")
    on_path = shutil.which("segnet_node")
    cmd = [str(exe)] if exe.is_file() else [on_path] if on_path else [sys.executable, "-m", "seg_ros.ros.node"]
    cmd.append("--ros-args")
    config = params_file()
    if config is not None:
        cmd += ["--params-file", str(config)]
    if node_name:
        cmd += ["-r", f"__node:={node_name}"]
    for src, dst in (remappings or {}).items():
        cmd += ["-r", f"{src}:={dst}"]
    for key, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else "''" if value == "" else str(value)
        cmd += ["-p", f"{key}:={text}"]
    return cmd


class NodeProcess:
    """``segnet_node`` (or ``command``) in its own process on ``domain``; stdout and stderr go to ``log_path``.

    Args:
        domain: ROS_DOMAIN_ID of the child (its environment is ``dds_env(domain)`` plus ``extra_env``).
        params: node parameters (``-p``), see ``node_command``.
        log_path: file the child's output is written to (created or truncated).
        node_name, remappings: see ``node_command``.
        extra_env: variables added to the child's environment.
        cwd: the child's working directory.
        command: run this instead of ``segnet_node`` (``params``, ``node_name`` and ``remappings`` are then unused).

    Raises OSError when the program cannot be started. Call ``stop`` when done (``node_session`` does).
    """

    def __init__(self, domain: int, params: Mapping[str, object], log_path: Path, *, node_name: str | None = None,
                 remappings: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, command: Sequence[str] | None = None) -> None:
        self.domain = int(domain)
        self.log_path = Path(log_path)
        self.command = list(command) if command is not None else node_command(params, node_name, remappings)
        self.exit_code: int | None = None  # set by ``stop``
        env = dds_env(domain)
        env.update(extra_env or {})
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self.proc = subprocess.Popen(self.command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd)
        except OSError:
            self._log.close()
            raise

    def alive(self) -> bool:
        """True while the child has not exited."""
        return self.proc.poll() is None

    def log(self) -> str:
        """Everything the child has written so far (undecodable bytes replaced)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit; its exit code. Raises subprocess.TimeoutExpired after ``timeout`` s."""
        return self.proc.wait(timeout)

    def interrupt(self, timeout: float = 15.0) -> int:
        """SIGINT (what Ctrl-C sends) and wait; the exit code. Raises subprocess.TimeoutExpired; never kills."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 20.0, kill_timeout: float = 5.0) -> int:
        """SIGINT, wait up to ``timeout`` s, then SIGKILL; closes the log. The exit code (-9 when killed).

        The code is also kept in ``exit_code``. Safe to call again: a child that already exited is only reaped.
        """
        try:
            try:
                self.exit_code = self.interrupt(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_code = self.proc.wait(kill_timeout)
            return self.exit_code
        finally:
            self._log.close()

    def wait_until(self, ready: Callable[[], object], timeout: float = START_TIMEOUT, what: str = "come up") -> object:
        """Poll ``ready`` until it returns something truthy (returned) while the child runs.

        Raises RuntimeFailure (exit status 1), with the end of the log, when the child exits first or
        ``timeout`` s pass.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = ready()
            if result:
                return result
            if not self.alive() or time.monotonic() > deadline:
                why = f"exited with code {self.proc.returncode}" if not self.alive() else f"timed out ({timeout:g} s)"
                raise RuntimeFailure(f"{Path(self.command[0]).name} did not {what}: {why}; "
                                  f"log {self.log_path}:\n{self.log()[-2000:]}")
            time.sleep(0.05)

    def rss_mb(self) -> float | None:
        """The child's resident memory (MiB, from /proc), or None when it cannot be read (exited, no /proc)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None


@dataclass(frozen=True)
class NodeSession:
    """A node process and a ``LocalNode`` of this process on the same ROS domain (see ``node_session``)."""

    domain: int
    node: NodeProcess
    local: LocalNode


@contextmanager
def node_session(params: Mapping[str, object], log_path: Path, domain: int | None = None,
                 local_name: str = "seg_ros_harness", stop_timeout: float = 20.0,
                 **node_options: Any) -> Iterator[NodeSession]:
    """Start ``segnet_node`` (``NodeProcess(domain, params, log_path, **node_options)``) and a ``LocalNode``.

    ``domain`` defaults to ``random_domain()``. On leaving the block the node is stopped (``NodeProcess.stop``
    with ``stop_timeout``: its exit code is then in ``node.exit_code``) and the local node closed.
    """
    domain = random_domain() if domain is None else domain
    node = NodeProcess(domain, params, log_path, **node_options)
    try:
        local = LocalNode(domain, local_name)
    except BaseException:
        node.stop(stop_timeout)
        raise
    try:
        yield NodeSession(domain, node, local)
    finally:
        node.stop(stop_timeout)
        local.close()


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.02,
             action: Callable[[], None] | None = None, action_every: float = 1.0) -> object:
    """Poll ``predicate`` until truthy (returned) or ``timeout`` s pass (None).

    ``action`` (publishing a frame, say) runs before the first poll and again every ``action_every`` s.
    """
    deadline = time.monotonic() + timeout
    next_action = 0.0
    while time.monotonic() < deadline:
        if action is not None and time.monotonic() >= next_action:
            action()
            next_action = time.monotonic() + action_every
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None


# ---------------------------------------------------------------------------------------------- this process

@dataclass(frozen=True, order=True)
class Stamp:
    """A ROS time stamp (``builtin_interfaces/Time``): seconds and nanoseconds."""

    sec: int
    nanosec: int

    @classmethod
    def of(cls, msg: Any) -> Stamp:
        """The ``header.stamp`` of a message. Raises AttributeError for a message without a header."""
        return cls(int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))

    @property
    def ns(self) -> int:
        """Nanoseconds since the epoch."""
        return self.sec * 1_000_000_000 + self.nanosec


def message_class(type_name: str) -> type:
    """``pkg/msg/Name`` → the rclpy message class. Raises ImportError, AttributeError or ValueError."""
    pkg, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


class LocalNode:
    """An rclpy node in this process with its own context on ``domain``, spun by a daemon thread.

    Applies ``apply_dds_transport`` first. ``node`` is the rclpy node (create publishers, clients on it);
    ``close`` (or leaving a ``with`` block) shuts the context down.
    """

    def __init__(self, domain: int, name: str = "seg_ros_harness") -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        apply_dds_transport()
        self.domain = int(domain)
        self.context = Context()
        rclpy.init(args=[], context=self.context, domain_id=self.domain)  # not sys.argv: no ROS arguments
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - shutting down
            pass

    def __enter__(self) -> LocalNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> Stamp:
        """This node's clock (system time) as a Stamp."""
        t = self.node.get_clock().now().to_msg()
        return Stamp(t.sec, t.nanosec)

    def close(self) -> None:
        """Stop spinning, destroy the node, shut the context down. Safe to call twice."""
        import rclpy

        if not self.context.ok():
            return
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5)


# ---------------------------------------------------------------------------------------------- camera input

def camera_info_for(width: int, height: int, hfov_deg: float = CAMERA_HFOV_DEG, frame_id: str = FRAME_ID) -> Any:
    """A pinhole ``sensor_msgs/CameraInfo`` (plumb_bob, no distortion) of a ``width`` x ``height`` pixel camera.

    Focal length ``(width / 2) / tan(hfov / 2)`` pixels for both axes, principal point at the image centre
    ``((width - 1) / 2, (height - 1) / 2)``; ``hfov_deg`` is the horizontal field of view in degrees.
    """
    from sensor_msgs.msg import CameraInfo

    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.header.frame_id = frame_id
    info.d = [0.0] * 5
    info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def grid_params(class_names: Iterable[str]) -> dict[str, object]:
    """Node parameters for a grid with the camera pose from parameters (``MOUNTING``).

    For networks without a "trail" class (CamVid, Cityscapes) adds ``ROAD_COSTS`` for the classes the network
    has (``void:-1`` when none), default cost 100 and "road" as the trail class (when it has one).
    """
    params: dict[str, object] = dict(MOUNTING)
    names = {n.strip().lower() for n in class_names}
    if "trail" not in names:
        params["class_costs"] = [f"{n}:{c}" for n, c in ROAD_COSTS.items() if n in names] or ["void:-1"]
        params["default_cost"] = 100
        params["trail_class"] = "road" if "road" in names else ""
    return params


def image_message(rgb: np.ndarray, frame_id: str = FRAME_ID, encoding: str = "rgb8") -> Any:
    """A ``sensor_msgs/Image`` of an (H, W, 3) uint8 RGB array (``messages.image_msg``), header stamp unset."""
    from std_msgs.msg import Header

    from seg_ros.ros.messages import image_msg

    return image_msg(Header(frame_id=frame_id), rgb, encoding)


def compressed_message(rgb: np.ndarray, fmt: str = "png", frame_id: str = FRAME_ID) -> Any:
    """A ``sensor_msgs/CompressedImage`` of an (H, W, 3) uint8 RGB array encoded as ``fmt`` (png or jpeg).

    Raises MediaError when OpenCV cannot encode it.
    """
    import array

    import cv2
    from sensor_msgs.msg import CompressedImage

    ok, data = cv2.imencode("." + fmt, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"OpenCV cannot encode a {rgb.shape} image as {fmt}")
    msg = CompressedImage(format=fmt)
    msg.header.frame_id = frame_id
    msg.data = array.array("B", data.tobytes())
    return msg


@dataclass(frozen=True)
class CameraFrame:
    """One camera frame to publish: an Image or CompressedImage message and its CameraInfo (None: image only).

    The messages are reused: ``CameraStream`` sets both ``header.stamp`` fields on every publish.
    """

    image: Any
    info: Any = None


@dataclass(frozen=True)
class SentFrame:
    """A frame that went out: its index in the published sequence, its stamp, when (``time.monotonic``, s)."""

    index: int
    stamp: Stamp
    sent_monotonic: float


class CameraStream:
    """Publishers of a camera stream on ``local``: images on ``image_topic``, CameraInfo on ``info_topic``.

    Args:
        local: the node in this process that publishes.
        image_topic, info_topic: topic names (``info_topic`` None: no CameraInfo publisher).
        compressed: publish ``sensor_msgs/CompressedImage`` instead of ``Image``.
        qos: depth or QoSProfile of both publishers.
        info_lead: seconds between a frame's CameraInfo and its image (0: back to back).

    ``sent`` lists every ``SentFrame`` in publishing order.
    """

    def __init__(self, local: LocalNode, image_topic: str = "image", info_topic: str | None = "camera_info",
                 compressed: bool = False, qos: Any = 10, info_lead: float = 0.0) -> None:
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        self.local = local
        self.image_publisher = local.node.create_publisher(CompressedImage if compressed else Image, image_topic, qos)
        self.info_publisher = (local.node.create_publisher(CameraInfo, info_topic, qos)
                               if info_topic is not None else None)
        self.info_lead = info_lead
        self.sent: list[SentFrame] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribed(self) -> bool:
        """True when the image topic (and the CameraInfo topic, if published) has a subscriber."""
        return self.image_publisher.get_subscription_count() > 0 and (
            self.info_publisher is None or self.info_publisher.get_subscription_count() > 0)

    def sent_count(self) -> int:
        """How many frames went out so far."""
        with self._lock:
            return len(self.sent)

    def publish(self, frame: CameraFrame, stamp: Stamp | None = None, index: int = 0) -> Stamp:
        """Stamp ``frame`` (default: now) and publish its CameraInfo (if any, and a publisher exists), then its image.

        Returns the stamp; ``index`` is recorded in ``sent``.
        """
        stamp = self.local.now() if stamp is None else stamp
        frame.image.header.stamp.sec, frame.image.header.stamp.nanosec = stamp.sec, stamp.nanosec
        if frame.info is not None and self.info_publisher is not None:
            frame.info.header.stamp.sec, frame.info.header.stamp.nanosec = stamp.sec, stamp.nanosec
            self.info_publisher.publish(frame.info)
            if self.info_lead > 0:
                time.sleep(self.info_lead)
        self.image_publisher.publish(frame.image)
        with self._lock:
            self.sent.append(SentFrame(index, stamp, time.monotonic()))
        return stamp

    def send(self, frame: CameraFrame, collector: OutputCollector, keys: Sequence[str], stamp: Stamp | None = None,
             timeout: float = 20.0, repeat_every: float | None = 3.0, index: int = 0) -> list[Any] | None:
        """Publish ``frame`` and wait until each of ``keys`` in ``collector`` has a message with its stamp.

        The same stamp is published again every ``repeat_every`` s (None: once); ``index`` is recorded in ``sent``.
        Returns those messages, in the order of ``keys``, or None after ``timeout`` s.
        """
        stamp = self.local.now() if stamp is None else stamp
        if repeat_every is None:
            self.publish(frame, stamp, index)
            return collector.wait_for_stamp(keys, stamp, timeout)
        return collector.wait_for_stamp(keys, stamp, timeout, action=lambda: self.publish(frame, stamp, index),
                                        action_every=repeat_every)

    def replay(self, frames: Sequence[CameraFrame], rate: float, count: int | None = None,
               stop: threading.Event | None = None, after_cycle: Callable[[], None] | None = None) -> int:
        """Publish ``frames`` in turn at ``rate`` Hz, stamped now, until ``count`` went out or ``stop`` is set.

        ``after_cycle`` runs after each pass over ``frames`` (within the schedule). A publisher that falls behind
        restarts its schedule instead of bursting. Returns how many went out. Raises ValueError for a rate <= 0
        or no frames.
        """
        if rate <= 0 or not frames:
            raise ValueError(f"replay needs frames and a positive rate, got {len(frames)} frames at {rate} Hz")
        period = 1.0 / rate
        next_time = time.monotonic()
        published = 0
        while (count is None or published < count) and not (stop is not None and stop.is_set()):
            delay = next_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_time = time.monotonic()
            index = published % len(frames)
            self.publish(frames[index], index=index)
            published += 1
            next_time += period
            if after_cycle is not None and index == len(frames) - 1:
                after_cycle()
        return published

    def start(self, frames: Sequence[CameraFrame], rate: float) -> None:
        """``replay`` in a background thread until ``stop``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.replay, args=(frames, rate, None, self._stop),
                                        name="camera-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop a ``start`` ed stream and wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


# ---------------------------------------------------------------------------------------------- outputs

@dataclass(frozen=True)
class Received:
    """One message received by an ``OutputCollector``.

    ``message`` is the deserialized message, the serialized bytes (raw subscriptions), or None (``keep=False``).
    ``stamp`` is its header stamp (None for raw messages and messages without a header). ``receive_ns`` is the
    wall clock (``time.time_ns``, comparable with ROS stamps) and ``receive_monotonic`` ``time.monotonic`` (s),
    both taken in the subscription callback.
    """

    key: str
    message: Any
    stamp: Stamp | None
    receive_ns: int
    receive_monotonic: float

    def latency_ms(self) -> float:
        """Receive time minus stamp (ms). Raises ValueError for a message without a stamp."""
        if self.stamp is None:
            raise ValueError(f"a {self.key} message without a stamp has no latency")
        return (self.receive_ns - self.stamp.ns) / 1e6


@dataclass(frozen=True)
class Subscribed:
    """A collector subscription: its key, topic and ROS type name (``pkg/msg/Name``), whether raw."""

    key: str
    topic: str
    type_name: str
    raw: bool


class OutputCollector:
    """Subscriptions on ``local`` that keep every message received, per key (by default the topic name)."""

    def __init__(self, local: LocalNode) -> None:
        self.local = local
        self.skipped: dict[str, str] = {}  # topic -> why ``discover`` did not subscribe to it
        self._lock = threading.Lock()
        self._logs: dict[str, list[Received]] = {}
        self._subscribed: dict[str, Subscribed] = {}
        self._subscriptions: list[Any] = []

    def subscribe(self, topic: str, msg_type: type, qos: Any = 10, raw: bool = False, keep: bool = True,
                  key: str | None = None) -> str:
        """Subscribe to ``topic`` and record what arrives under ``key`` (default ``topic``); returns the key.

        ``raw`` keeps the serialized bytes; ``keep=False`` records only stamps and times. Raises ValueError for
        a key already in use.
        """
        key = key or topic
        with self._lock:
            if key in self._logs:
                raise ValueError(f"collector key {key!r} is already subscribed")
            self._logs[key] = []
            module = msg_type.__module__.split(".")
            self._subscribed[key] = Subscribed(key, topic, f"{module[0]}/{module[1]}/{msg_type.__name__}", raw)

        def on_message(msg: Any) -> None:
            receive_ns, receive_monotonic = time.time_ns(), time.monotonic()
            stamp = None if raw or not hasattr(msg, "header") else Stamp.of(msg)
            record = Received(key, msg if keep else None, stamp, receive_ns, receive_monotonic)
            with self._lock:
                self._logs[key].append(record)

        self._subscriptions.append(self.local.node.create_subscription(msg_type, topic, on_message, qos, raw=raw))
        return key

    def discover(self, prefixes: tuple[str, ...], skip: Callable[[str, str], str | None] | None = None,
                 qos: Any = 10, raw: bool = False) -> list[str]:
        """Subscribe to every topic of the graph under ``prefixes`` not subscribed yet; returns the new ones.

        ``skip(topic, type_name)`` may return a reason not to; so does a type that cannot be imported. The
        reasons are kept in ``skipped``.
        """
        new = []
        for topic, types in self.local.node.get_topic_names_and_types():
            if topic in self._logs or topic in self.skipped or not topic.startswith(prefixes):
                continue
            reason = skip(topic, types[0]) if skip is not None else None
            if reason is None:
                try:
                    msg_type = message_class(types[0])
                except (ImportError, AttributeError, ValueError) as exc:
                    reason = f"cannot import {types[0]}: {exc}"
            if reason is not None:
                self.skipped[topic] = reason
                continue
            new.append(self.subscribe(topic, msg_type, qos, raw=raw))
        return new

    def subscriptions(self) -> list[Subscribed]:
        """What this collector subscribed to, in order."""
        with self._lock:
            return list(self._subscribed.values())

    def received(self, key: str) -> list[Received]:
        """A copy of the records under ``key``, in arrival order (empty for a key not subscribed, yet)."""
        with self._lock:
            return list(self._logs.get(key, ()))

    def messages(self, key: str) -> list[Any]:
        """The messages (or raw bytes) under ``key``, in arrival order."""
        return [r.message for r in self.received(key)]

    def count(self, key: str) -> int:
        """How many messages arrived under ``key`` (0 for a key not subscribed)."""
        with self._lock:
            return len(self._logs.get(key, ()))

    def find(self, key: str, stamp: Stamp) -> Any:
        """The first message under ``key`` stamped ``stamp``, or None."""
        return next((r.message for r in self.received(key) if r.stamp == stamp), None)

    def wait_for_stamp(self, keys: Sequence[str], stamp: Stamp, timeout: float,
                       action: Callable[[], None] | None = None, action_every: float = 1.0) -> list[Any] | None:
        """Wait until every key has a message stamped ``stamp``; those messages, or None after ``timeout`` s.

        ``action`` (publishing the frame, say) runs first and every ``action_every`` s (see ``wait_for``).
        """
        def answered() -> list[Any] | None:
            found = [self.find(key, stamp) for key in keys]
            return found if all(f is not None for f in found) else None

        return wait_for(answered, timeout, action=action, action_every=action_every)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- diagnostics

@dataclass(frozen=True)
class NodeStatus:
    """One ``diagnostic_msgs/DiagnosticStatus`` of a node: name, level, message, key → value text, receive time."""

    name: str
    level: int
    message: str
    values: Mapping[str, str]
    receive_monotonic: float

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value text of ``key``, or ``default``."""
        return self.values.get(key, default)


class DiagnosticsReader:
    """The ``/diagnostics`` statuses of one node, received on ``local``.

    Keeps every status on ``topic`` whose name starts with ``node_name`` (a node names its status after
    itself: ``segnet: segmentation``).
    """

    def __init__(self, local: LocalNode, node_name: str = NODE_NAME, topic: str = "/diagnostics",
                 qos: Any = 10) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self.node_name = node_name
        self._lock = threading.Lock()
        self._statuses: list[NodeStatus] = []
        self._subscription = local.node.create_subscription(DiagnosticArray, topic, self._on_array, qos)

    def _on_array(self, msg: Any) -> None:
        now = time.monotonic()
        ours = [NodeStatus(s.name, s.level[0] if isinstance(s.level, bytes) else int(s.level), s.message,
                           {kv.key: kv.value for kv in s.values}, now)
                for s in msg.status if s.name.startswith(self.node_name)]
        with self._lock:
            self._statuses.extend(ours)

    def statuses(self) -> list[NodeStatus]:
        """Every status of the node received so far, oldest first."""
        with self._lock:
            return list(self._statuses)

    def newest(self, predicate: Callable[[NodeStatus], bool] | None = None) -> NodeStatus | None:
        """The newest status (for which ``predicate`` holds), or None."""
        return next((s for s in reversed(self.statuses()) if predicate is None or predicate(s)), None)

    def wait(self, predicate: Callable[[NodeStatus], bool] | None = None, timeout: float = 10.0) -> NodeStatus | None:
        """Wait up to ``timeout`` s for a status for which ``predicate`` holds; the newest such, or None."""
        return wait_for(lambda: self.newest(predicate), timeout)  # type: ignore[return-value]
