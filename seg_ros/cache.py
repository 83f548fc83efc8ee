"""The user cache folder and the file helpers every cache uses (models, TensorRT engines, ONNX Runtime tuning)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/seg_ros`` (default ``~/.cache/seg_ros``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seg_ros"


def file_slug(text: str) -> str:
    """A file-name-safe, lower-case rendering of a model or GPU name (``"model"`` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.").lower() or "model"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file in the same folder, fsync it and rename it over ``path``.

    Readers see either the old file or the complete new one; an interrupted write leaves no partial
    file under ``path`` (the temp file is removed on any exception).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
