"""segnet_node's Nav2 / image_transport outputs end to end over real DDS.

``~/confidence`` (checked against a softmax computed here with numpy from the logits of the pure Segmenter on
the same image), ``~/class_mask/compressed`` (its PNG decodes to exactly ``~/class_mask``),
``~/overlay/compressed`` (JPEG of ``~/overlay``, image_transport's format strings), ``~/label_info`` with and
without vision_msgs (a stand-in package with vision_msgs' field layout, built once per session), ``~/enable``
(pause / resume, counted in /diagnostics).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import node_session
from vision_msgs_standin import build_vision_msgs

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from seg_ros.registry import resolve_model  # noqa: E402
from seg_ros.ros.harness import (  # noqa: E402
    CameraFrame,
    CameraStream,
    DiagnosticsReader,
    OutputCollector,
    Stamp,
    dds_env,
    image_message,
    wait_for,
)
from seg_ros.segmenter import Segmenter  # noqa: E402
from seg_ros.synthetic import write_model_dir  # noqa: E402

START_TIMEOUT = 60.0
OUTPUT_TIMEOUT = 20.0
CLASSES = ["trail", "grass", "sky"]
TOPICS = {"class_mask": Image, "confidence": Image, "overlay": Image, "class_mask/compressed": CompressedImage,
          "overlay/compressed": CompressedImage}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A random-weight 3-class network (trail, grass, sky), quick to load."""
    return str(write_model_dir(tmp_path_factory.mktemp("model") / "fcn-tiny-128x64", (128, 64), 3, CLASSES))


@pytest.fixture(scope="session")
def vision_msgs_env(tmp_path_factory) -> dict[str, str]:
    """Environment entries that make the built vision_msgs stand-in importable (built once, ~35 s)."""
    return build_vision_msgs(tmp_path_factory.mktemp("vision_msgs"))


def camera_image() -> np.ndarray:
    """A 160x96 RGB test picture: smooth gradients plus blocks, so the network sees structure."""
    y, x = np.mgrid[0:96, 0:160]
    rgb = np.stack([x * 255 // 159, y * 255 // 95, (x + y) % 256], axis=-1).astype(np.uint8)
    rgb[20:50, 30:90] = (250, 40, 20)
    return rgb


def as_array(msg: Image) -> np.ndarray:
    channels = {"mono8": 1, "rgb8": 3}[msg.encoding]
    pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, :msg.width * channels]
    return pixels.reshape(msg.height, msg.width, channels).squeeze(-1) if channels == 1 else pixels.reshape(
        msg.height, msg.width, 3)


def softmax_confidence(model: str, rgb: np.ndarray) -> np.ndarray:
    """The winning class's probability x 255 at camera size, by hand from the pure Segmenter's logits."""
    segmenter = Segmenter(resolve_model(model), "onnxruntime", 1, None)
    logits = segmenter.segment(rgb).logits.astype(np.float64)
    exp = np.exp(logits - logits.max(axis=0))
    p_max = (exp / exp.sum(axis=0)).max(axis=0)
    expected = np.rint(p_max * 255).astype(np.uint8)
    return cv2.resize(expected, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)


def subscribe_outputs(local, names=TOPICS) -> OutputCollector:
    out = OutputCollector(local)
    for name in names:
        out.subscribe(f"/segnet/{name}", TOPICS[name])
    return out


def publishers_of(local, topic: str) -> list:
    return [e for e in local.node.get_publishers_info_by_topic(topic) if e.node_name == "segnet"]


def test_confidence_compressed_outputs_and_no_label_info_without_vision_msgs(tmp_path, model_dir):
    params = {"model_path": model_dir, "publish_grid": False, "mask_resolution": "camera", "jpeg_quality": 95}
    with node_session(params, tmp_path / "log.txt") as ns:
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = subscribe_outputs(ns.local)
        ns.node.wait_until(stream.subscribed, START_TIMEOUT, "subscribe to /image")
        rgb = camera_image()
        stamp = Stamp(1234, 5000)
        keys = [f"/segnet/{name}" for name in TOPICS]
        found = stream.send(CameraFrame(image_message(rgb)), out, keys, stamp, OUTPUT_TIMEOUT)
        assert found, f"outputs missing: { {k: out.count(k) for k in keys} }\n{ns.node.log()}"
        mask, confidence, overlay, mask_png, overlay_jpeg = found

        # ~/confidence: same size and header as ~/class_mask, the softmax computed here
        assert (confidence.encoding, confidence.height, confidence.width) == ("mono8", 96, 160)
        assert (mask.height, mask.width) == (96, 160)
        assert confidence.header == mask.header
        conf = as_array(confidence)
        expected = softmax_confidence(model_dir, rgb)
        assert np.abs(conf.astype(int) - expected).max() <= 1  # float32 in the node vs float64 here
        assert conf.min() >= 255 // len(CLASSES)  # a winning probability is at least 1/C

        # ~/class_mask/compressed: image_transport's PNG format string, lossless
        assert mask_png.format == "mono8; png compressed " and mask_png.header == mask.header
        decoded = cv2.imdecode(np.frombuffer(bytes(mask_png.data), np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded.dtype == np.uint8 and np.array_equal(decoded, as_array(mask))
        assert len(np.unique(decoded)) > 1, "a one-class mask would not test the edges"

        # ~/overlay/compressed: JPEG (BGR inside) of ~/overlay
        assert overlay_jpeg.format == "rgb8; jpeg compressed bgr8" and overlay_jpeg.header == overlay.header
        bgr = cv2.imdecode(np.frombuffer(bytes(overlay_jpeg.data), np.uint8), cv2.IMREAD_COLOR)
        raw = as_array(overlay).astype(int)
        assert bgr.shape == raw.shape
        assert np.abs(bgr[:, :, ::-1].astype(int) - raw).mean() < 4.0  # quality 95
        assert np.abs(bgr.astype(int) - raw).mean() > 10.0  # channel order matters for this picture

        # no vision_msgs here: no ~/label_info, one INFO line saying so
        assert not publishers_of(ns.local, "/segnet/label_info")
        lines = [line for line in ns.node.log().splitlines() if "vision_msgs" in line]
        assert len(lines) == 1 and "INFO" in lines[0] and "no ~/label_info" in lines[0], ns.node.log()


def test_compressed_outputs_are_built_only_when_subscribed(tmp_path, model_dir):
    with node_session({"model_path": model_dir, "publish_grid": False}, tmp_path / "log.txt") as ns:
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = subscribe_outputs(ns.local, ["class_mask"])
        diagnostics = DiagnosticsReader(ns.local)
        ns.node.wait_until(stream.subscribed, START_TIMEOUT, "subscribe to /image")
        assert stream.send(CameraFrame(image_message(camera_image())), out, ["/segnet/class_mask"], Stamp(10, 0))
        # advertised (so image_transport tools find them), but no JPEG / PNG work for nobody: no render either
        assert publishers_of(ns.local, "/segnet/overlay/compressed")
        assert publishers_of(ns.local, "/segnet/class_mask/compressed")
        status = diagnostics.wait(lambda s: s.get("frames processed") not in (None, "0"), 10.0)
        assert status is not None and "render median (ms)" not in status.values, status


def test_label_info_is_latched_with_the_class_names_when_vision_msgs_is_importable(tmp_path, model_dir,
                                                                                  vision_msgs_env):
    with node_session({"model_path": model_dir, "publish_grid": False}, tmp_path / "log.txt",
                      extra_env=vision_msgs_env) as ns:
        (endpoint,) = ns.node.wait_until(lambda: publishers_of(ns.local, "/segnet/label_info"), START_TIMEOUT,
                                         "advertise ~/label_info")
        assert endpoint.topic_type == "vision_msgs/msg/LabelInfo"
        qos = endpoint.qos_profile
        # (history depth is not part of DDS discovery: the late reader below shows the one message kept)
        assert (qos.reliability, qos.durability) == (ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL)
        time.sleep(1.0)  # published at start-up: what follows joins late and still gets it
        env = dds_env(ns.domain)
        env.update(vision_msgs_env)
        done = subprocess.run([sys.executable, "-c", LATE_LABEL_INFO_READER], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        received = json.loads(done.stdout.strip().splitlines()[-1])
        assert received == {"class_map": [[0, "trail"], [1, "grass"], [2, "sky"]], "threshold": 0.0}
        assert "no ~/label_info" not in ns.node.log()


LATE_LABEL_INFO_READER = """
import json, time
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from vision_msgs.msg import LabelInfo
rclpy.init()
node = rclpy.create_node("late_label_reader")
got = []
qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
node.create_subscription(LabelInfo, "/segnet/label_info", got.append, qos)
deadline = time.monotonic() + 30
while not got and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
msg = got[0]
print(json.dumps({"class_map": [[c.class_id, c.class_name] for c in msg.class_map], "threshold": msg.threshold}))
"""


def call_enable(local, value: bool) -> SetBool.Response:
    client = local.node.create_client(SetBool, "/segnet/enable")
    try:
        assert client.wait_for_service(timeout_sec=10.0)
        future = client.call_async(SetBool.Request(data=value))
        assert wait_for(future.done, 15.0), "~/enable call timed out"
        return future.result()
    finally:
        local.node.destroy_client(client)


def segnet_subscribes(local, topic: str = "/image") -> bool:
    return any(e.node_name == "segnet" for e in local.node.get_subscriptions_info_by_topic(topic))


def test_enable_pauses_and_resumes_without_losing_counts(tmp_path, model_dir):
    with node_session({"model_path": model_dir, "publish_grid": False, "diagnostics_period": 0.2},
                      tmp_path / "log.txt") as ns:
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = subscribe_outputs(ns.local, ["class_mask"])
        diagnostics = DiagnosticsReader(ns.local)
        ns.node.wait_until(stream.subscribed, START_TIMEOUT, "subscribe to /image")
        frame = CameraFrame(image_message(camera_image()))
        assert stream.send(frame, out, ["/segnet/class_mask"], Stamp(20, 0))
        assert call_enable(ns.local, True).message == "already enabled"

        off = call_enable(ns.local, False)
        assert off.success and off.message == "disabled"
        assert wait_for(lambda: not segnet_subscribes(ns.local), 10.0), "still subscribed while disabled"
        paused = diagnostics.wait(lambda s: s.message.startswith("paused"), 10.0)
        assert paused is not None and paused.get("input") == "stopped", diagnostics.newest()
        before = out.count("/segnet/class_mask")
        for i in range(10):
            stream.publish(frame, Stamp(30 + i, 0))
            time.sleep(0.1)
        assert out.count("/segnet/class_mask") == before, "outputs while disabled"
        still = diagnostics.wait(lambda s: s.receive_monotonic > time.monotonic() - 0.1, 5.0)
        assert still is not None and still.get("frames received") == paused.get("frames received"), "frames taken"
        assert call_enable(ns.local, False).message == "already disabled"

        on = call_enable(ns.local, True)
        assert on.success and on.message == "enabled"
        ns.node.wait_until(stream.subscribed, 10.0, "subscribe again")
        assert stream.send(frame, out, ["/segnet/class_mask"], Stamp(50, 0)), ns.node.log()
        status = diagnostics.wait(lambda s: s.get("frames processed") not in (None, "0", "1")
                                  and s.get("input") == "active", 10.0)
        assert status is not None, diagnostics.newest()
        assert (status.get("enable requests"), status.get("disable requests")) == ("2", "2")
        assert int(status.get("frames processed")) >= 2  # counted across the pause, not restarted


# ---- models without softmax scores: class ids (ArgMax in the graph) and one sigmoid channel ----------------------
W, H = 48, 24


def stripes() -> np.ndarray:
    """48x24 RGB: red, green, blue vertical thirds."""
    image = np.zeros((H, W, 3), np.uint8)
    for c in range(3):
        image[:, c * W // 3:(c + 1) * W // 3, c] = 255
    return image


def one_conv_model(folder, tail: str, out_channels: int, classes: str, weight, bias):
    """model.onnx: a 1x1 conv of x / 255 (``weight``, ``bias``) then ``tail`` (ArgMax over channels or Sigmoid)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.asarray(weight, np.float32).reshape(out_channels, 3, 1, 1), "w"),
             numpy_helper.from_array(np.asarray(bias, np.float32), "b")]
    nodes = [helper.make_node("Conv", ["input_0", "w", "b"], ["z"])]
    if tail == "ArgMax":
        nodes.append(helper.make_node("ArgMax", ["z"], ["output_0"], axis=1, keepdims=1))
        output = helper.make_tensor_value_info("output_0", TensorProto.INT64, [1, 1, H, W])
    else:
        nodes.append(helper.make_node("Sigmoid", ["z"], ["output_0"]))
        output = helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 1, H, W])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, H, W])],
                              [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "classes.txt").write_text(classes)
    (folder / "model.yaml").write_text("preprocessing:\n  mean: [0, 0, 0]\n  std: [255, 255, 255]\n")
    return str(folder)


def test_class_id_model_has_no_confidence_topic(tmp_path):
    model = one_conv_model(tmp_path / "argmax", "ArgMax", 3, "red\ngreen\nblue\n", np.eye(3), np.zeros(3))
    with node_session({"model_path": model, "publish_grid": False}, tmp_path / "log.txt") as ns:
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = subscribe_outputs(ns.local, ["class_mask", "confidence", "class_mask/compressed"])
        ns.node.wait_until(stream.subscribed, START_TIMEOUT, "subscribe to /image")
        found = stream.send(CameraFrame(image_message(stripes())), out,
                            ["/segnet/class_mask", "/segnet/class_mask/compressed"], Stamp(5, 0), OUTPUT_TIMEOUT)
        assert found, ns.node.log()
        expected = np.repeat(np.arange(3, dtype=np.uint8), W // 3)[np.newaxis].repeat(H, axis=0)
        assert np.array_equal(as_array(found[0]), expected)
        png = cv2.imdecode(np.frombuffer(bytes(found[1].data), np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(png, expected)
        assert not publishers_of(ns.local, "/segnet/confidence") and out.count("/segnet/confidence") == 0


def test_single_sigmoid_channel_confidence_is_the_larger_of_p_and_one_minus_p(tmp_path):
    # p = sigmoid(2 * red - 0.5): red stripe sigmoid(1.5) = 0.81757 (foreground), elsewhere sigmoid(-0.5) = 0.37754
    # (background, whose probability is 1 - 0.37754 = 0.62246)
    model = one_conv_model(tmp_path / "sigmoid", "Sigmoid", 1, "person\n", [[2.0, 0.0, 0.0]], [-0.5])
    with node_session({"model_path": model, "publish_grid": False}, tmp_path / "log.txt") as ns:
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = subscribe_outputs(ns.local, ["class_mask", "confidence"])
        ns.node.wait_until(stream.subscribed, START_TIMEOUT, "subscribe to /image")
        found = stream.send(CameraFrame(image_message(stripes())), out, ["/segnet/class_mask", "/segnet/confidence"],
                            Stamp(6, 0), OUTPUT_TIMEOUT)
        assert found, ns.node.log()
        mask, confidence = (as_array(m) for m in found)
        assert np.unique(mask[:, :W // 3]).tolist() == [1] and np.unique(mask[:, W // 3:]).tolist() == [0]
        assert np.unique(confidence[:, :W // 3]).tolist() == [208]  # rint(0.81757 * 255) = rint(208.48)
        assert np.unique(confidence[:, W // 3:]).tolist() == [159]  # rint(0.62246 * 255) = rint(158.73)
