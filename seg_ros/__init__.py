"""seg_ros: semantic segmentation for ROS 2 robots (pure core + thin node)."""

from seg_ros._generated import generated_package_dirs as _generated_package_dirs

__version__ = "0.1.0"

# seg_ros.msg (rosidl-generated) may be installed outside this folder: see seg_ros/_generated.py.
__path__ += _generated_package_dirs(__path__)
