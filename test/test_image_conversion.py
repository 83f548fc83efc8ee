"""Image messages ⇄ RGB arrays (seg_ros.image_conversion) against independently built encodings.

Every encoded buffer here is made with plain numpy from a known RGB image (BT.601 formulas for YUV,
per-position channel picking for Bayer), never with the module under test.
"""

from __future__ import annotations

import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from shared_data import JETSON_IMAGES, require

from seg_ros.errors import SegRosError
from seg_ros.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_to_rgb,
    fill_image_msg,
    image_msg_to_rgb,
    image_to_rgb,
    rgb_to_image_fields,
)

H, W = 24, 32


def random_rgb(seed: int = 0, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def smooth_rgb() -> np.ndarray:
    """Linear ramps: bilinear demosaicing and 4:2:2 chroma averaging reproduce them almost exactly."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([40 + 5 * x, 30 + 6 * y, 200 - 2 * x - 2 * y], axis=-1).astype(np.uint8)


def padded(rows: np.ndarray, pad: int) -> tuple[bytes, int]:
    """(data, step) of a packed (H, row_bytes) uint8 array with ``pad`` junk bytes after each row."""
    rows = rows.reshape(rows.shape[0], -1)
    junk = np.full((rows.shape[0], pad), 0xAB, np.uint8)
    return np.concatenate([rows, junk], axis=1).tobytes(), rows.shape[1] + pad


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)


def yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """BT.601 video-range 4:2:2 bytes (H, W*2); chroma is the mean of each horizontal pixel pair."""
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    y0, y1 = y[:, 0::2], y[:, 1::2]
    quad = [u2, y0, v2, y1] if order == "uyvy" else [y0, u2, y1, v2]
    return np.clip(np.rint(np.stack(quad, axis=-1)), 0, 255).astype(np.uint8).reshape(rgb.shape[0], -1)


def bayer(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Mosaic (H, W): the 2x2 ``pattern`` (e.g. "rggb": R at (0,0), G at (0,1), G at (1,0), B at (1,1))."""
    index = {"r": 0, "g": 1, "b": 2}
    out = np.empty(rgb.shape[:2], np.uint8)
    for k, ch in enumerate(pattern):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, index[ch]]
    return out


def encode(rgb: np.ndarray, encoding: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(packed rows as uint8 (H, row_bytes), expected RGB, max abs tolerance) for ``encoding``."""
    alpha = np.random.default_rng(9).integers(0, 256, rgb.shape[:2] + (1,), dtype=np.uint8)
    grey = grey_of(rgb)
    grey_rgb = np.repeat(grey[..., None], 3, axis=2)
    if encoding == "rgb8":
        return rgb, rgb, 0
    if encoding in ("bgr8", "8UC3"):
        return rgb[..., ::-1], rgb, 0
    if encoding == "rgba8":
        return np.concatenate([rgb, alpha], axis=2), rgb, 0
    if encoding == "bgra8":
        return np.concatenate([rgb[..., ::-1], alpha], axis=2), rgb, 0
    if encoding in ("mono8", "8UC1"):
        return grey, grey_rgb, 0
    if encoding in ("mono16", "16UC1"):  # full range: v * 257 maps back to v exactly
        return (grey.astype("<u2") * 257).view(np.uint8), grey_rgb, 0
    if encoding == "yuv422":
        return yuv422(rgb, "uyvy"), rgb, 3
    if encoding == "yuv422_yuy2":
        return yuv422(rgb, "yuy2"), rgb, 3
    if encoding.startswith("bayer_"):
        return bayer(rgb, encoding[6:10]), rgb, 1
    raise AssertionError(encoding)


def convert(encoding, rows, step_pad=0, is_bigendian=0, container=bytes, mono16_range=None):
    data, step = padded(rows, step_pad)
    return image_to_rgb(encoding, rows.shape[0], W, step, is_bigendian, container(data), mono16_range)


def interior(a: np.ndarray) -> np.ndarray:
    return a[2:-2, 2:-2].astype(int)


@pytest.mark.parametrize("pad", [0, 7])
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_every_encoding_round_trips(encoding, pad):
    rgb = smooth_rgb() if encoding.startswith(("bayer", "yuv")) else random_rgb()
    rows, expected, tol = encode(rgb, encoding)
    mono16_range = (0, 65535) if "16" in encoding else None
    out = convert(encoding, rows, step_pad=pad, mono16_range=mono16_range)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    if encoding.startswith("bayer"):  # demosaicing has no neighbours at the border
        out, expected = interior(out), interior(expected)
    err = np.abs(out.astype(int) - expected.astype(int))
    assert err.max() <= tol, f"{encoding}: max error {err.max()}"


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
        (dict(encoding="rgb16"), ["unsupported", "rgb16"]),
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


@pytest.mark.parametrize(
    "fmt, data, words",
    [
        ("jpeg", b"", ["no data"]),
        ("jpeg", b"\xff\xd8\xff\xe0 this is not a jpeg", ["cannot decode", "corrupt"]),
        ("png", bytes(100), ["cannot decode"]),
        ("16UC1; compressedDepth png", b"\x00" * 20, ["compressedDepth"]),
        ("h264", b"\x00\x00\x00\x01", ["unsupported", "h264"]),
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
