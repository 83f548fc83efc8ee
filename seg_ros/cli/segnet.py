"""``segnet``: segment images, folders, wildcards and videos offline (mirrors jetson-inference's segnet.py).

Examples::

    segnet images/trail_0.jpg out.jpg
    segnet "images/trail_*.jpg" out/ --stats --legend out/legend.png
    segnet video.avi out.avi --network espnet-camvid-480x360 --timing
    segnet images/ masks/mask_%03i.png --visualize mask --filter-mode point

Exit status (``seg_ros.cli.entry``): 0 all inputs done; 1 some inputs failed (listed at the end) or a runtime
failure (backend, download); 2 bad arguments, model, input or output, in one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from seg_ros import defaults, render
from seg_ros.backends import BACKENDS
from seg_ros.cli.entry import run_cli
from seg_ros.errors import MediaError, ModelError
from seg_ros.media import (
    Frame,
    ImageSequence,
    ImageSink,
    VideoSink,
    VideoSource,
    open_input,
    open_output,
    write_image,
)
from seg_ros.model import ModelSpec
from seg_ros.precision import add_precision_arguments
from seg_ros.registry import model_from_onnx, resolve_model
from seg_ros.segmenter import Segmenter

_DEFAULT = " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segnet", description="Segment images, folders, wildcards and videos offline "
                                   "(mirrors jetson-inference's segnet.py).",
        epilog="INPUT: image file, folder of images, quoted wildcard (\"images/trail_*.jpg\") or video file. "
               "OUTPUT: image file, folder (same stem per input), pattern with %i (out_%03i.jpg) or video file. "
               "Exit status: 0 done, 1 some inputs failed or a runtime failure (backend, download), 2 bad arguments, "
               "model, input or output.")
    parser.add_argument("input", help="image, folder, quoted wildcard or video")
    parser.add_argument("output", nargs="?", default=None, help="image, folder, %%i pattern or video (optional)")
    model = parser.add_argument_group("network")
    model.add_argument("--network", default=defaults.DEFAULT_NETWORK,
                       help="registry network name/alias or model folder" + _DEFAULT)
    model.add_argument("--model", default=None, help="custom ONNX file (or model folder); overrides --network")
    model.add_argument("--labels", default=None, help="class names file for --model (default: classes.txt beside it)")
    model.add_argument("--colors", default=None, help="colours file for --model (default: colors.txt beside it)")
    model.add_argument("--input-blob", default=None, help="input tensor name for --model (default input_0)")
    model.add_argument("--output-blob", default=None, help="output tensor name for --model (default output_0)")
    model.add_argument("--input-size", default=None, metavar="WxH",
                       help="network input size for an ONNX with a dynamic input size (e.g. 640x480)")
    model.add_argument("--no-download", dest="download", action="store_false", default=defaults.DEFAULT_DOWNLOAD,
                       help="do not fetch a registry network that is not in the cache yet (default: fetch and verify)")
    model.add_argument("--backend", default=defaults.DEFAULT_BACKEND, choices=BACKENDS,
                       help="inference backend" + _DEFAULT)
    model.add_argument("--threads", type=int, default=defaults.DEFAULT_THREADS,
                       help="CPU inference threads (0 = backend default)")
    add_precision_arguments(model)
    view = parser.add_argument_group("visualisation")
    view.add_argument("--visualize", default=defaults.DEFAULT_VISUALIZE,
                      help="overlay, mask or overlay,mask" + _DEFAULT)
    view.add_argument("--alpha", type=float, default=defaults.DEFAULT_ALPHA,
                      help="overlay alpha 0..255 for classes without an alpha in colors.txt" + _DEFAULT)
    view.add_argument("--filter-mode", default=defaults.DEFAULT_FILTER_MODE, choices=render.FILTER_MODES,
                      help="class colour upsampling filter" + _DEFAULT)
    view.add_argument("--ignore-class", default=defaults.DEFAULT_IGNORE_CLASS,
                      help="class never chosen by the argmax, name or id" + _DEFAULT)
    view.add_argument("--legend", default=None, metavar="FILE", help="write a class colour legend image")
    report = parser.add_argument_group("reporting")
    report.add_argument("--stats", action="store_true", help="print per-class pixel statistics of each frame")
    report.add_argument("--timing", action="store_true", help="print the per-stage timing table at the end")
    return parser


def load_spec(args: argparse.Namespace) -> ModelSpec:
    """The network: --model (ONNX + labels/colours/blobs, as segNet) or else --network (name or folder)."""
    model = Path(args.model).expanduser() if args.model else None
    if model is None or model.is_dir():
        overrides = [f"--{k.replace('_', '-')}" for k in ("labels", "colors", "input_blob", "output_blob")
                     if getattr(args, k)]
        if overrides:  # a folder or registry network states its own files and blobs
            raise ModelError(f"{', '.join(overrides)}: only for --model FILE.onnx (a model folder or --network "
                             "names its own files and blobs)")
        return resolve_model(str(model)) if model is not None else resolve_model(args.network, download=args.download)
    return model_from_onnx(model, Path(args.labels).expanduser() if args.labels else None,
                           Path(args.colors).expanduser() if args.colors else None,
                           args.input_blob, args.output_blob)


def _check_legend_path(legend: Path, inputs: list[Path]) -> None:
    if any(legend.resolve() == p.resolve() for p in inputs):
        raise MediaError(f"refusing to overwrite input file {legend} with the legend")


def run(args: argparse.Namespace) -> int:
    """Segment every input frame, write the rendering, report failures; returns the exit status."""
    source = open_input(args.input)
    sink = None
    segmenter: Segmenter | None = None
    try:
        sink = open_output(args.output, source) if args.output else None
        if args.legend:
            _check_legend_path(Path(args.legend).expanduser(), source.paths)
        spec = load_spec(args).with_alpha(args.alpha).with_input_size(args.input_size)
        segmenter = Segmenter(spec, args.backend, args.threads, ignore_class=args.ignore_class,
                              precision=args.precision, calibration_dir=args.calibration)
        if args.legend:
            write_image(Path(args.legend).expanduser(), render.render_legend(spec.class_names, spec.colors))
        done, failures = _process(args, source, sink, segmenter)
    finally:
        source.close()
        if sink is not None:
            sink.close()
        if segmenter is not None:
            segmenter.backend.close()  # GPU memory and context now, not at interpreter exit
    if args.timing:
        print(segmenter.timer.format_table(f"stage timings (ms), {done} frame(s), backend {segmenter.backend.name}"))
    where = f"output: {args.output}" if sink is not None else "no OUTPUT given, nothing written"
    print(f"segnet: {done} frame(s) segmented with {spec.name} ({segmenter.backend.name}); {where}")
    if failures:
        print(f"segnet: {len(failures)} input(s) failed:", file=sys.stderr)
        for where, why in failures:
            print(f"  {where}: {why}", file=sys.stderr)
        return 1
    return 0


def _process(args: argparse.Namespace, source: ImageSequence | VideoSource, sink: ImageSink | VideoSink | None,
             segmenter: Segmenter) -> tuple[int, list[tuple[str, str]]]:
    """The frame loop: read → segment → render → write (+ stats); unreadable or unwritable frames are skipped."""
    timer, colors, names = segmenter.timer, segmenter.spec.colors, segmenter.spec.class_names
    failures: list[tuple[str, str]] = []
    done = 0
    frames = iter(source)
    total = len(source) or None
    with tqdm(total=total, unit="frame", file=sys.stderr, disable=total == 1, dynamic_ncols=True) as progress:
        while True:
            with timer.stage("read"):
                frame: Frame | None = next(frames, None)
            if frame is None:
                return done, failures
            progress.update(1)
            if frame.error is not None:
                failures.append((frame.source, frame.error))
                tqdm.write(f"segnet: skipped {frame.error}", file=sys.stderr)
                continue
            seg = segmenter.segment(frame.image)
            if sink is not None:
                with timer.stage("render"):
                    out = render.render_composite(frame.image, seg.class_map, colors,
                                                  visualize=args.visualize, filter_mode=args.filter_mode)
                try:
                    with timer.stage("write"):
                        sink.write(frame, out)
                except MediaError as exc:
                    failures.append((frame.source, str(exc)))
                    tqdm.write(f"segnet: {exc}", file=sys.stderr)
                    continue
            if args.stats:
                stats = render.class_statistics(seg.class_map, names)
                tqdm.write(f"{frame.source}:\n{render.format_statistics(stats)}")
            done += 1


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``segnet``; exit status as in ``seg_ros.cli.entry``."""
    return run_cli("segnet", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        render.parse_visualize(args.visualize)
    except ValueError as exc:
        parser.error(str(exc))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
