"""One error policy for every entry point: exit 0 ok, 2 user error, 1 runtime failure, 130 interrupted.

Each console script (segnet, segnet-eval, segnet-download, segnet-build-engine) and ``python -m seg_ros.demo`` is
run on a bad model and a bad argument, in-process and as the installed executable: the exit status and the
single ``PROG: error: ...`` line on stderr that names the problem are what a user sees.
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_ros import demo, errors, registry
from seg_ros.cli import build_engine, download, evaluate, segnet
from seg_ros.cli.entry import run_cli

REPO = Path(__file__).resolve().parents[1]
MAINS = {"segnet": segnet.main, "segnet-eval": evaluate.main, "segnet-download": download.main,
         "segnet-build-engine": build_engine.main, "demo": demo.main}


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache and search path, one image, one label and an empty (bad) model folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(registry.MODEL_PATH_ENV, str(tmp_path / "no-models"))
    monkeypatch.delenv("SEG_ROS_MODEL_MIRROR", raising=False)
    (tmp_path / "bad-model").mkdir()
    for sub in ("images", "labels", "shared/data/jetson-inference/images"):
        (tmp_path / sub).mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((32, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "labels" / "a.png"), np.zeros((32, 64), np.uint8))
    cv2.imwrite(str(tmp_path / "shared/data/jetson-inference/images/trail_0.jpg"), np.zeros((32, 64, 3), np.uint8))
    return tmp_path


def bad_model_argv(prog: str, place: Path) -> list[str]:
    """Arguments that are valid except for the model: an existing folder that holds no network."""
    bad = str(place / "bad-model")
    return {
        "segnet": [str(place / "images" / "a.png"), "--network", bad],
        "segnet-eval": [bad, "--images", str(place / "images"), "--labels", str(place / "labels")],
        "segnet-download": [bad],
        "segnet-build-engine": [bad],
        "demo": ["--shared", str(place / "shared"), "--output", str(place / "out"), "--network", bad],
    }[prog]


def one_error_line(err: str, prog: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("prog", list(MAINS))
def test_bad_model_is_exit_2_and_one_line_naming_it(prog: str, place: Path, capsys: pytest.CaptureFixture) -> None:
    rc = MAINS[prog](bad_model_argv(prog, place))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert str(place / "bad-model") in one_error_line(err, prog)


def test_existing_broken_model_folder_is_a_user_error(place: Path, capsys: pytest.CaptureFixture) -> None:
    """segnet-download NAME where NAME's folder exists but is no valid model: fix it with --force (exit 2)."""
    net = registry.networks()["fcn-resnet18-deepscene-576x320"]
    (place / "dest" / net.dir).mkdir(parents=True)
    (place / "dest" / net.dir / "classes.txt").write_text("a\n")
    assert download.main([net.name, "--dest", str(place / "dest")]) == 2
    line = one_error_line(capsys.readouterr().err, "segnet-download")
    assert "--force" in line and str(place / "dest" / net.dir) in line


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_failed_download_is_a_runtime_failure_in_one_line(place: Path, capsys: pytest.CaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    name = "fcn-resnet18-deepscene-576x320"
    dead = closed_port_url()
    net = replace(registry.networks()[name], urls=(f"{dead}/a/{name}.tar.gz", f"{dead}/b/{name}.tar.gz"))
    monkeypatch.setattr(registry, "networks", lambda: {name: net})
    assert download.main([name, "--dest", str(place / "dest")]) == 1
    line = one_error_line(capsys.readouterr().err, "segnet-download")
    assert f"{dead}/a/" in line and f"{dead}/b/" in line and "by hand" in line


def test_backend_that_cannot_run_is_a_runtime_failure(place: Path, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from seg_ros.synthetic import write_model_dir

    model = write_model_dir(place / "model", input_size=(64, 32), num_classes=3)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # TensorRT requested on a machine without it
    rc = segnet.main([str(place / "images" / "a.png"), "--network", str(model), "--backend", "tensorrt"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "tensorrt" in one_error_line(err, "segnet").lower()


def test_ctrl_c_is_130_with_one_line(place: Path, capsys: pytest.CaptureFixture,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(segnet, "run", interrupted)
    assert segnet.main([str(place / "images" / "a.png")]) == 130
    assert capsys.readouterr().err.strip() == "segnet: interrupted"


def test_run_cli_maps_each_kind_of_error(capsys: pytest.CaptureFixture) -> None:
    def raising(exc: BaseException):
        def main_fn(_argv: list[str] | None) -> int:
            raise exc
        return main_fn

    cases = [(errors.ConfigError("parameter x is bad"), 2, "parameter x is bad"),
             (errors.MediaError("a.png: no such file"), 2, "a.png: no such file"),
             (errors.BackendError("inference failed"), 1, "inference failed"),
             (errors.SegRosError("plain"), 1, "plain"),
             (PermissionError(13, "Permission denied", "/x/out.png"), 1, "/x/out.png")]
    for exc, code, named in cases:
        assert run_cli("prog", raising(exc)) == code
        assert named in one_error_line(capsys.readouterr().err, "prog")
    assert run_cli("prog", raising(errors.ModelError("first\n  second"))) == 2
    assert one_error_line(capsys.readouterr().err, "prog") == "prog: error: first; second"
    assert run_cli("prog", lambda argv: 0) == 0 and capsys.readouterr().err == ""
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_cli("prog", lambda argv: 1 // 0)


def test_exit_status_of_each_error_class() -> None:
    """The table in seg_ros/errors.py: user errors 2, runtime failures 1."""
    user = [errors.UserError, errors.ModelError, errors.MediaError, errors.ImageConversionError,
            errors.DatasetError, errors.ConfigError, errors.GridConfigError, errors.CameraModelError]
    runtime = [errors.RuntimeFailure, errors.BackendError, errors.DownloadError, errors.PrecisionError,
               errors.SegRosError]
    assert {cls("x").exit_code for cls in user} == {2}
    assert {cls("x").exit_code for cls in runtime} == {1}
    assert all(issubclass(cls, errors.UserError) for cls in user[1:])
    assert all(issubclass(cls, errors.RuntimeFailure) for cls in runtime[1:4])


def test_every_exception_class_is_defined_in_errors_py() -> None:
    """No module but seg_ros/errors.py defines an exception class (read from the source, not imported)."""
    defined = []
    for path in sorted((REPO / "seg_ros").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and (b.id.endswith(("Error", "Exception", "Failure"))) for b in node.bases):
                defined.append(f"{path.relative_to(REPO)}:{node.name}")
    outside = [d for d in defined if not d.startswith("seg_ros/errors.py:")]
    assert outside == []
    assert "seg_ros/errors.py:ModelError" in defined  # the scan sees the classes where they are


def executable(prog: str) -> list[str]:
    if prog == "demo":
        return [sys.executable, "-m", "seg_ros.demo"]
    exe = Path(sys.executable).parent / prog
    if not exe.is_file():
        pytest.skip(f"{prog} console script not installed in this environment")
    return [str(exe)]


BAD_ARGUMENT = {"segnet": ["in.png", "--filter-mode", "cubic"], "segnet-eval": ["net"],
                "segnet-download": [], "segnet-build-engine": ["net", "--workspace", "0"],
                "demo": ["--no-such-flag"]}


@pytest.mark.parametrize("prog", list(MAINS))
def test_installed_executables_follow_the_policy(prog: str, place: Path) -> None:
    """The real executables: bad model → 2 and one line naming it; bad argument → 2 (argparse usage error)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(executable(prog) + bad_model_argv(prog, place), capture_output=True, text=True, env=env,
                          timeout=120, cwd=place)
    assert proc.returncode == 2, proc.stderr
    assert str(place / "bad-model") in one_error_line(proc.stderr, prog)
    proc = subprocess.run(executable(prog) + BAD_ARGUMENT[prog], capture_output=True, text=True, env=env,
                          timeout=120, cwd=place)
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr.strip().splitlines()[-1] and "Traceback" not in proc.stderr


def test_live_demo_follows_the_policy(place: Path) -> None:
    """``make demo`` (python -m seg_ros.ros.live_demo): missing samples are a user error, in one line."""
    pytest.importorskip("rclpy")
    argv = ["--shared", str(place / "no-shared"), "--network", str(place / "bad-model")]  # nothing to download
    proc = subprocess.run([sys.executable, "-m", "seg_ros.ros.live_demo", *argv], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120, cwd=place)
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc.stderr, "live demo")
    assert str(place / "bad-model") in line or str(place / "no-shared") in line


def test_segnet_node_exits_2_for_a_bad_model(place: Path) -> None:
    """segnet_node with a model folder that holds no network: exit status 2, the fatal log line names it."""
    pytest.importorskip("rclpy")
    from seg_ros.ros.harness import dds_env, node_command, random_domain

    cmd = node_command({"model_path": str(place / "bad-model"), "publish_grid": False})
    if Path(cmd[0]).name != "segnet_node":
        pytest.skip("segnet_node console script not installed in this environment")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dds_env(random_domain()), timeout=120, cwd=place)
    assert proc.returncode == 2, proc.stderr
    fatal = [line for line in (proc.stdout + proc.stderr).splitlines() if "FATAL" in line]
    assert len(fatal) == 1 and str(place / "bad-model") in fatal[0], proc.stderr
    assert "Traceback" not in proc.stderr
