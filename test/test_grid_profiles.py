"""A grid that means something for every network (issue 12 §5): traversability profiles and their overrides.

Each registry family and each custom model gets a default profile (class costs, default cost, trail class) from
the registry or its model.yaml, or by the family rule on its class names; node parameters override it; VOC / MHP /
SUN have none, so the grid stays off unless costs are given. Expected costs are the issue's, written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import CAMVID_MODEL, CITYSCAPES_MODEL, require

from seg_ros import registry
from seg_ros.errors import GridConfigError, ModelError
from seg_ros.occupancy_grid import TraversabilityMapper, TraversabilityProfile
from seg_ros.synthetic import write_model_dir

DEEPSCENE = ["trail", "grass", "vegetation", "obstacle", "sky"]
FCN_CITYSCAPES = ["void", "ego_vehicle", "ground", "road", "sidewalk", "building", "wall", "fence", "pole",
                  "traffic_light", "traffic_sign", "vegetation", "terrain", "sky", "person", "car", "truck", "bus",
                  "train", "motorcycle", "bicycle"]
VOC = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
       "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def costs_per_class(spec) -> dict[str, int]:
    """The grid value each class of ``spec`` gets under its profile (through the mapper's lookup table)."""
    p = spec.traversability
    mapper = TraversabilityMapper(spec.class_names, class_costs=p.costs, default_cost=p.default_cost,
                                  trail_class=p.trail_class)
    return {name: int(mapper.lut[i]) for i, name in enumerate(spec.class_names)}


def registry_spec(monkeypatch, tmp_path, network: str, names: list[str]):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(registry.MODEL_PATH_ENV, raising=False)
    net = registry.find_network(network)
    write_model_dir(registry.cache_dir() / net.dir, (64, 32), len(names), class_names=names)
    return registry.resolve_model(network)


def test_deepscene_registry_profile(monkeypatch, tmp_path):
    spec = registry_spec(monkeypatch, tmp_path, "fcn-resnet18-deepscene-576x320", DEEPSCENE)
    p = spec.traversability
    assert p.name == "deepscene" and p.trail_class == "trail" and p.enabled
    assert p.source == "registry network fcn-resnet18-deepscene-576x320 says deepscene"
    # trail free, grass low, vegetation and obstacle lethal, sky unknown
    assert costs_per_class(spec) == {"trail": 0, "grass": 30, "vegetation": 100, "obstacle": 100, "sky": -1}


def test_cityscapes_registry_profile(monkeypatch, tmp_path):
    spec = registry_spec(monkeypatch, tmp_path, "fcn-resnet18-cityscapes-1024x512", FCN_CITYSCAPES)
    costs = costs_per_class(spec)
    assert spec.traversability.name == "cityscapes" and spec.traversability.trail_class == "road"
    assert (costs["road"], costs["sidewalk"], costs["terrain"], costs["sky"]) == (0, 20, 50, -1)
    assert costs["void"] == -1 and costs["ego_vehicle"] == -1  # unlabelled / the robot itself: unknown
    rest = set(FCN_CITYSCAPES) - {"road", "sidewalk", "terrain", "sky", "void", "ego_vehicle"}
    assert {costs[name] for name in rest} == {100}  # the rest lethal (ground, building, person, car ...)


@pytest.mark.parametrize("network", ["fcn-resnet18-voc-320x320", "fcn-resnet18-mhp-512x320",
                                     "fcn-resnet18-sun-512x400"])
def test_voc_mhp_sun_have_no_profile(monkeypatch, tmp_path, network):
    spec = registry_spec(monkeypatch, tmp_path, network, VOC)
    assert not spec.traversability.enabled
    assert spec.traversability.source == f"registry network {network}: not a traversability model"
    assert spec.traversability.describe() == f"none (registry network {network}: not a traversability model)"


def test_every_registry_network_names_its_profile():
    for name, net in registry.networks().items():
        family = name.split("-")[2]
        expected = {"deepscene": "deepscene", "cityscapes": "cityscapes"}.get(family, "none")
        assert net.model.traversability == expected, name


def test_espnet_camvid_gets_the_camvid_profile_by_family_rule():
    spec = registry.resolve_model(str(require(CAMVID_MODEL)))
    p = spec.traversability
    assert p.name == "camvid" and p.source == "family rule: the classes include road, pavement"
    assert p.trail_class == "road"
    assert costs_per_class(spec) == {"sky": -1, "building": 100, "pole": 100, "road": 0, "pavement": 20,
                                     "tree": 100, "sign_symbol": 100, "fence": 100, "car": 100, "pedestrian": 100,
                                     "bicyclist": 100, "void": -1}


def test_espnet_cityscapes_gets_the_cityscapes_profile_by_family_rule():
    spec = registry.resolve_model(str(require(CITYSCAPES_MODEL)))
    costs = costs_per_class(spec)
    assert spec.traversability.name == "cityscapes"
    assert (costs["road"], costs["sidewalk"], costs["terrain"], costs["sky"], costs["void"]) == (0, 20, 50, -1, -1)
    assert costs["vegetation"] == costs["car"] == costs["person"] == costs["building"] == 100


def test_custom_model_without_a_matching_family_has_none(tmp_path):
    spec = registry.resolve_model(str(write_model_dir(tmp_path / "m", (64, 32), 3, class_names=["a", "b", "c"])))
    assert not spec.traversability.enabled
    assert spec.traversability.source == "no registry profile matches these classes"


def test_model_yaml_names_a_profile_or_none_or_states_one(tmp_path):
    folder = write_model_dir(tmp_path / "m", (64, 32), 3, class_names=["Road", "Pavement", "wall"])
    assert registry.resolve_model(str(folder)).traversability.name == "camvid"  # family rule (case-insensitive)
    (folder / "model.yaml").write_text("traversability: none\n")
    spec = registry.resolve_model(str(folder))
    assert not spec.traversability.enabled and spec.traversability.source == "model.yaml: traversability: none"
    (folder / "model.yaml").write_text("traversability: deepscene\n")
    assert registry.resolve_model(str(folder)).traversability.name == "deepscene"
    (folder / "model.yaml").write_text("traversability:\n  class_costs: {road: 0, wall: 100}\n"
                                       "  default_cost: 40\n  trail_class: road\n")
    spec = registry.resolve_model(str(folder))
    assert spec.traversability.name == "model.yaml" and spec.traversability.trail_class == "road"
    assert costs_per_class(spec) == {"Road": 0, "Pavement": 40, "wall": 100}
    # an ONNX given by path reads the same model.yaml
    assert registry.resolve_model(str(folder / "fcn_resnet18.onnx")).traversability.name == "model.yaml"


def test_model_yaml_errors(tmp_path):
    folder = write_model_dir(tmp_path / "m", (64, 32), 3)
    (folder / "model.yaml").write_text("traversability: forest\n")
    with pytest.raises(ModelError) as err:
        registry.resolve_model(str(folder))
    assert str(err.value) == ("model.yaml: unknown traversability profile 'forest' "
                              "(registry profiles: camvid, cityscapes, deepscene, none)")
    (folder / "model.yaml").write_text("traversability:\n  class_costs: {a: 150}\n")
    with pytest.raises(ModelError) as err:
        registry.resolve_model(str(folder))
    assert str(err.value) == (f"{folder / 'model.yaml'}: traversability: class cost for 'a' must be -1 or "
                              "within 0..100, got 150")
    (folder / "model.yaml").write_text("traversability:\n  costs: {a: 0}\n")
    with pytest.raises(ModelError, match="unknown traversability key"):
        registry.resolve_model(str(folder))


def test_parameters_override_the_profile():
    camvid = registry.profiles()["camvid"].profile
    assert camvid.with_overrides() is camvid
    only_trail = camvid.with_overrides(trail_class="")
    assert only_trail.trail_class is None and only_trail.costs == camvid.costs and only_trail.default_cost == 100
    replaced = camvid.with_overrides(class_costs={"Road": 10}, default_cost=-1)
    assert replaced.costs == {"road": 10} and replaced.default_cost == -1 and replaced.trail_class == "road"
    assert replaced.name == "camvid + parameters"
    assert replaced.source == "node parameters class_costs, default_cost"
    none = TraversabilityProfile(source="registry network fcn-resnet18-voc-320x320: not a traversability model")
    assert not none.with_overrides(trail_class="person").enabled  # a trail class alone gives no costs
    given = none.with_overrides(class_costs={"background": 0})
    assert given.enabled and given.name == "parameters"
    assert given.describe() == ("parameters (registry network fcn-resnet18-voc-320x320: not a traversability "
                                "model; node parameters class_costs): background:0, other classes -1; "
                                "trail_class none")


def test_profile_validation():
    with pytest.raises(GridConfigError, match="must be -1 or within 0..100, got 101"):
        TraversabilityProfile(class_costs=(("a", 101),))
    with pytest.raises(GridConfigError, match="default_cost"):
        TraversabilityProfile(default_cost=-5)


# ---- the node side: parameters declared without a value, the projector chosen by the profile -------------------
rclpy = pytest.importorskip("rclpy")


@pytest.fixture
def ros_node():
    from conftest import random_domain
    from rclpy.context import Context

    made = []

    def make(**overrides):
        from rclpy.parameter import Parameter

        context = Context()
        rclpy.init(context=context, domain_id=random_domain())
        node = rclpy.create_node("profiles_unit", context=context,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        made.append((node, context))
        return node

    yield make
    for node, context in made:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


class LogRecorder:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, text):
        self.lines.append(text)

    warning = info


def test_unset_parameters_leave_the_profile_and_set_ones_override(ros_node):
    from seg_ros.ros.params import declare_parameters, read_settings

    node = ros_node()
    declare_parameters(node)
    grid = read_settings(node).grid
    assert (grid.class_costs, grid.default_cost, grid.trail_class) == (None, None, None)
    node = ros_node(class_costs=["road:0", "sky:-1"], default_cost=100, trail_class="", input_size="640x480")
    declare_parameters(node)
    settings = read_settings(node)
    assert settings.grid.class_costs == {"road": 0, "sky": -1} and settings.grid.default_cost == 100
    assert settings.grid.trail_class == "" and settings.input_size == (640, 480)


def test_projector_logs_the_profile_and_is_off_without_costs(ros_node, monkeypatch, tmp_path):
    from seg_ros.ros.ground_outputs import GroundProjector
    from seg_ros.ros.params import declare_parameters, read_settings

    camvid = registry.resolve_model(str(require(CAMVID_MODEL)))
    voc_like = registry.resolve_model(str(write_model_dir(tmp_path / "voc", (64, 32), 3,
                                                          class_names=["background", "person", "chair"])))
    node = ros_node(use_tf=False)
    declare_parameters(node)
    settings = read_settings(node).grid
    log = LogRecorder()
    monkeypatch.setattr(node, "get_logger", lambda: log)
    assert GroundProjector.for_model(node, settings, voc_like, None, log.info) is None
    assert log.lines == [f"no traversability grid for {voc_like.name}: none (no registry profile matches these "
                         "classes); set class_costs to publish one"]
    log.lines.clear()
    ground = GroundProjector.for_model(node, settings, camvid, None, log.info, has_scores=False)
    assert ground is not None and ground.profile.name == "camvid"
    assert "traversability profile camvid (family rule: the classes include road, pavement): road:0, pavement:20, " \
           "sky:-1, void:-1, other classes 100; trail_class road" in log.lines
    assert any("from the class map (nearest: the model outputs class ids, no class scores)" in line
               for line in log.lines)
    assert not [line for line in log.lines if "class_costs names" in line or "is not a network class" in line]
    assert ground.mapper.lut[:12].tolist() == [-1, 100, 100, 0, 20, 100, 100, 100, 100, 100, 100, -1]


def test_projector_with_parameter_costs_for_a_model_without_profile(ros_node, monkeypatch, tmp_path):
    from seg_ros.ros.ground_outputs import GroundProjector
    from seg_ros.ros.params import declare_parameters, read_settings

    spec = registry.resolve_model(str(write_model_dir(tmp_path / "m", (64, 32), 3,
                                                      class_names=["background", "floor", "wall"])))
    node = ros_node(use_tf=False, class_costs=["floor:0", "table:100"], default_cost=100)
    declare_parameters(node)
    log = LogRecorder()
    monkeypatch.setattr(node, "get_logger", lambda: log)
    ground = GroundProjector.for_model(node, read_settings(node).grid, spec, None, log.info)
    assert ground is not None and ground.profile.name == "parameters"
    assert ground.mapper.lut[:3].tolist() == [100, 0, 100]
    assert any(line.startswith("class_costs names classes the network does not have: table") for line in log.lines)
    np.testing.assert_array_equal(ground.mapper.lut[3:255], -1)


# ---- segnet_node over DDS: the profile named in the start-up log, no grid without costs ---------------------------
def _start_node_and_segment(tmp_path, folder, image, **params):
    pytest.importorskip("seg_ros.msg", reason="seg_ros messages not built")
    from conftest import node_session
    from test_node_segnet import Session, as_array

    from seg_ros.ros.harness import image_message, wait_for

    values = {"model_path": folder, "backend": "onnxruntime", "use_tf": False, "diagnostics_period": 0.5}
    values.update(params)
    with node_session(values, tmp_path / "node.log") as ns:
        session = Session(ns.local, ns.node)
        session.wait_ready()
        (mask,) = session.send(image_message(image), ("class_mask",))
        topics = {name for name, _ in ns.local.node.get_topic_names_and_types()}
        wait_for(lambda: "traversab" in ns.node.log(), 5.0)
        return as_array(mask), topics, ns.node.log()


@pytest.mark.ros
def test_node_logs_the_family_profile_and_runs_a_dynamic_model_at_input_size(tmp_path):
    layouts = pytest.importorskip("test_model_layouts")
    folder = layouts.dynamic_model(tmp_path / "dyn")
    (folder / "classes.txt").write_text("road\npavement\nsky\n")  # CamVid-class names: the camvid family rule
    mask, topics, log = _start_node_and_segment(tmp_path, folder, layouts.stripes(36, 12), input_size="36x12")
    np.testing.assert_array_equal(mask, layouts.expected_thirds(36, 12))  # run at the given 36x12
    assert ("traversability profile camvid (family rule: the classes include road, pavement): road:0, pavement:20, "
            "sky:-1, void:-1, other classes 100; trail_class road") in log
    assert "/segnet/traversable_grid" in topics
    assert "class_costs names classes" not in log and "is not a network class" not in log


@pytest.mark.ros
def test_node_without_profile_or_costs_publishes_no_grid(tmp_path):
    layouts = pytest.importorskip("test_model_layouts")
    inits: list = []
    folder = layouts.write_model(tmp_path / "plain", [layouts.colour_conv("input_0", "output_0", inits)], inits,
                                 layouts.helper.make_tensor_value_info("output_0", layouts.TensorProto.FLOAT,
                                                                       [1, 3, layouts.H, layouts.W]))
    mask, topics, log = _start_node_and_segment(tmp_path, folder, layouts.stripes())
    np.testing.assert_array_equal(mask, layouts.expected_thirds())
    assert "no traversability grid for plain: none (no registry profile matches these classes); set class_costs to " \
           "publish one" in log
    assert "/segnet/traversable_grid" not in topics and "/segnet/trail_heading" not in topics
