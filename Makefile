# seg_ros developer entry points. `make test` and `make demo` work on a fresh machine: they build .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED ?= $(abspath ../shared)

# DDS safety: shared-memory transport only (no UDP, no multicast) and a random domain per invocation.
export FASTDDS_BUILTIN_TRANSPORTS := SHM?max_msg_size=4MB&sockets_size=32MB
export ROS_DOMAIN_ID ?= $(shell echo $$(( RANDOM % 100 + 100 )))
unexport ROS_AUTOMATIC_DISCOVERY_RANGE
export SEG_ROS_SHARED := $(SHARED)

.PHONY: venv test test-py310 test-jazzy test-humble-env demo demo-offline bench lint clean

# Pins (requirements/): core.txt = the numpy/OpenCV/ONNX Runtime stack + common.txt; tools.txt; kilted.txt / jazzy.txt
# (ROS wheels); humble-env.txt = Humble's oldest stack + common.txt. requirements.txt = core + tools + kilted.
REQ_CORE := requirements/core.txt requirements/common.txt
REQ_MAIN := requirements.txt $(REQ_CORE) requirements/tools.txt requirements/kilted.txt

IFACE_STAMP := $(VENV)/.interfaces

venv: $(STAMP) $(IFACE_STAMP)

$(STAMP): $(REQ_MAIN) setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# msg/*.msg -> seg_ros.msg in the venv prefix, with the package's own CMakeLists.txt (see tools/build_interfaces.sh)
IFACE_DEPS := CMakeLists.txt package.xml setup.py $(wildcard msg/*.msg) tools/build_interfaces.sh
$(IFACE_STAMP): $(STAMP) $(IFACE_DEPS)
	bash tools/build_interfaces.sh $(VENV)
	touch $(IFACE_STAMP)

test: venv
	$(PY) -m pytest -q test

# A venv of another ROS distro / Python: no variables of a parent ROS-wheel Python may leak in (ROS_ON_PYPI.md).
CLEAN_ENV := env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u LD_LIBRARY_PATH -u PYTHONPATH

# ROS 2 Jazzy (the current LTS): the whole suite (pure core, interface build, real-DDS node tests) in a second venv
# with the ros-jazzy-* wheels (rclpy 7.1.6, CPython 3.11) and the same core pins.
VENV_JAZZY := .venv-jazzy
JAZZY_STAMP := $(VENV_JAZZY)/.installed
$(JAZZY_STAMP): $(REQ_CORE) requirements/tools.txt requirements/jazzy.txt setup.py
	test -x $(VENV_JAZZY)/bin/python || $(PYTHON) -m venv $(VENV_JAZZY)
	$(CLEAN_ENV) $(VENV_JAZZY)/bin/python -m pip install -q --upgrade pip
	$(CLEAN_ENV) $(VENV_JAZZY)/bin/python -m pip install -q -r requirements/core.txt -r requirements/tools.txt \
		-r requirements/jazzy.txt
	$(CLEAN_ENV) $(VENV_JAZZY)/bin/python -m pip install -q --no-deps -e .
	touch $@
$(VENV_JAZZY)/.interfaces: $(JAZZY_STAMP) $(IFACE_DEPS)
	SEG_ROS_INTERFACE_BUILD_DIR=$(CURDIR)/build/interfaces-jazzy $(CLEAN_ENV) bash tools/build_interfaces.sh $(VENV_JAZZY)
	touch $@
test-jazzy: $(VENV_JAZZY)/.interfaces
	$(CLEAN_ENV) $(VENV_JAZZY)/bin/python -m pytest -q -p no:cacheprovider test

# Python 3.10 (Humble's interpreter). Uses a working python3.10 on PATH, else pyenv's 3.10 (PY310=/path/to/python3.10
# to choose). No ROS wheels exist for it on PyPI, so the ROS tests skip there.
PY310 ?= $(shell python3.10 -c 'print("python3.10")' 2>/dev/null || ls -d $(HOME)/.pyenv/versions/3.10*/bin/python 2>/dev/null | tail -n 1)

# The pure core's tests under 3.10 with the newest stack (the core pins).
VENV310 := .venv310
$(VENV310)/.installed: $(REQ_CORE) setup.py
	test -x $(VENV310)/bin/python || $(PY310) -m venv $(VENV310)
	$(CLEAN_ENV) $(VENV310)/bin/python -m pip install -q --upgrade pip
	$(CLEAN_ENV) $(VENV310)/bin/python -m pip install -q -r requirements/core.txt
	$(CLEAN_ENV) $(VENV310)/bin/python -m pip install -q --no-deps -e .
	touch $@
test-py310: $(VENV310)/.installed
	$(CLEAN_ENV) $(VENV310)/bin/python -m pytest -q -p no:cacheprovider test --ignore=test/test_interfaces.py

# What a Humble / JetPack 6 robot has: Python 3.10 with its oldest stack (numpy 1.21.5, OpenCV 4.5.4, ONNX Runtime
# 1.12.1; requirements/humble-env.txt, docs/humble.md): the pure core and CLI tests. The node's rclpy usage is
# checked against Humble's rclpy API by test/test_rclpy_api.py (in every target).
VENV_HUMBLE := .venv-humble
$(VENV_HUMBLE)/.installed: requirements/humble-env.txt requirements/common.txt setup.py
	test -x $(VENV_HUMBLE)/bin/python || $(PY310) -m venv $(VENV_HUMBLE)
	$(CLEAN_ENV) $(VENV_HUMBLE)/bin/python -m pip install -q --upgrade pip
	$(CLEAN_ENV) $(VENV_HUMBLE)/bin/python -m pip install -q -r requirements/humble-env.txt
	$(CLEAN_ENV) $(VENV_HUMBLE)/bin/python -m pip install -q --no-deps -e .
	touch $@
test-humble-env: $(VENV_HUMBLE)/.installed
	$(CLEAN_ENV) $(VENV_HUMBLE)/bin/python -m pytest -q -p no:cacheprovider test --ignore=test/test_interfaces.py

# The main job: sample camera stream -> segnet_node over DDS -> MCAP bag, contact sheet, timings.
demo: venv
	$(PY) -m seg_ros.ros.live_demo --shared $(SHARED) --output demo_output

# The same network over the sample images without ROS (segnet CLI-style outputs).
demo-offline: venv
	$(PY) -m seg_ros.demo --shared $(SHARED) --output demo_output/offline

bench: venv
	$(PY) benchmarks/run_all.py

lint: venv
	$(VENV)/bin/ruff check seg_ros test tools launch

clean:
	rm -rf $(VENV) $(VENV310) $(VENV_JAZZY) $(VENV_HUMBLE) build install log demo_output bench_output
