"""segnet-build-engine: build and cache a network's TensorRT engine ahead of time (on the robot, once).

The first start of a node with ``backend: tensorrt`` otherwise spends minutes building the engine; this
does it beforehand into the same cache the node reads.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from seg_ros.cli.entry import run_cli
from seg_ros.engine_cache import ENGINE_DIR_ENV, PRECISIONS, default_cache_dir
from seg_ros.errors import UserError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from seg_ros.backends.tensorrt_backend import DEFAULT_WORKSPACE_MB

    parser = argparse.ArgumentParser(
        prog="segnet-build-engine",
        description="Build a TensorRT engine for a network and store it in the engine cache.",
        epilog="Exit status: 0 built or up to date, 1 TensorRT failed to parse or build, 2 bad network, argument "
               "or a machine where TensorRT cannot run.")
    parser.add_argument("network", metavar="NETWORK_OR_ONNX",
                        help="registry network name, model folder or .onnx file (as for segnet --network)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16",
                        help="fp16 (default), fp32, or int8 (needs --calibration); TensorRT 10/11 build the converted "
                             "FP16 / INT8 ONNX strongly typed, 8.x uses builder flags (see docs/tensorrt.md)")
    parser.add_argument("--calibration", type=Path, metavar="DIR",
                        help="folder of representative images for INT8 calibration")
    parser.add_argument("--workspace", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
                        help=f"TensorRT builder workspace limit in MiB (default {DEFAULT_WORKSPACE_MB})")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help=f"engine cache folder (default ${ENGINE_DIR_ENV}, else {default_cache_dir()})")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cached engine is up to date")
    args = parser.parse_args(argv)
    if args.precision == "int8" and args.calibration is None:
        parser.error("--precision int8 needs --calibration DIR")
    if args.calibration is not None and args.precision != "int8":
        parser.error("--calibration is only used with --precision int8")
    if args.workspace <= 0:
        parser.error("--workspace must be a positive number of MiB")
    return args


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``segnet-build-engine``; exit status as in ``seg_ros.cli.entry``."""
    return run_cli("segnet-build-engine", _main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from seg_ros.backends.tensorrt_backend import build_engine, tensorrt_unavailable_reason
    from seg_ros.registry import resolve_model

    spec = resolve_model(args.network)
    reason = tensorrt_unavailable_reason()
    if reason is not None:  # this command only builds TensorRT engines: run on the wrong machine, a usage error
        raise UserError(f"TensorRT cannot run on this machine: {reason}. "
                        "Build engines on the robot (the Jetson or GPU that will run them).")
    result = build_engine(spec, precision=args.precision, workspace_mb=args.workspace,
                          cache_dir=args.cache_dir, calibration_dir=args.calibration, force=args.force)
    key = result.key
    target = f"{key.gpu_name} (sm {key.compute_capability}), TensorRT {key.tensorrt_version}"
    if result.built:
        print(f"built {key.precision} engine for {spec.name} in {result.seconds:.1f} s on {target}: {result.path}")
    else:
        print(f"{key.precision} engine for {spec.name} is up to date for {target}: {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
