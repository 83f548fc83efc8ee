"""segnet_managed_node over real DDS, driven through its lifecycle_msgs services (ChangeState / GetState).

As Nav2's lifecycle manager drives it: configure (model loaded, nothing subscribed), activate (outputs from the
first frame on), deactivate (no subscription, no output, no frame taken), cleanup, shutdown from any state, and
a configure that fails on a bad model and leaves the node unconfigured.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from seg_ros.ros.harness import (  # noqa: E402
    CameraFrame,
    CameraStream,
    DiagnosticsReader,
    OutputCollector,
    Stamp,
    image_message,
    node_command,
    node_session,
    wait_for,
)
from seg_ros.synthetic import write_model_dir  # noqa: E402

START_TIMEOUT = 60.0
MASK = "/segnet/class_mask"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A random-weight 3-class network, quick to load."""
    return str(write_model_dir(tmp_path_factory.mktemp("model") / "fcn-tiny-128x64", (128, 64), 3))


def camera_image():
    """A 160x96 RGB gradient."""
    import numpy as np

    y, x = np.mgrid[0:96, 0:160]
    return np.stack([x * 255 // 159, y * 255 // 95, (x + y) % 256], axis=-1).astype(np.uint8)


def managed_command(params: dict[str, object]) -> list[str]:
    """``segnet_managed_node`` (the console script when installed, else its module) with ``params``."""
    script = Path(sys.executable).with_name("segnet_managed_node")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "seg_ros.ros.managed_node"]
    return head + node_command(params)[1:]


class Lifecycle:
    """Clients of the node's lifecycle services on the test's local node."""

    def __init__(self, local, node_name: str = "/segnet") -> None:
        self.local = local
        self.change = local.node.create_client(ChangeState, f"{node_name}/change_state")
        self.get = local.node.create_client(GetState, f"{node_name}/get_state")

    def _call(self, client, request):
        assert client.wait_for_service(timeout_sec=START_TIMEOUT), f"no service {client.srv_name}"
        future = client.call_async(request)
        assert wait_for(future.done, 60.0), f"{client.srv_name} timed out"
        return future.result()

    def state(self) -> int:
        return self._call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success


def segnet_publishes(local, topic: str = MASK) -> bool:
    return any(e.node_name == "segnet" for e in local.node.get_publishers_info_by_topic(topic))


def segnet_subscribes(local, topic: str = "/image") -> bool:
    return any(e.node_name == "segnet" for e in local.node.get_subscriptions_info_by_topic(topic))


def publish_for(stream: CameraStream, frame: CameraFrame, seconds: float, first_sec: int) -> None:
    for i in range(int(seconds * 10)):
        stream.publish(frame, Stamp(first_sec + i, 0))
        time.sleep(0.1)


def test_transitions_outputs_and_diagnostics(tmp_path, model_dir):
    params = {"model_path": model_dir, "publish_grid": False, "diagnostics_period": 0.2}
    with node_session(params, tmp_path / "log.txt", cwd=REPO, command=managed_command(params)) as ns:
        life = Lifecycle(ns.local)
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = OutputCollector(ns.local)
        out.subscribe(MASK, Image)
        diagnostics = DiagnosticsReader(ns.local)
        frame = CameraFrame(image_message(camera_image()))

        assert life.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert not segnet_publishes(ns.local) and not segnet_subscribes(ns.local)

        assert life.transition(Transition.TRANSITION_CONFIGURE)
        assert life.state() == State.PRIMARY_STATE_INACTIVE
        assert wait_for(lambda: segnet_publishes(ns.local), 10.0), "outputs not advertised after configure"
        inactive = diagnostics.wait(lambda s: s.message.startswith("inactive"), 10.0)
        assert inactive is not None and inactive.get("input") == "stopped"
        publish_for(stream, frame, 1.0, 100)
        assert not segnet_subscribes(ns.local) and out.count(MASK) == 0, "output while inactive"

        assert life.transition(Transition.TRANSITION_ACTIVATE)
        assert life.state() == State.PRIMARY_STATE_ACTIVE
        ns.node.wait_until(stream.subscribed, 10.0, "subscribe to /image on activate")
        # the first frame after activation is answered: published once, not repeated
        assert stream.send(frame, out, [MASK], Stamp(200, 0), timeout=15.0, repeat_every=None), ns.node.log()
        active = diagnostics.wait(lambda s: s.get("input") == "active" and s.get("frames processed") == "1", 10.0)
        assert active is not None and active.get("activations") == "1", diagnostics.newest()

        assert life.transition(Transition.TRANSITION_DEACTIVATE)
        assert life.state() == State.PRIMARY_STATE_INACTIVE
        assert wait_for(lambda: not segnet_subscribes(ns.local), 10.0), "still subscribed while inactive"
        time.sleep(0.3)
        count = out.count(MASK)
        publish_for(stream, frame, 1.0, 300)
        assert out.count(MASK) == count, "output after deactivate"
        idle = diagnostics.wait(lambda s: s.get("deactivations") == "1" and s.receive_monotonic > time.monotonic()
                                - 0.1, 10.0)
        assert idle is not None and idle.message.startswith("inactive")
        assert idle.get("frames received") == active.get("frames received"), "frames taken while inactive"

        assert life.transition(Transition.TRANSITION_ACTIVATE)  # again: counts carry on
        ns.node.wait_until(stream.subscribed, 10.0, "subscribe again")
        assert stream.send(frame, out, [MASK], Stamp(400, 0), timeout=15.0, repeat_every=None), ns.node.log()
        assert diagnostics.wait(lambda s: s.get("frames processed") == "2" and s.get("activations") == "2", 10.0)

        assert life.transition(Transition.TRANSITION_DEACTIVATE)
        assert life.transition(Transition.TRANSITION_CLEANUP)
        assert life.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert wait_for(lambda: not segnet_publishes(ns.local), 10.0), "outputs left after cleanup"
        assert life.transition(Transition.TRANSITION_CONFIGURE), "configure again after cleanup"
        assert life.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN) is False  # not from inactive
        assert life.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert life.state() == State.PRIMARY_STATE_FINALIZED
        assert ns.node.alive()
    assert ns.node.exit_code == 0, ns.node.log()
    assert "Traceback" not in ns.node.log()


def test_shutdown_from_active_stops_the_outputs(tmp_path, model_dir):
    params = {"model_path": model_dir, "publish_grid": False}
    with node_session(params, tmp_path / "log.txt", cwd=REPO, command=managed_command(params)) as ns:
        life = Lifecycle(ns.local)
        stream = CameraStream(ns.local, "/image", info_topic=None)
        out = OutputCollector(ns.local)
        out.subscribe(MASK, Image)
        frame = CameraFrame(image_message(camera_image()))
        assert life.transition(Transition.TRANSITION_CONFIGURE) and life.transition(Transition.TRANSITION_ACTIVATE)
        ns.node.wait_until(stream.subscribed, 10.0, "subscribe to /image")
        assert stream.send(frame, out, [MASK], Stamp(10, 0), timeout=15.0)
        assert life.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert life.state() == State.PRIMARY_STATE_FINALIZED
        assert wait_for(lambda: not segnet_subscribes(ns.local) and not segnet_publishes(ns.local), 10.0)
    assert ns.node.exit_code == 0, ns.node.log()


def test_configure_with_a_missing_model_fails_and_stays_unconfigured(tmp_path):
    params = {"model_path": str(tmp_path / "no_such_model"), "publish_grid": False}
    with node_session(params, tmp_path / "log.txt", cwd=REPO, command=managed_command(params)) as ns:
        life = Lifecycle(ns.local)
        assert life.state() == State.PRIMARY_STATE_UNCONFIGURED  # parameters only: the constructor loads nothing
        assert life.transition(Transition.TRANSITION_CONFIGURE) is False
        assert life.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert ns.node.alive()
        errors = [line for line in ns.node.log().splitlines() if "ERROR" in line]
        assert len(errors) == 1 and re.search(r"cannot configure: .*no_such_model", errors[0]), ns.node.log()
