"""segnet node parameters without a ROS graph: the YAML file, the descriptors and the runtime validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")

from seg_ros.errors import SegRosError  # noqa: E402
from seg_ros.ros.params import PARAMETERS, RUNTIME_PARAMETERS, grid_settings, render_settings  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "config" / "segnet.yaml"


def test_config_file_sets_every_parameter_with_the_declared_type():
    params = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    # Declared without a value (default None: the network's traversability profile) = left out of the file.
    assert set(params) == {name for name, (default, _) in PARAMETERS.items() if default is not None}
    for name in params:
        default = PARAMETERS[name][0]
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


def _grid_values(**changes) -> dict:
    values = {name: default for name, (default, _) in PARAMETERS.items()}
    values.update(changes)
    return values


def test_grid_defaults_are_the_issue_defaults():
    g = grid_settings(_grid_values())
    assert g.enabled and g.use_tf and not g.rectified and g.base_frame == "base_link"
    assert g.class_costs is None and g.default_cost is None and g.trail_class is None  # the profile's
    assert (g.spec.resolution, g.spec.width, g.spec.height, g.spec.x_offset) == (0.05, 200, 200, 0.0)


def test_grid_settings_read_geometry_mounting_and_costs():
    g = grid_settings(_grid_values(grid_resolution=0.1, grid_width=80, grid_height=60, grid_x_offset=1.5,
                                   grid_max_range=7.0, grid_samples_per_cell=2, camera_height=0.8,
                                   camera_pitch=0.25, camera_yaw=-0.1, camera_x=0.3, class_costs=["Road:0", "sky:-1"],
                                   default_cost=100, trail_class="road", heading_lookahead=4.0, base_frame=" base "))
    assert (g.spec.resolution, g.spec.width, g.spec.height, g.spec.x_offset, g.spec.max_range,
            g.spec.samples_per_cell) == (0.1, 80, 60, 1.5, 7.0, 2)
    assert g.spec.origin == pytest.approx((-1.5, -3.0))
    assert g.mounting == {"height": 0.8, "pitch": 0.25, "roll": 0.0, "yaw": -0.1, "x": 0.3, "y": 0.0}
    assert g.class_costs == {"road": 0, "sky": -1} and g.default_cost == 100
    assert g.trail_class == "road" and g.heading.lookahead == 4.0 and g.base_frame == "base"
    assert grid_settings(_grid_values(trail_class="")).trail_class == ""  # set empty: no trail class


@pytest.mark.parametrize("changes, word", [
    ({"class_costs": ["trail=0"]}, "class_costs"),
    ({"class_costs": ["trail:150"]}, "class_costs"),
    ({"class_costs": ["grass:soft"]}, "class_costs"),
    ({"base_frame": " "}, "base_frame"),
    ({"grid_width": 4000, "grid_height": 4000}, "grid"),
])
def test_grid_settings_reject_invalid_values_with_a_reason(changes, word):
    with pytest.raises(SegRosError, match=word):
        grid_settings(_grid_values(**changes))


def test_grid_parameter_ranges():
    def frange(name):
        r = PARAMETERS[name][1].floating_point_range[0]
        return r.from_value, r.to_value

    assert frange("camera_pitch") == pytest.approx((-math.pi / 2, math.pi / 2))
    assert frange("camera_height")[0] > 0.0
    assert frange("grid_resolution")[0] > 0.0
    cost = PARAMETERS["default_cost"][1].integer_range[0]
    assert (cost.from_value, cost.to_value) == (-1, 100)
    samples = PARAMETERS["grid_samples_per_cell"][1].integer_range[0]
    assert (samples.from_value, samples.to_value) == (1, 8)
