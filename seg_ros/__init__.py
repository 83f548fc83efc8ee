"""seg_ros: semantic segmentation for ROS 2 robots (pure core + thin node)."""

__version__ = "0.1.0"
