"""segnet node parameters without a ROS graph: the YAML file, the descriptors and the runtime validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")

from seg_ros.errors import SegRosError  # noqa: E402
from seg_ros.node_params import PARAMETERS, RUNTIME_PARAMETERS, render_settings  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "config" / "segnet.yaml"


def test_config_file_sets_every_parameter_with_the_declared_type():
    params = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    assert set(params) == set(PARAMETERS)
    for name, (default, _) in PARAMETERS.items():
        assert type(params[name]) is type(default), f"{name}: {params[name]!r} vs declared {default!r}"


def test_every_parameter_is_described_and_only_rendering_is_writable():
    for name, (_, descriptor) in PARAMETERS.items():
        assert descriptor.description, name
        assert descriptor.read_only == (name not in RUNTIME_PARAMETERS), name
    alpha = PARAMETERS["alpha"][1].floating_point_range[0]
    assert (alpha.from_value, alpha.to_value) == (0.0, 255.0)
    assert "point" in PARAMETERS["filter_mode"][1].additional_constraints


def test_render_settings_accept_valid_values():
    s = render_settings({"alpha": 80, "filter_mode": "point", "visualize": "mask"})
    assert (s.alpha, s.filter_mode, s.overlay, s.mask) == (80.0, "point", False, True)
    s = render_settings({"alpha": 255.0, "filter_mode": "linear", "visualize": "overlay,mask"})
    assert (s.overlay, s.mask) == (True, True)


@pytest.mark.parametrize("values, word", [
    ({"alpha": 256.0, "filter_mode": "linear", "visualize": "overlay"}, "alpha"),
    ({"alpha": -1.0, "filter_mode": "linear", "visualize": "overlay"}, "alpha"),
    ({"alpha": 100.0, "filter_mode": "cubic", "visualize": "overlay"}, "filter_mode"),
    ({"alpha": 100.0, "filter_mode": "linear", "visualize": "overlay,overlay"}, "visualize"),
    ({"alpha": 100.0, "filter_mode": "linear", "visualize": ""}, "visualize"),
])
def test_render_settings_reject_invalid_values_with_a_reason(values, word):
    with pytest.raises(SegRosError, match=word):
        render_settings(values)
