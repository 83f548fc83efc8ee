"""Logits → class map: argmax per cell, as segNet's classify step."""

from __future__ import annotations

import cv2
import numpy as np


def _chw(logits: np.ndarray) -> np.ndarray:
    """(C,h,w) view of (C,h,w) or (1,C,h,w) logits; ValueError for another shape or a batch larger than one."""
    if logits.ndim == 4:
        if logits.shape[0] != 1:
            raise ValueError(f"expected a batch of one, got logits of shape {logits.shape}")
        logits = logits[0]
    if logits.ndim != 3:
        raise ValueError(f"expected (C,h,w) logits, got shape {logits.shape}")
    return logits


def class_map_from_logits(logits: np.ndarray, ignore_class: int | None = None) -> np.ndarray:
    """Per-cell argmax over the class axis of (C,h,w) logits, as uint8 (h,w).

    ``ignore_class`` is never chosen (segNet's ignore class, e.g. ``void``); ties keep the first class.
    """
    logits = _chw(logits)
    num_classes = logits.shape[0]
    if num_classes > 256:
        raise ValueError(f"{num_classes} classes do not fit a uint8 class map")
    return np.argmax(suppress_class(logits, ignore_class), axis=0).astype(np.uint8)


def suppress_class(scores: np.ndarray, ignore_class: int | None, in_place: bool = False) -> np.ndarray:
    """``scores`` (classes on axis 0) with the ignore class at -inf, so no argmax picks it.

    A copy unless ``in_place``; unchanged when ``ignore_class`` is None, out of range or the only class.
    """
    num_classes = scores.shape[0]
    if ignore_class is None or not 0 <= ignore_class < num_classes or num_classes < 2:
        return scores
    if not in_place:
        scores = scores.copy()
    scores[ignore_class] = -np.inf
    return scores


def resize_class_map(class_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``class_map`` at ``size`` (width, height) by nearest neighbour: class ids are never blended."""
    if class_map.shape[1] == size[0] and class_map.shape[0] == size[1]:
        return class_map
    return cv2.resize(class_map, (int(size[0]), int(size[1])), interpolation=cv2.INTER_NEAREST)


def confidence_from_logits(logits: np.ndarray, ignore_class: int | None = None,
                           size: tuple[int, int] | None = None) -> np.ndarray:
    """The winning class's softmax probability per cell, x 255 as uint8 (h,w): the confidence image of a class map.

    ``logits``: (C,h,w) (or (1,C,h,w)) class scores. The softmax runs over the classes the argmax may choose
    (``ignore_class`` excluded, as in :func:`class_map_from_logits`), so the value belongs to the class in the
    class map. Numerically stable: ``p_max = 1 / sum(exp(l - max(l)))``, rounded to the nearest of 0..255.
    A single channel is read as one binary logit ``x`` (the two-class scores ``(0, x)``): ``p_max =
    sigmoid(|x|)``, so it is 128..255. ``size`` (width, height): resized by nearest neighbour, like
    :func:`resize_class_map`, so each pixel keeps the confidence of its class id.
    """
    logits = _chw(logits)
    scores = logits.astype(np.float32, copy=False)
    if scores.shape[0] == 1:
        p_max = 1.0 / (1.0 + np.exp(-np.abs(scores[0])))
    else:
        scores = suppress_class(scores, ignore_class)
        top = scores.max(axis=0)
        p_max = 1.0 / np.exp(scores - top).sum(axis=0)
    confidence = np.rint(p_max * 255.0).astype(np.uint8)
    return confidence if size is None else resize_class_map(confidence, size)
