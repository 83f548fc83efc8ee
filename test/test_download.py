"""segnet-download against a local HTTP server on 127.0.0.1 serving archives built in-test (never the real URLs)."""

from __future__ import annotations

import io
import socket
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from seg_ros import registry
from seg_ros.cli import download as cli
from seg_ros.download import MIRROR_ENV, download_network
from seg_ros.errors import DownloadError

NAME = "fcn-resnet18-deepscene-576x320"
DIR = "FCN-ResNet18-DeepScene-576x320"
ARCHIVE = "FCN-ResNet18-DeepScene-576x320.tar.gz"


def tiny_onnx(width: int = 576, height: int = 320, channels: int = 5, stride: int = 32) -> bytes:
    """One Conv (kernel = stride) from 3 to ``channels``: the registry network's interface in 60 kB."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((channels, 3, stride, stride)).astype(np.float32) * 0.01
    node = helper.make_node("Conv", ["input_0", "w"], ["output_0"], kernel_shape=[stride, stride],
                            strides=[stride, stride])
    graph = helper.make_graph(
        [node], "tiny",
        [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT,
                                       [1, channels, height // stride, width // stride])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def make_archive(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def model_archive(onnx: bytes | None = None, num_classes: int = 5, colors: str = "1 2 3\n" * 5) -> bytes:
    classes = "".join(f"class{i}\n" for i in range(num_classes))
    return make_archive({f"{DIR}/fcn_resnet18.onnx": onnx if onnx is not None else tiny_onnx(),
                         f"{DIR}/classes.txt": classes.encode(), f"{DIR}/colors.txt": colors.encode()})


class Server:
    """Serves ``files`` (URL path → bytes); ``truncate`` announces more bytes than it sends."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.truncate = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                server.requests.append(self.path)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data) * (2 if server.truncate else 1)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A local server; every registry URL is rewritten to it (primary /p/, mirror /m/) so no test leaves the host."""
    srv = Server()
    local = {name: replace(net, urls=(f"{srv.url}/p/{net.archive}", f"{srv.url}/m/{net.archive}"))
             for name, net in registry.networks().items()}
    monkeypatch.setattr(registry, "networks", lambda: local)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv(registry.MODEL_PATH_ENV, raising=False)
    yield srv
    srv.close()


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_success_installs_verified_folder(server, tmp_path, capsys):
    server.files[f"/p/{ARCHIVE}"] = model_archive()
    dest = tmp_path / "models"
    assert cli.main([NAME, "--dest", str(dest)]) == 0
    assert entries(dest) == [DIR]  # no temporary folder left beside it
    assert entries(dest / DIR) == ["classes.txt", "colors.txt", "fcn_resnet18.onnx"]
    assert server.requests == [f"/p/{ARCHIVE}"]
    assert "downloaded and verified" in capsys.readouterr().out
    spec = registry.resolve_model(str(dest / DIR))
    assert spec.num_classes == 5


def test_mirror_env_first_and_fallback_to_registry_mirror(server, tmp_path, monkeypatch):
    server.files[f"/m/{ARCHIVE}"] = model_archive()
    monkeypatch.setenv(MIRROR_ENV, f"{server.url}/env/")
    dest = tmp_path / "models"
    assert cli.main(["fcn-resnet18-deepscene", "--dest", str(dest)]) == 0  # an alias
    assert server.requests == [f"/env/{ARCHIVE}", f"/p/{ARCHIVE}", f"/m/{ARCHIVE}"]
    assert entries(dest) == [DIR]


@pytest.mark.parametrize("archive, words", [
    (lambda: model_archive(tiny_onnx(channels=4)), "4 channels"),
    (lambda: model_archive(tiny_onnx(width=320, height=320)), "320x320"),
    (lambda: model_archive(tiny_onnx(stride=16)), "input/32"),
    (lambda: model_archive(num_classes=6), "6 classes"),
    (lambda: model_archive(onnx=b"not an onnx file"), "cannot load ONNX"),
    (lambda: b"this is not a tar.gz", "tar.gz"),
], ids=["channels", "input-size", "stride", "classes-count", "bad-onnx", "bad-archive"])
def test_wrong_model_rejected_and_nothing_left(server, tmp_path, capsys, archive, words):
    server.files[f"/p/{ARCHIVE}"] = archive()
    dest = tmp_path / "models"
    assert cli.main([NAME, "--dest", str(dest)]) == 1
    assert entries(dest) == []
    err = capsys.readouterr().err
    assert words in err
    assert f"{server.url}/p/{ARCHIVE}" in err and f"{server.url}/m/{ARCHIVE}" in err


def test_unreachable_urls_named_with_manual_instructions(server, tmp_path, capsys, monkeypatch):
    dead = closed_port_url()
    net = replace(registry.networks()[NAME], urls=(f"{dead}/a/{ARCHIVE}", f"{dead}/b/{ARCHIVE}"))
    monkeypatch.setattr(registry, "networks", lambda: {NAME: net})
    assert cli.main([NAME]) == 1  # default destination: the cache directory
    err = capsys.readouterr().err
    assert f"{dead}/a/{ARCHIVE}" in err and f"{dead}/b/{ARCHIVE}" in err
    assert str(registry.cache_dir() / DIR) in err  # where to put the files by hand
    assert entries(registry.cache_dir()) == []


def test_existing_good_model_not_downloaded_again_unless_forced(server, tmp_path, capsys):
    server.files[f"/p/{ARCHIVE}"] = model_archive(colors="1 2 3\n" * 5)
    dest = tmp_path / "models"
    assert cli.main([NAME, "--dest", str(dest)]) == 0
    server.files[f"/p/{ARCHIVE}"] = model_archive(colors="9 9 9\n" * 5)
    assert cli.main([NAME, "--dest", str(dest)]) == 0
    assert len(server.requests) == 1
    assert "already present" in capsys.readouterr().out
    assert (dest / DIR / "colors.txt").read_text().startswith("1 2 3")

    assert cli.main([NAME, "--dest", str(dest), "--force"]) == 0
    assert len(server.requests) == 2
    assert (dest / DIR / "colors.txt").read_text().startswith("9 9 9")
    assert entries(dest) == [DIR]


def test_force_keeps_old_model_when_new_download_fails(server, tmp_path):
    server.files[f"/p/{ARCHIVE}"] = model_archive()
    dest = tmp_path / "models"
    assert cli.main([NAME, "--dest", str(dest)]) == 0
    server.files[f"/p/{ARCHIVE}"] = model_archive(tiny_onnx(channels=3))
    assert cli.main([NAME, "--dest", str(dest), "--force"]) == 1
    assert entries(dest) == [DIR]
    assert entries(dest / DIR) == ["classes.txt", "colors.txt", "fcn_resnet18.onnx"]


def test_existing_broken_model_asks_for_force(server, tmp_path, capsys):
    dest = tmp_path / "models"
    (dest / DIR).mkdir(parents=True)
    (dest / DIR / "classes.txt").write_text("a\n")
    assert cli.main([NAME, "--dest", str(dest)]) == 2  # the user's folder is a bad model: a user error
    err = capsys.readouterr().err
    assert "--force" in err and str(dest / DIR) in err and len(err.strip().splitlines()) == 1
    assert server.requests == []


@pytest.mark.parametrize("files, links", [
    ({"../evil.txt": b"x"}, None),
    ({f"{DIR}/../../evil.txt": b"x"}, None),
    ({"/tmp/evil-abs.txt": b"x"}, None),
    ({}, {f"{DIR}/link": "/etc/passwd"}),
], ids=["parent", "nested-parent", "absolute", "symlink"])
def test_path_traversal_rejected(server, tmp_path, files, links):
    good = {f"{DIR}/fcn_resnet18.onnx": tiny_onnx(), f"{DIR}/classes.txt": b"a\nb\nc\nd\ne\n",
            f"{DIR}/colors.txt": b"1 2 3\n" * 5}
    server.files[f"/p/{ARCHIVE}"] = make_archive({**good, **files}, links)
    dest = tmp_path / "deep" / "models"
    with pytest.raises(DownloadError, match="outside|link"):
        download_network(registry.networks()[NAME], dest, progress=False)
    assert entries(dest) == []
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_truncated_download_leaves_nothing(server, tmp_path):
    server.files[f"/p/{ARCHIVE}"] = model_archive()
    server.truncate = True
    dest = tmp_path / "models"
    with pytest.raises(DownloadError, match="incomplete|closed"):
        download_network(registry.networks()[NAME], dest, progress=False, timeout=5)
    assert entries(dest) == []


def test_resolve_model_downloads_on_first_use(server):
    server.files[f"/p/{ARCHIVE}"] = model_archive()
    with pytest.raises(Exception, match="segnet-download"):
        registry.resolve_model(NAME)
    spec = registry.resolve_model(NAME, download=True)
    assert spec.onnx_path == registry.cache_dir() / DIR / "fcn_resnet18.onnx"
    assert spec.class_names[0] == "class0"
    registry.resolve_model(NAME, download=True)
    assert len(server.requests) == 1


def test_list_shows_networks_and_install_state(server, tmp_path, capsys):
    server.files[f"/p/{ARCHIVE}"] = model_archive()
    dest = tmp_path / "models"
    assert cli.main([NAME, "--dest", str(dest)]) == 0
    capsys.readouterr()
    assert cli.main(["--list", "--dest", str(dest)]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith(NAME + " "))
    assert "576x320" in row and str(dest / DIR) in row
    row = next(line for line in lines if line.startswith("fcn-resnet18-voc-320x320 "))
    assert " - " in row


def test_unknown_name_is_usage_error(server, capsys):
    assert cli.main(["fcn-resnet18-nope"]) == 2
    assert "unknown network" in capsys.readouterr().err
