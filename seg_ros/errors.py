"""Every exception seg_ros raises on purpose, in one hierarchy; entry points map it to an exit status.

::

    SegRosError                  base (exit 1 unless a subclass says otherwise)
    ├── UserError                the command, its files or its parameters are wrong: exit 2
    │   ├── ModelError           model folder, ONNX, classes.txt or colors.txt missing, unreadable, inconsistent
    │   ├── MediaError           an image, video or label file cannot be read, or an output cannot be written
    │   │   ├── ImageConversionError  an image message or encoded buffer cannot be converted
    │   │   └── DatasetError     a labelled set (list file, image/label folders) is missing or pairs nothing
    │   ├── ConfigError          a parameter or option value is invalid
    │   │   └── GridConfigError  traversability-grid geometry or class costs
    │   └── CameraModelError     CameraInfo or camera extrinsics are unusable
    └── RuntimeFailure           the machine, the network or a library failed: exit 1
        ├── BackendError         an inference backend cannot start or failed while running
        ├── DownloadError        a network could not be fetched, unpacked or verified
        └── PrecisionError       an FP16 / INT8 model could not be made (conversion, calibration set)

Pure core (no rclpy): the console entry points (``seg_ros.cli.entry.run_cli``) and the node return the
error's ``exit_code`` and print its message as one line (``one_line``).
"""

EXIT_FAILURE = 1  # runtime failure, or some inputs failed (listed by the command)
EXIT_USER_ERROR = 2  # also argparse's status for a usage error
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class SegRosError(Exception):
    """Base class of every error seg_ros raises on purpose; its message names the problem."""

    exit_code = EXIT_FAILURE


class UserError(SegRosError):
    """A problem the user fixes by changing the command, a file or a parameter (exit status 2)."""

    exit_code = EXIT_USER_ERROR


class ModelError(UserError):
    """A model folder, ONNX file, label or colour file is missing, unreadable or inconsistent."""


class MediaError(UserError):
    """An input cannot be found or read, or an output cannot be written (or would replace an input)."""


class ImageConversionError(MediaError):
    """An image message cannot be converted: unknown encoding, inconsistent sizes, undecodable data."""


class DatasetError(MediaError):
    """A list file or image/label folder is missing or pairs nothing, or a label does not fit its image."""


class ConfigError(UserError):
    """A parameter or command-line option has a value the code cannot use."""


class GridConfigError(ConfigError):
    """Grid geometry or class-cost parameters are invalid."""


class CameraModelError(UserError):
    """CameraInfo or extrinsics are unusable: zeros/NaN in K, unknown distortion, size mismatch, camera underground."""


class RuntimeFailure(SegRosError):
    """The machine, the network or a library failed while the command itself was valid (exit status 1)."""

    exit_code = EXIT_FAILURE


class BackendError(RuntimeFailure):
    """An inference backend cannot be created or failed while running."""


class DownloadError(RuntimeFailure):
    """A network could not be fetched, unpacked or verified."""


class PrecisionError(RuntimeFailure):
    """A reduced-precision model cannot be made: no calibration images, a failed conversion, a bad request."""


def one_line(exc: BaseException) -> str:
    """``str(exc)`` on one line: multi-line messages are joined with ``; `` (entry points print one line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__
