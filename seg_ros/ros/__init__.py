"""The ROS ring: every module that imports rclpy or a ROS message package lives in this folder.

The pure core (``seg_ros.*`` outside this folder) computes on arrays and files; the modules here adapt
messages, parameters, QoS, threads and processes around it (test/test_pure_core.py checks the boundary).
"""
