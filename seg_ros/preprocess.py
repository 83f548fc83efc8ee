"""Image → network input tensor, driven by the model's Preprocessing (the only place that does this)."""

from __future__ import annotations

import cv2
import numpy as np

from seg_ros.model import Preprocessing

_INTERP = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}


class Preprocessor:
    """Resize an RGB uint8 image to the network size and turn it into a (1,3,H,W) tensor of the input dtype.

    The per-channel affine map ``x * scale + offset`` is precomputed once; it equals
    ``(x - mean) / std * post_scale`` of the model's preprocessing. Each channel plane is written straight
    into the output tensor: no transpose, no astype, no fresh array per frame (README: measured figures).

    ``dtype``: the model's declared input type. float32 as above; float16: the float32 result rounded once;
    uint8: the raw pixels (resized, in the channel order) unless the preprocessing says to normalise
    (``Preprocessing.normalizes``), then the normalised values rounded and clipped to 0..255.
    """

    def __init__(self, pre: Preprocessing, input_size: tuple[int, int], dtype: np.dtype | type = np.float32) -> None:
        """``pre``: the model's preprocessing; ``input_size``: the network's (width, height) in pixels."""
        self.width, self.height = int(input_size[0]), int(input_size[1])
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.uint8)):
            raise ValueError(f"input dtype must be float32, float16 or uint8, got {self.dtype}")
        mean = np.asarray(pre.mean, np.float64)
        std = np.asarray(pre.std, np.float64)
        self.normalize = pre.normalizes(self.dtype)
        self._scale = (pre.post_scale / std).astype(np.float32)
        self._offset = (-mean * pre.post_scale / std).astype(np.float32)
        self._interp = _INTERP[pre.resize]
        self._flip = pre.channel_order == "bgr"
        needs_scratch = self.dtype != np.float32 and self.normalize
        self._scratch = np.empty(self.shape, np.float32) if needs_scratch else None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(1, 3, height, width) of the tensor this produces."""
        return (1, 3, self.height, self.width)

    def __call__(self, image_rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The (1,3,H,W) input tensor (of ``dtype``) of an HxWx3 uint8 RGB image, in the network's channel order.

        Written into ``out`` (a buffer of :attr:`shape` and ``dtype``, reused by the caller) when given. Raises
        ValueError for another image layout or a wrong buffer. Not re-entrant (one scratch buffer).
        """
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {image_rgb.shape} {image_rgb.dtype}")
        if out is None:
            out = np.empty(self.shape, self.dtype)
        elif out.shape != self.shape or out.dtype != self.dtype:
            raise ValueError(f"output buffer must be {self.dtype} {self.shape}, got {out.dtype} {out.shape}")
        if image_rgb.shape[1] != self.width or image_rgb.shape[0] != self.height:
            image_rgb = cv2.resize(image_rgb, (self.width, self.height), interpolation=self._interp)
        planes = cv2.split(image_rgb)
        if self._flip:
            planes = planes[::-1]
        if not self.normalize:
            for c, plane in enumerate(planes):
                out[0, c] = plane
            return out
        target = out if self._scratch is None else self._scratch
        for c, plane in enumerate(planes):
            np.multiply(plane, self._scale[c], out=target[0, c], casting="unsafe")
            target[0, c] += self._offset[c]
        if self.dtype == np.uint8:
            np.clip(np.rint(target, out=target), 0, 255, out=target)
        if target is not out:
            np.copyto(out, target, casting="unsafe")
        return out
