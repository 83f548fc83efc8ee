"""DDS-safe fixtures for tests that start real ROS 2 processes.

Every ROS process (this pytest process included) runs with shared-memory transport only and a random
``ROS_DOMAIN_ID`` (../shared/ROS_ON_PYPI.md): no UDP, no multicast, no cross-talk with other runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from seg_ros.ros.process import SHM_TRANSPORT, dds_env, node_command, random_domain

REPO = Path(__file__).resolve().parents[1]

# This process may start an rclpy context (test_node_*): make its DDS safe too, before anything initialises it.
os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = SHM_TRANSPORT
os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
# Caches (downloaded models, TensorRT engines, ONNX Runtime tuning) go to a per-run folder, not the user's.
if "SEG_ROS_TEST_KEEP_CACHE" not in os.environ:
    import tempfile

    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="seg_ros_test_cache_")


@pytest.fixture
def ros_domain() -> int:
    """A fresh random ROS_DOMAIN_ID for one test."""
    return random_domain()


def require_node_script() -> None:
    """Skip without the ``segnet_node`` console script; on CI (``CI`` set) fail instead, so CI needs node coverage."""
    if Path(node_command({})[0]).name == "segnet_node":
        return
    why = "segnet_node console script is not installed (pip install -e .)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; the ROS node tests must run on CI")
    pytest.skip(why)


class NodeProcess:
    """A ``segnet_node`` child process with its output captured to a file (readable on failure)."""

    def __init__(self, domain: int, params: dict[str, object], log_path: Path, node_name: str | None = None,
                 remappings: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None) -> None:
        require_node_script()
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dds_env(domain)
        env.update(extra_env or {})
        self.proc = subprocess.Popen(node_command(params, node_name, remappings), env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=REPO)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def interrupt(self, timeout: float = 15.0) -> int:
        """SIGINT and wait; returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class RosHarness:
    """An rclpy node in this process (own context, given domain) spun in a background thread."""

    def __init__(self, domain: int, name: str = "test_harness") -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - shutting down
            pass

    def collect(self, msg_type: type, topic: str, depth: int = 10) -> list:
        """Subscribe reliably; returns the list the messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, depth)
        return received

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5)


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.02,
             action: Callable[[], None] | None = None, action_every: float = 1.0) -> object:
    """Poll ``predicate`` until truthy (returned) or ``timeout``; ``action`` is repeated every ``action_every`` s."""
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


@pytest.fixture
def harness_factory() -> Iterator[Callable[[int], RosHarness]]:
    made: list[RosHarness] = []

    def make(domain: int) -> RosHarness:
        made.append(RosHarness(domain))
        return made[-1]

    yield make
    for h in made:
        h.close()
