"""Camera intrinsics from sensor_msgs/CameraInfo fields: projection and pixel rays, in any class-map resolution.

Pixel convention (OpenCV): integer coordinates are pixel *centres*, pixel ``i`` covers ``[i-0.5, i+0.5)``.
Binning, ROI and rescaling to a class map keep pixel centres aligned (``u' = (u + 0.5) * s - 0.5``), which
differs from image_geometry's ``cx / binning`` by a fraction of a pixel and is exact for block binning and for
the network's resize. Rectified images use ``P`` (its 3x3 part; ``P[:, 3]`` of a stereo right camera is
ignored, use that camera's own tf frame) and no distortion; raw images use ``K`` and ``D``. With rectified
images the ROI offset is applied to ``P`` as given (exact for a full-frame ROI; image_geometry would first
rectify the raw ROI's corners).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from seg_ros.errors import CameraModelError

# Number of coefficients each supported CameraInfo distortion model needs (extra trailing values must be 0).
DISTORTION_MODELS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics of the images actually received: ``width`` x ``height`` pixels, 3x3 ``K``, distortion ``D``.

    Build with :meth:`from_camera_info` (message fields), :meth:`from_msg` (a CameraInfo-like object) or
    :meth:`from_fov` (no calibration); :meth:`scaled` gives the model of a resized image (a class map).
    """

    width: int
    height: int
    K: np.ndarray  # (3, 3) float64
    D: np.ndarray  # (n,) float64; all-zero or empty = no distortion
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        D = np.asarray(self.D, dtype=np.float64).ravel()
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", D)
        if self.width <= 0 or self.height <= 0:
            raise CameraModelError(f"camera image size must be positive, got {self.width}x{self.height} "
                                   "(an uncalibrated CameraInfo has width = height = 0)")
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            raise CameraModelError(f"camera matrix must be 3x3 and finite, got {K.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[2, 2] - 1.0) > 1e-9:
            raise CameraModelError(f"camera matrix needs fx > 0, fy > 0 and K[2][2] = 1, got fx={K[0, 0]} "
                                   f"fy={K[1, 1]} K[2][2]={K[2, 2]} (all zeros = camera not calibrated)")
        if not np.all(np.isfinite(D)):
            raise CameraModelError(f"distortion coefficients must be finite, got {D.tolist()}")
        if self.distorted:
            need = DISTORTION_MODELS.get(self.distortion_model)
            if need is None:
                raise CameraModelError(f"distortion model {self.distortion_model!r} is not supported "
                                       f"(supported: {', '.join(DISTORTION_MODELS)})")
            if np.any(D[need:] != 0):
                raise CameraModelError(f"{self.distortion_model} takes {need} distortion coefficients, "
                                       f"got {D.size}: {D.tolist()}")
            padded = np.zeros(need)
            padded[: min(need, D.size)] = D[:need]
            object.__setattr__(self, "D", padded)

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_camera_info(cls, width: int, height: int, k: Sequence[float], d: Sequence[float] = (),
                         distortion_model: str = "plumb_bob", p: Sequence[float] | None = None,
                         binning_x: int = 0, binning_y: int = 0,
                         roi: tuple[int, int, int, int] | None = None, rectified: bool = False) -> CameraModel:
        """Model of the published image from CameraInfo fields.

        ``width``/``height``/``k``/``p`` describe the full-resolution calibration; ``roi`` is
        ``(x_offset, y_offset, width, height)`` in full-resolution pixels (width/height 0 = full frame) and
        binning 0 or 1 means none. ``rectified`` selects ``P`` and no distortion (an ``image_rect`` topic).
        """
        if len(k) != 9:
            raise CameraModelError(f"CameraInfo k must have 9 values, got {len(k)}")
        if rectified:
            if p is None or len(p) != 12:
                raise CameraModelError("rectified images need CameraInfo p with 12 values")
            matrix = np.asarray(p, dtype=np.float64).reshape(3, 4)[:, :3]
            if not np.any(matrix):
                raise CameraModelError("CameraInfo p is all zeros: the camera is not calibrated for rectified images")
            coeffs: np.ndarray = np.zeros(0)
        else:
            matrix = np.asarray(k, dtype=np.float64).reshape(3, 3)
            coeffs = np.asarray(d, dtype=np.float64)
        bx, by = max(int(binning_x), 1), max(int(binning_y), 1)
        x0, y0, rw, rh = (0, 0, 0, 0) if roi is None else (int(v) for v in roi)
        rw, rh = (rw or int(width) - x0), (rh or int(height) - y0)
        if width <= 0 or height <= 0:
            raise CameraModelError(f"CameraInfo size {width}x{height}: the camera is not calibrated")
        if x0 < 0 or y0 < 0 or x0 + rw > width or y0 + rh > height or rw <= 0 or rh <= 0:
            raise CameraModelError(f"CameraInfo roi {x0},{y0} {rw}x{rh} lies outside the {width}x{height} image")
        K = matrix.copy()
        if np.all(np.isfinite(K)):
            K[0, 0], K[1, 1] = K[0, 0] / bx, K[1, 1] / by
            K[0, 1] = K[0, 1] / bx
            K[0, 2] = (K[0, 2] - x0 + 0.5) / bx - 0.5
            K[1, 2] = (K[1, 2] - y0 + 0.5) / by - 0.5
        return cls(rw // bx, rh // by, K, coeffs, distortion_model or "plumb_bob")

    @classmethod
    def from_msg(cls, info: Any, rectified: bool = False) -> CameraModel:
        """From a sensor_msgs/CameraInfo (or anything with its field names); no ROS import needed here."""
        roi = info.roi
        return cls.from_camera_info(int(info.width), int(info.height), list(info.k), list(info.d),
                                    str(info.distortion_model), list(info.p), int(info.binning_x),
                                    int(info.binning_y), (roi.x_offset, roi.y_offset, roi.width, roi.height),
                                    rectified)

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov: float) -> CameraModel:
        """Ideal pinhole with square pixels, principal point at the image centre; ``horizontal_fov`` in radians."""
        if not 0.0 < horizontal_fov < math.pi:
            raise CameraModelError(f"horizontal field of view must be within (0, pi) radians, got {horizontal_fov}")
        f = (width / 2.0) / math.tan(horizontal_fov / 2.0)
        K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return cls(int(width), int(height), K, np.zeros(0))

    # ---- properties ---------------------------------------------------------------------------------------
    @property
    def distorted(self) -> bool:
        return bool(np.any(self.D != 0))

    @property
    def key(self) -> tuple:
        """Hashable identity: equal keys give equal projections (used to cache projection tables)."""
        return (self.width, self.height, self.distortion_model if self.distorted else "",
                tuple(self.K.ravel().tolist()), tuple(self.D.tolist()) if self.distorted else ())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CameraModel) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def check_image_size(self, width: int, height: int) -> None:
        """Raise when the received image does not have the size CameraInfo (after binning/ROI) describes."""
        if (int(width), int(height)) != (self.width, self.height):
            raise CameraModelError(f"CameraInfo describes a {self.width}x{self.height} image (after binning/ROI) "
                                   f"but the image is {width}x{height}")

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera seen through an image resized to ``width`` x ``height`` (e.g. a class map)."""
        if width <= 0 or height <= 0:
            raise CameraModelError(f"cannot scale the camera to {width}x{height}")
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0], K[0, 1], K[1, 1] = K[0, 0] * sx, K[0, 1] * sx, K[1, 1] * sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return CameraModel(int(width), int(height), K, self.D, self.distortion_model)

    # ---- geometry -----------------------------------------------------------------------------------------
    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optical-frame points (N,3) → pixels (N,2) and a validity mask.

        Valid = in front of the camera, inside the image, and (with distortion) the distorted pixel maps back
        to the same ray through ``cv2.undistortPoints`` — this rejects points far outside the calibrated field
        of view where the distortion polynomial folds back into the image.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        uv = np.full((pts.shape[0], 2), np.nan)
        front = pts[:, 2] > 1e-9
        if np.any(front):
            normalized = pts[front, :2] / pts[front, 2:3]
            if self.distorted:
                obj = np.concatenate([normalized, np.ones((normalized.shape[0], 1))], axis=1)
                zero = np.zeros(3)
                if self.distortion_model == "equidistant":
                    img, _ = cv2.fisheye.projectPoints(obj[:, None, :], zero, zero, self.K, self.D)
                else:
                    img, _ = cv2.projectPoints(obj, zero, zero, self.K, self.D)
                uv_front = img.reshape(-1, 2)
                back = self.normalized_coordinates(uv_front)
                err = np.linalg.norm(back - normalized, axis=1)
                uv_front[~(err <= 1e-4 * (1.0 + np.linalg.norm(normalized, axis=1)))] = np.nan
            else:
                uv_front = normalized @ self.K[:2, :2].T + self.K[:2, 2]
            uv[front] = uv_front
        inside = (np.isfinite(uv).all(axis=1) & (uv[:, 0] >= -0.5) & (uv[:, 0] < self.width - 0.5)
                  & (uv[:, 1] >= -0.5) & (uv[:, 1] < self.height - 0.5))
        return uv, inside

    def normalized_coordinates(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (N,2) → undistorted normalised image coordinates (x/z, y/z), via cv2.undistortPoints."""
        pix = np.asarray(uv, dtype=np.float64).reshape(-1, 1, 2)
        if not self.distorted:
            return (pix.reshape(-1, 2) - self.K[:2, 2]) @ np.linalg.inv(self.K[:2, :2]).T
        if self.distortion_model == "equidistant":
            out = cv2.fisheye.undistortPoints(pix, self.K, self.D)
        else:
            # undistortPoints with an explicit iteration budget (its default of 5 is coarse for strong lenses)
            out = cv2.undistortPointsIter(pix, self.K, self.D, None, None,
                                          (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10))
        return out.reshape(-1, 2)

    def pixel_rays(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (N,2) → unit rays (N,3) in the camera optical frame (z forward, x right, y down)."""
        n = self.normalized_coordinates(uv)
        rays = np.concatenate([n, np.ones((n.shape[0], 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)
