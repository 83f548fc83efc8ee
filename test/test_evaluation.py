"""Accuracy metrics (hand-computed confusion matrices) and segnet-eval on CamVid and on a synthetic folder set."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from shared_data import CAMVID_DATA, CAMVID_MODEL, require

from seg_ros import media
from seg_ros.cli import evaluate as cli
from seg_ros.evaluation import confusion_matrix, row_normalised, scores_from_confusion

# ---- pure metrics ------------------------------------------------------------------------------------


def test_confusion_matrix_counts_pairs_and_drops_ignored_labels():
    label = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [2, 2, 0]])
    conf = confusion_matrix(label, pred, 3, ignore_index=255)
    np.testing.assert_array_equal(conf, [[1, 1, 0], [0, 1, 1], [0, 0, 1]])


def test_scores_of_a_hand_computed_matrix():
    # rows = label: tp (1,1,1), label px (2,2,1), predicted px (1,2,2), union (2,3,2)
    s = scores_from_confusion(np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]]))
    assert s.pixel_accuracy == pytest.approx(3 / 5)
    np.testing.assert_allclose(s.class_accuracy, [1 / 2, 1 / 2, 1])
    np.testing.assert_allclose(s.class_iou, [1 / 2, 1 / 3, 1 / 2])
    assert s.mean_class_accuracy == pytest.approx(2 / 3)
    assert s.mean_iou == pytest.approx(4 / 9)


def test_void_predictions_on_labelled_pixels_count_as_wrong():
    # class 2 = void = ignore index: its row is empty, one class-0 pixel was predicted void.
    s = scores_from_confusion(np.array([[3, 0, 1], [1, 2, 0], [0, 0, 0]]), ignore_index=2)
    assert s.pixel_accuracy == pytest.approx(5 / 7)
    assert s.class_accuracy[0] == pytest.approx(3 / 4)
    assert s.class_iou[0] == pytest.approx(3 / 5)  # union = 4 labelled + 4 predicted - 3
    assert s.class_iou[1] == pytest.approx(2 / 3)
    assert np.isnan(s.class_iou[2]) and np.isnan(s.class_accuracy[2])
    assert s.mean_iou == pytest.approx((3 / 5 + 2 / 3) / 2)
    assert s.mean_class_accuracy == pytest.approx((3 / 4 + 2 / 3) / 2)


def test_absent_classes_left_out_of_means():
    # class 2: predicted once, never labelled (IoU 0 counts, accuracy undefined); class 3: absent from both.
    s = scores_from_confusion(np.array([[2, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]))
    assert s.class_iou[2] == 0.0 and np.isnan(s.class_accuracy[2])
    assert np.isnan(s.class_iou[3]) and np.isnan(s.class_accuracy[3])
    assert s.mean_iou == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert s.mean_class_accuracy == pytest.approx((2 / 3 + 1) / 2)
    assert s.pixel_accuracy == pytest.approx(3 / 4)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 7]), np.array([0, 1]), 3, ignore_index=255)


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    (b"not a png", "not a readable"),
    (b"", "not a readable"),
], ids=["missing", "corrupt", "empty"])
def test_unreadable_label_is_the_same_error_as_an_unreadable_image(tmp_path, content, words):
    """Both are MediaErrors (user errors, exit 2) whose message names the file."""
    from seg_ros.errors import MediaError, UserError
    from seg_ros.media import read_image

    path = tmp_path / "label.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=words) as label_error:
        media.read_label(path)
    with pytest.raises(MediaError, match=words) as image_error:
        read_image(path)
    assert str(path) in str(label_error.value) and str(path) in str(image_error.value)
    assert isinstance(label_error.value, UserError)


def test_colour_label_is_refused_grey_label_accepted(tmp_path):
    from seg_ros.errors import MediaError

    colour = np.zeros((4, 5, 3), np.uint8)
    colour[0, 0] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(MediaError, match="colour image"):
        media.read_label(tmp_path / "colour.png")
    grey = np.arange(20, dtype=np.uint16).reshape(4, 5)
    cv2.imwrite(str(tmp_path / "grey16.png"), grey)
    np.testing.assert_array_equal(media.read_label(tmp_path / "grey16.png"), grey)
    cv2.imwrite(str(tmp_path / "grey3.png"), np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2))
    np.testing.assert_array_equal(media.read_label(tmp_path / "grey3.png"), grey)


def test_row_normalised_keeps_empty_rows_zero():
    np.testing.assert_allclose(row_normalised(np.array([[1, 3], [0, 0]])), [[0.25, 0.75], [0.0, 0.0]])


# ---- segnet-eval on the real CamVid test list -----------------------------------------------------------


@pytest.fixture(scope="module")
def camvid_run(tmp_path_factory):
    list_file = require(CAMVID_DATA / "test.txt")
    out = tmp_path_factory.mktemp("camvid_eval")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = cli.main([str(require(CAMVID_MODEL)), "--list", str(list_file), "--json", str(out / "r.json"),
                       "--plot", str(out / "r.png"), "--threads", "2"])
    return rc, stdout.getvalue(), json.loads((out / "r.json").read_text()), out / "r.png"


def test_camvid_reference_figures(camvid_run):
    rc, text, data, _ = camvid_run
    assert rc == 0
    assert data["images"] == 78 and data["skipped"] == []
    assert data["ignore_index"] == 11  # the model's 'void' class
    assert abs(100 * data["pixel_accuracy"] - 85.93) <= 0.01
    assert abs(100 * data["mean_iou"] - 58.85) <= 0.01
    assert abs(100 * data["mean_class_accuracy"] - 70.30) <= 0.01
    assert "85.93" in text and "58.85" in text and "70.30" in text


def test_camvid_json_and_plot_are_consistent(camvid_run):
    _, _, data, plot = camvid_run
    conf = np.array(data["confusion_matrix"])
    assert conf.shape == (12, 12)
    assert conf[11].sum() == 0  # void labels are not scored ...
    assert conf[:, 11].sum() > 0  # ... but void predictions on labelled pixels are kept (and wrong)
    assert conf.sum() == sum(data["label_pixels"]) <= 78 * 480 * 360
    assert data["class_iou"][11] is None and len(data["classes"]) == 12
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600


# ---- images/ + labels/ folder layout on a synthetic model ---------------------------------------------------

BLOCK = 2  # one class-map cell = 2x2 label pixels
RED, GREEN, BLUE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0)
# 4x4 cells of 2x2 pixels; the model predicts red→0, green→1, blue→2, black→3 (void)
IMAGE_CELLS = [[RED, RED, GREEN, GREEN],
               [RED, RED, GREEN, GREEN],
               [BLUE, BLUE, BLACK, BLACK],
               [BLUE, BLUE, BLUE, BLUE]]
LABEL_CELLS = [[0, 0, 1, 1],
               [0, 1, 1, 1],
               [2, 2, 2, 3],
               [2, 2, 2, 0]]
# by hand, in cells (x4 pixels), rows = label: 0 → pred 0,0,0,2; 1 → 1,1,1,1,0; 2 → 2,2,3(void),2,2,2; 3 ignored
EXPECTED_CELLS = [[3, 0, 1, 0], [1, 4, 0, 0], [0, 0, 5, 1], [0, 0, 0, 0]]


def write_tiny_model(folder: Path) -> Path:
    """A stride-2 conv: class k (k<3) = mean of colour channel k over a 2x2 cell, class 3 'void' = constant 1."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((4, 3, 2, 2), np.float32)
    for k in range(3):
        weights[k, k] = 0.25
    bias = np.array([0, 0, 0, 1], np.float32)
    node = helper.make_node("Conv", ["input_0", "w", "b"], ["output_0"], kernel_shape=[2, 2], strides=[2, 2])
    graph = helper.make_graph(
        [node], "tiny", [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 4, 4, 4])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    (folder / "tiny.onnx").write_bytes(model.SerializeToString())
    (folder / "classes.txt").write_text("red\ngreen\nblue\nVoid\n")
    (folder / "colors.txt").write_text("255 0 0\n0 255 0\n0 0 255\n0 0 0\n")
    (folder / "model.yaml").write_text("preprocessing: {channel_order: rgb, mean: [0, 0, 0], std: [1, 1, 1], "
                                       "post_scale: 1.0}\n")
    return folder


def cells_to_pixels(cells) -> np.ndarray:
    return np.repeat(np.repeat(np.asarray(cells, np.uint8), BLOCK, axis=0), BLOCK, axis=1)


@pytest.fixture
def folder_set(tmp_path):
    model = write_tiny_model(tmp_path / "model")
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    cv2.imwrite(str(images / "a.png"), cells_to_pixels(IMAGE_CELLS)[:, :, ::-1])
    cv2.imwrite(str(labels / "a.png"), cells_to_pixels(LABEL_CELLS))
    cv2.imwrite(str(labels / "orphan.png"), cells_to_pixels(LABEL_CELLS))  # a label without image: ignored
    return model, images, labels, tmp_path


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_folder_layout_matches_hand_computed_figures(folder_set, capsys):
    model, images, labels, tmp = folder_set
    rc, out, _ = run([model, "--images", images, "--labels", labels, "--json", tmp / "r.json"], capsys)
    assert rc == 0
    data = json.loads((tmp / "r.json").read_text())
    np.testing.assert_array_equal(data["confusion_matrix"], np.array(EXPECTED_CELLS) * BLOCK * BLOCK)
    assert data["ignore_index"] == 3  # 'Void', matched case-insensitively
    assert data["images"] == 1
    assert data["pixel_accuracy"] == pytest.approx(12 / 15)
    assert data["mean_class_accuracy"] == pytest.approx((3 / 4 + 4 / 5 + 5 / 6) / 3)
    assert data["mean_iou"] == pytest.approx((3 / 5 + 4 / 5 + 5 / 7) / 3)
    assert "80.00" in out


def test_ignore_class_and_ignore_index_options(folder_set, capsys):
    model, images, labels, tmp = folder_set
    rc, _, _ = run([model, "--images", images, "--labels", labels, "--json", tmp / "r.json",
                    "--ignore-class", "void", "--ignore-index", "255"], capsys)
    assert rc == 0
    conf = np.array(json.loads((tmp / "r.json").read_text())["confusion_matrix"]) // (BLOCK * BLOCK)
    # void never predicted: black cells fall to class 0 (first of the tied zeros); void labels now scored
    np.testing.assert_array_equal(conf, [[3, 0, 1, 0], [1, 4, 0, 0], [1, 0, 5, 0], [1, 0, 0, 0]])


def test_bad_pairs_reported_and_skipped_with_nonzero_exit(folder_set, capsys):
    model, images, labels, tmp = folder_set
    cv2.imwrite(str(images / "b_small_label.png"), cells_to_pixels(IMAGE_CELLS)[:, :, ::-1])
    cv2.imwrite(str(labels / "b_small_label.png"), np.zeros((4, 4), np.uint8))
    (images / "c_corrupt.png").write_bytes(b"not a png")
    cv2.imwrite(str(labels / "c_corrupt.png"), cells_to_pixels(LABEL_CELLS))
    cv2.imwrite(str(images / "d_unlabelled.png"), cells_to_pixels(IMAGE_CELLS)[:, :, ::-1])
    cv2.imwrite(str(images / "e_bad_ids.png"), cells_to_pixels(IMAGE_CELLS)[:, :, ::-1])
    cv2.imwrite(str(labels / "e_bad_ids.png"), np.full((8, 8), 7, np.uint8))
    rc, out, err = run([model, "--images", images, "--labels", labels, "--json", tmp / "r.json",
                        "--plot", tmp / "r.png"], capsys)
    assert rc == 1
    assert "4x4" in err and "8x8" in err  # the size mismatch, named
    for name in ("b_small_label.png", "c_corrupt.png", "d_unlabelled.png", "e_bad_ids.png"):
        assert name in err
    data = json.loads((tmp / "r.json").read_text())
    assert data["images"] == 1 and len(data["skipped"]) == 4
    np.testing.assert_array_equal(data["confusion_matrix"], np.array(EXPECTED_CELLS) * BLOCK * BLOCK)
    assert cv2.imread(str(tmp / "r.png")) is not None


def test_list_file_and_usage_errors(folder_set, tmp_path, capsys):
    model, images, labels, tmp = folder_set
    (tmp / "list.txt").write_text("# image label\nimages/a.png labels/a.png\n\n")
    rc, out, _ = run([model, "--list", tmp / "list.txt"], capsys)
    assert rc == 0 and "80.00" in out
    (tmp / "bad.txt").write_text("images/a.png\n")
    rc, _, err = run([model, "--list", tmp / "bad.txt"], capsys)
    assert rc == 2 and "bad.txt:1" in err
    with pytest.raises(SystemExit):
        cli.main([str(model), "--images", str(images)])  # --labels missing


def test_unwritable_json_or_plot_path_is_a_clear_error_before_evaluating(folder_set, capsys):
    model, images, labels, tmp = folder_set
    (tmp / "a_file").write_text("")
    for option, path in (("--json", tmp / "a_file" / "r.json"), ("--plot", tmp)):
        rc, out, err = run([model, "--images", images, "--labels", labels, option, path], capsys)
        assert rc == 2 and str(path) in err and "Traceback" not in err
        assert out == ""  # refused before any figures were computed
