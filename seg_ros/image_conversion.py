"""sensor_msgs/Image and CompressedImage ⇄ numpy, without cv_bridge (the only place that does this).

The PyPI ``cv-bridge`` is a ROS 1 port that misreads 16-bit images and breaks with newer numpy, and the
ROS 2 one is not installable from PyPI. Raw images are read with ``np.ndarray(buffer=..., strides=...)``,
which honours ``step`` (row padding) and ``is_bigendian`` and is a zero-copy view for packed rgb8.
Colour conversions (YUV, Bayer) use OpenCV. Nothing here imports rclpy: messages are duck-typed.

Every encoding of ``sensor_msgs/image_encodings.hpp`` that holds a picture is accepted (see
``SUPPORTED_ENCODINGS``); signed, 64-bit and multi-channel float types are refused by name. 16-bit and
``32FC1`` values become 8 bit by one linear map: a fixed ``mono16_range`` (lo → 0, hi → 255) or, when it
is None, robust per-frame percentiles. A compressed image is decoded without losing bit depth and then
converted exactly like the raw image it was made from (its format string names that encoding).
"""

from __future__ import annotations

import array
import math
import re
from typing import Any, NamedTuple

import cv2
import numpy as np

from seg_ros.errors import ImageConversionError

__all__ = [
    "COMPRESSED_CODECS",
    "SUPPORTED_ENCODINGS",
    "CompressedFormat",
    "ImageConversionError",
    "compressed_to_rgb",
    "fill_image_msg",
    "image_msg_to_rgb",
    "image_to_rgb",
    "parse_compressed_format",
    "rgb_to_image_fields",
]


class _Encoding(NamedTuple):
    name: str  # spelled as in image_encodings.hpp
    kind: str  # rgb | bgr | mono | bayer | yuv422 | yuv420sp | yuv444sp
    channels: int  # values per pixel as stored (2 for YUV 4:2:2 and nUC2; 1 for the NV planes)
    dtype: str  # numpy kind and size of one value: u1, u2 or f4 (byte order from is_bigendian)
    cv_code: int | None = None  # OpenCV conversion to RGB (Bayer, YUV)


def _table() -> dict[str, _Encoding]:
    encodings = [
        _Encoding("rgb8", "rgb", 3, "u1"), _Encoding("rgba8", "rgb", 4, "u1"),
        _Encoding("bgr8", "bgr", 3, "u1"), _Encoding("bgra8", "bgr", 4, "u1"),
        _Encoding("rgb16", "rgb", 3, "u2"), _Encoding("rgba16", "rgb", 4, "u2"),
        _Encoding("bgr16", "bgr", 3, "u2"), _Encoding("bgra16", "bgr", 4, "u2"),
        _Encoding("mono8", "mono", 1, "u1"), _Encoding("mono16", "mono", 1, "u2"),
        # Generic OpenCV types: 3 and 4 channels are in OpenCV's BGR(A) order; of 2 channels the first
        # is the picture (grey + alpha, as in a two-channel PNG).
        _Encoding("8UC1", "mono", 1, "u1"), _Encoding("8UC2", "mono", 2, "u1"),
        _Encoding("8UC3", "bgr", 3, "u1"), _Encoding("8UC4", "bgr", 4, "u1"),
        _Encoding("16UC1", "mono", 1, "u2"), _Encoding("16UC2", "mono", 2, "u2"),
        _Encoding("16UC3", "bgr", 3, "u2"), _Encoding("16UC4", "bgr", 4, "u2"),
        _Encoding("32FC1", "mono", 1, "f4"),
        _Encoding("uyvy", "yuv422", 2, "u1", cv2.COLOR_YUV2RGB_UYVY),
        _Encoding("yuv422", "yuv422", 2, "u1", cv2.COLOR_YUV2RGB_UYVY),  # deprecated alias of uyvy
        _Encoding("yuyv", "yuv422", 2, "u1", cv2.COLOR_YUV2RGB_YUY2),
        _Encoding("yuv422_yuy2", "yuv422", 2, "u1", cv2.COLOR_YUV2RGB_YUY2),  # deprecated alias of yuyv
        _Encoding("nv12", "yuv420sp", 1, "u1", cv2.COLOR_YUV2RGB_NV12),
        _Encoding("nv21", "yuv420sp", 1, "u1", cv2.COLOR_YUV2RGB_NV21),
        _Encoding("nv24", "yuv444sp", 1, "u1"),
    ]
    # OpenCV names Bayer patterns after the 2x2 block starting at the *second* row and column, so the
    # ROS (and sensor datasheet) pattern RGGB is OpenCV's "BG". The test checks this on a synthetic mosaic.
    bayer = {"rggb": cv2.COLOR_BayerBG2RGB, "bggr": cv2.COLOR_BayerRG2RGB,
             "gbrg": cv2.COLOR_BayerGR2RGB, "grbg": cv2.COLOR_BayerGB2RGB}
    for bits, dtype in (("8", "u1"), ("16", "u2")):
        encodings += [_Encoding(f"bayer_{p}{bits}", "bayer", 1, dtype, code) for p, code in bayer.items()]
    return {e.name.lower(): e for e in encodings}


_ENCODINGS = _table()
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(e.name for e in _ENCODINGS.values())
_SUPPORTED_SUMMARY = ("rgb8, bgr8, rgba8, bgra8 and their 16-bit forms, mono8, mono16, 8UC1-4, 16UC1-4, 32FC1, "
                      "bayer_{rggb,bggr,gbrg,grbg}{8,16}, uyvy, yuyv (yuv422, yuv422_yuy2), nv12, nv21, nv24")
_CV_TYPE = re.compile(r"(8|16|32|64)([USF])C(\d*)", re.IGNORECASE)

# Codecs a CompressedImage may carry (image_transport's compressed plugin writes jpeg, png and tiff).
_CODEC_ALIASES = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png", "tiff": "tiff", "tif": "tiff", "webp": "webp"}
COMPRESSED_CODECS: tuple[str, ...] = ("jpeg", "png", "tiff") + (("webp",) if cv2.haveImageWriter(".webp") else ())

# Encodings rgb_to_image_fields can write, with their channel count.
_OUTPUT_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}

# Automatic 16-bit / float range: these percentiles of a ~65k-value subsample (robust to hot/dead pixels).
_AUTO_PERCENTILES = (0.5, 99.5)
_AUTO_SAMPLES = 65536

# BT.601 video range, the coefficients OpenCV's YUV 4:2:0 / 4:2:2 conversions use (for nv24).
_Y_GAIN, _V_TO_R, _U_TO_G, _V_TO_G, _U_TO_B = 1.164, 1.596, -0.391, -0.813, 2.018


def _lookup(encoding: str) -> _Encoding:
    spec = _ENCODINGS.get(str(encoding).strip().lower())
    if spec is None:
        raise ImageConversionError(f"unsupported image encoding {encoding!r} ({_why_unsupported(encoding)}); "
                                   f"supported: {_SUPPORTED_SUMMARY}")
    return spec


def _why_unsupported(encoding: str) -> str:
    match = _CV_TYPE.fullmatch(str(encoding).strip())
    if match is None:
        return "not an encoding of sensor_msgs/image_encodings"
    bits, kind, channels = int(match[1]), match[2].upper(), int(match[3] or 1)
    if kind == "S":
        return "signed integer values are not image intensities"
    if kind == "F" and bits == 64:
        return "64-bit float data is not an image"
    if kind == "F":
        return f"{channels}-channel float data is not an image: only 32FC1 is"
    return f"{channels} channels: at most 4 are an image"


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
    is bytes), every other case as one new array. 16-bit images (mono, colour, Bayer) and 32FC1 are
    scaled linearly from ``mono16_range`` (lo → 0, hi → 255, in the image's own units) or, when None,
    from robust per-frame percentiles; colour channels share one range. NV12/NV21 hold the Y plane
    (``height`` rows of ``step`` bytes) then the interleaved chroma plane (``height / 2`` rows of ``step``
    bytes); NV24's chroma plane has ``height`` rows of ``2 * step`` bytes.
    """
    spec = _lookup(encoding)
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"{encoding} image has zero size ({width}x{height})")
    value_bytes = np.dtype(spec.dtype).itemsize
    pixel_bytes = spec.channels * value_bytes
    if step < width * pixel_bytes:
        raise ImageConversionError(
            f"{encoding} image step {step} is smaller than width {width} x {pixel_bytes} bytes per pixel"
        )
    if spec.kind in ("yuv422", "yuv420sp") and width % 2:
        raise ImageConversionError(f"{encoding} (chroma shared by pixel pairs) image needs an even width, got {width}")
    if spec.kind == "yuv420sp" and height % 2:
        raise ImageConversionError(f"{encoding} (YUV 4:2:0) image needs an even height, got {height}")
    rows = {"yuv420sp": height * 3 // 2, "yuv444sp": height * 3}.get(spec.kind, height)
    buf = _as_byte_buffer(data)
    if buf.size < step * rows:
        raise ImageConversionError(
            f"{encoding} image {width}x{height} with step {step} needs {step * rows} bytes, got {buf.size}"
        )
    if spec.kind == "yuv420sp":
        return cv2.cvtColor(np.ndarray((rows, width), np.uint8, buffer=buf, strides=(step, 1)), spec.cv_code)
    if spec.kind == "yuv444sp":
        luma = np.ndarray((height, width), np.uint8, buffer=buf, strides=(step, 1))
        chroma = np.ndarray((height, width, 2), np.uint8, buffer=buf, offset=height * step, strides=(2 * step, 2, 1))
        return _yuv444_to_rgb(luma, chroma)
    dtype = np.dtype(spec.dtype).newbyteorder(">" if is_bigendian else "<") if value_bytes > 1 else np.uint8
    if spec.channels == 1:
        shape, strides = (height, width), (step, value_bytes)
    else:
        shape, strides = (height, width, spec.channels), (step, pixel_bytes, value_bytes)
    pixels = np.ndarray(shape, dtype, buffer=buf, strides=strides)
    if value_bytes > 1:  # native byte order, aligned: what OpenCV and the scaling need
        pixels = np.require(pixels.astype(pixels.dtype.newbyteorder("="), copy=False), requirements=("C", "A"))
    return _pixels_to_rgb(spec, pixels, mono16_range, encoding)


def image_msg_to_rgb(msg: Any, mono16_range: tuple[float, float] | None = None) -> np.ndarray:
    """A sensor_msgs/Image (or anything with its fields) → (H, W, 3) uint8 RGB; see image_to_rgb."""
    return image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, mono16_range)


class CompressedFormat(NamedTuple):
    """A CompressedImage ``format`` parsed once: ``"<original>; <codec> compressed [<stored>]"``."""

    text: str  # the format string as received, for messages
    original: str | None  # encoding of the raw image that was compressed; None for legacy "jpeg"/"png"
    codec: str | None  # jpeg | png | tiff | webp; None when the format is empty (detected from the data)
    stored: str | None  # encoding of the pixels inside the stream (image_transport's target, e.g. bgr8)


def parse_compressed_format(fmt: str) -> CompressedFormat:
    """Parse image_transport's compressed ``format``; refuses compressedDepth and unknown codecs or encodings.

    Accepted: ``"mono16; png compressed "``, ``"rgb8; jpeg compressed bgr8"``, ``"bgr8; tiff compressed "``,
    legacy ``"jpeg"`` / ``"png"`` (and ``""``: codec detected from the data).
    """
    text = str(fmt)
    if "compresseddepth" in text.lower():
        raise ImageConversionError(
            f"compressed image format {text!r}: compressedDepth streams (depth maps) are not supported; "
            "subscribe to a colour or mono image")
    original: str | None = None
    rest = text
    if ";" in text:
        head, rest = text.split(";", 1)
        original = head.strip() or None
    words = rest.split()
    if not words:
        if original is not None:
            raise ImageConversionError(f"compressed image format {text!r} names no codec")
        return CompressedFormat(text, None, None, None)
    codec = _CODEC_ALIASES.get(words[0].lower())
    if codec is None or codec not in COMPRESSED_CODECS:
        why = "this OpenCV has no WebP decoder" if codec == "webp" else f"codec {words[0]!r} is unknown"
        raise ImageConversionError(f"unsupported compressed image format {text!r}: {why}; "
                                   f"accepted codecs: {', '.join(COMPRESSED_CODECS)}")
    tail = words[1:]
    if tail[:1] and tail[0].lower() == "compressed":
        tail = tail[1:]
    if len(tail) > 1:
        raise ImageConversionError(
            f"compressed image format {text!r} is not '<encoding>; <codec> compressed [<encoding>]'")
    stored = tail[0] if tail else None
    for name in (original, stored):
        if name is not None:
            try:
                _lookup(name)
            except ImageConversionError as exc:
                raise ImageConversionError(f"compressed image format {text!r}: {exc}") from None
    return CompressedFormat(text, original, codec, stored)


def compressed_to_rgb(fmt: str, data: Any, mono16_range: tuple[float, float] | None = None, *,
                      exif_orientation: bool = False) -> np.ndarray:
    """A sensor_msgs/CompressedImage (``format``, ``data``) → (H, W, 3) uint8 RGB, like the raw image would give.

    The stream is decoded without losing bit depth (a 16-bit PNG stays 16 bit) and converted by the raw
    path as the encoding the format names: the stored encoding when given (``"rgb8; jpeg compressed
    bgr8"`` holds bgr8 pixels), else the original one (``"mono16; png compressed "`` holds mono16,
    ``"bayer_rggb8; png compressed "`` a mosaic). Bit depth and channel count come from the decoded
    stream; when they contradict the format (a grey JPEG labelled rgb8), the stream wins, except that an
    8-bit target of a 16-bit original (``"mono16; jpeg compressed mono8"``, made by cv_bridge as
    ``v * 255 / 65535``) is scaled back to 16 bit first. 16-bit and float values are scaled as in
    image_to_rgb. ``exif_orientation`` (image files) applies the EXIF rotation and ignores alpha;
    messages are decoded exactly as stored.
    """
    parsed = parse_compressed_format(fmt)
    buf = _as_byte_buffer(data)
    if buf.size == 0:
        raise ImageConversionError(f"compressed image ({fmt!r}) has no data")
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if exif_orientation else cv2.IMREAD_UNCHANGED
    try:
        pixels = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageConversionError(f"cannot decode compressed image ({fmt!r}): {exc}") from exc
    if pixels is None:
        raise ImageConversionError(f"cannot decode compressed image ({fmt!r}, {buf.size} bytes): corrupt or truncated")
    spec, pixels = _decoded_encoding(parsed, pixels)
    return _pixels_to_rgb(spec, pixels, mono16_range, parsed.text)


def _decoded_encoding(parsed: CompressedFormat, pixels: np.ndarray) -> tuple[_Encoding, np.ndarray]:
    """The encoding that describes a decoded stream (layout from the format, depth and channels from the data).

    A one-channel picture (mono, Bayer mosaic) that a codec returns as colour (WebP stores grey as three
    equal channels) is taken from its first channel.
    """
    label_name = parsed.stored or parsed.original
    label = _lookup(label_name) if label_name else None
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if label is not None and label.kind in ("mono", "bayer") and label.channels == 1 and channels in (3, 4):
        pixels, channels = np.ascontiguousarray(pixels[:, :, 0]), 1
    bits = {np.dtype(np.uint8): "8", np.dtype(np.uint16): "16"}.get(pixels.dtype)
    if bits == "8" and parsed.stored and parsed.original and _lookup(parsed.original).dtype == "u2" \
            and _lookup(parsed.stored).dtype == "u1":
        # "mono16; jpeg compressed mono8": cv_bridge made the 8-bit target as v * 255 / 65535. Undo that scale
        # so that 16-bit scaling (mono16_range or automatic) applies as it does to the raw image.
        pixels, bits = pixels.astype(np.uint16) * np.uint16(257), "16"
    if pixels.dtype == np.float32 and channels == 1:
        return _ENCODINGS["32fc1"], pixels
    if label is not None and label.kind in ("yuv420sp", "yuv444sp") and channels == 1 and pixels.dtype == np.uint8:
        rows, width = pixels.shape
        if rows % 3 or (label.kind == "yuv420sp" and (width % 2 or (rows // 3) % 2)):
            raise ImageConversionError(f"compressed image ({parsed.text!r}): a {width}x{rows} plane is not "
                                       f"{label.name} planes")
        return label, pixels  # the packed planes stored as one grey picture (TIFF keeps the raw layout)
    if bits is None or channels not in (1, 2, 3, 4):
        raise ImageConversionError(
            f"compressed image ({parsed.text!r}) decodes to {channels}-channel {pixels.dtype} pixels, not an image")
    if channels == 1:
        if label is not None and label.kind == "bayer":
            return _ENCODINGS[label.name[:-1 if label.name.endswith("8") else -2] + bits], pixels
        return _ENCODINGS[f"mono{bits}"], pixels
    if channels == 2:
        if label is not None and label.kind == "yuv422" and bits == "8":
            return label, pixels
        return _ENCODINGS[f"{bits}uc2"], pixels
    order = label.kind if label is not None and label.kind in ("rgb", "bgr") else "bgr"  # OpenCV writes BGR
    return _ENCODINGS[f"{order}{'a' if channels == 4 else ''}{bits}"], pixels


def _pixels_to_rgb(spec: _Encoding, pixels: np.ndarray, value_range: tuple[float, float] | None,
                   what: str) -> np.ndarray:
    """Typed pixels of ``spec`` (native byte order; (H, W) or (H, W, C)) → (H, W, 3) uint8 RGB.

    ``what`` (the encoding or format string) names the input in errors, OpenCV's included.
    """
    try:
        return _convert_pixels(spec, pixels, value_range)
    except cv2.error as exc:
        raise ImageConversionError(
            f"cannot convert {what!r} {spec.name} pixels of shape {pixels.shape}: {exc}") from exc


def _convert_pixels(spec: _Encoding, pixels: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    if spec.kind in ("yuv422", "yuv420sp"):
        return cv2.cvtColor(pixels, spec.cv_code)
    if spec.kind == "yuv444sp":  # packed planes: Y (H rows), then UV (2H rows of W bytes = H rows of 2W)
        height, width = pixels.shape[0] // 3, pixels.shape[1]
        return _yuv444_to_rgb(pixels[:height], pixels[height:3 * height].reshape(height, width, 2))
    if spec.kind == "bayer":  # 16-bit automatic range from the mosaic: the same sensor counts, 3x fewer values
        value_range = _value_range(pixels, value_range) if pixels.dtype != np.uint8 else None
        return _scale_to_8bit(cv2.cvtColor(pixels, spec.cv_code), value_range)
    if spec.kind == "mono":
        grey = pixels if pixels.ndim == 2 else np.ascontiguousarray(pixels[:, :, 0])
        return cv2.cvtColor(_scale_to_8bit(grey, value_range), cv2.COLOR_GRAY2RGB)
    if pixels.dtype != np.uint8:  # 16-bit colour: scale the colour channels together, alpha ignored
        colour = _scale_to_8bit(pixels[:, :, :3], value_range)
    elif spec.channels == 4:
        code = cv2.COLOR_RGBA2RGB if spec.kind == "rgb" else cv2.COLOR_BGRA2RGB
        return cv2.cvtColor(pixels, code)
    else:
        colour = pixels
    if spec.kind == "rgb":
        return np.ascontiguousarray(colour)
    return cv2.cvtColor(colour, cv2.COLOR_BGR2RGB)


def _yuv444_to_rgb(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """NV24 planes (Y, interleaved UV at full resolution) → RGB with OpenCV's BT.601 video-range coefficients."""
    yuv = np.empty(luma.shape + (3,), np.uint8)
    yuv[:, :, 0], yuv[:, :, 1:] = luma, chroma
    # One affine map per pixel; cv2.transform rounds and saturates to uint8.
    matrix = np.array([[_Y_GAIN, 0.0, _V_TO_R], [_Y_GAIN, _U_TO_G, _V_TO_G], [_Y_GAIN, _U_TO_B, 0.0]])
    offset = -(matrix @ np.array([16.0, 128.0, 128.0]))
    return cv2.transform(yuv, np.hstack([matrix, offset[:, None]]))


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

    ``data`` is built as one ``array.array('B')`` copy (README: measured figures). The generated setter would
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
            values = np.asarray(data).reshape(-1)
            # numpy < 2 wraps out-of-range ints in asarray(..., uint8) silently: check the range first.
            if values.size and (values.dtype.kind not in "iub" or values.min() < 0 or values.max() > 255):
                raise ValueError(f"values must be integers 0..255, got dtype {values.dtype}")
            return values.astype(np.uint8)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageConversionError(f"image data of type {type(data).__name__} is not a byte buffer: {exc}") from exc
    if not view.c_contiguous:
        raise ImageConversionError("image data buffer is not contiguous")
    return np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B" else view, np.uint8)


def _value_range(values: np.ndarray, value_range: tuple[float, float] | None) -> tuple[float, float]:
    """(lo, hi) of the linear map to 8 bit: ``value_range`` checked, or robust percentiles of the finite values."""
    if value_range is not None:
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError) as exc:
            raise ImageConversionError(f"mono16_range must be two numbers (lo, hi), got {value_range!r}") from exc
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ImageConversionError(f"mono16_range needs finite lo < hi, got {value_range!r}")
        return lo, hi
    pixels = values.shape[0] * values.shape[1]
    stride = max(1, math.ceil(math.sqrt(pixels / _AUTO_SAMPLES)))
    sample = values[::stride, ::stride].flatten()  # always a copy: partitioned in place below
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return 0.0, 1.0
    ranks = [round(p / 100.0 * (sample.size - 1)) for p in _AUTO_PERCENTILES]
    sample.partition(ranks)
    lo, hi = float(sample[ranks[0]]), float(sample[ranks[1]])
    return lo, max(hi, lo + 1.0)  # a flat frame maps to black rather than dividing by zero


def _scale_to_8bit(values: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """uint8 (returned as is), uint16 or float32 (H, W[, C]) → uint8: [lo, hi] mapped onto [0, 255], clipped, rounded.

    Float NaN and -inf become 0, +inf 255. Channels share one range.
    """
    if values.dtype == np.uint8:
        return values
    lo, hi = _value_range(values, value_range)
    alpha = 255.0 / (hi - lo)
    if values.dtype.kind == "f":
        scaled = values.astype(np.float32) * np.float32(alpha)
        scaled -= np.float32(lo * alpha)
        np.clip(scaled, 0.0, 255.0, out=scaled)  # -inf → 0, +inf → 255; NaN stays NaN
        np.nan_to_num(scaled, copy=False, nan=0.0)
        scaled += np.float32(0.5)  # round half up on the cast
        return scaled.astype(np.uint8)
    # Clipping below at ceil(lo) keeps (v - lo) * alpha >= 0, so convertScaleAbs's abs is a no-op.
    lo_clip = min(max(math.ceil(lo), 0), 65535)
    hi_clip = max(min(math.ceil(hi), 65535), lo_clip)  # counts >= ceil(hi) saturate at 255
    grey = cv2.convertScaleAbs(np.clip(values, lo_clip, hi_clip), alpha=alpha, beta=-lo * alpha)
    if lo_clip < lo or (lo_clip - lo) * alpha >= 0.5:
        # A fractional or out-of-range lo: counts below it were clipped up to lo_clip and must still be black.
        grey[values < lo] = 0
    return grey
