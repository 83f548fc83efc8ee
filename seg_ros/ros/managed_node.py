"""segnet_managed_node: the segnet node as a ROS 2 managed (lifecycle) node, for Nav2's lifecycle manager.

Same parameters, topics and outputs as ``segnet_node`` (the body is the shared ``SegNetPipeline``); the stages
run from lifecycle transitions instead of the constructor:

- *configure*: read the parameters, resolve the model (download it when missing, build or load a TensorRT
  engine) and load the backend: the slow part, done before the robot needs the node. Creates the publishers.
  A bad model or parameter fails the transition (back to *unconfigured*) with one error line.
- *activate*: subscribe to the images, start the workers, publish ``~/label_info``.
- *deactivate*: unsubscribe and stop the workers: no frame is taken, no CPU spent; the model stays loaded.
- *cleanup*: destroy the publishers and release the backend (back to *unconfigured*).
- *shutdown* (from any state) and *error*: whatever is up is stopped and released.

Under Nav2's ``lifecycle_manager`` set ``bond_timeout: 0.0``: rclpy nodes do not offer the bond that
nav2_util's C++ lifecycle nodes do.
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.exceptions import ParameterException
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn

from seg_ros.errors import SegRosError
from seg_ros.ros.node import SegNetPipeline, run_node


class SegNetManagedNode(SegNetPipeline, LifecycleNode):
    """The lifecycle variant of ``SegNetNode``: constructed with its parameters only, loaded on *configure*."""

    def __init__(self, node_name: str = "segnet", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._init_pipeline()
        self._inactive_message = "inactive (lifecycle)"
        self.switches = {"activations": 0, "deactivations": 0}
        # Humble's and Jazzy's rclpy raise out of ~/change_state for a transition the current state does not have
        # (no response: the caller times out); Kilted's answers success=False. Answer False on every distro.
        service = getattr(self, "_service_change_state", None)  # rclpy's own service (every distro since Humble)
        if service is not None:
            service.callback = self._refusing_unavailable_transitions(service.callback)

    def _refusing_unavailable_transitions(self, handle: Any) -> Any:
        def change_state(request: Any, response: Any) -> Any:
            try:
                return handle(request, response)
            except Exception as exc:  # noqa: BLE001 - rclpy's RCLError: not a transition of the current state
                self.get_logger().error(f"transition {request.transition.label or request.transition.id} refused: "
                                        f"{exc}")
                response.success = False
                return response
        return change_state

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the model and its backend, create the publishers; FAILURE (one error line) for a bad setting."""
        try:
            self._load_model()
            self._open_outputs()
        except (SegRosError, ParameterException) as exc:
            self.get_logger().error(f"cannot configure: {exc}")
            self.close()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Subscribe to the images, start the workers, publish the latched ``~/label_info``."""
        try:
            self._start_input()
        except SegRosError as exc:
            self.get_logger().error(f"cannot activate: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.switches["activations"] += 1
        self._publish_label_info()
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Unsubscribe and stop the workers (they finish the frame in hand); the model stays loaded."""
        if not self._stop_input():
            self.get_logger().warning("a worker is still finishing its frame")
        self.switches["deactivations"] += 1
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Destroy the publishers and release the backend."""
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """From any state: stop and release whatever is up."""
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """After a failing transition: release everything and go back to *unconfigured*."""
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def close(self, timeout: float = 5.0) -> None:
        """Stop the input, destroy the outputs and release the backend, whatever the state. Idempotent."""
        self._stop_input(timeout)
        self._close_outputs()
        self._release_model()


def main(args: list[str] | None = None) -> int:
    """``segnet_managed_node``: starts *unconfigured*; drive it with ``ros2 lifecycle set`` or a lifecycle manager."""
    return run_node(SegNetManagedNode, args)


if __name__ == "__main__":
    sys.exit(main())
