"""Segmentation accuracy from one confusion matrix: pixel accuracy, mean class accuracy, IoU.

Pure numpy, no I/O. Rows of the confusion matrix are ground-truth classes, columns predicted classes.
Pixels whose label is the ignore index never enter the matrix; a *prediction* of the ignore class on a
labelled pixel stays in it (column of the ignore class) and so counts as wrong.

Which classes enter the means (the rule):
- mean IoU averages the classes whose union (label pixels + predicted pixels) is non-empty, i.e. classes
  absent from both labels and predictions are left out;
- mean class accuracy averages the classes that have label pixels (accuracy is undefined without them);
- the ignore class is never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(label: np.ndarray, prediction: np.ndarray, num_classes: int,
                     ignore_index: int | None = None) -> np.ndarray:
    """(K,K) int64 counts of (label, prediction) pairs over all pixels whose label is not ``ignore_index``.

    Raises ValueError when shapes differ or a label/prediction outside 0..K-1 (other than the ignore index) occurs.
    """
    label = np.asarray(label)
    prediction = np.asarray(prediction)
    if label.shape != prediction.shape:
        raise ValueError(f"label shape {label.shape} differs from prediction shape {prediction.shape}")
    label = label.reshape(-1).astype(np.int64)
    prediction = prediction.reshape(-1).astype(np.int64)
    if ignore_index is not None:
        keep = label != ignore_index
        label, prediction = label[keep], prediction[keep]
    bad = (label < 0) | (label >= num_classes)
    if bad.any():
        values = np.unique(label[bad])[:8].tolist()
        raise ValueError(f"label ids {values} outside 0..{num_classes - 1} (ignore index {ignore_index})")
    if prediction.size and (prediction.min() < 0 or prediction.max() >= num_classes):
        raise ValueError(f"prediction ids outside 0..{num_classes - 1}")
    counts = np.bincount(label * num_classes + prediction, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@dataclass(frozen=True)
class Scores:
    """Figures derived from one confusion matrix; fractions in 0..1, NaN where a class is not scored."""

    pixel_accuracy: float
    mean_class_accuracy: float
    mean_iou: float
    class_iou: np.ndarray  # (K,) NaN for classes not in the IoU mean
    class_accuracy: np.ndarray  # (K,) NaN for classes without label pixels
    label_pixels: np.ndarray  # (K,) row sums
    predicted_pixels: np.ndarray  # (K,) column sums (labelled pixels only)


def scores_from_confusion(confusion: np.ndarray, ignore_index: int | None = None) -> Scores:
    """Pixel accuracy, mean class accuracy, mIoU and per-class IoU/accuracy (see the module docstring)."""
    conf = np.asarray(confusion, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {conf.shape}")
    num_classes = conf.shape[0]
    tp = np.diag(conf)
    rows = conf.sum(axis=1)
    cols = conf.sum(axis=0)
    union = rows + cols - tp
    scored = np.ones(num_classes, dtype=bool)
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        scored[ignore_index] = False
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(scored & (union > 0), tp / union, np.nan)
        acc = np.where(scored & (rows > 0), tp / rows, np.nan)
    total = conf.sum()
    return Scores(
        pixel_accuracy=float(tp.sum() / total) if total > 0 else float("nan"),
        mean_class_accuracy=_nanmean(acc),
        mean_iou=_nanmean(iou),
        class_iou=iou,
        class_accuracy=acc,
        label_pixels=rows.astype(np.int64),
        predicted_pixels=cols.astype(np.int64),
    )


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the fraction of a class's pixels predicted as each class); empty rows stay 0."""
    conf = np.asarray(confusion, dtype=np.float64)
    rows = conf.sum(axis=1, keepdims=True)
    return np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")
