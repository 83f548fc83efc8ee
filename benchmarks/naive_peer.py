"""A naive segmentation node, the benchmark's reference peer: everything inline in the subscription callback.

    python benchmarks/naive_peer.py --model MODEL_FOLDER [--outputs class_mask,color_mask,overlay,info]

What a new user writes first: a depth-1 best-effort image subscription whose callback converts the image,
preprocesses it, runs ONNX Runtime (default session options), takes the argmax, colours the class map by
nearest-neighbour lookup, blends the overlay with ``cv2.addWeighted`` and publishes, all before the next frame
is looked at. Same model, same preprocessing and same outputs as ``segnet_node`` (``~/class_mask`` at the
network's output size, ``~/color_mask`` at its input size, ``~/overlay`` at the camera's, ``~/info``), on
the node name ``naive_peer``. ``bench_node`` starts it as its own process through ``seg_ros.ros.harness``.
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np

OUTPUTS = ("class_mask", "color_mask", "overlay", "info")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder (as segnet_node's model_path)")
    parser.add_argument("--outputs", default=",".join(OUTPUTS), help=f"comma list of {', '.join(OUTPUTS)}")
    parser.add_argument("--alpha", type=float, default=150.0, help="overlay opacity 0..255")
    args, ros_args = parser.parse_known_args(argv)
    outputs = {o.strip() for o in args.outputs.split(",") if o.strip()}

    import onnxruntime as ort
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.time import Time
    from sensor_msgs.msg import Image

    from seg_ros.image_conversion import image_msg_to_rgb
    from seg_ros.msg import SegmentationInfo
    from seg_ros.registry import resolve_model
    from seg_ros.ros.messages import image_msg

    spec = resolve_model(args.model)
    session = ort.InferenceSession(str(spec.onnx_path), providers=["CPUExecutionProvider"])
    in_name = spec.input_blob
    dims = session.get_inputs()[0].shape
    in_w, in_h = (dims[3], dims[2]) if all(isinstance(d, int) for d in dims[2:]) else spec.input_size
    pre = spec.preprocessing
    interp = cv2.INTER_NEAREST if pre.resize == "nearest" else cv2.INTER_LINEAR
    mean = np.asarray(pre.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(pre.std, np.float32).reshape(3, 1, 1)
    colors = np.asarray(spec.colors, np.float32)[:, :3].astype(np.uint8)
    alpha = args.alpha / 255.0

    rclpy.init(args=ros_args)
    node = rclpy.create_node("naive_peer")
    pubs = {name: node.create_publisher(SegmentationInfo if name == "info" else Image, f"~/{name}", 1)
            for name in outputs}
    frames = [0]

    def on_image(msg: Image) -> None:
        t0 = time.perf_counter()
        rgb = image_msg_to_rgb(msg)
        x = cv2.resize(rgb, (in_w, in_h), interpolation=interp).astype(np.float32)
        x = ((x.transpose(2, 0, 1) * pre.post_scale - mean * pre.post_scale) / std)
        if pre.channel_order == "bgr":
            x = x[::-1]
        x = np.ascontiguousarray(x[None], np.float32)
        t1 = time.perf_counter()
        logits = session.run(None, {in_name: x})[0][0]
        t2 = time.perf_counter()
        class_map = np.argmax(logits, axis=0).astype(np.uint8)
        t3 = time.perf_counter()
        if "class_mask" in pubs:
            pubs["class_mask"].publish(image_msg(msg.header, class_map, "mono8"))
        if "color_mask" in pubs:
            color = cv2.resize(colors[class_map], (in_w, in_h), interpolation=cv2.INTER_NEAREST)
            pubs["color_mask"].publish(image_msg(msg.header, color, "rgb8"))
        if "overlay" in pubs:
            color = cv2.resize(colors[class_map], (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
            pubs["overlay"].publish(image_msg(msg.header, cv2.addWeighted(rgb, 1.0 - alpha, color, alpha, 0.0), "rgb8"))
        t4 = time.perf_counter()
        frames[0] += 1
        if "info" in pubs:
            latency = (node.get_clock().now() - Time.from_msg(msg.header.stamp)).nanoseconds / 1e6
            pubs["info"].publish(SegmentationInfo(
                header=msg.header, network=spec.name, backend="onnxruntime", class_names=list(spec.class_names),
                grid_width=int(class_map.shape[1]), grid_height=int(class_map.shape[0]),
                preprocess_ms=(t1 - t0) * 1e3, network_ms=(t2 - t1) * 1e3, postprocess_ms=(t3 - t2) * 1e3,
                render_ms=(t4 - t3) * 1e3, latency_ms=latency, frames_processed=frames[0]))

    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(Image, "image", on_image, qos)
    node.get_logger().info(f"naive peer: {spec.name} {in_w}x{in_h}, outputs {sorted(outputs)}")
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
