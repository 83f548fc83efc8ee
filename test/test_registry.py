"""Network registry, name resolution and search path (seg_ros.registry)."""

import pytest
from shared_data import CAMVID_MODEL, require

from seg_ros import registry
from seg_ros.errors import ModelError
from seg_ros.synthetic import write_model_dir

EXPECTED = {
    "fcn-resnet18-cityscapes-512x256", "fcn-resnet18-cityscapes-1024x512", "fcn-resnet18-cityscapes-2048x1024",
    "fcn-resnet18-deepscene-576x320", "fcn-resnet18-deepscene-864x480", "fcn-resnet18-mhp-512x320",
    "fcn-resnet18-mhp-640x360", "fcn-resnet18-voc-320x320", "fcn-resnet18-voc-512x320",
    "fcn-resnet18-sun-512x400", "fcn-resnet18-sun-640x512",
}


def test_all_eleven_networks_with_their_facts():
    nets = registry.networks()
    assert set(nets) == EXPECTED
    for name, net in nets.items():
        w, h = net.input_size
        assert name.endswith(f"{w}x{h}")
        assert net.urls[0].startswith("https://") and net.archive.endswith(".tar.gz")
        assert net.model.input_blob == "input_0" and net.model.output_blob == "output_0"
        assert net.model.onnx == "fcn_resnet18.onnx" and net.model.input_size == (w, h)
        assert net.model.preprocessing.channel_order == "rgb" and net.model.preprocessing.resize == "nearest"
        # ImageNet mean/std (shared/README.md) in 0..255 units, post_scale 1: (x/255 - m) / s == (x - 255 m) / (255 s)
        assert net.model.preprocessing.mean == pytest.approx((0.485 * 255, 0.456 * 255, 0.406 * 255))
        assert net.model.preprocessing.std == pytest.approx((0.229 * 255, 0.224 * 255, 0.225 * 255))
        assert net.model.preprocessing.post_scale == 1.0
    deepscene = nets["fcn-resnet18-deepscene-576x320"]
    assert deepscene.model.class_names == ("trail", "grass", "vegetation", "obstacle", "sky")
    # shared/README.md: 200 155 75 180, 85 210 100, 15 100 20, 255 185 0, 0 120 255 150
    assert deepscene.model.class_colors == ((200, 155, 75, 180), (85, 210, 100), (15, 100, 20), (255, 185, 0),
                                            (0, 120, 255, 150))


@pytest.mark.parametrize("alias,name", [
    ("fcn-resnet18-deepscene", "fcn-resnet18-deepscene-576x320"),
    ("FCN-ResNet18-Cityscapes", "fcn-resnet18-cityscapes-512x256"),
    ("fcn-resnet18-voc", "fcn-resnet18-voc-320x320"),
    ("fcn-resnet18-sun", "fcn-resnet18-sun-512x400"),
    ("fcn-resnet18-mhp", "fcn-resnet18-mhp-512x320"),
])
def test_short_aliases_pick_the_lowest_resolution(alias, name):
    assert registry.find_network(alias).name == name


def test_unknown_name_lists_close_matches(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="did you mean fcn-resnet18-deepscene"):
        registry.resolve_model("fcn-resnet18-deepscen")


def test_registry_network_not_downloaded_says_how(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(registry.MODEL_PATH_ENV, raising=False)
    with pytest.raises(ModelError, match="segnet-download fcn-resnet18-deepscene-576x320"):
        registry.resolve_model("fcn-resnet18-deepscene")


def test_registry_network_found_in_cache_gets_registry_facts(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = registry.cache_dir() / "FCN-ResNet18-DeepScene-576x320"
    write_model_dir(folder, (64, 32), 5, class_names=["trail", "grass", "vegetation", "obstacle", "sky"])
    (folder / "colors.txt").unlink()  # registry colours are used when the folder has none
    spec = registry.resolve_model("fcn-resnet18-deepscene")
    assert spec.name == "fcn-resnet18-deepscene-576x320"
    assert spec.preprocessing.mean == (123.675, 116.28, 103.53) and spec.preprocessing.resize == "nearest"
    assert spec.colors[0].tolist() == [200, 155, 75, 180] and spec.explicit_alpha.tolist() == [1, 0, 0, 0, 1]


def test_registry_class_count_mismatch(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    write_model_dir(registry.cache_dir() / "FCN-ResNet18-DeepScene-576x320", (64, 32), 3)
    with pytest.raises(ModelError, match="registry says fcn-resnet18-deepscene-576x320 has 5"):
        registry.resolve_model("fcn-resnet18-deepscene-576x320")


def test_search_path_folder_by_name_and_explicit_paths(monkeypatch, tmp_path):
    shared_models = require(CAMVID_MODEL).parent
    monkeypatch.setenv(registry.MODEL_PATH_ENV, f"{tmp_path / 'empty'}:{shared_models}")
    assert registry.resolve_model("espnet-camvid-480x360").num_classes == 12
    assert "espnet-camvid-480x360" in registry.local_models()
    assert registry.resolve_model(str(CAMVID_MODEL)).num_classes == 12
    assert registry.resolve_model(str(CAMVID_MODEL / "espnet.onnx")).num_classes == 12
    with pytest.raises(ModelError, match="does not exist"):
        registry.resolve_model(str(tmp_path / "missing.onnx"))


def test_onnx_path_uses_model_yaml_beside_it():
    spec = registry.resolve_model(str(require(CAMVID_MODEL) / "espnet.onnx"))
    assert spec.preprocessing.channel_order == "bgr" and spec.input_size == (480, 360)


def test_onnx_path_with_given_files_and_blobs(tmp_path):
    onnx = require(CAMVID_MODEL) / "espnet.onnx"
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"k{i}\n" for i in range(12)))
    spec = registry.model_from_onnx(onnx, labels=labels, output_blob="scores")
    assert spec.class_names[0] == "k0" and spec.output_blob == "scores"
    assert spec.preprocessing.channel_order == "bgr"  # model.yaml beside the ONNX still counts
    with pytest.raises(ModelError, match="colours file .*missing.txt does not exist"):
        registry.model_from_onnx(onnx, colors=tmp_path / "missing.txt")


def test_onnx_path_reads_the_class_file_model_yaml_names(tmp_path):
    folder = write_model_dir(tmp_path / "m", (64, 32), 2)
    (folder / "names.txt").write_text("a\nb\n")
    (folder / "model.yaml").write_text("class_names: names.txt\n")
    assert registry.resolve_model(str(folder / "fcn_resnet18.onnx")).class_names == ("a", "b")
