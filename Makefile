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

.PHONY: venv test test-py310 demo demo-offline bench lint clean

IFACE_STAMP := $(VENV)/.interfaces

venv: $(STAMP) $(IFACE_STAMP)

$(STAMP): requirements.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# msg/*.msg -> seg_ros.msg in the venv prefix, with the package's own CMakeLists.txt (see tools/build_interfaces.sh)
$(IFACE_STAMP): $(STAMP) CMakeLists.txt package.xml setup.py $(wildcard msg/*.msg) tools/build_interfaces.sh
	bash tools/build_interfaces.sh $(VENV)
	touch $(IFACE_STAMP)

test: venv
	$(PY) -m pytest -q test

# Humble robots run Python 3.10: the pure core's tests under a 3.10 interpreter (no ROS wheels there, so the
# ROS tests skip). Uses a working python3.10 on PATH, else pyenv's 3.10 (PY310=/path/to/python3.10 to choose).
PY310 ?= $(shell python3.10 -c 'print("python3.10")' 2>/dev/null || ls -d $(HOME)/.pyenv/versions/3.10*/bin/python 2>/dev/null | tail -n 1)
VENV310 := .venv310
test-py310:
	test -x $(VENV310)/bin/python || $(PY310) -m venv $(VENV310)
	$(VENV310)/bin/python -m pip install -q numpy==2.2.6 opencv-python-headless==4.12.0.88 onnxruntime==1.22.1 \
		onnx==1.18.0 pyyaml==6.0.2 tqdm==4.67.1 matplotlib==3.10.3 pytest==8.4.1 pytest-timeout==2.4.0
	PYTHONPATH=$(CURDIR) $(VENV310)/bin/python -m pytest -q -p no:cacheprovider test --ignore=test/test_interfaces.py

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
	rm -rf $(VENV) $(VENV310) build install log demo_output bench_output
