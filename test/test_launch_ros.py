# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""launch_testing: launch/segnet.launch.py starts node 'segnet', which appears on the ROS graph and stops cleanly.

Needs launch, launch_ros and launch_testing (a ROS 2 install, not PyPI): skipped elsewhere, where
test_launch_static.py checks the same launch file against stand-ins. Runs with shared-memory-only DDS on a random
domain. Uses the shared ESPNet-CamVid model (no download).
"""

from __future__ import annotations

import os
import time
import unittest
from pathlib import Path

import pytest

from seg_ros.paths import shared_root
from seg_ros.ros.harness import apply_dds_transport, random_domain

launch = pytest.importorskip("launch")
if not hasattr(launch, "LaunchDescription"):  # the unrelated PyPI "launch" 0.1.3
    pytest.skip("ROS 2 launch is not installed", allow_module_level=True)
pytest.importorskip("launch_ros")
launch_testing = pytest.importorskip("launch_testing")
launch_testing_actions = pytest.importorskip("launch_testing.actions")
launch_testing_asserts = pytest.importorskip("launch_testing.asserts")
launch_actions = pytest.importorskip("launch.actions")
launch_sources = pytest.importorskip("launch.launch_description_sources")

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()
MODEL = SHARED / "models" / "espnet-camvid-480x360"
if not MODEL.is_dir():
    pytest.skip(f"shared model missing: {MODEL}", allow_module_level=True)

# DDS safety for this process (graph queries) and the launched node, which inherits the environment.
apply_dds_transport()
os.environ.setdefault("ROS_DOMAIN_ID", str(random_domain()))


@pytest.mark.launch_test
@pytest.mark.ros
def generate_test_description():
    included = launch_actions.IncludeLaunchDescription(
        launch_sources.PythonLaunchDescriptionSource(str(REPO / "launch" / "segnet.launch.py")),
        launch_arguments={
            "network": str(MODEL),
            "backend": "onnxruntime",
            "params_file": str(REPO / "config" / "segnet.yaml"),
            "image": "/launch_test/image",
            "rviz": "false",
        }.items(),
    )
    return launch.LaunchDescription([included, launch_testing_actions.ReadyToTest()])


class TestSegnetNodeUp(unittest.TestCase):
    def test_node_on_graph_with_remapped_input(self) -> None:
        import rclpy

        rclpy.init()
        try:
            probe = rclpy.create_node("segnet_launch_probe")
            deadline = time.monotonic() + 30.0
            found = False
            while time.monotonic() < deadline and not found:
                rclpy.spin_once(probe, timeout_sec=0.2)
                found = ("segnet", "/") in probe.get_node_names_and_namespaces()
            self.assertTrue(found, "node /segnet did not appear")
            deadline = time.monotonic() + 10.0
            subscribed = []
            while time.monotonic() < deadline and not subscribed:
                rclpy.spin_once(probe, timeout_sec=0.2)
                subscribed = probe.get_subscriber_names_and_types_by_node("segnet", "/")
                subscribed = [name for name, _ in subscribed if name == "/launch_test/image"]
            self.assertEqual(subscribed, ["/launch_test/image"])
            probe.destroy_node()
        finally:
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestSegnetNodeShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info) -> None:
        launch_testing_asserts.assertExitCodes(proc_info)
