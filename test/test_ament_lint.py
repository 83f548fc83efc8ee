# Copyright 2025 seg_ros developers
# SPDX-License-Identifier: MIT
"""The ament linters' checks, without ament_lint: flake8 and pep257 via ruff, copyright headers, package.xml.

- flake8: ``ruff check`` with the project's configuration (pyproject.toml), as ``make lint``.
- pep257: ruff's pydocstyle rules with the pep257 convention and ament_pep257's default ignores (missing
  docstrings D100-D107, D203, D212, D404); D401 (imperative mood) and D403 (capitalised first word) are also
  ignored: this project's docstrings may open with a noun phrase or an identifier such as segNet.
- copyright: build, launch and tool files carry a copyright line and the package's SPDX licence identifier.
- xmllint: package.xml is well-formed, declares the format 3 schema, and catkin_pkg (the parser ROS tools use)
  accepts it; versions and licence agree with setup.py, and every message package the .msg files use is a dependency.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHON_TREES = ["seg_ros", "test", "tools", "launch", "setup.py"]
RUFF = Path(sys.prefix) / "bin" / "ruff"
PEP257_IGNORE = "D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404,D401,D403"
HEADER_FILES = ["CMakeLists.txt", *sorted(str(p.relative_to(REPO)) for p in (REPO / "launch").glob("*.py")),
                *sorted(str(p.relative_to(REPO)) for p in (REPO / "tools").glob("*.sh"))]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if not RUFF.is_file():
        pytest.skip("ruff not installed in this environment (make venv)")
    return subprocess.run([str(RUFF), *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def _setup_keywords() -> dict:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {k.arg: k.value for k in call.keywords}


def _package_xml() -> ET.Element:
    return ET.parse(REPO / "package.xml").getroot()


def test_flake8() -> None:
    result = _ruff("check", "--no-cache", "--output-format", "concise", *PYTHON_TREES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pep257() -> None:
    result = _ruff("check", "--no-cache", "--output-format", "concise", "--select", "D", "--ignore", PEP257_IGNORE,
                   "--config", "lint.pydocstyle.convention='pep257'", *PYTHON_TREES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", HEADER_FILES)
def test_copyright_header(name: str) -> None:
    license_id = _package_xml().findtext("license")
    head = (REPO / name).read_text(encoding="utf-8").splitlines()[:6]
    assert any(re.search(r"Copyright (\(c\) )?\d{4}(-\d{4})? \S", line) for line in head), f"{name}: no copyright line"
    assert any(f"SPDX-License-Identifier: {license_id}" in line for line in head), f"{name}: no SPDX {license_id}"


def test_package_xml_is_format_3_and_parses() -> None:
    text = (REPO / "package.xml").read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag == "package" and root.get("format") == "3"
    assert 'href="http://download.ros.org/schema/package_format3.xsd"' in text
    catkin_pkg = pytest.importorskip("catkin_pkg.package")
    warnings: list[str] = []
    package = catkin_pkg.parse_package_string(text, warnings=warnings)
    assert not warnings, warnings
    package.validate()
    assert package.name == "seg_ros"
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]


def test_package_xml_agrees_with_setup_py_and_the_package() -> None:
    root, setup = _package_xml(), _setup_keywords()
    assert root.findtext("name") == ast.literal_eval(_module_constant("PACKAGE"))
    assert root.findtext("version") == ast.literal_eval(setup["version"])
    assert root.findtext("license") == ast.literal_eval(setup["license"])
    init = (REPO / "seg_ros" / "__init__.py").read_text(encoding="utf-8")
    assert f'__version__ = "{root.findtext("version")}"' in init


def _module_constant(name: str) -> str:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.unparse(node.value)
    raise AssertionError(f"setup.py has no {name}")


def test_message_dependencies_declared() -> None:
    root = _package_xml()
    depends = {e.text for e in root.iter("depend")}
    build = depends | {e.text for e in root.iter("build_depend")}
    run = depends | {e.text for e in root.iter("exec_depend")}
    used = set()
    for msg in (REPO / "msg").glob("*.msg"):
        for line in msg.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\s*([a-z][a-z0-9_]*)/[A-Za-z]", line)
            if match:
                used.add(match[1])
    assert used, "expected the .msg files to use other message packages"
    assert used <= build and used <= run, used - (build & run)
    buildtools = {e.text for e in root.iter("buildtool_depend")}
    assert {"ament_cmake", "rosidl_default_generators"} <= buildtools
    assert "rosidl_default_runtime" in run
