"""seg_ros.media: reading inputs (file, folder, wildcard, video) and writing outputs (file, folder, %i, video)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_ros.errors import SegRosError
from seg_ros.media import (
    ImageSequence,
    MediaError,
    VideoSource,
    open_input,
    open_output,
    output_kind,
    read_image,
    write_image,
)
from seg_ros.paths import shared_root

SHARED = shared_root()
IMAGES = SHARED / "data" / "jetson-inference" / "images"
needs_images = pytest.mark.skipif(not IMAGES.is_dir(), reason=f"sample images not found at {IMAGES}")


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    """A small RGB image whose three channels differ, so a channel swap is visible."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 7 % 256, y * 9 % 256, np.full_like(x, 200)], axis=2).astype(np.uint8)


def test_read_image_returns_rgb(tmp_path: Path) -> None:
    rgb = _gradient()
    cv2.imwrite(str(tmp_path / "a.png"), rgb[:, :, ::-1])  # cv2 writes BGR
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)


def test_read_image_grey_becomes_rgb(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 77, np.uint8))
    image = read_image(tmp_path / "g.png")
    assert image.shape == (5, 6, 3) and (image == 77).all()


def test_write_image_roundtrip_png_and_creates_folder(tmp_path: Path) -> None:
    rgb = _gradient()
    target = tmp_path / "new" / "deeper" / "b.png"
    write_image(target, rgb)
    np.testing.assert_array_equal(cv2.imread(str(target))[:, :, ::-1], rgb)


def test_corrupt_and_missing_images_raise_media_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(MediaError, match="not a readable image"):
        read_image(bad)
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "absent.jpg")
    assert issubclass(MediaError, SegRosError)


def test_write_image_rejects_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="extension"):
        write_image(tmp_path / "x.txt", _gradient())


@needs_images
def test_open_input_single_file() -> None:
    source = open_input(str(IMAGES / "trail_0.jpg"))
    frames = list(source)
    assert isinstance(source, ImageSequence) and len(source) == 1 and len(frames) == 1
    assert frames[0].stem == "trail_0" and frames[0].error is None
    assert frames[0].image.shape == (479, 869, 3)
    np.testing.assert_array_equal(frames[0].image, cv2.imread(str(IMAGES / "trail_0.jpg"))[:, :, ::-1])


@needs_images
def test_open_input_wildcard_is_sorted() -> None:
    source = open_input(str(IMAGES / "trail_*.jpg"))
    names = [p.name for p in source.paths]
    assert names == [f"trail_{i}.jpg" for i in range(9)]


def test_open_input_folder_natural_order_images_only(tmp_path: Path) -> None:
    for name in ("f_10.png", "f_2.png", "f_1.png"):
        write_image(tmp_path / name, _gradient())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    source = open_input(str(tmp_path))
    assert [p.name for p in source.paths] == ["f_1.png", "f_2.png", "f_10.png"]


def test_open_input_batch_keeps_going_past_corrupt_file(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", _gradient())
    (tmp_path / "b.png").write_bytes(b"\x89PNG garbage")
    write_image(tmp_path / "c.png", _gradient())
    frames = list(open_input(str(tmp_path)))
    assert [f.error is None for f in frames] == [True, False, True]
    assert "b.png" in frames[1].error and frames[1].image is None


def test_open_input_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        open_input(str(tmp_path / "nothing.jpg"))
    with pytest.raises(MediaError, match="no files match"):
        open_input(str(tmp_path / "nothing_*.jpg"))
    with pytest.raises(MediaError, match="no images"):
        open_input(str(tmp_path))


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f[:, :, ::-1].copy())
    writer.release()


def test_video_input_and_output(tmp_path: Path) -> None:
    y, x = np.mgrid[0:48, 0:64]
    smooth = np.stack([x * 3, y * 2 + 20, np.full_like(x, 220)], axis=2).astype(np.uint8)  # MJPG-friendly
    frames = [np.roll(smooth, 4 * i, axis=1) for i in range(4)]
    _write_video(tmp_path / "in.avi", frames, fps=12.0)
    source = open_input(str(tmp_path / "in.avi"))
    assert isinstance(source, VideoSource) and source.is_video and len(source) == 4
    assert source.fps == pytest.approx(12.0)
    read = list(source)
    source.close()
    assert [f.index for f in read] == [0, 1, 2, 3]
    assert read[2].stem == "in_00002"
    # MJPG is lossy: compare loosely, but tight enough to catch a BGR/RGB swap (channels differ by ~100).
    assert np.abs(read[1].image.astype(int) - frames[1].astype(int)).mean() < 4

    sink = open_output(str(tmp_path / "out" / "copy.avi"), open_input(str(tmp_path / "in.avi")))
    for f in read:
        sink.write(f, f.image)
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "out" / "copy.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (64, 48)
    cap.release()


def test_output_kinds(tmp_path: Path) -> None:
    assert output_kind(str(tmp_path)) == "dir"
    assert output_kind(str(tmp_path / "new") + "/") == "dir"
    assert output_kind(str(tmp_path / "new")) == "dir"
    assert output_kind("out_%03i.jpg") == "pattern"
    assert output_kind("out_%i.png") == "pattern"
    assert output_kind("x.mp4") == "video"
    assert output_kind("x.JPG") == "file"
    with pytest.raises(MediaError, match="unknown extension"):
        output_kind("x.xyz")


def _folder_of_three(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for i in range(3):
        write_image(folder / f"im_{i}.png", _gradient())
    return folder


def test_directory_and_pattern_outputs(tmp_path: Path) -> None:
    folder = _folder_of_three(tmp_path)
    source = open_input(str(folder))
    to_dir = open_output(str(tmp_path / "out"), source)
    to_pattern = open_output(str(tmp_path / "pat" / "frame_%03i.jpg"), source)
    for frame in open_input(str(folder)):
        to_dir.write(frame, frame.image)
        to_pattern.write(frame, frame.image)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["im_0.png", "im_1.png", "im_2.png"]
    assert sorted(p.name for p in (tmp_path / "pat").iterdir()) == ["frame_000.jpg", "frame_001.jpg", "frame_002.jpg"]


def test_single_file_output_refused_for_many_inputs(tmp_path: Path) -> None:
    source = open_input(str(_folder_of_three(tmp_path)))
    with pytest.raises(MediaError, match="single image"):
        open_output(str(tmp_path / "one.jpg"), source)


def test_output_never_overwrites_input(tmp_path: Path) -> None:
    folder = _folder_of_three(tmp_path)
    before = (folder / "im_1.png").read_bytes()
    with pytest.raises(MediaError, match="refusing to overwrite"):
        open_output(str(folder), open_input(str(folder)))
    with pytest.raises(MediaError, match="refusing to overwrite"):
        open_output(str(folder / "im_1.png"), open_input(str(folder / "im_1.png")))
    with pytest.raises(MediaError, match="refusing to overwrite"):
        open_output(str(folder / "im_%i.png"), open_input(str(folder)))
    assert (folder / "im_1.png").read_bytes() == before


def test_bad_pattern_is_reported(tmp_path: Path) -> None:
    source = open_input(str(_folder_of_three(tmp_path)))
    with pytest.raises(MediaError, match="%i"):
        open_output(str(tmp_path / "a_%i_%i.jpg"), source)


def test_write_image_below_a_file_is_a_media_error(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    with pytest.raises(MediaError, match="cannot write"):
        write_image(tmp_path / "a_file" / "x.png", _gradient())


def _exif_orientation_jpeg(bgr: np.ndarray, orientation: int) -> bytes:
    """A JPEG with an EXIF APP1 segment holding only the Orientation tag (0x0112), big-endian TIFF layout."""
    ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01"
    tiff += orientation.to_bytes(2, "big") + b"\x00\x00" + b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = jpg.tobytes()
    return data[:2] + app1 + data[2:]


def test_read_image_applies_exif_rotation(tmp_path: Path) -> None:
    """Photos keep their EXIF rotation (orientation 6: rotate 90° clockwise), as before 16-bit decoding."""
    rgb = np.zeros((30, 60, 3), np.uint8)
    rgb[:, :30] = (250, 10, 10)  # left half red
    (tmp_path / "rot.jpg").write_bytes(_exif_orientation_jpeg(np.ascontiguousarray(rgb[..., ::-1]), 6))
    image = read_image(tmp_path / "rot.jpg")
    assert image.shape == (60, 30, 3)
    assert image[5, 15, 0] > 200 and image[55, 15, 0] < 50  # red now on top


def test_read_image_16bit_grey_png_keeps_its_depth(tmp_path: Path) -> None:
    """A 12-bit frame in a 16-bit PNG: stretched like a raw mono16 message (automatic range), not read as 0..15."""
    from seg_ros.image_conversion import image_to_rgb

    y, x = np.mgrid[0:36, 0:48]
    values = (x * 85 + y * 3).astype(np.uint16)  # 0 .. 4100
    cv2.imwrite(str(tmp_path / "g16.png"), values)
    image = read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(image, image_to_rgb("mono16", 36, 48, 96, 0, values.tobytes()))
    assert image.max() == 255 and image.min() == 0
    eight_bit = cv2.imread(str(tmp_path / "g16.png"))  # what OpenCV's 8-bit read gives: the high byte
    assert eight_bit.max() <= 16


def test_read_image_16bit_colour_png(tmp_path: Path) -> None:
    from seg_ros.image_conversion import image_to_rgb

    rgb16 = (_gradient().astype(np.uint16) * 16 + 5)  # 12-bit colour
    cv2.imwrite(str(tmp_path / "c16.png"), np.ascontiguousarray(rgb16[..., ::-1]))
    image = read_image(tmp_path / "c16.png")
    h, w = rgb16.shape[:2]
    np.testing.assert_array_equal(image, image_to_rgb("rgb16", h, w, w * 6, 0, rgb16.tobytes()))
    assert image[..., 2].max() == image[..., 2].min()  # the flat blue channel stays flat
    assert int(image[..., 0].max()) - int(image[..., 0].min()) >= 200  # the red ramp is stretched


@pytest.mark.skipif(not (SHARED / "models" / "espnet-camvid-480x360").is_dir() or not IMAGES.is_dir(),
                    reason="shared model or images not found")
def test_segnet_cli_on_a_16bit_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    """segnet on a 16-bit grey PNG: the class map of the stretched frame, not of a nearly black one."""
    from seg_ros.cli.segnet import main
    from seg_ros.image_conversion import image_to_rgb
    from seg_ros.model import load_model_dir
    from seg_ros.segmenter import Segmenter

    model = SHARED / "models" / "espnet-camvid-480x360"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    grey = cv2.resize(cv2.imread(str(IMAGES / "city_0.jpg"), cv2.IMREAD_GRAYSCALE), (480, 360),
                      interpolation=cv2.INTER_AREA)
    values = grey.astype(np.uint16) * 16  # 12-bit camera counts
    cv2.imwrite(str(tmp_path / "frame16.png"), values)
    rc = main([str(tmp_path / "frame16.png"), str(tmp_path / "mask.png"), "--network", str(model),
               "--visualize", "mask", "--filter-mode", "point", "--alpha", "255"])
    assert rc == 0, capsys.readouterr().err
    segmenter = Segmenter(load_model_dir(model))
    colours = segmenter.spec.colors[:, :3].astype(np.uint8)
    stretched = image_to_rgb("mono16", 360, 480, 960, 0, values.tobytes())
    expected = colours[segmenter.segment(stretched).class_map]
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "mask.png"))[..., ::-1], expected)
    dark = colours[segmenter.segment(np.repeat((values >> 8).astype(np.uint8)[..., None], 3, axis=2)).class_map]
    assert (expected != dark).any(axis=2).mean() > 0.2  # the old high-byte reading segments differently
