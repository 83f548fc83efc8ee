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
from conftest import NodeProcess, RosHarness, random_domain, wait_for
from shared_data import CAMVID_DATA, CAMVID_MODEL, require

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from seg_ros.image_conversion import fill_image_msg, image_msg_to_rgb  # noqa: E402
from seg_ros.registry import resolve_model  # noqa: E402
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
    """This process's view of one node: input publisher, output subscriptions, helpers to feed frames."""

    def __init__(self, harness: RosHarness, node: NodeProcess, prefix: str = "/segnet",
                 input_topic: str = "/image", compressed: bool = False) -> None:
        self.harness, self.node, self.prefix = harness, node, prefix
        n = harness.node
        self.pub = n.create_publisher(CompressedImage if compressed else Image, input_topic, 10)
        self.class_mask = harness.collect(Image, f"{prefix}/class_mask")
        self.color_mask = harness.collect(Image, f"{prefix}/color_mask")
        self.overlay = harness.collect(Image, f"{prefix}/overlay")
        self.info = harness.collect(SegmentationInfo, f"{prefix}/info")
        self._stamp = 1000

    def wait_ready(self) -> None:
        ok = wait_for(lambda: self.pub.get_subscription_count() > 0 or not self.node.alive(), START_TIMEOUT)
        assert ok and self.node.alive(), f"node did not subscribe:\n{self.node.log()}"

    def next_stamp(self) -> tuple[int, int]:
        self._stamp += 1
        return self._stamp, 123_000_000

    def send(self, msg, outputs: list | None = None, timeout: float = OUTPUT_TIMEOUT):
        """Publish ``msg`` with a fresh stamp (again each second until answered); the outputs carrying that stamp."""
        sec, nanosec = self.next_stamp()
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        msg.header.frame_id = FRAME_ID
        lists = outputs if outputs is not None else [self.class_mask, self.info]

        def answered():
            found = [next((m for m in lst if (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nanosec)), None)
                     for lst in lists]
            return found if all(f is not None for f in found) else None

        found = wait_for(answered, timeout, action=lambda: self.pub.publish(msg), action_every=3.0)
        assert found, f"no outputs for stamp {sec}.{nanosec}; node alive={self.node.alive()}\n{self.node.log()}"
        return found

    def send_unanswered(self, msg, settle: float = 0.5) -> None:
        """Publish a frame that produces no outputs, and give the idle node time to take it."""
        sec, nanosec = self.next_stamp()
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        self.pub.publish(msg)
        time.sleep(settle)

    def set_parameters(self, **values) -> list:
        client = self.harness.node.create_client(SetParameters, f"{self.prefix}/set_parameters")
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
        self.harness.node.destroy_client(client)
        return list(future.result().results)


def image_msg(rgb: np.ndarray) -> Image:
    msg = Image()
    fill_image_msg(msg, rgb, "rgb8")
    return msg


def png_msg(rgb: np.ndarray) -> CompressedImage:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage()
    msg.format = "png"
    msg.data = array.array("B", data.tobytes())
    return msg


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
    domain = random_domain()
    node = NodeProcess(domain, {"model_path": CAMVID_MODEL, "diagnostics_period": 0.5},
                       tmp_path_factory.mktemp("node") / "segnet.log")
    harness = RosHarness(domain)
    try:
        s = Session(harness, node)
        s.diagnostics = harness.collect(DiagnosticArray, "/diagnostics")
        s.wait_ready()
        yield s
    finally:
        harness.close()
        node.stop()


def test_outputs_carry_input_header_and_class_mask_equals_segmenter(session, reference):
    rgb = camvid_image(0)
    mask_msg, color_msg, overlay_msg, info = session.send(
        image_msg(rgb), [session.class_mask, session.color_mask, session.overlay, session.info])
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
    session.send(image_msg(camvid_image(1)))

    def ours():
        for arr in reversed(session.diagnostics):
            for status in arr.status:
                if status.name.startswith("segnet"):
                    values = {kv.key: kv.value for kv in status.values}
                    if int(values.get("frames processed", 0)) >= 1 and "render cpu median (ms)" in values:
                        return values
        return None

    values = wait_for(ours, 10.0)
    assert values, "no /diagnostics status from the node with render timings"
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
        (overlay,) = session.send(image_msg(rgb), [session.overlay])
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
        (overlay,) = session.send(image_msg(rgb), [session.overlay])
        assert np.abs(as_array(overlay).astype(np.int16) - rgb).mean() == pytest.approx(opaque, abs=0.5)

        (result,) = session.set_parameters(visualize="mask")
        assert result.successful, result.reason
        before = len(session.overlay)
        session.send(image_msg(rgb), [session.color_mask, session.info])
        # A later frame fully rendered: an overlay of the frame before, had one been made, left before it.
        session.send(image_msg(rgb), [session.color_mask, session.info])
        assert len(session.overlay) == before  # overlay no longer rendered
    finally:
        session.set_parameters(alpha=150.0, visualize="overlay,mask")


def _bad_images() -> list[tuple[str, Image]]:
    rgb = camvid_image(0)
    unknown = image_msg(rgb)
    unknown.encoding = "rgb_sparkle16"
    short = image_msg(rgb)
    short.data = short.data[: len(short.data) // 2]
    empty = Image(encoding="rgb8", height=0, width=0, step=0)
    bad_step = image_msg(rgb)
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
        (after,) = session.send(good, [session.info])
        if after.frames_rejected != info.frames_rejected or after.frames_dropped == info.frames_dropped:
            return after
        info = after
    return after


def test_bad_inputs_are_skipped_counted_and_survived(session):
    good = image_msg(camvid_image(1))
    (info,) = session.send(good, [session.info])
    for what, bad in _bad_images():
        after = reject_once(session, bad, good, info, what)
        assert after.frames_rejected == info.frames_rejected + 1, what
        assert after.frames_processed > info.frames_processed
        info = after
    log = session.node.log()
    assert "rgb_sparkle16" in log  # the warning names the problem


def test_model_load_failure_exits_non_zero_with_a_clear_message(tmp_path):
    node = NodeProcess(random_domain(), {"model_path": str(tmp_path / "no_such_model")}, tmp_path / "log.txt")
    try:
        code = node.proc.wait(60)
    finally:
        node.stop()
    assert code != 0
    assert "no_such_model" in node.log() and "does not exist" in node.log()


def test_compressed_png_input_gives_the_raw_result_and_camera_resolution_mask(session, tmp_path):
    rgb = cv2.resize(camvid_image(3), (640, 480), interpolation=cv2.INTER_AREA)
    (raw_mask,) = session.send(image_msg(rgb), [session.class_mask])
    raw = as_array(raw_mask)

    domain = random_domain()
    node = NodeProcess(domain, {"model_path": CAMVID_MODEL, "use_compressed": True, "mask_resolution": "camera"},
                       tmp_path / "compressed.log", node_name="segnet_png")
    harness = RosHarness(domain)
    try:
        s = Session(harness, node, prefix="/segnet_png", input_topic="/image/compressed", compressed=True)
        s.wait_ready()
        mask_msg, info = s.send(png_msg(rgb))
        assert info.frames_rejected == 0
        mask = as_array(mask_msg)
        assert mask.shape == rgb.shape[:2]
        assert np.array_equal(mask, cv2.resize(raw, (640, 480), interpolation=cv2.INTER_NEAREST))

        corrupt = png_msg(rgb)
        corrupt.format = "jpeg"
        corrupt.data = array.array("B", b"\xff\xd8\xff\xe0" + bytes(200))
        info_after = reject_once(s, corrupt, png_msg(rgb), info, "corrupt jpeg")
        assert info_after.frames_rejected == info.frames_rejected + 1
        assert node.alive()
        node.proc.send_signal(signal.SIGTERM)  # what a launch system or container stop sends
        assert node.proc.wait(15) == 0, node.log()
    finally:
        harness.close()
        node.stop()


def _tiny_model(tmp_path) -> str:
    """A small random-weight network: quick to load for tests about start-up."""
    return str(write_model_dir(tmp_path / "fcn-tiny-128x64", (128, 64), 3))


def test_qos_override_is_keyed_by_the_remapped_topic_and_applied(tmp_path, harness_factory):
    domain = random_domain()
    key = "qos_overrides./camera/image_raw.subscription.reliability"
    node = NodeProcess(domain, {"model_path": _tiny_model(tmp_path), "publish_grid": False, key: "reliable"},
                       tmp_path / "log.txt", remappings={"image": "/camera/image_raw"})
    harness = harness_factory(domain)
    try:
        def endpoints():
            return [e for e in harness.node.get_subscriptions_info_by_topic("/camera/image_raw")
                    if e.node_name == "segnet"] or not node.alive()

        found = wait_for(endpoints, START_TIMEOUT)
        assert found and node.alive(), node.log()
        (endpoint,) = found
        assert endpoint.qos_profile.reliability == ReliabilityPolicy.RELIABLE  # default is best effort
    finally:
        node.stop()


def test_invalid_qos_override_exits_non_zero_with_one_fatal_line(tmp_path):
    node = NodeProcess(random_domain(), {"model_path": _tiny_model(tmp_path), "publish_grid": False,
                                         "qos_overrides./image.subscription.reliability": "sparkly"},
                       tmp_path / "log.txt")
    try:
        code = node.proc.wait(60)
    finally:
        node.stop()
    log = node.log()
    assert code != 0, log
    assert "Traceback" not in log, log
    fatal = [line for line in log.splitlines() if "FATAL" in line]
    assert len(fatal) == 1 and "/image" in fatal[0] and "sparkly" in fatal[0], log


def test_unknown_registry_network_without_download_fails_fast(tmp_path):
    # download_missing false: nothing is fetched (tests stay offline); the error names the fix.
    node = NodeProcess(random_domain(), {"network": "fcn-resnet18-cityscapes-512x256", "download_missing": False,
                                         "publish_grid": False}, tmp_path / "log.txt")
    try:
        code = node.proc.wait(60)
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
    """Guards the test helpers above: as_array(image_msg(x)) is x and matches the node's converter."""
    rgb = camvid_image(0)
    msg = image_msg(rgb)
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
