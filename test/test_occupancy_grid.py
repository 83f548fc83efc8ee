"""Occupancy grid conventions, costs, the multi-class rule, coarse-score interpolation and table caching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seg_ros.camera_model import CameraModel
from seg_ros.errors import SegRosError
from seg_ros.ground_projection import Extrinsics
from seg_ros.occupancy_grid import (
    UNKNOWN_CLASS,
    GridConfigError,
    GridSpec,
    TraversabilityMapper,
    cost_table,
    parse_class_costs,
)

DEEPSCENE = ("trail", "grass", "vegetation", "obstacle", "sky")
COST = {0: 0, 1: 30, 2: 100, 3: 100, 4: -1}  # the DeepScene defaults


def down_camera(size: int, focal: float, height: float = 2.0) -> tuple[CameraModel, Extrinsics]:
    """Camera at (0, 0, height) looking straight down (pitch 90 deg): image top = +x, image right = -y.

    A ground point (x, y) lands at u = cx - focal * y / height, v = cy - focal * x / height.
    """
    c = (size - 1) / 2.0
    cam = CameraModel.from_camera_info(size, size, [focal, 0, c, 0, focal, c, 0, 0, 1])
    return cam, Extrinsics.from_mounting(height, pitch=math.pi / 2)


def test_grid_spec_origin_and_cell_centres():
    spec = GridSpec(resolution=0.1, width=4, height=2, x_offset=0.2, max_range=0)
    assert spec.origin == pytest.approx((-0.2, -0.1))
    xs, ys = spec.cell_centres()
    np.testing.assert_allclose(xs, [-0.15, -0.05, 0.05, 0.15])
    np.testing.assert_allclose(ys, [-0.05, 0.05])
    with pytest.raises(GridConfigError):
        GridSpec(resolution=0.0)
    with pytest.raises(GridConfigError):
        GridSpec(samples_per_cell=0)


def test_class_costs_parsing():
    assert parse_class_costs(["Trail:0", "grass: 30", "sky:-1"]) == {"trail": 0, "grass": 30, "sky": -1}
    for bad in (["trail"], ["trail:abc"], ["trail:101"], ["trail:-2"]):
        with pytest.raises(GridConfigError) as info:
            parse_class_costs(bad)
        assert isinstance(info.value, SegRosError)
    lut = cost_table(["a", "B", "c"], {"b": 40, "a": 100}, default_cost=7)
    assert lut.dtype == np.int8 and lut[:3].tolist() == [100, 40, 7] and lut[UNKNOWN_CLASS] == -1


def test_hand_built_grid_layout_and_costs():
    # 16x16 image, 1 pixel = 0.1 m = 1 cell. Grid 20x20 cells from x = -1 m, y = -1 m.
    # Cell (row r, col c) has centre x = -0.95 + 0.1 c, y = -0.95 + 0.1 r → pixel u = 17 - r, v = 17 - c.
    cam, ext = down_camera(16, focal=20.0)
    rng = np.random.default_rng(3)
    class_map = rng.integers(0, 7, size=(16, 16)).astype(np.uint8)  # ids 5, 6 have no configured cost
    spec = GridSpec(resolution=0.1, width=20, height=20, x_offset=1.0, max_range=0)
    mapper = TraversabilityMapper(DEEPSCENE + ("x5", "x6"), spec, default_cost=77)
    mapper.update_camera(cam)
    mapper.update_extrinsics(ext)
    result = mapper.build(class_map)
    expected = np.full((20, 20), -1, dtype=np.int16)
    for r in range(20):
        for c in range(20):
            u, v = 17 - r, 17 - c
            if 0 <= u < 16 and 0 <= v < 16:
                expected[r, c] = COST.get(int(class_map[v, u]), 77)
    assert result.values.dtype == np.int8 and result.values.shape == (20, 20)
    np.testing.assert_array_equal(result.values, expected)
    assert result.known.sum() == 16 * 16 and result.spec is spec
    assert spec.origin == pytest.approx((-1.0, -1.0))
    # the ground point (0.33, -0.52) lies in col floor(1.33 / 0.1) = 13, row floor(0.48 / 0.1) = 4
    assert result.values[4, 13] == COST.get(int(class_map[17 - 13, 17 - 4]), 77)


def test_supersampled_cell_takes_the_highest_known_cost():
    # 1 pixel = 0.05 m = half a cell; 2x2 samples per cell hit 2x2 distinct pixels.
    # Sample (x, y) → u = 15.5 - 20 y, v = 15.5 - 20 x; cell (r, c) covers u in {34-2r, 35-2r}, v in {34-2c, 35-2c}.
    cam, ext = down_camera(32, focal=40.0)
    spec = GridSpec(resolution=0.1, width=20, height=20, x_offset=1.0, max_range=0, samples_per_cell=2)
    mapper = TraversabilityMapper(DEEPSCENE, spec)
    mapper.update_camera(cam)
    mapper.update_extrinsics(ext)
    class_map = np.zeros((32, 32), np.uint8)  # trail everywhere
    class_map[14, 15] = 3  # one obstacle pixel in cell (10, 10)
    class_map[14, 13] = 4  # one sky pixel in cell (11, 10): known free beats ignored
    class_map[14:16, 10:12] = 4  # all four samples of cell (12, 10) are sky → -1
    class_map[20:22, 20:22] = 1  # grass fills cell (7, 7)
    values = mapper.build(class_map).values
    assert values[10, 10] == 100
    assert values[11, 10] == 0
    assert values[12, 10] == -1
    assert values[7, 7] == 30
    assert values[9, 10] == 0 and values[10, 9] == 0
    assert values[1, 5] == -1  # u in {32, 33}: outside the image


def forward_setup(max_range: float = 10.0) -> tuple[TraversabilityMapper, float, float, float]:
    h, pitch, hfov = 1.0, math.radians(17), math.radians(80)
    mapper = TraversabilityMapper(DEEPSCENE, GridSpec(max_range=max_range))
    mapper.update_camera(CameraModel.from_fov(880, 480, hfov))
    mapper.update_extrinsics(Extrinsics.from_mounting(h, pitch=pitch))
    return mapper, h, pitch, hfov


def test_coarse_scores_are_interpolated_not_blocky():
    mapper, h, pitch, hfov = forward_setup()
    gw, gh = 18, 10
    u_star, v_star = 8.3, 6.2
    cols, rows = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
    scores = np.stack([np.zeros_like(cols), (cols - u_star) + 0.7 * (rows - v_star)])  # affine: exact bilinear
    result = mapper.build(scores=scores)
    given = mapper.build(scores=scores, class_map=np.argmax(scores, axis=0).astype(np.uint8))
    np.testing.assert_array_equal(given.values, result.values)  # a precomputed argmax changes nothing
    # independent closed form: ground (x, y) → image pixel → coarse map coordinates
    xs, ys = mapper.grid.cell_centres()
    gx, gy = np.meshgrid(xs, ys)
    f = 440.0 / math.tan(hfov / 2)
    z = gx * math.cos(pitch) + h * math.sin(pitch)
    u_img = 439.5 + f * (-gy) / z
    v_img = 239.5 + f * (h * math.cos(pitch) - gx * math.sin(pitch)) / z
    u = (u_img + 0.5) * gw / 880 - 0.5
    v = (v_img + 0.5) * gh / 480 - 0.5
    score = (u - u_star) + 0.7 * (v - v_star)
    check = result.known & (u >= 0) & (u <= gw - 1) & (v >= 0) & (v <= gh - 1) & (np.abs(score) > 1e-3)
    assert check.sum() > 5000
    np.testing.assert_array_equal(result.classes[check], (score[check] > 0).astype(np.uint8))
    # nearest sampling of the coarse argmax would put the boundary on coarse cell edges instead
    blocky = mapper.build(np.argmax(scores, axis=0).astype(np.uint8))
    assert (blocky.classes[check] != result.classes[check]).sum() > 100


def test_full_resolution_class_map_follows_the_closed_form():
    mapper, h, pitch, hfov = forward_setup()
    f = 440.0 / math.tan(hfov / 2)
    # rows below v0 → obstacle, above → trail; the boundary row v0 - 0.5 meets the ground at d
    for v0 in (260, 330, 420):
        class_map = np.zeros((480, 880), np.uint8)
        class_map[v0:] = 3
        values = mapper.build(class_map).values
        d = h / math.tan(pitch + math.atan((v0 - 0.5 - 239.5) / f))
        xs, ys = mapper.grid.cell_centres()
        centre_row = np.argmin(np.abs(ys))
        line = values[centre_row]
        near = (xs > 0.3) & (xs < d - 0.05) & (line != -1)
        far = (xs > d + 0.05) & (line != -1)
        assert near.any() and far.any()
        assert (line[near] == 100).all() and (line[far] == 0).all()


def test_max_range_and_unseen_cells_are_unknown():
    mapper, *_ = forward_setup(max_range=3.0)
    result = mapper.build(np.zeros((10, 18), np.uint8))
    xs, ys = mapper.grid.cell_centres()
    dist = np.hypot(*np.meshgrid(xs, ys))
    assert (result.values[dist > 3.0] == -1).all()
    assert (result.values[(dist < 2.9) & result.known] == 0).all() and result.known.sum() > 1000
    assert (result.values[:, xs < 0.5] == -1).all()  # at the robot's feet and behind: no ray


def test_projection_table_is_cached():
    mapper, h, pitch, hfov = forward_setup()
    class_map = np.zeros((10, 18), np.uint8)
    mapper.build(class_map)
    assert mapper.table_builds == 1
    # CameraInfo and tf arrive every frame with the same values: no rebuild
    assert not mapper.update_camera(CameraModel.from_fov(880, 480, hfov))
    assert not mapper.update_extrinsics(Extrinsics.from_mounting(h, pitch=pitch).matrix())
    mapper.build(class_map)
    mapper.build(scores=np.zeros((5, 10, 18), np.float32))
    assert mapper.table_builds == 1
    ext = Extrinsics.from_mounting(h, pitch=pitch + 0.01)
    assert mapper.update_extrinsics((ext.R, ext.t))
    mapper.build(class_map)
    assert mapper.table_builds == 2
    mapper.build(np.zeros((20, 36), np.uint8))  # another class-map size
    assert mapper.table_builds == 3
    assert mapper.update_camera(CameraModel.from_fov(880, 480, hfov + 0.1))
    mapper.build(np.zeros((20, 36), np.uint8))
    assert mapper.table_builds == 4


def test_build_argument_errors():
    mapper = TraversabilityMapper(DEEPSCENE)
    with pytest.raises(SegRosError, match="intrinsics"):
        mapper.build(np.zeros((10, 18), np.uint8))
    mapper, *_ = forward_setup()
    with pytest.raises(ValueError):
        mapper.build(np.zeros((10, 17), np.uint8), scores=np.zeros((5, 10, 18)))
    with pytest.raises(ValueError):
        mapper.build()
    with pytest.raises(ValueError):
        mapper.build(np.zeros((3, 10, 18), np.uint8))
    assert TraversabilityMapper(DEEPSCENE, class_costs=["trail:0", "road:0"]).unused_cost_names == ["road"]


def test_camera_below_ground_is_refused_at_update():
    mapper = TraversabilityMapper(DEEPSCENE)
    with pytest.raises(SegRosError, match="above the ground"):
        mapper.update_extrinsics(Extrinsics.from_mounting(-0.5, pitch=0.3))
    assert mapper.extrinsics is None
