"""Image → network input tensor, driven by the model's Preprocessing (the only place that does this)."""

from __future__ import annotations

import cv2
import numpy as np

from seg_ros.model import Preprocessing

_INTERP = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}


class Preprocessor:
    """Resize an RGB uint8 image to the network size and normalise it into a (1,3,H,W) float32 tensor.

    The per-channel affine map ``x * scale + offset`` is precomputed once; it equals
    ``(x - mean) / std * post_scale`` of the model's preprocessing.
    """

    def __init__(self, pre: Preprocessing, input_size: tuple[int, int]) -> None:
        self.pre = pre
        self.width, self.height = int(input_size[0]), int(input_size[1])
        mean = np.asarray(pre.mean, np.float64)
        std = np.asarray(pre.std, np.float64)
        self._scale = (pre.post_scale / std).astype(np.float32).reshape(3, 1, 1)
        self._offset = (-mean * pre.post_scale / std).astype(np.float32).reshape(3, 1, 1)
        self._interp = _INTERP[pre.resize]
        self._flip = pre.channel_order == "bgr"

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray:
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {image_rgb.shape} {image_rgb.dtype}")
        if image_rgb.shape[1] != self.width or image_rgb.shape[0] != self.height:
            image_rgb = cv2.resize(image_rgb, (self.width, self.height), interpolation=self._interp)
        if self._flip:
            image_rgb = image_rgb[:, :, ::-1]
        chw = np.transpose(image_rgb, (2, 0, 1)).astype(np.float32)
        chw *= self._scale
        chw += self._offset
        return chw[np.newaxis]
