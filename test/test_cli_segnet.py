"""The segnet command line end to end with the real ESPNet-CamVid network and the jetson-inference samples.

Outputs are checked against the class map Segmenter computes for the same pixels: with ``--visualize mask
--filter-mode point`` on a 480x360 image (the network's own size) every output pixel is the colour of its class.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_ros.model import load_model_dir, parse_colors
from seg_ros.paths import shared_root
from seg_ros.segmenter import Segmenter

SHARED = shared_root()
MODEL = SHARED / "models" / "espnet-camvid-480x360"
IMAGES = SHARED / "data" / "jetson-inference" / "images"
pytestmark = pytest.mark.skipif(not (MODEL.is_dir() and IMAGES.is_dir()), reason=f"shared data not found at {SHARED}")

MASK_ARGS = ["--network", str(MODEL), "--visualize", "mask", "--filter-mode", "point", "--alpha", "255"]


@pytest.fixture(autouse=True)
def _isolated_model_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user cache or model path leaks in: only the shared models are on the search path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("SEG_ROS_MODEL_PATH", str(SHARED / "models"))


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(load_model_dir(MODEL))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """trail_0/1 resized to the network size 480x360, as lossless PNG."""
    folder = tmp_path_factory.mktemp("small")
    for i in (0, 1):
        bgr = cv2.resize(cv2.imread(str(IMAGES / f"trail_{i}.jpg")), (480, 360), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"trail_{i}.png"), bgr)
    return folder


def run_segnet(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    from seg_ros.cli.segnet import main

    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} missing or unreadable"
    return image[:, :, ::-1]


def expected_mask(segmenter: Segmenter, image_rgb: np.ndarray) -> np.ndarray:
    """Colour of each pixel's class for a 480x360 image (class map and image have the same size)."""
    class_map = segmenter.segment(image_rgb).class_map
    assert class_map.shape == image_rgb.shape[:2]
    return segmenter.spec.colors[:, :3].astype(np.uint8)[class_map]


def assert_mask_matches(output: Path, source: Path | np.ndarray, segmenter: Segmenter) -> None:
    image = read_rgb(source) if isinstance(source, Path) else source
    np.testing.assert_array_equal(read_rgb(output), expected_mask(segmenter, image))


def test_single_file_mask_equals_segmenter(small: Path, tmp_path: Path, segmenter: Segmenter,
                                           capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_segnet([small / "trail_0.png", tmp_path / "out.png", *MASK_ARGS], capsys)
    assert rc == 0, err
    assert_mask_matches(tmp_path / "out.png", small / "trail_0.png", segmenter)
    # The network's dominant classes on a forest trail are natural ones, not e.g. all "car".
    counts = np.bincount(segmenter.segment(read_rgb(small / "trail_0.png")).class_map.ravel(), minlength=12)
    assert counts.argmax() in (0, 3, 4, 5)  # sky, road, pavement, tree


def test_default_composite_layout_on_full_size_sample(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """segnet.py's overlay,mask composite: overlay W x H then the half-size mask at the right (W + W/2 wide)."""
    rc, _, err = run_segnet([IMAGES / "trail_0.jpg", tmp_path / "out" / "comp.jpg", "--network", str(MODEL)], capsys)
    assert rc == 0, err
    image, comp = read_rgb(IMAGES / "trail_0.jpg"), read_rgb(tmp_path / "out" / "comp.jpg")
    h, w = image.shape[:2]
    assert comp.shape == (h, w + w // 2, 3)
    # The overlay half keeps the photo's structure (blend with alpha 150 of 255): strongly correlated with it.
    grey_in = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float).ravel()
    grey_out = cv2.cvtColor(np.ascontiguousarray(comp[:, :w]), cv2.COLOR_RGB2GRAY).astype(float).ravel()
    assert np.corrcoef(grey_in, grey_out)[0, 1] > 0.5


def test_directory_input_to_directory_output(small: Path, tmp_path: Path, segmenter: Segmenter,
                                             capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_segnet([small, tmp_path / "masks", *MASK_ARGS], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["trail_0.png", "trail_1.png"]
    for name in ("trail_0.png", "trail_1.png"):
        assert_mask_matches(tmp_path / "masks" / name, small / name, segmenter)
    assert "2 frame(s)" in out


def test_wildcard_input_to_pattern_output(small: Path, tmp_path: Path, segmenter: Segmenter,
                                          capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_segnet([str(small / "trail_*.png"), tmp_path / "seq" / "frame_%03i.png", *MASK_ARGS], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["frame_000.png", "frame_001.png"]
    assert_mask_matches(tmp_path / "seq" / "frame_000.png", small / "trail_0.png", segmenter)
    assert_mask_matches(tmp_path / "seq" / "frame_001.png", small / "trail_1.png", segmenter)


def test_video_input_to_video_and_to_frames(small: Path, tmp_path: Path, segmenter: Segmenter,
                                            capsys: pytest.CaptureFixture) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (480, 360))
    assert writer.isOpened()
    for name in ("trail_0.png", "trail_1.png", "trail_0.png"):
        writer.write(cv2.imread(str(small / name)))
    writer.release()

    rc, _, err = run_segnet([video, tmp_path / "out.avi", "--network", str(MODEL), "--filter-mode", "point"], capsys)
    assert rc == 0, err
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    frames = []
    while (ok_frame := cap.read())[0]:
        frames.append(ok_frame[1])
    cap.release()
    assert len(frames) == 3 and frames[0].shape == (360, 720, 3)  # overlay,mask composite

    rc, _, err = run_segnet([video, tmp_path / "frames" / "f_%i.png", *MASK_ARGS], capsys)
    assert rc == 0, err
    cap = cv2.VideoCapture(str(video))  # decode the same frames the tool saw
    for i in range(3):
        ok, bgr = cap.read()
        assert ok
        assert_mask_matches(tmp_path / "frames" / f"f_{i}.png", np.ascontiguousarray(bgr[:, :, ::-1]), segmenter)
    cap.release()


def test_corrupt_file_in_batch_is_skipped_and_reported(small: Path, tmp_path: Path, segmenter: Segmenter,
                                                       capsys: pytest.CaptureFixture) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("trail_0.png", "trail_1.png"):
        (batch / name).write_bytes((small / name).read_bytes())
    (batch / "trail_0b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated garbage")
    rc, _, err = run_segnet([batch, tmp_path / "out", *MASK_ARGS], capsys)
    assert rc == 1
    assert "1 input(s) failed" in err and "trail_0b.png" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["trail_0.png", "trail_1.png"]
    assert_mask_matches(tmp_path / "out" / "trail_1.png", small / "trail_1.png", segmenter)


def test_refuses_to_overwrite_inputs(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "trail_0.png").write_bytes((small / "trail_0.png").read_bytes())
    before = (folder / "trail_0.png").read_bytes()
    for output in (folder, folder / "trail_0.png", folder / "trail_%i.png"):
        rc, _, err = run_segnet([folder, output, "--network", str(MODEL)], capsys)
        assert rc == 2 and "refusing to overwrite" in err and "Traceback" not in err
    rc, _, err = run_segnet([folder / "trail_0.png", "--legend", folder / "trail_0.png", "--network", MODEL], capsys)
    assert rc == 2 and "refusing to overwrite" in err
    assert (folder / "trail_0.png").read_bytes() == before
    assert sorted(folder.iterdir()) == [folder / "trail_0.png"]


def test_stats_report_class_pixel_counts(small: Path, segmenter: Segmenter, capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_segnet([small / "trail_1.png", "--network", MODEL, "--stats"], capsys)
    assert rc == 0, err
    class_map = segmenter.segment(read_rgb(small / "trail_1.png")).class_map
    counts = np.bincount(class_map.ravel(), minlength=segmenter.spec.num_classes)
    lines = out.splitlines()
    for class_id in np.flatnonzero(counts):
        name = segmenter.spec.class_names[class_id]
        assert any(name in line and str(counts[class_id]) in line for line in lines), (name, counts[class_id], out)


def test_legend_file_shows_every_class_colour(tmp_path: Path, small: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_segnet([small / "trail_0.png", "--network", MODEL, "--legend", tmp_path / "l" / "legend.png"],
                            capsys)
    assert rc == 0, err
    legend = read_rgb(tmp_path / "l" / "legend.png").reshape(-1, 3)
    present = {tuple(int(v) for v in px) for px in np.unique(legend, axis=0)}
    colours = [tuple(int(v) for v in line.split()) for line in (MODEL / "colors.txt").read_text().splitlines()]
    missing = [c for c in colours if c not in present]
    assert not missing, f"legend lacks the colours {missing}"


def test_custom_model_with_labels_and_colors(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """segNet-style --model/--labels/--colors: the given names and colours are the ones used."""
    labels, colors = tmp_path / "labels.txt", tmp_path / "palette.txt"
    labels.write_text("\n".join(f"k{i:02d}" for i in range(12)) + "\n")
    palette = [(20 * i, 255 - 20 * i, (70 * i) % 256) for i in range(12)]
    colors.write_text("\n".join(" ".join(map(str, c)) for c in palette) + "\n")
    args = [small / "trail_0.png", tmp_path / "m.png", "--model", MODEL / "espnet.onnx", "--labels", labels,
            "--colors", colors, "--input-blob", "input_0", "--output-blob", "output_0", "--visualize", "mask",
            "--filter-mode", "point", "--stats"]
    rc, out, err = run_segnet(args, capsys)
    assert rc == 0, err
    # Expected: the model folder's own network and preprocessing (model.yaml beside the ONNX) with the given
    # names and colours, through Segmenter.
    rgba, explicit = parse_colors(colors.read_text().splitlines(), str(colors))
    spec = replace(load_model_dir(MODEL), class_names=tuple(labels.read_text().split()), colors=rgba,
                   explicit_alpha=explicit)
    mask = expected_mask(Segmenter(spec), read_rgb(small / "trail_0.png"))
    np.testing.assert_array_equal(read_rgb(tmp_path / "m.png"), mask)
    assert "k0" in out and "sky" not in out


def test_timing_table(small: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    args = [small / "trail_0.png", tmp_path / "o.jpg", "--network", MODEL, "--timing", "--filter-mode", "point"]
    rc, out, err = run_segnet(args, capsys)
    assert rc == 0, err
    for stage in ("preprocess", "network", "postprocess", "render"):
        assert any(line.split()[:1] == [stage] for line in out.splitlines()), out


def test_unknown_network_suggests_close_matches(small: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_segnet([small / "trail_0.png", "--network", "espnet-camvid-480x36"], capsys)
    assert rc == 2
    assert "unknown network" in err and "espnet-camvid-480x360" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_default_network_not_downloaded_is_one_clear_error(small: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_segnet([small / "trail_0.png", "--no-download"], capsys)
    assert rc == 2 and "not downloaded" in err and "segnet-download" in err


def test_bad_arguments_exit_2(small: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    for bad in (["--visualize", "sparkles"], ["--filter-mode", "cubic"]):
        with pytest.raises(SystemExit) as info:
            run_segnet([small / "trail_0.png", tmp_path / "x.jpg", *bad], capsys)
        assert info.value.code == 2
    rc, _, err = run_segnet([small / "trail_0.png", tmp_path / "x.jpg", "--network", MODEL, "--alpha", "300"], capsys)
    assert rc == 2 and "alpha" in err
    rc, _, err = run_segnet([tmp_path / "missing.jpg", tmp_path / "x.jpg", "--network", MODEL], capsys)
    assert rc == 2 and "does not exist" in err
    rc, _, err = run_segnet([small / "trail_0.png", "--network", MODEL, "--labels", MODEL / "classes.txt"], capsys)
    assert rc == 2 and "--labels: only for --model FILE.onnx" in err
    rc, _, err = run_segnet([small / "trail_0.png", "--model", MODEL / "espnet.onnx", "--colors",
                             tmp_path / "nope.txt"], capsys)
    assert rc == 2 and "nope.txt does not exist" in err


def test_console_script_reports_model_error_without_traceback(small: Path, tmp_path: Path) -> None:
    """The installed `segnet` executable: exit status 2 and one line on stderr for a model error."""
    exe = Path(sys.executable).parent / "segnet"
    if not exe.is_file():
        pytest.skip("segnet console script not installed in this environment")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), SEG_ROS_MODEL_PATH=str(SHARED / "models"))
    proc = subprocess.run([str(exe), str(small / "trail_0.png"), "--network", "fcn-resnet18-deepscen"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "fcn-resnet18-deepscene" in proc.stderr


def test_offline_demo_falls_back_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """make demo: without the DeepScene network it says so once and uses ESPNet-CamVid from the shared models."""
    import json

    from seg_ros.demo import main as demo_main

    assert demo_main(["--shared", str(SHARED), "--output", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert sum("fcn-resnet18-deepscene is unavailable" in line for line in out.splitlines()) == 1
    assert "espnet-camvid-480x360" in out and "network" in out
    trails = sorted(p.stem for p in IMAGES.glob("trail_*.jpg"))
    demo = tmp_path / "demo"
    assert sorted(p.stem for p in (demo / "overlay").iterdir()) == trails
    assert sorted(p.stem for p in (demo / "mask").iterdir()) == trails
    assert read_rgb(demo / "legend.png").size > 0 and (demo / "stats.txt").read_text().strip()
    summary = json.loads((demo / "stats.json").read_text())
    assert summary["network"] == "espnet-camvid-480x360" and len(summary["images"]) == len(trails)
    for stats in summary["images"].values():  # every cell of the 480x360 class map is counted once
        assert sum(s["pixels"] for s in stats) == 480 * 360
        assert sum(s["fraction"] for s in stats) == pytest.approx(1.0)
    mask = read_rgb(demo / "mask" / "trail_0.png")
    assert mask.shape == read_rgb(IMAGES / "trail_0.jpg").shape


def test_backend_is_closed_after_a_run_and_after_a_failure(small, tmp_path, capsys, monkeypatch):
    from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
    from seg_ros.cli import segnet as cli

    closed: list[int] = []
    monkeypatch.setattr(OnnxRuntimeBackend, "close", lambda self: closed.append(id(self)), raising=False)
    rc, _, err = run_segnet([small / "trail_0.png", tmp_path / "a.png", *MASK_ARGS], capsys)
    assert rc == 0, err
    assert len(closed) == 1

    def broken(*_args, **_kwargs):
        raise RuntimeError("output device vanished")

    monkeypatch.setattr(cli, "_process", broken)
    with pytest.raises(RuntimeError, match="vanished"):
        run_segnet([small / "trail_0.png", tmp_path / "b.png", *MASK_ARGS], capsys)
    assert len(closed) == 2
