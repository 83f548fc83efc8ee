"""segnet_node end to end over real DDS: the installed console script in its own process, fed and read from here.

One node process (ESPNet-CamVid, raw input) is shared by the tests of this module; tests that need other
start-up parameters start their own. The expected class map comes from running the pure ``Segmenter`` on the
same image in this process.
"""

from __future__ import annotations

import array
import signal
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import node_session, random_domain, start_node
from shared_data import CAMVID_DATA, CAMVID_MODEL, require

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from seg_ros.image_conversion import image_msg_to_rgb  # noqa: E402
from seg_ros.registry import resolve_model  # noqa: E402
from seg_ros.ros.harness import (  # noqa: E402
    CameraFrame,
    CameraStream,
    DiagnosticsReader,
    LocalNode,
    NodeProcess,
    OutputCollector,
    Stamp,
    compressed_message,
    image_message,
    wait_for,
)
from seg_ros.segmenter import Segmenter  # noqa: E402
from seg_ros.synthetic import write_model_dir  # noqa: E402

SegmentationInfo = pytest.importorskip("seg_ros.msg", reason="seg_ros messages not built").SegmentationInfo

START_TIMEOUT = 60.0  # model load + discovery on a busy 2-core machine
OUTPUT_TIMEOUT = 20.0
FRAME_ID = "test_camera_optical"


def camvid_image(index: int = 0) -> np.ndarray:
    names = require(CAMVID_DATA / "test.txt").read_text().split()
    bgr = cv2.imread(str(CAMVID_DATA / names[2 * index]), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Session:
    """This process's view of one node: input publisher, output collector, helpers to feed frames."""

    OUTPUTS = {"class_mask": Image, "color_mask": Image, "overlay": Image, "info": SegmentationInfo}

    def __init__(self, local: LocalNode, node: NodeProcess, prefix: str = "/segnet",
                 input_topic: str = "/image", compressed: bool = False) -> None:
        self.local, self.node, self.prefix = local, node, prefix
        self.stream = CameraStream(local, input_topic, info_topic=None, compressed=compressed)
        self.out = OutputCollector(local)
        for name, msg_type in self.OUTPUTS.items():
            self.out.subscribe(self.topic(name), msg_type)
        self.diagnostics = DiagnosticsReader(local)
        self._stamp = 1000

    def topic(self, output: str) -> str:
        return f"{self.prefix}/{output}"

    def count(self, output: str) -> int:
        return self.out.count(self.topic(output))

    def wait_ready(self) -> None:
        self.node.wait_until(self.stream.subscribed, START_TIMEOUT, "subscribe to its input")

    def next_stamp(self) -> Stamp:
        self._stamp += 1
        return Stamp(self._stamp, 123_000_000)

    def send(self, msg, outputs: tuple[str, ...] = ("class_mask", "info"), timeout: float = OUTPUT_TIMEOUT):
        """Publish ``msg`` with a fresh stamp (again every 3 s until answered); the outputs carrying that stamp."""
        msg.header.frame_id = FRAME_ID
        stamp = self.next_stamp()
        found = self.stream.send(CameraFrame(msg), self.out, [self.topic(o) for o in outputs], stamp, timeout)
        assert found, f"no outputs for stamp {stamp}; node alive={self.node.alive()}\n{self.node.log()}"
        return found

    def send_unanswered(self, msg, settle: float = 0.5) -> None:
        """Publish a frame that produces no outputs, and give the idle node time to take it."""
        self.stream.publish(CameraFrame(msg), self.next_stamp())
        time.sleep(settle)

    def set_parameters(self, **values) -> list:
        client = self.local.node.create_client(SetParameters, f"{self.prefix}/set_parameters")
        assert client.wait_for_service(timeout_sec=10.0)
        request = SetParameters.Request()
        for name, value in values.items():
            pv = ParameterValue()
            if isinstance(value, float):
                pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
            elif isinstance(value, int):
                pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, value
            else:
                pv.type, pv.string_value = ParameterType.PARAMETER_STRING, str(value)
            request.parameters.append(Parameter(name=name, value=pv))
        future = client.call_async(request)
        assert wait_for(future.done, 10.0), "set_parameters call timed out"
        self.local.node.destroy_client(client)
        return list(future.result().results)


def as_array(msg: Image) -> np.ndarray:
    channels = {"mono8": 1, "rgb8": 3}[msg.encoding]
    data = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return data.reshape(msg.height, msg.width, channels).squeeze(-1) if channels == 1 else \
        data.reshape(msg.height, msg.width, 3)


@pytest.fixture(scope="module")
def reference() -> Segmenter:
    return Segmenter(resolve_model(str(require(CAMVID_MODEL))))


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    require(CAMVID_MODEL)
    params = {"model_path": CAMVID_MODEL, "diagnostics_period": 0.5}
    with node_session(params, tmp_path_factory.mktemp("node") / "segnet.log") as ns:
        s = Session(ns.local, ns.node)
        s.wait_ready()
        yield s


def test_outputs_carry_input_header_and_class_mask_equals_segmenter(session, reference):
    rgb = camvid_image(0)
    mask_msg, color_msg, overlay_msg, info = session.send(
        image_message(rgb), ("class_mask", "color_mask", "overlay", "info"))
    for msg in (mask_msg, color_msg, overlay_msg, info):
        assert msg.header.frame_id == FRAME_ID
    expected = reference.segment(rgb).class_map
    assert mask_msg.encoding == "mono8"
    mask = as_array(mask_msg)
    assert mask.shape == expected.shape  # network output resolution by default
    assert np.array_equal(mask, expected)
    assert (color_msg.encoding, overlay_msg.encoding) == ("rgb8", "rgb8")
    assert as_array(overlay_msg).shape == rgb.shape
    assert as_array(color_msg).shape == (360, 480, 3)  # color_mask_resolution: network_input (config default)
    names = reference.spec.class_names
    assert list(info.class_names) == list(names)
    assert info.network == "espnet-camvid-480x360" and info.backend == "onnxruntime"
    counts = np.bincount(expected.ravel(), minlength=len(names)) / expected.size
    assert np.allclose(info.class_fractions, counts, atol=1e-6)
    assert (info.grid_width, info.grid_height) == (expected.shape[1], expected.shape[0])
    assert info.network_ms > 0 and info.frames_processed >= 1 and info.frames_received >= info.frames_processed


def test_diagnostics_report_rate_and_counters(session):
    session.send(image_message(camvid_image(1)))
    status = session.diagnostics.wait(
        lambda s: int(s.get("frames processed", "0")) >= 1 and "render cpu median (ms)" in s.values, 10.0)
    assert status, "no /diagnostics status from the node with render timings"
    values = status.values
    for key in ("processing rate (Hz)", "latency median (ms)", "frames dropped", "frames rejected"):
        assert key in values
    # The niced render thread's CPU time: positive, and never more than its wall time (each render's CPU <= wall).
    cpu, wall = float(values["render cpu median (ms)"]), float(values["render median (ms)"])
    assert 0.0 < cpu <= wall + 0.05, values


def test_runtime_parameters_change_overlay_and_invalid_values_are_rejected(session):
    rgb = camvid_image(2)

    def overlay_error(alpha: float) -> float:
        (result,) = session.set_parameters(alpha=alpha)
        assert result.successful, result.reason
        (overlay,) = session.send(image_message(rgb), ("overlay",))
        return float(np.abs(as_array(overlay).astype(np.int16) - rgb).mean())

    try:
        transparent, opaque = overlay_error(0.0), overlay_error(220.0)
        assert transparent < 1.0  # alpha 0: the image shows through unchanged (up to rounding)
        assert opaque > transparent + 10.0

        for bad, word in ((dict(alpha=300.0), "alpha"), (dict(filter_mode="cubic"), "filter_mode"),
                          (dict(visualize="sparkles"), "visualize"), (dict(network="other"), "read-only"),
                          (dict(alpha="high"), "alpha")):
            (result,) = session.set_parameters(**bad)
            assert not result.successful, f"{bad} was accepted"
            assert result.reason, f"{bad} rejected without a reason"
            if word != "alpha":
                assert word in result.reason.lower() or "read" in result.reason.lower(), result.reason
        # The rejected alpha left the last good one in force.
        (overlay,) = session.send(image_message(rgb), ("overlay",))
        assert np.abs(as_array(overlay).astype(np.int16) - rgb).mean() == pytest.approx(opaque, abs=0.5)

        (result,) = session.set_parameters(visualize="mask")
        assert result.successful, result.reason
        before = session.count("overlay")
        session.send(image_message(rgb), ("color_mask", "info"))
        # A later frame fully rendered: an overlay of the frame before, had one been made, left before it.
        session.send(image_message(rgb), ("color_mask", "info"))
        assert session.count("overlay") == before  # overlay no longer rendered
    finally:
        session.set_parameters(alpha=150.0, visualize="overlay,mask")


def _bad_images() -> list[tuple[str, Image]]:
    rgb = camvid_image(0)
    unknown = image_message(rgb)
    unknown.encoding = "rgb_sparkle16"
    short = image_message(rgb)
    short.data = short.data[: len(short.data) // 2]
    empty = Image(encoding="rgb8", height=0, width=0, step=0)
    bad_step = image_message(rgb)
    bad_step.step = 10
    return [("unknown encoding", unknown), ("short data", short), ("zero size", empty), ("step too small", bad_step)]


def reject_once(session: Session, bad, good, info, what: str):
    """Send ``bad`` then ``good``; returns the info answering ``good``.

    A bad frame replaced by a newer one before the worker took it (latest frame wins, counted as dropped) is
    sent again.
    """
    for _ in range(5):
        session.send_unanswered(bad)
        assert session.node.alive(), f"node died on {what}:\n{session.node.log()}"
        (after,) = session.send(good, ("info",))
        if after.frames_rejected != info.frames_rejected or after.frames_dropped == info.frames_dropped:
            return after
        info = after
    return after


def test_bad_inputs_are_skipped_counted_and_survived(session):
    good = image_message(camvid_image(1))
    (info,) = session.send(good, ("info",))
    for what, bad in _bad_images():
        after = reject_once(session, bad, good, info, what)
        assert after.frames_rejected == info.frames_rejected + 1, what
        assert after.frames_processed > info.frames_processed
        info = after
    log = session.node.log()
    assert "rgb_sparkle16" in log  # the warning names the problem


def test_model_load_failure_exits_non_zero_with_a_clear_message(tmp_path):
    node = start_node(random_domain(), {"model_path": str(tmp_path / "no_such_model")}, tmp_path / "log.txt")
    try:
        code = node.wait(60)
    finally:
        node.stop()
    assert code != 0
    assert "no_such_model" in node.log() and "does not exist" in node.log()


def test_compressed_png_input_gives_the_raw_result_and_camera_resolution_mask(session, tmp_path):
    rgb = cv2.resize(camvid_image(3), (640, 480), interpolation=cv2.INTER_AREA)
    (raw_mask,) = session.send(image_message(rgb), ("class_mask",))
    raw = as_array(raw_mask)

    params = {"model_path": CAMVID_MODEL, "use_compressed": True, "mask_resolution": "camera"}
    with node_session(params, tmp_path / "compressed.log", node_name="segnet_png") as ns:
        node = ns.node
        s = Session(ns.local, node, prefix="/segnet_png", input_topic="/image/compressed", compressed=True)
        s.wait_ready()
        mask_msg, info = s.send(compressed_message(rgb, "png"))
        assert info.frames_rejected == 0
        mask = as_array(mask_msg)
        assert mask.shape == rgb.shape[:2]
        assert np.array_equal(mask, cv2.resize(raw, (640, 480), interpolation=cv2.INTER_NEAREST))

        corrupt = compressed_message(rgb, "png")
        corrupt.format = "jpeg"
        corrupt.data = array.array("B", b"\xff\xd8\xff\xe0" + bytes(200))
        info_after = reject_once(s, corrupt, compressed_message(rgb, "png"), info, "corrupt jpeg")
        assert info_after.frames_rejected == info.frames_rejected + 1
        assert node.alive()
        node.proc.send_signal(signal.SIGTERM)  # what a launch system or container stop sends
        assert node.wait(15) == 0, node.log()


def _tiny_model(tmp_path) -> str:
    """A small random-weight network: quick to load for tests about start-up."""
    return str(write_model_dir(tmp_path / "fcn-tiny-128x64", (128, 64), 3))


def test_qos_override_is_keyed_by_the_remapped_topic_and_applied(tmp_path):
    key = "qos_overrides./camera/image_raw.subscription.reliability"
    params = {"model_path": _tiny_model(tmp_path), "publish_grid": False, key: "reliable"}
    with node_session(params, tmp_path / "log.txt", remappings={"image": "/camera/image_raw"}) as ns:
        (endpoint,) = ns.node.wait_until(lambda: [
            e for e in ns.local.node.get_subscriptions_info_by_topic("/camera/image_raw") if e.node_name == "segnet"],
            START_TIMEOUT, "subscribe to /camera/image_raw")
        assert endpoint.qos_profile.reliability == ReliabilityPolicy.RELIABLE  # default is best effort


def test_invalid_qos_override_exits_non_zero_with_one_fatal_line(tmp_path):
    node = start_node(random_domain(), {"model_path": _tiny_model(tmp_path), "publish_grid": False,
                                        "qos_overrides./image.subscription.reliability": "sparkly"},
                      tmp_path / "log.txt")
    try:
        code = node.wait(60)
    finally:
        node.stop()
    log = node.log()
    assert code != 0, log
    assert "Traceback" not in log, log
    fatal = [line for line in log.splitlines() if "FATAL" in line]
    assert len(fatal) == 1 and "/image" in fatal[0] and "sparkly" in fatal[0], log


def test_unknown_registry_network_without_download_fails_fast(tmp_path):
    # download_missing false: nothing is fetched (tests stay offline); the error names the fix.
    node = start_node(random_domain(), {"network": "fcn-resnet18-cityscapes-512x256", "download_missing": False,
                                        "publish_grid": False}, tmp_path / "log.txt")
    try:
        code = node.wait(60)
    finally:
        node.stop()
    log = node.log()
    assert code != 0 and "not downloaded" in log and "segnet-download" in log, log


@pytest.fixture
def in_process_context():
    """An rclpy context of this process on a random domain, for nodes built here."""
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=random_domain())
    yield context
    rclpy.try_shutdown(context=context)


def _segnet_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("segnet-") and t.is_alive()]


@pytest.fixture
def backend_closes(monkeypatch) -> list:
    from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

    closed: list = []
    monkeypatch.setattr(OnnxRuntimeBackend, "close", lambda self: closed.append(self))
    return closed


def test_start_up_failure_starts_no_worker_and_closes_the_backend(tmp_path, in_process_context, backend_closes):
    from rclpy.parameter import Parameter as RosParameter

    from seg_ros.errors import SegRosError
    from seg_ros.ros.node import SegNetNode

    overrides = [RosParameter("model_path", value=_tiny_model(tmp_path)), RosParameter("publish_grid", value=False),
                 RosParameter("qos_overrides./image.subscription.reliability", value="sparkly")]
    assert _segnet_threads() == []
    with pytest.raises(SegRosError, match="QoS override"):
        SegNetNode(context=in_process_context, parameter_overrides=overrides)
    assert _segnet_threads() == []
    assert len(backend_closes) == 1


def test_close_stops_the_workers_and_closes_the_backend_once(tmp_path, in_process_context, backend_closes):
    from rclpy.parameter import Parameter as RosParameter

    from seg_ros.ros.node import SegNetNode

    node = SegNetNode(context=in_process_context, parameter_overrides=[
        RosParameter("model_path", value=_tiny_model(tmp_path)), RosParameter("publish_grid", value=False)])
    try:
        assert sorted(_segnet_threads()) == ["segnet-output", "segnet-segment"]
        assert backend_closes == []
        node.close()
        node.close()
        assert _segnet_threads() == [] and len(backend_closes) == 1
    finally:
        node.destroy_node()


def test_sigint_exits_zero_promptly(session):
    code = session.node.interrupt(timeout=10.0)
    assert code == 0, session.node.log()


def test_image_msg_round_trip_helper_is_consistent():
    """Guards the test helpers: as_array(harness.image_message(x)) is x and matches the node's converter."""
    rgb = camvid_image(0)
    msg = image_message(rgb)
    assert np.array_equal(as_array(msg), rgb)
    assert np.array_equal(image_msg_to_rgb(msg), rgb)


def test_missing_node_script_skips_locally_and_fails_on_ci(monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "node_command", lambda params: ["/nowhere/python", "-m", "seg_ros.ros.node"])
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        conftest.require_node_script()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run on CI"):
        conftest.require_node_script()
