"""ONNX Runtime graph optimisation level: measured once per model, cached, explicit levels respected."""

import json

import pytest

from seg_ros.backends import ort_tuning
from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
from seg_ros.errors import BackendError
from seg_ros.registry import resolve_model
from seg_ros.synthetic import write_model_dir


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return resolve_model(str(write_model_dir(tmp_path / "m", (64, 32), 3)))


def test_auto_measures_once_then_reuses_the_cached_choice(spec, monkeypatch):
    calls = []
    real = ort_tuning.median_run_ms

    def fake_timing(run, tensor, runs=ort_tuning.TIMED_RUNS):
        calls.append(1)
        real(run, tensor, 1)
        return 10.0 if len(calls) == 2 else 20.0  # the second candidate (extended) is "faster"

    monkeypatch.setattr(ort_tuning, "median_run_ms", fake_timing)
    backend = OnnxRuntimeBackend(spec, threads=1)
    assert backend.optimization == "extended" and len(calls) == 2
    entries = json.loads(ort_tuning.tuning_file().read_text())
    (entry,) = entries.values()
    assert entry["level"] == "extended" and entry["median_ms"] == {"all": 20.0, "extended": 10.0}
    again = OnnxRuntimeBackend(spec, threads=1)
    assert again.optimization == "extended" and len(calls) == 2  # no new measurement
    OnnxRuntimeBackend(spec, threads=2)  # another thread count is another key
    assert len(calls) == 4


def test_explicit_level_skips_tuning_and_bad_level_is_an_error(spec, monkeypatch):
    monkeypatch.setattr(ort_tuning, "median_run_ms", lambda *a, **k: pytest.fail("must not measure"))
    assert OnnxRuntimeBackend(spec, optimization="basic").optimization == "basic"
    assert not ort_tuning.tuning_file().exists()
    with pytest.raises(BackendError, match="optimisation level"):
        OnnxRuntimeBackend(spec, optimization="fastest")


def test_unreadable_cache_is_remeasured(spec):
    ort_tuning.tuning_file().parent.mkdir(parents=True)
    ort_tuning.tuning_file().write_text("{not json")
    backend = OnnxRuntimeBackend(spec, threads=1)
    assert backend.optimization in ("all", "extended")
    assert json.loads(ort_tuning.tuning_file().read_text())
