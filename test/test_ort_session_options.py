"""ONNX Runtime sessions never spin-wait between runs (issue 10: idle threads burned a core per camera frame)."""

from __future__ import annotations

import pytest

from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
from seg_ros.registry import resolve_model
from seg_ros.synthetic import write_model_dir


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_session_disables_intra_and_inter_op_spinning(tmp_path, threads):
    spec = resolve_model(str(write_model_dir(tmp_path / "m", (64, 32), 3, instant=True)))
    backend = OnnxRuntimeBackend(spec, threads=threads, optimization="all")
    options = backend.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    if threads:
        assert options.intra_op_num_threads == threads
