"""End-to-end core pipeline on real and synthetic ONNX models (seg_ros.segmenter + backends)."""

import cv2
import numpy as np
import pytest
from shared_data import CAMVID_DATA, CAMVID_MODEL, require

from seg_ros.errors import BackendError, ModelError
from seg_ros.model import load_model_dir
from seg_ros.registry import resolve_model
from seg_ros.segmenter import Segmenter, resolve_ignore_class
from seg_ros.synthetic import write_model_dir


@pytest.fixture(scope="module")
def camvid():
    return Segmenter(load_model_dir(require(CAMVID_MODEL)), threads=2, ignore_class=None)


def test_real_espnet_on_camvid_image_is_mostly_right(camvid):
    image_path, label_path = (require(CAMVID_DATA) / "test.txt").read_text().split("\n")[0].split()
    image = cv2.imread(str(CAMVID_DATA / image_path))[:, :, ::-1].copy()
    label = cv2.imread(str(CAMVID_DATA / label_path), cv2.IMREAD_UNCHANGED)
    result = camvid.segment(image)
    assert result.class_map.shape == label.shape == (360, 480)
    assert result.logits.shape == (12, 360, 480)
    scored = label < 11
    assert (result.class_map[scored] == label[scored]).mean() > 0.75
    assert set(camvid.timer.last) == {"preprocess", "network", "postprocess"}
    # The result carries its own stage timings: the same values the shared timer recorded for this frame.
    assert result.network_ms > 0 and result.preprocess_ms > 0 and result.postprocess_ms > 0
    assert (result.preprocess_ms, result.network_ms, result.postprocess_ms) == tuple(
        camvid.timer.last[k] for k in ("preprocess", "network", "postprocess"))


def test_ignore_class_by_name_id_or_none(camvid):
    spec = camvid.spec
    assert resolve_ignore_class(spec, "VOID") == 11
    assert resolve_ignore_class(spec, "11") == 11
    assert resolve_ignore_class(spec, "no-such-class") is None
    assert resolve_ignore_class(spec, None) is None
    with pytest.raises(ModelError):
        resolve_ignore_class(spec, 12)


def test_synthetic_fcn_resnet18_shape(tmp_path):
    seg = Segmenter(resolve_model(str(write_model_dir(tmp_path / "m", (128, 64), 7))), threads=1)
    out = seg.segment(np.zeros((720, 1280, 3), np.uint8))
    assert seg.grid_size == (4, 2) and out.class_map.shape == (2, 4) and out.logits.shape == (7, 2, 4)


def test_class_count_must_match_output_channels(tmp_path):
    folder = write_model_dir(tmp_path / "m", (64, 32), 4)
    (folder / "classes.txt").write_text("a\nb\nc\n")
    (folder / "colors.txt").write_text("1 2 3\n4 5 6\n7 8 9\n")
    with pytest.raises(ModelError) as err:
        Segmenter(resolve_model(str(folder)))
    assert str(err.value) == (f"{folder / 'fcn_resnet18.onnx'}: output has 4 channels but 3 classes are listed in "
                              f"{folder / 'classes.txt'} (output 'output_0' is (1, 4, 1, 2) float32: class scores, "
                              "channels first; 2 channels if channels last)")


def test_unreadable_onnx_and_wrong_blob_names(tmp_path):
    folder = write_model_dir(tmp_path / "m", (64, 32), 3)
    (folder / "model.yaml").write_text("input:\n  name: data\n")
    with pytest.raises(ModelError, match="no input named 'data'"):
        Segmenter(resolve_model(str(folder)))
    (folder / "model.yaml").unlink()
    (folder / "fcn_resnet18.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        Segmenter(resolve_model(str(folder)))


def test_unknown_backend(tmp_path):
    spec = resolve_model(str(write_model_dir(tmp_path / "m", (64, 32), 3)))
    with pytest.raises(BackendError, match="unknown backend"):
        Segmenter(spec, backend="cuda")
