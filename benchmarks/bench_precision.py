"""Accuracy and CPU speed of one network at FP32, FP16 and INT8 (the converted ONNX of seg_ros.precision).

Run: ``python benchmarks/bench_precision.py [NETWORK] [--list test.txt] [--calibration DIR] [--threads 2]``.
Defaults: ESPNet-CamVid from ../shared, its 78 test images, calibrated on the 62 CamVid training images of
``data/camvid/calib``. Each precision runs on ONNX Runtime (CPU) through the same Segmenter and scoring as
``segnet-eval`` and prints mIoU, pixel accuracy, the share of class-map pixels equal to FP32's, and the
median network time per frame. The converted models are cached like engines (a second run reuses them).
ONNX Runtime's graph optimisation level is chosen per model by timing (seg_ros.backends.ort_tuning) and shown
per row: INT8 Q/DQ graphs score slightly differently when ALL fuses them into integer kernels (ESPNet-CamVid:
58.16 with ALL, 58.13 with EXTENDED).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from seg_ros.paths import shared_root

TARGETS = "targets: fp16 agrees with fp32 on >= 99.5 % of pixels and mIoU within 0.3; int8 mIoU within 1.5 of fp32"


def evaluate(segmenter, pairs: list, ignore_index: int) -> tuple[object, np.ndarray, float]:  # noqa: ANN001
    """(scores, stacked class maps at label size, median network ms) over ``pairs``."""
    from seg_ros.classify import resize_class_map
    from seg_ros.evaluation import confusion_matrix, scores_from_confusion
    from seg_ros.media import read_image, read_label

    k = segmenter.spec.num_classes
    confusion = np.zeros((k, k), np.int64)
    maps, network_ms = [], []
    for image_path, label_path in pairs:
        image, label = read_image(image_path), read_label(label_path)
        tensor = segmenter.preprocessor(image)
        start = time.perf_counter()
        logits = segmenter.backend.infer(tensor)
        network_ms.append(1000.0 * (time.perf_counter() - start))
        class_map = resize_class_map(logits[0].argmax(0).astype(np.uint8), (label.shape[1], label.shape[0]))
        maps.append(class_map)
        confusion += confusion_matrix(label, class_map, k, ignore_index)
    return scores_from_confusion(confusion, ignore_index), np.stack(maps), float(np.median(network_ms))


def main(argv: list[str] | None = None) -> int:
    shared = shared_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?", default=str(shared / "models" / "espnet-camvid-480x360"))
    parser.add_argument("--list", type=Path, default=shared / "data" / "camvid" / "test.txt")
    parser.add_argument("--calibration", type=Path, default=shared / "data" / "camvid" / "calib")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs (0 = all)")
    parser.add_argument("--cache-dir", type=Path, help="converted-model cache (default: a fresh temporary folder)")
    args = parser.parse_args(argv)

    from seg_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
    from seg_ros.cli.evaluate import pairs_from_list
    from seg_ros.precision import PRECISIONS, precision_model
    from seg_ros.registry import resolve_model
    from seg_ros.segmenter import Segmenter

    if not args.list.is_file():
        print(f"bench_precision: no test list at {args.list}", file=sys.stderr)
        return 2
    spec = resolve_model(args.network)
    pairs = pairs_from_list(args.list)[: args.limit or None]
    void = spec.class_id("void")
    ignore_index = void if void is not None else 255
    with tempfile.TemporaryDirectory(prefix="bench_precision-") as tmp:
        cache = args.cache_dir or Path(tmp)
        rows, reference = [], None
        for precision in PRECISIONS:
            model = precision_model(spec, precision, args.calibration if precision == "int8" else None, cache)
            run_spec = replace(spec, onnx_path=model.path)
            segmenter = Segmenter(run_spec, backend=OnnxRuntimeBackend(run_spec, threads=args.threads),
                                  ignore_class=None)
            scores, maps, ms = evaluate(segmenter, pairs, ignore_index)
            reference = maps if reference is None else reference
            agree = float((maps == reference).mean())
            made = f"converted in {model.seconds:.1f} s" if model.built else model.reason
            made += f", ORT level {segmenter.backend.optimization}"
            rows.append((precision, scores, agree, ms, made))
    print(f"{spec.name}: {len(pairs)} images of {args.list}, ONNX Runtime CPU, {args.threads} threads; "
          f"int8 calibrated on {args.calibration}")
    print(f"  {'precision':<9} {'mIoU %':>7} {'d mIoU':>7} {'pixel acc %':>11} {'= fp32 px %':>11} {'network ms':>10}")
    base = rows[0][1].mean_iou
    for precision, scores, agree, ms, made in rows:
        print(f"  {precision:<9} {100 * scores.mean_iou:>7.2f} {100 * (scores.mean_iou - base):>+7.2f} "
              f"{100 * scores.pixel_accuracy:>11.2f} {100 * agree:>11.3f} {ms:>10.1f}   ({made})")
    fastest = min(rows, key=lambda r: r[3])[0]
    print(f"  fastest on this CPU: {fastest}")
    print(f"  {TARGETS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
