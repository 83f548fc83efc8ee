"""segnet-eval: accuracy of a network on a labelled image set (pixel accuracy, mean class accuracy, mIoU).

Predictions are the argmax over ALL output channels by default (``--ignore-class`` off), because a
benchmark scores what the network says; segNet's display-time ignore class would hide its void mistakes.
Labels are class-id images; pixels equal to the ignore index (default: the id of a class named ``void``,
else 255) are not scored, while predictions of the void class on labelled pixels count as wrong.
The class map is compared at the label's resolution (nearest upsampling when the network output is smaller).
See ``seg_ros.evaluation`` for which classes enter the means.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from seg_ros.backends import BACKENDS
from seg_ros.classify import resize_class_map
from seg_ros.cli.entry import run_cli
from seg_ros.defaults import DEFAULT_BACKEND, DEFAULT_THREADS
from seg_ros.errors import DatasetError, MediaError
from seg_ros.evaluation import Scores, confusion_matrix, row_normalised, scores_from_confusion
from seg_ros.media import list_images, read_image, read_label
from seg_ros.precision import add_precision_arguments

DEFAULT_IGNORE_INDEX = 255

Pair = tuple[Path, Path]


def pairs_from_list(list_file: Path) -> list[Pair]:
    """``image label`` lines (SegNet / CamVid layout), paths relative to the list file's folder."""
    try:
        lines = Path(list_file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read list file {list_file}: {exc.strerror or exc}") from exc
    root = Path(list_file).parent
    pairs = []
    for lineno, line in enumerate(lines, 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) != 2:
            raise DatasetError(f"{list_file}:{lineno}: expected 'IMAGE LABEL', got {line.strip()!r}")
        pairs.append((root / parts[0], root / parts[1]))
    if not pairs:
        raise DatasetError(f"list file {list_file} names no image/label pairs")
    return pairs


def pairs_from_folders(images: Path, labels: Path) -> tuple[list[Pair], list[Path]]:
    """Images and labels paired by equal file stems; returns the pairs and the images that have no label."""
    for folder in (images, labels):
        if not Path(folder).is_dir():
            raise DatasetError(f"folder {folder} does not exist")
    label_by_stem = {p.stem: p for p in list_images(Path(labels))}
    pairs, unlabelled = [], []
    for image in list_images(Path(images)):
        if image.stem in label_by_stem:
            pairs.append((image, label_by_stem[image.stem]))
        else:
            unlabelled.append(image)
    if not pairs:
        raise DatasetError(f"no image in {images} has a label of the same name in {labels}")
    return pairs, unlabelled


def pair_confusion(segmenter, image_path: Path, label_path: Path, ignore_index: int) -> np.ndarray:
    """Confusion matrix of one image/label pair, compared at the label's resolution.

    Raises MediaError for a pair that cannot be scored: unreadable files, or (DatasetError) sizes that differ or
    label ids outside the model's classes.
    """
    image = read_image(image_path)
    label = read_label(label_path)
    if label.shape[:2] != image.shape[:2]:
        raise DatasetError(f"label {label_path} is {label.shape[1]}x{label.shape[0]} but image {image_path} is "
                         f"{image.shape[1]}x{image.shape[0]}")
    class_map = resize_class_map(segmenter.segment(image).class_map, (label.shape[1], label.shape[0]))
    try:
        return confusion_matrix(label, class_map, segmenter.spec.num_classes, ignore_index)
    except ValueError as exc:
        raise DatasetError(f"{label_path}: {exc}") from None


def format_table(class_names: tuple[str, ...], scores: Scores, ignore_index: int) -> str:
    rows = [f"  {'class':<16} {'IoU %':>7} {'acc %':>7} {'label px':>11} {'pred px':>11}"]
    for k, name in enumerate(class_names):
        iou, acc = scores.class_iou[k], scores.class_accuracy[k]
        note = "  (ignored)" if k == ignore_index else ""
        rows.append(f"  {name:<16} {_pct(iou):>7} {_pct(acc):>7} {scores.label_pixels[k]:>11d} "
                    f"{scores.predicted_pixels[k]:>11d}{note}")
    rows += [f"  {'pixel accuracy':<24} {_pct(scores.pixel_accuracy):>7} %",
             f"  {'mean class accuracy':<24} {_pct(scores.mean_class_accuracy):>7} %",
             f"  {'mean IoU':<24} {_pct(scores.mean_iou):>7} %"]
    return "\n".join(rows)


def _pct(value: float) -> str:
    return "-" if np.isnan(value) else f"{100.0 * value:.2f}"


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def results_json(model: str, class_names: tuple[str, ...], confusion: np.ndarray, scores: Scores,
                 ignore_index: int, num_images: int, skipped: list[str]) -> dict:
    """All figures as fractions in 0..1 (null where a class is not scored) plus the raw confusion matrix."""
    return {
        "model": model,
        "images": num_images,
        "skipped": skipped,
        "ignore_index": ignore_index,
        "pixel_accuracy": scores.pixel_accuracy,
        "mean_class_accuracy": scores.mean_class_accuracy,
        "mean_iou": scores.mean_iou,
        "classes": list(class_names),
        "class_iou": _nan_to_none(scores.class_iou),
        "class_accuracy": _nan_to_none(scores.class_accuracy),
        "label_pixels": scores.label_pixels.tolist(),
        "predicted_pixels": scores.predicted_pixels.tolist(),
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": "rows = label class, columns = predicted class",
    }


def plot_results(path: Path, title: str, class_names: tuple[str, ...], confusion: np.ndarray, scores: Scores,
                 ignore_index: int) -> None:
    """PNG: row-normalised confusion matrix (scored classes × all predicted classes) and per-class IoU bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [k for k in range(len(class_names)) if k != ignore_index]
    norm = row_normalised(confusion)[rows] * 100.0
    k_all = len(class_names)
    fig, (ax_cm, ax_iou) = plt.subplots(1, 2, figsize=(8 + 0.55 * k_all, 1.5 + 0.5 * len(rows)),
                                        gridspec_kw={"width_ratios": [k_all, 0.45 * k_all + 3]})
    image = ax_cm.imshow(norm, cmap="Blues", vmin=0.0, vmax=100.0, aspect="equal")
    if k_all <= 30:
        for i in range(len(rows)):
            for j in range(k_all):
                if norm[i, j] >= 0.5:
                    ax_cm.text(j, i, f"{norm[i, j]:.0f}", ha="center", va="center", fontsize=7,
                               color="white" if norm[i, j] > 50 else "black")
    ax_cm.set_xticks(range(k_all), class_names, rotation=60, ha="right", fontsize=8)
    ax_cm.set_yticks(range(len(rows)), [class_names[k] for k in rows], fontsize=8)
    ax_cm.set_xlabel("predicted class")
    ax_cm.set_ylabel("label class")
    ax_cm.set_title("confusion matrix (% of each label row)", fontsize=10)
    fig.colorbar(image, ax=ax_cm, fraction=0.046, pad=0.04, label="% of label row")

    iou = np.nan_to_num(scores.class_iou[rows], nan=0.0) * 100.0
    y = np.arange(len(rows))
    ax_iou.barh(y, iou, color="tab:blue")
    ax_iou.axvline(100.0 * scores.mean_iou, color="tab:red", linestyle="--",
                   label=f"mIoU {100 * scores.mean_iou:.2f} %")
    for yi, value, raw in zip(y, iou, scores.class_iou[rows], strict=True):
        ax_iou.text(value + 1.0, yi, "-" if np.isnan(raw) else f"{value:.1f}", va="center", fontsize=7)
    ax_iou.set_yticks(y, [class_names[k] for k in rows], fontsize=8)
    ax_iou.invert_yaxis()
    ax_iou.set_xlim(0, 110)
    ax_iou.set_xlabel("IoU %")
    ax_iou.set_title("per-class IoU", fontsize=10)
    ax_iou.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{title}: pixel acc {100 * scores.pixel_accuracy:.2f} %, mean class acc "
                 f"{100 * scores.mean_class_accuracy:.2f} %, mIoU {100 * scores.mean_iou:.2f} %", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _ready_output(path: Path | None) -> None:
    """Fail before the evaluation, not after it, when a --json/--plot file cannot be written."""
    if path is None:
        return
    if path.is_dir():
        raise MediaError(f"{path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaError(f"{path}: cannot create the folder {path.parent} ({exc.strerror or exc})") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segnet-eval", description=__doc__.split("\n\n")[0],
        epilog="Prediction is the argmax over all output channels unless --ignore-class is given. Labels equal to "
               "the ignore index are not scored; predicting the void class on a labelled pixel counts as wrong. "
               "Mean IoU averages classes present in labels or predictions; mean class accuracy averages classes "
               "present in labels. Exit status: 0 ok, 1 some pairs skipped or a runtime failure (backend, download), "
               "2 bad arguments, model, data set or output file.")
    parser.add_argument("network", help="registry network name/alias, model folder or .onnx file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--list", type=Path, help="file of 'IMAGE LABEL' lines relative to its folder (SegNet layout)")
    source.add_argument("--images", type=Path, help="folder of images (needs --labels; paired by file stem)")
    parser.add_argument("--labels", type=Path, help="folder of label images (class ids)")
    parser.add_argument("--ignore-index", type=int, default=None,
                        help=f"label id not scored (default: id of class 'void' if any, else {DEFAULT_IGNORE_INDEX})")
    parser.add_argument("--ignore-class", default=None,
                        help="class (name or id) never predicted, as segNet's display ignore class (default: none)")
    parser.add_argument("--json", type=Path, help="write all figures and the confusion matrix to this JSON file")
    parser.add_argument("--plot", type=Path, help="write a PNG: confusion matrix and per-class IoU")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                        help="inference backend (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="inference threads (0 = backend default)")
    add_precision_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``segnet-eval``; exit status as in ``seg_ros.cli.entry``."""
    return run_cli("segnet-eval", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.images is not None and args.labels is None:
        parser.error("--images needs --labels")
    if args.list is not None and args.labels is not None:
        parser.error("--labels goes with --images, not with --list")
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seg_ros.registry import resolve_model
    from seg_ros.segmenter import Segmenter

    skipped: list[str] = []
    if args.list is not None:
        pairs = pairs_from_list(args.list)
    else:
        pairs, unlabelled = pairs_from_folders(args.images, args.labels)
        skipped += [f"{p}: no label named {p.stem}.* in {args.labels}" for p in unlabelled]
    for path in (args.json, args.plot):
        _ready_output(path)
    spec = resolve_model(args.network, download=True)
    segmenter = Segmenter(spec, args.backend, args.threads, ignore_class=args.ignore_class,
                          precision=args.precision, calibration_dir=args.calibration)
    if args.ignore_index is not None:
        ignore_index = args.ignore_index
    else:
        void = spec.class_id("void")
        ignore_index = void if void is not None else DEFAULT_IGNORE_INDEX

    confusion = np.zeros((spec.num_classes, spec.num_classes), np.int64)
    evaluated = 0
    for image_path, label_path in tqdm(pairs, desc="segnet-eval", unit="img", disable=None):
        try:
            confusion += pair_confusion(segmenter, image_path, label_path, ignore_index)
            evaluated += 1
        except MediaError as exc:  # unreadable file or a label that does not fit (DatasetError)
            skipped.append(str(exc))
            tqdm.write(f"segnet-eval: skipped: {exc}", file=sys.stderr)
    if evaluated == 0:
        raise DatasetError(f"no image/label pair could be evaluated ({len(skipped)} skipped)")

    scores = scores_from_confusion(confusion, ignore_index)
    ignore_name = f" ({spec.class_names[ignore_index]})" if 0 <= ignore_index < spec.num_classes else ""
    never = "" if segmenter.ignore_id is None else f" but {spec.class_names[segmenter.ignore_id]}"
    print(f"{spec.name}: {evaluated} images, label ignore index {ignore_index}{ignore_name}, "
          f"prediction argmax over all classes{never}")
    print(format_table(spec.class_names, scores, ignore_index))
    try:
        if args.json is not None:
            data = results_json(spec.name, spec.class_names, confusion, scores, ignore_index, evaluated, skipped)
            args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        if args.plot is not None:
            plot_results(args.plot, spec.name, spec.class_names, confusion, scores, ignore_index)
    except OSError as exc:
        raise MediaError(f"cannot write {exc.filename or 'results'}: {exc.strerror or exc}") from exc
    if skipped:
        print(f"segnet-eval: {len(skipped)} pair(s) skipped:", file=sys.stderr)
        for line in skipped:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
