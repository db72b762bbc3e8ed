"""Geometric selections computed on every spike (not on the drawn sample), without Qt."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

GRID = 256             # cells a side of the lasso's grid
GRID_FROM = 50_000     # candidate points from which the grid pays


def inside_polygon(x: NDArray, y: NDArray, polygon: NDArray) -> NDArray[np.bool_]:
    """Points (x, y) inside a closed polygon (even-odd rule), as a mask."""
    result = np.zeros(len(x), dtype=bool)
    result[points_inside(x, y, polygon)] = True
    return result


def points_inside(x: NDArray, y: NDArray, polygon: NDArray) -> NDArray[np.int64]:
    """Indexes (sorted) of the points (x, y) inside a closed polygon (even-odd rule),
    vectorised over points.

    Only points in the polygon's bounding box can be inside. Among many, a grid over the box
    decides most at once: a cell that no edge comes near lies wholly inside or outside (its
    centre tells which); only the points in cells along the edges are tested exactly."""
    polygon = np.asarray(polygon, dtype=float)
    # Columns of the feature matrix are strided: one copy each beats five strided passes.
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    (x_low, y_low), (x_high, y_high) = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero((x >= x_low) & (x <= x_high) & (y >= y_low) & (y <= y_high))
    if len(candidates) < GRID_FROM or x_high <= x_low or y_high <= y_low:
        return candidates[_crossings(x[candidates], y[candidates], polygon)]
    x_scale, y_scale = GRID / (x_high - x_low), GRID / (y_high - y_low)
    column = np.minimum(((x[candidates] - x_low) * x_scale).astype(np.int32), GRID - 1)
    row = np.minimum(((y[candidates] - y_low) * y_scale).astype(np.int32), GRID - 1)
    state = _cell_states(polygon, x_low, y_low, x_scale, y_scale)[row * GRID + column]
    keep = state == 1
    near = np.flatnonzero(state == 2)
    keep[near] = _crossings(x[candidates[near]], y[candidates[near]], polygon)
    return candidates[keep]


def _cell_states(polygon: NDArray, x_low: float, y_low: float, x_scale: float, y_scale: float
                 ) -> NDArray[np.int8]:
    """Per grid cell (row-major): 0 wholly outside, 1 wholly inside, 2 near an edge. Each edge
    is walked in quarter-cell steps; the cells it visits and their neighbours are "near" (a
    step cannot leave the neighbours of the cell it started in)."""
    gx, gy = (polygon[:, 0] - x_low) * x_scale, (polygon[:, 1] - y_low) * y_scale
    ends_x, ends_y = np.roll(gx, -1), np.roll(gy, -1)
    steps = np.ceil(4 * np.maximum(np.abs(ends_x - gx), np.abs(ends_y - gy))).astype(int) + 1
    share = np.concatenate([np.linspace(0, 1, k) for k in steps])
    edge = np.repeat(np.arange(len(gx)), steps)
    walk_x = gx[edge] + share * (ends_x - gx)[edge]
    walk_y = gy[edge] + share * (ends_y - gy)[edge]
    visited = np.zeros((GRID + 2, GRID + 2), dtype=bool)   # a margin of one cell each side
    visited[np.clip(walk_y.astype(int), 0, GRID - 1) + 1,
            np.clip(walk_x.astype(int), 0, GRID - 1) + 1] = True
    near = np.zeros((GRID, GRID), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            near |= visited[dy:dy + GRID, dx:dx + GRID]
    centre = (np.arange(GRID) + 0.5)
    cx, cy = np.meshgrid(x_low + centre / x_scale, y_low + centre / y_scale)
    state = _crossings(cx.ravel(), cy.ravel(), polygon).astype(np.int8)
    state[near.ravel()] = 2
    return state


def _crossings(xs: NDArray, ys: NDArray, polygon: NDArray) -> NDArray[np.bool_]:
    """The even-odd rule for each point: sorted by y, the points an edge can cross
    (min(y1, y2) <= y < max(y1, y2)) are one slice, so each point is tested against the few
    edges at its height, not against all of them."""
    order = np.argsort(ys)   # ties may come in any order: each point is its own
    xs, ys = xs[order], ys[order]
    inside = np.zeros(len(xs), dtype=bool)
    px, py = polygon[:, 0], polygon[:, 1]
    qx, qy = np.roll(px, 1), np.roll(py, 1)
    for x1, y1, x2, y2 in zip(px, py, qx, qy):
        if y1 == y2:
            continue   # a horizontal edge is crossed by no horizontal ray
        begin, end = np.searchsorted(ys, [min(y1, y2), max(y1, y2)], side="left")
        band = slice(begin, end)
        at = (x2 - x1) * (ys[band] - y1) / (y2 - y1) + x1
        inside[band] ^= xs[band] < at
    result = np.zeros(len(xs), dtype=bool)
    result[order] = inside
    return result


def crossing_segment(waveforms: NDArray, start: tuple[float, float], end: tuple[float, float]
                     ) -> NDArray[np.bool_]:
    """Waveforms (n x samples, drawn as polylines) that intersect the segment from ``start``
    to ``end`` (sample, value), as Plexon's and Wave_clus' waveform-window selection."""
    (ax, ay), (bx, by) = sorted([tuple(map(float, start)), tuple(map(float, end))])
    last = waveforms.shape[1] - 1
    first_edge = int(np.clip(np.floor(ax), 0, max(last - 1, 0)))
    last_edge = int(np.clip(np.floor(bx), 0, max(last - 1, 0)))
    edges = np.arange(first_edge, last_edge + 1)
    px, qx = edges.astype(float), edges + 1.0
    py = waveforms[:, edges].astype(float)
    qy = waveforms[:, edges + 1].astype(float)

    def orient(x1, y1, x2, y2, x3, y3):
        return (x2 - x1) * (y3 - y1) - (y2 - y1) * (x3 - x1)

    o1 = orient(ax, ay, bx, by, px, py)
    o2 = orient(ax, ay, bx, by, qx, qy)
    o3 = orient(px, py, qx, qy, ax, ay)
    o4 = orient(px, py, qx, qy, bx, by)
    hits = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    return hits.any(axis=1)
