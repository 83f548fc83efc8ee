"""seg_ros.paths: the one shared-folder lookup and the one package-file lookup."""

from pathlib import Path

import pytest

from seg_ros import paths


def test_shared_root_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEG_ROS_SHARED", str(tmp_path))
    assert paths.shared_root() == tmp_path


def test_shared_root_defaults_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("SEG_ROS_SHARED", raising=False)
    repo = Path(__file__).resolve().parents[1]
    assert paths.shared_root() == repo.parent / "shared"


def test_package_file_finds_source_files():
    repo = Path(__file__).resolve().parents[1]
    assert paths.package_file("models", "networks.yaml") == repo / "models" / "networks.yaml"
    assert paths.package_file("config", "segnet.yaml") == repo / "config" / "segnet.yaml"


def test_package_file_names_every_place_when_missing():
    with pytest.raises(FileNotFoundError, match=r"config/nope\.yaml not found \(looked in: .*config/nope\.yaml"):
        paths.package_file("config", "nope.yaml")
