#!/usr/bin/env bash
# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
#
# Build msg/*.msg with rosidl (plain CMake, PyPI ROS wheels) and install the result into a venv prefix, so that
# `from seg_ros.msg import SegmentationInfo` works in that venv with no environment variables.
#
#   tools/build_interfaces.sh [VENV]        (default: .venv; called by `make venv`)
#
# The CMake project is the package's own CMakeLists.txt (the one colcon builds), configured with
#  * SEG_ROS_INSTALL_PYTHON_PACKAGE=OFF: pip (editable) provides the seg_ros sources;
#  * PYTHON_INSTALL_DIR=lib/seg_ros/python: the generated seg_ros/msg package and its type-support modules go to
#    $VENV/lib/seg_ros/python/seg_ros, NOT site-packages, where a second "seg_ros" folder would shadow the editable
#    source package. seg_ros/__init__.py adds that folder to seg_ros.__path__ (see seg_ros/_generated.py).
# Re-running is cheap: CMake rebuilds only what changed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(cd "${1:-$repo/.venv}" && pwd)
build=${SEG_ROS_INTERFACE_BUILD_DIR:-$repo/build/interfaces}
python=$venv/bin/python3

# 1. The ROS wheels' exported CMake files name the wheel builder's Python and numpy include directories;
#    point them at this venv's (idempotent: nothing matches once rewritten).
py_include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_include=$("$python" -c 'import numpy; print(numpy.get_include())')
mapfile -t stale < <(grep -rlE --include='*.cmake' '/opt/python/cp[0-9]+-cp[0-9]+' "$venv/share" || true)
if ((${#stale[@]})); then
    sed -i -E \
        -e "s#/opt/python/cp[0-9]+-cp[0-9]+t?/lib/python3\.[0-9]+t?/site-packages/numpy/(_core/)?include#${np_include}#g" \
        -e "s#/opt/python/cp[0-9]+-cp[0-9]+t?/include/python3\.[0-9]+t?#${py_include}#g" \
        "${stale[@]}"
    echo "build_interfaces: rewrote Python/numpy include paths in ${#stale[@]} CMake files"
fi

# 2. Configure once (a build tree made for another prefix is discarded), then build and install.
export AMENT_PREFIX_PATH=$venv
if [[ -f $build/CMakeCache.txt ]] && ! grep -qx "CMAKE_INSTALL_PREFIX:PATH=$venv" "$build/CMakeCache.txt"; then
    rm -rf "$build"
fi
if [[ ! -f $build/CMakeCache.txt ]]; then
    mkdir -p "$build"
    cmake -S "$repo" -B "$build" -Wno-dev \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$venv" \
        -DCMAKE_INSTALL_PREFIX="$venv" \
        -DPython3_EXECUTABLE="$python" \
        -DBUILD_TESTING=OFF \
        -DSEG_ROS_INSTALL_PYTHON_PACKAGE=OFF \
        -DPYTHON_INSTALL_DIR=lib/seg_ros/python >"$build/configure.log" 2>&1 \
        || { cat "$build/configure.log"; exit 1; }
fi
cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 \
    || { cat "$build/build.log"; exit 1; }
cmake --install "$build" >"$build/install.log" 2>&1 || { cat "$build/install.log"; exit 1; }

# 3. Check the result the way users import it.
env -u AMENT_PREFIX_PATH -u PYTHONPATH "$python" -c \
    'from seg_ros.msg import SegmentationInfo, TrailHeading; SegmentationInfo(); TrailHeading()'
echo "build_interfaces: seg_ros.msg installed into $venv"
