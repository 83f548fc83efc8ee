"""Visualisation of class maps the way jetson-inference's segNet draws them (Overlay / Mask / segnet.py composite).

segNet colours each output pixel from the coarse class grid: ``point`` takes the cell under the pixel,
``linear`` blends the four nearest cell colours (RGBA, alpha included) bilinearly, then the overlay
alpha-blends that colour over the image (``alpha/255``) and truncates to 8 bits.

Rendering works on patches rather than pixels. A patch is the pixel rectangle that sees the same grid
samples: a cell for ``point``, the area between four cell centres for ``linear``. Where all samples of a
patch hold one class (most of a natural scene), colour and alpha are constant, so the overlay is a single
weighted add of a constant colour; horizontal runs of such patches with one alpha share one OpenCV call
per row band. Only patches on class boundaries evaluate segNet's interpolated colour and alpha per pixel.
The output is written once, in place, and the patch geometry is computed once per (grid, image) size.

Fine class maps (a network that predicts at or near its input resolution, e.g. ESPNet's 480x360, or any
output as large as the grid) have too many patches for that to pay. They render at grid resolution instead:
a colour (and, for the overlay, premultiplied colour and image weight) lookup per cell, one ``cv2.resize``
to the output size (nearest for ``point``, bilinear for ``linear``) and one blend pass; see ``_fine_overlay``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

FILTER_MODES = ("point", "linear")

# segNet stores float results into 8-bit pixels by truncation; OpenCV rounds to nearest, so its weighted
# adds get this offset. Every exact blend value is a multiple of 1/255, whose fraction never reaches 0.999,
# so round(v - 0.499) == floor(v) for all of them, integers included.
_TRUNCATE = -0.499


def parse_visualize(text: str) -> tuple[bool, bool]:
    """``overlay`` | ``mask`` | ``overlay,mask`` (either order) → (overlay, mask)."""
    parts = [p.strip().lower() for p in str(text).split(",") if p.strip()]
    wanted = set(parts)
    if not parts or len(parts) != len(wanted) or not wanted <= {"overlay", "mask"}:
        raise ValueError(f"invalid visualize value {text!r}: expected 'overlay', 'mask' or 'overlay,mask'")
    return "overlay" in wanted, "mask" in wanted


def _check_filter(filter_mode: str) -> None:
    if filter_mode not in FILTER_MODES:
        raise ValueError(f"invalid filter mode {filter_mode!r}: expected one of {', '.join(FILTER_MODES)}")


def _check_grid(class_map: np.ndarray, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated (h,w) integer class map (dtype kept) and (C,4) float32 RGBA colours."""
    class_map = np.asarray(class_map)
    if class_map.ndim != 2 or class_map.size == 0:
        raise ValueError(f"expected a non-empty (h,w) class map, got shape {class_map.shape}")
    colors = np.asarray(colors, dtype=np.float32)
    if colors.ndim != 2 or colors.shape[1] != 4:
        raise ValueError(f"expected (C,4) RGBA colours, got shape {colors.shape}")
    if class_map.dtype.kind not in "ui":
        class_map = class_map.astype(np.intp)
    if int(class_map.max()) >= len(colors) or int(class_map.min()) < 0:
        raise ValueError(f"class map holds class {int(class_map.max())} but only {len(colors)} colours are given")
    return class_map, colors


class _Workspace(threading.local):
    """Per-thread scratch arrays: fresh multi-megabyte arrays page-fault on every frame."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: str, size: int, dtype=np.uint8) -> np.ndarray:
        """A flat scratch array of at least ``size`` elements (grown, never shrunk)."""
        key = (name, np.dtype(dtype).str)
        buf = self.buffers.get(key)
        if buf is None or buf.size < size:
            buf = self.buffers[key] = np.empty(size, dtype)
        return buf[:size]


_WORKSPACE = _Workspace()


@dataclass(frozen=True)
class _Axis:
    """segNet's sampling along one output axis: which grid samples each pixel blends, grouped into patches.

    Pixel ``x`` blends grid index ``lo[x]`` and ``hi[x]`` with weight ``frac[x]`` on ``hi``, as column ``x`` of
    ``spread`` (grid_len, out_len) does; ``powers`` holds ``[1, frac, frac**2]`` per pixel. Patch ``k``
    covers pixels ``starts[k]:starts[k+1]`` (possibly none), all sampling grid indices ``first[k]`` and
    ``second[k]``.
    """

    lo: np.ndarray
    hi: np.ndarray
    frac: np.ndarray
    spread: np.ndarray
    powers: np.ndarray
    starts: np.ndarray
    first: np.ndarray
    second: np.ndarray


@functools.lru_cache(maxsize=64)
def _axis(grid_len: int, out_len: int, filter_mode: str) -> _Axis:
    """Sample indices and weights of segNet's kernel: cell x*g/W (point), or x*g/W - 0.5 clamped (linear).

    Positions are exact here; segNet's float32 x/W*g lands just below an integer for a few x, repeating a
    column of cells, which the exact position does not copy.
    """
    if filter_mode == "point":
        lo = np.arange(out_len) * grid_len // out_len
        hi, frac = lo, np.zeros(out_len, np.float32)
    else:
        pos = np.maximum(np.arange(out_len) * grid_len / out_len - 0.5, 0.0)
        lo = np.minimum(pos.astype(np.intp), grid_len - 1)
        hi = np.minimum(lo + 1, grid_len - 1)
        frac = np.where(hi > lo, pos - lo, 0.0).astype(np.float32)
    first = np.arange(grid_len)
    second = first if filter_mode == "point" else np.minimum(first + 1, grid_len - 1)
    starts = np.searchsorted(lo, np.arange(grid_len + 1), side="left")
    spread = np.zeros((grid_len, out_len), np.float32)
    spread[lo, np.arange(out_len)] = np.float32(1.0) - frac
    spread[hi, np.arange(out_len)] += frac
    powers = np.stack((np.ones_like(frac), frac, frac * frac), axis=1)
    axis = _Axis(lo, hi, frac, spread, powers, starts, first, second)
    for array in (lo, hi, frac, spread, powers, starts, first, second):
        array.setflags(write=False)
    return axis


@dataclass(frozen=True)
class _Patches:
    """The patch layout of one frame: which patches are constant, and the grid rows that bound each row band."""

    ys: _Axis
    xs: _Axis
    uniform: np.ndarray  # (bands, cols) bool: all samples of the patch hold one class
    classes: np.ndarray  # (bands, cols) class of the patch's first sample
    upper: np.ndarray  # (bands, w) classes of the grid row above each band's pixels (segNet's y1)
    lower: np.ndarray  # (bands, w) and below (y2)

    def same(self, values: np.ndarray) -> np.ndarray:
        """(bands, cols) bool: all four grid samples of the patch have the same per-class value."""
        return _same_samples(values[self.upper], values[self.lower], self.xs)

    def along_x(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-class ``values`` (C,k) on the band's upper grid row, interpolated along x, and lower minus upper.

        Both planar, (k, bands, W), so the later per-channel arithmetic runs on contiguous rows.
        """
        upper = values[self.upper]
        rows = np.stack((upper, values[self.lower] - upper)).transpose(0, 3, 1, 2)  # (2, k, bands, w)
        rows = np.ascontiguousarray(rows).reshape(-1, rows.shape[-1])
        planes = _matmul(rows, self.xs.spread, np.empty((len(rows), self.xs.spread.shape[1]), np.float32))
        planes = planes.reshape(2, values.shape[1], len(upper), -1)
        return planes[0], planes[1]


def _patches(class_map: np.ndarray, size: tuple[int, int], filter_mode: str) -> _Patches:
    class_map = class_map.astype(np.intp, copy=False)
    height_grid, width_grid = class_map.shape
    ys = _axis(height_grid, size[1], filter_mode)
    xs = _axis(width_grid, size[0], filter_mode)
    upper, lower = class_map[ys.first], class_map[ys.second]
    return _Patches(ys, xs, _same_samples(upper, lower, xs), upper[:, xs.first], upper, lower)


def _same_samples(upper: np.ndarray, lower: np.ndarray, xs: _Axis) -> np.ndarray:
    """(bands, cols) bool: a patch's four samples (upper/lower row, first/second column) are equal."""
    value = upper[:, xs.first]
    return (value == upper[:, xs.second]) & (value == lower[:, xs.first]) & (value == lower[:, xs.second])


def _runs(keys: np.ndarray, starts: np.ndarray) -> list[list[tuple[int, int, float]]]:
    """Per band, neighbouring patches with equal keys merged: [(x0, x1, key)] in pixels, empty patches skipped."""
    bounds = starts.tolist()
    keep = [k for k in range(len(bounds) - 1) if bounds[k + 1] > bounds[k]]
    bands = []
    for row in keys.tolist():
        runs: list[tuple[int, int, float]] = []
        for k in keep:
            if runs and runs[-1][2] == row[k]:
                runs[-1] = (runs[-1][0], bounds[k + 1], row[k])
            else:
                runs.append((bounds[k], bounds[k + 1], row[k]))
        bands.append(runs)
    return bands


def _band_colors(patches: _Patches, rgb: np.ndarray) -> np.ndarray:
    """(bands, W, 3) uint8: each uniform patch's colour, repeated over its pixel columns."""
    return np.repeat(rgb[patches.classes], np.diff(patches.xs.starts), axis=1)


# Run keys: a uniform run's key is its alpha; boundary runs with one alpha get _FLAT + alpha, others _MIXED.
_MIXED = -1.0
_FLAT = 1000.0


def _check_out(out: np.ndarray | None, height: int, width: int) -> np.ndarray:
    if out is None:
        return np.empty((height, width, 3), np.uint8)
    if out.shape != (height, width, 3) or out.dtype != np.uint8 or out.strides[1:] != (3, 1):
        raise ValueError(f"out must be an ({height},{width},3) uint8 array with contiguous pixels, "
                         f"got {out.dtype} {out.shape} strides {out.strides}")
    return out


def render_mask(class_map: np.ndarray, colors: np.ndarray, size: tuple[int, int],
                filter_mode: str = "linear", out: np.ndarray | None = None) -> np.ndarray:
    """Opaque class-colour image of ``size`` (width, height), as segNet's colourised Mask(); (H,W,3) uint8 RGB.

    ``out`` optionally receives the image (an (H,W,3) uint8 array or view), saving an allocation per frame.
    """
    _check_filter(filter_mode)
    class_map, colors = _check_grid(class_map, colors)
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"mask size must be positive, got {size}")
    out = _check_out(out, height, width)
    if not uses_patches(class_map.shape, (width, height)):
        return _fine_mask(class_map, colors, filter_mode, out)
    patches = _patches(class_map, (width, height), filter_mode)
    rows = _band_colors(patches, np.clip(colors[:, :3], 0, 255).astype(np.uint8))
    coefs = None if patches.uniform.all() else _mask_coefs(patches, colors)
    bounds = patches.ys.starts.tolist()
    for band, runs in enumerate(_runs(np.where(patches.uniform, 0.0, _MIXED), patches.xs.starts)):
        y0, y1 = bounds[band], bounds[band + 1]
        if y1 <= y0:
            continue
        out[y0:y1] = rows[band]
        for x0, x1, key in runs:
            if key == _MIXED:
                _mixed_mask(patches, coefs, band, y0, y1, x0, x1, out)
    return out


# Rows per matrix product are capped so that OpenBLAS keeps each one on the calling thread: its thread pool
# costs milliseconds per call when the cores are busy, and these products are small.
_BLAS_SINGLE_THREAD = 65536 * 4


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a @ b`` into ``out``, in row blocks small enough for OpenBLAS to stay on this thread."""
    step = max(1, _BLAS_SINGLE_THREAD // (b.shape[0] * b.shape[1]))
    for r in range(0, len(a), step):
        np.matmul(a[r:r + step], b, out=out[r:r + step])
    return out


def _field(powers: np.ndarray, coefs: np.ndarray, x0: int, x1: int, name: str) -> np.ndarray:
    """(rows, (x1-x0)*3) float32 polynomial in the band's vertical weight: ``powers @ coefs`` on columns x0:x1."""
    coefs = coefs[:, 3 * x0:3 * x1]
    dst = _WORKSPACE.get(name, len(powers) * coefs.shape[1], np.float32).reshape(len(powers), coefs.shape[1])
    return _matmul(powers, coefs, dst)


def _interleave(planes: Sequence[np.ndarray], dst: np.ndarray) -> None:
    """Planar (3, bands, W) coefficients into the image's interleaved RGB layout, ``dst`` (bands, W, 3)."""
    cv2.merge(list(planes), dst=dst)


def _mask_coefs(patches: _Patches, colors: np.ndarray) -> np.ndarray:
    """(bands, 2, W*3): colour = c0 + fy*dc on every pixel column of each band."""
    c0, dc = patches.along_x(colors[:, :3])
    coefs = np.empty((c0.shape[1], 2, c0.shape[2], 3), np.float32)
    for j, planes in enumerate((c0, dc)):
        _interleave(planes, coefs[:, j])
    return coefs.reshape(len(coefs), 2, -1)


def _mixed_mask(patches: _Patches, coefs: np.ndarray, band: int, y0: int, y1: int, x0: int, x1: int,
                out: np.ndarray) -> None:
    """segNet's interpolated colour (truncated) on a run of patches whose samples hold different classes."""
    field = _field(patches.ys.powers[y0:y1, :2], coefs[band], x0, x1, "field")
    np.copyto(out[y0:y1, x0:x1].reshape(y1 - y0, -1), field, casting="unsafe")  # truncates


def render_overlay(image_rgb: np.ndarray, class_map: np.ndarray, colors: np.ndarray,
                   filter_mode: str = "linear", out: np.ndarray | None = None) -> np.ndarray:
    """Class colours alpha-blended over the image (each class's alpha from ``colors``), as segNet's Overlay().

    ``out`` optionally receives the image (an (H,W,3) uint8 array or view, not the input), saving an allocation.
    """
    _check_filter(filter_mode)
    image_rgb = _check_image(image_rgb)
    class_map, colors = _check_grid(class_map, colors)
    height, width = image_rgb.shape[:2]
    out = _check_out(out, height, width)
    if np.shares_memory(out, image_rgb):
        raise ValueError("out must not overlap the input image")
    if not uses_patches(class_map.shape, (width, height)):
        return _fine_overlay(image_rgb, class_map, colors, filter_mode, out)
    patches = _patches(class_map, (width, height), filter_mode)
    rows = _band_colors(patches, np.clip(colors[:, :3], 0, 255).astype(np.uint8))
    alpha = np.clip(colors[:, 3], 0, 255)
    keys = alpha[patches.classes]
    coefs = None
    if not patches.uniform.all():
        coefs = _overlay_coefs(patches, colors)
        keys = np.where(patches.uniform, keys, np.where(patches.same(alpha), _FLAT + keys, _MIXED))
    bounds = patches.ys.starts.tolist()
    for band, runs in enumerate(_runs(keys, patches.xs.starts)):
        y0, y1 = bounds[band], bounds[band + 1]
        if y1 <= y0:
            continue
        if any(key < _FLAT for _, _, key in runs):
            # The band's constant colours, one row repeated, as the second operand of the weighted adds.
            color = _WORKSPACE.get("band", (y1 - y0) * width * 3).reshape(y1 - y0, width, 3)
            color[:] = rows[band]
        for x0, x1, key in runs:
            if key == _MIXED:
                _mixed_overlay(patches, coefs, band, y0, y1, x0, x1, image_rgb, out)
            elif key >= _FLAT:
                _flat_overlay(patches, coefs, band, y0, y1, x0, x1, key - _FLAT, image_rgb, out)
            else:
                a = key / 255.0
                cv2.addWeighted(image_rgb[y0:y1, x0:x1], 1.0 - a, color[:, x0:x1], a, _TRUNCATE,
                                dst=out[y0:y1, x0:x1])
    return out


def _overlay_coefs(patches: _Patches, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per band, the coefficients of the blend on every pixel column.

    Premultiplied colour a*C/255 (bands, 3, W*3), image weight 1-a/255 (bands, 2, W*3), colour C (bands, 2, W*3).
    Along a band a = a0 + fy*da and C = c0 + fy*dc, so a*C/255 is quadratic and 1-a/255 linear in fy.
    """
    values = np.concatenate((colors[:, :3], colors[:, 3:] / np.float32(255.0)), axis=1)
    top, delta = patches.along_x(values)
    c0, dc, a0, da = top[:3], delta[:3], top[3], delta[3]
    bands, width = a0.shape
    color = np.empty((bands, 3, width, 3), np.float32)
    for j, planes in enumerate((a0 * c0, a0 * dc + da * c0, da * dc)):
        _interleave(planes, color[:, j])
    weight = np.empty((bands, 2, width, 3), np.float32)
    for j, plane in enumerate((np.float32(1.0) - a0, -da)):
        _interleave((plane, plane, plane), weight[:, j])
    plain = np.empty((bands, 2, width, 3), np.float32)
    for j, planes in enumerate((c0, dc)):
        _interleave(planes, plain[:, j])
    return color.reshape(bands, 3, -1), weight.reshape(bands, 2, -1), plain.reshape(bands, 2, -1)


def _mixed_overlay(patches: _Patches, coefs: tuple[np.ndarray, ...], band: int, y0: int, y1: int,
                   x0: int, x1: int, image_rgb: np.ndarray, out: np.ndarray) -> None:
    """segNet's blend with per-pixel interpolated colour C and alpha a: floor(a/255*C + (1-a/255)*image)."""
    powers = patches.ys.powers[y0:y1]
    color = _field(powers, coefs[0][band], x0, x1, "color")
    weight = _field(powers[:, :2], coefs[1][band], x0, x1, "weight")
    image = _WORKSPACE.get("image", color.size, np.float32).reshape(color.shape)
    np.copyto(image, image_rgb[y0:y1, x0:x1].reshape(y1 - y0, -1))
    cv2.accumulateProduct(image, weight, color)  # color += image * weight
    np.copyto(out[y0:y1, x0:x1].reshape(y1 - y0, -1), color, casting="unsafe")  # truncates like segNet


def _flat_overlay(patches: _Patches, coefs: tuple[np.ndarray, ...], band: int, y0: int, y1: int,
                  x0: int, x1: int, alpha: float, image_rgb: np.ndarray, out: np.ndarray) -> None:
    """Boundary patches whose classes share one alpha: only the colour varies, the image weight is constant."""
    color = _field(patches.ys.powers[y0:y1, :2], coefs[2][band], x0, x1, "color")
    image = image_rgb[y0:y1, x0:x1].reshape(y1 - y0, -1)
    cv2.accumulateWeighted(image, color, 1.0 - alpha / 255.0)  # color = a/255*color + (1-a/255)*image
    np.copyto(out[y0:y1, x0:x1].reshape(y1 - y0, -1), color, casting="unsafe")  # truncates like segNet


# Above this many grid cells the patch renderer's per-patch work outweighs per-pixel passes over the output:
# fine class maps render by lookup at grid resolution and one resize. Linear patches cost ~5 ms for 18x10 -> 720p,
# ~13 ms for 36x20 and ~27 ms for 64x32, against ~5 ms for the resize path at any grid size (2-core x86).
MAX_PATCH_CELLS = 1024


def uses_patches(grid_shape: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether a (h, w) class map renders to ``size`` (width, height) by segNet-exact patches.

    True for coarse grids, at any output size. Fine grids (more than ``MAX_PATCH_CELLS`` cells) use lookup at
    grid resolution and a ``cv2.resize`` instead (no resize when the output is the grid's size).
    """
    del size  # one rule for every output size: coarse grids stay segNet-exact, even drawn cell for pixel
    return int(grid_shape[0]) * int(grid_shape[1]) <= MAX_PATCH_CELLS


_INTERPOLATION = {"point": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR}


def _lookup(class_map: np.ndarray, table: np.ndarray, name: str, out: np.ndarray | None = None) -> np.ndarray:
    """(h,w,3) uint8 image ``table[class_map]`` for a (C,3) uint8 table, into ``out`` or a per-thread scratch array.

    Class ids that fit 8 bits go through one single-channel ``cv2.LUT`` per distinct table column and a merge
    (several times faster than numpy's fancy indexing); others index.
    """
    height, width = class_map.shape
    image = _WORKSPACE.get(name, height * width * 3).reshape(height, width, 3) if out is None else out
    if len(table) > 256:
        return np.take(table, class_map, axis=0, out=image)
    classes = np.ascontiguousarray(class_map, dtype=np.uint8)  # ids < len(table) <= 256
    lut = np.zeros((3, 256), np.uint8)
    lut[:, :len(table)] = table.T
    planes = [_WORKSPACE.get(f"{name}{c}", height * width).reshape(height, width) for c in range(3)]
    for c in range(3):
        if c and np.array_equal(lut[c], lut[0]):
            planes[c] = planes[0]
        else:
            cv2.LUT(classes, lut[c], dst=planes[c])
    return cv2.merge(planes, dst=image)


def _resized(grid_image: np.ndarray, size: tuple[int, int], filter_mode: str, name: str,
             out: np.ndarray | None = None) -> np.ndarray:
    """``grid_image`` at ``size`` (width, height), into ``out`` or a scratch array; the same array at grid size."""
    height, width = grid_image.shape[:2]
    if (width, height) == size:
        if out is None:
            return grid_image
        np.copyto(out, grid_image)
        return out
    if out is None:
        out = _WORKSPACE.get(name, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    return cv2.resize(grid_image, size, dst=out, interpolation=_INTERPOLATION[filter_mode])


def _fine_mask(class_map: np.ndarray, colors: np.ndarray, filter_mode: str, out: np.ndarray) -> np.ndarray:
    """Mask of a fine class map: cell colours at grid resolution, resized (exact cell colours at grid size)."""
    table = np.clip(colors[:, :3], 0, 255).astype(np.uint8)
    if out.shape[:2] == class_map.shape:
        return _lookup(class_map, table, "color", out=out)
    return _resized(_lookup(class_map, table, "color"), (out.shape[1], out.shape[0]), filter_mode, "", out=out)


def _fine_overlay(image_rgb: np.ndarray, class_map: np.ndarray, colors: np.ndarray, filter_mode: str,
                  out: np.ndarray) -> np.ndarray:
    """Overlay of a fine class map: 8-bit lookups at grid resolution, resized, then one blend over the image.

    With one alpha ``a`` for all classes the blend is segNet's ``a/255*C + (1-a/255)*image``, truncated, over
    the resized colours. With per-class alphas it is ``P + W*image/255`` with the premultiplied colour
    ``P = a*C/255`` and image weight ``W = 255-a`` resized separately (rounded to 8 bits, so at most a unit or
    two from the exact value). Where classes of different alphas meet, ``linear`` therefore interpolates
    premultiplied colour, where segNet interpolates colour and alpha apart; the two differ only within the
    output pixels between two cell centres, a pixel or two wide at these resolutions.

    ``linear`` samples as ``cv2.resize`` does, at pixel centres ``(x+0.5)*g/W - 0.5``, not segNet's
    ``x*g/W - 0.5``: a shift of half an output pixel, and exact cell colours when the output is the grid's
    size (segNet's positions would blend each pixel half with its left and upper neighbour there).
    """
    size = (out.shape[1], out.shape[0])
    rgb = np.clip(colors[:, :3], 0, 255)
    alpha = np.clip(colors[:, 3], 0, 255)
    if np.all(alpha == alpha[0]):
        color = _lookup(class_map, rgb.astype(np.uint8), "color")
        color = _resized(color, size, filter_mode, "color_full")
        a = float(alpha[0]) / 255.0
        cv2.addWeighted(image_rgb, 1.0 - a, color, a, _TRUNCATE, dst=out)
        return out
    premultiplied = np.rint(rgb * alpha[:, None] / 255.0).astype(np.uint8)
    weight = np.repeat(np.rint(255.0 - alpha).astype(np.uint8)[:, None], 3, axis=1)
    premultiplied, weight = _lookup(class_map, premultiplied, "color"), _lookup(class_map, weight, "weight")
    premultiplied = _resized(premultiplied, size, filter_mode, "color_full")
    weight = _resized(weight, size, filter_mode, "weight_full")
    shaded = _WORKSPACE.get("shaded", out.size).reshape(out.shape)
    cv2.multiply(image_rgb, weight, dst=shaded, scale=1.0 / 255.0)  # rounds
    cv2.add(shaded, premultiplied, dst=out)  # saturates
    return out


def _check_image(image_rgb: np.ndarray) -> np.ndarray:
    image_rgb = np.asarray(image_rgb)
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H,W,3) uint8 RGB image, got {image_rgb.dtype} {image_rgb.shape}")
    return np.ascontiguousarray(image_rgb)


def render_composite(image_rgb: np.ndarray, class_map: np.ndarray, colors: np.ndarray,
                     visualize: str = "overlay,mask", filter_mode: str = "linear") -> np.ndarray:
    """segnet.py's output image: the overlay, the mask, or both side by side (mask at half size, top right)."""
    want_overlay, want_mask = parse_visualize(visualize)
    image_rgb = _check_image(image_rgb)
    height, width = image_rgb.shape[:2]
    if not want_mask:
        return render_overlay(image_rgb, class_map, colors, filter_mode)
    if not want_overlay:
        return render_mask(class_map, colors, (width, height), filter_mode)
    mask_w, mask_h = width // 2, height // 2
    out = np.empty((height, width + mask_w, 3), np.uint8)
    render_overlay(image_rgb, class_map, colors, filter_mode, out=out[:, :width])
    out[mask_h:, width:] = 0
    if mask_w > 0 and mask_h > 0:
        render_mask(class_map, colors, (mask_w, mask_h), filter_mode, out=out[:mask_h, width:])
    return out


def render_legend(class_names: Sequence[str], colors: np.ndarray, row_height: int = 24, width: int = 240) -> np.ndarray:
    """RGB legend: one row per class with an opaque colour swatch and the class name (white background)."""
    colors = np.asarray(colors, dtype=np.float32)
    if len(colors) < len(class_names):
        raise ValueError(f"{len(colors)} colours for {len(class_names)} classes")
    legend = np.full((max(1, len(class_names)) * row_height, width, 3), 255, np.uint8)
    pad, scale = 3, row_height / 40.0
    for i, name in enumerate(class_names):
        top = i * row_height
        swatch = tuple(int(v) for v in np.clip(colors[i, :3], 0, 255))
        cv2.rectangle(legend, (pad, top + pad), (row_height * 2, top + row_height - pad), swatch, cv2.FILLED)
        cv2.rectangle(legend, (pad, top + pad), (row_height * 2, top + row_height - pad), (0, 0, 0), 1)
        cv2.putText(legend, f"{i:>2d} {name}", (row_height * 2 + 2 * pad, top + int(row_height * 0.7)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return legend


@dataclass(frozen=True)
class ClassStat:
    """How much of the class grid one class covers (segnet.py --stats)."""

    class_id: int
    name: str
    pixels: int
    fraction: float


def class_statistics(class_map: np.ndarray, class_names: Sequence[str]) -> list[ClassStat]:
    """Cell count and fraction of the grid for every class (absent classes included, with zero)."""
    class_map = np.asarray(class_map)
    if class_map.ndim != 2 or class_map.size == 0:
        raise ValueError(f"expected a non-empty (h,w) class map, got shape {class_map.shape}")
    counts = np.bincount(class_map.ravel().astype(np.intp), minlength=len(class_names))
    if len(counts) > len(class_names):
        raise ValueError(f"class map holds class {len(counts) - 1} but only {len(class_names)} classes are named")
    total = class_map.size
    return [ClassStat(i, name, int(counts[i]), float(counts[i]) / total) for i, name in enumerate(class_names)]


def format_statistics(stats: list[ClassStat]) -> str:
    """A table like segnet.py's --stats output: ID, class name, count, fraction."""
    rule = "-" * 41
    lines = [rule, " ID  class name        count     %", rule]
    lines += [f" {s.class_id:>2d}  {s.name:<18s} {s.pixels:>3d}   {s.fraction:f}" for s in stats]
    return "\n".join(lines)
