"""Argmax classification with segNet's ignore class and tie rule (seg_ros.classify)."""

import numpy as np
import pytest

from seg_ros.classify import class_map_from_logits, resize_class_map, suppress_class


def test_argmax_ignore_class_and_first_on_ties():
    logits = np.array([
        [[1.0, 5.0], [2.0, 2.0]],   # class 0
        [[3.0, 1.0], [2.0, 0.0]],   # class 1
        [[9.0, 0.0], [1.0, 2.0]],   # class 2 (e.g. void)
    ], np.float32)
    assert class_map_from_logits(logits).tolist() == [[2, 0], [0, 0]]
    assert class_map_from_logits(logits, ignore_class=2).tolist() == [[1, 0], [0, 0]]
    assert class_map_from_logits(logits[np.newaxis], ignore_class=None).dtype == np.uint8
    assert np.array_equal(logits[2], [[9.0, 0.0], [1.0, 2.0]])  # input untouched


def test_shapes_are_checked():
    with pytest.raises(ValueError):
        class_map_from_logits(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError):
        class_map_from_logits(np.zeros((4, 4), np.float32))


def test_suppress_class_copies_unless_in_place_and_skips_single_or_unknown_class():
    scores = np.array([[1.0, 4.0], [3.0, 2.0]], np.float32)  # (C=2, n=2)
    out = suppress_class(scores, 0)
    assert out[0].tolist() == [-np.inf, -np.inf] and scores[0].tolist() == [1.0, 4.0]
    assert suppress_class(scores, 5) is scores and suppress_class(scores, None) is scores
    assert np.isfinite(suppress_class(scores[:1], 0)).all()
    assert suppress_class(scores, 1, in_place=True) is scores and np.isneginf(scores[1]).all()


def test_resize_class_map_repeats_cells_without_blending():
    cmap = np.array([[0, 7], [3, 1]], np.uint8)
    big = resize_class_map(cmap, (4, 2))  # (width, height): each cell twice along x
    assert big.tolist() == [[0, 0, 7, 7], [3, 3, 1, 1]] and big.dtype == np.uint8
    assert resize_class_map(cmap, (2, 2)) is cmap
