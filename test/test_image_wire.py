"""image_wire: Image / CompressedImage fields read from serialized CDR equal the deserialized message's."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from seg_ros.image_wire import WireFormatError, read_compressed_image, read_image

rclpy_serialization = pytest.importorskip("rclpy.serialization")
sensor_msgs = pytest.importorskip("sensor_msgs.msg")


def _image(frame_id: str, encoding: str, height: int, width: int, step: int, bigendian: int = 0):
    msg = sensor_msgs.Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=bigendian)
    msg.data = np.random.default_rng(0).integers(0, 256, height * step, dtype=np.uint8).tobytes()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = -3, 999_999_999
    return msg


@pytest.mark.parametrize("frame_id, encoding, height, width, step", [
    ("camera_optical_frame", "rgb8", 4, 5, 16),  # row padding (step > width * 3)
    ("", "mono16", 3, 2, 4),  # empty frame id: the string is just its NUL
    ("a", "bgra8", 1, 1, 4),
    ("frame\u00e9", "32FC1", 2, 3, 12),  # non-ASCII frame id
])
def test_image_fields_match_rclpy_deserialization(frame_id, encoding, height, width, step):
    msg = _image(frame_id, encoding, height, width, step, bigendian=1 if encoding == "mono16" else 0)
    raw = rclpy_serialization.serialize_message(msg)
    wire = read_image(raw)
    assert (wire.stamp.sec, wire.stamp.nanosec) == (msg.header.stamp.sec, msg.header.stamp.nanosec)
    assert (wire.frame_id, wire.height, wire.width, wire.encoding, wire.is_bigendian, wire.step) == (
        msg.header.frame_id, msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step)
    assert bytes(wire.data) == bytes(msg.data)
    assert wire.data.obj is raw  # a view of the serialized bytes, not a copy


def test_compressed_fields_match_rclpy_deserialization():
    msg = sensor_msgs.CompressedImage(format="rgb8; jpeg compressed bgr8", data=b"\xff\xd8 not really a jpeg")
    msg.header.frame_id = "cam"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 34
    wire = read_compressed_image(rclpy_serialization.serialize_message(msg))
    assert (wire.stamp.sec, wire.stamp.nanosec, wire.frame_id, wire.format) == (12, 34, "cam", msg.format)
    assert bytes(wire.data) == bytes(msg.data)


def test_big_endian_cdr_is_read():
    def string(text: bytes) -> bytes:
        return struct.pack(">I", len(text) + 1) + text + b"\0"

    body = struct.pack(">iI", 7, 8) + string(b"cam")  # 8 + 8 bytes: height is aligned already
    body += struct.pack(">II", 1, 2) + string(b"rgb8")  # ends at 16 + 8 + 9 = 33
    body += b"\x00" + b"\0\0" + struct.pack(">I", 6) + struct.pack(">I", 6) + bytes(range(6))
    wire = read_image(b"\x00\x00\x00\x00" + body)
    assert (wire.stamp.sec, wire.frame_id, wire.height, wire.width, wire.encoding, wire.step) == (7, "cam", 1, 2,
                                                                                                 "rgb8", 6)
    assert bytes(wire.data) == bytes(range(6))


def test_unknown_encapsulation_and_truncated_samples_raise():
    raw = rclpy_serialization.serialize_message(_image("cam", "rgb8", 2, 2, 6))
    with pytest.raises(WireFormatError, match="encapsulation"):
        read_image(b"\x00\x02\x00\x00" + raw[4:])  # parameter-list CDR: not a plain struct
    with pytest.raises(WireFormatError, match="ends at byte"):
        read_image(raw[:-3])
    with pytest.raises(WireFormatError):
        read_image(b"\x00")
