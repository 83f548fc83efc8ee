"""CameraModel: CameraInfo validation, binning/ROI/rescaling, distortion — against formulas written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seg_ros.camera_model import CameraModel
from seg_ros.errors import CameraModelError, SegRosError

K_FULL = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
POINTS = np.array([[0.3, -0.2, 2.0], [-0.5, 0.4, 3.0], [0.0, 0.0, 1.0], [0.8, 0.6, 4.0]])


def pinhole(points: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.stack([fx * points[:, 0] / points[:, 2] + cx, fy * points[:, 1] / points[:, 2] + cy], axis=1)


def plumb_bob(points: np.ndarray, k: list[float], d: list[float]) -> np.ndarray:
    """Brown-Conrady as documented for sensor_msgs/CameraInfo (k1 k2 t1 t2 k3)."""
    k1, k2, p1, p2, k3 = d
    x, y = points[:, 0] / points[:, 2], points[:, 1] / points[:, 2]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([k[0] * xd + k[2], k[4] * yd + k[5]], axis=1)


def equidistant(points: np.ndarray, k: list[float], d: list[float]) -> np.ndarray:
    x, y = points[:, 0] / points[:, 2], points[:, 1] / points[:, 2]
    r = np.hypot(x, y)
    theta = np.arctan(r)
    theta_d = theta * (1 + d[0] * theta**2 + d[1] * theta**4 + d[2] * theta**6 + d[3] * theta**8)
    scale = np.where(r > 0, theta_d / np.maximum(r, 1e-12), 1.0)
    return np.stack([k[0] * x * scale + k[2], k[4] * y * scale + k[5]], axis=1)


def test_plain_k_projects_as_pinhole_and_rays_invert_it():
    cam = CameraModel.from_camera_info(640, 480, K_FULL)
    assert (cam.width, cam.height) == (640, 480)
    uv, valid = cam.project(POINTS)
    assert valid.all()
    np.testing.assert_allclose(uv, pinhole(POINTS, 500, 510, 320, 240), atol=1e-9)
    rays = cam.pixel_rays(uv)
    np.testing.assert_allclose(rays, POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True), atol=1e-9)


@pytest.mark.parametrize("k, reason", [
    ([0.0] * 9, "fx"),
    ([500.0, 0, 320, 0, float("nan"), 240, 0, 0, 1], "finite"),
    ([500.0, 0, 320, 0, 510, 240, 0, 0, 1, 0], "9 values"),
    ([-500.0, 0, 320, 0, 510, 240, 0, 0, 1], "fx"),
])
def test_bad_camera_matrix_is_a_clear_error(k, reason):
    with pytest.raises(CameraModelError, match=reason) as info:
        CameraModel.from_camera_info(640, 480, k)
    assert isinstance(info.value, SegRosError)


def test_other_invalid_camera_info():
    with pytest.raises(CameraModelError, match="not calibrated"):
        CameraModel.from_camera_info(0, 0, K_FULL)
    with pytest.raises(CameraModelError, match="not supported"):
        CameraModel.from_camera_info(640, 480, K_FULL, [0.1, 0, 0, 0, 0], "kannala_brandt_weird")
    with pytest.raises(CameraModelError, match="takes 5"):
        CameraModel.from_camera_info(640, 480, K_FULL, [0.1, 0, 0, 0, 0, 0.3], "plumb_bob")
    with pytest.raises(CameraModelError, match="roi"):
        CameraModel.from_camera_info(640, 480, K_FULL, roi=(600, 0, 100, 100))
    with pytest.raises(CameraModelError, match="finite"):
        CameraModel.from_camera_info(640, 480, K_FULL, [float("nan"), 0, 0, 0, 0])
    # all-zero D with an unknown model name is simply "no distortion"
    assert not CameraModel.from_camera_info(640, 480, K_FULL, [0.0] * 5, "").distorted


def test_image_size_mismatch():
    cam = CameraModel.from_camera_info(640, 480, K_FULL, binning_x=2, binning_y=2)
    cam.check_image_size(320, 240)
    with pytest.raises(CameraModelError, match="320x240.*640x480"):
        cam.check_image_size(640, 480)


def test_binning_and_roi_keep_pixel_centres():
    # Full-resolution pixel u_f; the binned+cropped image's pixel i covers full pixels x0 + 2i, x0 + 2i + 1,
    # whose common centre is x0 + 2i + 0.5 → i = (u_f - x0 - 0.5) / 2.
    x0, y0, bx, by = 100, 40, 2, 4
    cam = CameraModel.from_camera_info(640, 480, K_FULL, binning_x=bx, binning_y=by, roi=(x0, y0, 400, 320))
    assert (cam.width, cam.height) == (200, 80)
    full = pinhole(POINTS, 500, 510, 320, 240)
    expected = np.stack([(full[:, 0] - x0 - (bx - 1) / 2) / bx, (full[:, 1] - y0 - (by - 1) / 2) / by], axis=1)
    uv, _ = cam.project(POINTS)
    np.testing.assert_allclose(uv, expected, atol=1e-9)


def test_scaled_to_class_map_resolution():
    cam = CameraModel.from_camera_info(640, 480, K_FULL)
    small = cam.scaled(18, 10)
    full = pinhole(POINTS, 500, 510, 320, 240)
    # map cell j spans image pixels [j*640/18, (j+1)*640/18): pixel-edge coordinates scale linearly
    expected = np.stack([(full[:, 0] + 0.5) * 18 / 640 - 0.5, (full[:, 1] + 0.5) * 10 / 480 - 0.5], axis=1)
    uv, _ = small.project(POINTS)
    np.testing.assert_allclose(uv, expected, atol=1e-9)
    assert cam.scaled(640, 480) is cam


def test_rectified_uses_p_and_no_distortion():
    p = [400.0, 0, 300, 0, 0, 405, 250, 0, 0, 0, 1, 0]
    cam = CameraModel.from_camera_info(640, 480, K_FULL, [0.2, -0.1, 0, 0, 0], "plumb_bob", p=p, rectified=True)
    assert not cam.distorted
    uv, _ = cam.project(POINTS)
    np.testing.assert_allclose(uv, pinhole(POINTS, 400, 405, 300, 250), atol=1e-9)
    with pytest.raises(CameraModelError, match="p"):
        CameraModel.from_camera_info(640, 480, K_FULL, p=[0.0] * 12, rectified=True)


def test_plumb_bob_and_rational_distortion():
    d = [-0.28, 0.07, 0.001, -0.0005, 0.0]
    cam = CameraModel.from_camera_info(640, 480, K_FULL, d, "plumb_bob")
    uv, valid = cam.project(POINTS)
    assert valid.all()
    np.testing.assert_allclose(uv, plumb_bob(POINTS, K_FULL, d), atol=1e-6)
    # undistortPoints recovers the rays
    np.testing.assert_allclose(cam.pixel_rays(uv), POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True), atol=1e-6)
    rational = CameraModel.from_camera_info(640, 480, K_FULL, d + [0.0, 0.0, 0.0], "rational_polynomial")
    np.testing.assert_allclose(rational.project(POINTS)[0], uv, atol=1e-9)


def test_equidistant_distortion():
    d = [0.05, -0.01, 0.002, 0.0]
    cam = CameraModel.from_camera_info(640, 480, K_FULL, d, "equidistant")
    uv, valid = cam.project(POINTS)
    assert valid.all()
    np.testing.assert_allclose(uv, equidistant(POINTS, K_FULL, d), atol=1e-6)
    np.testing.assert_allclose(cam.pixel_rays(uv), POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True), atol=1e-5)


def test_distortion_fold_back_is_rejected():
    # k1 = -0.5: the radial map r(1 - 0.5 r^2) turns back at r = 0.816; a point at r = 1.5 would land at
    # r_d = -0.19, inside the image on the wrong side. It must be invalid, not a wrong pixel.
    cam = CameraModel.from_camera_info(640, 480, K_FULL, [-0.5, 0, 0, 0, 0], "plumb_bob")
    _, valid = cam.project(np.array([[1.5, 0.0, 1.0], [0.3, 0.0, 1.0]]))
    assert valid.tolist() == [False, True]


def test_points_behind_or_outside_are_invalid():
    cam = CameraModel.from_fov(640, 480, math.radians(90))
    _, valid = cam.project(np.array([[0, 0, -1.0], [5.0, 0, 1.0], [0, 0, 1.0]]))
    assert valid.tolist() == [False, False, True]
    # 90 degrees horizontal: a ray at 45 degrees reaches the outer edge of the image (u = width - 0.5)
    uv, _ = cam.project(np.array([[0.999, 0, 1.0]]))
    assert uv[0, 0] == pytest.approx(640 - 0.5 - 0.001 * 320, abs=1e-6)


def test_from_real_camera_info_message_and_equality():
    sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs not installed")
    info = sensor_msgs.CameraInfo()
    info.width, info.height = 640, 480
    info.k = K_FULL
    info.d = [0.1, 0.0, 0.0, 0.0, 0.0]
    info.distortion_model = "plumb_bob"
    info.binning_x = 2
    info.binning_y = 2
    cam = CameraModel.from_msg(info)
    assert (cam.width, cam.height) == (320, 240) and cam.distorted
    assert cam == CameraModel.from_msg(info) and hash(cam) == hash(CameraModel.from_msg(info))
    assert cam != CameraModel.from_msg(info, rectified=False).scaled(160, 120)
