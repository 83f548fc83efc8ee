"""Python packaging for seg_ros (pip install -e . in the venv; the colcon build installs the same package)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "seg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/models", glob("models/*.yaml")),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    # Minimum versions = what make test-humble-env runs (Ubuntu 22.04 / JetPack 6 apt numpy and OpenCV, the ONNX
    # Runtime pip picks beside numpy 1.21.5); pyyaml and tqdm have no tested minimum (requirements/common.txt).
    install_requires=["setuptools", "numpy>=1.21.5", "opencv-python-headless>=4.5.4", "onnxruntime>=1.12.1", "pyyaml",
                      "tqdm"],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="seg_ros developers",
    maintainer_email="seg_ros@example.com",
    description="Semantic segmentation for ROS 2: segNet-compatible models, rendering and a traversability grid",
    license="MIT",
    entry_points={
        "console_scripts": [
            "segnet = seg_ros.cli.segnet:main",
            "segnet-eval = seg_ros.cli.evaluate:main",
            "segnet-download = seg_ros.cli.download:main",
            "segnet-build-engine = seg_ros.cli.build_engine:main",
            "segnet_node = seg_ros.ros.node:main",
            "segnet_managed_node = seg_ros.ros.managed_node:main",
        ],
    },
)
