"""Test set-up for tests that start real ROS 2 processes; the plumbing itself is ``seg_ros.ros.harness``.

Every ROS process (this pytest process included) runs with shared-memory transport only and a random
``ROS_DOMAIN_ID`` (../shared/ROS_ON_PYPI.md): no UDP, no multicast, no cross-talk with other runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from seg_ros.ros import harness
from seg_ros.ros.harness import LocalNode, NodeProcess, NodeSession, apply_dds_transport, node_command, random_domain

REPO = Path(__file__).resolve().parents[1]

# This process may start an rclpy context (test_node_*): make its DDS safe too, before anything initialises it.
apply_dds_transport()
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
    if importlib.util.find_spec("rclpy") is None:  # no ROS at all (make test-humble-env): nothing to start
        pytest.skip("rclpy is not installed in this environment")
    if Path(node_command({})[0]).name == "segnet_node":
        return
    why = "segnet_node console script is not installed (pip install -e .)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; the ROS node tests must run on CI")
    pytest.skip(why)


def start_node(domain: int, params: dict[str, object], log_path: Path, **options: object) -> NodeProcess:
    """``harness.NodeProcess`` run from the repository, after ``require_node_script``."""
    require_node_script()
    return NodeProcess(domain, params, log_path, cwd=REPO, **options)


def node_session(params: dict[str, object], log_path: Path, **options: object) -> AbstractContextManager[NodeSession]:
    """``harness.node_session`` (random domain) run from the repository, after ``require_node_script``."""
    require_node_script()
    return harness.node_session(params, log_path, local_name="test_harness", cwd=REPO, **options)


@pytest.fixture
def local_node_factory() -> Iterator[Callable[[int], LocalNode]]:
    """Makes ``LocalNode`` s on a given domain; closes them after the test."""
    made: list[LocalNode] = []

    def make(domain: int) -> LocalNode:
        made.append(LocalNode(domain, "test_harness"))
        return made[-1]

    yield make
    for local in made:
        local.close()
