"""Trail heading from trail cells on the ground grid: a look-ahead point on the centreline, TrailNet-style scores.

Method: the grid is cut into distance bands along +x. In each band the trail cells form lateral runs (gaps up
to ``merge_gap`` joined); starting at the robot (y = 0) and walking outwards, the run closest to the previous
band's centre is followed, so a side patch of trail-coloured ground does not pull the line away. The band
centres form the centreline; a weighted polynomial (degree <= 2) through them is read at ``x = lookahead``
(clamped to the seen part of the trail). The heading is ``atan2(y, x)`` of that point (+ = left, REP 103).

Confidence = coverage x consistency: coverage is the share of visible bands up to the look-ahead that hold the
followed trail, consistency the share of trail cells in those bands that lie on the followed runs. Too little
trail → confidence 0 and no heading: the message fields then carry no meaning and are zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeadingParams:
    """Tuning of :func:`estimate_heading`; distances in metres, angles in radians."""

    lookahead: float = 3.0  # distance (along x) of the target point
    band: float = 0.5  # depth of a distance band
    merge_gap: float = 0.3  # lateral gaps up to this are one run
    max_jump: float = 1.5  # a run farther than this from the previous centre is not followed
    min_band_area: float = 0.04  # trail area a band needs to count (m^2)
    min_trail_area: float = 0.25  # followed trail area below this → no trail in view (m^2)
    min_visible_width: float = 0.5  # a band is visible when its known area is at least band x this
    turn_angle: float = 0.35  # heading at which "left" / "right" peak
    spread: float = 0.2  # width of each direction's kernel (softmax temperature)


@dataclass(frozen=True)
class Heading:
    """Result of :func:`estimate_heading`. ``confidence == 0`` means no trail: the other fields are zero.

    Base frame (REP 103): ``target_xy`` (m) is the look-ahead point on the centreline, ``heading`` (rad,
    + = left) is ``atan2(y, x)`` of it, ``lookahead`` (m) its distance from the origin, ``ground_z`` (m) the
    height of the ground plane the target lies on; ``left``/``straight``/``right`` are TrailNet-style scores.
    """

    target_xy: tuple[float, float] = (0.0, 0.0)
    heading: float = 0.0
    lookahead: float = 0.0
    confidence: float = 0.0
    left: float = 0.0
    straight: float = 0.0
    right: float = 0.0
    ground_z: float = 0.0  # height of the ground plane in the base frame: the target lies on it

    @property
    def valid(self) -> bool:
        """True when a trail was seen (confidence > 0)."""
        return self.confidence > 0.0


def turn_scores(heading: float, turn_angle: float = 0.35, spread: float = 0.2) -> tuple[float, float, float]:
    """(left, straight, right) = softmax of ``-(heading - c)^2 / (2 spread^2)`` for c = +turn, 0, -turn."""
    centres = np.array([turn_angle, 0.0, -turn_angle])
    logits = -((heading - centres) ** 2) / (2.0 * spread * spread)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return float(p[0]), float(p[1]), float(p[2])


def _runs(profile: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """Index ranges [start, end) of non-zero entries, gaps of up to ``max_gap`` zeros bridged."""
    idx = np.flatnonzero(profile)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def estimate_heading(trail: np.ndarray, known: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                     params: HeadingParams | None = None) -> Heading:
    """Heading from a boolean ``trail`` grid (rows = y, cols = x, as nav_msgs/OccupancyGrid).

    ``known`` marks cells any camera ray reaches; ``xs`` (cols,) and ``ys`` (rows,) are cell-centre coordinates
    in the base frame.
    """
    p = params or HeadingParams()
    trail = np.asarray(trail, dtype=bool)
    known = np.asarray(known, dtype=bool)
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    res_y = abs(ys[1] - ys[0]) if ys.size > 1 else 1.0
    res_x = abs(xs[1] - xs[0]) if xs.size > 1 else 1.0
    cell_area = res_x * res_y
    gap = int(round(p.merge_gap / res_y))
    band_of_col = np.floor(xs / p.band).astype(np.int64)
    last_band = int(math.floor((p.lookahead + p.band) / p.band))

    ref_y = 0.0
    points, weights = [], []
    visible_bands = followed_bands = 0
    followed_cells = all_cells = 0.0
    for b in range(0, last_band + 1):
        cols = np.flatnonzero((band_of_col == b) & (xs > 0))
        if cols.size == 0:
            continue
        sub_known = known[:, cols]
        in_reach = (b * p.band) < p.lookahead
        visible = sub_known.sum() * cell_area >= p.band * p.min_visible_width
        if in_reach and visible:
            visible_bands += 1
        sub = trail[:, cols] & sub_known
        profile = sub.sum(axis=1)
        best = None
        for start, end in _runs(profile, gap):
            area = profile[start:end].sum() * cell_area
            if area < p.min_band_area:
                continue
            centre = float(np.dot(profile[start:end], ys[start:end]) / profile[start:end].sum())
            if abs(centre - ref_y) <= p.max_jump and (best is None or abs(centre - ref_y) < abs(best[0] - ref_y)):
                best = (centre, start, end)
        if in_reach and visible:
            all_cells += float(profile.sum())
        if best is None:
            continue
        centre, start, end = best
        rows_cells = sub[start:end]
        x_centre = float(np.dot(rows_cells.sum(axis=0), xs[cols]) / rows_cells.sum())
        points.append((x_centre, centre))
        weights.append(float(rows_cells.sum()))
        ref_y = centre
        if in_reach and visible:
            followed_bands += 1
            followed_cells += float(rows_cells.sum())

    if not points or sum(weights) * cell_area < p.min_trail_area or visible_bands == 0:
        return Heading()
    line = np.asarray(points)
    w = np.sqrt(np.asarray(weights))
    x_t = float(np.clip(p.lookahead, line[:, 0].min(), line[:, 0].max()))
    if len(points) == 1:
        y_t = float(line[0, 1])
    else:
        coeffs = np.polyfit(line[:, 0], line[:, 1], min(2, len(points) - 1), w=w)
        y_t = float(np.polyval(coeffs, x_t))
    coverage = followed_bands / visible_bands
    consistency = followed_cells / all_cells if all_cells > 0 else 0.0
    confidence = float(np.clip(coverage * consistency, 0.0, 1.0))
    if confidence <= 0.0:
        return Heading()
    heading = math.atan2(y_t, x_t)
    left, straight, right = turn_scores(heading, p.turn_angle, p.spread)
    return Heading((x_t, y_t), heading, math.hypot(x_t, y_t), confidence, left, straight, right)
