"""Offline inputs and outputs of the segnet tool: image files, folders, wildcards, ``%i`` patterns and videos.

Mirrors jetson-inference's URI handling for files: an input is an image, a folder of images (sorted), a
quoted wildcard or a video; an output is a file, a folder (one output per input, same stem), a printf-style
``%i`` pattern or a video. Frames travel as RGB uint8 arrays; OpenCV's BGR stays inside this module.
An output never replaces an input file.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from seg_ros.errors import ImageConversionError, MediaError
from seg_ros.image_conversion import compressed_to_rgb

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}
_WILDCARD = re.compile(r"[*?\[]")
_PATTERN = re.compile(r"%[-+ #0]*\d*[id]")


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def read_file_bytes(path: str | Path) -> np.ndarray:
    """The bytes of an encoded image (or label) file as uint8, for ``cv2.imdecode``; MediaError naming the file.

    Decoding the bytes (not ``cv2.imread``) makes non-ASCII paths work and the errors ours, not OpenCV's warnings.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H,W,3); grey and alpha images become RGB, EXIF rotation is applied.

    16-bit files (PNG, TIFF, PGM) and float TIFFs keep their depth when decoded and are scaled to 8 bit
    like a raw ``mono16`` / ``rgb16`` message with automatic range (robust per-image percentiles).
    """
    data = read_file_bytes(path)
    try:
        return compressed_to_rgb("", data, exif_orientation=True)  # the one encoded-bytes decoder
    except ImageConversionError:
        raise MediaError(f"{path}: not a readable image (corrupt or unsupported format)") from None


def read_label(path: str | Path) -> np.ndarray:
    """A single-channel class-id image (8 or 16 bit); a 3-channel file is accepted only when it is grey.

    Raises MediaError naming the path, as :func:`read_image` does for an image.
    """
    data = read_file_bytes(path)
    label = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if label is None:
        raise MediaError(f"{path}: not a readable label image (corrupt or unsupported format)")
    if label.ndim == 3:
        if not (np.array_equal(label[..., 0], label[..., 1]) and np.array_equal(label[..., 0], label[..., 2])):
            raise MediaError(f"{path}: label is a colour image; expected single-channel class ids")
        label = label[..., 0]
    return label


def write_image(path: str | Path, image_rgb: np.ndarray) -> None:
    """Write an RGB uint8 image; the format follows the file extension. Creates missing folders."""
    path = Path(path)
    if not is_image_path(path):
        raise MediaError(f"{path}: unsupported image extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    ok, buf = cv2.imencode(path.suffix.lower(), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"{path}: OpenCV cannot encode this image")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf.tofile(path)
    except OSError as exc:
        raise MediaError(f"{path}: cannot write ({exc.strerror or exc})") from exc


@dataclass
class Frame:
    """One input frame: its position, where it came from and its pixels (None when unreadable)."""

    index: int
    stem: str  # name used for per-input outputs (the input's stem; video frames add their index)
    source: str  # for messages: a file path or "video.avi#12"
    image: np.ndarray | None = None  # RGB uint8
    error: str | None = None
    path: Path | None = None  # the input file, for images


def natural_key(path: Path) -> list:
    """Sort key that orders trail_2 before trail_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


class ImageSequence:
    """Image files read one at a time; an unreadable file yields a Frame with ``error`` set (the batch goes on)."""

    is_video = False
    fps = 30.0

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            frame = Frame(index=index, stem=path.stem, source=str(path), path=path)
            try:
                frame.image = read_image(path)
            except MediaError as exc:
                frame.error = str(exc)
            yield frame

    def close(self) -> None:
        pass


class VideoSource:
    """Frames of a video file through cv2.VideoCapture."""

    is_video = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.paths = [path]
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise MediaError(f"{path}: cannot open as a video")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count = count if count > 0 else 0

    def __len__(self) -> int:
        """Frame count from the container (0 when unknown)."""
        return self._count

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                break
            yield Frame(index=index, stem=f"{self.path.stem}_{index:05d}", source=f"{self.path}#{index}",
                        image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1

    def close(self) -> None:
        self._cap.release()


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, naturally sorted."""
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_path(p)), key=natural_key)


def open_input(text: str) -> ImageSequence | VideoSource:
    """An input: image file, folder of images, wildcard (quoted, e.g. ``"images/trail_*.jpg"``) or video file."""
    path = Path(text).expanduser()
    if path.is_dir():
        paths = list_images(path)
        if not paths:
            raise MediaError(f"{path}: folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
        return ImageSequence(paths)
    if path.is_file():
        if is_video_path(path):
            return VideoSource(path)
        return ImageSequence([path])
    if _WILDCARD.search(text):
        paths = sorted((Path(p) for p in glob.glob(str(path)) if Path(p).is_file()), key=natural_key)
        if not paths:
            raise MediaError(f"no files match {text!r}")
        return ImageSequence(paths)
    raise MediaError(f"input {text!r} does not exist")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


class ImageSink:
    """Writes one image per frame: to a single file, into a folder (input stem + extension) or by ``%i`` pattern."""

    def __init__(self, target: str, kind: str, inputs: list[Path], extension: str = ".jpg") -> None:
        self.target, self.kind, self.extension = target, kind, extension
        self._inputs = {p.resolve() for p in inputs}
        self.written: list[Path] = []

    def path_for(self, frame: Frame) -> Path:
        if self.kind == "file":
            return Path(self.target).expanduser()
        if self.kind == "pattern":
            return Path(self.target % frame.index).expanduser()
        suffix = frame.path.suffix if frame.path is not None and is_image_path(frame.path) else self.extension
        return Path(self.target).expanduser() / f"{frame.stem}{suffix}"

    def check(self, frame: Frame) -> Path:
        """The output path of ``frame``; refuses one that is an input file."""
        path = self.path_for(frame)
        if path.resolve() in self._inputs:
            raise MediaError(f"refusing to overwrite input file {path} (choose another output)")
        return path

    def write(self, frame: Frame, image_rgb: np.ndarray) -> Path:
        path = self.check(frame)
        write_image(path, image_rgb)
        self.written.append(path)
        return path

    def close(self) -> None:
        pass


class VideoSink:
    """Writes frames into a video file; frames of another size are resized to the first frame's size."""

    kind = "video"

    def __init__(self, target: str, fps: float, inputs: list[Path]) -> None:
        self.path = Path(target).expanduser()
        if any(_same_file(self.path, p) for p in inputs):
            raise MediaError(f"refusing to overwrite input file {self.path} (choose another output)")
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.written: list[Path] = []
        self.frames = 0

    def check(self, frame: Frame) -> Path:
        return self.path

    def write(self, frame: Frame, image_rgb: np.ndarray) -> Path:
        height, width = image_rgb.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(self.path.suffix.lower(), "mp4v"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
            if not self._writer.isOpened():
                raise MediaError(f"{self.path}: OpenCV cannot write this video format")
            self._size = (width, height)
            self.written.append(self.path)
        if (width, height) != self._size:
            image_rgb = cv2.resize(image_rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1
        return self.path

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def output_kind(text: str) -> str:
    """How an output argument is read: ``pattern``, ``video``, ``file`` or ``dir``."""
    if _PATTERN.search(text):
        return "pattern"
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", "\\")):
        return "dir"
    if is_video_path(path):
        return "video"
    if is_image_path(path):
        return "file"
    if path.suffix:
        raise MediaError(f"output {text!r}: unknown extension {path.suffix!r} (images: {', '.join(IMAGE_EXTENSIONS)};"
                         f" videos: {', '.join(VIDEO_EXTENSIONS)})")
    return "dir"


def open_output(text: str, source: ImageSequence | VideoSource) -> ImageSink | VideoSink:
    """The sink for an output argument, checked against the input before any frame is processed."""
    kind = output_kind(text)
    if kind == "video":
        return VideoSink(text, source.fps, source.paths)
    if kind == "pattern":
        try:
            probe = text % 0
        except (TypeError, ValueError) as exc:
            raise MediaError(f"output pattern {text!r} needs exactly one %i (e.g. out_%03i.jpg): {exc}") from None
        if not is_image_path(probe):
            raise MediaError(f"output pattern {text!r} must end with an image extension")
    if kind == "file" and (source.is_video or len(source) > 1):
        what = "a video" if source.is_video else f"{len(source)} inputs"
        raise MediaError(f"output {text!r} is a single image but the input is {what}; "
                         "give a folder, a %i pattern (out_%03i.jpg) or a video file")
    sink = ImageSink(text, kind, source.paths)
    if isinstance(source, ImageSequence):  # known up front: fail before any work
        for index, path in enumerate(source.paths):
            sink.check(Frame(index=index, stem=path.stem, source=str(path), path=path))
    return sink
