"""The live demo (``make demo``): the scene fits the network, and accuracy through the ROS graph equals offline.

The end-to-end test replays the first CamVid test frames into a real ``segnet_node`` over DDS (shared-memory
transport, random domain) with the ESPNet-CamVid fallback network, and checks that the class masks received over
DDS score exactly like the same frames segmented in this process.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from shared_data import CAMVID_DATA, CAMVID_MODEL, JETSON_IMAGES, SHARED, require

from seg_ros.ros import live_demo

DEEPSCENE = ("trail", "grass", "vegetation", "obstacle", "sky")
CAMVID = ("sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence", "car", "pedestrian",
          "bicyclist", "void")


def spec_with(names: tuple[str, ...]) -> SimpleNamespace:
    return SimpleNamespace(name="net", class_names=names, num_classes=len(names))


def test_trail_network_gets_the_trail_samples() -> None:
    require(JETSON_IMAGES)
    scene = live_demo.choose_scene(SHARED, spec_with(DEEPSCENE), 10.0, 5)
    assert scene.name.startswith("trail samples") and scene.labels is None and scene.loops == 5
    assert [p.name for p in scene.images] == [f"trail_{i}.jpg" for i in range(9)]
    assert "class_costs" not in scene.params, "DeepScene keeps the node's own DeepScene costs"


def test_road_network_gets_camvid_with_road_costs() -> None:
    require(CAMVID_DATA)
    scene = live_demo.choose_scene(SHARED, spec_with(CAMVID), 10.0, 5)
    assert scene.name.startswith("CamVid") and scene.loops == 1 and len(scene.images) == 78
    assert len(scene.labels) == 78 and scene.labels[0].parent.name == "testannot"
    assert scene.images[0].name == scene.labels[0].name == "0001TP_008550.png"
    assert scene.params["trail_class"] == "road" and scene.params["default_cost"] == 100
    assert set(scene.params["class_costs"]) == {"road:0", "pavement:20", "sky:-1", "void:-1"}
    assert scene.params["ignore_class"] == "", "scored as segnet-eval scores: argmax over all channels"
    assert "road" in scene.reason and "trail" in scene.reason


def test_network_with_neither_class_gets_trails_and_says_so() -> None:
    require(JETSON_IMAGES)
    scene = live_demo.choose_scene(SHARED, spec_with(("background", "person")), 10.0, 2)
    assert scene.name.startswith("trail samples") and "neither" in scene.reason


@pytest.mark.parametrize(("count", "expected"), [(3, [0, 1, 2]), (9, list(range(9))),
                                                  (78, [0, 10, 19, 29, 38, 48, 58, 67, 77])])
def test_sheet_indices(count: int, expected: list[int]) -> None:
    assert live_demo.sheet_indices(count) == expected


class FixedSegmenter:
    """Returns the class map it was given for each image (identified by its first pixel)."""

    def __init__(self, maps: dict[int, np.ndarray], num_classes: int) -> None:
        self.maps, self.spec = maps, spec_with(CAMVID[:num_classes - 1] + ("void",))

    def segment(self, image: np.ndarray) -> SimpleNamespace:
        return SimpleNamespace(class_map=self.maps[int(image[0, 0, 0])])


def test_score_graph_masks_equal_and_different() -> None:
    labels = [np.array([[0, 1], [2, 3]], np.uint8), np.array([[3, 3], [0, 1]], np.uint8)]
    images = [np.full((2, 2, 3), i, np.uint8) for i in range(2)]
    maps = {0: np.array([[0, 1], [2, 2]], np.uint8), 1: np.array([[3, 3], [0, 0]], np.uint8)}
    segmenter = FixedSegmenter(maps, 4)  # classes 0..2 and void = 3 (not scored)
    same = live_demo.score_graph_masks(dict(maps), images, labels, segmenter)
    assert same.identical and same.frames == 2
    # scored pixels (label != void 3): frame 0 -> 3 pixels all right; frame 1 -> 2 pixels, one wrong (1 -> 0)
    assert same.graph.pixel_accuracy == pytest.approx(4 / 5)
    other = live_demo.score_graph_masks({0: maps[0], 1: np.array([[3, 3], [0, 1]], np.uint8)}, images, labels,
                                        segmenter)
    assert not other.identical
    assert other.graph.pixel_accuracy == pytest.approx(1.0) and other.offline.pixel_accuracy == pytest.approx(4 / 5)


@pytest.mark.ros
def test_camvid_demo_scores_equal_through_the_graph(tmp_path: Path, monkeypatch) -> None:
    """make demo without DeepScene: CamVid frames, road grid and heading, graph accuracy identical to offline."""
    from conftest import require_node_script

    require(CAMVID_MODEL)
    require(CAMVID_DATA)
    require_node_script()
    monkeypatch.setenv("SEG_ROS_MODEL_PATH", str(SHARED / "models"))
    out = tmp_path / "demo"
    code = live_demo.main(["--shared", str(SHARED), "--output", str(out), "--network", "espnet-camvid-480x360",
                           "--frames", "6", "--rate", "5"])
    summary = json.loads((out / "live_summary.json").read_text())
    assert code == 0, summary
    assert summary["scene"].startswith("CamVid") and summary["network"] == "espnet-camvid-480x360"
    accuracy = summary["accuracy"]
    assert accuracy["frames"] == 6 and accuracy["identical"] is True
    assert accuracy["graph"] == accuracy["offline"]
    assert 0.5 < accuracy["graph"]["pixel_accuracy"] <= 1.0
    assert summary["messages_recorded"]["/segnet/traversable_grid"] >= 6
    assert (out / "live_contact_sheet.png").is_file()
