"""Image messages ⇄ RGB arrays (seg_ros.image_conversion) against independently built encodings.

Every encoded buffer here is made with plain numpy from a known RGB image (BT.601 formulas for YUV,
per-position channel picking for Bayer) or with cv2.imencode, never with the module under test. The list
of encodings is read from the installed ``sensor_msgs/image_encodings.hpp``: an encoding added there and
not handled here fails ``test_every_header_encoding``.
"""

from __future__ import annotations

import array
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from shared_data import CAMVID_MODEL, JETSON_IMAGES, require

from seg_ros.errors import SegRosError
from seg_ros.image_conversion import (
    COMPRESSED_CODECS,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_to_rgb,
    fill_image_msg,
    image_msg_to_rgb,
    image_to_rgb,
    parse_compressed_format,
    rgb_to_image_fields,
)

H, W = 24, 32


def _header_path() -> Path | None:
    """image_encodings.hpp of the installed sensor_msgs (the PyPI wheels put it under the venv's include/)."""
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    for prefix in filter(None, prefixes):
        path = Path(prefix) / "include" / "sensor_msgs" / "sensor_msgs" / "image_encodings.hpp"
        if path.is_file():
            return path
    return None


def header_encodings() -> list[str]:
    """Every ``const char NAME[] = "value";`` of the header, in its order."""
    path = _header_path()
    if path is None:
        return []
    return re.findall(r'^const char \w+\[\] = "([^"]+)";', path.read_text(), flags=re.MULTILINE)


HEADER_ENCODINGS = header_encodings()
# Encodings of the header that are not pictures, with a word the error must contain.
REJECTED = {
    **{f"{bits}SC{n}": "signed" for bits in (8, 16, 32) for n in (1, 2, 3, 4)},
    **{f"32FC{n}": "float" for n in (2, 3, 4)},
    **{f"64FC{n}": "64-bit float" for n in (1, 2, 3, 4)},
}
SIXTEEN_BIT = [e for e in SUPPORTED_ENCODINGS if e.endswith("16") or e.startswith("16UC")]


def random_rgb(seed: int = 0, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def smooth_rgb() -> np.ndarray:
    """Linear ramps: bilinear demosaicing and chroma averaging reproduce them almost exactly."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([40 + 5 * x, 30 + 6 * y, 200 - 2 * x - 2 * y], axis=-1).astype(np.uint8)


def padded(rows: np.ndarray, pad: int) -> tuple[bytes, int]:
    """(data, step) of a packed (H, row_bytes) uint8 array with ``pad`` junk bytes after each row."""
    rows = rows.reshape(rows.shape[0], -1)
    junk = np.full((rows.shape[0], pad), 0xAB, np.uint8)
    return np.concatenate([rows, junk], axis=1).tobytes(), rows.shape[1] + pad


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)


def bt601(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 video-range Y, U, V (float) of an RGB image."""
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    return (16 + 0.257 * r + 0.504 * g + 0.098 * b, 128 - 0.148 * r - 0.291 * g + 0.439 * b,
            128 + 0.439 * r - 0.368 * g - 0.071 * b)


def to_u8(*planes: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


def yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """4:2:2 bytes (H, W*2) in ``order`` uyvy or yuy2; chroma is the mean of each horizontal pixel pair."""
    y, u, v = bt601(rgb)
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    y0, y1 = y[:, 0::2], y[:, 1::2]
    quad = [u2, y0, v2, y1] if order == "uyvy" else [y0, u2, y1, v2]
    return to_u8(*quad).reshape(rgb.shape[0], -1)


def nv420(rgb: np.ndarray, swap: bool) -> np.ndarray:
    """NV12 (NV21 when ``swap``): Y plane then (H/2, W) interleaved UV (VU) of each 2x2 block's mean."""
    y, u, v = bt601(rgb)

    def block_mean(c: np.ndarray) -> np.ndarray:
        return (c[0::2, 0::2] + c[0::2, 1::2] + c[1::2, 0::2] + c[1::2, 1::2]) / 4

    u4, v4 = block_mean(u), block_mean(v)
    chroma = to_u8(v4, u4) if swap else to_u8(u4, v4)
    return np.concatenate([to_u8(y)[..., 0], chroma.reshape(rgb.shape[0] // 2, -1)], axis=0)


def bayer(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Mosaic (H, W): the 2x2 ``pattern`` (e.g. "rggb": R at (0,0), G at (0,1), G at (1,0), B at (1,1))."""
    index = {"r": 0, "g": 1, "b": 2}
    out = np.empty(rgb.shape[:2], rgb.dtype)
    for k, ch in enumerate(pattern):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, index[ch]]
    return out


class Raw(SimpleNamespace):
    """A raw frame built independently: ``pixels`` as the message stores them, ``data``/``step`` with padding."""


def raw_frame(encoding: str, rgb: np.ndarray, pad: int = 0, bits16: int = 16) -> Raw:
    """The message fields of ``rgb`` in ``encoding`` plus the expected RGB, tolerance and value range.

    16-bit encodings hold ``v * 257`` (full range, ``bits16=16``) or ``v * 16`` (12-bit, ``bits16=12``);
    32FC1 holds ``20 + v / 4`` (a temperature-like span). ``value_range`` maps them back onto ``v``.
    """
    alpha = np.random.default_rng(9).integers(0, 256, rgb.shape[:2] + (1,), dtype=np.uint8)
    grey = grey_of(rgb)
    grey_rgb = np.repeat(grey[..., None], 3, axis=2)
    scale16 = 257 if bits16 == 16 else 16
    value_range = (0, 255 * scale16)
    name = encoding.lower()
    expected, tol, planes = rgb, 0, None
    if name in ("rgb8", "rgba8", "bgr8", "bgra8", "8uc3", "8uc4", "rgb16", "rgba16", "bgr16", "bgra16", "16uc3",
                "16uc4"):
        colour = rgb if name.startswith("rgb") else rgb[..., ::-1]
        if name.endswith("a8") or name.endswith("a16") or name.endswith("c4"):
            colour = np.concatenate([colour, alpha], axis=2)
        pixels = colour if name.endswith("8") or name.startswith("8") else colour.astype(np.uint16) * scale16
    elif name in ("mono8", "8uc1"):
        pixels, expected = grey, grey_rgb
    elif name == "8uc2":
        pixels, expected = np.concatenate([grey[..., None], alpha], axis=2), grey_rgb
    elif name in ("mono16", "16uc1"):
        pixels, expected = grey.astype(np.uint16) * scale16, grey_rgb
    elif name == "16uc2":
        pixels = np.concatenate([grey[..., None], alpha], axis=2).astype(np.uint16) * scale16
        expected = grey_rgb
    elif name == "32fc1":
        pixels, expected, value_range = (20 + grey / 4).astype(np.float32), grey_rgb, (20.0, 20 + 255 / 4)
    elif name.startswith("bayer_"):
        mosaic = bayer(rgb, name[6:10])
        pixels, tol = (mosaic if name.endswith("8") else mosaic.astype(np.uint16) * scale16), 1
    elif name in ("uyvy", "yuv422"):
        pixels, tol = yuv422(rgb, "uyvy").reshape(rgb.shape[0], -1, 2), 3
    elif name in ("yuyv", "yuv422_yuy2"):
        pixels, tol = yuv422(rgb, "yuy2").reshape(rgb.shape[0], -1, 2), 3
    elif name in ("nv12", "nv21"):
        pixels, tol = nv420(rgb, swap=name == "nv21"), 2
    elif name == "nv24":
        y, u, v = bt601(rgb)
        luma, chroma = to_u8(y)[..., 0], to_u8(u, v).reshape(rgb.shape[0], -1)
        planes = [(luma, pad), (chroma, 2 * pad)]  # UV rows: 2 * step
        pixels, tol = np.concatenate([luma, chroma.reshape(-1, rgb.shape[1])], axis=0), 2  # packed: (3H, W)
    else:
        raise AssertionError(f"no independent builder for {encoding}")
    if planes is None:
        planes = [(np.ascontiguousarray(pixels).view(np.uint8).reshape(pixels.shape[0], -1), pad)]
    chunks = [padded(rows, p) for rows, p in planes]
    data = b"".join(chunk for chunk, _ in chunks)
    return Raw(encoding=encoding, pixels=pixels, data=data, step=chunks[0][1], expected=expected, tol=tol,
               value_range=value_range, height=rgb.shape[0], width=rgb.shape[1])


def convert_raw(raw: Raw, value_range=None, container=bytes, is_bigendian=0) -> np.ndarray:
    return image_to_rgb(raw.encoding, raw.height, raw.width, raw.step, is_bigendian, container(raw.data),
                        value_range)


def convert(encoding, rows, step_pad=0, is_bigendian=0, container=bytes, mono16_range=None):
    """Convert packed (H, row_bytes) uint8 ``rows`` with ``step_pad`` junk bytes after each row."""
    data, step = padded(rows, step_pad)
    return image_to_rgb(encoding, rows.shape[0], W, step, is_bigendian, container(data), mono16_range)


def interior(a: np.ndarray) -> np.ndarray:
    return a[2:-2, 2:-2].astype(int)


# Encodings the module converts that an older distro's header lacks: NV12 joined image_encodings.hpp in Kilted
# (Jazzy's sensor_msgs 5.3 has NV21 and NV24 only), but Jazzy cameras may still send "nv12".
NEWER_THAN_HEADER = {"nv12"}


def test_header_was_found_and_read():
    if not HEADER_ENCODINGS:
        # CI fails only where ROS messages are installed (the humble-env target has none: pure core).
        if os.environ.get("CI") and importlib.util.find_spec("sensor_msgs") is not None:
            pytest.fail("sensor_msgs/image_encodings.hpp not found: install ros-kilted-sensor-msgs")
        pytest.skip("sensor_msgs/image_encodings.hpp not installed")
    assert {"rgb8", "mono16", "bayer_grbg16", "yuyv", "nv24", "32FC1", "64FC4"} <= set(HEADER_ENCODINGS)
    pictures = set(HEADER_ENCODINGS) - set(REJECTED)
    assert pictures <= set(SUPPORTED_ENCODINGS)
    assert set(SUPPORTED_ENCODINGS) - pictures <= NEWER_THAN_HEADER


@pytest.mark.parametrize("pad", [0, 7])  # odd padding: 16-bit and float rows start unaligned
@pytest.mark.parametrize("encoding", HEADER_ENCODINGS or [*SUPPORTED_ENCODINGS, *REJECTED])
def test_every_header_encoding(encoding, pad):
    """One row per encoding of image_encodings.hpp: converted within tolerance, or rejected by name.

    Without the header (a pure-core environment) the rows are the module's own list plus REJECTED, and
    ``test_header_was_found_and_read`` says so.
    """
    if encoding in REJECTED:
        with pytest.raises(ImageConversionError) as info:
            image_to_rgb(encoding, H, W, W * 32 + pad, 0, bytes((W * 32 + pad) * H))
        assert f"unsupported image encoding {encoding!r}" in str(info.value)
        assert REJECTED[encoding] in str(info.value)
        return
    if encoding in ("nv12", "nv21"):  # colour constant over each 2x2 block: 4:2:0 chroma loses nothing
        rgb = np.repeat(np.repeat(random_rgb(17, (H // 2, W // 2)), 2, axis=0), 2, axis=1)
    elif encoding.startswith(("bayer", "yuv", "uyvy", "yuyv", "nv")):
        rgb = smooth_rgb()
    else:
        rgb = random_rgb()
    raw = raw_frame(encoding, rgb, pad)
    out = convert_raw(raw, raw.value_range)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    expected = raw.expected
    if encoding.startswith("bayer"):  # demosaicing has no neighbours at the border
        out, expected = interior(out), interior(expected)
    err = np.abs(out.astype(int) - expected.astype(int))
    assert err.max() <= raw.tol, f"{encoding}: max error {err.max()}"


@pytest.mark.parametrize("encoding", [*SIXTEEN_BIT, "32FC1"])
def test_16bit_and_float_inputs_are_stretched_automatically(encoding):
    """12-bit values (0..4080) with no range given: stretched over 0..255 like raw mono16, not left at 0..15."""
    rgb = smooth_rgb() if encoding.startswith("bayer") else random_rgb(14)
    raw = raw_frame(encoding, rgb, bits16=12)
    out = convert_raw(raw)
    expected = raw.expected
    if encoding.startswith("bayer"):
        out, expected = interior(out), interior(expected)
    assert out.max() >= 250 and int(out.max()) - int(out.min()) >= 200  # stretched, not left at 0..15
    # Between the clipped ends, one linear map (the same for every channel) of the 8-bit values v behind the
    # counts 16 * v: gain about 1 or more (percentiles of the frame), where a fixed 0..65535 range gives 16 / 257.
    inside = (out > 0) & (out < 255)
    x, y = expected[inside].astype(float), out[inside].astype(float)
    gain, offset = np.polyfit(x, y, 1)
    assert gain > 0.95
    assert np.abs(gain * x + offset - y).max() <= 1.5


@pytest.mark.parametrize("encoding", ["mono16", "rgba16", "bayer_gbrg16", "16UC3", "32FC1"])
def test_big_endian_equals_little_endian(encoding):
    rgb = smooth_rgb() if encoding.startswith("bayer") else random_rgb(15)
    little = raw_frame(encoding, rgb, pad=3, bits16=12)  # v * 16: high and low bytes differ
    swapped = little.pixels.astype(little.pixels.dtype.newbyteorder(">"))
    big = Raw(**{**vars(little), "data": padded(swapped.view(np.uint8).reshape(H, -1), 3)[0]})
    assert big.data != little.data
    np.testing.assert_array_equal(convert_raw(big, little.value_range, is_bigendian=1),
                                  convert_raw(little, little.value_range))


def test_32fc1_nan_and_infinity():
    values = np.array([[np.nan, -np.inf, 10.0, 15.0, 20.0, np.inf]], np.float32)
    out = image_to_rgb("32FC1", 1, 6, 24, 0, values.tobytes(), mono16_range=(10.0, 20.0))[0, :, 0]
    assert out.tolist() == [0, 0, 0, 128, 255, 255]
    auto = image_to_rgb("32FC1", 1, 6, 24, 0, values.tobytes())[0, :, 0]  # range from the finite values only
    assert auto[2] == 0 and auto[4] == 255 and auto[0] == 0


def test_nv24_matches_opencv_nv12_when_chroma_is_shared():
    """OpenCV has no NV24 conversion: where chroma is constant over 2x2 blocks NV24 and NV12 hold the same colours."""
    rng = np.random.default_rng(16)
    luma = rng.integers(16, 236, (H, W), dtype=np.uint8)
    uv_blocks = rng.integers(16, 241, (H // 2, W // 2, 2), dtype=np.uint8)
    nv12 = np.concatenate([luma, uv_blocks.reshape(H // 2, W)], axis=0)
    reference = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12)
    uv_full = np.repeat(np.repeat(uv_blocks, 2, axis=0), 2, axis=1)
    nv24 = luma.tobytes() + uv_full.tobytes()
    out = image_to_rgb("nv24", H, W, W, 0, nv24)
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1


@pytest.mark.parametrize("encoding, height, width, words", [
    ("nv12", H - 1, W, ["even height"]),
    ("nv21", H, W - 1, ["even width"]),
    ("yuyv", H, W - 1, ["even width"]),
])
def test_yuv_odd_sizes_are_refused(encoding, height, width, words):
    with pytest.raises(ImageConversionError) as info:
        image_to_rgb(encoding, height, width, width * 2, 0, bytes(width * 2 * height * 3))
    for word in words:
        assert word in str(info.value)


def test_nv12_needs_both_planes():
    with pytest.raises(ImageConversionError, match="needs 1152 bytes"):
        image_to_rgb("nv12", H, W, W, 0, bytes(H * W))


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_pattern_names_match_true_colours(pattern):
    """A flat orange patch: any pattern mix-up swaps red/blue or mixes green in."""
    rgb = np.empty((8, 8, 3), np.uint8)
    rgb[:] = (220, 120, 20)
    out = image_to_rgb(f"bayer_{pattern}8", 8, 8, 8, 0, bayer(rgb, pattern).tobytes())
    np.testing.assert_array_equal(out[2:-2, 2:-2], rgb[2:-2, 2:-2])


@pytest.mark.parametrize("container", [bytes, bytearray, memoryview, lambda b: array.array("B", b), list])
def test_data_containers(container):
    rgb = random_rgb(1)
    np.testing.assert_array_equal(convert("rgb8", rgb, container=container), rgb)
    np.testing.assert_array_equal(convert("bgr8", rgb[..., ::-1], step_pad=3, container=container), rgb)


def test_packed_rgb8_is_a_view_on_the_message_buffer():
    rgb = random_rgb(2)
    buf = array.array("B", rgb.tobytes())
    out = image_to_rgb("rgb8", H, W, W * 3, 0, buf)
    assert np.shares_memory(out, np.frombuffer(buf, np.uint8))
    np.testing.assert_array_equal(out, rgb)


def test_encoding_names_are_case_insensitive():
    rgb = random_rgb(3)
    np.testing.assert_array_equal(convert("8uc3", rgb[..., ::-1]), rgb)
    np.testing.assert_array_equal(convert("RGB8", rgb), rgb)


@pytest.mark.parametrize("pad", [0, 3])  # odd padding: 16-bit rows start unaligned
def test_big_endian_16bit(pad):
    values = np.random.default_rng(4).integers(0, 65536, (H, W)).astype(np.uint16)
    big = values.astype(">u2").view(np.uint8)
    little = values.astype("<u2").view(np.uint8)
    assert not np.array_equal(big, little)
    rng = (1000.0, 60000.0)
    from_big = convert("mono16", big, step_pad=pad, is_bigendian=1, mono16_range=rng)
    from_little = convert("16UC1", little, step_pad=pad, is_bigendian=0, mono16_range=rng)
    np.testing.assert_array_equal(from_big, from_little)
    expected = np.clip(np.rint((values - 1000.0) * 255 / 59000.0), 0, 255)
    assert np.abs(from_big[..., 0] - expected).max() <= 1
    assert np.array_equal(from_big[..., 0], from_big[..., 2])


def test_mono16_fixed_range_clips_and_scales():
    values = np.array([[0, 1499, 1500, 1751, 2000, 2001, 65535, 1625]], np.uint16)  # 1751 -> 128.01
    out = image_to_rgb("mono16", 1, 8, 16, 0, values.astype("<u2").tobytes(), mono16_range=(1500, 2000))
    assert out[0, :, 0].tolist() == [0, 0, 0, 128, 255, 255, 255, 64]


def test_mono16_fractional_range_keeps_counts_below_lo_black():
    values = np.array([[99, 100, 101, 102]], np.uint16)
    out = image_to_rgb("16UC1", 1, 4, 8, 0, values.tobytes(), mono16_range=(100.5, 101.5))
    assert out[0, :, 0].tolist()[:2] == [0, 0] and out[0, 3, 0] == 255
    assert abs(int(out[0, 2, 0]) - 127.5) <= 1


@pytest.mark.parametrize(
    "value_range, expected",
    [((70000, 80000), [0, 0, 0]), ((-20, -10), [255, 255, 255]), ((-1000, 69000), [4, 51, 242])],
)
def test_mono16_ranges_beyond_the_16bit_span(value_range, expected):
    values = np.array([[0, 13000, 65535]], np.uint16)  # (v + 1000) * 255 / 70000
    out = image_to_rgb("mono16", 1, 3, 6, 0, values.tobytes(), mono16_range=value_range)
    assert np.abs(out[0, :, 0].astype(int) - expected).max() <= 1


def test_mono16_auto_range_ignores_outliers():
    """A thermal-like frame spanning 20000..24000 counts with a few dead (0) and hot (65535) pixels."""
    rng = np.random.default_rng(5)
    values = np.tile(np.linspace(20000, 24000, 200), (100, 1)).astype(np.uint16)
    flat = values.reshape(-1)
    flat[rng.choice(flat.size, 40, replace=False)] = 0
    flat[rng.choice(flat.size, 40, replace=False)] = 65535
    out = image_to_rgb("mono16", 100, 200, 400, 0, values.tobytes())[..., 0].astype(int)
    column_means = np.median(out, axis=0)
    assert column_means[0] <= 3 and column_means[-1] >= 252  # stretched over the real span
    assert abs(column_means[100] - 128) <= 4  # linear in between
    fixed = image_to_rgb("mono16", 100, 200, 400, 0, values.tobytes(), mono16_range=(0, 65535))[..., 0]
    assert fixed.max() == 255 and 76 <= np.median(fixed) <= 90  # 22000/65535*255 ≈ 85.6: no stretch


def test_mono16_flat_frame_does_not_divide_by_zero():
    values = np.full((4, 4), 777, np.uint16)
    out = image_to_rgb("mono16", 4, 4, 8, 0, values.tobytes())
    assert out.shape == (4, 4, 3) and len(np.unique(out)) == 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(encoding="16SC1"), ["unsupported", "'16SC1'", "signed"]),
        (dict(encoding="32FC3"), ["unsupported", "'32FC3'", "float"]),
        (dict(encoding="8UC5"), ["unsupported", "'8UC5'", "at most 4"]),
        (dict(encoding="h264"), ["unsupported", "h264"]),
        (dict(height=0), ["zero size"]),
        (dict(width=0), ["zero size"]),
        (dict(step=W * 3 - 1), ["step", "smaller"]),
        (dict(data=bytes(H * W * 3 - 1)), ["needs", "bytes"]),
        (dict(data=b""), ["needs", "bytes"]),
        (dict(data=["a", "b"]), ["not a byte buffer"]),
        (dict(data=[300] * (H * W * 3)), ["not a byte buffer"]),
        (dict(encoding="yuv422", width=W - 1, step=(W - 1) * 2), ["even width"]),
        (dict(encoding="mono16", mono16_range=(10, 10)), ["mono16_range"]),
        (dict(encoding="mono16", mono16_range=(float("nan"), 10)), ["mono16_range"]),
        (dict(encoding="mono16", mono16_range="bad"), ["mono16_range"]),
    ],
)
def test_bad_raw_input_raises_a_clear_error(kwargs, words):
    args = dict(encoding="rgb8", height=H, width=W, step=W * 3, is_bigendian=0, data=bytes(H * W * 3))
    args.update(kwargs)
    with pytest.raises(ImageConversionError) as info:
        image_to_rgb(**args)
    assert isinstance(info.value, SegRosError)
    for word in words:
        assert word in str(info.value)


def test_compressed_jpeg_and_png_decode_to_true_colours():
    rgb = smooth_rgb()
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))  # files hold true colours
    assert ok
    np.testing.assert_array_equal(compressed_to_rgb("png", png.tobytes()), rgb)
    np.testing.assert_array_equal(compressed_to_rgb("", png.tobytes()), rgb)  # empty format: codec from the data
    ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 98])
    out = compressed_to_rgb("rgb8; jpeg compressed bgr8", array.array("B", jpg.tobytes()))
    assert out.shape == (H, W, 3) and out.flags.c_contiguous
    assert np.abs(out.astype(int) - rgb).mean() < 3


def test_compressed_real_jpeg_matches_pillow():
    from PIL import Image as PILImage

    path = require(JETSON_IMAGES / "city_0.jpg")
    with PILImage.open(path) as im:
        expected = np.asarray(im.convert("RGB"))
    out = compressed_to_rgb("jpeg", path.read_bytes())
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 1.5  # two JPEG decoders: tiny IDCT differences


@pytest.mark.parametrize("fmt, fields", [
    ("mono16; png compressed ", ("mono16", "png", None)),
    ("bgr8; jpeg compressed bgr8", ("bgr8", "jpeg", "bgr8")),
    ("rgb8; jpeg compressed bgr8", ("rgb8", "jpeg", "bgr8")),
    ("rgba16; png compressed bgr16", ("rgba16", "png", "bgr16")),
    ("bayer_rggb8; tiff compressed ", ("bayer_rggb8", "tiff", None)),
    ("jpeg", (None, "jpeg", None)),
    ("JPG", (None, "jpeg", None)),
    ("png", (None, "png", None)),
    ("", (None, None, None)),
])
def test_parse_compressed_format(fmt, fields):
    parsed = parse_compressed_format(fmt)
    assert (parsed.original, parsed.codec, parsed.stored) == fields and parsed.text == fmt


@pytest.mark.parametrize("fmt, words", [
    ("16UC1; compressedDepth png", ["compressedDepth", "'16UC1; compressedDepth png'"]),
    ("32FC1; compressedDepth rvl", ["compressedDepth", "'32FC1; compressedDepth rvl'"]),
    ("h264", ["unsupported compressed image format 'h264'", "'h264' is unknown", "jpeg, png, tiff"]),
    ("bgr8; h264 compressed bgr8", ["'bgr8; h264 compressed bgr8'", "'h264' is unknown"]),
    ("16SC1; png compressed ", ["'16SC1; png compressed '", "unsupported image encoding '16SC1'", "signed"]),
    ("rgb8; png compressed bgr8 extra", ["'rgb8; png compressed bgr8 extra'", "is not"]),
    ("mono8; ", ["'mono8; '", "names no codec"]),
])
def test_unsupported_compressed_formats_are_named(fmt, words):
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb(fmt, b"\x89PNG\r\n\x1a\n" + bytes(64))
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("fmt", ["mono16; png compressed ", "16UC1; png compressed ", "png", ""])
def test_12bit_mono16_png_is_stretched_like_raw(fmt):
    """The reported case: a 12-bit frame as a 16-bit PNG used to arrive as 0..15 (low byte dropped)."""
    y, x = np.mgrid[0:H, 0:W]
    values = (x * 4100 // (W - 1) + y).astype(np.uint16)  # 0 .. ~4120
    ok, png = cv2.imencode(".png", values)
    assert ok
    out = compressed_to_rgb(fmt, png.tobytes())
    raw = image_to_rgb("mono16", H, W, W * 2, 0, values.tobytes())
    np.testing.assert_array_equal(out, raw)
    # Independently: the 0.5 / 99.5 percentiles of the frame map to 0 / 255.
    nearest = {"method": "nearest"} if np.lib.NumpyVersion(np.__version__) >= "1.22.0" \
        else {"interpolation": "nearest"}  # numpy < 1.22 (Humble's 1.21) names it interpolation=
    lo, hi = np.percentile(values, [0.5, 99.5], **nearest)
    expected = np.clip(np.rint((values.astype(float) - lo) * 255 / (hi - lo)), 0, 255)
    assert np.abs(out[..., 0] - expected).max() <= 1 and out.max() == 255
    fixed = compressed_to_rgb(fmt, png.tobytes(), mono16_range=(0, 4096))
    np.testing.assert_array_equal(fixed, image_to_rgb("mono16", H, W, W * 2, 0, values.tobytes(), (0, 4096)))
    assert fixed[0, -1, 0] == 255 and fixed[0, 0, 0] == 0


@pytest.mark.parametrize("codec", ["jpeg", "png"])
def test_8bit_target_of_a_16bit_image_is_scaled_like_the_raw_image(codec):
    """A 16-bit image's 8-bit compressed target is stretched like the raw frame.

    kilted image_transport's JPEG of mono16 is ``"mono16; jpeg compressed mono8"``, made by cv_bridge as
    round(v * 255 / 65535): a 12-bit frame arrives as 0..16. It must still be stretched like the raw frame.
    """
    values = np.tile(np.arange(W, dtype=np.uint16) * 4095 // (W - 1), (H, 1))  # a 12-bit ramp
    target = np.clip(np.rint(values * (255 / 65535)), 0, 255).astype(np.uint8)
    assert target.max() <= 16
    params = [cv2.IMWRITE_JPEG_QUALITY, 100] if codec == "jpeg" else []
    ok, data = cv2.imencode(f".{codec}", target, params)
    out = compressed_to_rgb(f"mono16; {codec} compressed mono8", data.tobytes())[..., 0].astype(int)
    raw = image_to_rgb("mono16", H, W, W * 2, 0, values.tobytes())[..., 0].astype(int)
    assert out.max() == 255 and out.min() == 0
    assert np.abs(out - raw).max() <= 255 / 16 + 1  # 17 levels left of 4096: within one level of the raw result
    # Without the 16-bit original the same bytes are a plain dark mono8 image.
    assert compressed_to_rgb(f"mono8; {codec} compressed mono8", data.tobytes()).max() <= 17


# ----------------------------------------------------------------- compressed vs raw: every lossless pair
_YUV_TO_BGR = {"uyvy": cv2.COLOR_YUV2BGR_UYVY, "yuv422": cv2.COLOR_YUV2BGR_UYVY, "yuyv": cv2.COLOR_YUV2BGR_YUY2,
               "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2, "nv12": cv2.COLOR_YUV2BGR_NV12, "nv21": cv2.COLOR_YUV2BGR_NV21}
LOSSLESS = [c for c in ("png", "tiff", "webp") if c in COMPRESSED_CODECS]
_ENCODE_PARAMS = {"webp": [cv2.IMWRITE_WEBP_QUALITY, 101]}  # quality above 100: lossless WebP
_CODEC_VALUES = {"png": ("u1", "u2"), "tiff": ("u1", "u2", "f4"), "webp": ("u1",)}  # what OpenCV's encoders hold


def _value_kind(encoding: str) -> str:
    if encoding == "32FC1":
        return "f4"
    return "u2" if encoding.endswith("16") or encoding.startswith("16UC") else "u1"


def _codec_holds(codec: str, encoding: str) -> bool:
    """PNG 8/16-bit, TIFF 8/16-bit and float, WebP 8-bit; no encoder writes two channels."""
    if encoding in ("8UC2", "16UC2"):
        return False
    if codec == "tiff" and encoding.lower() in ("uyvy", "yuv422", "yuyv", "yuv422_yuy2"):  # stored as is: 2 channels
        return False
    if codec != "tiff" and encoding == "nv24":  # cv_bridge (image_transport's bgr8 target) cannot convert NV24
        return False
    if codec == "webp" and encoding.lower() in ("8uc4", "rgba8", "bgra8"):  # lossless WebP drops the colour of
        return False  # fully transparent pixels
    return _value_kind(encoding) in _CODEC_VALUES[codec]


MATRIX = [(e, c) for e in SUPPORTED_ENCODINGS for c in LOSSLESS if _codec_holds(c, e)]


def transport_stream(raw: Raw, codec: str) -> tuple[str, bytes]:
    """(format, data) as image_transport's compressed plugin (kilted) writes them: cv_bridge target, cv2.imencode.

    PNG (and WebP here): colour encodings are converted to ``bgr<bits>`` / ``bgra<bits>`` (YUV by OpenCV to
    bgr8) and named as the target; every other encoding (mono, Bayer, nUCn) is stored as it is, with an empty
    target. TIFF stores every encoding as it is (rgb8 stays in RGB order, NV planes as one grey picture).
    """
    name, target = raw.encoding.lower(), ""
    pixels = raw.pixels
    if codec != "tiff" and name in _YUV_TO_BGR:
        pixels, target = cv2.cvtColor(pixels, _YUV_TO_BGR[name]), "bgr8"
    elif codec != "tiff" and name.startswith(("rgb", "bgr")):
        alpha = pixels.shape[2] == 4
        colour = pixels[..., [2, 1, 0, 3][: pixels.shape[2]]] if name.startswith("rgb") else pixels
        pixels = np.ascontiguousarray(colour)
        target = f"bgr{'a' if alpha else ''}{'16' if name.endswith('16') else '8'}"
    ok, data = cv2.imencode(f".{codec}", np.ascontiguousarray(pixels), _ENCODE_PARAMS.get(codec, []))
    assert ok, f"cv2.imencode .{codec} refused {raw.encoding}"
    return f"{raw.encoding}; {codec} compressed {target}", data.tobytes()


def test_matrix_covers_every_encoding_and_codec():
    assert {"png", "tiff"} <= set(LOSSLESS)
    assert {e for e, _ in MATRIX} == set(SUPPORTED_ENCODINGS) - {"8UC2", "16UC2"}
    assert ("mono16", "png") in MATRIX and ("32FC1", "tiff") in MATRIX and ("bayer_grbg16", "png") in MATRIX


@pytest.mark.parametrize("encoding, codec", MATRIX)
def test_compressed_equals_raw(encoding, codec):
    """Lossless stream → the same RGB as the raw message, 16-bit and float included (automatic and fixed range)."""
    raw = raw_frame(encoding, random_rgb(20), bits16=12)
    fmt, data = transport_stream(raw, codec)
    np.testing.assert_array_equal(compressed_to_rgb(fmt, data), convert_raw(raw))
    np.testing.assert_array_equal(compressed_to_rgb(fmt, data, raw.value_range), convert_raw(raw, raw.value_range))


@pytest.fixture(scope="module")
def camvid():
    from seg_ros.model import load_model_dir
    from seg_ros.segmenter import Segmenter

    return Segmenter(load_model_dir(require(CAMVID_MODEL)), backend="onnxruntime")


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A real street photo at 96x72 (even sizes for every YUV layout)."""
    bgr = cv2.imread(str(require(JETSON_IMAGES / "city_0.jpg")))
    return np.ascontiguousarray(cv2.resize(bgr, (96, 72), interpolation=cv2.INTER_AREA)[..., ::-1])


_RAW_CLASS_MAPS: dict[str, np.ndarray] = {}


@pytest.mark.parametrize("encoding, codec", MATRIX)
def test_compressed_class_map_equals_raw(encoding, codec, camvid, scene):
    """Through the real ESPNet-CamVid network: compressed and raw give the same class map, pixel for pixel."""
    raw = raw_frame(encoding, scene, bits16=12)
    if encoding not in _RAW_CLASS_MAPS:
        _RAW_CLASS_MAPS[encoding] = camvid.segment(convert_raw(raw)).class_map.copy()
    expected = _RAW_CLASS_MAPS[encoding]
    assert len(np.unique(expected)) >= 3  # a real scene, not one class everywhere
    fmt, data = transport_stream(raw, codec)
    np.testing.assert_array_equal(camvid.segment(compressed_to_rgb(fmt, data)).class_map, expected)


@pytest.mark.parametrize("encoding, fmt", [
    ("rgb8", "rgb8; jpeg compressed bgr8"), ("bgra8", "bgra8; jpeg compressed bgr8"),
    ("mono8", "mono8; jpeg compressed "), ("bayer_rggb8", "bayer_rggb8; jpeg compressed "),
])
def test_compressed_jpeg_is_close_to_raw(encoding, fmt):
    """JPEG is lossy: the same conversion as raw (colour order, mono, demosaicing) within JPEG error."""
    raw = raw_frame(encoding, smooth_rgb())
    pixels = raw.pixels[..., :3] if raw.pixels.ndim == 3 else raw.pixels
    if encoding.startswith("rgb"):
        pixels = pixels[..., ::-1]
    ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(pixels), [cv2.IMWRITE_JPEG_QUALITY, 100])
    out, expected = compressed_to_rgb(fmt, jpg.tobytes()), convert_raw(raw)
    assert np.abs(interior(out) - interior(expected)).mean() < 2


@pytest.mark.parametrize(
    "fmt, data, words",
    [
        ("jpeg", b"", ["no data"]),
        ("jpeg", b"\xff\xd8\xff\xe0 this is not a jpeg", ["cannot decode", "corrupt"]),
        ("png", bytes(100), ["cannot decode"]),
    ],
)
def test_bad_compressed_input_raises_a_clear_error(fmt, data, words):
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb(fmt, data)
    for word in words:
        assert word in str(info.value)


def test_truncated_jpeg_raises():
    ok, jpg = cv2.imencode(".jpg", random_rgb(6, (64, 64)))
    with pytest.raises(ImageConversionError):
        compressed_to_rgb("jpeg", jpg.tobytes()[:200])


def test_rgb_to_image_fields():
    rgb = random_rgb(7)
    h, w, step, data = rgb_to_image_fields(rgb, "rgb8")
    assert (h, w, step) == (H, W, W * 3) and bytes(data) == rgb.tobytes()
    h, w, step, data = rgb_to_image_fields(rgb, "bgr8")
    assert step == W * 3 and bytes(data) == np.ascontiguousarray(rgb[..., ::-1]).tobytes()
    mask = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    for m in (mask, mask[..., None]):
        h, w, step, data = rgb_to_image_fields(m, "mono8")
        assert (h, w, step) == (H, W, W) and bytes(data) == mask.tobytes()
    strided = random_rgb(8, (H, W * 2))[:, ::2]  # not contiguous
    assert bytes(rgb_to_image_fields(strided, "rgb8")[3]) == np.ascontiguousarray(strided).tobytes()


@pytest.mark.parametrize(
    "arr, encoding, word",
    [
        (np.zeros((H, W, 3), np.uint8), "yuv422", "cannot write"),
        (np.zeros((H, W, 3), np.float32), "rgb8", "uint8"),
        (np.zeros((H, W), np.uint8), "rgb8", "(H, W, 3)"),
        (np.zeros((H, W, 4), np.uint8), "bgr8", "(H, W, 3)"),
        (np.zeros((H, W, 3), np.uint8), "mono8", "(H, W)"),
        (np.zeros((0, W, 3), np.uint8), "rgb8", "zero-size"),
    ],
)
def test_rgb_to_image_fields_rejects_bad_arrays(arr, encoding, word):
    with pytest.raises(ImageConversionError, match=None) as info:
        rgb_to_image_fields(arr, encoding)
    assert word in str(info.value)


@pytest.mark.parametrize("check_fields", [False, True])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_fill_real_image_message_and_read_back(encoding, check_fields):
    msg_mod = pytest.importorskip("sensor_msgs.msg")
    rgb = random_rgb(10)
    msg = msg_mod.Image(check_fields=check_fields)
    msg.header.frame_id = "camera"
    fill_image_msg(msg, rgb, encoding)
    assert (msg.height, msg.width, msg.step, msg.encoding, msg.is_bigendian) == (H, W, W * 3, encoding, 0)
    assert isinstance(msg.data, array.array) and len(msg.data) == H * W * 3
    assert msg.header.frame_id == "camera"
    first = rgb[0, 0] if encoding == "rgb8" else rgb[0, 0, ::-1]
    assert list(msg.data[:3]) == first.tolist()
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)
    rgb[:] = 0  # the message owns its bytes
    assert any(msg.data[:30])


def test_fill_mono8_mask_survives_serialisation():
    msg_mod = pytest.importorskip("sensor_msgs.msg")
    serialization = pytest.importorskip("rclpy.serialization")
    mask = np.random.default_rng(11).integers(0, 12, (H, W), dtype=np.uint8)
    msg = msg_mod.Image()
    fill_image_msg(msg, mask, "mono8")
    back = serialization.deserialize_message(serialization.serialize_message(msg), msg_mod.Image)
    assert (back.height, back.width, back.step, back.encoding) == (H, W, W, "mono8")
    np.testing.assert_array_equal(np.frombuffer(back.data, np.uint8).reshape(H, W), mask)
    np.testing.assert_array_equal(image_msg_to_rgb(back)[..., 1], mask)


def test_fill_duck_typed_message():
    msg = SimpleNamespace()
    rgb = random_rgb(12)
    fill_image_msg(msg, rgb, "rgb8")
    assert msg.encoding == "rgb8" and bytes(msg.data) == rgb.tobytes()


def test_real_image_message_with_padding_and_compressed_message():
    msg_mod = pytest.importorskip("sensor_msgs.msg")
    rgb = random_rgb(13)
    data, step = padded(rgb[..., ::-1], 16)
    msg = msg_mod.Image(height=H, width=W, encoding="bgr8", step=step, data=data)
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)
    values = (grey_of(rgb).astype(np.uint16) * 257).astype(">u2")
    msg16 = msg_mod.Image(height=H, width=W, encoding="mono16", is_bigendian=1, step=W * 2, data=values.tobytes())
    np.testing.assert_array_equal(image_msg_to_rgb(msg16, mono16_range=(0, 65535))[..., 0], grey_of(rgb))

    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    cmsg = msg_mod.CompressedImage(format="rgb8; png compressed bgr8", data=png.tobytes())
    np.testing.assert_array_equal(compressed_to_rgb(cmsg.format, cmsg.data), rgb)
