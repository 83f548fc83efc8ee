"""Model folders, colours, class names and preprocessing facts (seg_ros.model)."""

from pathlib import Path

import numpy as np
import pytest
from shared_data import CAMVID_MODEL, require

from seg_ros.errors import ModelError
from seg_ros.model import (
    ModelFacts,
    ModelSpec,
    Preprocessing,
    build_spec,
    colors_from_rows,
    load_colors,
    load_model_dir,
    model_yaml_facts,
    parse_colors,
)


def test_colors_with_and_without_alpha():
    colors, explicit = parse_colors(["200 155 75 180", "85 210 100", "", "# comment", "0,120,255,150"], "x")
    assert colors.tolist() == [[200, 155, 75, 180], [85, 210, 100, 150], [0, 120, 255, 150]]
    assert explicit.tolist() == [True, False, True]


@pytest.mark.parametrize("line", ["1 2", "1 2 3 4 5", "1 2 x", "256 0 0", "-1 0 0"])
def test_malformed_color_line_names_file_and_line(line):
    with pytest.raises(ModelError, match=r"colors\.txt:2"):
        parse_colors(["1 2 3", line], "colors.txt")


def test_with_alpha_keeps_explicit_alpha(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "classes.txt").write_text("trail\ngrass\nsky\n")
    (tmp_path / "colors.txt").write_text("200 155 75 180\n85 210 100\n0 120 255 150\n")
    spec = build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", tmp_path / "colors.txt")
    assert spec.with_alpha(90).colors[:, 3].tolist() == [180, 90, 150]
    assert spec.colors[:, 3].tolist() == [180, 150, 150]  # original untouched
    with pytest.raises(ModelError):
        spec.with_alpha(300)
    assert spec.class_id("GRASS") == 1 and spec.class_id("void") is None


def test_fewer_colours_than_classes_is_an_error(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    (tmp_path / "colors.txt").write_text("1 2 3\n")
    with pytest.raises(ModelError, match="1 colours for 3 classes"):
        build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", tmp_path / "colors.txt")


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model_dir(tmp_path / "nope")
    with pytest.raises(ModelError, match="no .onnx file"):
        load_model_dir(tmp_path)
    (tmp_path / "a.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="class names file"):
        load_model_dir(tmp_path)
    with pytest.raises(ModelError, match="cannot read colours"):
        load_colors(Path(tmp_path / "missing.txt"))


def test_shared_model_yaml_preprocessing():
    spec = load_model_dir(require(CAMVID_MODEL))
    pre = spec.preprocessing
    assert spec.name == "espnet-camvid-480x360"
    assert spec.input_size == (480, 360)
    assert (spec.input_blob, spec.output_blob) == ("input_0", "output_0")
    assert pre.channel_order == "bgr" and pre.resize == "bilinear"
    assert pre.mean == (110.331, 108.4089, 105.0332)
    assert pre.post_scale == pytest.approx(1 / 255)
    assert spec.num_classes == 12 and spec.class_names[-1] == "void"
    assert np.all(~spec.explicit_alpha)


def test_partial_preprocessing_block_keeps_segnet_defaults(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "classes.txt").write_text("a\n")
    (tmp_path / "model.yaml").write_text("preprocessing:\n  channel_order: bgr\n")
    pre = load_model_dir(tmp_path).preprocessing
    assert pre.channel_order == "bgr"
    assert pre.mean == (123.675, 116.28, 103.53) and pre.std == (58.395, 57.12, 57.375) and pre.resize == "nearest"


def test_numeric_colour_rows_need_no_text():
    colors, explicit = colors_from_rows([(200, 155, 75, 180), (85, 210, 100)], default_alpha=99)
    assert colors.dtype == np.float32 and colors.tolist() == [[200, 155, 75, 180], [85, 210, 100, 99]]
    assert explicit.tolist() == [True, False]
    with pytest.raises(ModelError, match="row 2"):
        colors_from_rows([(1, 2, 3), (1, 2, 300)])
    with pytest.raises(ModelError, match="class colour 1"):
        ModelFacts(class_colors=((1, 2),))


def test_model_yaml_overrides_only_what_it_states(tmp_path):
    base = ModelFacts(onnx="net.onnx", input_blob="in", output_blob="out", input_size=(64, 32),
                      preprocessing=Preprocessing(channel_order="bgr"), class_names=("a",))
    assert model_yaml_facts(tmp_path, base) is base  # no model.yaml: the base facts as they are
    (tmp_path / "model.yaml").write_text("output:\n  name: scores\ninput:\n  shape: [1, 3, 90, 120]\n"
                                         "colors: palette.txt\narchitecture: words only\n")
    facts = model_yaml_facts(tmp_path, base)
    assert facts.output_blob == "scores" and facts.input_size == (120, 90) and facts.colors_file == "palette.txt"
    assert facts.input_blob == "in" and facts.onnx == "net.onnx" and facts.class_names == ("a",)
    assert facts.preprocessing.channel_order == "bgr"
    (tmp_path / "model.yaml").write_text("preprocessing:\n  resize: cubic\n")
    with pytest.raises(ModelError, match="model.yaml: bad preprocessing block"):
        model_yaml_facts(tmp_path)


def test_spec_colours_are_read_only_and_one_row_per_class(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "classes.txt").write_text("a\nb\n")
    (tmp_path / "colors.txt").write_text("1 2 3\n4 5 6 7\n8 9 10\n")  # extra colours beyond the classes are dropped
    spec = build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", tmp_path / "colors.txt")
    assert spec.colors.tolist() == [[1, 2, 3, 150], [4, 5, 6, 7]]
    with pytest.raises(ValueError):
        spec.colors[0, 0] = 9
    with pytest.raises(ModelError, match="one RGBA row per class"):
        ModelSpec("t", tmp_path / "m.onnx", ("a", "b"), np.zeros((2, 3)), np.zeros(2, bool))


def test_registry_facts_fill_in_missing_files(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    facts = ModelFacts(class_names=("trail", "sky"), class_colors=((200, 155, 75, 180), (0, 120, 255)))
    spec = build_spec("t", tmp_path / "m.onnx", tmp_path / "none.txt", tmp_path / "none.txt", facts)
    assert spec.class_names == ("trail", "sky")
    assert spec.colors.tolist() == [[200, 155, 75, 180], [0, 120, 255, 150]] and spec.explicit_alpha.tolist() == [1, 0]


def test_one_class_name_is_foreground_over_an_implicit_background(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "classes.txt").write_text("person\n")
    spec = build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", None)
    assert spec.class_names == ("background", "person") and spec.num_classes == 2
    assert spec.colors[0].tolist() == [0, 0, 0, 0] and spec.explicit_alpha.tolist()[0]  # transparent background
    (tmp_path / "colors.txt").write_text("10 20 30\n")
    spec = build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", tmp_path / "colors.txt")
    assert spec.colors.tolist() == [[0, 0, 0, 0], [10, 20, 30, 150]]
    (tmp_path / "classes.txt").write_text("background\nroad\n")  # two names: as given
    assert build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", None).class_names == ("background", "road")


def test_model_yaml_input_size_and_given_sizes(tmp_path):
    (tmp_path / "model.yaml").write_text("input:\n  size: [640, 480]\n")
    assert model_yaml_facts(tmp_path).input_size == (640, 480)
    (tmp_path / "model.yaml").write_text("input:\n  shape: [1, 3, height, width]\n  size: [320, 240]\n")
    assert model_yaml_facts(tmp_path).input_size == (320, 240)  # symbolic shape: the size decides
    (tmp_path / "model.yaml").write_text("input:\n  shape: [1, 3, 90, 120]\n  size: [320, 240]\n")
    with pytest.raises(ModelError) as err:
        model_yaml_facts(tmp_path)
    assert str(err.value) == f"{tmp_path / 'model.yaml'}: input: size 320x240 contradicts input: shape [1, 3, 90, 120]"
    (tmp_path / "model.yaml").write_text("input:\n  size: 640\n")
    with pytest.raises(ModelError) as err:
        model_yaml_facts(tmp_path)
    assert str(err.value) == f"{tmp_path / 'model.yaml'}: input: size must be WxH (e.g. 640x480) or [W, H], got 640"
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "classes.txt").write_text("a\nb\n")
    spec = build_spec("t", tmp_path / "m.onnx", tmp_path / "classes.txt", None)
    assert spec.with_input_size("64x48").input_size == (64, 48) and spec.with_input_size("") is spec
    assert spec.with_input_size((10, 20)).input_size == (10, 20) and spec.with_input_size(None) is spec
