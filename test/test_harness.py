"""seg_ros.ros.harness: DDS-safe settings, node process start/stop, and camera stream → collector over real DDS.

The process tests run small Python programs in place of ``segnet_node`` (the harness takes any command); the
DDS tests publish and collect between two ``LocalNode`` s of this process (two contexts, two participants) on a
random domain with the shared-memory transport.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seg_ros.errors import RuntimeFailure
from seg_ros.ros.harness import (
    NodeProcess,
    Received,
    Stamp,
    apply_dds_transport,
    dds_env,
    grid_params,
    node_command,
    random_domain,
    wait_for,
)

REPO = Path(__file__).resolve().parents[1]
SHM = "SHM?max_msg_size=4MB&sockets_size=32MB"  # ../shared/ROS_ON_PYPI.md
SHM_FASTDDS2 = "SHM?max_msg_size=64KB&sockets_size=32MB"  # Fast DDS 2.x (Jazzy): 64 KB fragments (docs/humble.md)


def _fastdds_major() -> int:
    try:
        return int(importlib.metadata.version("ros-fastrtps").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return 2 if os.environ.get("ROS_DISTRO") in ("humble", "iron", "jazzy") else 3


EXPECTED = SHM_FASTDDS2 if _fastdds_major() < 3 else SHM  # what this environment's processes must get
# Prints the DDS settings it was started with, then sleeps; SIGINT handling chosen by argv[1].
CHILD = """
import os, signal, sys, time
mode = sys.argv[1]
if mode == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
elif mode == "exit3":
    signal.signal(signal.SIGINT, lambda *_: sys.exit(3))
print("transport", os.environ.get("FASTDDS_BUILTIN_TRANSPORTS"), flush=True)
print("domain", os.environ.get("ROS_DOMAIN_ID"), flush=True)
print("range", os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "unset"), flush=True)
print("ready", flush=True)
if mode == "fail":
    print("boom: no model", flush=True)
    sys.exit(7)
time.sleep(60)
"""


def child(tmp_path: Path, mode: str, domain: int = 57) -> NodeProcess:
    return NodeProcess(domain, {}, tmp_path / f"{mode}.log", command=[sys.executable, "-c", CHILD, mode])


# ------------------------------------------------------------------------------------- DDS settings, no ROS

def test_dds_env_has_the_shm_transport_the_domain_and_no_discovery_range():
    base = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4", "KEEP": "1"}
    env = dds_env(42, base)
    assert env["FASTDDS_BUILTIN_TRANSPORTS"] == EXPECTED
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in env
    assert env["ROS_DOMAIN_ID"] == "42" and env["KEEP"] == "1"
    assert base["FASTDDS_BUILTIN_TRANSPORTS"] == "UDPv4" and "ROS_AUTOMATIC_DISCOVERY_RANGE" in base  # a copy


def test_makefile_exports_the_harness_transport():
    """make targets run before any venv exists, so the Makefile states the string too: it must agree."""
    from seg_ros.ros.harness import SHM_TRANSPORT

    lines = [line for line in (REPO / "Makefile").read_text().splitlines()
             if line.startswith("export FASTDDS_BUILTIN_TRANSPORTS")]
    assert [line.split(":=", 1)[1].strip() for line in lines] == [SHM_TRANSPORT] == [SHM]


def test_apply_dds_transport_sets_this_process(monkeypatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
    apply_dds_transport()
    assert os.environ["FASTDDS_BUILTIN_TRANSPORTS"] == EXPECTED
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ


def test_shm_transport_fragments_at_64kb_under_fast_dds_2(monkeypatch):
    import seg_ros.ros.harness as harness

    def no_wheel(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", no_wheel)
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    assert harness.shm_transport() == SHM_FASTDDS2
    monkeypatch.setenv("ROS_DISTRO", "kilted")
    assert harness.shm_transport() == SHM
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "2.14.5" if name == "ros-fastrtps" else "0")
    assert harness.shm_transport() == SHM_FASTDDS2


def test_random_domain_avoids_the_make_range_and_zero():
    draws = {random_domain() for _ in range(400)}
    assert all(1 <= d <= 99 or 200 <= d <= 230 for d in draws), sorted(draws)
    assert any(d < 100 for d in draws) and any(d >= 200 for d in draws)


def test_node_command_passes_params_file_name_remappings_and_parameters():
    cmd = node_command({"alpha": 1.5, "use_tf": False, "network": "x"}, "seg2", {"image": "/cam/image_raw"})
    args = cmd[cmd.index("--ros-args") + 1:]
    pairs = list(zip(args[::2], args[1::2], strict=True))
    assert ("--params-file", str(REPO / "config" / "segnet.yaml")) in pairs
    assert ("-r", "__node:=seg2") in pairs and ("-r", "image:=/cam/image_raw") in pairs
    assert [v for k, v in pairs if k == "-p"] == ["alpha:=1.5", "use_tf:=false", "network:=x"]


def test_grid_params_for_camvid_names_and_for_deepscene_names():
    camvid = grid_params(["Sky", "Building", "Road", "Pavement", "Tree", "Void"])
    assert camvid == {"use_tf": False, "camera_height": 1.0, "camera_pitch": pytest.approx(0.2617993878),
                      "class_costs": ["road:0", "pavement:10", "tree:70", "sky:-1", "void:-1"],
                      "default_cost": 100, "trail_class": "road"}
    assert set(grid_params(["trail", "grass", "vegetation", "obstacle", "sky"])) == {
        "use_tf", "camera_height", "camera_pitch"}  # DeepScene: the node's own costs
    unknown = grid_params(["person", "car"])
    assert unknown["class_costs"] == ["void:-1"] and unknown["trail_class"] == ""


def test_stamp_nanoseconds_order_and_latency():
    assert Stamp(2, 5).ns == 2_000_000_005 and Stamp(1, 999_999_999) < Stamp(2, 0)
    received = Received("/t", None, Stamp(10, 0), 10_250_000_000, 0.0)
    assert received.latency_ms() == pytest.approx(250.0)
    with pytest.raises(ValueError, match="without a stamp"):
        Received("/t", b"raw", None, 1, 0.0).latency_ms()


# ------------------------------------------------------------------------------------- node process

def test_child_gets_the_dds_safe_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    proc = child(tmp_path, "exit3", domain=61)
    try:
        proc.wait_until(lambda: "ready" in proc.log(), 20.0, "start")
    finally:
        proc.stop(10.0)
    lines = proc.log().splitlines()
    assert f"transport {EXPECTED}" in lines and "domain 61" in lines and "range unset" in lines, lines


def test_stop_interrupts_first_and_does_not_kill_a_process_that_exits(tmp_path):
    proc = child(tmp_path, "exit3")
    proc.wait_until(lambda: "ready" in proc.log(), 20.0, "start")
    assert proc.stop(10.0) == 3  # its SIGINT handler's code: not killed
    assert proc.exit_code == 3 and not proc.alive()
    assert proc.stop(1.0) == 3  # again: only reaped


def test_stop_escalates_to_kill_when_sigint_is_ignored(tmp_path):
    proc = child(tmp_path, "ignore")
    proc.wait_until(lambda: "ready" in proc.log(), 20.0, "start")
    start = time.monotonic()
    code = proc.stop(timeout=0.5)
    assert code == -signal.SIGKILL and proc.exit_code == code
    assert time.monotonic() - start < 5.0


def test_wait_until_says_why_a_process_that_exits_is_not_up(tmp_path):
    proc = child(tmp_path, "fail")
    try:
        with pytest.raises(RuntimeFailure, match=r"(?s)did not come up: exited with code 7.*boom: no model"):
            proc.wait_until(lambda: False, 20.0)
    finally:
        proc.stop(1.0)


def test_wait_until_times_out_while_the_process_runs(tmp_path):
    proc = child(tmp_path, "exit3")
    try:
        with pytest.raises(RuntimeFailure, match="did not subscribe: timed out"):
            proc.wait_until(lambda: False, 0.3, "subscribe")
        assert proc.alive()
    finally:
        proc.stop(10.0)


def test_wait_for_repeats_the_action_until_the_predicate_holds():
    calls: list[float] = []
    assert wait_for(lambda: len(calls) >= 3 and "done", 5.0, action=lambda: calls.append(time.monotonic()),
                    action_every=0.05) == "done"
    assert wait_for(lambda: False, 0.1) is None


# ------------------------------------------------------------------------------------- over real DDS

@pytest.fixture
def two_nodes():
    """A publishing and a collecting LocalNode on one random domain."""
    pytest.importorskip("rclpy")
    from seg_ros.ros.harness import LocalNode

    domain = random_domain()
    with LocalNode(domain, "harness_pub") as pub, LocalNode(domain, "harness_sub") as sub:
        yield pub, sub


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _pixels(msg) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


@pytest.mark.ros
def test_collector_receives_what_the_stream_published_raw_and_deserialized(two_nodes):
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, Image

    from seg_ros.ros.harness import CameraFrame, CameraStream, OutputCollector, camera_info_for, image_message

    pub, sub = two_nodes
    stream = CameraStream(pub, "/h/image", "/h/camera_info")
    out = OutputCollector(sub)
    out.subscribe("/h/image", Image)
    out.subscribe("/h/camera_info", CameraInfo)
    out.subscribe("/h/image", Image, raw=True, key="raw")
    out.subscribe("/h/image", Image, keep=False, key="stamps only")
    assert wait_for(lambda: stream.image_publisher.get_subscription_count() == 3
                    and stream.info_publisher.get_subscription_count() == 1, 10.0), "no match"
    images = [_rgb(k) for k in range(3)]
    frames = [CameraFrame(image_message(rgb), camera_info_for(64, 48)) for rgb in images]

    rate = 20.0
    assert stream.replay(frames, rate, count=6) == 6
    assert wait_for(lambda: all(out.count(k) == 6 for k in ("/h/image", "/h/camera_info", "raw", "stamps only")),
                    10.0), [out.count(k) for k in ("/h/image", "/h/camera_info", "raw", "stamps only")]
    sent = stream.sent
    assert [f.index for f in sent] == [0, 1, 2, 0, 1, 2]
    assert len({f.stamp for f in sent}) == 6
    assert sent[-1].sent_monotonic - sent[0].sent_monotonic >= 5 / rate - 0.05  # paced at the rate
    received = out.received("/h/image")
    assert [r.stamp for r in received] == [f.stamp for f in sent]  # reliable, in order
    for record, frame in zip(received, sent, strict=True):
        assert np.array_equal(_pixels(record.message), images[frame.index])
        assert record.message.header.frame_id == "camera_optical_frame"
        assert 0.0 <= record.latency_ms() < 5000.0
    assert [Stamp.of(m) for m in out.messages("/h/camera_info")] == [f.stamp for f in sent]
    assert out.messages("/h/camera_info")[0].k[0] == pytest.approx(32.0)  # 90 degree field of view, 64 px wide
    raw = out.messages("raw")
    assert all(isinstance(r, bytes) for r in raw) and out.received("raw")[0].stamp is None
    assert np.array_equal(_pixels(deserialize_message(raw[4], Image)), images[1])
    assert [r.message for r in out.received("stamps only")] == [None] * 6
    assert [r.stamp for r in out.received("stamps only")] == [f.stamp for f in sent]
    assert [s.key for s in out.subscriptions()] == ["/h/image", "/h/camera_info", "raw", "stamps only"]
    assert out.subscriptions()[1].type_name == "sensor_msgs/msg/CameraInfo"
    with pytest.raises(ValueError, match="already subscribed"):
        out.subscribe("/h/image", Image)


@pytest.mark.ros
def test_send_waits_for_the_answers_carrying_its_stamp_and_discover_subscribes_new_topics(two_nodes):
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from seg_ros.ros.harness import CameraFrame, CameraStream, OutputCollector, image_message

    pub, sub = two_nodes
    stream = CameraStream(pub, "/s/image", info_topic=None)
    chatter = pub.node.create_publisher(String, "/s/out/chatter", 10)
    out = OutputCollector(sub)
    assert wait_for(lambda: "/s/out/chatter" in dict(sub.node.get_topic_names_and_types()), 10.0)
    assert out.discover(("/s/out/",)) == ["/s/out/chatter"]
    assert out.discover(("/s/out/",)) == []  # already subscribed
    out.subscribe("/s/image", Image)
    assert wait_for(stream.subscribed, 10.0) and wait_for(lambda: chatter.get_subscription_count() == 1, 10.0)

    stamp = Stamp(1234, 5678)
    (echo,) = stream.send(CameraFrame(image_message(_rgb(9))), out, ["/s/image"], stamp, timeout=10.0)
    assert Stamp.of(echo) == stamp and np.array_equal(_pixels(echo), _rgb(9))
    assert stream.send(CameraFrame(image_message(_rgb(9))), out, ["/s/out/chatter"], Stamp(1, 0), timeout=0.3,
                       repeat_every=None) is None  # nothing there carries a stamp
    chatter.publish(String(data="hello"))
    assert wait_for(lambda: out.messages("/s/out/chatter"), 10.0)[0].data == "hello"


@pytest.mark.ros
def test_diagnostics_reader_keeps_the_named_nodes_statuses(two_nodes):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    from seg_ros.ros.harness import DiagnosticsReader

    pub, sub = two_nodes
    reader = DiagnosticsReader(sub, "segnet")
    diagnostics = pub.node.create_publisher(DiagnosticArray, "/diagnostics", 10)
    assert wait_for(lambda: diagnostics.get_subscription_count() == 1, 10.0)
    for processed in ("3", "4"):
        array = DiagnosticArray(status=[
            DiagnosticStatus(name="other: thing", values=[KeyValue(key="frames processed", value="99")]),
            DiagnosticStatus(name="segnet: segmentation", level=DiagnosticStatus.WARN, message="slow",
                             values=[KeyValue(key="frames processed", value=processed)])])
        diagnostics.publish(array)
    newest = reader.wait(lambda s: s.get("frames processed") == "4", 10.0)
    assert newest is not None and newest.get("frames processed") == "4"
    assert (newest.name, newest.level, newest.message) == ("segnet: segmentation", 1, "slow")
    assert [s.get("frames processed") for s in reader.statuses()] == ["3", "4"]  # "other" left out
    assert reader.newest(lambda s: int(s.get("frames processed")) < 4).get("frames processed") == "3"
    assert newest.get("grid") is None and newest.get("grid", "-") == "-"


def test_camera_info_for_is_a_centred_pinhole_of_the_field_of_view():
    pytest.importorskip("sensor_msgs")
    from seg_ros.ros.harness import camera_info_for

    info = camera_info_for(640, 480, hfov_deg=60.0)
    f = 320.0 * math.sqrt(3.0)  # (640 / 2) / tan(30 degrees)
    assert (info.width, info.height, info.distortion_model) == (640, 480, "plumb_bob")
    assert list(info.k) == pytest.approx([f, 0, 319.5, 0, f, 239.5, 0, 0, 1])
    assert list(info.p) == pytest.approx([f, 0, 319.5, 0, 0, f, 239.5, 0, 0, 0, 1, 0])
    assert list(info.d) == [0.0] * 5 and info.header.frame_id == "camera_optical_frame"
