"""Network-only throughput of the TensorRT backend (engine execute plus host<->device copies).

Usage: python benchmarks/bench_tensorrt.py [NETWORK_OR_ONNX] [--precision fp16] [--iterations 500]
Without a network it benchmarks a random-weight FCN-ResNet18-shaped graph at 576x320 with 5 classes, the
shape of jetson-inference's fcn-resnet18-deepscene-576x320, whose published segNet figure is 360 FPS on
a Jetson AGX Xavier (FP16). With ``--onnxruntime`` it also times ONNX Runtime on the CPU for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PUBLISHED = "segNet fcn-resnet18-deepscene-576x320: 360 FPS on Jetson AGX Xavier (jetson-inference, FP16)"


def time_backend(backend, iterations: int, warmup: int) -> tuple[float, float]:  # noqa: ANN001
    """(FPS, median ms) of backend.infer on a fixed random input."""
    tensor = np.random.default_rng(0).standard_normal(backend.input_shape).astype(np.float32)
    for _ in range(warmup):
        backend.infer(tensor)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        backend.infer(tensor)
        samples.append(time.perf_counter() - start)
    return 1.0 / float(np.mean(samples)), 1000.0 * float(np.median(samples))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?", help="network name, model folder or .onnx (default: synthetic deepscene)")
    parser.add_argument("--precision", choices=("fp16", "fp32", "int8"), default="fp16")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--cache-dir", type=Path, help="engine cache folder (default: the user engine cache)")
    parser.add_argument("--onnxruntime", action="store_true", help="also time ONNX Runtime on the CPU")
    args = parser.parse_args(argv)

    from seg_ros.backends.tensorrt_backend import TensorRTBackend, tensorrt_unavailable_reason
    from seg_ros.registry import resolve_model
    from seg_ros.synthetic import write_model_dir

    reason = tensorrt_unavailable_reason()
    if reason is not None:
        print(f"bench_tensorrt: TensorRT cannot run here: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if args.network:
            spec = resolve_model(args.network)
        else:
            spec = resolve_model(str(write_model_dir(Path(tmp) / "fcn-resnet18-deepscene-576x320-random",
                                                     (576, 320), 5)))
        backend = TensorRTBackend(spec, precision=args.precision, cache_dir=args.cache_dir)
        build = backend.build
        origin = f"built in {build.seconds:.1f} s" if build.built else "from cache"
        print(f"engine: {build.path} ({origin})")
        print(f"GPU {build.key.gpu_name} (sm {build.key.compute_capability}), TensorRT {build.key.tensorrt_version}, "
              f"{build.key.typing} network")
        fps, median = time_backend(backend, args.iterations, args.warmup)
        _, _, height, width = backend.input_shape
        print(f"tensorrt {args.precision} {spec.name} {width}x{height}: {fps:.1f} FPS network-only "
              f"(median {median:.2f} ms over {args.iterations} runs, copies included)")
        backend.close()
        if args.onnxruntime:
            from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

            fps, median = time_backend(OnnxRuntimeBackend(spec), max(20, args.iterations // 20), 5)
            print(f"onnxruntime cpu {spec.name}: {fps:.1f} FPS (median {median:.2f} ms)")
    print(f"reference: {PUBLISHED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
