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


# --- the fast patch renderer against straightforward per-pixel emulations of segNet's kernel -------------------

F32 = np.float32


def segnet_color(grid: np.ndarray, colors: np.ndarray, width: int, height: int, mode: str, dtype=F32) -> np.ndarray:
    """(H,W,4) colour of every output pixel, transcribed from segNet's gpuSegOverlay kernel (float32 there).

    ``dtype`` sets the precision of the blend weights. Sample positions are exact (segNet's float32 x/W*g
    lands just below an integer for a few x and repeats a column of cells; seg_ros does not copy that).
    """
    colors = colors.astype(dtype)
    grid_h, grid_w = grid.shape
    px = np.arange(width) / width
    py = np.arange(height) / height
    if mode == "point":
        x1 = np.arange(width) * grid_w // width
        y1 = np.arange(height) * grid_h // height
        return colors[grid[y1[:, None], x1[None, :]]]
    cx = np.maximum(px * grid_w - 0.5, 0)
    cy = np.maximum(py * grid_h - 0.5, 0)
    x1, y1 = cx.astype(int), cy.astype(int)
    x2 = np.where(x1 >= grid_w - 1, x1, x1 + 1)
    y2 = np.where(y1 >= grid_h - 1, y1, y1 + 1)
    one = dtype(1)
    x1f, y1f = one - (cx - x1).astype(dtype), one - (cy - y1).astype(dtype)
    x2f, y2f = one - x1f, one - y1f
    x1, x2, x1f, x2f = x1[None, :], x2[None, :], x1f[None, :, None], x2f[None, :, None]
    y1, y2, y1f, y2f = y1[:, None], y2[:, None], y1f[:, None, None], y2f[:, None, None]
    return (colors[grid[y1, x1]] * (x1f * y1f) + colors[grid[y1, x2]] * (x2f * y1f)
            + colors[grid[y2, x2]] * (x2f * y2f) + colors[grid[y2, x1]] * (x1f * y2f))


def segnet_overlay(image: np.ndarray, grid: np.ndarray, colors: np.ndarray, mode: str, dtype=F32) -> np.ndarray:
    """segNet's overlay before truncation: alpha*colour + (1-alpha)*pixel with alpha = interpolated alpha/255.

    (segNet reads the input pixel at int(x/W*W) in float32, which repeats a row or column here and there;
    the emulation reads pixel x, as seg_ros does.)
    """
    color = segnet_color(grid, colors, image.shape[1], image.shape[0], mode, dtype)
    alpha = color[..., 3:] / dtype(255)
    return alpha * color[..., :3] + (dtype(1) - alpha) * image.astype(dtype)


def assert_truncation_matches(got: np.ndarray, exact: np.ndarray) -> None:
    """Check ``got`` is floor(exact), except within float32 noise of an integer.

    There it may be one off at most (segNet's own float32 result lands on either side of such integers).
    """
    diff = got.astype(np.float64) - np.floor(exact)
    near_integer = np.abs(exact - np.rint(exact)) < 1e-3
    assert np.abs(diff).max() <= 1
    assert not diff[~near_integer].any(), f"{np.count_nonzero(diff[~near_integer])} values off"


def random_case(seed: int, grid_shape: tuple[int, int], size: tuple[int, int], classes: int = 6):
    """Blobby random grid, random colours with per-class alphas (0 and 255 included), random image."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, classes, (max(1, grid_shape[0] // 2), max(1, grid_shape[1] // 2)), dtype=np.uint8)
    grid = cv2.resize(coarse, grid_shape[::-1], interpolation=cv2.INTER_NEAREST)
    grid[rng.random(grid.shape) < 0.15] = rng.integers(0, classes)  # some isolated cells
    colors = rng.integers(0, 256, (classes, 4)).astype(np.float32)
    colors[0, 3], colors[1, 3] = 0, 255
    image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return grid, colors, image


# (grid h, w) and output (width, height): divisible, not divisible, smaller than the grid, one row/column.
SHAPES = [((10, 18), (1280, 720)), ((7, 11), (97, 53)), ((5, 9), (6, 4)), ((1, 6), (40, 3)), ((6, 1), (5, 33))]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("grid_shape,size", SHAPES)
def test_point_overlay_is_exact(seed, grid_shape, size):
    """Each pixel is floor((A*c + (255-A)*x)/255) for the class of the cell segNet samples: exact integers."""
    grid, colors, image = random_case(seed, grid_shape, size)
    color = segnet_color(grid, colors, size[0], size[1], "point").astype(np.int64)  # integers
    want = (color[..., 3:] * color[..., :3] + (255 - color[..., 3:]) * image) // 255
    got = render.render_overlay(image, grid, colors, "point")
    assert got.dtype == np.uint8 and got.shape == image.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("grid_shape,size", SHAPES)
def test_point_mask_is_exact(seed, grid_shape, size):
    grid, colors, _ = random_case(seed, grid_shape, size)
    want = segnet_color(grid, colors, size[0], size[1], "point")[..., :3].astype(np.uint8)
    assert np.array_equal(render.render_mask(grid, colors, size, "point"), want)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("grid_shape,size", SHAPES)
def test_linear_overlay_matches_exact_emulation(seed, grid_shape, size):
    grid, colors, image = random_case(seed, grid_shape, size)
    exact = segnet_overlay(image, grid, colors, "linear", np.float64)
    assert_truncation_matches(render.render_overlay(image, grid, colors, "linear"), exact)
    float32 = segnet_overlay(image, grid, colors, "linear").astype(np.uint8)  # what segNet itself computes
    diff = render.render_overlay(image, grid, colors, "linear").astype(int) - float32
    assert np.abs(diff).max() <= 1


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("grid_shape,size", SHAPES)
def test_linear_mask_matches_exact_emulation(seed, grid_shape, size):
    grid, colors, _ = random_case(seed, grid_shape, size)
    exact = segnet_color(grid, colors, size[0], size[1], "linear", np.float64)[..., :3]
    assert_truncation_matches(render.render_mask(grid, colors, size, "linear"), exact)


def test_uniform_grid_linear_is_the_point_blend():
    """One class everywhere: every patch is constant, so linear and point agree exactly."""
    _, colors, image = random_case(4, (3, 3), (50, 30))
    grid = np.full((4, 5), 2, np.uint8)
    assert np.array_equal(render.render_overlay(image, grid, colors, "linear"),
                          render.render_overlay(image, grid, colors, "point"))


@pytest.mark.parametrize("mode", render.FILTER_MODES)
@pytest.mark.parametrize("seed,grid_shape,mask_sizes", [
    (5, (7, 11), ((97, 53),)),  # coarse grid: segNet-exact patch path
    (17, (40, 60), ((97, 53), (60, 40))),  # large grid (FINE below): resize path
])
def test_out_buffer_and_views_are_written_in_place(mode, seed, grid_shape, mask_sizes):
    grid, colors, image = random_case(seed, grid_shape, (97, 53))
    want = render.render_overlay(image, grid, colors, mode)
    canvas = np.full((60, 120, 3), 7, np.uint8)
    view = canvas[2:55, 10:107]
    assert render.render_overlay(image, grid, colors, mode, out=view) is view
    assert np.array_equal(canvas[2:55, 10:107], want)
    assert (canvas[:2] == 7).all() and (canvas[:, :10] == 7).all() and (canvas[:, 107:] == 7).all()
    for size in mask_sizes:
        mask = np.zeros((size[1], size[0], 3), np.uint8)
        assert render.render_mask(grid, colors, size, mode, out=mask) is mask
        assert np.array_equal(mask, render.render_mask(grid, colors, size, mode))


def test_out_buffer_is_checked():
    grid, colors, image = random_case(6, (3, 4), (20, 10))
    with pytest.raises(ValueError, match="out"):
        render.render_overlay(image, grid, colors, out=np.zeros((10, 21, 3), np.uint8))
    with pytest.raises(ValueError, match="out"):
        render.render_overlay(image, grid, colors, out=np.zeros((10, 20, 3), np.float32))
    with pytest.raises(ValueError, match="out"):
        render.render_mask(grid, colors, (20, 10), out=np.zeros((10, 20, 6), np.uint8)[..., ::2])
    with pytest.raises(ValueError, match="overlap"):
        render.render_overlay(image, grid, colors, out=image)


def test_point_mask_at_grid_size_is_the_class_colour_image():
    """A class map as large as the output maps cell to pixel one to one (no repeated row or column)."""
    rng = np.random.default_rng(7)
    grid = rng.integers(0, 3, (360, 480), dtype=np.uint8)
    assert np.array_equal(render.render_mask(grid, COLORS, (480, 360), "point"), COLORS[:, :3].astype(np.uint8)[grid])


# --- fine class maps (more than MAX_PATCH_CELLS cells): lookup at grid resolution, cv2.resize, one blend ----------

FINE = (40, 60)  # 2400 cells: a small stand-in for ESPNet's 360x480, over the patch limit


def test_path_selection():
    assert render.uses_patches((10, 18), (1280, 720))  # FCN-ResNet18 DeepScene
    assert render.uses_patches((10, 18), (18, 10))  # coarse grids stay segNet-exact at every size
    assert not render.uses_patches((360, 480), (1280, 720))  # ESPNet
    assert not render.uses_patches((360, 480), (480, 360))
    assert not render.uses_patches(FINE, (97, 53))
    limit = render.MAX_PATCH_CELLS
    assert render.uses_patches((1, limit), (640, 480)) and not render.uses_patches((1, limit + 1), (640, 480))


def reference_color(grid: np.ndarray, values: np.ndarray, width: int, height: int, mode: str) -> np.ndarray:
    """(H,W,k) float64 per-pixel lookup of per-class ``values``, bilinear at pixel centres for ``linear``.

    ``linear`` samples at (x+0.5)*g/W - 0.5 clamped to the grid, the convention of cv2.resize, as the fine path
    documents; ``point`` takes cell x*g//W as segNet does.
    """
    values = values.astype(np.float64)
    if mode == "point":
        ys = np.arange(height) * grid.shape[0] // height
        xs = np.arange(width) * grid.shape[1] // width
        return values[grid[ys[:, None], xs[None, :]]]

    def axis(n_out: int, n_grid: int):
        pos = np.clip((np.arange(n_out) + 0.5) * n_grid / n_out - 0.5, 0, n_grid - 1)
        lo = np.floor(pos).astype(int)
        return lo, np.minimum(lo + 1, n_grid - 1), pos - lo

    y0, y1, fy = axis(height, grid.shape[0])
    x0, x1, fx = axis(width, grid.shape[1])
    fy, fx = fy[:, None, None], fx[None, :, None]
    y0, y1, x0, x1 = y0[:, None], y1[:, None], x0[None, :], x1[None, :]
    return ((1 - fy) * ((1 - fx) * values[grid[y0, x0]] + fx * values[grid[y0, x1]])
            + fy * ((1 - fx) * values[grid[y1, x0]] + fx * values[grid[y1, x1]]))


def reference_overlay(image: np.ndarray, grid: np.ndarray, colors: np.ndarray, mode: str) -> np.ndarray:
    """Premultiplied colour a*C/255 and image weight 1-a/255, each looked up (interpolated), then blended."""
    alpha = colors[:, 3:] / 255.0
    premultiplied = reference_color(grid, colors[:, :3] * alpha, image.shape[1], image.shape[0], mode)
    weight = reference_color(grid, 1.0 - alpha, image.shape[1], image.shape[0], mode)
    return premultiplied + weight * image


FINE_SIZES = [(150, 97), (60, 40), (37, 23)]  # upsampled (not a multiple), the grid's size, downsampled


@pytest.mark.parametrize("size", FINE_SIZES)
def test_fine_point_mask_is_exact(size):
    grid, colors, _ = random_case(11, FINE, size)
    want = segnet_color(grid, colors, size[0], size[1], "point")[..., :3].astype(np.uint8)
    assert np.array_equal(render.render_mask(grid, colors, size, "point"), want)


@pytest.mark.parametrize("size", FINE_SIZES)
def test_fine_linear_mask_matches_bilinear_reference(size):
    """OpenCV's bit-exact 8-bit bilinear resize uses weights in 1/256 steps and rounds: within one unit of exact."""
    grid, colors, _ = random_case(12, FINE, size)
    exact = reference_color(grid, colors[:, :3], size[0], size[1], "linear")
    diff = np.abs(render.render_mask(grid, colors, size, "linear") - exact)
    assert diff.max() <= 1.0
    assert diff.mean() <= 0.3


def test_fine_mask_at_grid_size_is_the_cell_colours_for_both_filters():
    grid, colors, _ = random_case(13, FINE, (60, 40))
    want = colors[:, :3].astype(np.uint8)[grid]
    for mode in render.FILTER_MODES:
        assert np.array_equal(render.render_mask(grid, colors, (60, 40), mode), want)


@pytest.mark.parametrize("mode", render.FILTER_MODES)
@pytest.mark.parametrize("size", FINE_SIZES)
def test_fine_overlay_matches_premultiplied_reference(mode, size):
    """8-bit premultiplied colour and weight: each lookup rounds (0.5), the product rounds (0.5).

    So point (and any filter at the grid's size) is within 1 of the exact blend; linear adds the 8-bit resize's
    error (within one unit, see the linear mask test) on the colour and on the weight (one unit of 255 on the
    product): within 3.
    """
    grid, colors, image = random_case(14, FINE, size)
    exact = reference_overlay(image, grid, colors, mode)
    diff = np.abs(render.render_overlay(image, grid, colors, mode) - exact)
    assert diff.max() <= (1.0 if mode == "point" or size == FINE[::-1] else 3.0)
    assert diff.mean() <= 0.5


@pytest.mark.parametrize("size", FINE_SIZES)
def test_fine_overlay_with_one_alpha_truncates_like_segnet(size):
    """One alpha for all classes: a single weighted add; point is segNet's exact integers."""
    grid, colors, image = random_case(15, FINE, size)
    colors[:, 3] = 150
    color = segnet_color(grid, colors, size[0], size[1], "point").astype(np.int64)
    want = (color[..., 3:] * color[..., :3] + (255 - color[..., 3:]) * image) // 255
    assert np.array_equal(render.render_overlay(image, grid, colors, "point"), want)
    exact = reference_overlay(image, grid, colors, "linear")  # colour resized and rounded, then truncated
    diff = render.render_overlay(image, grid, colors, "linear") - np.floor(exact)
    assert np.abs(diff).max() <= 1


@pytest.mark.parametrize("mode", render.FILTER_MODES)
def test_fine_alpha_zero_returns_image_and_255_returns_mask(mode):
    """Exact at both ends, with one alpha (weighted add) and with per-class alphas (premultiplied blend)."""
    grid, colors, image = random_case(16, FINE, (150, 97))
    grid %= 5  # class 5 unused: its alpha only makes the alphas per-class
    mask = render.render_mask(grid, colors, (150, 97), mode)
    for unused in (0, 10):
        clear = colors.copy()
        clear[:, 3] = [0, 0, 0, 0, 0, unused]
        assert np.array_equal(render.render_overlay(image, grid, clear, mode), image)
        opaque = colors.copy()
        opaque[:, 3] = [255, 255, 255, 255, 255, 255 - unused]
        assert np.array_equal(render.render_overlay(image, grid, opaque, mode), mask)




def test_fine_map_with_more_than_256_classes():
    rng = np.random.default_rng(18)
    colors = rng.integers(0, 256, (300, 4)).astype(np.float32)
    grid = rng.integers(0, 300, FINE, dtype=np.uint16)
    assert np.array_equal(render.render_mask(grid, colors, (60, 40), "point"), colors[:, :3].astype(np.uint8)[grid])
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    exact = reference_overlay(image, grid, colors, "point")
    assert np.abs(render.render_overlay(image, grid, colors, "point") - exact).max() <= 1
