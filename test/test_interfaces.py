# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""The rosidl-generated seg_ros.msg classes match msg/*.msg and serialise (no DDS: nothing is started).

The expected fields come from parsing the .msg files here, with the rosidl type-name table, not from the build.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MSG_FILES = sorted((REPO / "msg").glob("*.msg"))

# .msg primitive type -> rosidl IDL name, as get_fields_and_field_types() reports it (rosidl design docs)
PRIMITIVES = {
    "bool": "boolean", "byte": "octet", "char": "uint8", "float32": "float", "float64": "double",
    "int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32", "uint32": "uint32",
    "int64": "int64", "uint64": "uint64", "string": "string", "wstring": "wstring",
}
FIELD_LINE = re.compile(r"^(?P<type>[A-Za-z0-9_/]+(?:<=\d+)?)(?P<array>\[(?:<=)?\d*\])?\s+(?P<name>[a-z][a-z0-9_]*)"
                        r"(?:\s+(?P<default>\S.*))?$")


def _idl_type(base: str, package: str) -> str:
    """rosidl type name of a .msg base type (string<=N, pkg/Type, Type of this package, primitive)."""
    bounded = re.fullmatch(r"(w?string)<=(\d+)", base)
    if bounded:
        return f"{bounded[1]}<{bounded[2]}>"
    if base in PRIMITIVES:
        return PRIMITIVES[base]
    if base == "Header":  # the one implicit-package name ROS 1 allowed
        return "std_msgs/Header"
    return base if "/" in base else f"{package}/{base}"


def parse_msg(path: Path, package: str = "seg_ros") -> dict[str, str]:
    """Field name -> rosidl type name, in declaration order; constants (NAME=value) and comments skipped."""
    fields = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or re.match(r"^\S+\s+[A-Z][A-Z0-9_]*\s*=", line):
            continue
        match = FIELD_LINE.match(line)
        assert match, f"{path.name}: cannot parse {raw!r}"
        base, array = _idl_type(match["type"], package), match["array"]
        if array is None:
            fields[match["name"]] = base
        elif array == "[]":
            fields[match["name"]] = f"sequence<{base}>"
        elif array.startswith("[<="):
            fields[match["name"]] = f"sequence<{base}, {array[3:-1]}>"
        else:
            fields[match["name"]] = f"{base}{array}"
    return fields


def test_msg_parser_knows_the_notation(tmp_path: Path) -> None:
    sample = tmp_path / "Sample.msg"
    sample.write_text("# comment\nint32 LIMIT=3\nstd_msgs/Header header\nfloat32[] a  # trailing\n"
                      "uint8[4] b\nstring<=8 c\nfloat64[<=2] d\nOther e\nbool f true\n", encoding="utf-8")
    assert parse_msg(sample) == {"header": "std_msgs/Header", "a": "sequence<float>", "b": "uint8[4]",
                                 "c": "string<8>", "d": "sequence<double, 2>", "e": "seg_ros/Other", "f": "boolean"}


def test_both_messages_exist() -> None:
    assert {p.stem for p in MSG_FILES} >= {"SegmentationInfo", "TrailHeading"}


@pytest.fixture(scope="module")
def msg_module():
    try:
        return importlib.import_module("seg_ros.msg")
    except ImportError as exc:
        pytest.fail(f"seg_ros.msg is not built: run `make venv` (tools/build_interfaces.sh) ({exc})")


@pytest.mark.parametrize("msg_file", MSG_FILES, ids=lambda p: p.stem)
def test_generated_fields_match_msg_file(msg_module, msg_file: Path) -> None:
    cls = getattr(msg_module, msg_file.stem)
    assert cls.get_fields_and_field_types() == parse_msg(msg_file)
    # and in declaration order (the wire order)
    assert list(cls.get_fields_and_field_types()) == list(parse_msg(msg_file))


def test_messages_serialise_and_round_trip(msg_module) -> None:
    from rclpy.serialization import deserialize_message, serialize_message

    info = msg_module.SegmentationInfo()
    info.header.frame_id = "camera"
    info.header.stamp.sec = 12
    info.network = "fcn-resnet18-deepscene-576x320"
    info.backend = "onnxruntime"
    info.class_names = ["trail", "grass"]
    info.class_fractions = [0.25, 0.75]
    info.grid_width, info.grid_height = 18, 10
    info.network_ms = 18.5
    info.frames_processed = 2**40
    data = serialize_message(info)
    assert isinstance(data, bytes) and len(data) > 40
    back = deserialize_message(data, msg_module.SegmentationInfo)
    assert back == info
    assert back.frames_processed == 2**40 and list(back.class_names) == ["trail", "grass"]

    heading = msg_module.TrailHeading()
    heading.header.frame_id = "base_link"
    heading.target.position.x = 2.0
    heading.target.orientation.w = 1.0
    heading.heading, heading.confidence = 0.5, 0.75  # float32 fields: values exact in binary
    heading.left, heading.straight, heading.right = 0.25, 0.625, 0.125
    back = deserialize_message(serialize_message(heading), msg_module.TrailHeading)
    assert back == heading
    assert back.target.position.x == 2.0 and back.heading == pytest.approx(0.5)


def test_import_needs_no_environment_and_keeps_the_source_package() -> None:
    """A plain interpreter of this environment imports seg_ros.msg, and seg_ros still is the source package."""
    unset = ("AMENT_PREFIX_PATH", "PYTHONPATH", "CMAKE_PREFIX_PATH", "LD_LIBRARY_PATH",
             "_ROS_WHEELS_BOOTSTRAP_COMPLETE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    code = ("import seg_ros, seg_ros.registry; from seg_ros.msg import SegmentationInfo, TrailHeading; "
            "print(seg_ros.registry.__file__)")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    import seg_ros.registry

    assert Path(result.stdout.strip()).resolve() == Path(seg_ros.registry.__file__).resolve()
