"""seg_ros.render against jetson-inference's own segNet output (QA composites) and hand-built grids."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from shared_data import JETSON_IMAGES, JETSON_QA, require

from seg_ros import render
from seg_ros.model import parse_colors

DEEPSCENE_COLORS = ["200 155 75 180", "85 210 100", "15 100 20", "255 185 0", "0 120 255 150"]
TRAILS = [f"trail_{i}.jpg" for i in range(9)]


def deepscene_colors() -> np.ndarray:
    colors, explicit = parse_colors(DEEPSCENE_COLORS, "DeepScene colors.txt")
    colors[~explicit, 3] = 150.0  # ModelSpec.with_alpha(150): classes without an explicit alpha
    return colors


@pytest.fixture(scope="module")
def grids() -> dict:
    data = json.loads(require(JETSON_QA / "deepscene_class_grids.json").read_text())
    assert (data["grid_w"], data["grid_h"]) == (18, 10)
    return data


def read_rgb(path) -> np.ndarray:
    image = cv2.imread(str(require(path)), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("name", TRAILS)
def test_composite_reproduces_segnet_qa(grids, name):
    """Upstream segnet.py output (overlay alpha 150 linear + half-size mask) to within 1/255 mean error."""
    grid = np.array([[int(c) for c in row] for row in grids["grids"][name]], np.uint8)
    image = read_rgb(JETSON_IMAGES / name)
    expected = read_rgb(JETSON_QA / f"segnet_fcn-resnet18-deepscene-576x320_{name}").astype(np.float32)
    height, width = image.shape[:2]
    out = render.render_composite(image, grid, deepscene_colors(), "overlay,mask", "linear")
    assert out.shape == expected.shape == (height, width + width // 2, 3)
    out = out.astype(np.float32)
    overlay_mae = np.abs(out[:, :width] - expected[:, :width]).mean()
    mask_mae = np.abs(out[: height // 2, width:] - expected[: height // 2, width:]).mean()
    assert overlay_mae <= 1.0, f"overlay MAE {overlay_mae:.3f}"
    assert mask_mae <= 1.0, f"mask MAE {mask_mae:.3f}"
    assert np.abs(out[height // 2:, width:] - expected[height // 2:, width:]).mean() <= 1.0  # black rest


COLORS = np.array([[255, 0, 0, 100], [0, 255, 0, 200], [0, 0, 255, 0]], np.float32)
GRID = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)


def test_point_mask_has_exact_block_colours():
    out = render.render_mask(GRID, COLORS, (6, 4), "point")
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    for cy in range(2):
        for cx in range(3):
            block = out[cy * 2:(cy + 1) * 2, cx * 2:(cx + 1) * 2].reshape(-1, 3)
            assert (block == COLORS[GRID[cy, cx], :3]).all()  # alpha ignored: opaque colours


def test_linear_mask_blends_between_cell_centres():
    grid = np.array([[0, 1]], np.uint8)  # red | green, two cells over 8 pixels
    out = render.render_mask(grid, COLORS, (8, 1), "linear")[0].astype(int)
    # segNet: b = x*2/8 - 0.5 clamped to 0; weight of the right cell = b - floor(b).
    right = np.clip(np.arange(8) * 2 / 8 - 0.5, 0, 1)
    assert np.array_equal(out[:, 1], np.floor(255 * right).astype(int))
    assert np.array_equal(out[:, 0], np.floor(255 * (1 - right) + 1e-9).astype(int))


def test_overlay_alpha_per_class_point():
    image = np.full((4, 6, 3), 40, np.uint8)
    out = render.render_overlay(image, GRID, COLORS, "point").astype(int)
    for cy in range(2):
        for cx in range(3):
            r, g, b, a = COLORS[GRID[cy, cx]]
            want = np.floor(a / 255 * np.array([r, g, b]) + (1 - a / 255) * 40)
            assert np.abs(out[cy * 2:(cy + 1) * 2, cx * 2:(cx + 1) * 2] - want).max() <= 1


@pytest.mark.parametrize("mode", render.FILTER_MODES)
def test_alpha_zero_returns_image_and_255_returns_colours(mode):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    grid = rng.integers(0, 3, (2, 3), dtype=np.uint8)
    clear = COLORS.copy()
    clear[:, 3] = 0
    assert np.array_equal(render.render_overlay(image, grid, clear, mode), image)
    opaque = COLORS.copy()
    opaque[:, 3] = 255
    out = render.render_overlay(image, grid, opaque, mode).astype(int)
    assert np.abs(out - render.render_mask(grid, COLORS, (30, 20), mode)).max() <= 1


def test_explicit_alpha_kept_by_with_alpha_semantics():
    colors = deepscene_colors()
    assert colors[0, 3] == 180 and colors[4, 3] == 150 and colors[1, 3] == 150
    image = np.zeros((10, 18, 3), np.uint8)
    out = render.render_overlay(image, np.zeros((10, 18), np.uint8), colors, "point")
    assert (out.reshape(-1, 3) == np.floor(np.array([200, 155, 75]) * 180 / 255)).all()


def test_composite_layouts():
    image = np.zeros((7, 11, 3), np.uint8)
    assert render.render_composite(image, GRID, COLORS, "overlay").shape == (7, 11, 3)
    assert render.render_composite(image, GRID, COLORS, "mask").shape == (7, 11, 3)
    both = render.render_composite(image, GRID, COLORS, "mask,overlay", "point")
    assert both.shape == (7, 11 + 5, 3)
    assert np.array_equal(both[:3, 11:], render.render_mask(GRID, COLORS, (5, 3), "point"))
    assert not both[3:, 11:].any()


@pytest.mark.parametrize("text,expected", [("overlay", (True, False)), ("mask", (False, True)),
                                           ("overlay,mask", (True, True)), ("mask, overlay", (True, True))])
def test_parse_visualize(text, expected):
    assert render.parse_visualize(text) == expected


@pytest.mark.parametrize("text", ["", "both", "overlay,overlay", "overlay,mask,legend", "mask;overlay"])
def test_parse_visualize_rejects(text):
    with pytest.raises(ValueError, match="overlay"):
        render.parse_visualize(text)


def test_bad_arguments():
    with pytest.raises(ValueError, match="filter"):
        render.render_mask(GRID, COLORS, (4, 4), "cubic")
    with pytest.raises(ValueError, match="colours"):
        render.render_mask(np.full((2, 2), 7, np.uint8), COLORS, (4, 4))


def test_statistics_and_table():
    grid = np.array([[0, 0, 1], [2, 0, 0]], np.uint8)
    stats = render.class_statistics(grid, ["trail", "grass", "sky", "obstacle"])
    assert [(s.class_id, s.name, s.pixels) for s in stats] == [(0, "trail", 4), (1, "grass", 1), (2, "sky", 1),
                                                              (3, "obstacle", 0)]
    assert stats[0].fraction == pytest.approx(4 / 6) and stats[3].fraction == 0.0
    table = render.format_statistics(stats)
    assert "class name" in table and "obstacle" in table and "0.666667" in table


def test_legend_has_a_swatch_per_class():
    legend = render.render_legend(["trail", "sky"], COLORS)
    assert legend.ndim == 3 and legend.shape[2] == 3 and legend.dtype == np.uint8
    rows = np.array_split(legend, 2, axis=0)
    for row, color in zip(rows, COLORS[:2], strict=True):
        assert (row.reshape(-1, 3) == color[:3]).all(axis=1).sum() > 50  # swatch pixels
        assert (row.reshape(-1, 3) == 0).all(axis=1).sum() > 10  # name text / outline
