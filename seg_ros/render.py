"""Visualisation of class maps the way jetson-inference's segNet draws them (Overlay / Mask / segnet.py composite).

segNet colours each output pixel from the coarse class grid: ``point`` takes the cell under the pixel,
``linear`` blends the four nearest cell colours (RGBA, alpha included) bilinearly, then the overlay
alpha-blends that colour over the image (``alpha/255``) and truncates to 8 bits. Here the grid is
coloured at grid resolution and only then resized to full size with OpenCV, so the per-pixel work is a
resize plus one or two saturating 8-bit passes instead of a per-class loop over the full frame.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

FILTER_MODES = ("point", "linear")
VISUALIZE_CHOICES = ("overlay", "mask", "overlay,mask")

# segNet stores float results into 8-bit pixels by truncation; rounding (OpenCV) after subtracting just
# under one half gives the same floor without turning exact integers (flat colour areas) into n-1.
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


def _grid_rgba(class_map: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """The (h,w,4) float32 RGBA colour of every grid cell (segNet's class colour lookup)."""
    class_map = np.asarray(class_map)
    if class_map.ndim != 2 or class_map.size == 0:
        raise ValueError(f"expected a non-empty (h,w) class map, got shape {class_map.shape}")
    colors = np.asarray(colors, dtype=np.float32)
    if colors.ndim != 2 or colors.shape[1] != 4:
        raise ValueError(f"expected (C,4) RGBA colours, got shape {colors.shape}")
    if int(class_map.max()) >= len(colors) or int(class_map.min()) < 0:
        raise ValueError(f"class map holds class {int(class_map.max())} but only {len(colors)} colours are given")
    return colors[class_map.astype(np.intp, copy=False)]


class _Workspace(threading.local):
    """Per-thread full-size scratch images: fresh multi-megabyte arrays page-fault on every frame."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
        key = (name, shape, np.dtype(dtype).str)
        buf = self.buffers.get(key)
        if buf is None:
            if len(self.buffers) > 16:  # many frame sizes: forget the old ones
                self.buffers.clear()
            buf = self.buffers[key] = np.empty(shape, dtype)
        return buf


_WORKSPACE = _Workspace()


# Linear filtering is rendered through an intermediate image sampled exactly with segNet's formula at
# OpenCV's own sample points, then resized: OpenCV samples at (x+0.5)*n/W-0.5 while segNet samples at
# x*g/W-0.5 (clamped), so resizing the bare grid would shift every colour ramp by half an output pixel.
# With _SUBDIVISIONS samples per cell the only difference left is a chord across each cell centre.
_SUBDIVISIONS = 16


def _segnet_weights(coords: np.ndarray, out_len: int, grid_len: int) -> np.ndarray:
    """(len(coords), grid_len) bilinear weights of segNet's linear filter at output coordinates ``coords``."""
    b = np.maximum(coords / out_len * grid_len - 0.5, 0.0)
    i1 = np.minimum(b.astype(np.intp), grid_len - 1)
    i2 = np.minimum(i1 + 1, grid_len - 1)
    frac = np.where(i2 > i1, b - i1, 0.0)
    weights = np.zeros((len(coords), grid_len))
    rows = np.arange(len(coords))
    weights[rows, i1] = 1.0 - frac
    weights[rows, i2] += frac
    return weights


@functools.lru_cache(maxsize=64)
def _linear_samples(grid_len: int, out_len: int) -> np.ndarray:
    """segNet weights at the output coordinates from which OpenCV's resize samples the intermediate image."""
    n = min(out_len, grid_len * _SUBDIVISIONS)
    coords = (np.arange(n) + 0.5) * (out_len / n) - 0.5
    weights = _segnet_weights(coords, out_len, grid_len)
    weights.setflags(write=False)
    return weights


def _intermediate(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """segNet's linear filter of the (h,w,C) cell values sampled on the intermediate grid, float64."""
    wy = _linear_samples(small.shape[0], size[1])
    wx = _linear_samples(small.shape[1], size[0])
    rows = (wy @ small.reshape(small.shape[0], -1)).reshape(len(wy), small.shape[1], small.shape[2])
    return (rows.transpose(0, 2, 1) @ wx.T).transpose(0, 2, 1)


def _field(small: np.ndarray, size: tuple[int, int], filter_mode: str, dst: np.ndarray) -> np.ndarray:
    """Per-cell values (h,w,C) → full-size (H,W,C) image filtered as segNet does, written into ``dst``."""
    if filter_mode == "point":
        # INTER_NEAREST takes cell floor(x*w/W): segNet's point filter.
        return cv2.resize(_as_dtype(small, dst.dtype), size, dst=dst, interpolation=cv2.INTER_NEAREST)
    inter = _intermediate(small.astype(np.float64), size)
    return cv2.resize(_as_dtype(inter, dst.dtype), size, dst=dst, interpolation=cv2.INTER_LINEAR)


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype) == np.uint8:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(values, dtype=dtype)


def render_mask(class_map: np.ndarray, colors: np.ndarray, size: tuple[int, int],
                filter_mode: str = "linear") -> np.ndarray:
    """Opaque class-colour image of ``size`` (width, height), as segNet's colourised Mask(); (H,W,3) uint8 RGB."""
    _check_filter(filter_mode)
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"mask size must be positive, got {size}")
    rgb = np.ascontiguousarray(_grid_rgba(class_map, colors)[..., :3])
    out = np.empty((height, width, 3), np.uint8)
    if filter_mode == "point":
        return _field(rgb.astype(np.uint8), (width, height), filter_mode, out)
    # Interpolated in float and truncated to 8 bits like segNet.
    full = _field(rgb, (width, height), filter_mode, _WORKSPACE.get("maskf", (height, width, 3), np.float32))
    np.copyto(out, full, casting="unsafe")  # float → uint8 truncates toward zero
    return out


def render_overlay(image_rgb: np.ndarray, class_map: np.ndarray, colors: np.ndarray,
                   filter_mode: str = "linear") -> np.ndarray:
    """Class colours alpha-blended over the image (each class's alpha from ``colors``), as segNet's Overlay()."""
    _check_filter(filter_mode)
    image_rgb = _check_image(image_rgb)
    height, width = image_rgb.shape[:2]
    rgba = _grid_rgba(class_map, colors)
    alpha = rgba[..., 3]
    out = np.empty_like(image_rgb)
    ws = _WORKSPACE
    if np.all(alpha == alpha.flat[0]):
        # One alpha for every cell: out = (1-a)*image + a*colour, a single weighted add.
        a = float(alpha.flat[0]) / 255.0
        color = _field(np.ascontiguousarray(rgba[..., :3]), (width, height), filter_mode,
                       ws.get("color", (height, width, 3)))
        return cv2.addWeighted(image_rgb, 1.0 - a, color, a, _TRUNCATE, dst=out)
    # Mixed alphas: image * (255-alpha)/255 plus the premultiplied colour alpha*colour/255.
    # segNet multiplies the interpolated colour by the interpolated alpha, so the premultiplied term is
    # formed per intermediate sample (exact there), not per grid cell.
    inv_full = _field(np.repeat(255.0 - alpha[..., None], 3, axis=2), (width, height), filter_mode,
                      ws.get("inv", (height, width, 3)))
    premul_full = _premultiplied(rgba, (width, height), filter_mode, ws.get("premul", (height, width, 3), np.float32))
    cv2.multiply(image_rgb, inv_full, dst=out, scale=1.0 / 255.0)
    cv2.add(out, premul_full, dst=out, dtype=cv2.CV_8U)
    return out


def _premultiplied(rgba: np.ndarray, size: tuple[int, int], filter_mode: str, dst: np.ndarray) -> np.ndarray:
    """Full-size interpolated colour × interpolated alpha / 255 (plus the truncation offset), float32."""
    if filter_mode == "point":
        small = rgba[..., :3] * (rgba[..., 3:] / 255.0) + _TRUNCATE
        return cv2.resize(small.astype(np.float32), size, dst=dst, interpolation=cv2.INTER_NEAREST)
    inter = _intermediate(rgba.astype(np.float64), size)
    small = inter[..., :3] * (inter[..., 3:] / 255.0) + _TRUNCATE
    return cv2.resize(small.astype(np.float32), size, dst=dst, interpolation=cv2.INTER_LINEAR)


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
    out = np.zeros((height, width + mask_w, 3), np.uint8)
    out[:, :width] = render_overlay(image_rgb, class_map, colors, filter_mode)
    if mask_w > 0 and mask_h > 0:
        out[:mask_h, width:] = render_mask(class_map, colors, (mask_w, mask_h), filter_mode)
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
