"""Exception types the core raises; the CLI and the node turn them into one clear message."""


class SegRosError(Exception):
    """Base class: a problem the user can fix (bad model, bad input, missing file)."""


class ModelError(SegRosError):
    """A model folder, ONNX file, label or colour file is missing, unreadable or inconsistent."""


class BackendError(SegRosError):
    """An inference backend cannot be created or failed while running."""
