"""bench_node smoke test: ``--quick`` runs the node and the naive peer over real DDS and prints every figure.

No timing is asserted (figures depend on the machine's load): only that the run completes, names its
figures and writes them to the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, require_node_script

from seg_ros.ros.harness import dds_env, random_domain

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_node  # noqa: E402


def test_process_cpu_seconds_reads_this_process():
    before = bench_node.process_cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    after = bench_node.process_cpu_seconds(os.getpid())
    assert before is not None and after is not None and after >= before
    assert bench_node.process_cpu_seconds(2**22 + 12345) is None  # no such process


def test_scenario_topics():
    assert bench_node.Scenario(1280, 720, 30.0, "class_mask").topics() == ("class_mask",)
    assert bench_node.Scenario(1280, 720, 30.0, "all").topics() == bench_node.IMAGE_OUTPUTS
    assert "traversable_grid" in bench_node.Scenario(1280, 720, 30.0, "all", grid=True).topics()
    assert bench_node.Scenario(640, 480, 60.0, "all").label == "640x480@60 all"


def test_quick_run_prints_every_figure(tmp_path: Path):
    require_node_script()
    out = tmp_path / "bench_node.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_node.py"), "--quick", "--output", str(out)],
                          env=dds_env(random_domain()), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for name in ("load average", "== overhead: instant network", "CPU per processed frame", "1280x720@30 all",
                 "1280x720@30 class_mask", "segnet", "| peer", "node/peer latency", "targets:", "x bare",
                 "in-node network", "p99", "RSS"):
        assert name in text, f"{name!r} missing from:\n{text}"
    data = json.loads(out.read_text())
    run = data["overhead"][0]
    assert run["node"]["process"] == "segnet" and run["peer"]["process"] == "naive_peer"
    for key in ("cpu_ms_per_frame", "latency_median_ms", "latency_p99_ms", "processed_fraction"):
        assert key in run["node"] and key in run["peer"]
    assert run["node"]["processed"] > 0 and run["peer"]["processed"] > 0
    real = data["real"][0]
    assert {"all", "class_mask"} <= set(real["runs"]) and "rate_ratio" in real["runs"]["all"]
