"""Traversability grid: class map (or class scores) → robot-centric nav_msgs/OccupancyGrid values, and trail heading.

Layout exactly as nav_msgs/OccupancyGrid: ``info.origin`` is the outer corner of cell (0, 0) in the base
frame (identity orientation), column index runs along +x, row index along +y, ``data[row * width + col]``.
Values: 0 free .. 100 lethal, -1 unknown (outside the camera view, beyond ``max_range``, or a class whose cost
is -1 such as sky). :class:`TraversabilityMapper` is the one entry point the node uses; the projection
table is rebuilt only when the camera, the extrinsics or the class-map size change (a new grid = a new mapper).

Several classes in one cell: each cell is sampled at its centre (one sample). With ``samples_per_cell`` = k
the cell is sampled on a k x k lattice and gets the *highest* cost among its known samples (conservative for
navigation); it is unknown only when no sample is known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from seg_ros.camera_model import CameraModel
from seg_ros.classify import class_map_from_logits, suppress_class
from seg_ros.errors import GridConfigError, SegRosError
from seg_ros.ground_projection import Extrinsics, ProjectionTable, check_above_ground
from seg_ros.trail_heading import Heading, HeadingParams, estimate_heading

UNKNOWN = -1
FREE = 0
LETHAL = 100
UNKNOWN_CLASS = 255  # class id of cells no ray reaches (class maps are uint8; models have < 255 classes)

# DeepScene (Freiburg Forest) defaults; names match case-insensitively. -1 = ignore (unknown in the grid).
DEFAULT_CLASS_COSTS: dict[str, int] = {"trail": 0, "grass": 30, "vegetation": 100, "obstacle": 100, "sky": -1}


@dataclass(frozen=True)
class TraversabilityProfile:
    """A network's default traversability: grid cost per class, cost of the classes not named, trail class.

    ``class_costs``: (name, cost) pairs, names lower-case, costs 0 free .. 100 lethal or -1 unknown;
    ``default_cost``: cost of every class not named; ``trail_class``: class ``~/trail_heading`` follows (None =
    none). ``name`` says which profile (``deepscene``, ``camvid``, ``model.yaml`` ...), ``source`` why it applies
    (a registry network, a model.yaml, a family rule on the class names, node parameters). A profile that gives
    no class a known cost (``enabled`` False) means "not a traversability model": no grid. Raises
    GridConfigError for a cost outside -1..100.
    """

    name: str = "none"
    class_costs: tuple[tuple[str, int], ...] = ()
    default_cost: int = UNKNOWN
    trail_class: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        costs = parse_class_costs(dict(self.class_costs))
        default = parse_class_costs({"default_cost": self.default_cost})["default_cost"]
        trail = (self.trail_class or "").strip() or None
        object.__setattr__(self, "class_costs", tuple(costs.items()))
        object.__setattr__(self, "default_cost", default)
        object.__setattr__(self, "trail_class", trail)

    @classmethod
    def from_mapping(cls, block: Mapping[str, Any], name: str, source: str) -> TraversabilityProfile:
        """A profile from a YAML mapping ``{class_costs: {name: cost} or ["name:cost"], default_cost, trail_class}``.

        Raises GridConfigError naming ``source`` for anything else.
        """
        if not isinstance(block, Mapping):
            raise GridConfigError(f"{source}: a traversability profile must be a mapping, got {block!r}")
        unknown = sorted(set(block) - {"class_costs", "default_cost", "trail_class", "match"})
        if unknown:
            raise GridConfigError(f"{source}: unknown traversability key(s) {', '.join(unknown)} "
                                  "(known: class_costs, default_cost, trail_class)")
        try:
            costs = parse_class_costs(block.get("class_costs") or {})
            return cls(name, tuple(costs.items()), block.get("default_cost", UNKNOWN),
                       block.get("trail_class") or None, source)
        except GridConfigError as exc:
            raise GridConfigError(f"{source}: {exc}") from None

    @property
    def costs(self) -> dict[str, int]:
        """The class costs as a mapping (lower-case name -> cost)."""
        return dict(self.class_costs)

    @property
    def enabled(self) -> bool:
        """Whether the profile gives any class a known cost (False: no traversability grid)."""
        return self.default_cost != UNKNOWN or any(cost != UNKNOWN for _, cost in self.class_costs)

    def with_overrides(self, class_costs: Mapping[str, int] | None = None, default_cost: int | None = None,
                       trail_class: str | None = None) -> TraversabilityProfile:
        """This profile with node parameters in force: each given value replaces the profile's.

        ``class_costs`` replaces the whole table (no merging); ``trail_class`` ``""`` means no trail class.
        None keeps the profile's value. The name and source say which parameters were given.
        """
        given = [n for n, v in (("class_costs", class_costs), ("default_cost", default_cost),
                                ("trail_class", trail_class)) if v is not None]
        if not given:
            return self
        return TraversabilityProfile(
            name=f"{self.name} + parameters" if self.enabled else "parameters",
            class_costs=tuple(parse_class_costs(class_costs).items()) if class_costs is not None else self.class_costs,
            default_cost=self.default_cost if default_cost is None else default_cost,
            trail_class=self.trail_class if trail_class is None else trail_class,
            source=f"{self.source}; node parameters {', '.join(given)}" if self.source else
            f"node parameters {', '.join(given)}")

    def describe(self) -> str:
        """One line for the start-up log: name, why, the costs, the trail class."""
        costs = ", ".join(f"{name}:{cost}" for name, cost in self.class_costs) or "no class named"
        trail = self.trail_class or "none"
        return (f"{self.name} ({self.source}): {costs}, other classes {self.default_cost}; trail_class {trail}"
                if self.enabled else f"{self.name} ({self.source})")


@dataclass(frozen=True)
class GridSpec:
    """Robot-centric grid in the base frame. ``width`` cells along x (forward), ``height`` cells along y.

    The grid starts ``x_offset`` metres behind the base origin and is centred laterally; cells farther than
    ``max_range`` from the base origin are unknown (0 = no limit). The ground is the plane ``z = ground_z``.
    """

    resolution: float = 0.05
    width: int = 200
    height: int = 200
    x_offset: float = 0.0
    max_range: float = 10.0
    ground_z: float = 0.0
    samples_per_cell: int = 1

    def __post_init__(self) -> None:
        if not (self.resolution > 0 and math.isfinite(self.resolution)):
            raise GridConfigError(f"grid resolution must be > 0, got {self.resolution}")
        if self.width <= 0 or self.height <= 0:
            raise GridConfigError(f"grid size must be positive, got {self.width}x{self.height} cells")
        if self.width * self.height > 4_000_000:
            raise GridConfigError(f"grid of {self.width}x{self.height} cells is too large (limit 4M cells)")
        if self.max_range < 0 or not math.isfinite(self.x_offset):
            raise GridConfigError("max_range must be >= 0 and x_offset finite")
        if not 1 <= self.samples_per_cell <= 8:
            raise GridConfigError(f"samples_per_cell must be within 1..8, got {self.samples_per_cell}")

    @property
    def origin(self) -> tuple[float, float]:
        """(x, y) in metres of the outer corner of cell (row 0, col 0)."""
        return -self.x_offset, -0.5 * self.height * self.resolution

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of each column (width,) and y of each row (height,)."""
        ox, oy = self.origin
        xs = ox + (np.arange(self.width) + 0.5) * self.resolution
        ys = oy + (np.arange(self.height) + 0.5) * self.resolution
        return xs, ys

    def sample_points(self) -> np.ndarray:
        """(k*k, height*width, 2) sample positions: a k x k lattice inside each cell, cells row-major."""
        xs, ys = self.cell_centres()
        k = self.samples_per_cell
        offsets = ((np.arange(k) + 0.5) / k - 0.5) * self.resolution
        gx, gy = np.meshgrid(xs, ys)  # (height, width)
        pts = [np.stack([gx + dx, gy + dy], axis=-1).reshape(-1, 2) for dy in offsets for dx in offsets]
        return np.stack(pts)


def parse_class_costs(costs: Mapping[str, int] | Sequence[str]) -> dict[str, int]:
    """Class costs from a mapping or from ROS-parameter strings ``"name:cost"``; cost 0..100, or -1 = unknown."""
    items: list[tuple[str, Any]]
    if isinstance(costs, Mapping):
        items = list(costs.items())
    else:
        items = []
        for entry in costs:
            name, sep, value = str(entry).rpartition(":")
            if not sep or not name.strip():
                raise GridConfigError(f"class cost {entry!r} must look like 'name:cost'")
            items.append((name, value))
    out: dict[str, int] = {}
    for name, value in items:
        try:
            cost = int(str(value).strip())
        except ValueError:
            raise GridConfigError(f"class cost for {name!r} must be an integer, got {value!r}") from None
        if not (cost == UNKNOWN or FREE <= cost <= LETHAL):
            raise GridConfigError(f"class cost for {name!r} must be -1 or within 0..100, got {cost}")
        out[str(name).strip().lower()] = cost
    return out


def cost_table(class_names: Sequence[str], costs: Mapping[str, int], default_cost: int = UNKNOWN) -> np.ndarray:
    """(256,) int8 lookup class id → cost; classes not named get ``default_cost``, UNKNOWN_CLASS gets -1."""
    if len(class_names) >= UNKNOWN_CLASS:
        raise GridConfigError(f"{len(class_names)} classes: the grid supports at most {UNKNOWN_CLASS - 1}")
    parsed = parse_class_costs(costs)
    default = parse_class_costs({"default": default_cost})["default"]
    lut = np.full(256, UNKNOWN, dtype=np.int8)
    for i, name in enumerate(class_names):
        lut[i] = parsed.get(name.strip().lower(), default)
    return lut


@dataclass(frozen=True, eq=False)
class GridResult:
    """One grid, laid out as nav_msgs/OccupancyGrid (row = y, column = x, origin at ``spec.origin``).

    ``values``: (height, width) int8 costs (0 free .. 100 lethal, -1 unknown); ``classes``: (height, width)
    uint8 class ids (UNKNOWN_CLASS where no camera ray reaches); ``spec``: the grid's geometry.
    """

    values: np.ndarray
    classes: np.ndarray
    spec: GridSpec

    @property
    def known(self) -> np.ndarray:
        """(height, width) bool: cells some camera ray reaches."""
        return self.classes != UNKNOWN_CLASS


def _argmax_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, value) of the maximum over axis 0, first wins on ties.

    A pass per row over contiguous memory: for few rows this is several times faster than ``np.argmax(axis=0)``.
    """
    best = values[0].copy()
    index = np.zeros(values.shape[1:], dtype=np.uint8)
    for i in range(1, values.shape[0]):
        better = values[i] > best
        index[better] = i
        np.maximum(best, values[i], out=best)
    return index, best


class _Tables:
    """Projection of one grid into one class-map size, compacted to the samples that land in the image."""

    def __init__(self, table: ProjectionTable, in_range: np.ndarray, samples: int, cells: int) -> None:
        valid = table.valid & in_range
        self.samples, self.cells = samples, cells
        self.valid = valid.reshape(samples, cells)
        keep = np.flatnonzero(valid)
        self.sample_ids = keep  # flat index s * cells + cell
        self.pixels = table.nearest[keep]
        self.corners = np.ascontiguousarray(table.corners[keep].T)  # (4, K); row 0 = top-left pixel
        self.weights = np.ascontiguousarray(table.weights[keep].T)  # (4, K)


class TraversabilityMapper:
    """Class maps → traversability grids and trail headings for one camera.

    Feed ``update_camera`` / ``update_extrinsics`` every frame if convenient: unchanged values (within
    ``extrinsics_tolerance``) keep the cached projection table. Not thread-safe: call from one thread.
    """

    def __init__(self, class_names: Sequence[str], grid: GridSpec | None = None,
                 class_costs: Mapping[str, int] | Sequence[str] | None = None, default_cost: int = UNKNOWN,
                 trail_class: str | None = "trail", ignore_class: int | None = None,
                 heading: HeadingParams | None = None, extrinsics_tolerance: float = 1e-6) -> None:
        self.class_names = tuple(class_names)
        self.grid = grid or GridSpec()
        costs = DEFAULT_CLASS_COSTS if class_costs is None else class_costs
        self.costs = parse_class_costs(costs)
        self.lut = cost_table(self.class_names, self.costs, default_cost)
        lowered = [n.strip().lower() for n in self.class_names]
        self.unused_cost_names = sorted(set(self.costs) - set(lowered))  # for the node to warn about once
        self.trail_id = lowered.index(trail_class.lower()) if trail_class and trail_class.lower() in lowered else None
        self.ignore_class = ignore_class
        self.heading_params = heading or HeadingParams()
        self.extrinsics_tolerance = extrinsics_tolerance
        self.camera: CameraModel | None = None
        self.extrinsics: Extrinsics | None = None
        self.table_builds = 0
        self._extrinsics_version = 0
        self._tables: _Tables | None = None
        self._tables_key: tuple | None = None
        xs, ys = self.grid.cell_centres()
        self._xs, self._ys = xs, ys
        samples = self.grid.sample_points()
        self._sample_points = samples.reshape(-1, 2)
        self._in_range = (np.hypot(self._sample_points[:, 0], self._sample_points[:, 1]) <= self.grid.max_range
                          if self.grid.max_range > 0 else np.ones(self._sample_points.shape[0], dtype=bool))

    # ---- inputs -------------------------------------------------------------------------------------------
    def update_camera(self, camera: CameraModel) -> bool:
        """Set the intrinsics; True when they changed (the table will be rebuilt on the next build)."""
        if camera == self.camera:
            return False
        self.camera = camera
        return True

    def update_camera_info(self, info: Any, rectified: bool = False) -> bool:
        """Set the intrinsics from a sensor_msgs/CameraInfo-like object (raises CameraModelError)."""
        return self.update_camera(CameraModel.from_msg(info, rectified))

    def update_extrinsics(self, extrinsics: Extrinsics | np.ndarray | tuple[np.ndarray, np.ndarray]) -> bool:
        """Set the camera pose base ← optical (an Extrinsics, a 4x4 matrix or (R, t)); True when it changed."""
        if not isinstance(extrinsics, Extrinsics):
            if isinstance(extrinsics, tuple):
                extrinsics = Extrinsics(*extrinsics)
            else:
                extrinsics = Extrinsics.from_matrix(np.asarray(extrinsics))
        if extrinsics.close_to(self.extrinsics, self.extrinsics_tolerance):
            return False
        check_above_ground(extrinsics, self.grid.ground_z)
        self.extrinsics = extrinsics
        self._extrinsics_version += 1
        return True

    def _tables_for(self, map_size: tuple[int, int]) -> _Tables:
        if self.camera is None or self.extrinsics is None:
            raise SegRosError("the traversability grid needs camera intrinsics and extrinsics first")
        key = (self.camera.key, self._extrinsics_version, map_size)
        if self._tables is None or key != self._tables_key:
            table = ProjectionTable.build(self.camera, self.extrinsics, self._sample_points, map_size,
                                          self.grid.ground_z)
            self._tables = _Tables(table, self._in_range, self.grid.samples_per_cell ** 2,
                                   self.grid.width * self.grid.height)
            self._tables_key = key
            self.table_builds += 1
        return self._tables

    # ---- outputs ------------------------------------------------------------------------------------------
    def build(self, class_map: np.ndarray | None = None, *, scores: np.ndarray | None = None) -> GridResult:
        """Grid from a (h, w) class map (nearest sample per cell) or (C, h, w) scores (bilinear per cell, argmax).

        The class map / scores must cover the whole camera image (any resolution: the network's output grid
        or full size). Scores are the better input for coarse networks: interpolating them per cell keeps far
        cells from inheriting one coarse cell's class as a block. With scores, ``class_map`` may carry their
        argmax (same ignore class) when the caller already has it, so it is not computed again.
        """
        if class_map is None and scores is None:
            raise ValueError("pass a class_map, scores, or both")
        if scores is not None:
            source = scores[0] if scores.ndim == 4 and scores.shape[0] == 1 else scores
            if source.ndim != 3:
                raise ValueError(f"expected a (C, h, w) score array, got shape {scores.shape}")
            if class_map is not None and class_map.shape != source.shape[1:]:
                raise ValueError(f"class map {class_map.shape} does not match scores {source.shape}")
        else:
            source = class_map
            if source.ndim != 2:
                raise ValueError(f"expected a (h, w) class map, got shape {class_map.shape}")
        height, width = source.shape[-2:]
        t = self._tables_for((int(width), int(height)))
        if scores is None:
            sample_classes = np.ascontiguousarray(class_map).reshape(-1)[t.pixels]
        else:
            sample_classes = self._interpolated_classes(source, t, class_map)
        n_cells = t.cells
        if t.samples == 1:
            classes = np.full(n_cells, UNKNOWN_CLASS, dtype=np.uint8)
            classes[t.sample_ids] = sample_classes
        else:
            per_sample = np.full(t.samples * n_cells, UNKNOWN_CLASS, dtype=np.uint8)
            per_sample[t.sample_ids] = sample_classes
            per_sample = per_sample.reshape(t.samples, n_cells)
            # int16 so unknown (-1) ranks below free (0) and unseen samples below everything: max known cost.
            rank = self.lut.astype(np.int16)
            rank[UNKNOWN_CLASS] = -2
            classes = per_sample[_argmax_rows(rank[per_sample])[0], np.arange(n_cells)]
        shape = (self.grid.height, self.grid.width)
        return GridResult(self.lut[classes].reshape(shape), classes.reshape(shape), self.grid)

    def _interpolated_classes(self, scores: np.ndarray, t: _Tables, class_map: np.ndarray | None) -> np.ndarray:
        """Argmax of bilinearly interpolated scores at each valid sample.

        Exact shortcut: where the four surrounding score pixels share one argmax class, every convex
        combination of them has that argmax too, so only samples between pixels of different classes are
        interpolated.
        """
        cmap = class_map_from_logits(scores, self.ignore_class) if class_map is None else class_map
        pad = np.pad(cmap, ((0, 1), (0, 1)), mode="edge")
        top_left = pad[:-1, :-1]
        uniform = ((top_left == pad[:-1, 1:]) & (top_left == pad[1:, :-1]) & (top_left == pad[1:, 1:])).reshape(-1)
        classes = cmap.reshape(-1)[t.corners[0]]
        mixed = np.flatnonzero(~uniform[t.corners[0]])
        if mixed.size:
            flat = scores.reshape(scores.shape[0], -1)
            acc = np.take(flat, t.corners[0, mixed], axis=1) * t.weights[0, mixed]
            for j in range(1, 4):
                acc += np.take(flat, t.corners[j, mixed], axis=1) * t.weights[j, mixed]
            classes[mixed] = _argmax_rows(suppress_class(acc, self.ignore_class, in_place=True))[0]
        return classes

    def trail_heading(self, result: GridResult) -> Heading:
        """Trail heading from a built grid; confidence 0 when the model has no trail class or none is seen."""
        if self.trail_id is None:
            return Heading()
        heading = estimate_heading(result.classes == self.trail_id, result.known, self._xs, self._ys,
                                   self.heading_params)
        return replace(heading, ground_z=self.grid.ground_z) if heading.confidence > 0 else heading
