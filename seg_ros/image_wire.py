"""sensor_msgs/Image and CompressedImage read straight from their serialized (CDR) bytes: the pixels stay a view.

A raw take from DDS hands over the sample's serialized bytes; deserializing them into a message copies the pixel
data again and builds Python objects for every field. The two image types have a fixed, simple CDR layout (a
header, a few integers and strings, one byte sequence), so their fields are read here with ``struct`` and the
pixel data is returned as a ``memoryview`` of the bytes: the one copy out of the middleware is the only one before
the network input tensor. Plain CDR (XCDR1) and XCDR2 (both byte orders) are read; anything else, or bytes that do
not add up, raises ``WireFormatError`` so the caller can fall back to ``rclpy.serialization``.

Layout (OMG DDS-XTypes 7.4.3; ROS 2 types are final structs, so XCDR2 has no headers here): a 4-byte
encapsulation header (byte 1: 0/1 plain CDR big/little endian, 6/7 XCDR2), then, aligned to their size from the
end of that header: ``header.stamp.sec`` int32, ``nanosec`` uint32, ``frame_id`` string (uint32 length with the
NUL, bytes), then for Image ``height``, ``width`` uint32, ``encoding`` string, ``is_bigendian`` uint8, ``step``
uint32, ``data`` (uint32 length, bytes); for CompressedImage ``format`` string and ``data``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_ENCAPSULATIONS = {0: ">", 1: "<", 6: ">", 7: "<"}  # CDR_BE, CDR_LE, PLAIN_CDR2_BE, PLAIN_CDR2_LE


class WireFormatError(ValueError):
    """Serialized bytes this reader does not handle (another encapsulation, or lengths that do not fit)."""


@dataclass(frozen=True)
class WireStamp:
    """``builtin_interfaces/Time`` fields."""

    sec: int
    nanosec: int


@dataclass(frozen=True)
class WireImage:
    """The fields of a serialized sensor_msgs/Image; ``data`` is a view of the serialized bytes (no copy)."""

    stamp: WireStamp
    frame_id: str
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


@dataclass(frozen=True)
class WireCompressedImage:
    """The fields of a serialized sensor_msgs/CompressedImage; ``data`` is a view of the serialized bytes."""

    stamp: WireStamp
    frame_id: str
    format: str
    data: memoryview


class _Reader:
    def __init__(self, raw: bytes | memoryview) -> None:
        self.buf = memoryview(raw).cast("B") if not isinstance(raw, memoryview) else raw.cast("B")
        if len(self.buf) < 4:
            raise WireFormatError(f"{len(self.buf)} bytes are no CDR sample")
        order = _ENCAPSULATIONS.get(self.buf[1]) if self.buf[0] == 0 else None
        if order is None:
            raise WireFormatError(f"unsupported CDR encapsulation {bytes(self.buf[:2]).hex()}")
        self.u32 = struct.Struct(order + "I")
        self.i32 = struct.Struct(order + "i")
        self.pos = 4

    def _align(self, size: int) -> None:
        self.pos += -(self.pos - 4) % size

    def _need(self, size: int) -> None:
        if self.pos + size > len(self.buf):
            raise WireFormatError(f"sample ends at byte {len(self.buf)}, field needs {self.pos + size}")

    def uint32(self) -> int:
        self._align(4)
        self._need(4)
        value = self.u32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def int32(self) -> int:
        self._align(4)
        self._need(4)
        value = self.i32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def uint8(self) -> int:
        self._need(1)
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def octets(self) -> memoryview:
        size = self.uint32()
        self._need(size)
        view = self.buf[self.pos:self.pos + size]
        self.pos += size
        return view

    def string(self) -> str:
        raw = self.octets()
        if len(raw) and raw[-1] == 0:
            raw = raw[:-1]
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireFormatError(f"string field is not UTF-8: {exc}") from exc

    def header(self) -> tuple[WireStamp, str]:
        sec = self.int32()
        nanosec = self.uint32()
        return WireStamp(sec, nanosec), self.string()


def read_image(raw: bytes | memoryview) -> WireImage:
    """The fields of a serialized sensor_msgs/Image; ``data`` views ``raw``. Raises WireFormatError."""
    r = _Reader(raw)
    stamp, frame_id = r.header()
    height, width = r.uint32(), r.uint32()
    encoding = r.string()
    is_bigendian = r.uint8()
    step = r.uint32()
    return WireImage(stamp, frame_id, height, width, encoding, is_bigendian, step, r.octets())


def read_compressed_image(raw: bytes | memoryview) -> WireCompressedImage:
    """The fields of a serialized sensor_msgs/CompressedImage; ``data`` views ``raw``. Raises WireFormatError."""
    r = _Reader(raw)
    stamp, frame_id = r.header()
    fmt = r.string()
    return WireCompressedImage(stamp, frame_id, fmt, r.octets())
