"""Trail heading on synthetic trails and on the nine real DeepScene class grids."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seg_ros.camera_model import CameraModel
from seg_ros.ground_projection import Extrinsics
from seg_ros.occupancy_grid import GridSpec, TraversabilityMapper
from seg_ros.paths import shared_root
from seg_ros.trail_heading import Heading, HeadingParams, estimate_heading, turn_scores

SHARED = shared_root()
GRIDS = SHARED / "data/jetson-inference/qa/deepscene_class_grids.json"
IMAGES = SHARED / "data/jetson-inference/images"

SPEC = GridSpec(resolution=0.05, width=200, height=200)
XS, YS = SPEC.cell_centres()
GX, GY = np.meshgrid(XS, YS)  # (rows = y, cols = x)
KNOWN = GX > 0.5  # a synthetic "field of view": everything ahead of 0.5 m


def trail_along(centre_y, half_width: float = 0.4) -> np.ndarray:
    """Trail cells within half_width of the centreline y = centre_y(x), from x = 0.5 m to 8 m."""
    return KNOWN & (GX < 8.0) & (np.abs(GY - centre_y(GX)) <= half_width)


def test_turn_scores_are_a_softmax_over_directions():
    left, straight, right = turn_scores(0.0)
    assert left + straight + right == pytest.approx(1.0)
    assert straight > left and left == pytest.approx(right)
    l2, s2, r2 = turn_scores(0.5)
    assert l2 > s2 > r2 and l2 + s2 + r2 == pytest.approx(1.0)
    l3, _, r3 = turn_scores(-0.5)
    assert r3 > l3


def test_straight_trail():
    h = estimate_heading(trail_along(lambda x: 0.0 * x), KNOWN, XS, YS)
    assert h.valid and h.confidence > 0.9
    assert abs(h.heading) < 0.02
    assert h.target_xy[0] == pytest.approx(3.0, abs=0.15) and h.lookahead == pytest.approx(3.0, abs=0.15)
    assert h.straight > max(h.left, h.right)
    assert h.left + h.straight + h.right == pytest.approx(1.0)


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_bending_trail(side):
    bend = 0.08 * side
    h = estimate_heading(trail_along(lambda x: bend * x * x), KNOWN, XS, YS)
    expected_y = bend * 9.0  # centreline at the 3 m look-ahead
    assert h.valid and h.confidence > 0.8
    assert h.target_xy[1] == pytest.approx(expected_y, abs=0.1)
    assert h.heading == pytest.approx(math.atan2(expected_y, 3.0), abs=0.04)
    if side > 0:
        assert h.left > h.right and h.heading > 0
    else:
        assert h.right > h.left and h.heading < 0


def test_no_trail_means_zero_confidence_and_no_heading():
    h = estimate_heading(np.zeros_like(KNOWN), KNOWN, XS, YS)
    assert not h.valid and h == Heading()
    assert (h.confidence, h.heading, h.left, h.straight, h.right, h.lookahead) == (0, 0, 0, 0, 0, 0)
    # a few stray trail cells are not a trail either
    speck = np.zeros_like(KNOWN)
    speck[100:103, 60:63] = True
    assert estimate_heading(speck, KNOWN, XS, YS).confidence == 0.0
    # trail cells nobody can see do not count
    assert estimate_heading(trail_along(lambda x: 0 * x), np.zeros_like(KNOWN), XS, YS).confidence == 0.0


def test_side_patch_is_not_followed_and_lowers_confidence():
    trail = trail_along(lambda x: 0.0 * x) | (KNOWN & (np.abs(GY - 3.0) < 0.5) & (GX > 1.5) & (GX < 4.0))
    h = estimate_heading(trail, KNOWN, XS, YS)
    assert abs(h.heading) < 0.02
    assert 0.2 < h.confidence < 0.9


def test_trail_ending_before_the_lookahead_uses_its_far_end():
    trail = KNOWN & (GX < 2.0) & (np.abs(GY - 0.5) < 0.4)
    h = estimate_heading(trail, KNOWN, XS, YS, HeadingParams(lookahead=4.0))
    assert h.target_xy[0] < 2.0 and h.heading > 0
    assert h.confidence < 0.5  # most visible bands up to 4 m hold no trail


def load_deepscene() -> dict:
    if not GRIDS.is_file():
        pytest.skip(f"DeepScene class grids not found at {GRIDS} (set SEG_ROS_SHARED)")
    return json.loads(GRIDS.read_text(encoding="utf-8"))


def test_mapper_without_trail_class():
    mapper = TraversabilityMapper(("road", "car"), SPEC)
    mapper.update_camera(CameraModel.from_fov(640, 480, 1.2))
    mapper.update_extrinsics(Extrinsics.from_mounting(1.0, 0.3))
    assert mapper.trail_heading(mapper.build(np.zeros((10, 18), np.uint8))).confidence == 0.0


@pytest.mark.parametrize("use_scores", [False, True])
def test_real_deepscene_grids_point_to_the_trail_side(use_scores):
    cv2 = pytest.importorskip("cv2")
    data = load_deepscene()
    classes, gw, gh = data["classes"], data["grid_w"], data["grid_h"]
    trail_id = classes.index("trail")
    mapper = TraversabilityMapper(classes, SPEC)
    mapper.update_extrinsics(Extrinsics.from_mounting(1.0, pitch=math.radians(17)))
    checked_sides = 0
    for name, rows in sorted(data["grids"].items()):
        grid = np.array([[int(ch) for ch in row] for row in rows], dtype=np.uint8)
        assert grid.shape == (gh, gw)
        image = cv2.imread(str(IMAGES / name))
        height, width = image.shape[:2] if image is not None else (480, 880)
        mapper.update_camera(CameraModel.from_fov(width, height, math.radians(80)))
        if use_scores:
            result = mapper.build(scores=np.eye(len(classes), dtype=np.float32)[grid].transpose(2, 0, 1))
        else:
            result = mapper.build(grid)
        heading = mapper.trail_heading(result)
        # independent expectation: where the trail lies in the lower half of the image
        lower_cols = np.nonzero(grid[gh // 2:] == trail_id)[1]
        if lower_cols.size == 0:
            assert heading.confidence == 0.0, name
            assert (heading.left, heading.straight, heading.right) == (0.0, 0.0, 0.0)
            continue
        assert heading.valid, name
        assert heading.left + heading.straight + heading.right == pytest.approx(1.0)
        offset = lower_cols.mean() - (gw - 1) / 2.0  # > 0: trail right of the image centre
        if abs(offset) >= 0.5:
            checked_sides += 1
            assert np.sign(heading.heading) == -np.sign(offset), (name, offset, heading.heading)
            assert (heading.right > heading.left) == (offset > 0), name
        else:
            assert abs(heading.heading) < mapper.heading_params.turn_angle, (name, offset, heading.heading)
    assert checked_sides >= 4


def test_heading_target_lies_on_the_ground_plane():
    """base_link 0.3 m above the ground (ground_z = -0.3): the target point is on the ground, not at z = 0."""
    mapper = TraversabilityMapper(("trail", "grass"), GridSpec(ground_z=-0.3))
    mapper.update_camera(CameraModel.from_fov(640, 480, 1.2))
    mapper.update_extrinsics(Extrinsics.from_mounting(1.0, 0.3))
    heading = mapper.trail_heading(mapper.build(np.zeros((10, 18), np.uint8)))  # everything is trail
    assert heading.confidence > 0 and abs(heading.heading) < 0.05
    assert heading.ground_z == pytest.approx(-0.3)
