"""Argmax classification with segNet's ignore class and tie rule (seg_ros.classify)."""

import numpy as np
import pytest

from seg_ros.classify import class_map_from_logits, confidence_from_logits, resize_class_map, suppress_class


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


def test_confidence_is_the_winning_softmax_probability_times_255():
    ln3 = float(np.log(3.0))
    # (C=3, h=1, w=4): cells [0, ln3, 0], [1000, 1000, 1000], [0, ln3, 50] (class 2 = void), [-5, -5, -5]
    logits = np.array([[[0.0, 1000.0, 0.0, -5.0]], [[ln3, 1000.0, ln3, -5.0]], [[0.0, 1000.0, 50.0, -5.0]]],
                      np.float32)
    # softmax by hand: exp(0) : exp(ln3) : exp(0) = 1 : 3 : 1 -> 3/5; equal logits -> 1/3 (no overflow at 1000)
    assert confidence_from_logits(logits).tolist() == [[round(255 * 3 / 5), 85, 255, 85]]
    # void never wins: cell 2 is then [0, ln3] -> 3/4 x 255 = 191.25; cell 1 and 3 over two classes -> 1/2
    assert confidence_from_logits(logits, ignore_class=2).tolist() == [[round(255 * 3 / 4), 128, 191, 128]]
    expected = np.exp(logits - logits.max(axis=0)) / np.exp(logits - logits.max(axis=0)).sum(axis=0)
    assert np.array_equal(confidence_from_logits(logits[np.newaxis]), np.rint(expected.max(axis=0) * 255))
    # one channel = one binary logit x: sigmoid(|x|); x = +-ln3 -> 3/4
    single = np.array([[[ln3, -ln3, 0.0]]], np.float32)
    assert confidence_from_logits(single).tolist() == [[191, 191, 128]]
    assert confidence_from_logits(single).dtype == np.uint8


def test_confidence_is_resized_like_the_class_map():
    logits = np.zeros((2, 2, 3), np.float32)
    logits[1, 0, 0] = 100.0  # one sure cell (255), the others even (128)
    conf = confidence_from_logits(logits, size=(6, 4))
    assert conf.shape == (4, 6)
    assert np.array_equal(conf, resize_class_map(confidence_from_logits(logits), (6, 4)))
    assert conf[:2, :2].tolist() == [[255, 255], [255, 255]] and set(np.unique(conf[2:])) == {128}
    with pytest.raises(ValueError):
        confidence_from_logits(np.zeros((4, 4), np.float32))
