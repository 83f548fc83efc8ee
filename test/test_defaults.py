"""One source per default: config/segnet.yaml, the node's parameters, the CLI flags and the core agree.

The YAML file is written by hand, so it is the independent witness: every value it sets must be the node
parameter's declared default, and the shared ones (network, backend, threads, alpha, filter mode, visualize,
ignore class, download) must also be what ``segnet``, ``segnet-eval`` and the demo use when no flag is given.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from seg_ros import defaults, demo, render
from seg_ros.cli import evaluate, segnet

CONFIG = Path(__file__).resolve().parents[1] / "config" / "segnet.yaml"

# node parameter name -> (seg_ros.defaults constant, segnet's argparse dest)
SHARED = {
    "network": ("DEFAULT_NETWORK", "network"),
    "backend": ("DEFAULT_BACKEND", "backend"),
    "threads": ("DEFAULT_THREADS", "threads"),
    "alpha": ("DEFAULT_ALPHA", "alpha"),
    "filter_mode": ("DEFAULT_FILTER_MODE", "filter_mode"),
    "visualize": ("DEFAULT_VISUALIZE", "visualize"),
    "ignore_class": ("DEFAULT_IGNORE_CLASS", "ignore_class"),
    "download_missing": ("DEFAULT_DOWNLOAD", "download"),
}


def yaml_parameters() -> dict[str, object]:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["/**"]["ros__parameters"]


def test_yaml_sets_every_parameter_to_its_declared_default() -> None:
    pytest.importorskip("rclpy")
    from seg_ros.ros.params import PARAMETERS

    params = yaml_parameters()
    unknown = sorted(set(params) - set(PARAMETERS))
    assert unknown == []
    differ = {name: (value, PARAMETERS[name][0]) for name, value in params.items()
              if value != PARAMETERS[name][0] or type(value) is not type(PARAMETERS[name][0])}
    assert differ == {}, "config/segnet.yaml value vs declared default"


def test_shared_defaults_in_yaml_node_and_segnet_agree() -> None:
    params = yaml_parameters()
    args = segnet.build_parser().parse_args(["in.png"])
    for name, (constant, dest) in SHARED.items():
        assert params[name] == getattr(defaults, constant), name  # the hand-written YAML
        assert getattr(args, dest) == getattr(defaults, constant), f"segnet --{dest}"


def test_node_parameters_read_the_defaults_module() -> None:
    pytest.importorskip("rclpy")
    from seg_ros.ros.params import PARAMETERS

    for name, (constant, _) in SHARED.items():
        assert PARAMETERS[name][0] == getattr(defaults, constant), name


def test_eval_and_demo_defaults() -> None:
    args = evaluate.build_parser().parse_args(["net", "--list", "l.txt"])
    assert (args.backend, args.threads) == (defaults.DEFAULT_BACKEND, defaults.DEFAULT_THREADS)
    assert args.ignore_class is None  # segnet-eval scores every class unless told otherwise (see its docstring)
    run_demo = inspect.signature(demo.run_demo).parameters
    assert run_demo["network"].default == defaults.DEFAULT_NETWORK
    assert run_demo["alpha"].default == defaults.DEFAULT_ALPHA


def test_core_function_defaults_match() -> None:
    """Defaults restated as keyword defaults in the core (render, segmenter, model) are the same values."""
    from seg_ros import model
    from seg_ros.segmenter import Segmenter

    assert model.DEFAULT_ALPHA == defaults.DEFAULT_ALPHA
    assert inspect.signature(Segmenter).parameters["ignore_class"].default == defaults.DEFAULT_IGNORE_CLASS
    assert inspect.signature(Segmenter).parameters["backend"].default == defaults.DEFAULT_BACKEND
    for fn in (render.render_overlay, render.render_mask, render.render_composite):
        assert inspect.signature(fn).parameters["filter_mode"].default == defaults.DEFAULT_FILTER_MODE, fn.__name__
    assert inspect.signature(render.render_composite).parameters["visualize"].default == defaults.DEFAULT_VISUALIZE
    assert defaults.DEFAULT_FILTER_MODE in render.FILTER_MODES
    assert render.parse_visualize(defaults.DEFAULT_VISUALIZE) == (True, True)
