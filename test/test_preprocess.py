"""Image → tensor preprocessing against the networks' documented formulas (seg_ros.preprocess)."""

import numpy as np
import pytest

from seg_ros.errors import ModelError
from seg_ros.model import Preprocessing
from seg_ros.preprocess import Preprocessor

IMAGENET = Preprocessing("rgb", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 1.0, "nearest")


def test_fcn_resnet18_formula_and_segnet_nearest_sampling():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    tensor = Preprocessor(IMAGENET, (64, 32))(image)
    assert tensor.shape == (1, 3, 32, 64) and tensor.dtype == np.float32
    # segNet samples source pixel floor(x * src/dst) for each destination pixel
    ys = (np.arange(32) * 90 / 32).astype(int)
    xs = (np.arange(64) * 160 / 64).astype(int)
    sampled = image[ys][:, xs].astype(np.float64) / 255.0
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = ((sampled - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(tensor[0], expected, atol=1e-5)


def test_espnet_formula_bgr_and_trailing_255():
    pre = Preprocessing("bgr", (110.331, 108.4089, 105.0332), (72.1257, 72.6907, 69.9043), 1 / 255, "bilinear")
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
    tensor = Preprocessor(pre, (48, 36))(image)
    bgr = image[:, :, ::-1].astype(np.float64)
    expected = ((bgr - pre.mean) / pre.std / 255.0).transpose(2, 0, 1)
    np.testing.assert_allclose(tensor[0], expected, atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3))])
def test_rejects_non_rgb_uint8(bad):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Preprocessor(IMAGENET, (32, 32))(bad)


def test_output_buffer_is_reused_and_checked():
    image = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    pre = Preprocessor(IMAGENET, (30, 20))
    buffer = np.full(pre.shape, np.nan, np.float32)
    assert pre(image, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, pre(image))
    with pytest.raises(ValueError, match="output buffer"):
        pre(image, out=np.empty((1, 3, 20, 31), np.float32))


def test_fp16_input_is_the_float32_result_rounded_once():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    tensor = Preprocessor(IMAGENET, (64, 32), np.float16)(image)
    assert tensor.dtype == np.float16 and tensor.shape == (1, 3, 32, 64)
    mean, std = np.array(IMAGENET.mean), np.array(IMAGENET.std)
    expected = ((image.astype(np.float64) - mean) / std).transpose(2, 0, 1)
    # float16 has 11 significant bits: within half a unit in the last place of each value (|x| < 4 here)
    np.testing.assert_allclose(tensor[0].astype(np.float64), expected, atol=2 ** -9)


def test_uint8_input_gets_the_raw_pixels_unless_normalisation_is_stated():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    raw = Preprocessor(Preprocessing(channel_order="bgr"), (64, 32), np.uint8)(image)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw[0], image[:, :, ::-1].transpose(2, 0, 1))  # BGR order, no mean/std
    stated = Preprocessing("rgb", (100, 100, 100), (0.5, 0.5, 0.5), 1.0, "nearest", normalize=True)
    out = Preprocessor(stated, (64, 32), np.uint8)(image)
    expected = np.clip(np.rint((image.astype(np.float64) - 100) / 0.5), 0, 255).astype(np.uint8).transpose(2, 0, 1)
    np.testing.assert_array_equal(out[0], expected)
    # float input with normalize false: the pixel values as floats
    plain = Preprocessor(Preprocessing(normalize=False), (64, 32))(image)
    np.testing.assert_array_equal(plain[0], image.transpose(2, 0, 1).astype(np.float32))


def test_buffer_must_have_the_input_dtype_and_other_dtypes_are_refused():
    pre = Preprocessor(IMAGENET, (8, 4), np.uint8)
    with pytest.raises(ValueError, match="output buffer must be uint8"):
        pre(np.zeros((4, 8, 3), np.uint8), out=np.empty((1, 3, 4, 8), np.float32))
    with pytest.raises(ValueError, match="float32, float16 or uint8"):
        Preprocessor(IMAGENET, (8, 4), np.int32)


def test_preprocessing_block_normalize():
    assert Preprocessing.from_yaml({"channel_order": "bgr"}, "m").normalize is None  # by the input dtype
    assert Preprocessing.from_yaml({"mean": [1, 2, 3]}, "m").normalize is True  # stated: applies to uint8 too
    assert Preprocessing.from_yaml({"normalize": False, "mean": [1, 2, 3]}, "m").normalize is False
    assert Preprocessing().normalizes(np.float16) and not Preprocessing().normalizes(np.uint8)
    with pytest.raises(ModelError, match="normalize must be true or false"):
        Preprocessing.from_yaml({"normalize": "yes"}, "m")
