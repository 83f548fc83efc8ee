"""Ground projection against closed-form pinhole geometry (pitch, roll, yaw, offsets, horizon, distortion)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seg_ros.camera_model import CameraModel
from seg_ros.errors import CameraModelError
from seg_ros.ground_projection import Extrinsics, ground_to_pixel, pixel_to_ground

FX, FY, CX, CY = 600.0, 600.0, 319.5, 239.5
H, PITCH = 1.2, math.radians(20)


def camera(d: list[float] | None = None) -> CameraModel:
    return CameraModel.from_camera_info(640, 480, [FX, 0, CX, 0, FY, CY, 0, 0, 1], d or [], "plumb_bob")


def ground_distance(v: float, h: float = H, pitch: float = PITCH) -> float:
    """The issue's closed form: image row v of the centre column meets the ground at h / tan(pitch + atan(...))."""
    return h / math.tan(pitch + math.atan((v - CY) / FY))


def test_extrinsics_axes_follow_rep103_and_optical_frames():
    level = Extrinsics.from_mounting(1.0)
    np.testing.assert_allclose(level.R @ [0, 0, 1], [1, 0, 0], atol=1e-12)  # optical z = forward
    np.testing.assert_allclose(level.R @ [1, 0, 0], [0, -1, 0], atol=1e-12)  # optical x = right = -y
    np.testing.assert_allclose(level.R @ [0, 1, 0], [0, 0, -1], atol=1e-12)  # optical y = down
    down = Extrinsics.from_mounting(1.0, pitch=0.3)
    np.testing.assert_allclose(down.R @ [0, 0, 1], [math.cos(0.3), 0, -math.sin(0.3)], atol=1e-12)


def test_extrinsics_from_matrix_and_quaternion_agree():
    ref = Extrinsics.from_mounting(1.5, pitch=0.2, roll=0.05, yaw=-0.3, x=0.4, y=0.1)
    again = Extrinsics.from_matrix(ref.matrix())
    assert again.close_to(ref, 1e-12)
    # quaternion of the same rotation, from the trace formula (w dominant here)
    R = ref.R
    w = math.sqrt(1 + R[0, 0] + R[1, 1] + R[2, 2]) / 2
    q = [(R[2, 1] - R[1, 2]) / (4 * w), (R[0, 2] - R[2, 0]) / (4 * w), (R[1, 0] - R[0, 1]) / (4 * w), w]
    assert Extrinsics.from_quaternion([2 * v for v in q], ref.t).close_to(ref, 1e-9)  # unnormalised input is fine


def test_invalid_extrinsics():
    with pytest.raises(CameraModelError, match="rotation"):
        Extrinsics(np.diag([1.0, 1.0, -1.0]), np.zeros(3))
    with pytest.raises(CameraModelError, match="NaN"):
        Extrinsics(np.eye(3), [0, 0, float("nan")])
    with pytest.raises(CameraModelError, match="4x4"):
        Extrinsics.from_matrix(np.eye(3))
    with pytest.raises(CameraModelError, match="above the ground"):
        pixel_to_ground(np.array([[CX, CY]]), camera(), Extrinsics.from_mounting(-0.1, 0.3))


def test_pitch_closed_form_rows():
    ext = Extrinsics.from_mounting(H, pitch=PITCH)
    rows = np.array([200.0, 239.5, 300.0, 400.0, 479.0])
    expected = np.array([ground_distance(v) for v in rows])
    xy, valid = pixel_to_ground(np.stack([np.full_like(rows, CX), rows], axis=1), camera(), ext)
    assert valid.all()
    np.testing.assert_allclose(xy[:, 0], expected, rtol=1e-9)
    np.testing.assert_allclose(xy[:, 1], 0.0, atol=1e-9)
    uv, visible = ground_to_pixel(np.stack([expected, np.zeros_like(expected)], axis=1), camera(), ext)
    assert visible.all()
    np.testing.assert_allclose(uv, np.stack([np.full_like(rows, CX), rows], axis=1), atol=1e-7)


def test_off_centre_columns_closed_form():
    # Ray (xn, yn, 1) tilted down by the pitch: forward cos - yn sin, down sin + yn cos, lateral -xn.
    ext = Extrinsics.from_mounting(H, pitch=PITCH)
    uv = np.array([[100.0, 300.0], [600.0, 400.0], [319.5, 350.0]])
    xn, yn = (uv[:, 0] - CX) / FX, (uv[:, 1] - CY) / FY
    s = H / (math.sin(PITCH) + yn * math.cos(PITCH))
    expected = np.stack([s * (math.cos(PITCH) - yn * math.sin(PITCH)), -s * xn], axis=1)
    xy, valid = pixel_to_ground(uv, camera(), ext)
    assert valid.all()
    np.testing.assert_allclose(xy, expected, rtol=1e-9)


def test_rays_at_or_above_the_horizon_are_invalid():
    ext = Extrinsics.from_mounting(H, pitch=PITCH)
    horizon_v = CY - FY * math.tan(PITCH)  # the row looking exactly level
    rows = np.array([0.0, horizon_v - 1.0, horizon_v, horizon_v + 1.0])
    xy, valid = pixel_to_ground(np.stack([np.full_like(rows, CX), rows], axis=1), camera(), ext)
    assert valid.tolist() == [False, False, False, True]
    assert np.isnan(xy[:3]).all()
    # a ground point far away projects just below the horizon, never above it
    uv, vis = ground_to_pixel(np.array([[1000.0, 0.0]]), camera(), ext)
    assert vis[0] and horizon_v < uv[0, 1] < horizon_v + 1.0


def test_roll_at_level_pitch():
    # Roll +r (left side up): optical x (right) = (0, -cos r, -sin r), optical y (down) = (0, sin r, -cos r).
    roll = math.radians(10)
    ext = Extrinsics.from_mounting(H, pitch=0.0, roll=roll)
    uv = np.array([[100.0, 400.0], [500.0, 300.0], [319.5, 420.0]])
    xn, yn = (uv[:, 0] - CX) / FX, (uv[:, 1] - CY) / FY
    lateral = -xn * math.cos(roll) + yn * math.sin(roll)
    vertical = -xn * math.sin(roll) - yn * math.cos(roll)
    assert (vertical < 0).all()
    s = H / -vertical
    xy, valid = pixel_to_ground(uv, camera(), ext)
    assert valid.all()
    np.testing.assert_allclose(xy, np.stack([s, s * lateral], axis=1), rtol=1e-9)
    # the image's right half dips: at row CY + 5 the right edge sees ground, the left edge sky
    _, v2 = pixel_to_ground(np.array([[0.0, CY + 5], [639.0, CY + 5]]), camera(), ext)
    assert v2.tolist() == [False, True]


def test_yaw_and_offsets_rotate_and_shift_the_footprint():
    yaw, ox, oy = math.radians(30), 0.4, -0.25
    uv = np.array([[100.0, 300.0], [600.0, 400.0], [319.5, 350.0]])
    base, _ = pixel_to_ground(uv, camera(), Extrinsics.from_mounting(H, pitch=PITCH))
    turned, valid = pixel_to_ground(uv, camera(), Extrinsics.from_mounting(H, pitch=PITCH, yaw=yaw, x=ox, y=oy))
    c, s = math.cos(yaw), math.sin(yaw)
    expected = np.stack([c * base[:, 0] - s * base[:, 1] + ox, s * base[:, 0] + c * base[:, 1] + oy], axis=1)
    assert valid.all()
    np.testing.assert_allclose(turned, expected, atol=1e-9)
    # +yaw = left: the optical axis' ground point moves to +y
    centre, _ = pixel_to_ground(np.array([[CX, CY]]), camera(), Extrinsics.from_mounting(H, PITCH, yaw=yaw))
    assert centre[0, 1] > 0


def test_distorted_pixels_are_undistorted_before_intersecting():
    d = [-0.3, 0.1, 0.0, 0.0, 0.0]
    ext = Extrinsics.from_mounting(H, pitch=PITCH)
    ground = np.array([[2.0, 1.0], [3.5, -1.5], [6.0, 0.2]])
    # closed-form optical coordinates of ground points, then the plumb_bob formula
    z = ground[:, 0] * math.cos(PITCH) + H * math.sin(PITCH)
    x = -ground[:, 1] / z
    y = (H * math.cos(PITCH) - ground[:, 0] * math.sin(PITCH)) / z
    r2 = x * x + y * y
    radial = 1 + d[0] * r2 + d[1] * r2 * r2
    uv = np.stack([FX * x * radial + CX, FY * y * radial + CY], axis=1)
    xy, valid = pixel_to_ground(uv, camera(d), ext)
    assert valid.all()
    np.testing.assert_allclose(xy, ground, atol=1e-5)
    back, vis = ground_to_pixel(ground, camera(d), ext)
    assert vis.all()
    np.testing.assert_allclose(back, uv, atol=1e-6)
    # ignoring the distortion would put these points elsewhere (the test can tell the difference)
    wrong, _ = pixel_to_ground(uv, camera(), ext)
    assert np.abs(wrong - ground).max() > 0.05


def test_ground_z_shifts_the_plane():
    # base_link 0.2 m above the ground: the camera is effectively 0.2 m higher above the plane z = -0.2
    ext = Extrinsics.from_mounting(H, pitch=PITCH)
    xy, _ = pixel_to_ground(np.array([[CX, 300.0]]), camera(), ext, ground_z=-0.2)
    assert xy[0, 0] == pytest.approx(ground_distance(300.0, h=H + 0.2), rel=1e-9)


def test_extrinsics_from_transform_message():
    geometry_msgs = pytest.importorskip("geometry_msgs.msg", reason="geometry_msgs not installed")
    msg = geometry_msgs.Transform()
    msg.translation.x, msg.translation.z = 0.3, 1.1
    # optical frame of a level camera: quaternion of OPTICAL_IN_BODY (x, y, z, w) = (-0.5, 0.5, -0.5, 0.5)
    msg.rotation.x, msg.rotation.y, msg.rotation.z, msg.rotation.w = -0.5, 0.5, -0.5, 0.5
    assert Extrinsics.from_transform_msg(msg).close_to(Extrinsics.from_mounting(1.1, x=0.3), 1e-12)
