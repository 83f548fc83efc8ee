"""Camera pose in the base frame and the ground-plane ↔ pixel mapping, precomputed as lookup tables.

Frames (REP 103/105): base frame x forward, y left, z up; camera optical frame z forward, x right, y down.
The ground is assumed flat: the plane ``z = ground_z`` of the base frame (0 for a base_footprint-like frame).

Choice of mapping: ground cells are mapped *to* the image (inverse mapping) — each cell centre is projected
into the class map and sampled there. Every visible cell gets exactly one sample (no holes), cells no ray
reaches stay unknown, and a coarse network grid is interpolated at each cell instead of being smeared as
metre-wide blocks. :class:`ProjectionTable` stores the result as flat indices so a frame is a fancy-index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seg_ros.camera_model import CameraModel
from seg_ros.errors import CameraModelError

# Columns are the optical axes (x right, y down, z forward) expressed in a level, forward-looking camera body
# frame (x forward, y left, z up).
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, eq=False)
class Extrinsics:
    """Pose of the camera optical frame in the base frame: ``p_base = R @ p_optical + t``.

    That is the transform tf2 returns for ``lookup_transform(base_frame, camera_optical_frame, stamp)``.
    """

    R: np.ndarray  # (3, 3)
    t: np.ndarray  # (3,)

    def __post_init__(self) -> None:
        R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        t = np.asarray(self.t, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
            raise CameraModelError("camera extrinsics contain NaN or infinite values")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise CameraModelError(f"camera extrinsic rotation is not a rotation matrix: {R.tolist()}")
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Extrinsics:
        """From a 4x4 homogeneous transform base ← optical."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise CameraModelError(f"expected a 4x4 transform, got shape {m.shape}")
        return cls(m[:3, :3], m[:3, 3])

    @classmethod
    def from_quaternion(cls, quaternion_xyzw: Sequence[float], translation: Sequence[float]) -> Extrinsics:
        """From a geometry_msgs/Transform's rotation (x, y, z, w) and translation."""
        x, y, z, w = (float(v) for v in quaternion_xyzw)
        n = math.sqrt(x * x + y * y + z * z + w * w)
        if not n > 1e-9 or not math.isfinite(n):
            raise CameraModelError(f"camera extrinsic quaternion {quaternion_xyzw} cannot be normalised")
        x, y, z, w = x / n, y / n, z / n, w / n
        R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        return cls(R, np.asarray(translation, dtype=np.float64))

    @classmethod
    def from_transform_msg(cls, transform: Any) -> Extrinsics:
        """From a geometry_msgs/Transform (e.g. ``tf_buffer.lookup_transform(base, optical, stamp).transform``)."""
        r, t = transform.rotation, transform.translation
        return cls.from_quaternion((r.x, r.y, r.z, r.w), (t.x, t.y, t.z))

    @classmethod
    def from_mounting(cls, height: float, pitch: float = 0.0, roll: float = 0.0, yaw: float = 0.0,
                      x: float = 0.0, y: float = 0.0) -> Extrinsics:
        """From mounting parameters (the fallback when tf2 is unavailable); angles in radians.

        The camera sits at ``(x, y, height)`` in the base frame. Starting level and looking along +x, it is
        turned by ``yaw`` about z (+ = left), then ``pitch`` about its own y (+ = down, REP 103), then ``roll``
        about its own optical axis (+ = its left side up): ``R = Rz(yaw) Ry(pitch) Rx(roll) · optical→body``.
        """
        R = _rot_z(yaw) @ _rot_y(pitch) @ _rot_x(roll) @ OPTICAL_IN_BODY
        return cls(R, np.array([x, y, height], dtype=np.float64))

    def matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.R, self.t
        return m

    def close_to(self, other: Extrinsics | None, atol: float = 1e-6) -> bool:
        """Equal within ``atol`` (metres / rotation-matrix entries): tf jitter below it keeps cached tables."""
        return other is not None and bool(np.allclose(self.R, other.R, atol=atol)
                                          and np.allclose(self.t, other.t, atol=atol))


def check_above_ground(extrinsics: Extrinsics, ground_z: float = 0.0) -> None:
    """The flat-ground model needs the camera above the ground plane; raise CameraModelError otherwise."""
    if not extrinsics.t[2] > ground_z + 1e-6:
        raise CameraModelError(f"camera is at z={extrinsics.t[2]:.3f} m in the base frame, not above the ground "
                               f"plane z={ground_z:.3f} m: check the camera height / tf")


def ground_to_pixel(points_xy: np.ndarray, camera: CameraModel, extrinsics: Extrinsics,
                    ground_z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Ground points (N,2) in the base frame → pixels (N,2) of ``camera`` and a visibility mask."""
    check_above_ground(extrinsics, ground_z)
    xy = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    pts = np.concatenate([xy, np.full((xy.shape[0], 1), ground_z)], axis=1)
    optical = (pts - extrinsics.t) @ extrinsics.R  # R^T (p - t), row-wise
    return camera.project(optical)


def pixel_to_ground(uv: np.ndarray, camera: CameraModel, extrinsics: Extrinsics,
                    ground_z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N,2) → ground points (N,2) in the base frame; rays at or above the horizon are invalid (NaN)."""
    check_above_ground(extrinsics, ground_z)
    rays = camera.pixel_rays(uv) @ extrinsics.R.T
    valid = rays[:, 2] < -1e-9
    xy = np.full((rays.shape[0], 2), np.nan)
    scale = (ground_z - extrinsics.t[2]) / rays[valid, 2]
    xy[valid] = extrinsics.t[:2] + scale[:, None] * rays[valid, :2]
    return xy, valid


@dataclass
class ProjectionTable:
    """Where each ground sample point falls in a class map of ``map_size`` = (width, height).

    ``valid`` (M,) marks points that project inside the map; ``nearest`` (M,) are flat pixel indices
    (0 where invalid) for nearest sampling of a class map; ``corners`` (M,4) and ``weights`` (M,4) serve
    bilinear interpolation of class scores.
    """

    map_size: tuple[int, int]
    valid: np.ndarray
    nearest: np.ndarray
    corners: np.ndarray
    weights: np.ndarray

    @classmethod
    def build(cls, camera: CameraModel, extrinsics: Extrinsics, points_xy: np.ndarray, map_size: tuple[int, int],
              ground_z: float = 0.0) -> ProjectionTable:
        """Project ``points_xy`` (M,2) into a class map of ``map_size`` covering the whole camera image."""
        width, height = map_size
        uv, valid = ground_to_pixel(points_xy, camera.scaled(width, height), extrinsics, ground_z)
        uv = np.where(valid[:, None], uv, 0.0)
        col = np.clip(np.rint(uv[:, 0]), 0, width - 1).astype(np.intp)
        row = np.clip(np.rint(uv[:, 1]), 0, height - 1).astype(np.intp)
        nearest = np.where(valid, row * width + col, 0)
        u = np.clip(uv[:, 0], 0.0, width - 1.0)
        v = np.clip(uv[:, 1], 0.0, height - 1.0)
        u0 = np.minimum(np.floor(u), max(width - 2, 0)).astype(np.intp)
        v0 = np.minimum(np.floor(v), max(height - 2, 0)).astype(np.intp)
        u1, v1 = np.minimum(u0 + 1, width - 1), np.minimum(v0 + 1, height - 1)
        fu, fv = u - u0, v - v0
        corners = np.stack([v0 * width + u0, v0 * width + u1, v1 * width + u0, v1 * width + u1], axis=1)
        weights = np.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], axis=1).astype(np.float32)
        return cls((width, height), valid, nearest, corners, weights)
