"""Fetch a registry network, verify it, and install it atomically into the model cache.

The archive is downloaded and unpacked in a hidden temporary folder beside the destination, the model
is checked (the ONNX loads in ONNX Runtime, input [1,3,H,W] and output [1,C,H/32,W/32] match the registry,
classes.txt lists C classes), and only then renamed into place: an interrupted or failed download never
leaves a half-written model folder where the registry looks for it.
"""

from __future__ import annotations

import http.client
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from seg_ros import __version__, registry
from seg_ros.errors import DownloadError, ModelError, SegRosError
from seg_ros.model import ModelSpec, load_model_dir

MIRROR_ENV = "SEG_ROS_MODEL_MIRROR"
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 16


def candidate_urls(net: registry.Network) -> list[str]:
    """``$SEG_ROS_MODEL_MIRROR/<archive>`` first when set, then the registry's primary URL and mirror."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    urls = [mirror.rstrip("/") + "/" + net.archive] if mirror else []
    return urls + [u for u in net.urls if u not in urls]


def verify_model_folder(folder: Path, net: registry.Network, label: str | None = None) -> ModelSpec:
    """Check a model folder against its registry entry; raises DownloadError naming what does not match.

    ``label`` names the folder in messages (default: its path).
    """
    from seg_ros.backends import create_backend

    folder = Path(folder)
    where = label or str(folder)
    classes_file = folder / net.model.classes_file
    if not classes_file.is_file():
        raise DownloadError(f"{where}: no {classes_file.name}")
    try:
        spec = load_model_dir(folder, name=net.name, defaults=net.model)
        registry._check_registry_classes(spec, net)
        backend = create_backend(spec, "onnxruntime", threads=1)
    except SegRosError as exc:
        raise DownloadError(f"{where}: {exc}") from None
    width, height = net.input_size
    if tuple(backend.input_shape) != (1, 3, height, width):
        raise DownloadError(f"{where}: ONNX input is {list(backend.input_shape)}, "
                            f"registry says [1, 3, {height}, {width}]")
    _, channels, out_h, out_w = backend.output_shape
    if channels != net.num_classes:
        raise DownloadError(f"{where}: ONNX output has {channels} channels, registry says {net.num_classes} classes")
    # H/32 rounded down (a plain stride-32 window) or up (padded convolutions, e.g. 400 -> 13).
    if out_h not in (height // 32, -(-height // 32)) or out_w not in (width // 32, -(-width // 32)):
        raise DownloadError(f"{where}: ONNX output is {out_w}x{out_h} cells, expected input/32 = "
                            f"{width / 32:g}x{height / 32:g}")
    return spec


def is_installed(net: registry.Network, dest: Path | None = None) -> bool:
    """The network's folder exists in ``dest`` (default: the cache directory)."""
    return (Path(dest or registry.cache_dir()) / net.dir).is_dir()


def download_network(net: registry.Network, dest: Path | None = None, force: bool = False,
                     timeout: float = DEFAULT_TIMEOUT, progress: bool = True) -> Path:
    """Install ``net`` as ``dest/<net.dir>`` (default dest: the cache directory) and return that folder.

    An existing folder is verified and kept (no download) unless ``force``; a failing existing folder is an
    error asking for ``--force``. URLs are tried in ``candidate_urls`` order until one yields a verified model.
    """
    dest = Path(dest or registry.cache_dir()).expanduser()
    final = dest / net.dir
    if (final.exists() or final.is_symlink()) and not force:
        try:
            verify_model_folder(final, net)
        except DownloadError as exc:  # the user's own folder: a model error (exit 2), not a failed download
            raise ModelError(f"{exc}; {final} exists but fails verification; replace it with "
                             f"`segnet-download --force {net.name}`") from None
        return final
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest}: {exc.strerror or exc}") from exc
    urls = candidate_urls(net)
    failures = []
    for url in urls:
        with tempfile.TemporaryDirectory(prefix=f".{net.dir}.partial.", dir=dest) as tmp:
            try:
                archive = Path(tmp) / net.archive
                _fetch(url, archive, timeout, progress)
                unpacked = Path(tmp) / "unpacked"
                safe_extract(archive, unpacked)
                folder = _model_folder(unpacked, net)
                verify_model_folder(folder, net, label=f"downloaded {net.archive}")
                _install(folder, final, Path(tmp))
                return final
            except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException, tarfile.TarError,
                    EOFError, DownloadError) as exc:
                failures.append(f"{url} ({_reason(exc)})")
    raise DownloadError(
        f"cannot download network {net.name}: tried " + "; ".join(failures) + ". "
        f"To install it by hand, fetch {net.archive} from one of those URLs on a machine with access and unpack "
        f"it so that {final}/ holds {net.model.onnx or '*.onnx'}, classes.txt and colors.txt "
        f"(or put the folder {net.dir}/ in a {registry.MODEL_PATH_ENV} entry, or set {MIRROR_ENV} to a base URL "
        f"serving {net.archive}).")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} bytes (incomplete download)"
    if isinstance(exc, tarfile.TarError | EOFError):
        return f"not a readable tar.gz archive ({exc})"
    return str(exc) or type(exc).__name__


def _fetch(url: str, target: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``target`` with a progress bar; a short read is an error."""
    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": f"seg_ros/{__version__}"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        written = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                  disable=None if progress else True, leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    if total is not None and written != total:
        raise DownloadError(f"incomplete download: {written} of {total} bytes")


def safe_extract(archive: Path, target: Path) -> None:
    """Unpack a tar archive into ``target``; members that are links, devices or escape ``target`` are refused."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            inside = (root / member.name).resolve().is_relative_to(root)
            if member.name.startswith(("/", "\\")) or ".." in PurePosixPath(member.name).parts or not inside:
                raise DownloadError(f"archive member {member.name!r} would be written outside the model folder")
            if not (member.isfile() or member.isdir()):
                raise DownloadError(f"archive member {member.name!r} is a link or special file")
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(target, members=members, **extra)


def _model_folder(unpacked: Path, net: registry.Network) -> Path:
    """The unpacked folder holding the model: ``<net.dir>/``, the archive's only folder, or the top level."""
    if (unpacked / net.dir).is_dir():
        return unpacked / net.dir
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    if any(unpacked.glob("*.onnx")):
        return unpacked
    raise DownloadError(f"archive holds no model folder {net.dir}/ (found: {', '.join(e.name for e in entries)})")


def _install(folder: Path, final: Path, scratch: Path) -> None:
    """Rename ``folder`` to ``final``.

    A previous ``final`` moves into ``scratch`` (deleted with it) and is restored if the rename fails.
    """
    previous = None
    if final.exists() or final.is_symlink():
        previous = scratch / "previous"
        os.rename(final, previous)
    try:
        os.rename(folder, final)
    except OSError:
        if previous is not None:
            os.rename(previous, final)
        raise
