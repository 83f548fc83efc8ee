"""sensor_msgs/Image and CompressedImage ⇄ numpy, without cv_bridge (the only place that does this).

The PyPI ``cv-bridge`` is a ROS 1 port that misreads 16-bit images and breaks with newer numpy, and the
ROS 2 one is not installable from PyPI. Raw images are read with ``np.ndarray(buffer=..., strides=...)``,
which honours ``step`` (row padding) and ``is_bigendian`` and is a zero-copy view for packed rgb8.
Colour conversions (YUV 4:2:2, Bayer) use OpenCV. Nothing here imports rclpy: messages are duck-typed.
"""

from __future__ import annotations

import array
import math
from typing import Any, NamedTuple

import cv2
import numpy as np

from seg_ros.errors import ImageConversionError


class _Layout(NamedTuple):
    channels: int  # values per pixel as stored (2 for YUV 4:2:2: one luma + one shared chroma byte)
    bytes_per_value: int
    cv_code: int | None  # cv2.cvtColor code to RGB; None = already RGB (or channel drop / mono16 path)


# OpenCV names Bayer patterns after the 2x2 block starting at the *second* row and column, so the
# ROS (and sensor datasheet) pattern RGGB is OpenCV's "BG". The test checks this on a synthetic mosaic.
_LAYOUTS: dict[str, _Layout] = {
    "rgb8": _Layout(3, 1, None),
    "bgr8": _Layout(3, 1, cv2.COLOR_BGR2RGB),
    "8uc3": _Layout(3, 1, cv2.COLOR_BGR2RGB),
    "rgba8": _Layout(4, 1, cv2.COLOR_RGBA2RGB),
    "bgra8": _Layout(4, 1, cv2.COLOR_BGRA2RGB),
    "mono8": _Layout(1, 1, cv2.COLOR_GRAY2RGB),
    "8uc1": _Layout(1, 1, cv2.COLOR_GRAY2RGB),
    "mono16": _Layout(1, 2, None),
    "16uc1": _Layout(1, 2, None),
    "yuv422": _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2),
    "bayer_rggb8": _Layout(1, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": _Layout(1, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": _Layout(1, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": _Layout(1, 1, cv2.COLOR_BayerGB2RGB),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = (
    "rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3", "mono16", "16UC1",
    "yuv422", "yuv422_yuy2", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8",
)  # fmt: skip

# Encodings rgb_to_image_fields can write, with their channel count.
_OUTPUT_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}

# Automatic mono16 range: these percentiles of a ~65k-pixel subsample (robust to hot/dead pixels).
_AUTO_PERCENTILES = (0.5, 99.5)
_AUTO_SAMPLES = 65536


def image_to_rgb(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool | int,
    data: Any,
    mono16_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Raw image fields → (H, W, 3) uint8 RGB, C-contiguous.

    ``data`` is any buffer (bytes, bytearray, memoryview, ``array.array('B')`` as rclpy gives) or a
    sequence of ints. Packed rgb8 is returned as a view on ``data`` (no copy; read-only if ``data``
    is bytes), every other case as one new array. 16-bit images are scaled linearly from
    ``mono16_range`` (lo → 0, hi → 255) or, when None, from robust per-frame percentiles.
    """
    key = str(encoding).strip().lower()
    layout = _LAYOUTS.get(key)
    if layout is None:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"{encoding} image has zero size ({width}x{height})")
    pixel_bytes = layout.channels * layout.bytes_per_value
    if step < width * pixel_bytes:
        raise ImageConversionError(
            f"{encoding} image step {step} is smaller than width {width} x {pixel_bytes} bytes per pixel"
        )
    if layout.channels == 2 and width % 2:
        raise ImageConversionError(f"{encoding} (YUV 4:2:2) image needs an even width, got {width}")
    buf = _as_byte_buffer(data)
    if buf.size < step * height:
        raise ImageConversionError(
            f"{encoding} image {width}x{height} with step {step} needs {step * height} bytes, got {buf.size}"
        )

    if layout.bytes_per_value == 2:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        values = np.ndarray((height, width), dtype, buffer=buf, strides=(step, 2))
        grey = _scale_to_8bit(values.astype(np.uint16, copy=False), mono16_range)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)

    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    strides = (step, 1) if layout.channels == 1 else (step, layout.channels, 1)
    pixels = np.ndarray(shape, np.uint8, buffer=buf, strides=strides)
    if layout.cv_code is None:  # rgb8
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, layout.cv_code)


def image_msg_to_rgb(msg: Any, mono16_range: tuple[float, float] | None = None) -> np.ndarray:
    """A sensor_msgs/Image (or anything with its fields) → (H, W, 3) uint8 RGB; see image_to_rgb."""
    return image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, mono16_range)


def compressed_to_rgb(fmt: str, data: Any) -> np.ndarray:
    """A sensor_msgs/CompressedImage (``format``, ``data``) → (H, W, 3) uint8 RGB.

    ``fmt`` is e.g. ``"jpeg"``, ``"png"`` or image_transport's ``"rgb8; jpeg compressed bgr8"``. The
    compressed stream holds true colours whatever the original encoding (image_transport encodes from
    bgr8), so OpenCV's BGR decode is simply flipped. compressedDepth streams are not images to segment.
    """
    lowered = str(fmt).lower()
    if "compresseddepth" in lowered:
        raise ImageConversionError(f"compressedDepth images are not supported (format {fmt!r})")
    if lowered.strip() and not any(name in lowered for name in ("jpeg", "jpg", "png")):
        raise ImageConversionError(f"unsupported compressed image format {fmt!r}; expected jpeg or png")
    buf = _as_byte_buffer(data)
    if buf.size == 0:
        raise ImageConversionError(f"compressed image ({fmt!r}) has no data")
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageConversionError(f"cannot decode compressed image ({fmt!r}): {exc}") from exc
    if bgr is None:
        raise ImageConversionError(f"cannot decode compressed image ({fmt!r}, {buf.size} bytes): corrupt or truncated")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_image_fields(array_: np.ndarray, encoding: str) -> tuple[int, int, int, bytes | memoryview]:
    """(height, width, step, data) of a packed image in ``encoding`` (rgb8, bgr8 or mono8).

    rgb8 expects an (H, W, 3) RGB array, bgr8 the same RGB array (swapped here), mono8 an (H, W) or
    (H, W, 1) array such as a class-id mask. All uint8. ``data`` is a zero-copy memoryview when the
    array is already packed, else bytes.
    """
    key = str(encoding).strip().lower()
    channels = _OUTPUT_CHANNELS.get(key)
    if channels is None:
        raise ImageConversionError(f"cannot write encoding {encoding!r}; supported: {', '.join(_OUTPUT_CHANNELS)}")
    arr = np.asarray(array_)
    if arr.dtype != np.uint8:
        raise ImageConversionError(f"{encoding} output needs a uint8 array, got {arr.dtype}")
    if channels == 1 and arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    expected_ndim = 2 if channels == 1 else 3
    if arr.ndim != expected_ndim or (channels == 3 and arr.shape[2] != 3):
        want = "(H, W)" if channels == 1 else "(H, W, 3)"
        raise ImageConversionError(f"{encoding} output needs a {want} array, got shape {arr.shape}")
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise ImageConversionError(f"cannot write a zero-size image ({width}x{height})")
    if key == "bgr8":
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if arr.flags.c_contiguous:
        data: bytes | memoryview = memoryview(arr).cast("B")
    else:
        data = arr.tobytes()
    return height, width, width * channels, data


def fill_image_msg(msg: Any, array_: np.ndarray, encoding: str) -> None:
    """Set a sensor_msgs/Image's height, width, step, encoding, is_bigendian=0 and data from an array.

    ``data`` is built as one ``array.array('B')`` copy (0.27 ms at 720p). The generated setter would
    copy that again (or walk every byte when given bytes with field checks on), so for rosidl
    messages the array is stored in their ``_data`` slot directly — the same object the checked
    setter itself stores for an ``array.array('B')``.
    """
    height, width, step, data = rgb_to_image_fields(array_, encoding)
    payload = array.array("B")
    payload.frombytes(data)
    msg.height, msg.width, msg.step = height, width, step
    msg.encoding = str(encoding).strip().lower()
    msg.is_bigendian = 0
    if "_data" in getattr(type(msg), "__slots__", ()):
        msg._data = payload
    else:
        msg.data = payload


def _as_byte_buffer(data: Any) -> np.ndarray:
    """Any buffer or int sequence → 1-D uint8 array (a view when ``data`` supports the buffer protocol)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        view = memoryview(data)
    except TypeError:
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageConversionError(f"image data of type {type(data).__name__} is not a byte buffer: {exc}") from exc
    if not view.c_contiguous:
        raise ImageConversionError("image data buffer is not contiguous")
    return np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B" else view, np.uint8)


def _scale_to_8bit(values: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """uint16 (H, W) → uint8: linear map of [lo, hi] onto [0, 255], clipped, rounded to nearest."""
    if value_range is None:
        stride = max(1, math.ceil(math.sqrt(values.size / _AUTO_SAMPLES)))
        sample = values[::stride, ::stride].flatten()  # always a copy: partitioned in place below
        ranks = [round(p / 100.0 * (sample.size - 1)) for p in _AUTO_PERCENTILES]
        sample.partition(ranks)
        lo, hi = float(sample[ranks[0]]), float(sample[ranks[1]])
        hi = max(hi, lo + 1.0)  # a flat frame maps to black rather than dividing by zero
    else:
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError) as exc:
            raise ImageConversionError(f"mono16_range must be two numbers (lo, hi), got {value_range!r}") from exc
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ImageConversionError(f"mono16_range needs finite lo < hi, got {value_range!r}")
    # Clipping below at ceil(lo) keeps (v - lo) * alpha >= 0, so convertScaleAbs's abs is a no-op.
    lo_clip = min(max(math.ceil(lo), 0), 65535)
    hi_clip = max(min(math.ceil(hi), 65535), lo_clip)  # counts >= ceil(hi) saturate at 255
    alpha = 255.0 / (hi - lo)
    grey = cv2.convertScaleAbs(np.clip(values, lo_clip, hi_clip), alpha=alpha, beta=-lo * alpha)
    if lo_clip < lo or (lo_clip - lo) * alpha >= 0.5:
        # A fractional or out-of-range lo: counts below it were clipped up to lo_clip and must still be black.
        grey[values < lo] = 0
    return grey
